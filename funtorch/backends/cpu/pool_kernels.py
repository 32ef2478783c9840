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


def _folding(fold):
    """A pooling kernel ``(t, T, x, out, KH, KW, sh, sw, plh, plw, init)`` folding
    ``acc = fold(acc, tap)`` from ``init`` over each window's in-bounds taps in row-major
    order: one window walk for every reduction (``fold`` is inlined into it)."""

    @njit(nogil=True)
    def pool(t, T, x, out, KH, KW, sh, sw, plh, plw, init):
        (B, H, W), (OH, OW) = x.shape, out.shape[1:]
        xf, of = x.reshape(-1), out.reshape(-1)
        for b in range(t * B // T, (t + 1) * B // T):
            for oh in range(OH):
                h0 = oh * sh - plh
                ka, kb = max(0, -h0), min(KH, H - h0)
                for ow in range(OW):
                    w0 = ow * sw - plw
                    la, lb = max(0, -w0), min(KW, W - w0)
                    acc = init
                    for kh in range(ka, kb):
                        row = _U((b * H + h0 + kh) * W + w0)
                        for kw in range(_U(la), _U(lb)):
                            acc = fold(acc, xf[row + kw])
                    of[_U((b * OH + oh) * OW + ow)] = acc

    return pool


@njit
def _max(m, v):
    return v if v > m or v != v else m


@njit
def _add(acc, v):
    return acc + v


max_pool = _folding(_max)   # init: the dtype's lowest value
sum_pool = _folding(_add)   # init: 0; sums in the input dtype, as the eager impl


@njit
def _quad(xf, i0, i1, j):
    """The 2x2 window at column ``j`` of the row pair starting at flat ``i0``, ``i1``."""
    return xf[i0 + j], xf[i0 + j + _U(1)], xf[i1 + j], xf[i1 + j + _U(1)]


@njit(nogil=True)
def max_pool_2x2(t, T, x, out):
    """The common case: 2x2 windows, stride 2, no padding."""
    (B, H, W), (OH, OW) = x.shape, out.shape[1:]
    xf, of = x.reshape(-1), out.reshape(-1)
    for b in range(t * B // T, (t + 1) * B // T):
        for oh in range(OH):
            i0 = _U((b * H + 2 * oh) * W)
            o = _U((b * OH + oh) * OW)
            for ow in range(_U(OW)):
                a, c, d, e = _quad(xf, i0, i0 + _U(W), ow + ow)
                m = a if (a > c or a != a) else c
                m2 = d if (d > e or d != d) else e
                of[o + ow] = m if (m > m2 or m != m) else m2


def _through_selection(scatter):
    """select_and_scatter_add (``scatter``: ``a`` (B, OH, OW) added at each window's
    selected tap of x (B, H, W) into out (B, H, W)) or select_and_gather_add (out
    (B, OH, OW) = ``a`` (B, H, W) at each window's selected tap): one window walk for both
    (``scatter`` is a compile-time constant)."""

    @njit(nogil=True)
    def kernel(t, T, a, x, out, KH, KW, sh, sw, plh, plw, lowest, zero):
        (B, H, W), (OH, OW) = x.shape, (a if scatter else out).shape[1:]
        xf, af, of = x.reshape(-1), a.reshape(-1), out.reshape(-1)
        for b in range(t * B // T, (t + 1) * B // T):
            base = b * H * W
            if scatter:
                for k in range(_U(H * W)):
                    of[_U(base) + k] = zero
            for oh in range(OH):
                for ow in range(OW):
                    i = _select(xf, base, H, W, oh * sh - plh, ow * sw - plw, KH, KW, lowest)
                    o = _U((b * OH + oh) * OW + ow)
                    if scatter:
                        if i >= 0:
                            of[_U(i)] += af[o]
                    else:
                        of[o] = af[_U(i)] if i >= 0 else zero

    return kernel


scatter_max = _through_selection(True)
gather_max = _through_selection(False)


@njit(nogil=True)
def scatter_max_2x2(t, T, src, x, out, zero):
    (B, H, W), (OH, OW) = x.shape, src.shape[1:]
    xf, sf, of = x.reshape(-1), src.reshape(-1), out.reshape(-1)
    for b in range(t * B // T, (t + 1) * B // T):
        for oh in range(OH):
            i0 = _U((b * H + 2 * oh) * W)
            i1 = i0 + _U(W)
            s = _U((b * OH + oh) * OW)
            for ow in range(_U(OW)):
                j = ow + ow
                a, c, d, e = _quad(xf, i0, i1, j)
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
