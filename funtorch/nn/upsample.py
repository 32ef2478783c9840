"""Upsample: ``F.interpolate`` as a layer ('nearest' or 'bilinear')."""

from __future__ import annotations

from . import functional as F
from .module import Module

__all__ = ["Upsample"]


class Upsample(Module):
    """Resize to ``size`` or by ``scale_factor`` (one of them), with PyTorch's coordinate
    conventions (see ``F.interpolate``)."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        if (size is None) == (scale_factor is None):
            raise ValueError("funtorch.nn.Upsample: pass exactly one of size and scale_factor")
        self.size = size
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, int) \
            else scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def __call__(self, params, x):
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)

    def extra_repr(self):
        what = (f"size={self.size}" if self.size is not None
                else f"scale_factor={self.scale_factor}")
        return f"{what}, mode={self.mode!r}"
