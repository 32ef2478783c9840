"""Parameter-free activation layers wrapping nn.functional."""

from __future__ import annotations

from . import functional as F
from .module import Module

__all__ = ["ReLU", "LeakyReLU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax"]


class _Inplace(Module):
    """A layer PyTorch gives ``inplace=``: accepted (and shown in the repr) so PyTorch code
    ports; funtorch arrays are never mutated, so it changes nothing."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class ReLU(_Inplace):
    def __call__(self, params, x):
        return F.relu(x)


class LeakyReLU(_Inplace):
    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__(inplace)
        self.negative_slope = negative_slope

    def __call__(self, params, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return ", ".join(filter(None, [f"negative_slope={self.negative_slope}",
                                       super().extra_repr()]))


class GELU(Module):
    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def __call__(self, params, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(_Inplace):
    def __call__(self, params, x):
        return F.silu(x)


class Sigmoid(Module):
    def __call__(self, params, x):
        return F.sigmoid(x)


class Tanh(Module):
    def __call__(self, params, x):
        return F.tanh(x)


class Softmax(Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def __call__(self, params, x):
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def __call__(self, params, x):
        return F.log_softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"
