"""sum / max / min / argmax / argmin over an axis (or a run of adjacent axes).

The array is viewed as (outer, R, inner). With inner == 1 (reducing trailing axes) a block
reduces each row: threads stride over R, then :mod:`cuda_kernels._block` combines them (warp
shuffles on a GPU). Otherwise one thread per output walks R, and neighbouring threads read
neighbouring columns, so loads stay coalesced without any shared memory.
Floats are accumulated in float32; max/min propagate NaN; arg* return the first index (int64).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda, float32, int64, types

from . import _block, _dtypes
from ._common import SIMULATOR, THREADS_1D, alloc, as_device, blocks_for, jit_kernel

ROW_THREADS = 16 if SIMULATOR else 256

# op -> (combine, initial value, returns an index)
OPS = {
    "sum": (_block.combine_sum, 0.0, False),
    "max": (_block.combine_max, -math.inf, False),
    "min": (_block.combine_min, math.inf, False),
    "argmax": (_block.combine_argmax, -math.inf, True),
    "argmin": (_block.combine_argmin, math.inf, True),
}


def _out_type(op, dtype):
    return types.int64 if OPS[op][2] else _dtypes.storage_type(dtype)


def build_rows(op, dtype, threads=ROW_THREADS):
    """Kernel ``(x (outer, R), out (outer,))``: one block per row, grid-strided."""
    combine, init, is_index = OPS[op]
    reduce = _block.block_reducer(combine, threads, int64)
    to32, cvt = _dtypes.to_f32(dtype), _dtypes.from_f32(dtype)
    INIT, SENTINEL = float32(init), _block.INDEX_SENTINEL

    def rows(x, out):
        t = cuda.threadIdx.x
        row = cuda.blockIdx.x
        while row < x.shape[0]:
            a, b = INIT, int64(SENTINEL)
            r = t
            while r < x.shape[1]:
                a, b = combine(a, b, to32(x[row, r]), int64(r))
                r += threads
            a, b = reduce(a, b)
            if t == 0:
                if is_index:
                    out[row] = b
                else:
                    out[row] = cvt(a)
            row += cuda.gridDim.x

    arr = types.Array(_dtypes.storage_type(dtype), 2, "C")
    return rows, types.void(arr, types.Array(_out_type(op, dtype), 1, "C"))


def build_columns(op, dtype):
    """Kernel ``(x (outer, R, inner), out (outer, inner))``: one thread per output."""
    combine, init, is_index = OPS[op]
    to32, cvt = _dtypes.to_f32(dtype), _dtypes.from_f32(dtype)
    INIT, SENTINEL = float32(init), _block.INDEX_SENTINEL

    def columns(x, out):
        i = cuda.grid(1)
        inner = x.shape[2]
        while i < out.size:
            o = i // inner
            j = i - o * inner
            a, b = INIT, int64(SENTINEL)
            for r in range(x.shape[1]):
                a, b = combine(a, b, to32(x[o, r, j]), int64(r))
            if is_index:
                out[o, j] = b
            else:
                out[o, j] = cvt(a)
            i += cuda.gridsize(1)

    arr = types.Array(_dtypes.storage_type(dtype), 3, "C")
    return columns, types.void(arr, types.Array(_out_type(op, dtype), 2, "C"))


@functools.cache
def _kernel(kind, op, dtype):
    fn, sig = (build_rows if kind == "rows" else build_columns)(op, dtype)
    return jit_kernel(fn, sig, threads=ROW_THREADS if kind == "rows" else None)


def _normalize_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = sorted(a % ndim for a in ((axis,) if np.isscalar(axis) else axis))
    if axes and axes != list(range(axes[0], axes[0] + len(axes))):
        raise ValueError(f"reduction axes {axis} must be adjacent; transpose first")
    return tuple(axes)


def reduce(x, axis=None, op="sum", out=None, keepdims=False, stream=0, pool=None):
    """Reduce ``x`` over ``axis`` (int, tuple of adjacent axes, or None for all) with ``op``."""
    if op not in OPS:
        raise ValueError(f"unknown reduction {op!r}; expected one of {sorted(OPS)}")
    x = as_device(x)
    _dtypes.check_float(x.dtype)
    shape = tuple(x.shape)
    axes = _normalize_axes(axis, len(shape))
    if OPS[op][2] and len(axes) != 1 and len(shape) > 1:
        raise ValueError("argmax/argmin take a single axis")
    lo, hi = (axes[0], axes[-1] + 1) if axes else (len(shape), len(shape))
    outer = math.prod(shape[:lo])
    length = math.prod(shape[lo:hi])
    inner = math.prod(shape[hi:])
    if length == 0 and op != "sum":
        raise ValueError(f"{op} of an empty axis")
    kept = shape[:lo] + (1,) * (hi - lo) + shape[hi:]
    out_shape = kept if keepdims else shape[:lo] + shape[hi:]
    out_dtype = np.int64 if OPS[op][2] else x.dtype
    if out is None:
        out = alloc(out_shape, out_dtype, pool)
    out = as_device(out)
    if out.size == 0:
        return out
    raw_x, raw_out = _dtypes.raw(x), _dtypes.raw(out)
    dtype = np.dtype(x.dtype)
    if inner == 1:
        _kernel("rows", op, dtype)[blocks_for(outer, 1), ROW_THREADS, stream](
            raw_x.reshape(outer, length), raw_out.reshape(outer)
        )
    else:
        _kernel("columns", op, dtype)[blocks_for(outer * inner), THREADS_1D, stream](
            raw_x.reshape(outer, length, inner), raw_out.reshape(outer, inner)
        )
    return out


def reduce_sum(x, axis=None, **kw):
    return reduce(x, axis, "sum", **kw)


def reduce_max(x, axis=None, **kw):
    return reduce(x, axis, "max", **kw)


def reduce_min(x, axis=None, **kw):
    return reduce(x, axis, "min", **kw)


def argmax(x, axis, **kw):
    return reduce(x, axis, "argmax", **kw)


def argmin(x, axis, **kw):
    return reduce(x, axis, "argmin", **kw)
