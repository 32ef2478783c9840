"""fori_loop and while_loop: values vs Python loops (static and traced bounds, data-dependent
trip counts), forward-mode derivatives and the reverse-mode error, batched trip counts,
misuse errors, and the dtype a Python-scalar carry takes (scan's carry included)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import FD, fd_grad
from helpers import close64 as close

import funtorch as ft

# --------------------------------------------------------------------------- values

def test_fori_loop_values_static_and_traced_bounds():
    body = lambda i, v: v * 2.0 + i  # noqa: E731

    def ref(lo, hi, v):
        for i in range(lo, hi):
            v = v * 2.0 + i
        return v

    close(ft.fori_loop(0, 5, body, np.float64(1.0)), ref(0, 5, 1.0))
    close(ft.fori_loop(3, 3, body, np.float64(1.0)), 1.0)
    close(ft.fori_loop(2, 6, body, np.float64(0.5)), ref(2, 6, 0.5))
    f = ft.jit(lambda lo, hi, v: ft.fori_loop(lo, hi, body, v))
    close(f(2, 6, np.float64(0.5)), ref(2, 6, 0.5))
    close(f(0, 9, np.float64(0.5)), ref(0, 9, 0.5))
    assert f.cache_size == 1, "traced bounds do not retrace"


def test_fori_loop_pytree_carry():
    out = ft.fori_loop(0, 4, lambda i, c: {"s": c["s"] + i, "p": c["p"] * 2.0},
                       {"s": np.int64(0), "p": np.float64(1.0)})
    assert int(out["s"]) == 6
    close(out["p"], 16.0)


def test_while_loop_values_pytree():
    def cond_fun(c):
        i, x = c
        return i < 10

    def body_fun(c):
        i, x = c
        return i + 1, x * 1.5 + 1.0

    i, x = ft.while_loop(cond_fun, body_fun, (np.int64(3), np.float64(0.0)))
    ref = 0.0
    for _ in range(7):
        ref = ref * 1.5 + 1.0
    assert int(i) == 10
    close(x, ref)
    # zero iterations
    i, x = ft.while_loop(cond_fun, body_fun, (np.int64(20), np.float64(5.0)))
    assert int(i) == 20
    close(x, 5.0)


def test_while_loop_dependent_trip_count():
    # Collatz steps: data-dependent trip count, integer carry
    def steps(n):
        def body(c):
            n, k = c
            n = ft.where(n % 2 == 0, n // 2, 3 * n + 1)
            return n, k + 1
        return ft.while_loop(lambda c: c[0] != 1, body, (n, np.int64(0)))[1]

    def ref(n):
        k = 0
        while n != 1:
            n = n // 2 if n % 2 == 0 else 3 * n + 1
            k += 1
        return k

    for n in (1, 6, 27):
        assert int(steps(np.int64(n))) == ref(n)
    assert int(ft.jit(steps)(np.int64(27))) == ref(27)


# --------------------------------------------------------------------------- derivatives

def test_grad_fori_loop_static_with_closure():
    w = np.array([0.5, -0.3])

    def f(x, w):
        return ft.sum(ft.fori_loop(1, 4, lambda i, v: ft.tanh(v * w) * i, x))

    def f_np(x, w):
        for i in range(1, 4):
            x = np.tanh(x * w) * i
        return np.sum(x)

    x = np.array([0.2, 0.9])
    gx, gw = ft.grad(f, argnums=(0, 1))(x, w)
    close(gx, fd_grad(lambda x: f_np(x, w), x), **FD)
    close(gw, fd_grad(lambda w: f_np(x, w), w), **FD)


def test_fori_loop_traced_bounds_forward_mode_only():
    def f(x, n):
        return ft.fori_loop(0, n, lambda i, v: ft.sin(v) * 1.5, x)

    def f_np(x, n):
        for _ in range(n):
            x = np.sin(x) * 1.5
        return x

    jf = ft.jit(lambda x, n: ft.jvp(lambda x: f(x, n), (x,), (np.float64(1.0),)))
    y, t = jf(np.float64(0.4), 5)
    close(y, f_np(0.4, 5))
    close(t, fd_grad(lambda x: f_np(x, 5), 0.4), **FD)
    with pytest.raises(NotImplementedError, match="while_loop"):
        ft.jit(ft.grad(f))(np.float64(0.4), 5)


def test_while_loop_reverse_mode_raises_clear_error():
    f = lambda x: ft.while_loop(lambda v: v < 5.0, lambda v: v * 2.0, x)  # noqa: E731
    with pytest.raises(NotImplementedError) as ei:
        ft.grad(f)(np.float64(1.0))
    msg = str(ei.value)
    assert "while_loop" in msg and ("scan" in msg or "fori_loop" in msg)
    with pytest.raises(NotImplementedError, match="while_loop"):
        ft.vjp(f, np.float64(1.0))[1](np.float64(1.0))


def test_jvp_while_loop_with_closure_tangent():
    # the tangent enters through a constant closed over by the body
    def f(w):
        return ft.while_loop(lambda c: c[0] < 4, lambda c: (c[0] + 1, c[1] * w + 1.0),
                             (np.int64(0), np.float64(1.0)))[1]

    def f_np(w):
        v = 1.0
        for _ in range(4):
            v = v * w + 1.0
        return v

    _, t = ft.jvp(f, (np.float64(1.3),), (np.float64(1.0),))
    close(t, fd_grad(f_np, 1.3), **FD)
    # jacfwd is forward mode, so it works too
    close(ft.jacfwd(f)(np.float64(1.3)), fd_grad(f_np, 1.3), **FD)


# --------------------------------------------------------------------------- vmap

def test_vmap_while_loop_batched_trip_counts():
    x = np.array([0.5, 3.0, 20.0, 1.0])
    f = lambda v: ft.while_loop(lambda v: v < 10.0, lambda v: v * 2.0 + 1.0, v)  # noqa: E731

    def ref(v):
        while v < 10.0:
            v = v * 2.0 + 1.0
        return v

    close(ft.vmap(f)(x), [ref(v) for v in x])
    close(ft.jit(ft.vmap(f))(x), [ref(v) for v in x])
    # batched constant in the body, unbatched init
    g = lambda s: ft.while_loop(lambda v: v < 10.0, lambda v: v * s, np.float64(1.0))  # noqa: E731
    s = np.array([2.0, 3.0, 11.0])

    def ref2(s):
        v = 1.0
        while v < 10.0:
            v *= s
        return v

    close(ft.vmap(g)(s), [ref2(v) for v in s])


def test_vmap_fori_loop_batched_bounds():
    n = np.array([0, 1, 3, 5])
    out = ft.vmap(lambda n: ft.fori_loop(0, n, lambda i, v: v + i, np.int64(0)))(n)
    np.testing.assert_array_equal(np.asarray(out), [sum(range(k)) for k in n])


# ---------------------------------------------------------------- errors, weak-typed Python scalars

def test_while_loop_errors():
    with pytest.raises(TypeError, match="boolean"):
        ft.while_loop(lambda v: v, lambda v: v, np.float64(1.0))
    with pytest.raises(TypeError) as ei:
        ft.while_loop(lambda v: v < 1.0, lambda v: v.astype(ft.float32), np.float64(0.0))
    assert "f64[]" in str(ei.value) and "f32[]" in str(ei.value)


def test_python_scalar_carry_takes_the_body_dtype():
    # JAX's weak typing: a Python-scalar init takes the dtype the body gives the carry
    x = np.array([1.0, 2.0, 3.0])
    c, ys = ft.scan(lambda c, v: (c + v, c), 0, x)
    assert np.asarray(c).dtype == np.float64
    close(c, 6.0)
    close(ys, [0.0, 1.0, 3.0])
    v = ft.while_loop(lambda v: v < 10.0, lambda v: v * np.float64(2.0), 1.0)
    assert np.asarray(v).dtype == np.float64
    close(v, 16.0)
    v = ft.fori_loop(0, 3, lambda i, v: v * np.float64(2.0), 1.0)
    assert np.asarray(v).dtype == np.float64
    close(v, 8.0)
    # the Python value itself is converted (0.1 as f64, not f32(0.1) widened)
    c, _ = ft.scan(lambda c, v: (c * v, None), 0.1, x)
    assert float(c) == 0.1 * 1.0 * 2.0 * 3.0
    v = ft.while_loop(lambda v: v < 1.0, lambda v: v * np.float64(10.0), 0.1)
    assert float(v) == 0.1 * 10.0
    # second order through a scan whose init is a Python float
    h = ft.hessian(lambda x: ft.scan(lambda c, v: (c * v, None), 1.0, x)[0])(x)
    close(h, [[0.0, 3.0, 2.0], [3.0, 0.0, 1.0], [2.0, 1.0, 0.0]])


# ------------------------------------------------------------------------ weak index / carries

F32 = np.float32


@pytest.mark.parametrize("bounds", [(0, 3), (np.int32(0), np.int32(3)), (0, np.int64(3))])
def test_fori_loop_index_is_weak_with_static_bounds(bounds):
    lo, hi = bounds
    out = ft.fori_loop(lo, hi, lambda i, c: c + i, F32(0))
    assert out.dtype == np.float32 and float(out) == 3.0
    out = ft.fori_loop(lo, hi, lambda i, c: i, np.int32(0))   # a weak index fits int32
    assert out.dtype == np.int32 and int(out) == 2


def test_fori_loop_index_with_traced_bounds_follows_their_dtype():
    f = ft.jit(lambda n: ft.fori_loop(0, n, lambda i, c: c + i, F32(0)))
    out = f(3)
    assert out.dtype == np.float32 and float(out) == 3.0
    g = ft.jit(lambda n: ft.fori_loop(0, n, lambda i, c: i, np.int32(0)))
    assert int(g(np.int32(4))) == 3 and g(np.int32(4)).dtype == np.int32
    with pytest.raises(TypeError, match="equal types"):
        ft.jit(lambda a, b: ft.fori_loop(a, b, lambda i, c: c, F32(0)))(
            np.int32(0), np.int64(3))


def test_fori_loop_grad_with_weak_index_and_python_float_init():
    g = ft.grad(lambda x: ft.fori_loop(0, 4, lambda i, c: c * x + i, 1.0))(F32(1.5))
    assert g.dtype == np.float32
    close(g, 18.5)   # d/dx of x^4 + x^2 + 2x + 3 at 1.5 (JAX gives the same)


def test_python_int_carries_stay_weak():
    x = np.array([0.5, -1.0, 2.0], F32)
    out = ft.while_loop(lambda c: c[1] < 5, lambda c: (c[0] * c[1], c[1] + 1), (x, 3))[0]
    assert out.dtype == np.float32
    close(out, x * 12)
    (c, n), _ = ft.scan(lambda c, _: ((c[0] * (c[1] + 1), c[1]), None), (x, 2), None, length=2)
    assert c.dtype == np.float32
    close(c, x * 9)


def test_fori_loop_bounds_follow_jax():
    # JAX 0.10: bounds of one float type are accepted, concrete ones truncated by int()
    # (0.5..3.7 runs i = 0, 1, 2), traced ones stepping a float; mixed kinds are an error
    body = lambda i, c: c + i  # noqa: E731
    assert float(ft.fori_loop(0.0, 3.0, body, 0.0)) == 3.0
    assert float(ft.fori_loop(np.float32(0.5), np.float32(3.7), body, 0.0)) == 3.0
    traced = ft.jit(lambda a, b: ft.fori_loop(a, b, body, 0.0))
    assert float(traced(np.float32(0.5), np.float32(3.7))) == 8.0    # 0.5 + 1.5 + 2.5 + 3.5
    assert float(ft.grad(lambda x: ft.fori_loop(0.0, 3.0, lambda i, c: c * x, 1.0))(2.0)) \
        == 12.0
    for lo, hi in ((0, 2.5), (0.0, 3), (np.float32(0), 3), (True, 3)):
        with pytest.raises(TypeError, match="fori_loop: lower and upper must"):
            ft.fori_loop(lo, hi, body, 0.0)
    assert float(ft.fori_loop(np.int32(0), ft.tensor(3), body, 0.0)) == 3.0
