"""The threefry-2x32 hash: the one primitive under ``funtorch.random``.

Counter-based randomness (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
SC 2011): bits are a pure elementwise hash of a key and a counter, so sampling needs no
state and commutes with jit and vmap. Same rounds, rotations and key schedule as
jax/_src/random/threefry2x32.py, hence the same bits.
"""

from __future__ import annotations

import numpy as np

from ..core import dtypes
from ..core.abstract import ShapedArray
from ..core.trace import Primitive, bind
from ..transforms import batching
from ..transforms.ad import defjvp_zero
from ._util import fmt

threefry2x32_p = Primitive("threefry2x32", kind="library", multiple_results=True)

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def _threefry2x32_impl(k1, k2, x1, x2):
    shape = x1.shape
    # 1-d arrays: numpy warns on uint32 wrap-around for scalars but not for arrays
    k1, k2, x1, x2 = (np.ravel(a) for a in (k1, k2, x1, x2))
    ks = (k1, k2, k1 ^ k2 ^ _PARITY)
    x0, x1 = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = ((x1 << np.uint32(r)) | (x1 >> np.uint32(32 - r))) ^ x0
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return [x0.reshape(shape), x1.reshape(shape)]


def _threefry2x32_shape(k1, k2, x1, x2):
    avals = (k1, k2, x1, x2)
    if any(a.dtype != dtypes.uint32 for a in avals) or len({a.shape for a in avals}) != 1:
        raise TypeError(
            "funtorch.lax.threefry2x32: needs four uint32 arrays of one shape (key words "
            f"broadcast to the counters' shape), got {fmt(*avals)}")
    return [ShapedArray(x1.shape, dtypes.uint32)] * 2


threefry2x32_p.def_impl(_threefry2x32_impl)
threefry2x32_p.def_abstract_eval(_threefry2x32_shape)
defjvp_zero(threefry2x32_p)
batching.defbroadcasting(threefry2x32_p)


def threefry2x32(k1, k2, x1, x2):
    """Hash counters ``(x1, x2)`` under key ``(k1, k2)``; returns the two uint32 words."""
    return bind(threefry2x32_p, k1, k2, x1, x2)
