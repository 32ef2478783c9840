"""Regression tests of issue 11: compiled code gives what eager gives (IEEE semantics per
op, a reduction's order the one freedom), and the edge cases JAX gets right."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import funtorch as ft


@pytest.fixture(autouse=True)
def compiled_not_eager():
    """A kernel that fails to compile falls back to eager with a warning: make it fail."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*failed to compile.*")
        yield


# --------------------------------------------------------------------------- 1: no fast-math

def test_jit_grad_keeps_nan_beside_a_reduction():
    x = ft.asarray(np.array([1., 2.], np.float32))

    def f(v):
        return ft.sum(ft.sqrt(v - v))

    _, g = ft.jit(ft.value_and_grad(f))(x)
    assert np.isnan(np.asarray(g)).all()
    assert np.isnan(np.asarray(ft.grad(f)(x))).all()


def test_jit_does_not_reassociate_around_a_sum():
    y = ft.asarray(np.array([2., 3.], np.float32))

    def g(v):
        return (ft.sum(v) + 1e-7) - ft.sum(v)

    assert float(g(y)) == 0.0
    assert float(ft.jit(g)(y)) == 0.0


def test_jit_keeps_signed_zero_and_no_contraction():
    # x * y + z rounds twice (no fused multiply-add); -0. + -0. stays -0.
    x = np.float32(1 + 2 ** -12)
    a = np.array([x, x], np.float32)

    def f(v):
        return v * v - ft.sum(v * v) / 2, -0.0 * ft.sum(v) + -0.0 * v

    eager = f(ft.asarray(a))
    jitted = ft.jit(f)(ft.asarray(a))
    for e, j in zip(eager, jitted):
        np.testing.assert_array_equal(np.signbit(np.asarray(e)), np.signbit(np.asarray(j)))
        np.testing.assert_array_equal(np.asarray(e), np.asarray(j))


@pytest.mark.parametrize("shape, axis", [((1000,), None), ((7, 999), 1), ((999, 7), 0),
                                         ((3, 5, 17), (0, 2))])
def test_jit_float_reductions_match_eager(shape, axis):
    # the order of a reduction may change; the result within float32 rounding of the sum
    x = ft.asarray(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    for red in (ft.sum, ft.prod, ft.mean):
        e = np.asarray(red(x * 0.999, axis=axis))
        j = np.asarray(ft.jit(lambda v: red(v * 0.999, axis=axis))(x))
        np.testing.assert_allclose(j, e, rtol=2e-6, atol=1e-6)


def test_generators_compile_without_fast_math():
    """Fast-math in Numba (``fastmath=True`` on CUDA: flush-to-zero, approximate division
    and sqrt) changes IEEE results; the only flag allowed is ``reassoc`` on the CPU's
    reduction accumulators (``backends/cpu/codegen.Names``)."""
    import pathlib
    import re

    import cuda_kernels

    roots = [pathlib.Path(ft.__file__).parent / "backends",
             pathlib.Path(cuda_kernels.__file__).parent]
    found = []
    for root in roots:
        for path in root.rglob("*.py"):
            for m in re.finditer(r"fastmath\s*=\s*([^)\n]*)", path.read_text()):
                if not m.group(1).startswith("{'reassoc'}"):
                    found.append(f"{path}: {m.group(0)}")
    assert not found, found
