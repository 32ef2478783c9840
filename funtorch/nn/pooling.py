"""MaxPool2d, AvgPool2d and their adaptive forms over the last two (H, W) axes."""

from __future__ import annotations

from . import functional as F
from .functional._checks import _check_sizes
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d"]


class _Pool2d(Module):
    """Keeps its options under PyTorch's names (the stride defaults to the kernel size);
    its repr shows those named in ``_shown``, as PyTorch's does."""

    _shown = ("kernel_size", "stride", "padding")

    def __init__(self, kernel_size, stride, padding, **options):
        super().__init__()
        _check_sizes(type(self).__name__, 1, kernel_size=kernel_size,
                     **({} if stride is None else {"stride": stride}))
        _check_sizes(type(self).__name__, 0, padding=padding)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        for name, value in options.items():
            setattr(self, name, value)

    def extra_repr(self):
        return ", ".join(f"{name}={getattr(self, name)}" for name in self._shown)


class MaxPool2d(_Pool2d):
    _shown = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__(kernel_size, stride, padding, dilation=dilation,
                         return_indices=return_indices, ceil_mode=ceil_mode)

    def __call__(self, params, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class AvgPool2d(_Pool2d):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__(kernel_size, stride, padding, ceil_mode=ceil_mode,
                         count_include_pad=count_include_pad,
                         divisor_override=divisor_override)

    def __call__(self, params, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class _AdaptivePool2d(Module):
    def __init__(self, output_size):
        super().__init__()
        sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,)
        _check_sizes(type(self).__name__, 1, output_size=tuple(s for s in sizes
                                                                if s is not None))
        self.output_size = output_size

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_AdaptivePool2d):
    """Average over windows that split H and W into ``output_size`` parts (an int or an
    (h, w) pair; None keeps that input size)."""

    def __call__(self, params, x):
        return F.adaptive_avg_pool2d(x, self.output_size)


class AdaptiveMaxPool2d(_AdaptivePool2d):
    """Max over the windows of ``AdaptiveAvgPool2d``."""

    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def __call__(self, params, x):
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)
