"""2-D max and average pooling over NCHW, forward and backward (PyTorch semantics, no ceil_mode).

Backward passes are gathers: each input pixel sums the output windows that cover it, so
overlapping windows need no atomics and results are deterministic. Max pooling records the
argmax as a flat ``h * W + w`` int32 index per output (padding counts as -inf; NaN wins).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda, float32, int32, types

from . import _dtypes
from ._common import THREADS_1D, alloc, as_device, blocks_for, device_fn, jit_kernel


class PoolGeom(tuple):
    """(kh, kw, sh, sw, ph, pw) with PyTorch's defaults (stride = kernel)."""

    def __new__(cls, kernel, stride=None, padding=0):
        kh, kw = _pair(kernel)
        sh, sw = _pair(stride if stride is not None else kernel)
        ph, pw = _pair(padding)
        if ph > kh // 2 or pw > kw // 2:
            raise ValueError("padding must be at most half the kernel size")
        return super().__new__(cls, (kh, kw, sh, sw, ph, pw))

    def out_hw(self, h, w):
        kh, kw, sh, sw, ph, pw = self
        return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def _pair(v):
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def _arr(dtype, ndim=4):
    return types.Array(_dtypes.storage_type(dtype), ndim, "C")


@functools.cache
def _window_fns(geom):
    """Device helpers: output (p, q) -> clipped window; input (h, w) -> covering outputs."""
    KH, KW, SH, SW, PH, PW = geom

    def window(p, q, H, W):
        h0, w0 = p * SH - PH, q * SW - PW
        return max(h0, 0), min(h0 + KH, H), max(w0, 0), min(w0 + KW, W)

    def covering(h, w, P, Q):
        """Output rows/cols [p0, p1) x [q0, q1) whose windows contain input pixel (h, w)."""
        p0 = max(0, (h + PH - KH) // SH + 1)
        q0 = max(0, (w + PW - KW) // SW + 1)
        return p0, min(P, (h + PH) // SH + 1), q0, min(Q, (w + PW) // SW + 1)

    return device_fn(window), device_fn(covering)


@device_fn
def _flat(i, shape):
    """Split flat index i over an (N, C, H, W) shape -> (n * C + c, h, w)."""
    b = i % shape[3]
    a = (i // shape[3]) % shape[2]
    return i // (shape[2] * shape[3]), a, b


def build_max_forward(geom, dtype):
    window, _ = _window_fns(geom)
    to32, cvt = _dtypes.to_f32(dtype), _dtypes.from_f32(dtype)

    def max_pool(X, Y, IDX):
        i = cuda.grid(1)
        H, W = X.shape[2], X.shape[3]
        while i < Y.size:
            nc, p, q = _flat(i, Y.shape)
            n, c = nc // Y.shape[1], nc % Y.shape[1]
            h0, h1, w0, w1 = window(p, q, H, W)
            best, arg = float32(-math.inf), int32(-1)
            for h in range(h0, h1):
                for w in range(w0, w1):
                    v = to32(X[n, c, h, w])
                    if arg < 0 or v > best or (v != v and best == best):
                        best, arg = v, int32(h * W + w)
            Y[n, c, p, q] = cvt(best)
            IDX[n, c, p, q] = arg
            i += cuda.gridsize(1)

    return max_pool, types.void(_arr(dtype), _arr(dtype), types.Array(int32, 4, "C"))


def build_max_backward(geom, dtype):
    _, covering = _window_fns(geom)
    to32, cvt = _dtypes.to_f32(dtype), _dtypes.from_f32(dtype)

    def max_pool_backward(DY, IDX, DX):
        i = cuda.grid(1)
        P, Q, W = DY.shape[2], DY.shape[3], DX.shape[3]
        while i < DX.size:
            nc, h, w = _flat(i, DX.shape)
            n, c = nc // DX.shape[1], nc % DX.shape[1]
            p0, p1, q0, q1 = covering(h, w, P, Q)
            me = h * W + w
            acc = float32(0)
            for p in range(p0, p1):
                for q in range(q0, q1):
                    if IDX[n, c, p, q] == me:
                        acc += to32(DY[n, c, p, q])
            DX[n, c, h, w] = cvt(acc)
            i += cuda.gridsize(1)

    return max_pool_backward, types.void(_arr(dtype), types.Array(int32, 4, "C"), _arr(dtype))


def build_avg_forward(geom, dtype, count_include_pad):
    window, _ = _window_fns(geom)
    KH, KW = geom[0], geom[1]
    to32, cvt = _dtypes.to_f32(dtype), _dtypes.from_f32(dtype)

    def avg_pool(X, Y):
        i = cuda.grid(1)
        H, W = X.shape[2], X.shape[3]
        while i < Y.size:
            nc, p, q = _flat(i, Y.shape)
            n, c = nc // Y.shape[1], nc % Y.shape[1]
            h0, h1, w0, w1 = window(p, q, H, W)
            acc = float32(0)
            for h in range(h0, h1):
                for w in range(w0, w1):
                    acc += to32(X[n, c, h, w])
            count = KH * KW if count_include_pad else (h1 - h0) * (w1 - w0)
            Y[n, c, p, q] = cvt(acc / float32(count))
            i += cuda.gridsize(1)

    return avg_pool, types.void(_arr(dtype), _arr(dtype))


def build_avg_backward(geom, dtype, count_include_pad):
    window, covering = _window_fns(geom)
    KH, KW = geom[0], geom[1]
    to32, cvt = _dtypes.to_f32(dtype), _dtypes.from_f32(dtype)

    def avg_pool_backward(DY, DX):
        i = cuda.grid(1)
        P, Q, H, W = DY.shape[2], DY.shape[3], DX.shape[2], DX.shape[3]
        while i < DX.size:
            nc, h, w = _flat(i, DX.shape)
            n, c = nc // DX.shape[1], nc % DX.shape[1]
            p0, p1, q0, q1 = covering(h, w, P, Q)
            acc = float32(0)
            for p in range(p0, p1):
                for q in range(q0, q1):
                    h0, h1, w0, w1 = window(p, q, H, W)
                    count = KH * KW if count_include_pad else (h1 - h0) * (w1 - w0)
                    acc += to32(DY[n, c, p, q]) / float32(count)
            DX[n, c, h, w] = cvt(acc)
            i += cuda.gridsize(1)

    return avg_pool_backward, types.void(_arr(dtype), _arr(dtype))


_BUILDERS = {
    "max_forward": build_max_forward,
    "max_backward": build_max_backward,
    "avg_forward": build_avg_forward,
    "avg_backward": build_avg_backward,
}


@functools.cache
def _kernel(kind, *key):
    return jit_kernel(*_BUILDERS[kind](*key))


def _launch(kernel, n, stream, *args):
    kernel[blocks_for(n), THREADS_1D, stream](*(_dtypes.raw(as_device(a)) for a in args))


def _prepare(x, kernel, stride, padding):
    x = as_device(x)
    _dtypes.check_float(x.dtype)
    geom = PoolGeom(kernel, stride, padding)
    n, c, h, w = x.shape
    p, q = geom.out_hw(h, w)
    return x, geom, (n, c, p, q)


def max_pool2d(x, kernel, stride=None, padding=0, out=None, indices=None, stream=0, pool=None):
    """Returns ``(y, indices)``; indices are int32 ``h * W + w`` within each input plane."""
    x, geom, out_shape = _prepare(x, kernel, stride, padding)
    out = alloc(out_shape, x.dtype, pool) if out is None else out
    indices = alloc(out_shape, np.int32, pool) if indices is None else indices
    kern = _kernel("max_forward", geom, np.dtype(x.dtype))
    _launch(kern, math.prod(out_shape), stream, x, out, indices)
    return out, indices


def max_pool2d_backward(
    dy, indices, x_shape, kernel, stride=None, padding=0, out=None, stream=0, pool=None
):
    dy = as_device(dy)
    geom = PoolGeom(kernel, stride, padding)
    out = alloc(tuple(x_shape), dy.dtype, pool) if out is None else out
    kern = _kernel("max_backward", geom, np.dtype(dy.dtype))
    _launch(kern, math.prod(x_shape), stream, dy, indices, out)
    return out


def avg_pool2d(
    x, kernel, stride=None, padding=0, count_include_pad=True, out=None, stream=0, pool=None
):
    x, geom, out_shape = _prepare(x, kernel, stride, padding)
    out = alloc(out_shape, x.dtype, pool) if out is None else out
    kern = _kernel("avg_forward", geom, np.dtype(x.dtype), bool(count_include_pad))
    _launch(kern, math.prod(out_shape), stream, x, out)
    return out


def avg_pool2d_backward(
    dy,
    x_shape,
    kernel,
    stride=None,
    padding=0,
    count_include_pad=True,
    out=None,
    stream=0,
    pool=None,
):
    dy = as_device(dy)
    geom = PoolGeom(kernel, stride, padding)
    out = alloc(tuple(x_shape), dy.dtype, pool) if out is None else out
    kern = _kernel("avg_backward", geom, np.dtype(dy.dtype), bool(count_include_pad))
    _launch(kern, math.prod(x_shape), stream, dy, out)
    return out
