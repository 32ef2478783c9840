"""Reductions over a set of axes: sum, max, min, prod, argmax, argmin; cumulative sums."""

from __future__ import annotations

import numpy as np

from ..core import dtypes
from ..core.abstract import ShapedArray
from ..core.trace import Primitive, bind, get_aval
from ..transforms import ad, batching
from ..transforms.ad import defjvp_zero
from ._util import canonical_axes


def _reduced_shape(shape, axes):
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _shift_axes(axes, bdim):
    """Axes of the unbatched value -> axes of the batched value; and the out bdim."""
    new = tuple(a + (1 if a >= bdim else 0) for a in axes)
    out_bdim = bdim - sum(1 for a in axes if a < bdim)
    return new, out_bdim


def _keepdims_broadcast(y, shape, axes):
    """Broadcast a reduced ``y`` back to ``shape``."""
    from .shape import broadcast_in_dim
    kept = tuple(i for i in range(len(shape)) if i not in axes)
    return broadcast_in_dim(y, shape, kept)


def reduction(name, impl, *, int_ok=True, out_dtype=None, widen_halves=False):
    """``widen_halves``: float16/bfloat16 accumulate in float32 and round once, as the CUDA
    kernels do (numpy's bfloat16 sum runs in bfloat16, where 256 + 1 == 256)."""
    prim = Primitive(name, kind="reduction")

    def impl_(x, *, axes):
        # quiet, as the elementwise primitives: sum([inf, -inf]) is NaN, no warning
        with np.errstate(all="ignore"):
            if widen_halves and x.dtype in dtypes.HALVES:
                out = impl(x, axis=axes, dtype=np.float32)
            else:
                out = impl(x, axis=axes)
            return np.asarray(out, dtype=out_dtype or x.dtype)

    def shape_rule(x, *, axes):
        if not int_ok and not dtypes.is_float(x.dtype):
            raise TypeError(f"funtorch.{name}: needs a float array, got {x.dtype}")
        return ShapedArray(_reduced_shape(x.shape, axes), out_dtype or x.dtype)

    def batch_rule(vals, dims, *, axes):
        new_axes, out_bdim = _shift_axes(axes, dims[0])
        return bind(prim, vals[0], axes=new_axes), out_bdim

    prim.def_impl(impl_)
    prim.def_abstract_eval(shape_rule)
    batching.batching_rules[prim] = batch_rule
    return prim


# --------------------------------------------------------------------------- sum

reduce_sum_p = reduction("reduce_sum", np.sum, widen_halves=True)
ad.deflinear(reduce_sum_p, lambda ct, x, *, axes: [
    _keepdims_broadcast(ct, x.aval.shape, axes)])


def reduce_sum(x, axes):
    axes = canonical_axes("sum", axes, get_aval(x).ndim)
    if not axes:
        return x
    return bind(reduce_sum_p, x, axes=tuple(sorted(axes)))


# --------------------------------------------------------------------------- max / min


def _chooser_jvp(prim):
    """The gradient is shared equally among the positions that attain the extremum."""

    def rule(primals, tangents, *, axes):
        from .elementwise import convert_element_type, div, eq, mul
        (x,), (t,) = primals, tangents
        ans = bind(prim, x, axes=axes)
        shape = get_aval(x).shape
        location = convert_element_type(eq(x, _keepdims_broadcast(ans, shape, axes)),
                                         get_aval(x).dtype)
        counts = reduce_sum(location, axes)
        return ans, div(reduce_sum(mul(t, location), axes), counts)

    ad.jvp_rules[prim] = rule


reduce_max_p = reduction("reduce_max", np.max)
_chooser_jvp(reduce_max_p)
reduce_min_p = reduction("reduce_min", np.min)
_chooser_jvp(reduce_min_p)


def _empty_check(name, x, axes):
    a = get_aval(x)
    if any(a.shape[i] == 0 for i in axes):
        raise ValueError(f"funtorch.{name}: zero-size reduction over axes {axes} of "
                         f"{a.str_short()} has no identity")


def reduce_max(x, axes):
    axes = canonical_axes("max", axes, get_aval(x).ndim)
    _empty_check("max", x, axes)
    return bind(reduce_max_p, x, axes=tuple(sorted(axes))) if axes else x


def reduce_min(x, axes):
    axes = canonical_axes("min", axes, get_aval(x).ndim)
    _empty_check("min", x, axes)
    return bind(reduce_min_p, x, axes=tuple(sorted(axes))) if axes else x


# --------------------------------------------------------------------------- prod

reduce_prod_p = reduction("reduce_prod", np.prod, widen_halves=True)


def _prod_jvp(primals, tangents, *, axes):
    """d prod by a tree of pairwise products (``d(a b) = da b + a db``), as JAX: linear in
    the tangent, whose transpose multiplies a cotangent by the partial products one level
    at a time, so a zero cotangent stays 0 where the product of all the other factors
    would overflow (0 * inf). No division: zeros are fine. O(n) work."""
    from .elementwise import add, mul
    from .shape import full_like, pad, reshape, slice_in_dim, transpose
    (x,), (t,) = primals, tangents
    ans = bind(reduce_prod_p, x, axes=axes)
    a = get_aval(x)
    kept = [i for i in range(a.ndim) if i not in axes]
    n = int(np.prod([a.shape[i] for i in axes], dtype=np.int64))
    lead = tuple(a.shape[i] for i in kept)
    if n == 0:
        return ans, reduce_sum(t, axes)    # zeros of the result's shape
    perm = (*kept, *axes)
    xf = reshape(transpose(x, perm), (*lead, n))
    tf = reshape(transpose(t, perm), (*lead, n))
    last = len(lead)
    while n > 1:
        n1 = (n + 1) // 2
        x1, x2 = slice_in_dim(xf, 0, n1, axis=last), slice_in_dim(xf, n1, n, axis=last)
        t1, t2 = slice_in_dim(tf, 0, n1, axis=last), slice_in_dim(tf, n1, n, axis=last)
        if n - n1 != n1:    # odd: the second half ends with a factor 1 (tangent 0)
            config = [(0, 0, 0)] * last + [(0, 1, 0)]
            x2 = pad(x2, full_like(x, 1, shape=()), config)
            t2 = pad(t2, full_like(t, 0, shape=()), config)
        tf = add(mul(t1, x2), mul(x1, t2))
        xf = mul(x1, x2)
        n = n1
    return ans, reshape(tf, lead)


ad.jvp_rules[reduce_prod_p] = _prod_jvp


def reduce_prod(x, axes):
    axes = canonical_axes("prod", axes, get_aval(x).ndim)
    return bind(reduce_prod_p, x, axes=tuple(sorted(axes))) if axes else x


# --------------------------------------------------------------------------- argmax / argmin

def _arg_reduction(name, np_fn):
    prim = Primitive(name, kind="reduction")

    def impl(x, *, axis, index_dtype):
        if x.shape[axis] == 0:
            raise ValueError(f"funtorch.{name}: empty axis {axis}")
        return np.asarray(np_fn(x, axis=axis), index_dtype)

    def shape_rule(x, *, axis, index_dtype):
        if x.shape[axis] == 0:
            raise ValueError(f"funtorch.{name}: attempt to get {name} of an empty axis")
        return ShapedArray(_reduced_shape(x.shape, (axis,)), index_dtype)

    def batch_rule(vals, dims, *, axis, index_dtype):
        (new_axis,), out_bdim = _shift_axes((axis,), dims[0])
        return bind(prim, vals[0], axis=new_axis, index_dtype=index_dtype), out_bdim

    prim.def_impl(impl)
    prim.def_abstract_eval(shape_rule)
    batching.batching_rules[prim] = batch_rule
    defjvp_zero(prim)
    return prim


argmax_p = _arg_reduction("argmax", np.argmax)
argmin_p = _arg_reduction("argmin", np.argmin)


def argmax(x, axis, index_dtype=dtypes.int64):
    (axis,) = canonical_axes("argmax", (axis,), get_aval(x).ndim)
    return bind(argmax_p, x, axis=axis, index_dtype=dtypes.dtype(index_dtype))


def argmin(x, axis, index_dtype=dtypes.int64):
    (axis,) = canonical_axes("argmin", (axis,), get_aval(x).ndim)
    return bind(argmin_p, x, axis=axis, index_dtype=dtypes.dtype(index_dtype))


# --------------------------------------------------------------------------- cumsum

cumsum_p = Primitive("cumsum", kind="library")


def _cumsum_impl(x, *, axis, reverse):
    with np.errstate(all="ignore"):
        if reverse:
            return np.flip(np.cumsum(np.flip(x, axis), axis=axis, dtype=x.dtype), axis)
        return np.cumsum(x, axis=axis, dtype=x.dtype)


cumsum_p.def_impl(_cumsum_impl)
cumsum_p.def_abstract_eval(lambda x, *, axis, reverse: x)
ad.deflinear(cumsum_p, lambda ct, x, *, axis, reverse: [cumsum(ct, axis, not reverse)])
batching.batching_rules[cumsum_p] = lambda vals, dims, *, axis, reverse: (
    cumsum(vals[0], axis + (1 if axis >= dims[0] else 0), reverse), dims[0])


def cumsum(x, axis, reverse=False):
    (axis,) = canonical_axes("cumsum", (axis,), get_aval(x).ndim)
    return bind(cumsum_p, x, axis=axis, reverse=bool(reverse))


