"""Dense and batched matrix multiply on the shared GEMM tiling (see :mod:`cuda_kernels._gemm`).

``trans_a``/``trans_b`` read an operand stored transposed in place, so backward passes
(``dA = dC @ B^T``, ``dB = A^T @ dC``) never materialise a transpose. Inputs may be float32,
float16 or bfloat16; accumulation is always float32.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import types, uint64

from . import _dtypes, _gemm
from ._common import alloc, as_device, ceil_div, device_fn, jit_kernel, release


def _operand_loader(cvt, transposed: bool):
    """``load(X, g, p, q)`` reading element (p, q) of ``op(X[g])``; a batch of 1 broadcasts."""
    # Unsigned indices skip Numba's negative-index fix-ups, leaving plain address arithmetic
    # that LLVM can strength-reduce across the K loop.
    if transposed:

        @device_fn
        def load(X, g, p, q):
            return cvt(X[uint64(g if X.shape[0] != 1 else 0), uint64(q), uint64(p)])

    else:

        @device_fn
        def load(X, g, p, q):
            return cvt(X[uint64(g if X.shape[0] != 1 else 0), uint64(p), uint64(q)])

    return load


def build(tile, dtype_a, dtype_b, dtype_c, trans_a, trans_b, partial=False):
    """(pyfunc, signature) of the matmul kernel for one configuration (also used for PTX checks)."""
    load_a = _operand_loader(_dtypes.to_f32(dtype_a), trans_a)
    load_b = _operand_loader(_dtypes.to_f32(dtype_b), trans_b)
    epilogue = _gemm.PARTIALS if partial else _gemm.dense(dtype_c)
    c_type = types.Array(_dtypes.storage_type(np.float32 if partial else dtype_c), 1, "C")
    # k is contiguous for A stored (M, K) and for B stored (N, K).
    fn = _gemm.build(tile, not trans_a, trans_b, load_a, load_b, epilogue)

    def arr(dt):
        return types.Array(_dtypes.storage_type(dt), 3, "C", readonly=False)

    return fn, _gemm.signature(arr(dtype_a), arr(dtype_b), c_type)


@functools.cache
def _kernel(tile, dtype_a, dtype_b, dtype_c, trans_a, trans_b, partial):
    fn, sig = build(tile, dtype_a, dtype_b, dtype_c, trans_a, trans_b, partial)
    return jit_kernel(fn, sig, threads=tile.threads)


def batched_matmul(
    a, b, out=None, trans_a=False, trans_b=False, stream=0, tile=None, splits=None, pool=None
):
    """``out[i] = op(a[i]) @ op(b[i])`` for 3-D device arrays; a batch of 1 broadcasts.

    ``op`` transposes the last two axes when ``trans_*`` is set. ``out`` defaults to a pool
    allocation of a's dtype. ``tile``/``splits`` override the heuristics (tests use tiny tiles).
    """
    a, b = as_device(a), as_device(b)
    if a.ndim != 3 or b.ndim != 3:
        raise ValueError("batched_matmul expects 3-D operands")
    m, ka = (a.shape[2], a.shape[1]) if trans_a else (a.shape[1], a.shape[2])
    kb, n = (b.shape[2], b.shape[1]) if trans_b else (b.shape[1], b.shape[2])
    if ka != kb:
        raise ValueError(f"contraction mismatch: {a.shape} vs {b.shape}")
    if a.shape[0] != b.shape[0] and 1 not in (a.shape[0], b.shape[0]):
        raise ValueError(f"batch mismatch: {a.shape[0]} vs {b.shape[0]}")
    for x in (a, b):
        _dtypes.check_float(x.dtype)
    batch = max(a.shape[0], b.shape[0])
    if out is None:
        out = alloc((batch, m, n), a.dtype, pool)
    out = as_device(out)
    if tuple(out.shape) != (batch, m, n):
        raise ValueError(f"out has shape {out.shape}, expected {(batch, m, n)}")
    tile = tile or _gemm.pick_tile(m, n, batch)
    if splits is None:
        splits = _gemm.pick_splits(tile, m, n, batch, ka)
    k_split = _gemm.k_split_len(tile, ka, splits)
    splits = max(1, ceil_div(ka, k_split))
    dts = (np.dtype(a.dtype), np.dtype(b.dtype), np.dtype(out.dtype), bool(trans_a), bool(trans_b))
    ra, rb = _dtypes.raw(a), _dtypes.raw(b)
    grid = _gemm.grid(tile, m, n, batch * splits)
    if splits == 1:
        kern = _kernel(tile, *dts, False)
        kern[grid, tile.threads, stream](ra, rb, _dtypes.raw(out).reshape(-1), m, n, ka, k_split)
        return out
    parts = alloc((batch, splits, m, n), np.float32, pool)
    kern = _kernel(tile, *dts, True)
    kern[grid, tile.threads, stream](ra, rb, parts.reshape(-1), m, n, ka, k_split)
    _gemm.sum_splits(parts.reshape(batch, splits, m * n), out.reshape(-1), stream)
    release(parts, pool)
    return out


def matmul(
    a, b, out=None, trans_a=False, trans_b=False, stream=0, tile=None, splits=None, pool=None
):
    """``out = op(a) @ op(b)`` for 2-D device arrays; see :func:`batched_matmul`."""
    a, b = as_device(a), as_device(b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError("matmul expects 2-D operands")
    m = a.shape[1] if trans_a else a.shape[0]
    n = b.shape[0] if trans_b else b.shape[1]
    if out is None:
        out = alloc((m, n), a.dtype, pool)
    out = as_device(out)
    batched_matmul(
        a.reshape(1, *a.shape),
        b.reshape(1, *b.shape),
        out.reshape(1, m, n),
        trans_a,
        trans_b,
        stream,
        tile,
        splits,
        pool,
    )
    return out
