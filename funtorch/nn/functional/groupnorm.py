"""group_norm: PyTorch's GroupNorm as a function."""

from __future__ import annotations

import numpy as np

from ... import lax
from ... import numpy as fnp
from ._checks import _arr


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each sample over groups of ``num_groups`` consecutive channels (axis 1)
    and their spatial extent, then scale and shift per channel, as PyTorch's GroupNorm."""
    x = _arr(input)
    if x.ndim < 2:
        raise ValueError(f"funtorch.nn.functional.group_norm: expected an input of at least 2 "
                         f"dims [N, C, *], got shape {tuple(x.shape)}")
    c = x.shape[1]
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)) \
            or num_groups < 1 or c % num_groups:
        raise ValueError(f"funtorch.nn.functional.group_norm: num_groups must be a positive "
                         f"divisor of the {c} channels of input {tuple(x.shape)}, got "
                         f"{num_groups!r}")
    for arg, v in (("weight", weight), ("bias", bias)):
        if v is not None and tuple(np.shape(v)) != (c,):
            raise ValueError(f"funtorch.nn.functional.group_norm: expected {arg} of shape "
                             f"({c},) (one per channel), got {tuple(np.shape(v))}")
    g = fnp.reshape(x, (x.shape[0], num_groups, -1))
    mean = fnp.mean(g, axis=2, keepdims=True)
    var = fnp.var(g, axis=2, keepdims=True)
    y = fnp.reshape((g - mean) * lax.rsqrt(var + eps), x.shape)
    per_channel = (c,) + (1,) * (x.ndim - 2)
    if weight is not None:
        y = y * fnp.reshape(_arr(weight), per_channel)
    if bias is not None:
        y = y + fnp.reshape(_arr(bias), per_channel)
    return y
