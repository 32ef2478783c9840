"""Op-table entries for the primitives and composites under funtorch.random: the
threefry-2x32 hash (against a per-element reference in Python ints) and erf_inv
(against Newton's method on math.erf)."""

from __future__ import annotations

import math

import numpy as np

import funtorch as ft

from op_table import Gen, OpInfo, Sample, register

_M32 = 0xFFFFFFFF
_ROT = (13, 15, 26, 6, 17, 29, 16, 24)


def _threefry_one(k0, k1, a, b):
    """Random123's formulation: 20 rounds, a key injection after every fourth."""
    ks = (k0, k1, 0x1BD11BDA ^ k0 ^ k1)
    a, b = (a + ks[0]) & _M32, (b + ks[1]) & _M32
    for r in range(20):
        a = (a + b) & _M32
        b = (((b << _ROT[r % 8]) | (b >> (32 - _ROT[r % 8]))) & _M32) ^ a
        if r % 4 == 3:
            s = r // 4 + 1
            a, b = (a + ks[s % 3]) & _M32, (b + ks[(s + 1) % 3] + s) & _M32
    return a, b


def _threefry_ref(k0, k1, x0, x1):
    flat = (a.ravel() for a in (k0, k1, x0, x1))
    pairs = [_threefry_one(*map(int, v)) for v in zip(*flat, strict=True)]
    return [np.array([p[i] for p in pairs], np.uint32).reshape(x0.shape) for i in (0, 1)]


def _threefry_sample(g: Gen, dtype):
    s = g.shape()
    return Sample(tuple(g.array(s, np.uint32, 0, _M32) for _ in range(4)))


def _erf_inv_ref(x):
    """Winitzki's closed form as the start, then Newton's method on math.erf."""
    def one(v):
        ln = math.log1p(-v * v)
        t = 2 / (math.pi * 0.147) + ln / 2
        y = math.copysign(math.sqrt(math.sqrt(t * t - ln / 0.147) - t), v)
        for _ in range(4):
            y -= (math.erf(y) - v) / (2 / math.sqrt(math.pi) * math.exp(-y * y))
        return y
    return np.array([one(float(v)) for v in x.ravel()], np.float64).reshape(x.shape) \
        .astype(x.dtype)


register(
    OpInfo("threefry2x32", ft.lax.threefry2x32, _threefry_ref, _threefry_sample,
           dtypes=(np.uint32,), differentiable=False),
    OpInfo("erf_inv", ft.lax.erf_inv, _erf_inv_ref,
           lambda g, d: Sample((g.array(g.shape(), d, -0.95, 0.95),)),
           dtypes=(np.float32, np.float64)),
)
