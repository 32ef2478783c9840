"""Collectives over named axes (JAX's ``lax.psum`` family).

A collective names an axis (``axis_name``) bound by ``vmap(f, axis_name=...)`` or by
``distributed.spmd(f, axis_name=...)`` (``core/axis_env``). Each primitive below has:

- an impl for the process axis: the MPI collective between processes, through the
  frame's communicator (``distributed.comm.Communicator``), written ``into`` a
  preallocated output; ``lower_call(params, aval)`` binds it once for the CPU backend's
  compiled program: ``(run(x, out), in_place(buf) or None)`` (the allreduces call MPI
  directly, and in place on one buffer where the memory plan lets the result take over
  the operand's);
- a collective rule for the vmap axis (``batching.collective_rules``): the collective as
  an operation over the mapped axis (psum -> reduce_sum over it, all_gather -> the
  mapped axis moved into place, axis_index -> iota), unmapped values included;
- a batching rule for a vmap of another name (per example, nothing is mixed);
- JVP and transpose rules as in JAX: psum, all_gather, psum_scatter and ppermute are
  linear, the transpose of psum is psum of the cotangent, of all_gather is psum_scatter
  (and back), of ppermute the inverse permutation.

``axis_mains`` makes ``bind`` reach the vmap binding the name even when the operand is
not traced by it (``psum(1.0, 'i')`` is the axis size), as JAX's axis primitives do.
"""

from __future__ import annotations

import math

import numpy as np

from .. import tree as tree_util
from ..core import axis_env, dtypes
from ..core.abstract import ShapedArray
from ..core.trace import Primitive, bind, get_aval
from ..transforms import ad, batching
from ..transforms.batching import bdim_at_front, moveaxis
from .elementwise import convert_element_type, div, eq, mul
from .reductions import reduce_max, reduce_min, reduce_sum
from .shape import broadcast_in_dim, broadcasted_iota, concatenate, full, reshape, slice_in_dim


def _names(axis_name, op):
    names = tuple(axis_name) if isinstance(axis_name, (tuple, list)) else (axis_name,)
    if not names:
        raise ValueError(f"funtorch.lax.{op}: axis_name is empty; name at least one axis")
    for n in names:
        axis_env.axis_frame(n, op)   # an unbound name is an error here, naming it
    return names


def _size(names, op):
    return math.prod(axis_env.axis_frame(n, op).size for n in names)


def _one_name(axis_name, op):
    if isinstance(axis_name, (tuple, list)):
        if len(axis_name) != 1:
            raise NotImplementedError(f"funtorch.lax.{op}: one axis name at a time, got "
                                      f"{tuple(axis_name)!r}")
        axis_name = axis_name[0]
    return _names(axis_name, op)


def _comm(axes, op):
    """The communicator of the process axis a collective's ``axes`` name (the vmaps'
    names were batched away before the impl runs)."""
    if len(axes) != 1:
        raise NotImplementedError(f"funtorch.lax.{op}: over several process axes "
                                  f"{axes!r}; bind one process axis per spmd")
    comm = axis_env.process_comm(axes[0])
    if comm is None:
        frame = axis_env.axis_frame(axes[0], op)   # unbound: the error naming it
        # a vmap's trace processes its collectives: reaching here is a bug
        raise RuntimeError(f"funtorch.lax.{op}: axis {frame.name!r} is a vmap axis, yet "
                           "the collective reached the eager impl")
    return comm


def collective(name):
    """A primitive naming axes in its ``axes`` parameter (a tuple of names): a library
    call for the backends (an MPI call over a process axis)."""
    prim = Primitive(name, kind="library")
    prim.axis_mains = lambda params: axis_env.mains(params["axes"])
    prim.lower_call = lambda params, aval: (lambda x, out: prim.into(x, out, **params), None)
    return prim


def _other_names(prim, vals, dims, **params):
    """Batching for a collective over another axis' name: each example on its own; the
    batch axis goes first and the collective's array axes shift past it."""
    x, d = vals[0], dims[0]
    shifted = {k: v + 1 for k, v in params.items()
               if k in ("axis", "scatter_dimension")}
    if not shifted:
        return bind(prim, x, **params), d
    return bind(prim, moveaxis(x, d, 0), **{**params, **shifted}), 0


def _defbatch(prim, own_rule):
    batching.collective_rules[prim] = own_rule
    batching.batching_rules[prim] = lambda vals, dims, **p: _other_names(prim, vals, dims, **p)


def _rest(axes, frame):
    return tuple(n for n in axes if n != frame.name)


# --------------------------------------------------------------------------- psum / pmax / pmin

def _reducer(name, reduce, mpi_op, unmapped):
    prim = collective(name)

    def into(x, out, *, axes):
        _comm(axes, name).allreduce(x, out, mpi_op)

    def impl(x, *, axes):
        out = np.empty(x.shape, x.dtype)
        into(x, out, axes=axes)
        return out

    def own(frame, vals, dims, *, axes):
        x, d = vals[0], dims[0]
        y = unmapped(x, frame.size) if d is None else reduce(x, (d,))
        rest = _rest(axes, frame)
        return (bind(prim, y, axes=rest) if rest else y), None

    def lower_call(params, aval):
        return _comm(params["axes"], name).allreduce_call(aval.dtype, mpi_op)

    prim.def_impl(impl)
    prim.def_abstract_eval(lambda x, *, axes: ShapedArray(x.shape, x.dtype))
    prim.into = into
    prim.lower_call = lower_call
    _defbatch(prim, own)
    return prim


def _times_size(x, n):
    a = get_aval(x)
    return mul(x, full(a.shape, n, a.dtype))


psum_p = _reducer("psum", reduce_sum, "sum", _times_size)
ad.deflinear(psum_p, lambda ct, x, *, axes: [bind(psum_p, ad.instantiate(ct), axes=axes)])

pmax_p = _reducer("pmax", reduce_max, "max", lambda x, n: x)
pmin_p = _reducer("pmin", reduce_min, "min", lambda x, n: x)


def _chooser_jvp(prim):
    """The tangent of the extremum, shared equally among the members that attain it (as
    ``reduce_max``'s). (JAX defines no derivative for pmax/pmin.)"""

    def jvp(primals, tangents, *, axes):
        (x,), (t,) = primals, tangents
        ans = bind(prim, x, axes=axes)
        if type(t) is ad.Zero:
            return ans, ad.Zero.from_value(ans)
        a = get_aval(x)
        hit = convert_element_type(eq(x, ans), a.dtype)
        num = bind(psum_p, mul(hit, t), axes=axes)
        return ans, div(num, bind(psum_p, hit, axes=axes))

    ad.jvp_rules[prim] = jvp


_chooser_jvp(pmax_p)
_chooser_jvp(pmin_p)


def _tree_map(f, x):
    return tree_util.map(f, x)


def _leaf(x):
    # bool sums as int32 (JAX); Python scalars stay weak
    if get_aval(x).dtype == np.bool_:
        return convert_element_type(x, np.int32)
    return x


def psum(x, axis_name):
    """Sum of ``x`` (a pytree) over the named axis (or tuple of axes)."""
    names = _names(axis_name, "psum")
    return _tree_map(lambda v: bind(psum_p, _leaf(v), axes=names), x)


def pmean(x, axis_name):
    """Mean of ``x`` (a pytree) over the named axis (or axes); integers average as floats."""
    names = _names(axis_name, "pmean")
    n = _size(names, "pmean")

    def leaf(v):
        s = bind(psum_p, _leaf(v), axes=names)
        a = get_aval(s)
        if not dtypes.is_float(a.dtype):
            s = convert_element_type(s, np.float32)
            a = get_aval(s)
        return div(s, full(a.shape, n, a.dtype))

    return _tree_map(leaf, x)


def pmax(x, axis_name):
    """Maximum of ``x`` (a pytree) over the named axis (or axes)."""
    names = _names(axis_name, "pmax")
    return _tree_map(lambda v: bind(pmax_p, v, axes=names), x)


def pmin(x, axis_name):
    """Minimum of ``x`` (a pytree) over the named axis (or axes)."""
    names = _names(axis_name, "pmin")
    return _tree_map(lambda v: bind(pmin_p, v, axes=names), x)


# --------------------------------------------------------------------------- all_gather

all_gather_p = collective("all_gather")


def _gathered_shape(shape, axis, tiled, size):
    if tiled:
        return (*shape[:axis], shape[axis] * size, *shape[axis + 1:])
    return (*shape[:axis], size, *shape[axis:])


def _all_gather_into(x, out, *, axes, axis, tiled, size):
    comm = _comm(axes, "all_gather")
    buf = np.empty((size, *x.shape), x.dtype)
    comm.allgather(x, buf)
    stacked = np.moveaxis(buf, 0, axis)
    out[...] = stacked.reshape(out.shape) if tiled else stacked


def _all_gather_impl(x, *, axes, axis, tiled, size):
    out = np.empty(_gathered_shape(x.shape, axis, tiled, size), x.dtype)
    _all_gather_into(x, out, axes=axes, axis=axis, tiled=tiled, size=size)
    return out


def _all_gather_shape(x, *, axes, axis, tiled, size):
    return ShapedArray(_gathered_shape(x.shape, axis, tiled, size), x.dtype)


def _all_gather_own(frame, vals, dims, *, axes, axis, tiled, size):
    x, d = vals[0], dims[0]
    a = get_aval(x)
    if d is None:
        shape = _gathered_shape(a.shape, axis, False, size)
        stacked = broadcast_in_dim(x, shape, tuple(i for i in range(len(shape)) if i != axis))
    else:
        stacked = moveaxis(x, d, axis)
    if tiled:
        shape = get_aval(stacked).shape
        stacked = reshape(stacked, (*shape[:axis], shape[axis] * shape[axis + 1],
                                    *shape[axis + 2:]))
    return stacked, None


def _all_gather_transpose(ct, x, *, axes, axis, tiled, size):
    return [bind(psum_scatter_p, ad.instantiate(ct), axes=axes, scatter_dimension=axis,
                 tiled=tiled, size=size)]


all_gather_p.def_impl(_all_gather_impl)
all_gather_p.def_abstract_eval(_all_gather_shape)
all_gather_p.into = _all_gather_into
_defbatch(all_gather_p, _all_gather_own)
ad.deflinear(all_gather_p, _all_gather_transpose)


def all_gather(x, axis_name, *, axis=0, tiled=False):
    """Every member's ``x`` stacked along a new axis ``axis`` (``tiled``: concatenated
    along the existing ``axis``), the same on every member."""
    names = _one_name(axis_name, "all_gather")
    size = _size(names, "all_gather")

    def leaf(v):
        nd = get_aval(v).ndim
        hi = nd if tiled else nd + 1
        if not -hi <= axis < hi or (tiled and nd == 0):
            raise ValueError(f"funtorch.lax.all_gather: axis={axis} is out of range for an "
                             f"operand of shape {get_aval(v).shape} (tiled={tiled})")
        return bind(all_gather_p, v, axes=names, axis=axis % hi, tiled=bool(tiled),
                    size=size)

    return _tree_map(leaf, x)


# --------------------------------------------------------------------------- psum_scatter

psum_scatter_p = collective("psum_scatter")


def _scattered_shape(shape, dim, tiled, size, op="psum_scatter"):
    if dim >= len(shape) or (shape[dim] != size if not tiled else shape[dim] % size):
        need = f"a multiple of {size}" if tiled else f"{size}"
        raise ValueError(f"funtorch.lax.{op}: the scatter dimension {dim} of an operand of "
                         f"shape {shape} must have size {need} (the axis size; "
                         f"tiled={tiled})")
    if tiled:
        return (*shape[:dim], shape[dim] // size, *shape[dim + 1:])
    return (*shape[:dim], *shape[dim + 1:])


def _psum_scatter_into(x, out, *, axes, scatter_dimension, tiled, size):
    comm = _comm(axes, "psum_scatter")
    dim = scatter_dimension
    if tiled:
        x = x.reshape((*x.shape[:dim], size, x.shape[dim] // size, *x.shape[dim + 1:]))
    chunks = np.ascontiguousarray(np.moveaxis(x, dim, 0))
    res = np.empty(chunks.shape[1:], x.dtype)
    comm.reduce_scatter(chunks, res)
    out[...] = res


def _psum_scatter_impl(x, *, axes, scatter_dimension, tiled, size):
    out = np.empty(_scattered_shape(x.shape, scatter_dimension, tiled, size), x.dtype)
    _psum_scatter_into(x, out, axes=axes, scatter_dimension=scatter_dimension, tiled=tiled,
                       size=size)
    return out


def _psum_scatter_shape(x, *, axes, scatter_dimension, tiled, size):
    return ShapedArray(_scattered_shape(x.shape, scatter_dimension, tiled, size), x.dtype)


def _psum_scatter_own(frame, vals, dims, *, axes, scatter_dimension, tiled, size):
    x, d = vals[0], dims[0]
    y = _times_size(x, size) if d is None else reduce_sum(x, (d,))
    dim = scatter_dimension
    shape = get_aval(y).shape
    if tiled:
        y = reshape(y, (*shape[:dim], size, shape[dim] // size, *shape[dim + 1:]))
    return y, dim


def _psum_scatter_transpose(ct, x, *, axes, scatter_dimension, tiled, size):
    return [bind(all_gather_p, ad.instantiate(ct), axes=axes, axis=scatter_dimension,
                 tiled=tiled, size=size)]


psum_scatter_p.def_impl(_psum_scatter_impl)
psum_scatter_p.def_abstract_eval(_psum_scatter_shape)
psum_scatter_p.into = _psum_scatter_into
_defbatch(psum_scatter_p, _psum_scatter_own)
ad.deflinear(psum_scatter_p, _psum_scatter_transpose)


def psum_scatter(x, axis_name, *, scatter_dimension=0, tiled=False):
    """``psum`` of ``x`` whose result is scattered: member ``i`` gets block ``i`` along
    ``scatter_dimension`` (of size the axis size, or a multiple of it when ``tiled``)."""
    names = _one_name(axis_name, "psum_scatter")
    size = _size(names, "psum_scatter")

    def leaf(v):
        shape = get_aval(v).shape
        dim = scatter_dimension % len(shape) if shape else scatter_dimension
        _scattered_shape(shape, dim, tiled, size)
        return bind(psum_scatter_p, v, axes=names, scatter_dimension=dim,
                    tiled=bool(tiled), size=size)

    return _tree_map(leaf, x)


# --------------------------------------------------------------------------- ppermute

ppermute_p = collective("ppermute")


def _ppermute_into(x, out, *, axes, perm):
    _comm(axes, "ppermute").permute(x, out, perm)


def _ppermute_impl(x, *, axes, perm):
    out = np.empty(x.shape, x.dtype)
    _ppermute_into(x, out, axes=axes, perm=perm)
    return out


def _ppermute_own(frame, vals, dims, *, axes, perm):
    x, d = vals[0], dims[0]
    size = frame.size
    xs = bdim_at_front(x, d, size)
    a = get_aval(xs)
    src_of = {dst: src for src, dst in perm}
    rows = []
    for j in range(size):
        if j in src_of:
            rows.append(slice_in_dim(xs, src_of[j], src_of[j] + 1, axis=0))
        else:
            rows.append(full((1, *a.shape[1:]), 0, a.dtype))
    return concatenate(rows, 0), 0


ppermute_p.def_impl(_ppermute_impl)
ppermute_p.def_abstract_eval(lambda x, *, axes, perm: ShapedArray(x.shape, x.dtype))
ppermute_p.into = _ppermute_into
_defbatch(ppermute_p, _ppermute_own)
ad.deflinear(ppermute_p, lambda ct, x, *, axes, perm: [
    bind(ppermute_p, ad.instantiate(ct), axes=axes,
         perm=tuple((dst, src) for src, dst in perm))])


def ppermute(x, axis_name, perm):
    """Member ``dst`` receives member ``src``'s ``x`` for each ``(src, dst)`` in ``perm``;
    members that receive nothing get zeros."""
    names = _one_name(axis_name, "ppermute")
    size = _size(names, "ppermute")
    perm = tuple((int(s), int(d)) for s, d in perm)
    srcs, dsts = [s for s, _ in perm], [d for _, d in perm]
    if len(set(srcs)) != len(srcs) or len(set(dsts)) != len(dsts) or \
            any(not 0 <= i < size for i in srcs + dsts):
        raise ValueError(f"funtorch.lax.ppermute: perm {perm} must pair distinct sources "
                         f"with distinct destinations, each in [0, {size}) (the size of "
                         f"axis {names[0]!r})")
    return _tree_map(lambda v: bind(ppermute_p, v, axes=names, perm=perm), x)


# --------------------------------------------------------------------------- axis_index

axis_index_p = collective("axis_index")


def _axis_index_impl(*, axes):
    return np.asarray(_comm(axes, "axis_index").rank, np.int32)


def _axis_index_own(frame, vals, dims, *, axes):
    return broadcasted_iota(np.int32, (frame.size,), 0), 0


axis_index_p.def_impl(_axis_index_impl)
axis_index_p.def_abstract_eval(lambda *, axes: ShapedArray((), np.dtype(np.int32)))
batching.collective_rules[axis_index_p] = _axis_index_own
ad.defjvp_zero(axis_index_p)


def axis_index(axis_name):
    """This member's index (int32) along the named axis."""
    return bind(axis_index_p, axes=_one_name(axis_name, "axis_index"))


__all__ = ["psum", "pmean", "pmax", "pmin", "all_gather", "psum_scatter", "ppermute",
           "axis_index", "psum_p", "pmax_p", "pmin_p", "all_gather_p", "psum_scatter_p",
           "ppermute_p", "axis_index_p"]
