import numpy as np
from numba import cuda, types

from cuda_kernels import _dtypes

from .util import BF16, dev, host


def _roundtrip_kernel():
    def kernel(bits, out_bits, out_f32):
        i = cuda.grid(1)
        if i < bits.size:
            f = _dtypes.bf16_to_f32(bits[i])
            out_f32[i] = f
            out_bits[i] = _dtypes.f32_to_bf16(f * np.float32(3.0))

    sig = types.void(types.uint16[::1], types.uint16[::1], types.float32[::1])
    return cuda.jit(sig)(kernel)


def test_bfloat16_conversions_match_ml_dtypes():
    x = (np.random.default_rng(0).standard_normal(64) * 100).astype(BF16)
    x[:4] = [np.nan, np.inf, -np.inf, 0]
    bits, out_bits = dev(x.view(np.uint16)), dev(np.zeros(64, np.uint16))
    out_f32 = dev(np.zeros(64, np.float32))
    _roundtrip_kernel()[2, 32](bits, out_bits, out_f32)
    np.testing.assert_array_equal(host(out_f32), x.astype(np.float32))
    ref = (x.astype(np.float32) * np.float32(3)).astype(BF16)
    got = host(out_bits).view(BF16)
    assert np.isnan(got[0])
    np.testing.assert_array_equal(got[1:].view(np.uint16), ref[1:].view(np.uint16))


def test_storage_types():
    assert _dtypes.storage_type(BF16) == types.uint16
    assert _dtypes.storage_type(np.float16) == types.float16
    assert _dtypes.raw(dev(np.zeros(3, BF16))).dtype == np.uint16
