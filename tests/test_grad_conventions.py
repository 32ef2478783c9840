"""Gradient conventions at special points (kinks, ties, 0, +-inf, NaN in unselected
branches) and at numerically extreme inputs, eager and under ``ft.jit`` (the compiled CPU
backend), against JAX.

The expected values were computed once with JAX 0.10.2 (float32, CPU) and are hard-coded;
the tests do not import JAX. Comparison: NaN at the same places, infinities of the same
sign, exact zeros where JAX gives exact zeros, finite values within a few ulps. Where JAX's
XLA CPU backend flushes a subnormal gradient to zero (sigmoid'(-100), erf'(10)) the test
asks only for a finite, non-negative value below 1e-30.

nn.functional ops follow PyTorch where PyTorch and JAX disagree (the public API contract); the cases
here are ones where both agree (relu'(0) = 0, max_pool ties go to the first maximum,
cross-entropy / BCE-with-logits gradients at extreme logits).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import funtorch as ft
import funtorch.nn.functional as F

inf, nan = math.inf, math.nan
A = ft.array
TINY = "tiny"  # JAX gives 0 (flushed subnormal); accept any finite value in [0, 1e-30)


def _g(f, argnums=0):
    return lambda *a: ft.grad(f, argnums=argnums)(*a)


def _jg(f, argnums=0):
    return ft.jit(ft.grad(f, argnums=argnums))


def _lse(x):
    return ft.logsumexp(x)


# name -> (builder: grad transform -> gradient, JAX's value)
CASES = {
    # kinks
    "abs(0)": (lambda g: g(ft.abs)(0.0), 1.0),
    "abs(-0.)": (lambda g: g(ft.abs)(-0.0), 1.0),
    "abs(-2)": (lambda g: g(ft.abs)(-2.0), -1.0),
    "relu(0)": (lambda g: g(F.relu)(0.0), 0.0),
    "maximum(x,0)@0": (lambda g: g(lambda x: ft.maximum(x, 0.0))(0.0), 0.5),
    "minimum(x,0)@0": (lambda g: g(lambda x: ft.minimum(x, 0.0))(0.0), 0.5),
    "maximum(x,x)": (lambda g: g(lambda x: ft.maximum(x, x))(1.0), 1.0),
    "maximum tie args": (lambda g: g(lambda x, y: ft.maximum(x, y), (0, 1))(1.0, 1.0),
                         (0.5, 0.5)),
    "minimum tie args": (lambda g: g(lambda x, y: ft.minimum(x, y), (0, 1))(1.0, 1.0),
                         (0.5, 0.5)),
    "clip@lo": (lambda g: g(lambda x: ft.clip(x, 0.0, 1.0))(0.0), 0.5),
    "clip@hi": (lambda g: g(lambda x: ft.clip(x, 0.0, 1.0))(1.0), 0.5),
    "sign(0)": (lambda g: g(ft.sign)(0.0), 0.0),
    "floor(0)": (lambda g: g(ft.floor)(0.0), 0.0),
    "round(.5)": (lambda g: g(ft.round)(0.5), 0.0),
    # reductions / sort / gathers with ties
    "max ties": (lambda g: g(lambda x: ft.max(x))(A([1.0, 3.0, 3.0, 2.0])),
                 [0.0, 0.5, 0.5, 0.0]),
    "min ties": (lambda g: g(lambda x: ft.min(x))(A([1.0, 1.0, 3.0, 2.0])),
                 [0.5, 0.5, 0.0, 0.0]),
    "amax axis ties": (lambda g: g(lambda x: ft.amax(x, axis=1).sum())(
        A([[1.0, 1.0], [2.0, 0.0]])), [[0.5, 0.5], [1.0, 0.0]]),
    "sort ties": (lambda g: g(lambda x: (ft.sort(x) * A([1.0, 2.0, 3.0])).sum())(
        A([2.0, 1.0, 2.0])), [2.0, 1.0, 3.0]),
    "argmax gather": (lambda g: g(lambda x: x[ft.argmax(x)])(A([1.0, 3.0, 3.0])),
                      [0.0, 1.0, 0.0]),
    "norm(ord=inf) ties": (lambda g: g(lambda x: ft.linalg.norm(x, inf))(
        A([1.0, -1.0, 0.5])), [0.5, -0.5, 0.0]),
    # the where/NaN trap: the unselected branch's NaN/inf cotangent still leaks (JAX)
    "where(x>0,sqrt,0)@-1": (lambda g: g(lambda x: ft.where(x > 0, ft.sqrt(x), 0.0))(-1.0),
                             nan),
    "where(x>0,log,0)@0": (lambda g: g(lambda x: ft.where(x > 0, ft.log(x), 0.0))(0.0), nan),
    # singular points
    "sqrt(0)": (lambda g: g(ft.sqrt)(0.0), inf),
    "log(0)": (lambda g: g(ft.log)(0.0), inf),
    "x**0.5@0": (lambda g: g(lambda x: x ** 0.5)(0.0), inf),
    "pow(0,0)": (lambda g: g(lambda x, y: ft.power(x, y), (0, 1))(0.0, 0.0), (nan, 0.0)),
    "pow(0,2)": (lambda g: g(lambda x, y: ft.power(x, y), (0, 1))(0.0, 2.0), (0.0, 0.0)),
    "x**2@0": (lambda g: g(lambda x: x ** 2)(0.0), 0.0),
    "x**-2@0": (lambda g: g(lambda x: x ** -2)(0.0), -inf),
    "x**-1@0": (lambda g: g(lambda x: x ** -1)(0.0), -inf),
    "log1p(-1)": (lambda g: g(ft.log1p)(-1.0), inf),
    "expm1(100)": (lambda g: g(ft.expm1)(100.0), inf),
    "expm1(1000)": (lambda g: g(ft.expm1)(1000.0), inf),
    "atan2(0,0)": (lambda g: g(lambda y, x: ft.arctan2(y, x), (0, 1))(0.0, 0.0), (nan, nan)),
    "norm(0)": (lambda g: g(lambda x: ft.linalg.norm(x))(A([0.0, 0.0])), [nan, nan]),
    "norm(ord=1)@0": (lambda g: g(lambda x: ft.linalg.norm(x, 1))(A([0.0, 0.0])),
                      [1.0, 1.0]),
    "std(const)": (lambda g: g(lambda x: ft.std(x))(A([2.0, 2.0, 2.0])), [nan, nan, nan]),
    "var(const)": (lambda g: g(lambda x: ft.var(x))(A([2.0, 2.0, 2.0])), [0.0, 0.0, 0.0]),
    "cumsum": (lambda g: g(lambda x: (ft.cumsum(x) * A([1.0, 2.0, 3.0])).sum())(
        A([1.0, 2.0, 3.0])), [6.0, 5.0, 3.0]),
    "prod one zero": (lambda g: g(lambda x: ft.prod(x))(A([2.0, 0.0, 3.0])), [0.0, 6.0, 0.0]),
    "prod two zeros": (lambda g: g(lambda x: ft.prod(x))(A([0.0, 0.0, 3.0])), [0.0, 0.0, 0.0]),
    "exp(inf)": (lambda g: g(ft.exp)(inf), inf),
    "x*log(x)@0": (lambda g: g(lambda x: x * ft.log(x))(0.0), nan),
    # -inf masks
    "logsumexp -inf entry": (lambda g: g(_lse)(A([0.0, -inf, 1.0])),
                             [0.2689414322376251, 0.0, 0.7310585975646973]),
    "logsumexp all -inf": (lambda g: g(_lse)(A([-inf, -inf])), [nan, nan]),
    "softmax -inf mask": (lambda g: g(lambda x: (F.softmax(x, -1) * A([1.0, 2.0, 3.0])).sum())(
        A([0.0, -inf, 1.0])), [-0.39322397112846375, 0.0, 0.3932236433029175]),
    "log_softmax -inf mask": (lambda g: g(
        lambda x: (F.log_softmax(x, -1) * A([1.0, 0.0, 3.0])).sum())(A([0.0, -inf, 1.0])),
        [-0.07576573640108109, 0.0, 0.07576560974121094]),
    # saturation
    "sigmoid(100)": (lambda g: g(F.sigmoid)(100.0), 0.0),
    "sigmoid(-100)": (lambda g: g(F.sigmoid)(-100.0), TINY),
    "sigmoid(-1000)": (lambda g: g(F.sigmoid)(-1000.0), 0.0),
    "tanh(100)": (lambda g: g(ft.tanh)(100.0), 0.0),
    "tanh(-100)": (lambda g: g(ft.tanh)(-100.0), 0.0),
    "erf(10)": (lambda g: g(ft.erf)(10.0), TINY),
    "erf(-10)": (lambda g: g(ft.erf)(-10.0), TINY),
    "gelu(-100)": (lambda g: g(F.gelu)(-100.0), 0.0),
    "gelu(100)": (lambda g: g(F.gelu)(100.0), 1.0),
    "gelu tanh(-100)": (lambda g: g(lambda x: F.gelu(x, approximate="tanh"))(-100.0), 0.0),
    "gelu tanh(100)": (lambda g: g(lambda x: F.gelu(x, approximate="tanh"))(100.0), 1.0),
    "gelu tanh(-1e4)": (lambda g: g(lambda x: F.gelu(x, approximate="tanh"))(-1e4), 0.0),
    "cross_entropy 1e4": (lambda g: g(lambda x: F.cross_entropy(x, ft.array([0])))(
        A([[1e4, -1e4, 0.0]])), [[0.0, 0.0, 0.0]]),
    "bce_logits(1e4, 0)": (lambda g: g(
        lambda x: F.binary_cross_entropy_with_logits(x, ft.array(0.0)))(1e4), 1.0),
    "bce_logits(-1e4, 1)": (lambda g: g(
        lambda x: F.binary_cross_entropy_with_logits(x, ft.array(1.0)))(-1e4), -1.0),
    # sigmoid(0) - t = 0.5 (JAX: grad of logaddexp(0, x) at 0; PyTorch agrees)
    "bce_logits(0, 0)": (lambda g: g(
        lambda x: F.binary_cross_entropy_with_logits(x, ft.array(0.0)))(0.0), 0.5),
    "bce_logits(0, 1)": (lambda g: g(
        lambda x: F.binary_cross_entropy_with_logits(x, ft.array(1.0)))(0.0), -0.5),
}

HESS = {
    "abs(0)": (lambda h: h(ft.abs)(0.0), 0.0),
    "relu(0)": (lambda h: h(F.relu)(0.0), 0.0),
    "sqrt(0)": (lambda h: h(ft.sqrt)(0.0), -inf),
    "maximum(x,0)@0": (lambda h: h(lambda x: ft.maximum(x, 0.0))(0.0), 0.0),
}


def _same(got, want):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for a, b in zip(got, want):
            _same(a, b)
        return
    got = np.asarray(got)
    if isinstance(want, str):  # TINY
        assert np.all(np.isfinite(got)) and np.all(got >= 0) and np.all(got < 1e-30), got
        return
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    g64 = got.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(g64), np.isnan(want), err_msg=f"NaN: {got}")
    np.testing.assert_array_equal(np.isposinf(g64), np.isposinf(want), err_msg=f"+inf: {got}")
    np.testing.assert_array_equal(np.isneginf(g64), np.isneginf(want), err_msg=f"-inf: {got}")
    exact = (want == 0) | (want == 1) | (want == -1) | (want == 0.5) | (want == -0.5)
    np.testing.assert_array_equal(g64[exact], want[exact], err_msg=str(got))
    fin = np.isfinite(want)
    np.testing.assert_allclose(g64[fin], want[fin], rtol=2e-6, atol=0, err_msg=str(got))


@pytest.mark.parametrize("mode", ["eager", "jit"])
@pytest.mark.parametrize("name", list(CASES))
def test_grad_matches_jax(name, mode):
    build, want = CASES[name]
    with np.errstate(all="ignore"):
        got = build(_g if mode == "eager" else _jg)
    _same(got, want)


@pytest.mark.parametrize("mode", ["eager", "jit"])
@pytest.mark.parametrize("name", list(HESS))
def test_hessian_matches_jax(name, mode):
    build, want = HESS[name]
    h = ft.hessian if mode == "eager" else (lambda f: ft.jit(ft.hessian(f)))
    with np.errstate(all="ignore"):
        got = build(h)
    _same(got, want)


@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_max_pool_ties_go_to_first_max(mode):
    # PyTorch and JAX (select_and_scatter_add) both route the whole cotangent to the
    # first maximum in the window, not split among ties
    def f(x):
        return F.max_pool2d(x.reshape(1, 1, 2, 2), 2).sum()

    g = ft.grad(f) if mode == "eager" else ft.jit(ft.grad(f))
    _same(g(A([1.0, 3.0, 3.0, 2.0])), [0.0, 1.0, 0.0, 0.0])
    _same(g(A([2.0, 2.0, 2.0, 2.0])), [1.0, 0.0, 0.0, 0.0])


def test_forward_values_unchanged():
    x = A([-2.0, -0.0, 0.0, 3.0, -inf, inf, nan])
    np.testing.assert_array_equal(np.asarray(ft.abs(x)), np.abs(np.asarray(x)))
    z = A([0.0, 1e4, -1e4, 3.0, -3.0])
    t = A([0.0, 0.0, 1.0, 1.0, 0.0])
    got = np.asarray(F.binary_cross_entropy_with_logits(z, t, reduction="none"))
    zz, tt = np.asarray(z, np.float64), np.asarray(t, np.float64)
    want = np.logaddexp(0.0, zz) - tt * zz
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_abs_jvp_at_zero_is_plus_tangent(mode):
    # forward mode agrees with reverse mode: d|x| at +-0 passes the tangent through (JAX)
    def f(x, t):
        return ft.jvp(ft.abs, (x,), (t,))[1]

    f = f if mode == "eager" else ft.jit(f)
    x, t = A([0.0, -0.0, -2.0, 2.0]), A([3.0, 3.0, 3.0, 3.0])
    _same(f(x, t), [3.0, 3.0, -3.0, 3.0])
