"""PyTorch's ``torch.nn.init`` distributions as pure functions ``(key, shape, ...) -> array``.

PyTorch fills a tensor in place from a global generator; here every initialiser takes an
explicit random key and the shape, and returns a new array. Every initialiser has the same
``(key, shape, ..., dtype=float32)`` shape (``zeros``/``ones`` ignore the key) so layers can
take any of them. Fans follow PyTorch's convention for [out, in, *kernel] weights.
"""

from __future__ import annotations

import math

import numpy as np

from .. import numpy as fnp
from .. import random
from ..core import dtypes

__all__ = ["calculate_gain", "uniform", "normal", "zeros", "ones", "xavier_uniform",
           "xavier_normal", "kaiming_uniform", "kaiming_normal"]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity, param=None):
    """PyTorch's recommended gain for a nonlinearity (``param``: leaky_relu's slope)."""
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"funtorch.nn.init.calculate_gain: unsupported nonlinearity "
                     f"{nonlinearity!r}")


def _fans(name, shape):
    if len(shape) < 2:
        raise ValueError(f"funtorch.nn.init.{name}: fan in and fan out need a shape with at "
                         f"least 2 dimensions [out, in, *kernel], got {tuple(shape)}")
    receptive = int(np.prod(shape[2:], dtype=np.int64))
    return shape[1] * receptive, shape[0] * receptive


def _fan(name, shape, mode):
    fan_in, fan_out = _fans(name, shape)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ValueError(f"funtorch.nn.init.{name}: mode must be 'fan_in' or 'fan_out', got "
                     f"{mode!r}")


def _shape(shape):
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)


def uniform(key, shape, a=0.0, b=1.0, dtype=dtypes.float32):
    """U(a, b); ``a == b`` gives that constant, as ``torch.nn.init.uniform_`` (Linear and
    Conv draw their bias from U(-0, 0) when fan_in is 0)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b:
        return fnp.full(_shape(shape), a + 0.0, dtype)   # -0.0 + 0.0 is 0.0, as torch's
    return random.uniform(key, _shape(shape), dtype, minval=a, maxval=b)


def normal(key, shape, mean=0.0, std=1.0, dtype=dtypes.float32):
    """N(mean, std**2)."""
    return random.normal(key, _shape(shape), dtype) * std + mean


def zeros(key, shape, dtype=dtypes.float32):
    return fnp.zeros(_shape(shape), dtype)


def ones(key, shape, dtype=dtypes.float32):
    return fnp.ones(_shape(shape), dtype)


def xavier_uniform(key, shape, gain=1.0, dtype=dtypes.float32):
    """Glorot: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    shape = _shape(shape)
    fan_in, fan_out = _fans("xavier_uniform", shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(key, shape, -bound, bound, dtype)


def xavier_normal(key, shape, gain=1.0, dtype=dtypes.float32):
    """Glorot: N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    shape = _shape(shape)
    fan_in, fan_out = _fans("xavier_normal", shape)
    return normal(key, shape, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), dtype)


def _kaiming_std(name, shape, a, mode, nonlinearity):
    """gain / sqrt(fan); 0 for a zero-element shape (its fan may be 0), where PyTorch's
    initialisation is a no-op: nothing is drawn, so the spread does not matter."""
    fan = _fan(name, shape, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan) if fan else 0.0


def kaiming_uniform(key, shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu",
                    dtype=dtypes.float32):
    """He: U(-b, b) with b = gain * sqrt(3 / fan). PyTorch's Linear and Conv weights use
    ``a=sqrt(5)``, which makes b = 1/sqrt(fan_in)."""
    shape = _shape(shape)
    bound = math.sqrt(3.0) * _kaiming_std("kaiming_uniform", shape, a, mode, nonlinearity)
    return uniform(key, shape, -bound, bound, dtype)


def kaiming_normal(key, shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu",
                   dtype=dtypes.float32):
    """He: N(0, std**2) with std = gain / sqrt(fan)."""
    shape = _shape(shape)
    std = _kaiming_std("kaiming_normal", shape, a, mode, nonlinearity)
    return normal(key, shape, 0.0, std, dtype)
