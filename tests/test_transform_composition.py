"""Transformations composed with each other (grad of grad, jit of grad, vmap of grad,
hessians, vmap of vmap, and each of them around control flow), checked against analytic
derivatives or central finite differences of numpy code. Never against funtorch itself."""

from __future__ import annotations

import numpy as np
from helpers import X3, f_scalar, f_scalar_grad_np, f_scalar_hess_np, fd_grad, rng
from helpers import close64 as close

import funtorch as ft


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


# --------------------------------------------------------------------------- around control flow

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


def test_jit_of_every_control_flow_primitive():
    x = np.array([0.5, -1.5, 2.0])
    cases = {
        "cond": (lambda x: ft.cond(x[0] > 0, lambda v: v * 2.0, lambda v: -v, x), x * 2),
        "switch": (lambda x: ft.switch(2, [lambda v: v, lambda v: v, lambda v: v + 1.0], x),
                   x + 1),
        "scan": (lambda x: ft.scan(lambda c, v: (c + v, c), np.float64(0.0), x)[0],
                 np.float64(x.sum())),
        "fori": (lambda x: ft.fori_loop(0, 3, lambda i, v: v * 2.0, x), x * 8),
        "while": (lambda x: ft.while_loop(lambda v: ft.sum(v * v) < 100.0,
                                          lambda v: v * 2.0, x), x * 4),
    }
    for name, (f, ref) in cases.items():
        close(ft.jit(f)(x), ref)
        close(f(x), ref)
        cg = ft.make_graph(f)(x)
        assert ft.typecheck(cg.graph), name
