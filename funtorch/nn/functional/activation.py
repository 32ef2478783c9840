"""Elementwise activations and (log-)softmax."""

from __future__ import annotations

import math

import numpy as np

from ... import lax
from ... import numpy as fnp
from ...core import dtypes
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
    """x minus its (gradient-stopped) max along ``d``: exp of it cannot overflow. A fully
    masked (all -inf) slice is shifted by 0, so it stays -inf and normalises to NaN; a +inf
    max is kept, so inf - inf makes its whole slice NaN: both as in PyTorch."""
    m = lax.stop_gradient(fnp.max(x, axis=d, keepdims=True))
    return x - fnp.where(m == -np.inf, fnp.zeros_like(m), m)


def _softmax_input(name, input, dim, axis, dtype):
    """The float input (cast to ``dtype`` first, if given) and the axis; a 0-d input is
    one element along dim 0 or -1, as in PyTorch."""
    x = _arr(input) if dtype is None else fnp.astype(_arr(input), dtype)
    if not dtypes.is_float(x.dtype):
        raise TypeError(f"funtorch.nn.functional.{name}: expected a floating-point input, got "
                        f"{x.dtype} (PyTorch has no integer {name} either); pass "
                        f"dtype=ft.float32 or cast the input")
    return x, _dim(name, dim, axis, x.ndim)


def softmax(input, dim=None, *, axis=None, dtype=None):
    x, d = _softmax_input("softmax", input, dim, axis, dtype)
    if x.ndim == 0:
        return fnp.reshape(softmax(fnp.reshape(x, (1,)), 0), ())
    if x.shape[d] == 0:
        return x    # nothing to normalise: the empty array, as PyTorch and JAX
    e = fnp.exp(_shifted(x, d))
    return e / fnp.sum(e, axis=d, keepdims=True)


def log_softmax(input, dim=None, *, axis=None, dtype=None):
    x, d = _softmax_input("log_softmax", input, dim, axis, dtype)
    if x.ndim == 0:
        return fnp.reshape(log_softmax(fnp.reshape(x, (1,)), 0), ())
    if x.shape[d] == 0:
        return x
    s = _shifted(x, d)
    return s - fnp.log(fnp.sum(fnp.exp(s), axis=d, keepdims=True))
