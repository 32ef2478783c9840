"""Numba kernels for 2-D convolution (1-D convs come as H = 1), three formulations.

Each is thread ``t``'s share of the work (``parallel.Shares`` runs all ``T`` shares in
one parallel region): its contiguous share of the work items, packing a tile of columns
into its own row of ``scratch`` (sized to stay in the core's L2 cache) and calling a
single-threaded GEMM (``blas.sgemm``/``dgemm``) on it.

- ``gather`` (im2col): ``out[n, g] (Og, positions) = w[g] (Og, I*taps) @ cols``, the
  columns being the input under every window tap; GEMM writes straight into ``out``.
- ``scatter`` (col2im): ``cols = w[g]^T (Fg*taps, Cg) @ x[n, g] (Cg, input positions)``,
  then each column is added to the output positions its taps reach. For convs whose
  input is smaller than their output: the input gradient of a conv (lhs dilation and
  full padding), which ``gather`` would feed mostly zeros.
- ``wgrad``: the weight gradient, whose "kernel" is the cotangent (as big as the image):
  ``acc[t] (C*taps, O) += cols @ g[n]^T (positions, O)`` over the images of thread
  ``t`` (``cols`` are the forward conv's), then the per-thread sums are added.

The bodies are compiled into ``Shares``' generated entry points, which are cached on disk
(with these sources' hash in their key), not cached themselves.

Window geometry for ``gather``/``wgrad`` packing: output position ``p`` (per spatial dim)
and tap ``k`` read the padded, dilated input at ``p * stride + k * dil - pad_lo``, which
is input element ``(that) / lhs_dil`` when it divides and lies inside, else zero.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .blas import NO_TRANS, TRANS
from .gemm_kernels import _gemm


@njit
def _range(off, stride, dil, size, count):
    """Positions ``p`` in [0, count) whose ``p * stride + off`` is a multiple of ``dil`` in
    [0, size * dil): returns (first, last + 1) for dil == 1, else (0, count) (checked
    per element)."""
    if dil != 1:
        return 0, count
    a = 0 if off >= 0 else (-off + stride - 1) // stride
    top = size - 1 - off
    b = top // stride + 1 if top >= 0 else 0
    b = min(b, count)
    return min(a, b), b


@njit
def _fill0(a, start, n):
    s = np.uint64(start)
    for k in range(np.uint64(n)):
        a[s + k] = 0


@njit
def _copy(dst, d0, src, s0, n, step):
    """dst[d0 + k] = src[s0 + k * step], k < n. Unsigned indices: Numba's wraparound
    handling of signed ones keeps LLVM from vectorising these loops (10x slower)."""
    d = np.uint64(d0)
    s = np.uint64(s0)
    if step == 1:
        for k in range(np.uint64(n)):
            dst[d + k] = src[s + k]
    else:
        st = np.uint64(step)
        for k in range(np.uint64(n)):
            dst[d + k] = src[s + k * st]


@njit
def _add(dst, d0, src, s0, n):
    d = np.uint64(d0)
    s = np.uint64(s0)
    for k in range(np.uint64(n)):
        dst[d + k] += src[s + k]


@njit
def _pack(x, n, c0, nch, KH, KW, oh0, oh1, OW, sh, sw, plh, plw, lh, lw, dh, dw, cols):
    """cols[(i*KH + kh)*KW + kw, (oh - oh0)*OW + ow] = xp[n, c0 + i, window tap]."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    xf = x.reshape(-1)
    ncol = (oh1 - oh0) * OW
    for i in range(nch):
        for kh in range(KH):
            for kw in range(KW):
                r = ((i * KH + kh) * KW + kw) * ncol
                offw = kw * dw - plw
                a, b = _range(offw, sw, lw, W, OW)
                for oh in range(oh0, oh1):
                    dst = r + (oh - oh0) * OW
                    hp = oh * sh + kh * dh - plh
                    hh = hp // lh
                    if hp < 0 or hp - hh * lh != 0 or hh >= H:
                        _fill0(cols, dst, OW)
                        continue
                    base = ((n * C + c0 + i) * H + hh) * W
                    if lw == 1:
                        _fill0(cols, dst, a)
                        _copy(cols, dst + a, xf, base + a * sw + offw, b - a, sw)
                        _fill0(cols, dst + b, OW - b)
                    else:
                        for ow in range(OW):
                            wp = ow * sw + offw
                            ww = wp // lw
                            if wp < 0 or wp - ww * lw != 0 or ww >= W:
                                cols[dst + ow] = 0
                            else:
                                cols[dst + ow] = xf[base + ww]


@njit(nogil=True)
def gather(t, T, x, w, out, scratch, groups, rows, sh, sw, plh, plw, lh, lw, dh, dw):
    """x (N, C, H, W), w (O, C/groups, KH, KW), out (N, O, OH, OW); tiles of ``rows``
    output rows."""
    N = x.shape[0]
    O, I, KH, KW = w.shape
    OH, OW = out.shape[2], out.shape[3]
    og = O // groups
    ik = I * KH * KW
    ntiles = (OH + rows - 1) // rows
    items = N * groups * ntiles
    isz = x.itemsize
    wp = w.ctypes.data
    op = out.ctypes.data
    cols = scratch[t]
    cp = cols.ctypes.data
    for it in range(t * items // T, (t + 1) * items // T):
        n = it // (groups * ntiles)
        g = (it // ntiles) % groups
        oh0 = (it % ntiles) * rows
        oh1 = min(OH, oh0 + rows)
        ncol = (oh1 - oh0) * OW
        _pack(x, n, g * I, I, KH, KW, oh0, oh1, OW, sh, sw, plh, plw, lh, lw, dh, dw,
              cols)
        _gemm(isz, NO_TRANS, NO_TRANS, og, ncol, ik, wp + g * og * ik * isz, ik, cp,
              ncol, 0.0, op + ((n * O + g * og) * OH * OW + oh0 * OW) * isz, OH * OW)


@njit(nogil=True)
def scatter(t, T, x, wt, out, scratch, groups, KH, KW, rows, sh, sw, plh, plw, lh, lw, dh,
            dw):
    """x (N, C, H, W), wt (groups, Fg*KH*KW, C/groups) (the kernel w (F, C/groups, KH, KW)
    with taps before input features), out (N, F, OH, OW); tiles of ``rows`` input rows.
    Input element (h, w) meets tap (kh, kw) at output (oh, ow) when
    ``oh * sh = h * lh + plh - kh * dh`` (and likewise along W)."""
    N, C, H, W = x.shape
    F, OH, OW = out.shape[1], out.shape[2], out.shape[3]
    fg = F // groups
    cg = C // groups
    ftk = fg * KH * KW
    ntiles = (H + rows - 1) // rows
    isz = x.itemsize
    xp = x.ctypes.data
    wp = wt.ctypes.data
    of = out.reshape(-1)
    cols = scratch[t]
    cp = cols.ctypes.data
    for n in range(t * N // T, (t + 1) * N // T):
        _fill0(of, n * F * OH * OW, F * OH * OW)
        for g in range(groups):
            for tile in range(ntiles):
                h0 = tile * rows
                h1 = min(H, h0 + rows)
                ncol = (h1 - h0) * W
                _gemm(isz, NO_TRANS, NO_TRANS, ftk, ncol, cg, wp + g * ftk * cg * isz, cg,
                      xp + ((n * C + g * cg) * H * W + h0 * W) * isz, H * W, 0.0, cp, ncol)
                for f in range(fg):
                    dst = ((n * F + g * fg + f) * OH) * OW
                    for kh in range(KH):
                        for kw in range(KW):
                            r = ((f * KH + kh) * KW + kw) * ncol
                            offw = plw - kw * dw
                            # input w meets output ow = (w * lw + offw) / sw
                            a = max(0, -offw)
                            b = min(W, OW - offw)
                            for h in range(h0, h1):
                                num = h * lh + plh - kh * dh
                                oh = num // sh
                                if num < 0 or num - oh * sh != 0 or oh >= OH:
                                    continue
                                src = r + (h - h0) * W
                                orow = dst + oh * OW
                                if lw == 1 and sw == 1:
                                    if a < b:
                                        _add(of, orow + a + offw, cols, src + a, b - a)
                                else:
                                    for w_ in range(W):
                                        nw = w_ * lw + offw
                                        ow = nw // sw
                                        if nw >= 0 and nw - ow * sw == 0 and ow < OW:
                                            of[orow + ow] += cols[src + w_]


@njit(nogil=True)
def wgrad(t, T, x, g, out, scratch, acc, rows, sh, sw, plh, plw, lh, lw, dh, dw):
    """The conv ``out (C, O, KH, KW) = conv(x^T (C, N, H, W), g^T (O, N, OH, OW))`` that
    the transpose rule makes for a weight gradient, given x (N, C, H, W) and
    g (N, O, OH, OW). ``sh, sw, dh, dw``: the forward conv's strides and dilations (this
    conv's rhs dilation and strides), ``plh, plw, lh, lw`` its padding and lhs dilation.
    ``acc`` (T, C*KH*KW, O) holds per-thread sums (transposed: that GEMM is faster), which
    the caller adds up into ``out``."""
    N, C = x.shape[0], x.shape[1]
    O, OH, OW = g.shape[1], g.shape[2], g.shape[3]
    KH, KW = out.shape[2], out.shape[3]
    ck = C * KH * KW
    ntiles = (OH + rows - 1) // rows
    isz = x.itemsize
    gp = g.ctypes.data
    ap = acc.ctypes.data
    acc[t] = 0
    cols = scratch[t]
    cp = cols.ctypes.data
    for n in range(t * N // T, (t + 1) * N // T):
        for tile in range(ntiles):
            oh0 = tile * rows
            oh1 = min(OH, oh0 + rows)
            ncol = (oh1 - oh0) * OW
            _pack(x, n, 0, C, KH, KW, oh0, oh1, OW, sh, sw, plh, plw, lh, lw, dh, dw,
                  cols)
            # acc[t] (C*KH*KW, O) += cols (C*KH*KW, ncol) @ g[n, :, rows]^T
            _gemm(isz, NO_TRANS, TRANS, ck, O, ncol, cp, ncol,
                  gp + (n * O * OH * OW + oh0 * OW) * isz, OH * OW, 1.0,
                  ap + t * O * ck * isz, O)
