"""Sorting: ``sort_p`` sorts several same-shaped operands along one axis by the first.

Carrying extra operands is how argsort works (sort ``(x, iota)`` and keep the second)
and how the JVP finds the permutation to apply to tangents. The sort is stable; NaNs
sort last, as in numpy.
"""

from __future__ import annotations

import numpy as np

from ..core.abstract import ShapedArray
from ..core.trace import Primitive, bind, get_aval
from ..transforms import ad, batching
from ..transforms.ad import Zero
from ..transforms.batching import bdim_at_front
from ._util import canonical_axes, fmt
from .indexing import index_dtype, take_along_axis
from .shape import broadcasted_iota

sort_p = Primitive("sort", kind="library", multiple_results=True)


def _sort_impl(*operands, dimension):
    perm = np.argsort(operands[0], axis=dimension, kind="stable")
    return [np.take_along_axis(o, perm, axis=dimension) for o in operands]


def _sort_shape(*operands, dimension):
    shape = operands[0].shape
    if any(o.shape != shape for o in operands):
        raise ValueError(f"funtorch.lax.sort: operands must have one shape, got "
                         f"{fmt(*operands)}")
    if not 0 <= dimension < len(shape):
        raise ValueError(f"funtorch.lax.sort: dimension {dimension} is out of bounds for "
                         f"{fmt(operands[0])}")
    return [ShapedArray(o.shape, o.dtype) for o in operands]


def _sort_jvp(primals, tangents, *, dimension):
    shape = get_aval(primals[0]).shape
    iota = broadcasted_iota(index_dtype(shape[dimension]), shape, dimension)
    *outs, perm = bind(sort_p, *primals, iota, dimension=dimension)
    t_outs = [t if type(t) is Zero else take_along_axis(t, perm, dimension)
              for t in tangents]
    return outs, t_outs


def _sort_batch(vals, dims, *, dimension):
    size = batching.batch_size_of(vals, dims)
    vals = [bdim_at_front(v, d, size) for v, d in zip(vals, dims, strict=True)]
    return bind(sort_p, *vals, dimension=dimension + 1), [0] * len(vals)


sort_p.def_impl(_sort_impl)
sort_p.def_abstract_eval(_sort_shape)
ad.jvp_rules[sort_p] = _sort_jvp
batching.batching_rules[sort_p] = _sort_batch


def sort(operand, dimension=-1):
    """Stable sort along ``dimension``. A sequence of operands is sorted by the first
    (the key) and returned as a list, as ``jax.lax.sort(..., num_keys=1)``."""
    single = not isinstance(operand, (list, tuple))
    operands = [operand] if single else list(operand)
    (dimension,) = canonical_axes("sort", (dimension,), get_aval(operands[0]).ndim)
    outs = bind(sort_p, *operands, dimension=dimension)
    return outs[0] if single else outs
