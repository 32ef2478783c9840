"""scan: values vs Python loops, derivatives (forward, reverse, second order) vs central
finite differences of numpy code (float64), batching, jit retracing, and misuse errors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import FD, fd_grad, rng
from helpers import close64 as close

import funtorch as ft

# --------------------------------------------------------------------------- values

def _scan_np(f, init, xs, reverse=False):
    carry, ys = init, []
    idx = range(len(xs) - 1, -1, -1) if reverse else range(len(xs))
    for i in idx:
        carry, y = f(carry, xs[i])
        ys.append(y)
    if reverse:
        ys.reverse()
    return carry, np.stack(ys)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_values_vs_python_loop(reverse):
    xs = rng(1).normal(size=(5, 3))
    init = np.array([0.1, 0.2, 0.3])
    carry, ys = ft.scan(lambda c, x: (ft.sin(c) + x, c * x), init, xs, reverse=reverse)
    c_np, ys_np = _scan_np(lambda c, x: (np.sin(c) + x, c * x), init, xs, reverse)
    close(carry, c_np)
    close(ys, ys_np)


def test_scan_pytree_carry_and_ys():
    xs = {"a": rng(2).normal(size=(4, 2)), "b": rng(3).normal(size=4)}
    init = (np.zeros(2), np.float64(1.0))

    def f(c, x):
        s, p = c
        return (s + x["a"], p * x["b"]), {"s": s, "pb": [p, x["b"] * 2.0]}

    (s, p), ys = ft.scan(f, init, xs)
    close(s, xs["a"].sum(0))
    close(p, np.prod(xs["b"]))
    close(ys["s"], np.concatenate([np.zeros((1, 2)), np.cumsum(xs["a"], 0)[:-1]]))
    close(ys["pb"][0], np.concatenate([[1.0], np.cumprod(xs["b"])[:-1]]))
    close(ys["pb"][1], xs["b"] * 2)


def test_scan_with_length_and_no_xs_and_none_ys():
    carry, ys = ft.scan(lambda c, _: (c * 2.0, None), np.float64(1.0), None, length=6)
    close(carry, 64.0)
    assert ys is None
    carry, ys = ft.scan(lambda c, _: (c + 1, c), np.int64(0), length=4)
    np.testing.assert_array_equal(np.asarray(ys), [0, 1, 2, 3])
    assert np.asarray(carry).dtype == np.int64


def test_scan_length_zero_returns_init_and_empty_ys():
    carry, ys = ft.scan(lambda c, x: (c + x, c * x), np.float64(3.0), np.zeros((0,)))
    close(carry, 3.0)
    assert np.asarray(ys).shape == (0,)


# --------------------------------------------------------------------------- derivatives

def _rnn_ft(w, h0, xs, reverse=False):
    def body(h, x):
        h = ft.tanh(w * h + x)
        return h, h * h
    h, ys = ft.scan(body, h0, xs, reverse=reverse)
    return ft.sum(h) + ft.sum(ys * ys)


def _rnn_np(w, h0, xs, reverse=False):
    h, ys = h0, []
    for x in (xs[::-1] if reverse else xs):
        h = np.tanh(w * h + x)
        ys.append(h * h)
    return np.sum(h) + np.sum(np.stack(ys) ** 2)


@pytest.mark.parametrize("reverse", [False, True])
def test_grad_scan_wrt_const_init_and_xs(reverse):
    r = rng(4)
    w, h0, xs = r.normal(size=3), r.normal(size=3), r.normal(size=(4, 3))
    gw, gh, gx = ft.grad(_rnn_ft, argnums=(0, 1, 2))(w, h0, xs, reverse)
    close(gw, fd_grad(lambda w: _rnn_np(w, h0, xs, reverse), w), **FD)
    close(gh, fd_grad(lambda h: _rnn_np(w, h, xs, reverse), h0), **FD)
    close(gx, fd_grad(lambda x: _rnn_np(w, h0, x, reverse), xs), **FD)


def test_grad_scan_pytree_carry_and_ys():
    r = rng(5)
    params = {"a": r.normal(size=2), "b": np.float64(0.3)}
    xs = (r.normal(size=(5, 2)), r.normal(size=5))

    def f(params):
        def body(c, x):
            u, v = c["u"], c["v"]
            xa, xb = x
            u2 = ft.sin(u * params["a"]) + xa
            v2 = v * params["b"] + ft.sum(u2) * xb
            return {"u": u2, "v": v2}, (u2 * v2, {"z": v2 ** 2})
        c, (y1, y2) = ft.scan(body, {"u": np.ones(2), "v": np.float64(0.5)}, xs)
        return ft.sum(c["u"]) + c["v"] + ft.sum(y1) + ft.sum(y2["z"])

    def f_np(a, b):
        u, v, acc = np.ones(2), 0.5, 0.0
        for xa, xb in zip(*xs, strict=True):
            u = np.sin(u * a) + xa
            v = v * b + np.sum(u) * xb
            acc += np.sum(u * v) + v ** 2
        return np.sum(u) + v + acc

    g = ft.grad(f)(params)
    close(g["a"], fd_grad(lambda a: f_np(a, params["b"]), params["a"]), **FD)
    close(g["b"], fd_grad(lambda b: f_np(params["a"], b), params["b"]), **FD)


def test_grad_scan_only_through_ys_and_int_carry():
    xs = np.array([0.5, 1.5, -0.5])

    def f(w):
        def body(c, x):
            i, s = c
            return (i + 1, s + w * x * i), ft.sin(w * x)
        (_, s), ys = ft.scan(body, (np.int64(0), np.float64(0.0)), xs)
        return s + ft.sum(ys)

    def f_np(w):
        return sum(w * x * i for i, x in enumerate(xs)) + np.sum(np.sin(w * xs))

    close(ft.grad(f)(np.float64(0.8)), fd_grad(f_np, 0.8), **FD)


def test_second_order_through_scan():
    xs = np.array([0.3, 0.7, 1.1])

    def f(w):
        return ft.scan(lambda c, x: (ft.sin(c * w + x), None), np.float64(0.2), xs)[0]

    def f_np(w):
        c = 0.2
        for x in xs:
            c = np.sin(c * w + x)
        return c

    w0, h = 0.9, 1e-4
    d2 = (f_np(w0 + h) - 2 * f_np(w0) + f_np(w0 - h)) / h ** 2
    close(ft.grad(ft.grad(f))(np.float64(w0)), d2, rtol=1e-5)
    close(ft.jvp(ft.grad(f), (np.float64(w0),), (np.float64(1.0),))[1], d2, rtol=1e-5)


def test_jvp_and_vjp_of_scan_agree_with_fd_and_each_other():
    r = rng(6)
    w, h0, xs = r.normal(size=3), r.normal(size=3), r.normal(size=(4, 3))
    t = r.normal(size=3)
    _, tout = ft.jvp(lambda w: _rnn_ft(w, h0, xs), (w,), (t,))
    fd = (_rnn_np(w + 1e-6 * t, h0, xs) - _rnn_np(w - 1e-6 * t, h0, xs)) / 2e-6
    close(tout, fd, **FD)


def test_jit_of_grad_of_scan():
    r = rng(7)
    w, h0, xs = r.normal(size=3), r.normal(size=3), r.normal(size=(4, 3))
    g = ft.jit(ft.grad(_rnn_ft))(w, h0, xs)
    close(g, fd_grad(lambda w: _rnn_np(w, h0, xs), w), **FD)
    g = ft.grad(ft.jit(_rnn_ft))(w, h0, xs)
    close(g, fd_grad(lambda w: _rnn_np(w, h0, xs), w), **FD)


# --------------------------------------------------------------------------- vmap, jit

def test_vmap_scan_batched_xs_only():
    xs = rng(8).normal(size=(3, 5))   # batch of 3 sequences of length 5
    f = lambda xs: ft.scan(lambda c, x: (c * 0.5 + x, c), np.float64(1.0), xs)  # noqa: E731
    carry, ys = ft.vmap(f)(xs)
    for b in range(3):
        c_np, ys_np = _scan_np(lambda c, x: (c * 0.5 + x, c), 1.0, xs[b])
        close(carry[b], c_np)
        close(ys[b], ys_np)
    # batch along axis 1 of xs
    carry2, _ = ft.vmap(f, in_axes=1)(xs.T)
    close(carry2, carry)


def test_vmap_scan_batched_consts_only():
    xs = np.array([1.0, 2.0, 3.0])
    ws = np.array([0.5, 1.0, -2.0, 3.0])
    f = lambda w: ft.scan(lambda c, x: (c * w + x, c * w), np.float64(0.0), xs)  # noqa: E731
    carry, ys = ft.vmap(f)(ws)
    for b, w in enumerate(ws):
        c_np, ys_np = _scan_np(lambda c, x, w=w: (c * w + x, c * w), 0.0, xs)
        close(carry[b], c_np)
        close(ys[b], ys_np)


def test_vmap_scan_batched_init_only():
    xs = np.array([1.0, 2.0, 3.0])
    inits = np.array([[0.0, 1.0], [2.0, -1.0]])
    carry, ys = ft.vmap(lambda c0: ft.scan(lambda c, x: (ft.sin(c) * x, ft.sum(c)), c0, xs))(inits)
    for b in range(2):
        c_np, ys_np = _scan_np(lambda c, x: (np.sin(c) * x, np.sum(c)), inits[b], xs)
        close(carry[b], c_np)
        close(ys[b], ys_np)


def test_vmap_scan_reverse_with_pytree_and_mixed_batching():
    r = rng(9)
    xs = r.normal(size=(4, 6))       # batched along axis 0 (batch 4, length 6)
    init = {"a": np.float64(0.5)}    # unbatched init

    def f(xs, w):
        def body(c, x):
            a = c["a"] * w + x
            return {"a": a}, {"y": a * x}
        return ft.scan(body, init, xs, reverse=True)

    ws = r.normal(size=4)
    c, ys = ft.vmap(f)(xs, ws)
    for b in range(4):
        c_np, ys_np = _scan_np(lambda c, x, w=ws[b]: (c * w + x, (c * w + x) * x), 0.5, xs[b],
                               reverse=True)
        close(c["a"][b], c_np)
        close(ys["y"][b], ys_np)


def test_vmap_of_grad_of_scan_per_example():
    r = rng(10)
    W, h0, xs = r.normal(size=(3, 2)), r.normal(size=2), r.normal(size=(4, 2))
    g = ft.vmap(ft.grad(_rnn_ft), in_axes=(0, None, None))(W, h0, xs)
    for b in range(3):
        close(g[b], fd_grad(lambda w: _rnn_np(w, h0, xs), W[b]), **FD)
    g2 = ft.jit(ft.vmap(ft.grad(_rnn_ft), in_axes=(None, None, 0)))(W[0], h0, np.stack([xs, -xs]))
    close(g2[1], fd_grad(lambda w: _rnn_np(w, h0, -xs), W[0]), **FD)


def test_jit_scan_retraces_only_on_new_signature():
    n = [0]

    def f(xs):
        n[0] += 1
        return ft.scan(lambda c, x: (c + x, c), 0.0 * xs[0], xs)[0]

    jf = ft.jit(f)
    close(jf(np.arange(4.0)), 6.0)
    close(jf(np.arange(4.0) + 1), 10.0)
    assert n[0] == 1
    close(jf(np.arange(5.0)), 10.0)
    assert n[0] == 2


# --------------------------------------------------------------------------- errors

def test_scan_carry_type_mismatch_names_both_types():
    with pytest.raises(TypeError) as ei:
        ft.scan(lambda c, x: (c.astype(ft.float32) + x.astype(ft.float32), x),
                np.float64(0.0), np.ones(3))
    msg = str(ei.value)
    assert "f64[]" in msg and "f32[]" in msg, msg
    with pytest.raises(TypeError) as ei:
        ft.scan(lambda c, x: (ft.stack([c, c]), x), np.float64(0.0), np.ones(3))
    msg = str(ei.value)
    assert "f64[]" in msg and "f64[2]" in msg, msg


def test_scan_carry_structure_mismatch_raises():
    with pytest.raises(TypeError, match="carry"):
        ft.scan(lambda c, x: ((c, c), x), np.float64(0.0), np.ones(3))
    with pytest.raises(TypeError, match="pair"):
        ft.scan(lambda c, x: c + x, np.float64(0.0), np.ones(3))


def test_scan_length_errors():
    with pytest.raises(ValueError, match="length"):
        ft.scan(lambda c, x: (c, x), 0.0, (np.ones(3), np.ones(4)))
    with pytest.raises(ValueError, match="length"):
        ft.scan(lambda c, x: (c, x), 0.0, np.ones(3), length=5)
    with pytest.raises(ValueError):
        ft.scan(lambda c, x: (c, x), 0.0, None)
