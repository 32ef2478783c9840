"""Assertions and references shared by the test modules."""

from __future__ import annotations

import numpy as np

import funtorch as ft


def close(actual, expected, rtol=1e-5, atol=1e-6):
    """Same shape and values within tolerance (arrays, tracers' values or numpy)."""
    a, e = np.asarray(actual), np.asarray(expected)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


def tree_close(actual, expected, rtol=1e-5, atol=1e-6):
    la, ta = ft.tree.flatten(actual)
    le, te = ft.tree.flatten(expected)
    assert ta == te, f"tree structure {ta} != {te}"
    for a, e in zip(la, le, strict=True):
        close(a, e, rtol, atol)


def fd_grad(f_np, x, h=1e-6):
    """Central finite differences of a numpy scalar function (float64)."""
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f_np(x + e) - f_np(x - e)) / (2 * h)
    return g
