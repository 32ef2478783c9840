"""dropout and dropout2d with an explicit random key (funtorch has no global generator)."""

from __future__ import annotations

from ... import numpy as fnp
from ... import random
from ._checks import _arr


def dropout(input, p=0.5, training=True, inplace=False, *, key=None):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p).

    PyTorch's positional arguments (``inplace`` is accepted and means nothing: arrays are
    immutable); the randomness comes from the keyword ``key`` (funtorch has no global
    generator), so the same key gives the same mask. Outside training it is the identity.
    """
    _check_p("dropout", p)
    x = _arr(input)
    return _drop("dropout", x, p, training, key, x.shape)


def dropout2d(input, p=0.5, training=True, inplace=False, *, key=None):
    """Zero whole channels: each (sample, channel) plane of an [N, C, H, W] input (or each
    channel of an unbatched [C, H, W]) is dropped with probability ``p``, the rest scaled
    by 1/(1-p). ``key`` as in ``dropout``."""
    _check_p("dropout2d", p)
    x = _arr(input)
    if x.ndim not in (3, 4):
        raise ValueError(f"funtorch.nn.functional.dropout2d: expected a 4-D [N,C,H,W] or "
                         f"unbatched 3-D [C,H,W] input, got shape {tuple(x.shape)}")
    return _drop("dropout2d", x, p, training, key, x.shape[:-2] + (1, 1))


def _check_p(name, p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"funtorch.nn.functional.{name}: p must be in [0, 1], got {p}")


def _drop(name, x, p, training, key, mask_shape):
    """The shared body: keep with probability 1-p per element of ``mask_shape`` (broadcast
    over ``x``), scaling what is kept by 1/(1-p)."""
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return fnp.zeros_like(x)
    if key is None:
        raise ValueError(f"funtorch.nn.functional.{name}: training-mode dropout needs a random "
                         "key: pass key=ft.random.key(seed) (split it per step), or "
                         "training=False")
    keep = random.bernoulli(key, 1.0 - p, mask_shape)
    return fnp.where(keep, x / (1.0 - p), fnp.zeros_like(x))
