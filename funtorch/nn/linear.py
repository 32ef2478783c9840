"""Linear: y = x @ weight.T + bias, PyTorch's layout and initialisation; Identity."""

from __future__ import annotations

import math

from .. import random
from . import functional as F
from . import init
from .functional._checks import _check_sizes
from .module import Module

__all__ = ["Identity", "Linear"]


def default_weight_and_bias(key, weight_shape, bias):
    """PyTorch's default for Linear and Conv: kaiming_uniform(a=sqrt(5)) weights, i.e.
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and bias from the same range."""
    kw, kb = random.split(key)
    params = {"weight": init.kaiming_uniform(kw, weight_shape, a=math.sqrt(5))}
    if bias:
        fan_in = weight_shape[1] * math.prod(weight_shape[2:])
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        params["bias"] = init.uniform(kb, (weight_shape[0],), -bound, bound)
    return params


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        _check_sizes(type(self).__name__, 0, in_features=in_features,
                     out_features=out_features)
        self.in_features = in_features
        self.out_features = out_features
        self.bias = bias

    def reset_parameters(self, key):
        return default_weight_and_bias(key, (self.out_features, self.in_features), self.bias)

    def __call__(self, params, x):
        return F.linear(x, self._param(params, "weight"), params.get("bias"))

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias}")


class Identity(Module):
    """Returns its input; constructor arguments are accepted and ignored, as in PyTorch."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def __call__(self, params, x):
        return x
