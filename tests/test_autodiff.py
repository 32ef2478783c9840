"""Autodiff API: jvp/linearize/vjp/grad/jacobians over pytrees, argnums and aux,
stop_gradient and custom_vjp, float0 tangents of integer inputs, and the gradient of an
MLP against hand-written numpy backprop. References are analytic, never funtorch."""

from __future__ import annotations

import collections

import numpy as np
import pytest
from helpers import X3, clip_grad_sin, f_scalar, f_scalar_grad_np, f_scalar_np, rng
from helpers import close64 as close
from helpers import tree_close64 as tree_close

import funtorch as ft

RTOL = 1e-10


# --------------------------------------------------------------------------- pytrees, argnums, aux

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
    with pytest.raises(TypeError, match="structure"):
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


# ------------------------------------------------------------------------ stop_gradient, custom_vjp

def test_stop_gradient():
    f = lambda x: ft.sum(x * ft.stop_gradient(x) ** 2)  # noqa: E731
    close(ft.grad(f)(X3), X3 ** 2)
    _, t = ft.jvp(f, (X3,), (np.ones(3),))
    close(t, np.sum(X3 ** 2))
    close(ft.grad(lambda x: ft.sum(ft.stop_gradient(ft.sin(x))))(X3), np.zeros(3))
    # hessian sees the stopped value as constant too
    close(ft.hessian(f)(X3), np.zeros((3, 3)))


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


# ------------------------------------------------------------------------ JAX-parity fixes

F3 = np.array([0.5, -1.0, 2.0], np.float32)


def test_custom_vjp_fwd_calling_f_runs_primal_at_every_order():
    @ft.custom_vjp
    def f(x):
        return ft.sin(x)
    f.defvjp(lambda x: (f(x), ft.cos(x)), lambda c, g: (g * c,))
    close(f(np.float64(1.0)), np.sin(1.0))
    close(ft.jit(ft.grad(f))(np.float64(1.0)), np.cos(1.0))
    close(ft.vmap(ft.grad(f))(X3), np.cos(X3))
    close(ft.grad(ft.grad(f))(np.float64(1.0)), -np.sin(1.0))   # d/dx of the residual cos


def test_custom_vjp_keywords_defaults_and_weak_int_arguments():
    import functools

    @functools.partial(ft.custom_vjp, nondiff_argnums=(1,))
    def scale(x, k=2.0):
        return x * k
    scale.defvjp(lambda x, k: (x * k, None), lambda k, r, g: (g * k * 10,))
    close(scale(X3), 2 * X3)                                   # default filled in
    close(ft.grad(lambda x: ft.sum(scale(x, k=3.0)))(X3), np.full(3, 30.0))
    mul = ft.custom_vjp(lambda x, n: x * n)
    mul.defvjp(lambda x, n: (x * n, n), lambda n, g: (g * n, None))
    assert mul(F3, 3).dtype == np.float32 and ft.jit(mul)(F3, 3).dtype == np.float32
    assert ft.grad(lambda x: ft.sum(mul(x, n=3)))(F3).dtype == np.float32


@pytest.mark.parametrize("bwd, exc, match", [
    (lambda r, g: (ft.sum(g), g), ValueError, r"argument 0 .*f32\[\] for an input of f32\[3\]"),
    (lambda r, g: (g, ft.ones(4)), ValueError, r"argument 1 .*f32\[4\]"),
    (lambda r, g: (g,), TypeError, "per differentiable argument"),
    (lambda r, g: ((g,), g), TypeError, "structure"),
])
def test_custom_vjp_checks_bwd_outputs(bwd, exc, match):
    @ft.custom_vjp
    def f(x, y):
        return x * y
    f.defvjp(lambda x, y: (x * y, (x, y)), bwd)
    with pytest.raises(exc, match=match):
        ft.grad(lambda x: ft.sum(f(x, F3)))(F3)


@pytest.mark.parametrize("transform", [ft.grad, ft.value_and_grad, ft.jacrev, ft.jacfwd])
def test_repeated_argnums_raise(transform):
    with pytest.raises(ValueError, match="duplicates"):
        transform(lambda a, b: a * b, argnums=(1, -1))(2.0, 3.0)


def test_python_ints_stay_weak_through_vjp_jvp_and_linearize():
    out, fn = ft.vjp(lambda x, n: x * (n + 1), F3, 3)
    assert out.dtype == np.float32
    g, gn = fn(np.ones(3, np.float32))
    assert g.dtype == np.float32 and np.asarray(gn).dtype == ft.float0
    _, t = ft.jvp(lambda x, n: x * (n + 1), (F3, 3), (np.ones(3, np.float32),
                                                     np.zeros((), ft.float0)))
    assert t.dtype == np.float32
    y, f_jvp = ft.linearize(lambda x, n: x * n, F3, 3)
    assert y.dtype == np.float32
    close(f_jvp(np.ones(3, np.float32), np.zeros((), ft.float0)), np.full(3, 3.0))
    # a Python float primal is weak too: it does not widen a float16 result
    out, fn = ft.vjp(lambda x, s: x * s, F3.astype(np.float16), 2.0)
    assert out.dtype == np.float16 and fn(np.ones(3, np.float16))[1].dtype == np.float32


def test_has_aux_passes_non_array_values_through():
    def f(x):
        return ft.sum(x ** 2), {"name": "s", "x": x, "cls": object}
    want = {"name": "s", "cls": object}
    for aux in (ft.grad(f, has_aux=True)(X3)[1], ft.value_and_grad(f, has_aux=True)(X3)[0][1],
                ft.vjp(f, X3, has_aux=True)[2], ft.jvp(f, (X3,), (X3,), has_aux=True)[2],
                ft.jacfwd(f, has_aux=True)(X3)[1], ft.jacrev(f, has_aux=True)(X3)[1],
                ft.hessian(f, has_aux=True)(X3)[1]):
        assert {k: aux[k] for k in want} == want
        close(aux["x"], X3)


@pytest.mark.parametrize("transform", [ft.grad, ft.value_and_grad, ft.jacfwd, ft.jacrev,
                                       ft.hessian])
def test_holomorphic_keyword(transform):
    transform(lambda x: x * x, holomorphic=False)(np.float64(2.0))
    with pytest.raises(NotImplementedError, match="complex"):
        transform(lambda x: x * x, holomorphic=True)
