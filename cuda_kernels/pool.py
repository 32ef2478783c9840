"""2-D max and average pooling over NCHW, forward and backward (PyTorch semantics, no ceil_mode).

Backward passes are gathers: each input pixel sums the output windows that cover it, so
overlapping windows need no atomics and results are deterministic. Max pooling records the
argmax as a flat ``h * W + w`` int32 index per output (padding counts as -inf; NaN wins).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

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


class _WindowFns(NamedTuple):
    window: object  # output (p, q) -> its window [h0, h1) x [w0, w1), clipped to the input
    covering: object  # input (h, w) -> the outputs [p0, p1) x [q0, q1) whose windows hold it
    at_window: object  # (i, Z, S) -> (n, c, a, b) of Z's flat element i, then window(a, b)
    at_covering: object  # (i, Z, S) -> (n, c, a, b) of Z's flat element i, then covering


@functools.cache
def _window_fns(geom):
    """Device helpers (``_WindowFns``). Every pooling kernel is a grid-stride loop over the
    elements of its result Z, each reducing a rectangle of its source S; ``shape`` is the
    (N, C, H, W) shape a rectangle is clipped to."""
    KH, KW, SH, SW, PH, PW = geom

    @device_fn
    def window(p, q, shape):
        h0, w0 = p * SH - PH, q * SW - PW
        return max(h0, 0), min(h0 + KH, shape[2]), max(w0, 0), min(w0 + KW, shape[3])

    @device_fn
    def covering(h, w, shape):
        p0 = max(0, (h + PH - KH) // SH + 1)
        q0 = max(0, (w + PW - KW) // SW + 1)
        return p0, min(shape[2], (h + PH) // SH + 1), q0, min(shape[3], (w + PW) // SW + 1)

    def at(rect):
        @device_fn
        def locate(i, Z, S):
            n, c, a, b = _coords(i, Z.shape)
            a0, a1, b0, b1 = rect(a, b, S.shape)
            return n, c, a, b, a0, a1, b0, b1

        return locate

    return _WindowFns(window, covering, at(window), at(covering))


@functools.cache
def _divisor(geom, count_include_pad):
    """Device helper: average pooling's divisor for a clipped window (h0, h1, w0, w1)."""
    KH, KW = geom[0], geom[1]

    @device_fn
    def divisor(h0, h1, w0, w1):
        return float32(KH * KW if count_include_pad else (h1 - h0) * (w1 - w0))

    return divisor


@device_fn
def _coords(i, shape):
    """Split flat index i over an (N, C, H, W) shape -> (n, c, h, w)."""
    b = i % shape[3]
    a = (i // shape[3]) % shape[2]
    nc = i // (shape[2] * shape[3])
    return nc // shape[1], nc % shape[1], a, b


def _max_kernels(geom, dtype):
    """Max pooling's forward kernel, which records each window's argmax in IDX, and its
    backward, where each input pixel sums the outputs whose argmax it is: (pyfunc,
    signature) pairs."""
    fns = _window_fns(geom)
    at_window, at_covering = fns.at_window, fns.at_covering
    to32, cvt = _dtypes.to_f32(dtype), _dtypes.from_f32(dtype)
    a4, idx4 = _arr(dtype), types.Array(int32, 4, "C")

    def max_pool(X, Y, IDX):
        i = cuda.grid(1)
        W = X.shape[3]
        while i < Y.size:
            n, c, p, q, h0, h1, w0, w1 = at_window(i, Y, X)
            best, arg = float32(-math.inf), int32(-1)
            for h in range(h0, h1):
                for w in range(w0, w1):
                    v = to32(X[n, c, h, w])
                    if arg < 0 or v > best or (v != v and best == best):
                        best, arg = v, int32(h * W + w)
            Y[n, c, p, q] = cvt(best)
            IDX[n, c, p, q] = arg
            i += cuda.gridsize(1)

    def max_pool_backward(DY, IDX, DX):
        i = cuda.grid(1)
        W = DX.shape[3]
        while i < DX.size:
            n, c, h, w, p0, p1, q0, q1 = at_covering(i, DX, DY)
            me = h * W + w
            acc = float32(0)
            for p in range(p0, p1):
                for q in range(q0, q1):
                    if IDX[n, c, p, q] == me:
                        acc += to32(DY[n, c, p, q])
            DX[n, c, h, w] = cvt(acc)
            i += cuda.gridsize(1)

    return (max_pool, types.void(a4, a4, idx4)), (max_pool_backward, types.void(a4, idx4, a4))


def build_max_forward(geom, dtype):
    return _max_kernels(geom, dtype)[0]


def build_max_backward(geom, dtype):
    return _max_kernels(geom, dtype)[1]


def _build_avg(geom, dtype, count_include_pad, adjoint):
    """Average pooling (``adjoint`` False: S = X, Z = Y) or its adjoint, the backward pass
    (S = DY, Z = DX): each element of Z sums S over a rectangle, the window of an output
    pixel or the outputs covering an input pixel. The forward pass divides the window's sum
    once; the adjoint divides each output's term by that output's divisor. ``adjoint`` is
    a compile-time constant."""
    fns = _window_fns(geom)
    window, locate = fns.window, fns.at_covering if adjoint else fns.at_window
    divisor = _divisor(geom, count_include_pad)
    to32, cvt = _dtypes.to_f32(dtype), _dtypes.from_f32(dtype)

    def avg_pool(S, Z):
        i = cuda.grid(1)
        while i < Z.size:
            n, c, a, b, a0, a1, b0, b1 = locate(i, Z, S)
            acc = float32(0)
            for u in range(a0, a1):
                for v in range(b0, b1):
                    if adjoint:
                        h0, h1, w0, w1 = window(u, v, Z.shape)
                        acc += to32(S[n, c, u, v]) / divisor(h0, h1, w0, w1)
                    else:
                        acc += to32(S[n, c, u, v])
            Z[n, c, a, b] = cvt(acc if adjoint else acc / divisor(a0, a1, b0, b1))
            i += cuda.gridsize(1)

    return avg_pool, types.void(_arr(dtype), _arr(dtype))


def build_avg_forward(geom, dtype, count_include_pad):
    return _build_avg(geom, dtype, count_include_pad, False)


def build_avg_backward(geom, dtype, count_include_pad):
    return _build_avg(geom, dtype, count_include_pad, True)


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
