"""Small helpers shared by the primitive families (shape checks, error text)."""

from __future__ import annotations

import operator

from ..core import dtypes
from ..core.abstract import ShapedArray


def fmt(*avals):
    return ", ".join(a.str_short() for a in avals)


def same_shape_dtype(name, *avals):
    """Elementwise primitives take operands of one shape and dtype (lax's rule)."""
    a0 = avals[0]
    for a in avals[1:]:
        if a.shape != a0.shape or a.dtype != a0.dtype:
            raise TypeError(
                f"funtorch.lax.{name}: operands must have equal shapes and dtypes, got "
                f"{fmt(*avals)}. The numpy-level ops (ft.{name}, operators) broadcast and "
                "promote for you.")
    return a0


def check_float(name, aval):
    if not dtypes.is_float(aval.dtype):
        raise TypeError(f"funtorch.{name}: needs a floating-point array, got {aval.dtype}; "
                        f"cast first, e.g. x.astype(ft.float32)")


def canonical_axes(name, axes, ndim):
    out = []
    for a in axes:
        try:
            a = operator.index(a)   # as numpy: 1.5 or "0" is not an axis
        except TypeError:
            raise TypeError(f"funtorch.{name}: axis must be an integer (or a tuple of them), "
                            f"got {type(a).__name__} {a!r:.40}") from None
        if not -ndim <= a < max(ndim, 1) or (ndim == 0 and a not in (0, -1)):
            raise ValueError(f"funtorch.{name}: axis {a} is out of bounds for an array of "
                             f"rank {ndim}")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"funtorch.{name}: repeated axis in {tuple(axes)}")
    return tuple(out)


def shaped(shape, dtype):
    return ShapedArray(shape, dtype)
