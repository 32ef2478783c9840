"""What the JAX-parity modules share: the small fixed inputs, the comparison helpers
and a call counter."""

from __future__ import annotations

import collections
import functools

import numpy as np

import funtorch as ft

f32 = np.float32
X3 = np.array([0.5, -1.0, 2.0], f32)
M23 = np.arange(6, dtype=f32).reshape(2, 3)
M34 = np.arange(12, dtype=f32).reshape(3, 4)
Point = collections.namedtuple("Point", ["x", "y"])


def close(got, want, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=rtol, atol=atol)


def same_tree(got, want, rtol=1e-5, atol=1e-6):
    """Structures equal (as funtorch pytrees) and leaves allclose with equal dtypes."""
    gl, gt = ft.tree.flatten(got)
    wl, wt = ft.tree.flatten(want)
    assert gt == wt, f"{gt} != {wt}"
    for g, w in zip(gl, wl):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, (g.shape, w.shape)
        if w.dtype != object:
            assert g.dtype == w.dtype, (g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def counted(fun):
    calls = [0]

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        calls[0] += 1
        return fun(*args, **kwargs)
    return wrapped, calls
