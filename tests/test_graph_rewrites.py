"""The graph rewrites the backends run (``core.passes.rewrite_rules``): where they fire
the rewritten graph gives the values of the original one (float64; only the order of a sum
changes), jitted gradients match eager ones, and where the pattern does not hold they must
not fire.

- ``lax/control_flow/scan_dots.py``: an accumulated per-step product leaves the loop;
- ``lax/pad_sums.py``: a sum of zero pads side by side is one concatenate.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import rng

import funtorch as ft
from funtorch.core import passes
from funtorch.core.graph import eval_graph
from funtorch.lax.control_flow import hoist_accumulated_dots, scan_p
from funtorch.lax.shape import concatenate_p, pad_p


def _scans(graph):
    return [e for e in graph.eqns if e.prim is scan_p]


def _check(f, *args, fires):
    """Each scan of ``f``'s graph: whether the rule fires; the rewritten graph's values."""
    cg = ft.make_graph(f)(*args)
    fired = [hoist_accumulated_dots(e) is not None for e in _scans(cg.graph)]
    assert fired == fires
    return _same_values(cg, args)


def _same_values(cg, args):
    new = passes.dce(passes.rewrite(cg.graph))
    flat = [np.asarray(a) for a in ft.tree.leaves(args)]
    want = eval_graph(cg.graph, [*cg.consts, *flat])
    got = eval_graph(new, [*cg.consts, *flat])
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, atol=1e-12)
    return new


def _rnn_loss(W, xs, reverse=False):
    def step(h, x):
        h2 = ft.tanh(x + h @ W)[:, :4]
        return h2, h2
    _, ys = ft.scan(step, ft.zeros((3, 4), xs.dtype), xs, reverse=reverse)
    return ft.sum(ys * ys)


@pytest.mark.parametrize("reverse", [False, True])
def test_rnn_weight_gradient_leaves_the_loop(reverse):
    W, xs = rng(0).normal(size=(4, 6)) * 0.5, rng(1).normal(size=(7, 3, 6))
    g = ft.grad(lambda W, xs: _rnn_loss(W, xs, reverse))
    new = _check(g, W, xs, fires=[False, True])
    # the reverse scan no longer carries dW: one product of the stacked operands follows it
    back = _scans(new)[-1]
    assert back.params["num_carry"] == 1
    assert any(e.prim.name == "dot_general" and e.inputs[0].aval.ndim == 3
               for e in new.eqns)
    eager = g(W, xs)
    np.testing.assert_allclose(np.asarray(ft.jit(g)(W, xs)), np.asarray(eager),
                               rtol=1e-10)


def test_bias_gradient_sum_leaves_the_loop_too():
    W, b, xs = rng(8).normal(size=(4, 4)) * 0.5, rng(9).normal(size=4), rng(10).normal(
        size=(6, 3, 4))

    def loss(W, b, xs):
        def step(h, x):
            h = ft.tanh(x + h @ W + b)
            return h, h
        return ft.sum(ft.scan(step, ft.zeros((3, 4), xs.dtype), xs)[1] ** 2)
    g = ft.grad(loss, argnums=(0, 1))
    new = _check(g, W, b, xs, fires=[False, True])
    assert _scans(new)[-1].params["num_carry"] == 1          # dh only: dW and db left
    assert any(e.prim.name == "reduce_sum" and e.inputs[0].aval.ndim == 3 for e in new.eqns)
    for w, j in zip(g(W, b, xs), ft.jit(g)(W, b, xs)):
        np.testing.assert_allclose(np.asarray(j), np.asarray(w), rtol=1e-10)


def test_batched_product_from_xs_and_a_carry():
    """A user's scan summing per-step batched products of a carry and an input."""
    xs = rng(2).normal(size=(5, 2, 3, 4))

    def f(xs):
        def step(c, x):
            h, acc = c
            acc = acc + ft.einsum("bij,bik->bjk", h, x)
            return (ft.sin(h + x[..., :3]), acc), h[0, 0, 0]
        return ft.scan(step, (ft.ones((2, 3, 3), xs.dtype), ft.zeros((2, 3, 4), xs.dtype)), xs)
    _check(f, xs, fires=[True])
    want = f(xs)
    got = ft.jit(f)(xs)
    for w, g in zip(ft.tree.leaves(want), ft.tree.leaves(got)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-10)


def _acc_scan(step, xs, init):
    return lambda W: ft.scan(lambda c, x: step(c, x, W), init, xs)


@pytest.mark.parametrize("case", ["read_in_body", "also_a_y", "invariant_operand",
                                  "not_a_product", "scaled_sum"])
def test_rule_does_not_fire(case):
    xs, W = rng(3).normal(size=(4, 2, 3)), rng(4).normal(size=(3, 3))

    def step(acc, x, W):
        p = x.T @ ft.tanh(x @ W)                  # [3, 3], varies per step
        if case == "read_in_body":
            return acc + p, ft.sum(acc)
        if case == "also_a_y":
            new = acc + p
            return new, new
        if case == "invariant_operand":
            return acc + W @ W.T, ft.sum(x)
        if case == "not_a_product":
            return acc + ft.sin(p), ft.sum(x)
        return acc + 2.0 * p, ft.sum(x)
    _check(_acc_scan(step, xs, ft.zeros((3, 3), xs.dtype)), W, fires=[False])


# --------------------------------------------------------------------------- sums of pads

def _count(graph, prim):
    return sum(e.prim is prim for e in graph.eqns)


@pytest.mark.parametrize("axis", [0, 1])
def test_gate_cotangents_are_one_concatenate(axis):
    x = rng(5).normal(size=(8, 12))

    def f(x):
        i, f_, g, o = ft.split(x, 4, axis=axis)
        return ft.sum(ft.sin(i) * ft.cos(f_) + ft.tanh(g) * o * o)
    cg = ft.make_graph(ft.grad(f))(x)
    assert _count(cg.graph, pad_p) == 4
    new = _same_values(cg, (x,))
    assert _count(new, pad_p) == 0 and _count(new, concatenate_p) == 1
    np.testing.assert_allclose(np.asarray(ft.jit(ft.grad(f))(x)), np.asarray(ft.grad(f)(x)),
                               rtol=1e-12)


@pytest.mark.parametrize("case", ["none", "gap", "read_twice", "two_axes", "overlap",
                                  "nonzero"])
def test_pad_sum_fires_only_side_by_side(case):
    a, b = rng(6).normal(size=(4, 3)), rng(7).normal(size=(4, 3))
    lax = ft.lax
    z = np.zeros((), a.dtype)
    cfg_b = {"gap": ((0, 0, 0), (4, 0, 0)), "two_axes": ((1, 0, 0), (3, 0, 0)),
             "overlap": ((0, 0, 0), (2, 1, 0))}.get(case, ((0, 0, 0), (3, 0, 0)))

    def f(a, b):
        pa = lax.pad(a, np.ones((), a.dtype) if case == "nonzero" else z,
                     ((0, int(case == "two_axes"), 0), (0, 3 + (case == "gap"), 0)))
        pb = lax.pad(b, z, cfg_b)
        return (pa + pb, pa) if case == "read_twice" else (pa + pb,)
    new = _same_values(ft.make_graph(f)(a, b), (a, b))
    assert _count(new, concatenate_p) == (case in ("none", "read_twice"))
    assert _count(new, pad_p) == (2 if case != "none" else 0) - (case == "read_twice")
