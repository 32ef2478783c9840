"""GroupNorm: normalisation over groups of channels, with a per-channel affine."""

from __future__ import annotations

from .. import numpy as fnp
from . import functional as F
from .functional._checks import _check_sizes
from .module import Module

__all__ = ["GroupNorm"]


class GroupNorm(Module):
    """Normalise over groups of channels and the spatial axes, then a per-channel affine
    (``F.group_norm``); no running statistics, so train and eval agree."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, *, bias=True):
        super().__init__()
        _check_sizes(type(self).__name__, 1, num_groups=num_groups, num_channels=num_channels)
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        self.bias = bias

    def reset_parameters(self, key):
        if not self.affine:
            return {}
        params = {"weight": fnp.ones((self.num_channels,))}
        if self.bias:
            params["bias"] = fnp.zeros((self.num_channels,))
        return params

    def __call__(self, params, x):
        params = params or {}
        return F.group_norm(x, self.num_groups, params.get("weight"), params.get("bias"),
                            self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.affine and self.bias}")
