"""Control flow: cond/switch/scan/fori_loop/while_loop values vs Python loops, their
derivatives vs central finite differences of numpy code (float64), batching vs Python
loops over the batch, jit, and the errors for misuse."""

from __future__ import annotations

import functools

import helpers
import numpy as np
import pytest

import funtorch as ft


def rng(seed=0):
    return np.random.default_rng(seed)


close = functools.partial(helpers.close, rtol=1e-9, atol=1e-12)
tree_close = functools.partial(helpers.tree_close, rtol=1e-9, atol=1e-12)
fd_grad = helpers.fd_grad


FD = dict(rtol=1e-6, atol=1e-8)   # tolerance against central differences


# --------------------------------------------------------------------------- cond / switch values

@pytest.mark.parametrize("pred", [True, False, np.bool_(True), np.array(False), 1, 0, 2.5, 0.0])
def test_cond_values_with_various_predicates(pred):
    x = np.array([1.0, -2.0])
    out = ft.cond(pred, lambda v: v * 3.0, lambda v: ft.sin(v), x)
    close(out, x * 3 if pred else np.sin(x))


def test_cond_pytree_and_multiple_operands():
    a, b = {"u": np.array([1.0, 2.0])}, (np.float64(3.0), np.array([4.0]))

    def t(a, b):
        return {"r": a["u"] * b[0]}, b[1] + 1.0

    def f(a, b):
        return {"r": a["u"] - b[0]}, b[1] * 2.0

    tree_close(ft.cond(True, t, f, a, b), ({"r": np.array([3.0, 6.0])}, np.array([5.0])))
    tree_close(ft.cond(False, t, f, a, b), ({"r": np.array([-2.0, -1.0])}, np.array([8.0])))


def test_cond_without_operands_and_closing_over_values():
    c = np.array([1.0, 2.0])
    close(ft.cond(True, lambda: c * 2.0, lambda: c * 0.0), c * 2)
    close(ft.cond(False, lambda: c * 2.0, lambda: c * 0.0), c * 0)


@pytest.mark.parametrize("index,expect", [(0, 0), (1, 1), (2, 2), (-3, 0), (7, 2)])
def test_switch_values_and_index_clamping(index, expect):
    x = np.float64(1.5)
    branches = [lambda v: v + 1.0, lambda v: v * 10.0, lambda v: ft.exp(v)]
    ref = [x + 1.0, x * 10.0, np.exp(x)][expect]
    close(ft.switch(index, branches, x), ref)
    close(ft.jit(lambda i, v: ft.switch(i, branches, v))(np.int32(index), x), ref)


def test_cond_and_switch_under_jit_with_traced_predicate():
    f = ft.jit(lambda x: ft.cond(ft.sum(x) > 0, lambda v: v * 2.0, lambda v: -v, x))
    close(f(np.array([1.0, 2.0])), [2.0, 4.0])
    close(f(np.array([-1.0, -2.0])), [1.0, 2.0])
    assert f.cache_size == 1


# --------------------------------------------------------------------------- scan values

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


# --------------------------------------------------------------------------- loops values

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


# --------------------------------------------------------------------------- grad through scan

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


# --------------------------------------------------------------------------- grad through cond

def _cond_f(x, w):
    return ft.cond(ft.sum(x) > 0,
                   lambda x: ft.sum(ft.sin(x * w)),
                   lambda x: ft.sum(x * x * w) + 1.0, x)


def _cond_np(x, w):
    return np.sum(np.sin(x * w)) if np.sum(x) > 0 else np.sum(x * x * w) + 1.0


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_grad_cond_both_branches_wrt_operand_and_closure(sign):
    x = sign * np.array([0.5, 1.0, 0.25])
    w = np.array([1.5, -0.5, 2.0])
    gx, gw = ft.grad(_cond_f, argnums=(0, 1))(x, w)
    close(gx, fd_grad(lambda x: _cond_np(x, w), x), **FD)
    close(gw, fd_grad(lambda w: _cond_np(x, w), w), **FD)
    gx2 = ft.jit(ft.grad(_cond_f))(x, w)
    close(gx2, gx)


def test_grad_switch_and_cond_inside_scan():
    xs = np.array([0.5, -1.0, 2.0, -0.1])

    def f(w):
        def body(c, x):
            c = ft.cond(x > 0, lambda c: c * w, lambda c: ft.sin(c) + w, c)
            c = ft.switch((x > 1.0).astype(ft.int32), [lambda c: c, lambda c: c * c], c)
            return c, c
        c, ys = ft.scan(body, np.float64(0.3), xs)
        return c + ft.sum(ys)

    def f_np(w):
        c, acc = 0.3, 0.0
        for x in xs:
            c = c * w if x > 0 else np.sin(c) + w
            c = c * c if x > 1.0 else c
            acc += c
        return c + acc

    close(ft.grad(f)(np.float64(0.7)), fd_grad(f_np, 0.7), **FD)


def test_grad_cond_branch_with_integer_output():
    def f(x):
        y, k = ft.cond(x > 0, lambda x: (x * 3.0, np.int32(1)), lambda x: (-x, np.int32(2)), x)
        return y * k

    close(ft.grad(f)(np.float64(2.0)), 3.0)
    close(ft.grad(f)(np.float64(-2.0)), -2.0)


# ----------------------------------------------------------------------- fori / while derivatives

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


# --------------------------------------------------------------------------- vmap of control flow

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


def test_vmap_cond_unbatched_predicate_batched_operand():
    X = rng(11).normal(size=(3, 2))
    out = ft.vmap(lambda x, p: ft.cond(p, lambda x: x * 2.0, lambda x: -x, x),
                  in_axes=(0, None))(X, True)
    close(out, X * 2)


def test_vmap_cond_batched_predicate_with_pytree_and_grad():
    X = np.array([[1.0, 2.0], [-1.0, 0.5], [3.0, -4.0]])

    def f(x):
        return ft.cond(ft.sum(x) > 0, lambda x: ft.sum(x ** 3), lambda x: ft.sum(ft.sin(x)), x)

    g = ft.vmap(ft.grad(f))(X)
    expect = np.where((X.sum(1) > 0)[:, None], 3 * X ** 2, np.cos(X))
    close(g, expect)
    close(ft.jit(ft.vmap(ft.grad(f)))(X), expect)


def test_vmap_switch_batched_index():
    idx = np.array([0, 2, 1, 5, -1])
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    br = [lambda v: v + 100.0, lambda v: v * 10.0, lambda v: -v]
    out = ft.vmap(lambda i, v: ft.switch(i, br, v))(idx, x)
    ref = [[x_ + 100, x_ * 10, -x_][min(max(i, 0), 2)] for i, x_ in zip(idx, x, strict=True)]
    close(out, ref)


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


# --------------------------------------------------------------------------- jit of all

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


def test_cond_branch_mismatch_raises_naming_types():
    with pytest.raises(TypeError) as ei:
        ft.cond(True, lambda x: x, lambda x: x.astype(ft.float32), np.ones(2))
    msg = str(ei.value)
    assert "f64[2]" in msg and "f32[2]" in msg, msg
    with pytest.raises(TypeError):
        ft.cond(True, lambda x: x, lambda x: ft.sum(x), np.ones(2))
    with pytest.raises(TypeError):
        ft.cond(True, lambda x: (x, x), lambda x: x, np.ones(2))
    with pytest.raises(TypeError, match="scalar"):
        ft.cond(np.array([True, False]), lambda x: x, lambda x: x, np.ones(2))
    with pytest.raises(TypeError):
        ft.switch(0, [lambda x: x, lambda x: x * np.ones((3, 2))], np.ones(2))


def test_while_loop_errors():
    with pytest.raises(TypeError, match="boolean"):
        ft.while_loop(lambda v: v, lambda v: v, np.float64(1.0))
    with pytest.raises(TypeError) as ei:
        ft.while_loop(lambda v: v < 1.0, lambda v: v.astype(ft.float32), np.float64(0.0))
    assert "f64[]" in str(ei.value) and "f32[]" in str(ei.value)


# ---------------------------------------------------------------------- weak-typed Python scalars

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


def test_python_scalar_branch_output_takes_the_other_branch_dtype():
    out = ft.cond(False, lambda v: v, lambda v: 0.1, np.float64(2.0))
    assert np.asarray(out).dtype == np.float64 and float(out) == 0.1
    g = ft.grad(lambda y: ft.cond(y > 1, lambda v: v * v, lambda v: 0.0, y))
    close(g(np.float64(2.0)), 4.0)
    close(g(np.float64(0.5)), 0.0)
    out = ft.switch(2, [lambda: 1, lambda: np.int32(5), lambda: 2])
    assert np.asarray(out).dtype == np.int32 and int(out) == 2
