"""Gather and scatter along one axis: the primitives behind indexing, take and ``x.at[]``.

``gather(x, idx, axis)`` is ``np.take``: its result has shape
``x.shape[:axis] + idx.shape + x.shape[axis+1:]``. ``scatter`` takes updates in that
layout and combines them into ``x`` at the positions ``idx`` names. Multi-axis indexing
is composed from these by flattening the indexed axes into one (linear index
``i * n_j + j``), which keeps the primitives, and every rule, one-axis.

Indices are expected normalised (non-negative) by ``funtorch.numpy``. ``mode`` says what
an out-of-range index does, as in JAX: ``'clip'`` clamps it to the nearest valid
position; ``'drop'`` makes a gather read zero and a scatter skip the update. The
transpose of a gather is a scatter-add with the same mode, and vice versa.
"""

from __future__ import annotations

import numpy as np

from ..core import dtypes
from ..core.abstract import ShapedArray
from ..core.trace import Primitive, bind, get_aval
from ..transforms import ad, batching
from ..transforms.ad import Zero, is_undefined
from ..transforms.batching import bdim_at_front, moveaxis
from ._util import canonical_axes, fmt
from .elementwise import (
    add,
    bitwise_and,
    convert_element_type,
    div,
    eq,
    ge,
    lt,
    max,
    min,
    mul,
    ne,
    select_n,
)
from .shape import broadcasted_iota, full, reshape

MODES = ("clip", "drop")
COMBINES = ("set", "add", "mul", "min", "max")


def _check_indices(name, idx):
    if not dtypes.is_int(idx.dtype):
        raise TypeError(f"funtorch.lax.{name}: indices must have an integer dtype, got "
                        f"{fmt(idx)}")


def _check_axis(name, x, axis):
    if not 0 <= axis < x.ndim:
        raise ValueError(f"funtorch.lax.{name}: axis {axis} is out of bounds for operand "
                         f"{fmt(x)}")


def _taken_shape(x_shape, idx_shape, axis):
    return tuple(x_shape[:axis]) + tuple(idx_shape) + tuple(x_shape[axis + 1:])


def index_dtype(limit, dtype=None):
    """A signed integer dtype holding 0..limit: ``dtype`` when it can, else int32/int64."""
    if dtype is not None and dtypes.is_int(dtype) and not dtypes.is_unsigned(dtype) and \
            np.iinfo(dtype).max >= limit:
        return np.dtype(dtype)
    return dtypes.int32 if limit < np.iinfo(np.int32).max else dtypes.int64


def normalize_index(idx, n, mode):
    """Wrap negative indices (numpy's ``-n <= i < 0``) and apply ``mode`` for axis size n.

    'clip' clamps into ``[0, n)``; 'drop' maps anything out of range to ``n``, which
    gather and scatter treat as out of bounds. Works on traced values.
    """
    a = get_aval(idx)
    dt = index_dtype(n, a.dtype)
    idx = convert_element_type(idx, dt)
    zero, size = full(a.shape, 0, dt), full(a.shape, n, dt)
    idx = select_n(lt(idx, zero), idx, add(idx, size))
    if mode == "clip":
        return max(min(idx, full(a.shape, n - 1, dt)), zero)
    return select_n(bitwise_and(ge(idx, zero), lt(idx, size)), size, idx)


def fold_indices(idx, n, mode):
    """Indices ``(B, ...)`` into B blocks of size n -> indices into the B*n flattened blocks.

    Out-of-range indices stay out of range ('drop') or are clamped within their own
    block ('clip'), so folding preserves ``mode``'s meaning.
    """
    a = get_aval(idx)
    total = a.shape[0] * n
    dt = index_dtype(total, a.dtype)
    idx = convert_element_type(idx, dt)
    offsets = mul(broadcasted_iota(dt, a.shape, 0), full(a.shape, n, dt))
    if mode == "clip":
        idx = max(min(idx, full(a.shape, n - 1, dt)), full(a.shape, 0, dt))
        return add(idx, offsets)
    ok = bitwise_and(ge(idx, full(a.shape, 0, dt)), lt(idx, full(a.shape, n, dt)))
    return select_n(ok, full(a.shape, total, dt), add(idx, offsets))


# --------------------------------------------------------------------------- gather

gather_p = Primitive("gather", kind="library")


def _gather_impl(x, idx, *, axis, mode):
    n = x.shape[axis]
    out_shape = _taken_shape(x.shape, idx.shape, axis)
    if n == 0:
        return np.zeros(out_shape, x.dtype)
    idx = idx.astype(np.int64)
    out = np.take(x, np.clip(idx, 0, n - 1), axis=axis)
    if mode == "drop":
        ok = ((idx >= 0) & (idx < n)).reshape((1,) * axis + idx.shape +
                                              (1,) * (x.ndim - axis - 1))
        out = np.where(ok, out, np.zeros((), x.dtype))
    return out


def _gather_shape(x, idx, *, axis, mode):
    _check_indices("gather", idx)
    _check_axis("gather", x, axis)
    return ShapedArray(_taken_shape(x.shape, idx.shape, axis), x.dtype)


def _gather_transpose(ct, x, idx, *, axis, mode):
    if is_undefined(idx):
        raise ValueError("funtorch internal error: gather transposed in its indices")
    zeros = full(x.aval.shape, 0, get_aval(ct).dtype)
    return [scatter(zeros, idx, ct, axis, "add", mode), None]


def _gather_batch(vals, dims, *, axis, mode):
    x, idx = vals
    bx, bi = dims
    if bi is None:
        return gather(moveaxis(x, bx, 0), idx, axis + 1, mode), 0
    if bx is None:
        return gather(x, idx, axis, mode), axis + bi
    # both batched: fold the batch into the gathered axis, offsetting each example's indices
    x = moveaxis(x, bx, axis)
    xs = get_aval(x).shape
    size, n = xs[axis], xs[axis + 1]
    x = reshape(x, (*xs[:axis], size * n, *xs[axis + 2:]))
    return gather(x, fold_indices(moveaxis(idx, bi, 0), n, mode), axis, mode), axis


gather_p.def_impl(_gather_impl)
gather_p.def_abstract_eval(_gather_shape)
ad.defjvp(gather_p, lambda t, ans, x, idx, *, axis, mode: gather(t, idx, axis, mode), None)
ad.transpose_rules[gather_p] = _gather_transpose
batching.batching_rules[gather_p] = _gather_batch


def gather(x, indices, axis, mode="clip"):
    """``np.take(x, indices, axis)`` for non-negative indices; see the module doc for mode."""
    if mode not in MODES:
        raise ValueError(f"funtorch.lax.gather: mode must be one of {MODES}, got {mode!r}")
    (axis,) = canonical_axes("gather", (axis,), get_aval(x).ndim)
    return bind(gather_p, x, indices, axis=axis, mode=mode)


# --------------------------------------------------------------------------- scatter

scatter_p = Primitive("scatter", kind="library")

_UFUNCS = {"add": np.add, "mul": np.multiply, "min": np.minimum, "max": np.maximum}


def _scatter_impl(x, idx, u, *, axis, combine, mode, unique_indices):
    out = np.array(x, order="C")
    n = x.shape[axis]
    if n == 0 or idx.size == 0:
        return out
    pre = int(np.prod(x.shape[:axis], dtype=np.int64))
    post = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
    o3 = out.reshape(pre, n, post)
    u3 = np.asarray(u).reshape(pre, idx.size, post)
    flat = idx.reshape(-1).astype(np.int64)
    if mode == "clip":
        flat = np.clip(flat, 0, n - 1)
    else:
        keep = (flat >= 0) & (flat < n)
        flat, u3 = flat[keep], u3[:, keep]
    if combine == "set":
        o3[:, flat] = u3   # with duplicate indices one update wins (the last)
    else:
        _UFUNCS[combine].at(o3, (slice(None), flat), u3)
    return out


def _scatter_shape(x, idx, u, *, axis, combine, mode, unique_indices):
    _check_indices("scatter", idx)
    _check_axis("scatter", x, axis)
    want = _taken_shape(x.shape, idx.shape, axis)
    if u.shape != want or u.dtype != x.dtype:
        raise TypeError(
            f"funtorch.lax.scatter: updates must have shape operand.shape[:axis] + "
            f"indices.shape + operand.shape[axis+1:] = {want} and the operand's dtype "
            f"{x.dtype}; got operand {fmt(x)}, indices {fmt(idx)}, updates {fmt(u)}")
    return ShapedArray(x.shape, x.dtype)


def _zeros(like):
    a = get_aval(like)
    return full(a.shape, 0, a.dtype)


def _scatter_jvp(primals, tangents, *, axis, combine, mode, unique_indices):
    x, idx, u = primals
    tx, _, tu = tangents
    ans = scatter(x, idx, u, axis, combine, mode, unique_indices)
    if type(tx) is Zero and type(tu) is Zero:
        return ans, Zero.from_value(ans)

    def scatter_add(upd):
        return scatter(_zeros(x), idx, upd, axis, "add", mode, unique_indices)

    if combine == "add":
        return ans, scatter(ad.instantiate(tx), idx, ad.instantiate(tu), axis, "add", mode,
                            unique_indices)
    if combine == "set":
        # Which update lands where (duplicates: one wins) is found by scattering unique
        # ids; the tangent is then a select plus a scatter-add, both transposable.
        ua = get_aval(u)
        id_dt = index_dtype(ua.size + 1)
        ids = add(reshape(broadcasted_iota(id_dt, (ua.size,), 0), ua.shape),
                  full(ua.shape, 1, id_dt))
        landed = scatter(full(get_aval(x).shape, 0, id_dt), idx, ids, axis, "set", mode,
                         unique_indices)
        out = Zero.from_value(ans)
        if type(tx) is not Zero:
            out = select_n(ne(landed, _zeros(landed)), tx, _zeros(tx))
        if type(tu) is not Zero:
            won = eq(gather(landed, idx, axis, mode), ids)
            out = ad.add_tangents(out, scatter_add(select_n(won, _zeros(tu), tu)))
        return ans, out
    if combine == "mul":
        out = Zero.from_value(ans)
        if type(tx) is not Zero:
            out = scatter(tx, idx, u, axis, "mul", mode, unique_indices)
        if type(tu) is not Zero:
            if not unique_indices:
                raise NotImplementedError(
                    "funtorch: differentiating a multiplicative scatter (x.at[idx].multiply(v)) "
                    "with respect to v is only implemented for unique indices; pass "
                    "unique_indices=True if idx has no duplicates")
            out = ad.add_tangents(out, scatter_add(mul(gather(x, idx, axis, mode), tu)))
        return ans, out
    # min / max: the tangent of the winner; ties share it equally (as reduce_max does)
    dt = get_aval(x).dtype
    won_x = convert_element_type(eq(x, ans), dt)
    won_u = convert_element_type(eq(u, gather(ans, idx, axis, mode)), dt)
    count = add(won_x, scatter_add(won_u))
    out = Zero.from_value(ans)
    if type(tx) is not Zero:
        out = mul(tx, won_x)
    if type(tu) is not Zero:
        out = ad.add_tangents(out, scatter_add(mul(tu, won_u)))
    return ans, div(out, count)


def _scatter_transpose(ct, x, idx, u, *, axis, combine, mode, unique_indices):
    if is_undefined(idx):
        raise ValueError("funtorch internal error: scatter transposed in its indices")
    if combine == "add":
        return [ct if is_undefined(x) else None, None,
                gather(ct, idx, axis, mode) if is_undefined(u) else None]
    if combine == "mul" and not is_undefined(u):
        return [scatter(ct, idx, u, axis, "mul", mode, unique_indices), None, None]
    raise NotImplementedError(f"funtorch: scatter with combine={combine!r} is not linear, so "
                              "it has no transpose")


def _scatter_batch(vals, dims, *, axis, combine, mode, unique_indices):
    x, idx, u = vals
    bx, bi, bu = dims
    size = batching.batch_size_of(vals, dims)
    x, u = bdim_at_front(x, bx, size), bdim_at_front(u, bu, size)
    if bi is None:
        return scatter(x, idx, u, axis + 1, combine, mode, unique_indices), 0
    # batched indices: fold the batch into the scattered axis, offsetting each example
    x = moveaxis(x, 0, axis)
    xs = get_aval(x).shape
    n = xs[axis + 1]
    x = reshape(x, (*xs[:axis], size * n, *xs[axis + 2:]))
    idx = fold_indices(bdim_at_front(idx, bi, size), n, mode)
    out = scatter(x, idx, moveaxis(u, 0, axis), axis, combine, mode, unique_indices)
    return reshape(out, xs), axis


scatter_p.def_impl(_scatter_impl)
scatter_p.def_abstract_eval(_scatter_shape)
ad.jvp_rules[scatter_p] = _scatter_jvp
ad.transpose_rules[scatter_p] = _scatter_transpose
batching.batching_rules[scatter_p] = _scatter_batch


def scatter(x, indices, updates, axis, combine="add", mode="drop", unique_indices=False):
    """Combine ``updates`` into ``x`` at ``indices`` along ``axis`` (the inverse layout of
    gather). ``combine``: 'set' (one duplicate wins), 'add', 'mul', 'min' or 'max'.
    ``unique_indices`` promises no duplicates (needed to differentiate 'mul' in updates).
    """
    if combine not in COMBINES:
        raise ValueError(f"funtorch.lax.scatter: combine must be one of {COMBINES}, got "
                         f"{combine!r}")
    if mode not in MODES:
        raise ValueError(f"funtorch.lax.scatter: mode must be one of {MODES}, got {mode!r}")
    (axis,) = canonical_axes("scatter", (axis,), get_aval(x).ndim)
    return bind(scatter_p, x, indices, updates, axis=axis, combine=combine, mode=mode,
                unique_indices=bool(unique_indices))


# --------------------------------------------------------------------------- composites

def take_along_axis(x, indices, axis, mode="clip"):
    """``np.take_along_axis`` for non-negative indices whose other dims equal x's.

    One gather: the other axes are flattened into rows and each row's indices offset.
    """
    a, ia = get_aval(x), get_aval(indices)
    (axis,) = canonical_axes("take_along_axis", (axis,), a.ndim)
    others = tuple(s for i, s in enumerate(a.shape) if i != axis)
    if ia.ndim != a.ndim or any(ia.shape[i] != s for i, s in enumerate(a.shape) if i != axis):
        raise ValueError(f"funtorch.lax.take_along_axis: indices {fmt(ia)} must match the "
                         f"operand {fmt(a)} on every axis but {axis}")
    if a.ndim == 1:
        return gather(x, indices, 0, mode)
    last = a.ndim - 1
    n, k = a.shape[axis], ia.shape[axis]
    rows = int(np.prod(others, dtype=np.int64))
    xf = reshape(moveaxis(x, axis, last), (rows * n,))
    idx = fold_indices(reshape(moveaxis(indices, axis, last), (rows, k)), n, mode)
    out = reshape(gather(xf, idx, 0, mode), (*others, k))
    return moveaxis(out, last, axis)
