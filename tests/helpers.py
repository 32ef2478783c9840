"""Assertions and references shared by the test modules."""

from __future__ import annotations

import functools

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


# float64 checks against exact references (analytic, hand-written numpy): tight tolerances
close64 = functools.partial(close, rtol=1e-9, atol=1e-12)
tree_close64 = functools.partial(tree_close, rtol=1e-9, atol=1e-12)
FD = dict(rtol=1e-6, atol=1e-8)   # float64 derivatives against central differences


def rng(seed=0):
    return np.random.default_rng(seed)


def fd_grad(f_np, x, h=1e-6):
    """Central finite differences of a numpy scalar function (float64)."""
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f_np(x + e) - f_np(x - e)) / (2 * h)
    return g


# ------------------------------------------------- references for the transformation tests

X3 = np.array([0.3, -1.2, 2.1])


# f(x) = sum(sin(x) * x**2), a scalar function of a vector with a dense analytic Hessian
# once we add a coupling term: + (sum x)**2 / 2
def f_scalar(x):
    return ft.sum(ft.sin(x) * x * x) + 0.5 * ft.sum(x) ** 2


def f_scalar_np(x):
    return np.sum(np.sin(x) * x * x) + 0.5 * np.sum(x) ** 2


def f_scalar_grad_np(x):
    return np.cos(x) * x * x + 2 * x * np.sin(x) + np.sum(x)


def f_scalar_hess_np(x):
    d2 = -np.sin(x) * x * x + 4 * x * np.cos(x) + 2 * np.sin(x)
    return np.diag(d2) + np.ones((x.size, x.size))


@ft.custom_vjp
def clip_grad_sin(x):
    return ft.sin(x)


def _csin_fwd(x):
    return ft.sin(x), (ft.cos(x),)


def _csin_bwd(res, g):
    (c,) = res
    # a deliberately non-standard rule (7 * the true one) so the test can tell it was used
    return (7.0 * c * g,)


clip_grad_sin.defvjp(_csin_fwd, _csin_bwd)
