"""Storage dtypes: float32 compute everywhere, float16/bfloat16 converted at load and store.

bfloat16 arrays travel as their uint16 bit patterns (see :func:`raw`), which keeps the kernels
independent of numba's C++ bfloat16 shim and lets the simulator run them too.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
from numba import float32, int32, types, uint16, uint32

from ._common import SIMULATOR, device_fn

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
FLOATS = (np.dtype(np.float32), np.dtype(np.float16), BFLOAT16)

if SIMULATOR:

    @device_fn
    def _bits_to_f32(b):
        return np.uint32(np.uint32(b) << np.uint32(16)).view(np.float32)

    @device_fn
    def _f32_to_bits(f):
        return np.float32(f).view(np.uint32)

else:
    from numba.cuda import libdevice

    @device_fn
    def _bits_to_f32(b):
        return libdevice.int_as_float(int32(uint32(b) << uint32(16)))

    @device_fn
    def _f32_to_bits(f):
        return uint32(libdevice.float_as_int(f))


@device_fn
def bf16_to_f32(b):
    return float32(_bits_to_f32(b))


@device_fn
def f32_to_bf16(f):
    """Round to nearest even, like ml_dtypes and PyTorch; NaN stays a quiet NaN."""
    if f != f:
        return uint16(0x7FC0)
    u = uint32(_f32_to_bits(f))
    u = uint32(u + uint32(0x7FFF) + ((u >> uint32(16)) & uint32(1)))
    return uint16(u >> uint32(16))


@device_fn
def f16_to_f32(x):
    return float32(x)


@device_fn
def f32_to_f16(x):
    return types.float16(x)


@device_fn
def identity(x):
    return x


_NUMBA_TYPES = {
    np.dtype(np.float32): types.float32,
    np.dtype(np.float64): types.float64,
    np.dtype(np.float16): types.float16,
    BFLOAT16: uint16,
    np.dtype(np.int8): types.int8,
    np.dtype(np.int16): types.int16,
    np.dtype(np.int32): types.int32,
    np.dtype(np.int64): types.int64,
    np.dtype(np.uint8): types.uint8,
    np.dtype(np.uint16): uint16,
    np.dtype(np.uint32): uint32,
    np.dtype(np.bool_): types.boolean,
}


def storage_type(dtype):
    """The numba element type a kernel sees for arrays of ``dtype`` (bfloat16: its bits)."""
    return _NUMBA_TYPES[np.dtype(dtype)]


def to_f32(dtype):
    """Device function converting a stored element of ``dtype`` to the float32 compute type."""
    dtype = np.dtype(dtype)
    if dtype == BFLOAT16:
        return bf16_to_f32
    return f16_to_f32 if dtype == np.float16 else identity


def from_f32(dtype):
    """Device function converting a float32 result back to the storage of ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype == BFLOAT16:
        return f32_to_bf16
    return f32_to_f16 if dtype == np.float16 else identity


def raw(x):
    """View a bfloat16 device array as uint16 so numba can type it; others pass through."""
    return x.view(np.uint16) if np.dtype(x.dtype) == BFLOAT16 else x


def check_float(dtype):
    if np.dtype(dtype) not in FLOATS:
        raise TypeError(f"unsupported dtype {np.dtype(dtype)}; expected float32/float16/bfloat16")
