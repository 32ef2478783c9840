"""Numba kernels for pooling over the last two axes of (B, H, W) arrays: thread ``t`` of
``T`` takes its share of B (``parallel.Shares`` runs the shares in one parallel region).

Windows are (KH, KW) with strides (sh, sw) and low paddings (plh, plw); padded taps
hold ``lowest`` (max) or 0 (sum). Max pooling's selection is the eager impls': the first
maximum in row-major window order, a NaN counting as the maximum (the first NaN wins);
when that tap is padding, the cotangent is dropped there as the eager impl crops it.

Arrays are indexed flat with unsigned indices: Numba's wraparound handling of signed
indices costs 10x in these loops.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_U = np.uint64


@njit
def _better(v, m):
    """Whether tap value ``v`` replaces the running selection ``m`` (first max; NaN wins
    over numbers, the first NaN over later ones)."""
    return v > m or (v != v and m == m)


@njit
def _select(xf, base, H, W, h0, w0, KH, KW, lowest):
    """Flat index of the selected tap of the window at (h0, w0) of the image at ``base``,
    or -1 when it is padding."""
    m = lowest
    best = -1
    found = False
    for kh in range(KH):
        h = h0 + kh
        inh = 0 <= h < H
        for kw in range(KW):
            w = w0 + kw
            inside = inh and 0 <= w < W
            v = xf[_U(base + h * W + w)] if inside else lowest
            if not found or _better(v, m):
                found = True
                m = v
                best = base + h * W + w if inside else -1
    return best


@njit(nogil=True)
def max_pool(t, T, x, out, KH, KW, sh, sw, plh, plw, lowest):
    B, H, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    xf = x.reshape(-1)
    of = out.reshape(-1)
    for b in range(t * B // T, (t + 1) * B // T):
        for oh in range(OH):
            h0 = oh * sh - plh
            ka, kb = max(0, -h0), min(KH, H - h0)
            for ow in range(OW):
                w0 = ow * sw - plw
                la, lb = max(0, -w0), min(KW, W - w0)
                m = lowest
                for kh in range(ka, kb):
                    row = _U((b * H + h0 + kh) * W + w0)
                    for kw in range(_U(la), _U(lb)):
                        v = xf[row + kw]
                        if v > m or v != v:
                            m = v
                of[_U((b * OH + oh) * OW + ow)] = m


@njit(nogil=True)
def max_pool_2x2(t, T, x, out):
    """The common case: 2x2 windows, stride 2, no padding."""
    B, H, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    xf = x.reshape(-1)
    of = out.reshape(-1)
    for b in range(t * B // T, (t + 1) * B // T):
        for oh in range(OH):
            i0 = _U((b * H + 2 * oh) * W)
            i1 = i0 + _U(W)
            o = _U((b * OH + oh) * OW)
            for ow in range(_U(OW)):
                j = ow + ow
                a, c = xf[i0 + j], xf[i0 + j + _U(1)]
                m = a if (a > c or a != a) else c
                d, e = xf[i1 + j], xf[i1 + j + _U(1)]
                m2 = d if (d > e or d != d) else e
                of[o + ow] = m if (m > m2 or m != m) else m2


@njit(nogil=True)
def sum_pool(t, T, x, out, KH, KW, sh, sw, plh, plw, zero):
    """Sums in row-major tap order, in the input dtype (as the eager impl)."""
    B, H, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    xf = x.reshape(-1)
    of = out.reshape(-1)
    for b in range(t * B // T, (t + 1) * B // T):
        for oh in range(OH):
            h0 = oh * sh - plh
            ka, kb = max(0, -h0), min(KH, H - h0)
            for ow in range(OW):
                w0 = ow * sw - plw
                la, lb = max(0, -w0), min(KW, W - w0)
                acc = zero
                for kh in range(ka, kb):
                    row = _U((b * H + h0 + kh) * W + w0)
                    for kw in range(_U(la), _U(lb)):
                        acc += xf[row + kw]
                of[_U((b * OH + oh) * OW + ow)] = acc


@njit(nogil=True)
def scatter_max(t, T, src, x, out, KH, KW, sh, sw, plh, plw, lowest, zero):
    """select_and_scatter_add: src (B, OH, OW) added at each window's selected tap of x
    (B, H, W) into out (B, H, W)."""
    B, H, W = x.shape
    OH, OW = src.shape[1], src.shape[2]
    xf = x.reshape(-1)
    of = out.reshape(-1)
    sf = src.reshape(-1)
    for b in range(t * B // T, (t + 1) * B // T):
        base = b * H * W
        for k in range(_U(H * W)):
            of[_U(base) + k] = zero
        for oh in range(OH):
            for ow in range(OW):
                i = _select(xf, base, H, W, oh * sh - plh, ow * sw - plw, KH, KW, lowest)
                if i >= 0:
                    of[_U(i)] += sf[_U((b * OH + oh) * OW + ow)]


@njit(nogil=True)
def scatter_max_2x2(t, T, src, x, out, zero):
    B, H, W = x.shape
    OH, OW = src.shape[1], src.shape[2]
    xf = x.reshape(-1)
    of = out.reshape(-1)
    sf = src.reshape(-1)
    for b in range(t * B // T, (t + 1) * B // T):
        for oh in range(OH):
            i0 = _U((b * H + 2 * oh) * W)
            i1 = i0 + _U(W)
            s = _U((b * OH + oh) * OW)
            for ow in range(_U(OW)):
                j = ow + ow
                a, c = xf[i0 + j], xf[i0 + j + _U(1)]
                d, e = xf[i1 + j], xf[i1 + j + _U(1)]
                v = sf[s + ow]
                if (a == a) & (c == c) & (d == d) & (e == e) & (v - v == 0):
                    # no NaN in the window, a finite cotangent: branch-free masks (the
                    # branchy selection below mispredicts on every window: 5x slower)
                    s0 = (a >= c) & (a >= d) & (a >= e)
                    s1 = ~s0 & (c >= d) & (c >= e)
                    s2 = ~s0 & ~s1 & (d >= e)
                    s3 = ~(s0 | s1 | s2)
                    of[i0 + j] = v * s0
                    of[i0 + j + _U(1)] = v * s1
                    of[i1 + j] = v * s2
                    of[i1 + j + _U(1)] = v * s3
                    continue
                k = 0
                m = a
                if _better(c, m):
                    k, m = 1, c
                if _better(d, m):
                    k, m = 2, d
                if _better(e, m):
                    k = 3
                of[i0 + j] = v if k == 0 else zero
                of[i0 + j + _U(1)] = v if k == 1 else zero
                of[i1 + j] = v if k == 2 else zero
                of[i1 + j + _U(1)] = v if k == 3 else zero
            if W > 2 * OW:   # a last odd column is in no window
                of[i0 + _U(W - 1)] = zero
                of[i1 + _U(W - 1)] = zero
        for k in range(_U(2 * OH * W), _U(H * W)):   # nor a last odd row
            of[_U(b * H * W) + k] = zero


@njit(nogil=True)
def gather_max(t, T, tan, x, out, KH, KW, sh, sw, plh, plw, lowest, zero):
    """select_and_gather_add: out (B, OH, OW) = tan (B, H, W) at each window's selected
    tap."""
    B, H, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    xf = x.reshape(-1)
    tf = tan.reshape(-1)
    of = out.reshape(-1)
    for b in range(t * B // T, (t + 1) * B // T):
        base = b * H * W
        for oh in range(OH):
            for ow in range(OW):
                i = _select(xf, base, H, W, oh * sh - plh, ow * sw - plw, KH, KW, lowest)
                of[_U((b * OH + oh) * OW + ow)] = tf[_U(i)] if i >= 0 else zero
