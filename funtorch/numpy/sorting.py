"""Sorting with numpy names: sort and argsort, both stable (on lax's sort primitive)."""

from __future__ import annotations

from .. import lax
from ..core import dtypes
from ._core import asarray, canonicalize_axis, is_array


def _prepare(name, a, axis):
    a = a if is_array(a) else asarray(a)
    if axis is None:
        return lax.reshape(a, (a.size,)), 0
    return a, canonicalize_axis(name, axis, a.ndim)


def sort(a, axis=-1, *, kind=None, stable=True, descending=False):
    """Sorted copy of ``a`` along ``axis`` (None: flattened). Always stable, so ``kind``
    and ``stable`` are accepted for numpy compatibility only; NaNs sort last
    (first when ``descending``)."""
    a, axis = _prepare("sort", a, axis)
    out = lax.sort(a, axis)
    return lax.rev(out, (axis,)) if descending else out


def argsort(a, axis=-1, *, kind=None, stable=True, descending=False):
    """Indices (int64) that sort ``a`` along ``axis``; ties keep their order, also when
    ``descending``."""
    a, axis = _prepare("argsort", a, axis)
    iota = lax.broadcasted_iota(dtypes.int64, a.shape, axis)
    if not descending:
        return lax.sort([a, iota], axis)[1]
    # sorting the reversed keys ascending and reversing back keeps ties in order
    perm = lax.sort([lax.rev(a, (axis,)), lax.rev(iota, (axis,))], axis)[1]
    return lax.rev(perm, (axis,))
