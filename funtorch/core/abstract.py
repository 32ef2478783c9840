"""Abstract values: what a tracer knows about an array (shape and dtype)."""

from __future__ import annotations

import numpy as np

from . import dtypes


class ShapedArray:
    """``weak_type`` marks a value that came from a Python scalar (a jit argument, or
    computed only from such values): like a Python scalar, it takes the dtype of the
    strongly typed array it meets (JAX's weak types). It does not enter ``==``: it
    matters only while Python code runs on tracers, never to a graph's types."""

    __slots__ = ("shape", "dtype", "weak_type")

    def __init__(self, shape, dtype, weak_type=False):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.weak_type = weak_type

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
        weak = ", weak_type=True" if self.weak_type else ""
        return f"ShapedArray({self.shape}, {self.dtype}{weak})"

    def update(self, shape=None, dtype=None, weak_type=None):
        """A copy with the given fields replaced. ``weak_type`` is carried through
        unless a dtype is given (a value cast to a dtype is strongly typed)."""
        if weak_type is None:
            weak_type = self.weak_type and dtype is None
        return ShapedArray(self.shape if shape is None else shape,
                           self.dtype if dtype is None else dtype, weak_type)

    def tangent_aval(self):
        """Tangents of integer/bool values are float0, as in JAX."""
        if dtypes.is_float(self.dtype):
            return self
        return ShapedArray(self.shape, dtypes.float0)


def raise_to_shaped(aval):
    return ShapedArray(aval.shape, aval.dtype)
