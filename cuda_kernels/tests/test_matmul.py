import numpy as np
import pytest

from cuda_kernels import _gemm, matmul
from cuda_kernels.memory import DevicePool

from .util import BF16, assert_within_ulps, dev, host

TILE = _gemm.SIM_TILE  # 16x8 block, 4-deep k slices, 16 threads


def _operands(rng, m, n, k, trans_a, trans_b, dtype=np.float32, batch=None):
    lead = () if batch is None else (batch,)
    a = rng.standard_normal(lead + (m, k)).astype(dtype)
    b = rng.standard_normal(lead + (k, n)).astype(dtype)
    sa = np.ascontiguousarray(np.swapaxes(a, -1, -2)) if trans_a else a
    sb = np.ascontiguousarray(np.swapaxes(b, -1, -2)) if trans_b else b
    return a, b, sa, sb


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m,n,k", [(19, 10, 9), (16, 8, 4), (1, 1, 1), (3, 5, 0)])
def test_matmul_transposes_and_edges(rng, m, n, k, trans_a, trans_b):
    a, b, sa, sb = _operands(rng, m, n, k, trans_a, trans_b)
    got = host(matmul.matmul(dev(sa), dev(sb), trans_a=trans_a, trans_b=trans_b, tile=TILE))
    np.testing.assert_allclose(got, a @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("splits", [2, 3])
def test_split_k_is_deterministic_and_correct(rng, splits):
    a, b, sa, sb = _operands(rng, 9, 7, 23, False, True)
    da, db = dev(sa), dev(sb)
    first = host(matmul.matmul(da, db, trans_b=True, tile=TILE, splits=splits))
    again = host(matmul.matmul(da, db, trans_b=True, tile=TILE, splits=splits))
    np.testing.assert_allclose(first, a @ b, rtol=1e-5, atol=1e-5)
    assert np.array_equal(first, again)


@pytest.mark.parametrize("dtype", [np.float16, BF16])
def test_half_precision_inputs_accumulate_in_float32(rng, dtype):
    a, b, sa, sb = _operands(rng, 17, 9, 12, True, False, dtype)
    got = host(matmul.matmul(dev(sa), dev(sb), trans_a=True, tile=TILE))
    assert got.dtype == np.dtype(dtype)
    ref = (a.astype(np.float32) @ b.astype(np.float32)).astype(dtype)
    # float32 accumulation rounded once: within an ulp (rtol=2e-2 passed half accumulation)
    assert_within_ulps(got, ref, dtype)


def test_batched_with_broadcast_batch(rng):
    a = rng.standard_normal((3, 6, 5)).astype(np.float32)
    b = rng.standard_normal((1, 5, 9)).astype(np.float32)
    got = host(matmul.batched_matmul(dev(a), dev(b), tile=TILE))
    np.testing.assert_allclose(got, a @ b, rtol=1e-5, atol=1e-5)


def test_batched_transposed_into_given_output(rng):
    a, b, sa, sb = _operands(rng, 5, 11, 6, True, True, batch=2)
    out = dev(np.full((2, 5, 11), np.nan, np.float32))
    ret = matmul.batched_matmul(dev(sa), dev(sb), out=out, trans_a=True, trans_b=True, tile=TILE)
    assert ret is out
    np.testing.assert_allclose(host(out), a @ b, rtol=1e-5, atol=1e-5)


def test_default_tile_and_pool_reuse(rng):
    pool = DevicePool()
    a = dev(rng.standard_normal((8, 4)).astype(np.float32))
    b = dev(rng.standard_normal((4, 6)).astype(np.float32))
    out = matmul.matmul(a, b, pool=pool)
    pool.free(out)
    before = pool.stats()["allocations"]
    out = matmul.matmul(a, b, pool=pool)
    assert pool.stats()["allocations"] == before
    np.testing.assert_allclose(host(out), host(a) @ host(b), rtol=1e-5, atol=1e-5)


def test_shape_errors(rng):
    a = dev(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="contraction"):
        matmul.matmul(a, a)
    with pytest.raises(ValueError, match="batch"):
        matmul.batched_matmul(
            dev(np.zeros((2, 3, 4), np.float32)), dev(np.zeros((3, 4, 2), np.float32))
        )


def test_tile_validation():
    with pytest.raises(ValueError):
        _gemm.Tile(16, 8, 3, 4, 2).validate()
    for tile in _gemm.GPU_TILES:
        tile.validate()
