"""cond/switch: values for every kind of predicate and index, derivatives vs central
finite differences of numpy code (float64), batched predicates, and misuse errors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import FD, fd_grad, rng
from helpers import close64 as close
from helpers import tree_close64 as tree_close

import funtorch as ft

# --------------------------------------------------------------------------- values

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


# --------------------------------------------------------------------------- derivatives

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


# --------------------------------------------------------------------------- vmap

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


# ---------------------------------------------------------------- errors, weak-typed Python scalars

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


def test_python_scalar_branch_output_takes_the_other_branch_dtype():
    out = ft.cond(False, lambda v: v, lambda v: 0.1, np.float64(2.0))
    assert np.asarray(out).dtype == np.float64 and float(out) == 0.1
    g = ft.grad(lambda y: ft.cond(y > 1, lambda v: v * v, lambda v: 0.0, y))
    close(g(np.float64(2.0)), 4.0)
    close(g(np.float64(0.5)), 0.0)
    out = ft.switch(2, [lambda: 1, lambda: np.int32(5), lambda: 2])
    assert np.asarray(out).dtype == np.int32 and int(out) == 2


def test_python_int_operands_stay_weak():
    x = np.array([0.5, -1.0, 2.0], np.float32)
    out = ft.cond(True, lambda x, n: x * (n + 1), lambda x, n: x, x, 3)
    assert out.dtype == np.float32
    close(out, x * 4)
    out = ft.switch(0, [lambda x, n: x * n, lambda x, n: x], x, 3)
    assert out.dtype == np.float32


def test_switch_rejects_a_non_integer_index():
    with pytest.raises(TypeError, match="index must be an integer scalar, got float32"):
        ft.switch(np.float32(1.0), [lambda: 1.0, lambda: 2.0])
    with pytest.raises(TypeError, match="integer scalar"):
        ft.switch(np.array([0, 1]), [lambda: 1.0, lambda: 2.0])
    assert float(ft.jit(lambda i: ft.switch(i, [lambda: 1.0, lambda: 2.0]))(1)) == 2.0
