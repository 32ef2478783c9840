"""Conv1d and Conv2d: NC(H)W inputs, [out, in/groups, *kernel] weights, as in PyTorch."""

from __future__ import annotations

from . import functional as F
from .functional._checks import _check_sizes, _tuple
from .functional.conv import _conv_padding
from .linear import default_weight_and_bias
from .module import Module

__all__ = ["Conv1d", "Conv2d"]


class _ConvNd(Module):
    _n = 0
    _fn = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros"):
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, 0, in_channels=in_channels, out_channels=out_channels)
        _check_sizes(name, 1, kernel_size=kernel_size, stride=stride, dilation=dilation,
                     groups=groups)
        if not isinstance(padding, str):
            _check_sizes(name, 0, padding=padding)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: only padding_mode='zeros' is supported")
        n = self._n
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _tuple(name, "kernel_size", kernel_size, n)
        self.stride = _tuple(name, "stride", stride, n)
        self.padding = padding if isinstance(padding, str) else _tuple(name, "padding",
                                                                        padding, n)
        self.dilation = _tuple(name, "dilation", dilation, n)
        self.groups = groups
        self.bias = bias
        self.padding_mode = padding_mode
        # validates padding='same' against the stride now rather than at the first call
        _conv_padding(name.lower(), self.padding, self.kernel_size, self.dilation, self.stride)

    def reset_parameters(self, key):
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        return default_weight_and_bias(key, shape, self.bias)

    def __call__(self, params, x):
        return self._fn(x, self._param(params, "weight"), params.get("bias"), self.stride,
                        self.padding, self.dilation, self.groups)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if isinstance(self.padding, str) or any(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._n:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if not self.bias:
            s += ", bias=False"
        return s


class Conv1d(_ConvNd):
    _n = 1
    _fn = staticmethod(F.conv1d)


class Conv2d(_ConvNd):
    _n = 2
    _fn = staticmethod(F.conv2d)
