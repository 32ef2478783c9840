"""Conv1d and Conv2d: NC(H)W inputs, [out, in/groups, *kernel] weights, as in PyTorch;
ConvTranspose2d with its [in, out/groups, kH, kW] weights."""

from __future__ import annotations

import math

from .. import random
from . import functional as F
from . import init
from .functional._checks import _check_sizes, _tuple
from .functional.conv import _conv_padding
from .linear import default_weight_and_bias
from .module import Module

__all__ = ["Conv1d", "Conv2d", "ConvTranspose2d"]


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


class ConvTranspose2d(Module):
    """Transposed 2-D convolution with PyTorch's weight layout ``[in_channels,
    out_channels/groups, kH, kW]`` and its default initialisation (``F.conv_transpose2d``).
    ``output_padding`` adds rows/columns on one side to pick among the output sizes a
    strided convolution maps to the same input size."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros"):
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, 0, in_channels=in_channels, out_channels=out_channels,
                     padding=padding, output_padding=output_padding)
        _check_sizes(name, 1, kernel_size=kernel_size, stride=stride, dilation=dilation,
                     groups=groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported (as in PyTorch)")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _tuple(name, "kernel_size", kernel_size, 2)
        self.stride = _tuple(name, "stride", stride, 2)
        self.padding = _tuple(name, "padding", padding, 2)
        self.output_padding = _tuple(name, "output_padding", output_padding, 2)
        self.dilation = _tuple(name, "dilation", dilation, 2)
        self.groups = groups
        self.bias = bias
        self.padding_mode = padding_mode
        if any(op >= max(s, d) for op, s, d in zip(self.output_padding, self.stride,
                                                     self.dilation)):
            raise ValueError(f"{name}: output_padding {self.output_padding} must be smaller "
                             f"than either stride {self.stride} or dilation {self.dilation}")

    def reset_parameters(self, key):
        # PyTorch's fan_in is weight.size(1) * kH * kW = out_channels/groups * kH * kW
        shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        params = default_weight_and_bias(key, shape, False)
        if self.bias:
            kb = random.split(key)[1]
            fan_in = shape[1] * shape[2] * shape[3]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            params["bias"] = init.uniform(kb, (self.out_channels,), -bound, bound)
        return params

    def __call__(self, params, x):
        return F.conv_transpose2d(x, self._param(params, "weight"), params.get("bias"),
                                  self.stride, self.padding, self.output_padding, self.groups,
                                  self.dilation)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if any(self.padding):
            s += f", padding={self.padding}"
        if any(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if not self.bias:
            s += ", bias=False"
        return s
