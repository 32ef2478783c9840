"""Op-table entries for indexing, gather/scatter and sorting.

Indices are encoded so the harness's ``split`` sees what a user would pass: integer
numpy arrays (and 0-d numpy ints) are dynamic inputs, traced under jit and batched
under vmap; ints, slices, None, Ellipsis, lists and bool-list masks are static.
"""

from __future__ import annotations

import numpy as np

import funtorch as ft

from op_table import OpInfo, Sample, register

# --------------------------------------------------------------------------- random indices


def _random_index(g, shape, style=None):
    """A random valid numpy index for ``shape``.

    ``style``: 'basic' (ints, slices, None, Ellipsis), 'arrays' (plus integer arrays and
    lists broadcasting to a common shape, numpy's advanced-index placement rules) or
    'mask' (plus one boolean mask over an axis, as a static list).
    """
    style = style or g.choice(["basic", "arrays", "arrays", "mask"])
    block = g.shape(max_dims=2, min_side=1, max_side=3)
    mask_axis = g.int(0, len(shape) - 1) if style == "mask" and shape else None
    items = []
    for d, n in enumerate(shape):
        if d == mask_axis:
            items.append([bool(b) for b in g.array((n,), np.bool_)])
            continue
        kinds = ["full", "slice"] + (["int", "int0d"] if n else [])
        if style == "arrays" and n:
            kinds += ["array", "array", "list"]
        kind = g.choice(kinds)
        if kind == "full":
            items.append(slice(None))
        elif kind == "slice":
            items.append(slice(g.choice([None, g.int(-n - 2, n + 2)]),
                               g.choice([None, g.int(-n - 2, n + 2)]),
                               g.choice([None, 1, 2, 3, -1, -2])))
        elif kind == "int":
            items.append(g.int(-n, n - 1))
        elif kind == "int0d":
            items.append(np.asarray(g.int(-n, n - 1), np.int64))
        else:
            a = g.array(g.broadcastable(block), np.int64, -n, n - 1)
            items.append(a if kind == "array" else a.tolist())
    # an Ellipsis standing for a run (maybe empty) of whole axes, or trailing ones dropped
    if g.bool():
        i = g.int(0, len(items))
        j = i
        while j < len(items) and _whole(items[j]):
            j += 1
        items[i:g.int(i, j)] = [Ellipsis]
    else:
        while items and _whole(items[-1]) and g.bool():
            items.pop()
    for _ in range(g.int(0, 2)):
        items.insert(g.int(0, len(items)), None)
    if len(items) == 1 and g.bool():
        return items[0]
    return tuple(items)


def _whole(item):
    return isinstance(item, slice) and item == slice(None)


def _positions(shape, idx):
    """Flat positions of x[idx] in x (numpy), for references of the update ops."""
    return np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)[idx]


def _getitem_sample(g, dtype):
    x = g.array(g.shape(max_dims=4), dtype)
    return Sample((x, _random_index(g, x.shape)))


def _getitem(x, idx):
    return x[idx]


register(
    OpInfo("getitem", _getitem, _getitem, _getitem_sample),
    OpInfo("getitem_basic", _getitem, _getitem,
           lambda g, d: (lambda x: Sample((x, _random_index(g, x.shape, "basic"))))(
               g.array(g.shape(max_dims=4), d))),
    OpInfo("getitem_mask", _getitem, _getitem,
           lambda g, d: (lambda x: Sample((x, _random_index(g, x.shape, "mask"))))(
               g.array(g.shape(min_dims=1, max_dims=3), d))),
)

# --------------------------------------------------------------------------- x.at[idx]

_UFUNC = {"add": np.add, "multiply": np.multiply, "min": np.minimum, "max": np.maximum}


def _at_sample(unique):
    def sample(g, dtype):
        x = g.array(g.shape(max_dims=4), dtype)
        idx = _random_index(g, x.shape)
        for _ in range(5):
            pos = _positions(x.shape, idx)
            if not unique or np.unique(pos).size == pos.size:
                break
            idx = _random_index(g, x.shape)
        else:
            idx = _random_index(g, x.shape, "basic")
        view = _positions(x.shape, idx).shape
        return Sample((x, idx, g.array(g.broadcastable(view), dtype, 0.5, 2.0)))
    return sample


def _at_ref(method):
    def ref(x, idx, v):
        out = np.array(x)
        pos = _positions(x.shape, idx)
        vals = np.broadcast_to(v, pos.shape).ravel()
        flat = out.reshape(-1)
        if method == "set":
            flat[pos.ravel()] = vals
        else:
            _UFUNC[method].at(flat, pos.ravel(), vals)
        return out
    return ref


register(
    OpInfo("at_set", lambda x, idx, v: x.at[idx].set(v), _at_ref("set"), _at_sample(True)),
    OpInfo("at_add", lambda x, idx, v: x.at[idx].add(v), _at_ref("add"), _at_sample(False),
           atol=1e-5),
    OpInfo("at_multiply", lambda x, idx, v: x.at[idx].multiply(v, unique_indices=True),
           _at_ref("multiply"), _at_sample(True)),
    OpInfo("at_min", lambda x, idx, v: x.at[idx].min(v), _at_ref("min"), _at_sample(False)),
    OpInfo("at_max", lambda x, idx, v: x.at[idx].max(v), _at_ref("max"), _at_sample(False)),
    OpInfo("at_get", lambda x, idx: x.at[idx].get(), _getitem, _getitem_sample),
)

# --------------------------------------------------------------------------- take & co


def _take_sample(g, dtype):
    x = g.array(g.shape(min_dims=1, min_side=1), dtype)
    axis = g.axis(x.ndim, allow_none=True)
    n = x.size if axis is None else x.shape[axis]
    return Sample((x, g.array(g.shape(max_dims=2), np.int64, -n, n - 1)), {"axis": axis})


def _take_along_sample(g, dtype):
    x = g.array(g.shape(min_dims=1, min_side=1), dtype)
    axis = g.axis(x.ndim)
    n = x.shape[axis]
    ishape = [1 if g.bool() else s for s in x.shape]
    ishape[axis] = g.int(0, 4)
    return Sample((x, g.array(tuple(ishape), np.int64, -n, n - 1), axis))


def _diagonal_sample(g, dtype):
    x = g.array(g.shape(min_dims=2), dtype)
    a1 = g.axis(x.ndim)
    a2 = g.choice([a for a in range(x.ndim) if a != a1 % x.ndim])
    return Sample((x,), {"offset": g.int(-3, 3), "axis1": a1, "axis2": a2})


def _nonzero_sample(g, dtype):
    return Sample((g.array(g.shape(min_dims=1), g.choice([np.bool_, np.int64]), -1, 1),))


register(
    OpInfo("take", ft.take, np.take, _take_sample),
    OpInfo("take_along_axis", ft.take_along_axis, np.take_along_axis, _take_along_sample),
    OpInfo("diagonal", ft.diagonal, np.diagonal, _diagonal_sample),
    OpInfo("nonzero", ft.nonzero, np.nonzero, _nonzero_sample, differentiable=False,
           vmap=False, jit=False),
    OpInfo("argwhere", ft.argwhere, np.argwhere, _nonzero_sample, differentiable=False,
           vmap=False, jit=False),
    OpInfo("flatnonzero", ft.flatnonzero, np.flatnonzero, _nonzero_sample,
           differentiable=False, vmap=False, jit=False),
)

# --------------------------------------------------------------------------- sorting


def _distinct(g, shape, dtype):
    """Distinct values, so sorting is smooth in its inputs."""
    flat = np.argsort(np.argsort(g.array((int(np.prod(shape)),), np.float64)))
    return (flat.reshape(shape) * 0.37 - 1.5).astype(dtype)


def _sort_sample(g, dtype):
    x = _distinct(g, g.shape(min_dims=1), dtype)
    return Sample((x,), {"axis": g.axis(x.ndim, allow_none=True), "descending": g.bool()})


def _ties_sample(g, dtype):
    """Few distinct values: stability decides argsort's ties."""
    x = g.array(g.shape(min_dims=1), np.int64, 0, 2).astype(dtype)
    return Sample((x,), {"axis": g.axis(x.ndim, allow_none=True), "descending": g.bool()})


def _sort_ref(x, axis=-1, descending=False):
    out = np.sort(x, axis=axis)
    return np.flip(out, axis=0 if axis is None else axis) if descending else out


def _argsort_ref(x, axis=-1, descending=False):
    return np.argsort(-x if descending else x, axis=axis, kind="stable")


def _lax_sort_sample(payload):
    def sample(g, dtype):
        s = g.shape(min_dims=1)
        return Sample(([_distinct(g, s, dtype), g.array(s, payload or dtype)],),
                      {"dimension": g.axis(len(s))})
    return sample


def _lax_sort_ref(ops, dimension=-1):
    perm = np.argsort(ops[0], axis=dimension, kind="stable")
    return [np.take_along_axis(o, perm, axis=dimension) for o in ops]


register(
    OpInfo("sort", ft.sort, _sort_ref, _sort_sample),
    OpInfo("argsort", ft.argsort, _argsort_ref, _sort_sample, differentiable=False),
    OpInfo("argsort_ties", ft.argsort, _argsort_ref, _ties_sample, differentiable=False),
    OpInfo("lax_sort", ft.lax.sort, _lax_sort_ref, _lax_sort_sample(None)),
    OpInfo("lax_sort_int_payload", ft.lax.sort, _lax_sort_ref, _lax_sort_sample(np.int64)),
)

# --------------------------------------------------------------------------- lax gather/scatter


def _lax_gather_sample(g, dtype):
    x = g.array(g.shape(min_dims=1), dtype)
    axis = g.int(0, x.ndim - 1)
    n = x.shape[axis]
    idx = g.array(g.shape(max_dims=2), np.int64, -2, n + 1)   # some out of range
    return Sample((x, idx, axis), {"mode": g.choice(["clip", "drop"])})


def _lax_gather_ref(x, idx, axis, mode):
    n = x.shape[axis]
    if n == 0:
        return np.zeros(x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype)
    out = np.take(x, np.clip(idx, 0, n - 1), axis=axis)
    if mode == "drop":
        ok = ((idx >= 0) & (idx < n)).reshape((1,) * axis + idx.shape +
                                              (1,) * (x.ndim - axis - 1))
        out = np.where(ok, out, 0).astype(x.dtype)
    return out


def _lax_scatter_sample(g, dtype):
    x = g.array(g.shape(min_dims=1), dtype)
    axis = g.int(0, x.ndim - 1)
    n = x.shape[axis]
    combine = g.choice(["add", "set", "mul", "min", "max"])
    mode = g.choice(["clip", "drop"])
    if combine in ("set", "mul"):   # unique, in range: one well-defined winner
        k = g.int(0, n)
        idx = np.argsort(g.array((n,), np.float64))[:k].astype(np.int64)
    else:
        idx = g.array(g.shape(max_dims=2), np.int64, -2, n + 1)
    u = g.array(x.shape[:axis] + idx.shape + x.shape[axis + 1:], dtype, 0.5, 2.0)
    return Sample((x, idx, u, axis), {"combine": combine, "mode": mode,
                                      "unique_indices": combine in ("set", "mul")})


def _lax_scatter_ref(x, idx, u, axis, combine, mode, unique_indices):
    out = np.moveaxis(np.array(x), axis, 0)
    n = out.shape[0]
    upd = np.moveaxis(u.reshape(x.shape[:axis] + (idx.size,) + x.shape[axis + 1:]), axis, 0)
    for i, v in zip(idx.ravel(), upd, strict=True):
        if not 0 <= i < n:
            if mode == "drop" or n == 0:
                continue
            i = min(max(i, 0), n - 1)
        if combine == "set":
            out[i] = v
        else:
            out[i] = {"add": np.add, "mul": np.multiply, "min": np.minimum,
                      "max": np.maximum}[combine](out[i], v)
    return np.moveaxis(out, 0, axis)


register(
    OpInfo("lax_gather", ft.lax.gather, _lax_gather_ref, _lax_gather_sample),
    OpInfo("lax_scatter", ft.lax.scatter, _lax_scatter_ref, _lax_scatter_sample, atol=1e-5),
)
