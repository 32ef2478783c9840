import numpy as np
import pytest

from cuda_kernels import reduce

from .util import BF16, assert_within_ulps, dev, host

NP = {"sum": np.sum, "max": np.max, "min": np.min, "argmax": np.argmax, "argmin": np.argmin}


@pytest.fixture(scope="module")
def data():
    x = np.random.default_rng(7).standard_normal((3, 37, 5)).astype(np.float32)
    x[0, :, 0] = 1.0  # ties: the first index must win
    x[1, 4, 2] = np.nan  # NaN propagates through max/min and wins arg*
    return x


@pytest.mark.parametrize("op", ["sum", "max", "min", "argmax", "argmin"])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_single_axis(data, op, axis):
    got = host(reduce.reduce(dev(data), axis, op))
    ref = NP[op](data, axis=axis)
    assert got.dtype == ref.dtype if op.startswith("arg") else got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5, equal_nan=True)


@pytest.mark.parametrize("op", ["sum", "max"])
@pytest.mark.parametrize("axis", [(1, 2), (0, 1), None])
def test_adjacent_axes_and_keepdims(data, op, axis):
    got = host(reduce.reduce(dev(data), axis, op, keepdims=True))
    np.testing.assert_allclose(
        got, NP[op](data, axis=axis, keepdims=True), rtol=1e-5, equal_nan=True
    )


@pytest.mark.parametrize("dtype", [np.float16, BF16])
def test_half_precision_sum_accumulates_in_float32(dtype):
    x = np.linspace(-2, 3, 4 * 70).reshape(4, 70).astype(dtype)
    got = host(reduce.reduce_sum(dev(x), axis=1))
    assert got.dtype == np.dtype(dtype)
    ref = x.astype(np.float32).sum(1).astype(dtype)
    # within an ulp; accumulating in the half type is 2-4 ulps off (and passed rtol=1e-2)
    assert_within_ulps(got, ref, dtype)


def test_wrappers_and_errors(data):
    np.testing.assert_array_equal(host(reduce.argmax(dev(data[2]), axis=1)), np.argmax(data[2], 1))
    np.testing.assert_allclose(host(reduce.reduce_min(dev(data[2]))), data[2].min())
    with pytest.raises(ValueError, match="adjacent"):
        reduce.reduce(dev(data), (0, 2))
    with pytest.raises(ValueError, match="single axis"):
        reduce.argmax(dev(data), (1, 2))
    with pytest.raises(ValueError, match="empty"):
        reduce.reduce_max(dev(np.zeros((2, 0), np.float32)), axis=1)
    np.testing.assert_array_equal(
        host(reduce.reduce_sum(dev(np.zeros((2, 0), np.float32)), 1)), [0, 0]
    )
