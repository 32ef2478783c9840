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
        j = np.asarray(ft.jit(lambda v, red=red: red(v * 0.999, axis=axis))(x))
        np.testing.assert_allclose(j, e, rtol=2e-6, atol=1e-6)


def test_generators_compile_without_fast_math():
    """Fast-math in Numba (``fastmath=True`` on CUDA: flush-to-zero, approximate division
    and sqrt) changes IEEE results; the only flag allowed is ``reassoc`` on the CPU's
    reduction accumulators (``backends/cpu/reassoc.py``)."""
    import pathlib
    import re

    import cuda_kernels

    roots = [pathlib.Path(ft.__file__).parent / "backends",
             pathlib.Path(cuda_kernels.__file__).parent]
    found = []
    for root in roots:
        for path in root.rglob("*.py"):
            for m in re.finditer(r"fastmath\s*=\s*([^)\n]*)", path.read_text()):
                if not m.group(1).replace('"', "'").startswith("{'reassoc'}"):
                    found.append(f"{path}: {m.group(0)}")
    assert not found, found


# --------------------------------------------------------------------------- 2-5: edge cases

@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, dim", [((3, 0), -1), ((0,), 0), ((0, 4), 0)])
def test_softmax_over_an_empty_axis_is_empty(name, shape, dim):
    fn = getattr(ft.nn.functional, name)
    x = ft.zeros(shape)
    for f in (fn, ft.jit(lambda v: fn(v, dim))):
        y = f(x, dim) if f is fn else f(x)
        assert y.shape == shape and y.dtype == x.dtype
    g = ft.grad(lambda v: ft.sum(fn(v, dim)))(x)
    assert g.shape == shape


@pytest.mark.parametrize("fn, ddof", [(ft.var, 3), (ft.std, 3), (ft.var, 4), (ft.std, 5)])
def test_var_std_with_ddof_past_n_have_nan_gradients(fn, ddof):
    x = ft.asarray(np.array([1., 2., 3.]))
    assert np.isnan(float(fn(x, ddof=ddof)))
    for g in (ft.grad(lambda v: fn(v, ddof=ddof)), ft.jit(ft.grad(lambda v: fn(v, ddof=ddof)))):
        assert np.isnan(np.asarray(g(x))).all()


@pytest.mark.parametrize("index, expected", [(1, 2.0), (slice(1, None), 5.0),
                                             ("zero_d", 2.0), ((slice(None, None, -2),), 4.0)])
def test_multiplicative_update_at_static_index_is_differentiable(index, expected):
    # JAX's values: an int, slice or 0-d array cannot name a position twice
    x = ft.asarray(np.array([1., 2., 3.]))
    idx = ft.asarray(1) if index == "zero_d" else index
    f = lambda v: ft.sum(x.at[idx].multiply(v))  # noqa: E731
    assert float(ft.grad(f)(2.0)) == expected
    assert float(ft.jit(ft.grad(f))(2.0)) == expected
    with pytest.raises(NotImplementedError, match="unique indices"):
        ft.grad(lambda v: ft.sum(x.at[np.array([1, 1])].multiply(v)))(2.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prod_gradient_does_not_overflow_to_nan(dtype):
    # JAX: 0 (the cotangent is 0; the product of the other factors overflows)
    p = ft.asarray(np.array([-0.5, 1e30, 1e30], dtype))
    f = lambda p: ft.tanh(ft.log1p(ft.abs(ft.prod(p))))  # noqa: E731
    for g in (ft.grad(f), ft.jit(ft.grad(f))):
        np.testing.assert_array_equal(np.asarray(g(p)), np.zeros(3, dtype))


@pytest.mark.parametrize("shape, axis", [((5,), None), ((3, 4, 5), 1), ((3, 4, 5), (0, 2)),
                                         ((2, 0, 3), 1), ((4, 1), 1)])
def test_prod_gradient_values(shape, axis):
    # d/dx_i sum(prod(x)^2) = 2 prod(x) * (the product without x_i), zeros included
    x = np.random.default_rng(1).uniform(0.5, 1.5, shape)
    if x.size:
        x.flat[0] = 0.0
    g = np.asarray(ft.grad(lambda v: ft.sum(ft.prod(v, axis=axis) ** 2))(ft.asarray(x)))
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    full = np.prod(x, axis=axis, keepdims=True)
    expected = np.zeros(shape)
    for i in np.ndindex(shape):
        y = x.copy()
        y[i] = 1.0
        pos = tuple(0 if a in axes else k for a, k in enumerate(i))   # i's output element
        expected[i] = 2 * full[pos] * np.prod(y, axis=axis, keepdims=True)[pos]
    np.testing.assert_allclose(g, expected, rtol=1e-12)


# --------------------------------------------------------------------------- 6: bad arguments

F = ft.nn.functional
_X = ft.asarray(np.array([1., 2., 3.]))
_IMG = ft.ones((1, 1, 5, 5))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: ft.grad(ft.sum, argnums="a")(_X), TypeError, "funtorch.grad: argnums"),
    (lambda: F.softmax(_X, "0"), TypeError, "softmax: dim must be an int"),
    (lambda: F.log_softmax(_X, 0.0), TypeError, "log_softmax: dim must be an int"),
    (lambda: F.max_pool2d(_IMG, 3, padding="a"), TypeError, "max_pool2d: padding"),
    (lambda: F.avg_pool2d(_IMG, "a"), TypeError, "avg_pool2d: kernel_size"),
    (lambda: F.conv2d(_IMG, ft.ones((1, 1, 3, 3)), stride=None), TypeError, "conv2d: stride"),
    (lambda: ft.var(_X, ddof="a"), TypeError, "funtorch.var: ddof"),
    (lambda: ft.std(_X, correction=None, ddof=[1]), TypeError, "funtorch.std: ddof"),
    (lambda: ft.random.randint(ft.random.key(0), (2,), 0, None), TypeError,
     "funtorch.random.randint: minval and maxval"),
    (lambda: F.one_hot(ft.asarray(np.array([1, 2])), 10 ** 20), ValueError,
     "one_hot: num_classes=.* is too large"),
    (lambda: ft.expand_dims(_X, 1.5), TypeError, "funtorch.expand_dims: axis must be an int"),
    (lambda: ft.squeeze(ft.ones((1, 3)), "0"), TypeError, "funtorch.squeeze: axis"),
])
def test_bad_arguments_name_the_op(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# --------------------------------------------------------------------------- 7: not stricter

@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("widths", [(0, 7), (4, 4), (11, 2), (3, 0)])
def test_reflect_pad_wider_than_the_axis_reflects_repeatedly(n, widths):
    x = np.arange(2.0 * n).reshape(2, n)
    pw = ((1, 2), widths)
    np.testing.assert_array_equal(np.asarray(ft.pad(ft.asarray(x), pw, mode="reflect")),
                                  np.pad(x, pw, mode="reflect"))
    g = ft.grad(lambda v: ft.sum(ft.pad(v, pw, mode="reflect") ** 2))(ft.asarray(x))
    counts = np.zeros(x.size)
    idx = np.pad(np.arange(x.size).reshape(x.shape), pw, mode="reflect")
    np.add.at(counts, idx.reshape(-1), 1)
    np.testing.assert_allclose(np.asarray(g), 2 * x * counts.reshape(x.shape))


# --------------------------------------------------------------------------- found by the fuzzer

def test_jit_keeps_0d_half_values_0d():
    # the CPU driver made an eagerly computed 0-d value contiguous with
    # np.ascontiguousarray, which returns 1-d arrays
    x = np.array(1.5, np.float16)
    s, m = ft.jit(lambda v: (ft.sum(v), ft.mean(v)))(x)
    assert s.shape == () and m.shape == ()
    assert float(s) == 1.5 and float(m) == 1.5


def test_value_broadcast_into_an_empty_loop_nest_is_still_stored():
    """Fuzzer seed 3011: ``c + 1`` (shape (3,), in log1p's derivative) was fused into the
    loop nest over the (0, 3) broadcast and stored only from there; a loop over no
    elements never wrote it, and the gradient read the unwritten slot (NaN, flaky)."""
    w = np.random.default_rng(0).standard_normal((0, 3))

    def loss(a, b):
        return ft.sum((ft.log1p(b) - a) * w.astype(a.dtype))

    step = ft.jit(ft.value_and_grad(loss, argnums=(0, 1)))
    for dtype in (np.float32, np.float64) * 8:
        a, b = np.zeros((0, 3), dtype), np.array([0.3, -0.5, 2.0], dtype)
        value, (ga, gb) = step(a, b)
        assert float(value) == 0 and np.asarray(ga).shape == (0, 3)
        np.testing.assert_array_equal(np.asarray(gb), np.zeros(3, dtype))
