"""Dense layers: linear (PyTorch's [out_features, in_features] weight) and the flatten
that feeds it conv features."""

from __future__ import annotations

import numpy as np

from ... import numpy as fnp
from ._checks import _arr


def linear(input, weight, bias=None):
    """x @ weight.T + bias, with PyTorch's [out_features, in_features] weight."""
    x, w = _arr(input), _arr(weight)
    if x.ndim == 0 or w.ndim not in (1, 2):
        raise ValueError(f"funtorch.nn.functional.linear: expected an input of rank >= 1 and "
                         f"a 2-D weight [out_features, in_features] (or 1-D [in_features]), "
                         f"got input {tuple(x.shape)} and weight {tuple(w.shape)}")
    if x.shape[-1] != w.shape[-1]:
        raise ValueError(f"funtorch.nn.functional.linear: input's last dimension "
                         f"{x.shape[-1:]} does not match weight [out_features, in_features] = "
                         f"{tuple(w.shape)}")
    y = fnp.matmul(x, fnp.transpose(w))
    if bias is None:
        return y
    b_shape = tuple(np.shape(bias))
    try:
        ok = np.broadcast_shapes(b_shape, tuple(y.shape)) == tuple(y.shape)
    except ValueError:
        ok = False
    if not ok:
        expected = (w.shape[0],) if w.ndim == 2 else ()
        raise ValueError(f"funtorch.nn.functional.linear: bias of shape {b_shape} does not "
                         f"broadcast to the output shape {tuple(y.shape)} (expected "
                         f"[out_features] = {expected})")
    return y + bias


def flatten(input, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one (torch.flatten)."""
    x = _arr(input)
    if x.ndim == 0:
        return fnp.reshape(x, (1,))
    s, e = start_dim % x.ndim, end_dim % x.ndim
    if s > e:
        raise ValueError(f"funtorch.nn.functional.flatten: start_dim {start_dim} comes after "
                         f"end_dim {end_dim} for an input of rank {x.ndim}")
    merged = int(np.prod(x.shape[s:e + 1], dtype=np.int64))
    return fnp.reshape(x, x.shape[:s] + (merged,) + x.shape[e + 1:])
