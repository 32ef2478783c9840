"""2-D convolution (NCHW input, OIHW weight, PyTorch semantics) as implicit GEMM.

All three passes reuse the GEMM tiling of :mod:`cuda_kernels._gemm`; only the operand
loaders differ, gathering im2col elements on the fly (zero padding, stride and dilation are
index arithmetic in the loader; groups are the GEMM batch):

=================  ======  =============  ===========  ===============================
pass               M       N              K            operands
=================  ======  =============  ===========  ===============================
forward            O/G     batch*P*Q      C/G*R*S      weight, gathered x
backward data      C/G     batch*H*W      O/G*R*S      weight (as W^T), gathered dy
backward weight    O/G     C/G*R*S        batch*P*Q    dy, gathered x; split-K
=================  ======  =============  ===========  ===============================

The layer geometry (all but the batch size) is compiled in, so every index division in the
loaders is by a constant. Backward-weight has few output tiles and a huge K, so it splits K
across blocks and sums the partials in a second, fixed-order pass (deterministic).

``algo="im2col"`` selects the explicit fallback: materialise im2col columns, run the batched
matmul, and permute/fold the result.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
from numba import cuda, float32, types, uint64

from . import _dtypes, _gemm
from ._common import (
    THREADS_1D,
    alloc,
    as_device,
    blocks_for,
    ceil_div,
    device_fn,
    jit_kernel,
    release,
)
from .matmul import batched_matmul


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


class ConvGeom(NamedTuple):
    """Everything about a conv layer except the batch size (a compile-time key)."""

    c: int
    h: int
    w: int
    o: int
    r: int
    s: int
    sh: int
    sw: int
    ph: int
    pw: int
    dh: int
    dw: int
    groups: int

    @classmethod
    def make(cls, x_shape, w_shape, stride=1, padding=0, dilation=1, groups=1):
        _, c, h, w = x_shape
        o, cg, r, s = w_shape
        if c != cg * groups or o % groups:
            raise ValueError(f"channels {c}/{o} do not match weight {w_shape} with {groups} groups")
        geom = cls(c, h, w, o, r, s, *_pair(stride), *_pair(padding), *_pair(dilation), groups)
        if geom.p <= 0 or geom.q <= 0:
            raise ValueError(f"empty output for {geom}")
        return geom

    @property
    def p(self) -> int:
        return (self.h + 2 * self.ph - self.dh * (self.r - 1) - 1) // self.sh + 1

    @property
    def q(self) -> int:
        return (self.w + 2 * self.pw - self.dw * (self.s - 1) - 1) // self.sw + 1

    @property
    def cg(self) -> int:
        return self.c // self.groups

    @property
    def og(self) -> int:
        return self.o // self.groups


def _array(dtype, ndim):
    return types.Array(_dtypes.storage_type(dtype), ndim, "C")


def _indexers(geom: ConvGeom):
    """Device functions splitting flat GEMM indices into conv coordinates (constant divisors)."""
    RS, S, PQ, Q, HW, W = geom.r * geom.s, geom.s, geom.p * geom.q, geom.q, geom.h * geom.w, geom.w

    @device_fn
    def crs(k):
        return k // RS, (k % RS) // S, k % S

    @device_fn
    def npq(n):
        return n // PQ, (n % PQ) // Q, n % Q

    @device_fn
    def nhw(n):
        return n // HW, (n % HW) // W, n % W

    return crs, npq, nhw


# Loaders index with uint64 (all indices are in bounds and non-negative by then): Numba then
# skips its negative-index fix-ups and the address arithmetic stays simple.


def _x_tap(geom: ConvGeom, dtype):
    """Device function reading one im2col element, shared by the implicit-GEMM loaders and
    the explicit fallback: x at filter tap (r, s) of output pixel (p, q), 0 in the padding."""
    H, W = geom.h, geom.w
    SH, SW, PH, PW, DH, DW = geom.sh, geom.sw, geom.ph, geom.pw, geom.dh, geom.dw
    to32 = _dtypes.to_f32(dtype)

    @device_fn
    def x_tap(X, b, c, p, q, r, s):
        h = p * SH - PH + r * DH
        w = q * SW - PW + s * DW
        if 0 <= h < H and 0 <= w < W:
            return to32(X[uint64(b), uint64(c), uint64(h), uint64(w)])
        return float32(0)

    return x_tap


def _dy_tap(geom: ConvGeom, read):
    """Device function ``(A, i, j, b, h, w, r, s)``: the transposed conv's gather, shared by
    backward-data's loader and the fallback's col2im. It is ``read(A, i, j, b, p, q)`` at the
    output pixel (p, q) whose filter tap (r, s) reads input pixel (h, w), 0 where none does
    (padding, stride gaps); ``read`` is inlined where the bounds are known to hold."""
    P, Q = geom.p, geom.q
    SH, SW, PH, PW, DH, DW = geom.sh, geom.sw, geom.ph, geom.pw, geom.dh, geom.dw

    @device_fn
    def dy_tap(A, i, j, b, h, w, r, s):
        hp = h + PH - r * DH
        wq = w + PW - s * DW
        if hp >= 0 and wq >= 0 and hp % SH == 0 and wq % SW == 0:
            p = hp // SH
            q = wq // SW
            if p < P and q < Q:
                return read(A, i, j, b, p, q)
        return float32(0)

    return dy_tap


def _nchw_epilogue(channels, group_channels, plane, cvt):
    """GEMM column n = (image, pixel), row m = channel within group z -> flat NCHW offset."""

    @device_fn
    def col_index(z, n, M, N):
        b = n // plane
        return (b * channels + z * group_channels) * plane + (n - b * plane)

    @device_fn
    def row_index(m, N):
        return m * plane

    return _gemm.Epilogue(col_index, row_index, cvt)


def build_forward(geom: ConvGeom, tile, dtype):
    CG, OG, PQ = geom.cg, geom.og, geom.p * geom.q
    crs, npq, _ = _indexers(geom)
    x_tap = _x_tap(geom, dtype)
    to32, from32 = _dtypes.to_f32(dtype), _dtypes.from_f32(dtype)

    @device_fn
    def load_w(Wt, g, m, k):  # weight viewed as (O, C/G*R*S)
        return to32(Wt[uint64(g * OG + m), uint64(k)])

    @device_fn
    def load_x(X, g, k, n):
        c, r, s = crs(k)
        b, p, q = npq(n)
        return x_tap(X, b, g * CG + c, p, q, r, s)

    fn = _gemm.build(tile, True, False, load_w, load_x, _nchw_epilogue(geom.o, OG, PQ, from32))
    return fn, _gemm.signature(_array(dtype, 2), _array(dtype, 4), _array(dtype, 1))


def build_backward_data(geom: ConvGeom, tile, dtype):
    CG, OG = geom.cg, geom.og
    crs, _, nhw = _indexers(geom)
    to32, from32 = _dtypes.to_f32(dtype), _dtypes.from_f32(dtype)

    @device_fn
    def read_dy(DY, _, c, b, p, q):
        return to32(DY[uint64(b), uint64(c), uint64(p), uint64(q)])

    dy_tap = _dy_tap(geom, read_dy)

    @device_fn
    def load_wt(Wt, g, m, k):  # W^T: row = input channel, k = (o, r, s)
        o, r, s = crs(k)
        return to32(Wt[uint64(g * OG + o), uint64(m), uint64(r), uint64(s)])

    @device_fn
    def load_dy(DY, g, k, n):
        o, r, s = crs(k)
        b, h, w = nhw(n)
        return dy_tap(DY, 0, g * OG + o, b, h, w, r, s)

    epilogue = _nchw_epilogue(geom.c, CG, geom.h * geom.w, from32)
    fn = _gemm.build(tile, True, False, load_wt, load_dy, epilogue)
    return fn, _gemm.signature(_array(dtype, 4), _array(dtype, 4), _array(dtype, 1))


def build_backward_weight(geom: ConvGeom, tile, dtype, partial=False):
    CG, OG = geom.cg, geom.og
    crs, npq, _ = _indexers(geom)
    x_tap = _x_tap(geom, dtype)
    to32 = _dtypes.to_f32(dtype)

    @device_fn
    def load_dy(DY, g, m, k):
        b, p, q = npq(k)
        return to32(DY[uint64(b), uint64(g * OG + m), uint64(p), uint64(q)])

    @device_fn
    def load_x(X, g, k, n):
        b, p, q = npq(k)
        c, r, s = crs(n)
        return x_tap(X, b, g * CG + c, p, q, r, s)

    # The weight gradient (O, C/G, R, S) is the dense (G, O/G, C/G*R*S) GEMM output.
    epilogue = _gemm.PARTIALS if partial else _gemm.dense(dtype)
    c_type = _array(np.float32 if partial else dtype, 1)
    fn = _gemm.build(tile, True, True, load_dy, load_x, epilogue)
    return fn, _gemm.signature(_array(dtype, 4), _array(dtype, 4), c_type)


_BUILDERS = {
    "forward": build_forward,
    "backward_data": build_backward_data,
    "backward_weight": build_backward_weight,
}


@functools.cache
def _kernel(kind, geom, tile, dtype, partial):
    extra = (partial,) if kind == "backward_weight" else ()
    fn, sig = _BUILDERS[kind](geom, tile, dtype, *extra)
    return jit_kernel(fn, sig, threads=tile.threads)


def _launch(kind, geom, tile, a, b, c, dims, stream, splits=1, partial=False):
    """Run one implicit-GEMM pass; ``dims`` is (M, N, K, k_split), ``c`` the flat output."""
    kern = _kernel(kind, geom, tile, np.dtype(a.dtype), partial)
    grid = _gemm.grid(tile, dims[0], dims[1], geom.groups * splits)
    kern[grid, tile.threads, stream](_dtypes.raw(a), _dtypes.raw(b), _dtypes.raw(c), *dims)


def _prepare(kind, a, b, shape, out, layer, algo, pool):
    """The checks and set-up every pass shares: operands ``a``, ``b`` on the device with one
    float dtype, the geometry (``shape`` is the x or w shape a backward pass is not given as
    an operand; ``layer`` is (stride, padding, dilation, groups)), dy's shape (``a`` in the
    backward passes) and the output, allocated when ``out`` is None.

    Returns (geom, a, b, out)."""
    if algo not in ("implicit", "im2col"):
        raise ValueError(f"unknown conv algorithm {algo!r}")
    a, b = as_device(a), as_device(b)
    _dtypes.check_float(a.dtype)
    if np.dtype(a.dtype) != np.dtype(b.dtype):
        raise TypeError("conv2d operands must share a dtype")
    x_shape, w_shape = {"forward": (a.shape, b.shape), "backward_data": (shape, b.shape),
                        "backward_weight": (b.shape, shape)}[kind]
    geom = ConvGeom.make(x_shape, w_shape, *layer)
    y_shape = (x_shape[0], geom.o, geom.p, geom.q)
    if kind != "forward" and tuple(a.shape) != y_shape:
        raise ValueError(f"expected shape {y_shape}, got {tuple(a.shape)}")
    if out is None:
        out_shape = {"forward": y_shape, "backward_data": x_shape, "backward_weight": w_shape}
        out = alloc(tuple(out_shape[kind]), a.dtype, pool)
    return geom, a, b, as_device(out)


def conv2d_forward(x, w, out=None, stride=1, padding=0, dilation=1, groups=1, stream=0,
                   algo="implicit", tile=None, pool=None):
    """``y = conv2d(x, w)``: x (N, C, H, W), w (O, C/groups, R, S) -> y (N, O, P, Q)."""
    layer = (stride, padding, dilation, groups)
    geom, x, w, out = _prepare("forward", x, w, None, out, layer, algo, pool)
    if algo == "im2col":
        return _im2col_forward(geom, x, w, out, stream, pool)
    m, n, k = geom.og, x.shape[0] * geom.p * geom.q, geom.cg * geom.r * geom.s
    tile = tile or _gemm.pick_tile(m, n, geom.groups)
    _launch("forward", geom, tile, w.reshape(geom.o, k), x, out.reshape(-1), (m, n, k, k), stream)
    return out


def conv2d_backward_data(dy, w, x_shape, out=None, stride=1, padding=0, dilation=1, groups=1,
                         stream=0, algo="implicit", tile=None, pool=None):
    """``dx`` of shape ``x_shape`` from dy (N, O, P, Q) and w (O, C/groups, R, S)."""
    layer = (stride, padding, dilation, groups)
    geom, dy, w, out = _prepare("backward_data", dy, w, x_shape, out, layer, algo, pool)
    if algo == "im2col":
        return _im2col_backward_data(geom, dy, w, out, stream, pool)
    m, n, k = geom.cg, x_shape[0] * geom.h * geom.w, geom.og * geom.r * geom.s
    tile = tile or _gemm.pick_tile(m, n, geom.groups)
    _launch("backward_data", geom, tile, w, dy, out.reshape(-1), (m, n, k, k), stream)
    return out


def conv2d_backward_weight(dy, x, w_shape, out=None, stride=1, padding=0, dilation=1, groups=1,
                           stream=0, algo="implicit", tile=None, splits=None, pool=None):
    """``dw`` of shape ``w_shape`` from dy (N, O, P, Q) and x (N, C, H, W)."""
    layer = (stride, padding, dilation, groups)
    geom, dy, x, out = _prepare("backward_weight", dy, x, w_shape, out, layer, algo, pool)
    if algo == "im2col":
        return _im2col_backward_weight(geom, dy, x, out, stream, pool)
    m, n, k = geom.og, geom.cg * geom.r * geom.s, x.shape[0] * geom.p * geom.q
    tile = tile or _gemm.pick_tile(m, n, geom.groups, split_k=k)
    if splits is None:
        splits = _gemm.pick_splits(tile, m, n, geom.groups, k)
    k_split = _gemm.k_split_len(tile, k, splits)
    splits = max(1, ceil_div(k, k_split))
    dims = (m, n, k, k_split)
    if splits == 1:
        _launch("backward_weight", geom, tile, dy, x, out.reshape(-1), dims, stream)
        return out
    parts = alloc((geom.groups, splits, m, n), np.float32, pool)
    _launch("backward_weight", geom, tile, dy, x, parts.reshape(-1), dims, stream, splits, True)
    _gemm.sum_splits(parts.reshape(geom.groups, splits, m * n), out.reshape(-1), stream)
    release(parts, pool)
    return out


# --- explicit im2col fallback -------------------------------------------------------------
# Columns are laid out (G, C/G*R*S, N*P*Q) so that each group is one matmul batch entry.


def build_fallback(geom: ConvGeom, dtype):
    """(pyfunc, signature) of the im2col, col2im and swap01 kernels."""
    CG, R, S, H, W, P, Q = geom.cg, geom.r, geom.s, geom.h, geom.w, geom.p, geom.q
    K = CG * R * S
    crs, npq, _ = _indexers(geom)
    x_tap = _x_tap(geom, dtype)
    to32, from32 = _dtypes.to_f32(dtype), _dtypes.from_f32(dtype)

    @device_fn
    def read_cols(cols, g, k, b, p, q):
        return to32(cols[g, k, (b * P + p) * Q + q])

    dy_tap = _dy_tap(geom, read_cols)

    def im2col(X, cols):
        """cols[g, k, n] = x gathered for output pixel n and filter tap k (0 in the padding)."""
        i = cuda.grid(1)
        while i < cols.size:
            n = i % cols.shape[2]
            k = (i // cols.shape[2]) % K
            g = i // (cols.shape[2] * K)
            c, r, s = crs(k)
            b, p, q = npq(n)
            cols[g, k, n] = from32(x_tap(X, b, g * CG + c, p, q, r, s))
            i += cuda.gridsize(1)

    def col2im(cols, DX):
        """dx = sum of the column entries that im2col copied from each input pixel (a gather)."""
        i = cuda.grid(1)
        while i < DX.size:
            j = i % (H * W)
            cidx = (i // (H * W)) % DX.shape[1]
            b = i // (H * W * DX.shape[1])
            h = j // W
            w = j % W
            g = cidx // CG
            c = cidx % CG
            acc = float32(0)
            for r in range(R):
                for s in range(S):
                    acc += dy_tap(cols, g, (c * R + r) * S + s, b, h, w, r, s)
            DX[b, cidx, h, w] = from32(acc)
            i += cuda.gridsize(1)

    def swap01(src, dst):
        """dst[j, i, k] = src[i, j, k]: (N, O, P*Q) <-> (O, N, P*Q), i.e. NCHW <-> per-group."""
        i = cuda.grid(1)
        while i < src.size:
            k = i % src.shape[2]
            jj = (i // src.shape[2]) % src.shape[1]
            ii = i // (src.shape[2] * src.shape[1])
            dst[jj, ii, k] = src[ii, jj, k]
            i += cuda.gridsize(1)

    a3, a4 = _array(dtype, 3), _array(dtype, 4)
    return (im2col, types.void(a4, a3)), (col2im, types.void(a3, a4)), (swap01, types.void(a3, a3))


@functools.cache
def _fallback_kernels(geom: ConvGeom, dtype):
    return tuple(jit_kernel(fn, sig) for fn, sig in build_fallback(geom, dtype))


def _elementwise_launch(kernel, n, stream, *args):
    kernel[blocks_for(n), THREADS_1D, stream](*(_dtypes.raw(a) for a in args))


def _columns(geom, x, stream, pool):
    im2col = _fallback_kernels(geom, np.dtype(x.dtype))[0]
    npix = x.shape[0] * geom.p * geom.q
    cols = alloc((geom.groups, geom.cg * geom.r * geom.s, npix), x.dtype, pool)
    _elementwise_launch(im2col, cols.size, stream, x, cols)
    return cols


def _im2col_forward(geom, x, w, out, stream, pool):
    swap01 = _fallback_kernels(geom, np.dtype(x.dtype))[2]
    nb, pq = x.shape[0], geom.p * geom.q
    cols = _columns(geom, x, stream, pool)
    w3 = w.reshape(geom.groups, geom.og, geom.cg * geom.r * geom.s)
    y = batched_matmul(w3, cols, stream=stream, pool=pool)  # (G, O/G, N*P*Q)
    _elementwise_launch(
        swap01, y.size, stream, y.reshape(geom.o, nb, pq), out.reshape(nb, geom.o, pq)
    )
    release(cols, pool)
    release(y, pool)
    return out


def _per_group_dy(geom, dy, stream, pool):
    swap01 = _fallback_kernels(geom, np.dtype(dy.dtype))[2]
    nb, pq = dy.shape[0], geom.p * geom.q
    dyg = alloc((geom.o, nb, pq), dy.dtype, pool)
    _elementwise_launch(swap01, dyg.size, stream, dy.reshape(nb, geom.o, pq), dyg)
    return dyg.reshape(geom.groups, geom.og, nb * pq)


def _im2col_backward_data(geom, dy, w, out, stream, pool):
    col2im = _fallback_kernels(geom, np.dtype(dy.dtype))[1]
    dyg = _per_group_dy(geom, dy, stream, pool)
    w3 = w.reshape(geom.groups, geom.og, geom.cg * geom.r * geom.s)
    dcols = batched_matmul(w3, dyg, trans_a=True, stream=stream, pool=pool)
    _elementwise_launch(col2im, out.size, stream, dcols, out)
    release(dyg, pool)
    release(dcols, pool)
    return out


def _im2col_backward_weight(geom, dy, x, out, stream, pool):
    dyg = _per_group_dy(geom, dy, stream, pool)
    cols = _columns(geom, x, stream, pool)
    k = geom.cg * geom.r * geom.s
    batched_matmul(
        dyg, cols, out=out.reshape(geom.groups, geom.og, k), trans_b=True, stream=stream, pool=pool
    )
    release(dyg, pool)
    release(cols, pool)
    return out
