"""Loops that compile: on the CPU backend ``scan``, ``fori_loop``, ``while_loop`` and
``cond`` inside ``jit`` become a loop (or branch) in the generated driver around the
body's compiled driver. Values, gradients (the reverse pass is a scan too), vmap, nesting,
edge cases against eager; no eager impl runs per iteration; the inspection API shows the
loop."""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers import rng

import funtorch as ft
from funtorch.core import trace

pytestmark = pytest.mark.skipif(
    os.environ.get("FUNTORCH_CPU_BACKEND") == "interpret",
    reason="the interpreted CPU backend compiles nothing")


def close(a, b, tol=1e-5):
    for x, y in zip(ft.tree.leaves(a), ft.tree.leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape and x.dtype == y.dtype, (x.shape, x.dtype, y.shape, y.dtype)
        np.testing.assert_allclose(x, y, rtol=tol, atol=tol)


@pytest.fixture
def impl_calls(monkeypatch):
    """Counts eager impl calls (the per-equation dispatch a compiled loop avoids). Views
    are left out: the driver makes a library call's strided operand (``w.T`` for a GEMM)
    with the view's impl, a numpy view, no computation."""
    calls = []
    for prim, impl in list(trace.impl_rules.items()):
        if prim.kind == "view":
            continue
        def counted(*a, _impl=impl, _name=prim.name, **k):
            calls.append(_name)
            return _impl(*a, **k)
        monkeypatch.setitem(trace.impl_rules, prim, counted)
    return calls


def _cell(c, x):
    h, n = c
    h = ft.tanh(h * 0.5 + x @ np.full((3, 4), 0.1, np.float32))
    return (h, n + 1), h.sum()


def _scan_fn(reverse=False):
    return lambda c, xs: ft.scan(_cell, c, xs, reverse=reverse)


ARGS = ((ft.zeros(4), ft.asarray(np.int32(0))),
        ft.asarray(rng(0).normal(size=(6, 3)).astype(np.float32)))


@pytest.mark.parametrize("reverse", [False, True])
def test_jit_scan_matches_eager_and_dispatches_nothing(reverse, impl_calls):
    f = _scan_fn(reverse)
    want = f(*ARGS)
    jf = ft.jit(f)
    close(jf(*ARGS), want)
    impl_calls.clear()
    close(jf(*ARGS), want)
    assert impl_calls == []


def test_jit_grad_of_scan_the_reverse_loop_compiles(impl_calls):
    def loss(h0, xs):
        (h, _), ys = ft.scan(_cell, (h0, ft.asarray(np.int32(0))), xs)
        return (h ** 2).sum() + ys.sum()
    g = ft.grad(loss, argnums=(0, 1))
    want = g(*[ARGS[0][0], ARGS[1]])
    jg = ft.jit(g)
    close(jg(ARGS[0][0], ARGS[1]), want)
    impl_calls.clear()
    close(jg(ARGS[0][0], ARGS[1]), want)
    assert impl_calls == []
    plan = jg.lower(ARGS[0][0], ARGS[1]).compile().plan_text()
    assert "compiled loop: scan of length 6 (reversed)" in plan   # the transpose


def test_jit_vmap_of_scan():
    xs = ft.asarray(rng(1).normal(size=(2, 6, 3)).astype(np.float32))
    c = (ft.zeros((2, 4)), ft.zeros(2, dtype=np.int32))
    f = ft.vmap(_scan_fn())
    close(ft.jit(f)(c, xs), f(c, xs))


def test_nested_loops_and_cond(impl_calls):
    def f(x):
        def outer(c, row):
            c = ft.fori_loop(0, 3, lambda i, a: a * 0.5 + row, c)
            c = ft.while_loop(lambda a: a.sum() < 10.0, lambda a: a + 1.0, c)
            c = ft.cond(c.sum() > 12.0, lambda a: a - 1.0, lambda a: a * 2.0, c)
            return c, c.max()
        return ft.scan(outer, ft.zeros(3), x)
    x = ft.asarray(rng(2).normal(size=(5, 3)).astype(np.float32))
    jf = ft.jit(f)
    close(jf(x), f(x))
    impl_calls.clear()
    jf(x)
    assert impl_calls == []
    plan = jf.lower(x).compile().plan_text()
    for label in ("scan of length 5", "scan of length 3", "while_loop", "compiled cond"):
        assert label in plan, plan


def test_zero_length_scan_and_length_without_xs():
    f = ft.jit(lambda c, xs: ft.scan(lambda c, x: (c + x, c * 2), c, xs))
    c, ys = f(ft.ones(3), ft.zeros((0, 3)))
    close(c, ft.ones(3))
    assert ys.shape == (0, 3)
    g = ft.jit(lambda c: ft.scan(lambda c, _: (c * 2, None), c, None, length=4)[0])
    close(g(ft.ones(2)), ft.full((2,), 16.0))


def test_scan_carries_of_several_dtypes_pytrees_and_unroll():
    def step(c, x):
        return ({"f": c["f"] + x, "i": c["i"] * 2, "d": c["d"] - 1,
                 "b": ft.logical_not(c["b"])}, (x * 2, c["i"]))
    c0 = {"f": ft.zeros(2), "i": ft.ones(2, dtype=np.int32),
          "d": ft.asarray(np.float64(3.0)), "b": ft.asarray(True)}
    xs = ft.asarray(rng(3).normal(size=(5, 2)).astype(np.float32))
    for unroll in (1, 2):
        f = lambda c, xs, u=unroll: ft.scan(step, c, xs, unroll=u)   # noqa: E731
        close(ft.jit(f)(c0, xs), f(c0, xs))


def test_scan_over_scalars_and_scalar_ys():
    f = lambda c, xs: ft.scan(lambda c, x: (c * x, c + x), c, xs)   # noqa: E731
    xs = ft.arange(1.0, 6.0)
    close(ft.jit(f)(ft.asarray(np.float32(1.0)), xs), f(ft.asarray(np.float32(1.0)), xs))


def test_fori_and_while_loops():
    f = lambda x: ft.fori_loop(0, 7, lambda i, c: c * 0.9 + i, x)   # noqa: E731
    close(ft.jit(f)(ft.ones(3)), f(ft.ones(3)))
    g = lambda x, n: ft.fori_loop(0, n, lambda i, c: c + i, x)   # noqa: E731 (while_loop)
    n = ft.asarray(np.int32(5))
    close(ft.jit(g)(ft.ones(3), n), g(ft.ones(3), n))
    h = lambda x: ft.while_loop(lambda c: c[1] < 6, lambda c: (c[0] * 1.5, c[1] + 1),  # noqa
                                (x, ft.asarray(np.int32(0))))
    close(ft.jit(h)(ft.ones(2)), h(ft.ones(2)))
    assert "while_loop" in ft.jit(h).lower(ft.ones(2)).compile().plan_text()


def test_donated_carry():
    f = ft.jit(lambda c, xs: ft.scan(lambda c, x: (c + x, None), c, xs)[0], donate_argnums=0)
    xs = ft.asarray(rng(4).normal(size=(4, 3)).astype(np.float32))
    close(f(ft.zeros(3), xs), xs.sum(0), 1e-5)
    close(f(ft.zeros(3), xs), xs.sum(0), 1e-5)


def test_body_with_an_eager_impl_still_compiles_the_loop():
    # sort has no compiled CPU lowering: it runs its impl inside the body's driver
    f = lambda c, xs: ft.scan(lambda c, x: (ft.sort(c + x), c[0]), c, xs)   # noqa: E731
    xs = ft.asarray(rng(5).normal(size=(4, 3)).astype(np.float32))
    close(ft.jit(f)(ft.zeros(3), xs), f(ft.zeros(3), xs))


def test_inspection_shows_the_loop():
    lowered = ft.jit(_scan_fn()).lower(*ARGS)
    assert "scan[" in lowered.as_text()
    compiled = lowered.compile()
    src = compiled.source()
    assert "for t" in src and "in range(6):" in src and "# scan body" in src
    assert "compiled loop: scan of length 6" in compiled.plan_text()
    assert "scan[" in str(ft.make_graph(_scan_fn())(*ARGS))


def test_loop_invariants_are_computed_once_before_the_loop(impl_calls):
    w = ft.asarray(rng(6).normal(size=(4, 4)).astype(np.float32))

    def f(w, c, xs):
        def step(c, x):
            m = ft.tanh(w * 0.5) @ w.T            # depends on the constant w only
            c = ft.tanh(c @ m + x)
            return c, (c.sum(), m.sum())
        return ft.scan(step, c, xs)

    args = (w, ft.zeros(4), ft.asarray(rng(7).normal(size=(5, 4)).astype(np.float32)))
    jf = ft.jit(f)
    close(jf(*args), f(*args))
    g = ft.grad(lambda *a: f(*a)[1][0].sum(), argnums=(0, 1, 2))
    close(ft.jit(g)(*args), g(*args), 1e-4)
    plan = jf.lower(*args).compile().plan_text()
    inv, body = plan.split("invariants:")[1].split("body:")
    assert "mul, tanh" in inv and "GEMM" in inv, plan   # hoisted
    assert "tanh" in body and body.count("GEMM") == 1, plan
    impl_calls.clear()
    jf(*args)
    assert impl_calls == []
