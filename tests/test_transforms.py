"""Transformations and their compositions, each checked against an independent numpy
computation (analytic derivatives, hand-written backprop, Python loops) or central
finite differences of a numpy function. Never against funtorch itself.

Sections: composition matrix, pytrees/argnums/aux, custom_vjp and stop_gradient,
integer inputs (float0), the MLP gradient, jit caching/statics, vmap axes, the IR.
"""

from __future__ import annotations

import collections
import functools

import helpers
import numpy as np
import pytest

import funtorch as ft

RTOL = 1e-10


def rng(seed=0):
    return np.random.default_rng(seed)


close = functools.partial(helpers.close, rtol=1e-9, atol=1e-12)
tree_close = functools.partial(helpers.tree_close, rtol=1e-9, atol=1e-12)
fd_grad = helpers.fd_grad


def fd_jac(f_np, x, h=1e-6):
    """Jacobian of a numpy array function: shape out.shape + x.shape."""
    x = np.asarray(x, np.float64)
    out = np.asarray(f_np(x))
    J = np.zeros(out.shape + x.shape)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        J[(...,) + i] = (np.asarray(f_np(x + e)) - np.asarray(f_np(x - e))) / (2 * h)
    return J


# --------------------------------------------------------------------------- composition matrix

# f(x) = sum(sin(x) * x**2), a scalar function of a vector with a dense analytic Hessian
# once we add a coupling term: + (sum x)**2 / 2
def f_scalar(x):
    return ft.sum(ft.sin(x) * x * x) + 0.5 * ft.sum(x) ** 2


def f_scalar_np(x):
    return np.sum(np.sin(x) * x * x) + 0.5 * np.sum(x) ** 2


def f_scalar_grad_np(x):
    return np.cos(x) * x * x + 2 * x * np.sin(x) + np.sum(x)


def f_scalar_hess_np(x):
    d2 = -np.sin(x) * x * x + 4 * x * np.cos(x) + 2 * np.sin(x)
    return np.diag(d2) + np.ones((x.size, x.size))


X3 = np.array([0.3, -1.2, 2.1])


def test_grad_of_grad_scalar():
    # d2/dx2 of x**3 * sin(x) = 6x sin x + 6x^2 cos x - x^3 sin x
    x = 0.7
    g2 = ft.grad(ft.grad(lambda x: x ** 3 * ft.sin(x)))(np.float64(x))
    close(g2, 6 * x * np.sin(x) + 6 * x * x * np.cos(x) - x ** 3 * np.sin(x))
    # third derivative vs finite differences of the analytic second derivative
    g3 = ft.grad(ft.grad(ft.grad(lambda x: x ** 3 * ft.sin(x))))(np.float64(x))

    def d2(x):
        return 6 * x * np.sin(x) + 6 * x * x * np.cos(x) - x ** 3 * np.sin(x)

    close(g3, (d2(x + 1e-6) - d2(x - 1e-6)) / 2e-6, rtol=1e-7)


def test_grad_of_grad_vector_hvp():
    # grad of (grad f . v) is the Hessian-vector product
    v = np.array([1.0, -2.0, 0.5])
    hvp = ft.grad(lambda x: ft.sum(ft.grad(f_scalar)(x) * v))(X3)
    close(hvp, f_scalar_hess_np(X3) @ v)


def test_jit_of_grad():
    g = ft.jit(ft.grad(f_scalar))
    close(g(X3), f_scalar_grad_np(X3))
    close(g(2 * X3), f_scalar_grad_np(2 * X3))


def test_grad_of_jit():
    close(ft.grad(ft.jit(f_scalar))(X3), f_scalar_grad_np(X3))


def test_jit_of_jit():
    inner = ft.jit(lambda x: ft.tanh(x) * 2.0)
    outer = ft.jit(lambda x: ft.sum(inner(x) * x))
    close(outer(X3), np.sum(np.tanh(X3) * 2 * X3))
    close(ft.grad(outer)(X3), 2 * np.tanh(X3) + 2 * X3 * (1 - np.tanh(X3) ** 2))


def test_grad_through_jit_with_closure_constant():
    c = np.array([2.0, 3.0, 4.0])
    f = ft.jit(lambda x: ft.sum(ft.exp(x) * c))
    close(ft.grad(f)(X3), np.exp(X3) * c)


def _per_example_setup(B=5, D=4):
    r = rng(1)
    return r.normal(size=D), r.normal(size=(B, D)), r.normal(size=B)


def _loss_one(w, x, y):
    r = ft.sum(w * x) - y
    return r * r + 0.1 * ft.sum(w * w)


def _loss_one_grad_np(w, X, Y):
    r = X @ w - Y
    return 2 * r[:, None] * X + 0.2 * w[None, :]


def test_vmap_of_grad_per_example_gradients():
    w, X, Y = _per_example_setup()
    g = ft.vmap(ft.grad(_loss_one), in_axes=(None, 0, 0))(w, X, Y)
    close(g, _loss_one_grad_np(w, X, Y))


def test_jit_of_vmap_of_grad():
    w, X, Y = _per_example_setup()
    f = ft.jit(ft.vmap(ft.grad(_loss_one), in_axes=(None, 0, 0)))
    close(f(w, X, Y), _loss_one_grad_np(w, X, Y))
    close(f(2 * w, X, Y), _loss_one_grad_np(2 * w, X, Y))


def test_grad_of_vmap():
    w, X, Y = _per_example_setup()
    total = lambda w: ft.sum(ft.vmap(_loss_one, in_axes=(None, 0, 0))(w, X, Y))  # noqa: E731
    close(ft.grad(total)(w), _loss_one_grad_np(w, X, Y).sum(0))


def test_vmap_of_jit():
    f = ft.jit(lambda a, b: ft.sin(a) * b)
    A, b = rng(2).normal(size=(4, 3)), rng(3).normal(size=3)
    close(ft.vmap(f, in_axes=(0, None))(A, b), np.sin(A) * b)
    close(ft.vmap(f, in_axes=(1, None), out_axes=1)(A.T, b), (np.sin(A) * b).T)


def test_vmap_of_grad_of_jit_and_jit_of_grad_of_vmap_agree_with_numpy():
    w, X, Y = _per_example_setup()
    a = ft.vmap(ft.grad(ft.jit(_loss_one)), in_axes=(None, 0, 0))(w, X, Y)
    close(a, _loss_one_grad_np(w, X, Y))
    total = lambda w: ft.sum(ft.vmap(_loss_one, in_axes=(None, 0, 0))(w, X, Y))  # noqa: E731
    close(ft.jit(ft.grad(total))(w), _loss_one_grad_np(w, X, Y).sum(0))


def test_hessian_matches_analytic():
    close(ft.hessian(f_scalar)(X3), f_scalar_hess_np(X3))


def test_jacfwd_of_jacrev_and_jacrev_of_jacfwd():
    H = f_scalar_hess_np(X3)
    close(ft.jacfwd(ft.jacrev(f_scalar))(X3), H)
    close(ft.jacrev(ft.jacfwd(f_scalar))(X3), H)
    close(ft.jacfwd(ft.jacfwd(f_scalar))(X3), H)
    close(ft.jacrev(ft.jacrev(f_scalar))(X3), H)


def test_hessian_of_nonsymmetric_quadratic_form():
    A = rng(4).normal(size=(3, 3))
    f = lambda x: 0.5 * ft.sum(x * ft.matmul(A, x))  # noqa: E731
    close(ft.hessian(f)(X3), 0.5 * (A + A.T))


def test_second_derivative_tensor_of_vector_function():
    # g: R^3 -> R^2; jacfwd(jacrev(g)) has shape (2, 3, 3)
    def g(x):
        return ft.stack([ft.sin(x[0]) * x[1], x[1] * x[2] ** 2])

    def jac_np(x):
        return np.array([[np.cos(x[0]) * x[1], np.sin(x[0]), 0.0],
                         [0.0, x[2] ** 2, 2 * x[1] * x[2]]])

    T = fd_jac(jac_np, X3)
    close(ft.jacfwd(ft.jacrev(g))(X3), T, rtol=1e-7, atol=1e-8)
    close(ft.jacrev(ft.jacfwd(g))(X3), T, rtol=1e-7, atol=1e-8)
    close(ft.jacrev(g)(X3), jac_np(X3))
    close(ft.jacfwd(g)(X3), jac_np(X3))


def test_vmap_of_vmap_with_different_in_axes():
    r = rng(5)
    A = r.normal(size=(3, 4))   # mapped over axis 0 outside, nothing inside
    B = r.normal(size=(5, 3))   # mapped over axis 1 outside, axis 0 inside

    def f(a, b):  # a: (4,), b: ()
        return ft.sin(a) * b

    inner = ft.vmap(f, in_axes=(None, 0))          # b mapped -> (5, 4)
    outer = ft.vmap(inner, in_axes=(0, 1))         # a over rows, B over columns
    out = outer(A, B)
    expect = np.sin(A)[:, None, :] * B.T[:, :, None]   # (3, 5, 4)
    close(out, expect)
    # the other nesting order and out_axes inside
    outer2 = ft.vmap(ft.vmap(f, in_axes=(None, 0), out_axes=1), in_axes=(0, 1), out_axes=2)
    close(outer2(A, B), np.transpose(expect, (2, 1, 0)))


def test_vmap_of_vmap_of_grad():
    r = rng(6)
    W = r.normal(size=(2, 3))
    X = r.normal(size=(4, 3))

    def f(w, x):
        return ft.sum(ft.tanh(w * x))

    g = ft.vmap(ft.vmap(ft.grad(f), in_axes=(None, 0)), in_axes=(0, None))(W, X)
    expect = X[None] * (1 - np.tanh(W[:, None] * X[None]) ** 2)
    close(g, expect)


def test_grad_of_scan():
    xs = np.array([0.5, -1.0, 2.0, 0.3])

    def f(c):
        def body(carry, x):
            new = ft.sin(carry) * x + carry
            return new, new * new
        carry, ys = ft.scan(body, c, xs)
        return carry + ft.sum(ys)

    def f_np(c):
        ys = []
        for x in xs:
            c = np.sin(c) * x + c
            ys.append(c * c)
        return c + sum(ys)

    c0 = 0.4
    close(ft.grad(f)(np.float64(c0)), fd_grad(f_np, c0), rtol=1e-7)


def test_vmap_of_cond_with_batched_predicate():
    x = np.array([1.0, -2.0, 3.0, -4.0])
    pred = x > 0
    out = ft.vmap(lambda p, v: ft.cond(p, lambda v: v * 10.0, lambda v: ft.sin(v), v))(pred, x)
    close(out, np.where(pred, x * 10, np.sin(x)))
    # predicate computed from the batched value itself
    out2 = ft.vmap(lambda v: ft.cond(v > 0, lambda v: v * 10.0, lambda v: ft.sin(v), v))(x)
    close(out2, np.where(pred, x * 10, np.sin(x)))


def test_grad_of_cond_takes_the_selected_branch():
    f = lambda x: ft.cond(x > 0, lambda x: x ** 3, lambda x: ft.sin(x), x)  # noqa: E731
    close(ft.grad(f)(np.float64(2.0)), 12.0)
    close(ft.grad(f)(np.float64(-2.0)), np.cos(-2.0))
    close(ft.jit(ft.grad(f))(np.float64(-2.0)), np.cos(-2.0))


def test_grad_of_fori_loop_static_bounds():
    def f(x):
        return ft.fori_loop(0, 5, lambda i, v: v * ft.cos(v) + i, x)

    def f_np(x):
        for i in range(5):
            x = x * np.cos(x) + i
        return x

    close(ft.grad(f)(np.float64(0.3)), fd_grad(f_np, 0.3), rtol=1e-7)


def test_jvp_of_while_loop():
    def f(x):
        # doubles until > 10: the trip count depends on x, the derivative is 2**n
        return ft.while_loop(lambda v: v < 10.0, lambda v: v * 2.0 + ft.sin(v), x)

    def f_np(x):
        while x < 10.0:
            x = x * 2.0 + np.sin(x)
        return x

    x0 = 0.7
    y, t = ft.jvp(f, (np.float64(x0),), (np.float64(1.0),))
    close(y, f_np(x0))
    close(t, fd_grad(f_np, x0), rtol=1e-7)


def test_linearize_matches_analytic_jvp_and_is_reusable():
    y, f_jvp = ft.linearize(f_scalar, X3)
    close(y, f_scalar_np(X3))
    H = f_scalar_grad_np(X3)
    for t in (np.array([1.0, 0, 0]), np.array([0.3, -0.2, 5.0])):
        close(f_jvp(t), H @ t)


def test_linearize_pytree_and_multiple_outputs():
    def f(p):
        return {"s": ft.sin(p["a"]) * p["b"], "t": ft.sum(p["a"] ** 2)}

    p = {"a": np.array([0.1, 0.2]), "b": np.array([3.0, -1.0])}
    out, f_jvp = ft.linearize(f, p)
    tree_close(out, {"s": np.sin(p["a"]) * p["b"], "t": np.sum(p["a"] ** 2)})
    t = {"a": np.array([1.0, 2.0]), "b": np.array([0.5, 0.5])}
    tree_close(f_jvp(t), {"s": np.cos(p["a"]) * t["a"] * p["b"] + np.sin(p["a"]) * t["b"],
                          "t": np.sum(2 * p["a"] * t["a"])})


def test_jvp_pytrees():
    f = lambda a, bc: (a * bc[0], ft.exp(bc[1]))  # noqa: E731
    a, b, c = np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array(0.5)
    ta, tb, tc = np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array(2.0)
    out, tout = ft.jvp(f, (a, (b, c)), (ta, (tb, tc)))
    tree_close(out, (a * b, np.exp(c)))
    tree_close(tout, (ta * b + a * tb, np.exp(c) * tc))


def test_vjp_with_pytree_inputs_and_outputs():
    def f(p, xs):
        h = ft.tanh(p["w"] * xs[0]) + p["b"]
        return {"h": h, "z": ft.sum(h * xs[1])}

    r = rng(7)
    p = {"w": r.normal(size=3), "b": r.normal(size=3)}
    xs = (r.normal(size=3), r.normal(size=3))
    out, vjp_fn = ft.vjp(f, p, xs)
    th = np.tanh(p["w"] * xs[0])
    h = th + p["b"]
    tree_close(out, {"h": h, "z": np.sum(h * xs[1])})
    ct = {"h": r.normal(size=3), "z": np.float64(1.5)}
    gp, gxs = vjp_fn(ct)
    dh = ct["h"] + ct["z"] * xs[1]
    dpre = dh * (1 - th ** 2)
    tree_close(gp, {"w": dpre * xs[0], "b": dh})
    tree_close(gxs, (dpre * p["w"], ct["z"] * h))


def test_vjp_has_aux_and_cotangent_structure_error():
    out, vjp_fn, aux = ft.vjp(lambda x: (ft.sin(x), {"c": ft.cos(x)}), X3, has_aux=True)
    tree_close(aux, {"c": np.cos(X3)})
    (g,) = vjp_fn(np.ones(3))
    close(g, np.cos(X3))
    with pytest.raises((TypeError, ValueError)):
        vjp_fn((np.ones(3), np.ones(3)))
    with pytest.raises(ValueError, match="shape"):
        vjp_fn(np.ones(4))


def test_value_and_grad_with_has_aux():
    def loss(w, x):
        pred = ft.tanh(w * x)
        return ft.sum(pred ** 2), {"pred": pred, "n": ft.sum(x)}

    w, x = np.array([0.5, -0.3]), np.array([1.0, 2.0])
    (val, aux), g = ft.value_and_grad(loss, has_aux=True)(w, x)
    t = np.tanh(w * x)
    close(val, np.sum(t ** 2))
    tree_close(aux, {"pred": t, "n": np.float64(3.0)})
    close(g, 2 * t * (1 - t ** 2) * x)
    g2, aux2 = ft.grad(loss, has_aux=True)(w, x)
    close(g2, 2 * t * (1 - t ** 2) * x)
    close(aux2["pred"], t)


def test_argnums_tuple_and_negative():
    def f(a, b, c):
        return ft.sum(a * ft.sin(b)) * c

    a, b, c = np.array([1.0, 2.0]), np.array([0.3, 0.4]), np.float64(3.0)
    ga, gc = ft.grad(f, argnums=(0, 2))(a, b, c)
    close(ga, np.sin(b) * c)
    close(gc, np.sum(a * np.sin(b)))
    gb = ft.grad(f, argnums=-2)(a, b, c)
    close(gb, a * np.cos(b) * c)
    (gb2,) = ft.grad(f, argnums=(1,))(a, b, c)
    close(gb2, a * np.cos(b) * c)
    v, (ga3, gb3) = ft.value_and_grad(f, argnums=(0, 1))(a, b, c)
    close(v, np.sum(a * np.sin(b)) * c)
    close(gb3, a * np.cos(b) * c)
    with pytest.raises(ValueError, match="argnums"):
        ft.grad(f, argnums=5)(a, b, c)


def test_grad_pytree_argument_has_same_structure():
    Point = collections.namedtuple("Point", "x y")
    p = {"a": [np.array(1.0), np.array([2.0, 3.0])], "pt": Point(np.array(0.5), np.array(-1.0))}

    def f(p):
        return p["a"][0] * ft.sum(p["a"][1] ** 2) + ft.sin(p["pt"].x) * p["pt"].y

    g = ft.grad(f)(p)
    expect = {"a": [np.array(13.0), 2 * np.array([2.0, 3.0])],
              "pt": Point(np.array(np.cos(0.5) * -1.0), np.array(np.sin(0.5)))}
    tree_close(g, expect)
    assert isinstance(g["pt"], Point)


def test_jacfwd_jacrev_pytree_inputs_and_outputs():
    def f(p):
        return {"u": ft.sin(p["x"]) * p["y"], "v": (ft.sum(p["x"] * p["x"]),)}

    p = {"x": np.array([0.1, 0.2, 0.3]), "y": np.array(2.0)}
    expect = {
        "u": {"x": np.diag(np.cos(p["x"]) * 2.0), "y": np.sin(p["x"])},
        "v": ({"x": 2 * p["x"], "y": np.array(0.0)},),
    }
    tree_close(ft.jacfwd(f)(p), expect)
    tree_close(ft.jacrev(f)(p), expect)


def test_jacobians_with_argnums_tuple():
    f = lambda a, b: a * ft.exp(b)  # noqa: E731
    a, b = np.array([1.0, 2.0]), np.array([0.5, -0.5])
    for jac in (ft.jacfwd, ft.jacrev):
        ja, jb = jac(f, argnums=(0, 1))(a, b)
        close(ja, np.diag(np.exp(b)))
        close(jb, np.diag(a * np.exp(b)))


def test_jacobian_shapes_matrix_in_matrix_out():
    A = rng(8).normal(size=(2, 3))
    f = lambda x: ft.sin(x) * A  # noqa: E731
    J = np.zeros((2, 3, 2, 3))
    for i in range(2):
        for j in range(3):
            J[i, j, i, j] = np.cos(A[i, j]) * A[i, j]
    close(ft.jacfwd(f)(A), J)
    close(ft.jacrev(f)(A), J)


# ---------------------------------------------------------------------- stop_gradient, custom_vjp

def test_stop_gradient():
    f = lambda x: ft.sum(x * ft.stop_gradient(x) ** 2)  # noqa: E731
    close(ft.grad(f)(X3), X3 ** 2)
    _, t = ft.jvp(f, (X3,), (np.ones(3),))
    close(t, np.sum(X3 ** 2))
    close(ft.grad(lambda x: ft.sum(ft.stop_gradient(ft.sin(x))))(X3), np.zeros(3))
    # hessian sees the stopped value as constant too
    close(ft.hessian(f)(X3), np.zeros((3, 3)))


@ft.custom_vjp
def clip_grad_sin(x):
    return ft.sin(x)


def _csin_fwd(x):
    return ft.sin(x), (ft.cos(x),)


def _csin_bwd(res, g):
    (c,) = res
    # a deliberately non-standard rule (7 * the true one) so the test can tell it was used
    return (7.0 * c * g,)


clip_grad_sin.defvjp(_csin_fwd, _csin_bwd)


def test_custom_vjp_primal_and_grad_use_bwd():
    close(clip_grad_sin(X3), np.sin(X3))
    close(ft.grad(lambda x: ft.sum(clip_grad_sin(x)))(X3), 7 * np.cos(X3))
    _, vjp_fn = ft.vjp(clip_grad_sin, X3)
    close(vjp_fn(np.array([1.0, 2.0, 3.0]))[0], 7 * np.cos(X3) * [1, 2, 3])


def test_custom_vjp_under_vmap_and_jit():
    X = np.stack([X3, 2 * X3])
    per = ft.vmap(ft.grad(lambda x: ft.sum(clip_grad_sin(x))))(X)
    close(per, 7 * np.cos(X))
    g = ft.grad(lambda x: ft.sum(ft.vmap(clip_grad_sin)(x)))(X)
    close(g, 7 * np.cos(X))
    close(ft.jit(ft.grad(lambda x: ft.sum(clip_grad_sin(x))))(X3), 7 * np.cos(X3))
    close(ft.grad(ft.jit(lambda x: ft.sum(clip_grad_sin(x))))(X3), 7 * np.cos(X3))
    close(ft.vmap(clip_grad_sin)(X), np.sin(X))


def test_custom_vjp_with_two_args_and_none_cotangent():
    @ft.custom_vjp
    def f(x, y):
        return x * y

    f.defvjp(lambda x, y: (x * y, (x, y)), lambda res, g: (res[1] * g * 3.0, None))
    gx, gy = ft.grad(lambda x, y: ft.sum(f(x, y)), argnums=(0, 1))(X3, 2 * X3)
    close(gx, 3 * 2 * X3)
    close(gy, np.zeros(3))


def test_custom_vjp_forward_mode_errors_clearly():
    with pytest.raises(TypeError, match="forward-mode"):
        ft.jvp(clip_grad_sin, (X3,), (np.ones(3),))
    with pytest.raises(TypeError, match="forward-mode"):
        ft.jacfwd(clip_grad_sin)(X3)


# --------------------------------------------------------------------------- integer inputs

def test_int_inputs_get_float0_tangents_in_jvp():
    f = lambda x, n: x * n  # noqa: E731
    out, t = ft.jvp(f, (np.float64(2.0), np.int64(3)),
                    (np.float64(1.0), np.zeros((), ft.float0)))
    close(out, 6.0)
    close(t, 3.0)
    # an integer output has a float0 tangent
    out, t = ft.jvp(lambda n: n * 2, (np.array([1, 2], np.int64),),
                    (np.zeros((2,), ft.float0),))
    np.testing.assert_array_equal(np.asarray(out), [2, 4])
    assert np.asarray(t).dtype == ft.float0 and np.asarray(t).shape == (2,)


def test_int_inputs_get_float0_cotangents_in_vjp():
    out, vjp_fn = ft.vjp(lambda x, n: x * n, np.array([1.5, 2.5]), np.array([2, 3]))
    close(out, [3.0, 7.5])
    gx, gn = vjp_fn(np.ones(2))
    close(gx, [2.0, 3.0])
    assert np.asarray(gn).dtype == ft.float0 and np.asarray(gn).shape == (2,)


def test_grad_allow_int_and_integer_argument_not_differentiated():
    # grad w.r.t. the float argument only, with an int argument alongside
    g = ft.grad(lambda x, n: ft.sum(x ** 2) * n)(X3, np.int64(4))
    close(g, 8 * X3)


# --------------------------------------------------------------------------- MLP vs numpy backprop

def _mlp_params(sizes=(5, 7, 6, 3), seed=0):
    r = rng(seed)
    return {f"l{i + 1}": {"w": r.normal(size=(m, n)) / np.sqrt(m), "b": r.normal(size=n) * 0.1}
            for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))}


def _mlp_ft(params, x):
    h = ft.tanh(ft.matmul(x, params["l1"]["w"]) + params["l1"]["b"])
    h = ft.tanh(ft.matmul(h, params["l2"]["w"]) + params["l2"]["b"])
    return ft.matmul(h, params["l3"]["w"]) + params["l3"]["b"]


def _xent_ft(params, x, onehot):
    logits = _mlp_ft(params, x)
    m = ft.max(logits, axis=1, keepdims=True)
    z = logits - m
    logp = z - ft.log(ft.sum(ft.exp(z), axis=1, keepdims=True))
    return -ft.mean(ft.sum(onehot * logp, axis=1))


def _mse_ft(params, x, y):
    return ft.mean((_mlp_ft(params, x) - y) ** 2)


def _mlp_backprop_np(params, x, dlogits_fn):
    """Forward and hand-derived backward pass of the tanh MLP."""
    W1, b1 = params["l1"]["w"], params["l1"]["b"]
    W2, b2 = params["l2"]["w"], params["l2"]["b"]
    W3, b3 = params["l3"]["w"], params["l3"]["b"]
    h1 = np.tanh(x @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    out = h2 @ W3 + b3
    d3 = dlogits_fn(out)
    g3w, g3b = h2.T @ d3, d3.sum(0)
    d2 = (d3 @ W3.T) * (1 - h2 ** 2)
    g2w, g2b = h1.T @ d2, d2.sum(0)
    d1 = (d2 @ W2.T) * (1 - h1 ** 2)
    g1w, g1b = x.T @ d1, d1.sum(0)
    return {"l1": {"w": g1w, "b": g1b}, "l2": {"w": g2w, "b": g2b}, "l3": {"w": g3w, "b": g3b}}


def test_mlp_grad_softmax_cross_entropy_matches_numpy_backprop():
    params = _mlp_params()
    r = rng(11)
    B = 8
    x = r.normal(size=(B, 5))
    labels = r.integers(0, 3, size=B)
    onehot = np.eye(3)[labels]

    def dlogits(out):
        e = np.exp(out - out.max(1, keepdims=True))
        return (e / e.sum(1, keepdims=True) - onehot) / B

    g = ft.grad(_xent_ft)(params, x, onehot)
    tree_close(g, _mlp_backprop_np(params, x, dlogits), rtol=RTOL, atol=1e-14)
    # also jitted
    g = ft.jit(ft.grad(_xent_ft))(params, x, onehot)
    tree_close(g, _mlp_backprop_np(params, x, dlogits), rtol=RTOL, atol=1e-14)


def test_mlp_grad_mse_matches_numpy_backprop():
    params = _mlp_params(seed=1)
    r = rng(12)
    x, y = r.normal(size=(6, 5)), r.normal(size=(6, 3))

    def dlogits(out):
        return 2 * (out - y) / y.size

    g = ft.grad(_mse_ft)(params, x, y)
    assert set(g) == {"l1", "l2", "l3"} and all(set(v) == {"w", "b"} for v in g.values())
    tree_close(g, _mlp_backprop_np(params, x, dlogits), rtol=RTOL, atol=1e-14)


def test_mlp_per_example_grads_sum_to_batch_grad():
    params = _mlp_params(seed=2)
    r = rng(13)
    x, y = r.normal(size=(4, 5)), r.normal(size=(4, 3))

    def loss1(p, xi, yi):
        return ft.sum((_mlp_ft(p, xi[None]) - yi) ** 2)

    per = ft.vmap(ft.grad(loss1), in_axes=(None, 0, 0))(params, x, y)
    for i in range(4):
        gi = _mlp_backprop_np(params, x[i:i + 1], lambda out, i=i: 2 * (out - y[i:i + 1]))
        tree_close(ft.tree.map(lambda a, i=i: np.asarray(a)[i], per), gi, rtol=1e-9)


# --------------------------------------------------------------------------- jit: caching, statics

class Counter:
    def __init__(self, fun):
        self.n = 0
        self.fun = fun

    def __call__(self, *args, **kwargs):
        self.n += 1
        return self.fun(*args, **kwargs)


def test_jit_of_callable_object_and_of_jitted_function_keep_their_own_state():
    # regression: JitFunction used functools.update_wrapper, which copied the wrapped
    # object's __dict__ (attributes `fun`, `_cache`, `static_argnums`...) over its own
    class Model:
        def __init__(self):
            self.fun = None   # an attribute name JitFunction also uses
            self.n = 0

        def __call__(self, x):
            self.n += 1
            return x * 3.0

    m = Model()
    f = ft.jit(m)
    close(f(X3), 3 * X3)
    f(X3)
    assert m.n == 1
    calls = []

    def g(x, k):
        calls.append(k)
        return x * k

    inner = ft.jit(g, static_argnums=1)
    outer = ft.jit(inner, static_argnums=1)
    close(outer(X3, 5), 5 * X3)
    close(inner(X3, 6), 6 * X3)
    assert outer._cache is not inner._cache
    assert outer.cache_size == 1 and inner.cache_size >= 1


def test_jit_traces_once_per_signature():
    c = Counter(lambda x, y: x * 2.0 + y)
    f = ft.jit(c)
    x32 = np.ones(3, np.float32)
    close(f(x32, x32), np.full(3, 3.0, np.float32))
    f(x32 + 1, x32)
    f(np.zeros(3, np.float32), np.ones(3, np.float32))
    assert c.n == 1, "same shapes/dtypes must not retrace"
    f(np.ones(4, np.float32), np.ones(4, np.float32))
    assert c.n == 2, "a new shape retraces"
    f(np.ones(4, np.float64), np.ones(4, np.float64))
    assert c.n == 3, "a new dtype retraces"
    f(np.ones(3, np.float32), np.ones(3, np.float32))
    f(np.ones(4, np.float64), np.ones(4, np.float64))
    assert c.n == 3, "earlier signatures stay cached"
    # ft arrays and numpy arrays of the same type share a signature
    f(ft.ones(3, ft.float32), ft.asarray(x32))
    assert c.n == 3


def test_jit_traces_once_across_eager_grad_and_vmap_calls():
    n = [0]

    def f(x):
        n[0] += 1
        return ft.sin(x) * 2.0

    jf = ft.jit(f)
    close(jf(X3), 2 * np.sin(X3))
    close(ft.grad(lambda x: ft.sum(jf(x)))(X3), 2 * np.cos(X3))
    close(ft.grad(lambda x: ft.sum(jf(x)))(X3 + 1), 2 * np.cos(X3 + 1))
    close(ft.vmap(jf)(np.stack([X3, X3])), 2 * np.sin(np.stack([X3, X3])))
    close(ft.jit(lambda x: jf(x) + 1.0)(X3), 2 * np.sin(X3) + 1)
    assert n[0] == 1, f"one signature (f64[3]) must trace once, traced {n[0]} times"
    jf(np.ones(2))
    assert n[0] == 2


def test_vmap_of_jit_with_different_batch_sizes_and_axes():
    jf = ft.jit(lambda a, b: ft.sum(a * b))
    A = rng(21).normal(size=(5, 3))
    B = rng(22).normal(size=(3, 4))
    close(ft.vmap(jf, in_axes=(0, None))(A, B[:, 0]), A @ B[:, 0])
    close(ft.vmap(jf, in_axes=(None, 1))(A[0], B), A[0] @ B)
    close(ft.vmap(jf, in_axes=(0, None))(A[:2], B[:, 1]), A[:2] @ B[:, 1])
    close(ft.vmap(ft.vmap(jf, in_axes=(None, 1)), in_axes=(0, None))(A, B), A @ B)


def test_deep_composition_jit_vmap_grad_scan_cond():
    xs = np.array([0.5, -1.0, 2.0])

    def loss(w, x0):
        def body(c, x):
            c = ft.cond(x > 0, lambda c: ft.tanh(c * w), lambda c: c * w + x, c)
            return c, c * c
        c, ys = ft.scan(body, x0, xs)
        return c + ft.sum(ys)

    def loss_np(w, x0):
        c, acc = x0, 0.0
        for x in xs:
            c = np.tanh(c * w) if x > 0 else c * w + x
            acc += c * c
        return c + acc

    W = np.array([0.3, -0.7, 1.2])
    X0 = np.array([0.1, 0.5, -0.4])
    g = ft.jit(ft.vmap(ft.grad(loss, argnums=(0, 1))))(W, X0)
    for i in range(3):
        gw = (loss_np(W[i] + 1e-6, X0[i]) - loss_np(W[i] - 1e-6, X0[i])) / 2e-6
        gx = (loss_np(W[i], X0[i] + 1e-6) - loss_np(W[i], X0[i] - 1e-6)) / 2e-6
        close(g[0][i], gw, rtol=1e-6)
        close(g[1][i], gx, rtol=1e-6)


def test_jit_retraces_on_pytree_structure_and_static_values():
    def body(p, k):
        return ft.sum(p["a"]) * k + (p["b"] if "b" in p else 0.0)

    c = Counter(body)
    f = ft.jit(c, static_argnums=1)
    a = np.ones(3)
    close(f({"a": a}, 2), 6.0)
    close(f({"a": a}, 2), 6.0)
    assert c.n == 1
    close(f({"a": a}, 3), 9.0)
    assert c.n == 2, "a new static value retraces"
    close(f({"a": a, "b": np.float64(1.0)}, 3), 10.0)
    assert c.n == 3, "a new pytree structure retraces"
    close(f({"a": a, "b": np.float64(5.0)}, 3), 14.0)
    assert c.n == 3


def test_jit_static_argnums_allows_python_control_flow():
    @ft.jit
    def plain(x):
        return x

    f = ft.jit(lambda x, mode: ft.sin(x) if mode == "sin" else ft.cos(x), static_argnums=(1,))
    close(f(X3, "sin"), np.sin(X3))
    close(f(X3, "cos"), np.cos(X3))
    g = ft.jit(lambda x, n: x * n, static_argnums=-1)
    close(g(X3, 3), X3 * 3)
    close(plain(X3), X3)


def test_jit_static_argnames_positional_and_keyword():
    c = Counter(lambda x, n=1, scale=1.0: ft.sum(x ** n) * scale)
    f = ft.jit(c, static_argnames=("n",))
    close(f(X3, n=2), np.sum(X3 ** 2))
    close(f(X3, 2), np.sum(X3 ** 2))
    close(f(X3, n=3), np.sum(X3 ** 3))
    # dynamic keyword argument
    close(f(X3, n=2, scale=np.float64(2.0)), 2 * np.sum(X3 ** 2))
    close(f(X3, n=2, scale=np.float64(5.0)), 5 * np.sum(X3 ** 2))
    n_after = c.n
    f(X3, n=2, scale=np.float64(7.0))
    assert c.n == n_after


def test_jit_decorator_form_with_options():
    @ft.jit(static_argnames="k")
    def f(x, k):
        for _ in range(k):
            x = ft.sin(x)
        return x

    close(f(X3, k=2), np.sin(np.sin(X3)))


def test_jit_unhashable_static_argument_is_a_clear_type_error():
    f = ft.jit(lambda x, cfg: x * len(cfg), static_argnums=1)
    with pytest.raises(TypeError, match="hashable"):
        f(X3, [1, 2])
    close(f(X3, (1, 2)), 2 * X3)


def test_jit_donate_argnums_accepted():
    f = ft.jit(lambda x, y: x + y, donate_argnums=(0,))
    close(f(X3, X3), 2 * X3)
    close(f(np.ones(3), X3), 1 + X3)


def test_jit_kwargs_pytrees_scalars():
    c = Counter(lambda params, x, *, bias: {"out": params["w"] * x + bias,
                                            "aux": (ft.sum(x), [params["w"]])})
    f = ft.jit(c)
    p = {"w": np.array([1.0, 2.0])}
    out = f(p, np.array([3.0, 4.0]), bias=np.float64(0.5))
    tree_close(out, {"out": np.array([3.5, 8.5]), "aux": (np.float64(7.0), [np.array([1.0, 2.0])])})
    # Python scalars as dynamic arguments
    g = ft.jit(lambda x, s: x * s)
    close(g(np.float32(2.0) * np.ones(2, np.float32), 3.0), np.full(2, 6.0, np.float32))
    close(g(np.ones(2, np.float32), 4.0), np.full(2, 4.0, np.float32))
    close(ft.jit(lambda a, b: a + b)(2.0, 3.0), 5.0)
    close(ft.jit(lambda a, b: a * b)(2, 3), 6)


def test_jit_result_matches_eager_for_various_outputs():
    f = ft.jit(lambda x: (x, ft.exp(x), ft.sum(x, axis=0), x.astype(ft.float32)))
    x = rng(9).normal(size=(2, 3))
    a, b, s, c = f(x)
    close(a, x)
    close(b, np.exp(x))
    close(s, x.sum(0))
    assert np.asarray(c).dtype == np.float32


def test_jit_constant_output_and_unused_input():
    f = ft.jit(lambda x, y: ft.ones(2) * 3.0)
    close(f(X3, X3), np.full(2, 3.0))
    close(ft.grad(lambda x: ft.sum(ft.jit(lambda a, b: a * 2.0)(x, ft.sin(x))))(X3),
          np.full(3, 2.0))


# --------------------------------------------------------------------------- vmap axes

def test_vmap_in_axes_int_none_negative():
    r = rng(14)
    A = r.normal(size=(3, 4))
    b = r.normal(size=4)
    close(ft.vmap(lambda a, b: a * b, in_axes=(0, None))(A, b), A * b)
    close(ft.vmap(lambda a, b: a * b, in_axes=(1, None))(A, b[:3]), (A * b[:3, None]).T)
    close(ft.vmap(lambda a: ft.sum(a), in_axes=-1)(A), A.sum(0))
    close(ft.vmap(lambda a: ft.sum(a), in_axes=-2)(A), A.sum(1))
    close(ft.vmap(lambda a, b: a + b, in_axes=[1, 0])(A, b), A.T + b[:, None])


def test_vmap_in_axes_pytrees():
    r = rng(15)
    p = {"w": r.normal(size=(2, 5)), "b": r.normal(size=2)}
    xs = (r.normal(size=(5, 4)), r.normal(size=4))

    def f(p, xs):
        x, y = xs
        return ft.sum(p["w"] * x) + ft.sum(p["b"]) * y

    out = ft.vmap(f, in_axes=({"w": None, "b": None}, (1, 0)))(p, xs)
    expect = np.array([np.sum(p["w"] * xs[0][:, i]) + p["b"].sum() * xs[1][i] for i in range(4)])
    close(out, expect)
    # a prefix: None for the whole dict
    close(ft.vmap(f, in_axes=(None, (1, 0)))(p, xs), expect)
    # dict in_axes entries that map a leaf of the params over its axis 1
    out = ft.vmap(lambda p: p["w"] * 2.0, in_axes=({"w": 1, "b": None},))(p)
    close(out, (p["w"] * 2).T)


def test_vmap_out_axes_variants():
    A = rng(16).normal(size=(3, 4))
    close(ft.vmap(lambda a: a * 2.0, out_axes=1)(A), (A * 2).T)
    close(ft.vmap(lambda a: a * 2.0, out_axes=-1)(A), (A * 2).T)
    r = ft.vmap(lambda a: {"s": ft.sum(a), "d": a * 2.0}, out_axes={"s": 0, "d": 1})(A)
    tree_close(r, {"s": A.sum(1), "d": (A * 2).T})
    # None for an output that does not depend on the mapped axis
    c = np.array([1.0, 2.0])
    s, u = ft.vmap(lambda a, c: (ft.sum(a), c * 3.0), in_axes=(0, None), out_axes=(0, None))(A, c)
    close(s, A.sum(1))
    close(u, c * 3)
    with pytest.raises(ValueError):
        ft.vmap(lambda a: a, out_axes=None)(A)


def test_vmap_axis_size_without_batched_input():
    out = ft.vmap(lambda c: c * 2.0, in_axes=None, axis_size=4)(np.array([1.0, 2.0]))
    close(out, np.tile([2.0, 4.0], (4, 1)))
    out = ft.vmap(lambda: ft.ones(2), axis_size=3)()
    close(out, np.ones((3, 2)))
    with pytest.raises(ValueError, match="axis_size"):
        ft.vmap(lambda c: c, in_axes=None)(np.ones(2))


def test_vmap_kwargs_batched_along_axis_0():
    A = rng(17).normal(size=(3, 4))
    b = rng(18).normal(size=(3,))
    out = ft.vmap(lambda a, *, scale: a * scale, in_axes=0)(A, scale=b)
    close(out, A * b[:, None])


def test_vmap_nested_three_levels():
    A = rng(19).normal(size=(2, 3, 4))
    f = ft.vmap(ft.vmap(ft.vmap(lambda x: x * x + 1.0)))
    close(f(A), A * A + 1)
    g = ft.vmap(ft.vmap(lambda x: ft.sum(x), in_axes=1), in_axes=2)
    close(g(A), A.sum(0).T)


def test_vmap_of_reductions_matmul_and_shapes():
    r = rng(20)
    A, B = r.normal(size=(5, 2, 3)), r.normal(size=(5, 3, 4))
    close(ft.vmap(ft.matmul)(A, B), A @ B)
    close(ft.vmap(lambda a: ft.reshape(a, (6,)))(A), A.reshape(5, 6))
    close(ft.vmap(lambda a: ft.transpose(a))(A), A.transpose(0, 2, 1))
    close(ft.vmap(lambda a: ft.max(a, axis=1))(A), A.max(2))


# --------------------------------------------------------------------------- the IR

def _check_graph(closed):
    text = str(closed)
    assert "lambda" in text and " let" in text and " in (" in text
    assert ft.typecheck(closed.graph)
    return text


def test_make_graph_prints_readable_graph():
    cg = ft.make_graph(lambda x, y: ft.sin(x) * y + 1.0)(np.ones(3, np.float32),
                                                        np.ones(3, np.float32))
    text = _check_graph(cg)
    assert "f32[3]" in text and "sin" in text and "mul" in text
    # outputs computed with the graph match numpy
    close(cg(np.ones(3, np.float32), np.full(3, 2.0, np.float32))[0],
          np.sin(np.ones(3, np.float32)) * 2 + 1)


@pytest.mark.parametrize("name", ["grad", "vmap", "jit", "scan", "cond", "while", "hessian",
                                  "vmap_grad", "grad_scan", "grad_cond", "custom_vjp"])
def test_graphs_of_transformed_functions_typecheck(name):
    x = np.array([0.5, -0.2, 1.0])
    fns = {
        "grad": lambda x: ft.grad(f_scalar)(x),
        "vmap": lambda x: ft.vmap(lambda v: ft.sin(v) * v)(x),
        "jit": lambda x: ft.jit(lambda v: ft.exp(v) + 1.0)(x),
        "scan": lambda x: ft.scan(lambda c, v: (c + v, c * v), 0.0 * x[0], x),
        "cond": lambda x: ft.cond(x[0] > 0, lambda v: v * 2.0, lambda v: -v, x),
        "while": lambda x: ft.while_loop(lambda v: ft.sum(v) < 10.0, lambda v: v * 2.0, x),
        "hessian": lambda x: ft.hessian(f_scalar)(x),
        "vmap_grad": lambda x: ft.vmap(ft.grad(lambda v: ft.sin(v) * v))(x),
        "grad_scan": lambda x: ft.grad(
            lambda x: ft.scan(lambda c, v: (c * ft.sin(v), c), 1.0 + 0.0 * x[0], x)[0])(x),
        "grad_cond": lambda x: ft.grad(
            lambda x: ft.sum(ft.cond(x[0] > 0, lambda v: v * v, lambda v: ft.sin(v), x)))(x),
        "custom_vjp": lambda x: ft.grad(lambda v: ft.sum(clip_grad_sin(v)))(x),
    }
    f = fns[name]
    cg = ft.make_graph(f)(x)
    _check_graph(cg)
    # and running the graph gives the same as numpy-checked eager/jit execution
    got = ft.tree.leaves(ft.tree.unflatten(cg.out_tree, cg(x)))
    want = ft.tree.leaves(ft.jit(f)(x))
    for g, w in zip(got, want, strict=True):
        close(g, w)
    if name == "grad":
        close(got[0], f_scalar_grad_np(x))
    if name == "custom_vjp":
        close(got[0], 7 * np.cos(x))


def test_make_graph_static_argnums_and_typecheck_detects_corruption():
    cg = ft.make_graph(lambda x, n: x * n, static_argnums=1)(np.ones(2), 3)
    assert ft.typecheck(cg.graph)
    # a corrupted graph (an output var with the wrong recorded shape) must be rejected
    g = cg.graph
    eqn = g.eqns[-1]
    from funtorch.core.abstract import ShapedArray
    from funtorch.core.graph import Eqn, Graph, Var
    bad_out = Var(ShapedArray((5,), np.float64))
    bad = Graph(g.in_vars, g.eqns[:-1] + [Eqn(eqn.prim, eqn.inputs, [bad_out], eqn.params)],
                [bad_out])
    with pytest.raises(TypeError):
        ft.typecheck(bad)


def test_jit_graph_is_typechecked_through_lower():
    f = ft.jit(lambda x: ft.vmap(ft.grad(lambda v: v ** 3))(x))
    cg = f.lower(np.array([1.0, 2.0]))
    assert ft.typecheck(cg.graph)
    close(f(np.array([1.0, 2.0])), [3.0, 12.0])
