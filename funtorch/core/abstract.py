"""Abstract values: what a tracer knows about an array (shape and dtype)."""

from __future__ import annotations

import numpy as np

from . import dtypes


class ShapedArray:
    __slots__ = ("shape", "dtype")
    array_abstraction_level = 1

    def __init__(self, shape, dtype):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def __eq__(self, other):
        return (type(other) is ShapedArray and self.shape == other.shape
                and self.dtype == other.dtype)

    def __hash__(self):
        return hash((self.shape, self.dtype))

    def str_short(self):
        return f"{dtypes.short_name(self.dtype)}[{','.join(map(str, self.shape))}]"

    __str__ = str_short

    def __repr__(self):
        return f"ShapedArray({self.shape}, {self.dtype})"

    def update(self, shape=None, dtype=None):
        return ShapedArray(self.shape if shape is None else shape,
                           self.dtype if dtype is None else dtype)

    def tangent_aval(self):
        """Tangents of integer/bool values are float0, as in JAX."""
        if dtypes.is_float(self.dtype):
            return self
        return ShapedArray(self.shape, dtypes.float0)


def raise_to_shaped(aval):
    return ShapedArray(aval.shape, aval.dtype)
