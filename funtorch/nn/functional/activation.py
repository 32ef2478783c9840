"""Elementwise activations and (log-)softmax."""

from __future__ import annotations

import math

from ... import lax
from ... import numpy as fnp
from ._checks import _arr, _dim


def relu(input):
    """max(x, 0); the gradient at 0 is 0, as in PyTorch."""
    x = _arr(input)
    return fnp.where(x > 0, x, fnp.zeros_like(x))


def leaky_relu(input, negative_slope=0.01):
    x = _arr(input)
    return fnp.where(x > 0, x, x * negative_slope)


def gelu(input, approximate="none"):
    """Exact (erf) GELU, or PyTorch's tanh approximation with ``approximate='tanh'``."""
    x = _arr(input)
    if approximate == "none":
        return x * 0.5 * (1.0 + fnp.erf(x * (1.0 / math.sqrt(2.0))))
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + fnp.tanh(inner))
    raise ValueError(f"funtorch.nn.functional.gelu: approximate must be 'none' or 'tanh', got "
                     f"{approximate!r}")


def silu(input):
    x = _arr(input)
    return x * fnp.sigmoid(x)


def sigmoid(input):
    return fnp.sigmoid(input)


def tanh(input):
    return fnp.tanh(input)


def _shifted(x, d):
    """x minus its (gradient-stopped) max along ``d``: exp of it cannot overflow."""
    m = lax.stop_gradient(fnp.max(x, axis=d, keepdims=True))
    return x - fnp.where(fnp.isfinite(m), m, fnp.zeros_like(m))


def softmax(input, dim=None, *, axis=None, dtype=None):
    x = _arr(input) if dtype is None else fnp.astype(_arr(input), dtype)
    d = _dim("softmax", dim, axis, x.ndim)
    e = fnp.exp(_shifted(x, d))
    return e / fnp.sum(e, axis=d, keepdims=True)


def log_softmax(input, dim=None, *, axis=None, dtype=None):
    x = _arr(input) if dtype is None else fnp.astype(_arr(input), dtype)
    d = _dim("log_softmax", dim, axis, x.ndim)
    s = _shifted(x, d)
    return s - fnp.log(fnp.sum(fnp.exp(s), axis=d, keepdims=True))
