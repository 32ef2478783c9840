"""numpy indexing: ``x[idx]``, ``x.at[idx]``, take, take_along_axis, diagonal, nonzero.

``x[idx]`` follows numpy's rules (ints, slices, None, Ellipsis, integer arrays with
broadcasting, boolean masks). Basic indices become lax.slice/rev/reshape, which are
cheap and transpose to pad; integer arrays become one gather over the indexed axes
flattened together. ``x.at[idx]`` scatters into the same positions: the indexed axes are
flattened and each element of the indexed view gets its linear index there.

Out-of-range indices: a concrete index (a Python int, a list, a numpy or concrete array)
is checked and raises IndexError, as numpy does. A traced index cannot be checked, so
reads clamp and updates are dropped, as in JAX. Boolean masks give data-dependent
shapes and so need a concrete mask (outside jit and vmap).
"""

from __future__ import annotations

import builtins
import operator

import numpy as np

from .. import lax
from ..core import dtypes
from ..core.array import Array, to_numpy
from ..core.errors import ConcretizationTypeError
from ..core.trace import Tracer
from ..lax.indexing import index_dtype, normalize_index
from ._core import _flat, asarray, broadcast_to_shape, canonicalize_axis, is_array


class NonConcreteBooleanIndexError(IndexError):
    """A boolean mask index was traced, so the result's shape is unknown."""


_VALID = ("only integers, slices (`:`), ellipsis (`...`), None and integer or boolean "
          "arrays are valid indices")


def _arr(x):
    return x if is_array(x) else asarray(x)


# --------------------------------------------------------------------------- parsing
# An index is parsed into one entry per axis of x, with the None axes in place:
#   ("none",)                    a new axis of size 1
#   ("slice", start, step, m, n) the m positions start + k*step of an axis of size n
#   ("int", i, n)                one position, normalised
#   ("array", a, n)              an integer array: numpy (concrete) or a tracer


def _static_int(v, why):
    return operator.index(v.to_concrete(why) if isinstance(v, Tracer) else v)


def _concrete_mask(m, what):
    try:
        return np.asarray(m.to_concrete("a boolean mask index"))
    except ConcretizationTypeError:
        raise NonConcreteBooleanIndexError(
            f"funtorch: {what} needs a concrete boolean mask, because the result's shape "
            f"depends on how many entries are True; got a traced mask of "
            f"{m.aval.str_short()} (inside jit or vmap). Keep the shape fixed with ft.where "
            "instead, e.g. ft.where(mask, x, 0) for x[mask] or ft.where(mask, v, x) for "
            "x.at[mask].set(v), or index outside jit.") from None


def _classify(item, what):
    """One element of an index tuple -> (kind, value) before axes are assigned."""
    if item is None:
        return ("none", None)
    if item is Ellipsis:
        return ("ellipsis", None)
    if isinstance(item, slice):
        return ("slice", item)
    if isinstance(item, (bool, np.bool_)):
        raise TypeError(f"funtorch: a boolean scalar index ({item}) is not supported; use "
                        "None (x[None]) to add an axis")
    if isinstance(item, (int, np.integer)):
        return ("int", int(item))
    if isinstance(item, (list, tuple)) and any(is_array(e) for e in _flat(item)):
        item = asarray(item)
    if isinstance(item, Tracer):
        if dtypes.is_bool(item.dtype):
            return _classify(_concrete_mask(item, what), what)
        if dtypes.is_int(item.dtype):
            return ("array", item)
        raise IndexError(f"funtorch: {_VALID}; got an array index of dtype {item.dtype}")
    if isinstance(item, (Array, np.ndarray, list, tuple)):
        v = to_numpy(item) if isinstance(item, Array) else np.asarray(item)
        if v.size == 0 and isinstance(item, (list, tuple)):
            v = v.astype(np.int64)   # [] is an empty integer index, as in numpy
        if v.dtype == np.bool_:
            if v.ndim == 0:
                return _classify(bool(v), what)
            return ("mask", v)
        if not dtypes.is_int(v.dtype):
            raise IndexError(f"funtorch: {_VALID}; got an array index of dtype {v.dtype}")
        return ("int", int(v)) if v.ndim == 0 else ("array", v.astype(np.int64))
    raise IndexError(f"funtorch: {_VALID}; got {type(item).__name__}")


def _parse(shape, idx, check, what="x[mask]"):
    items = [_classify(it, what) for it in (idx if isinstance(idx, tuple) else (idx,))]
    if sum(k == "ellipsis" for k, _ in items) > 1:
        raise IndexError("funtorch: an index can only have a single ellipsis ('...')")
    used = sum(v.ndim if k == "mask" else 1 for k, v in items if k not in ("none", "ellipsis"))
    if used > len(shape):
        raise IndexError(f"funtorch: too many indices for array: array is {len(shape)}-"
                         f"dimensional, but {used} were indexed")
    if not any(k == "ellipsis" for k, _ in items):
        items.append(("ellipsis", None))
    entries, d = [], 0
    for kind, v in items:
        if kind == "none":
            entries.append(("none",))
        elif kind == "ellipsis":
            for _ in range(len(shape) - used):
                entries.append(("slice", 0, 1, shape[d], shape[d]))
                d += 1
        elif kind == "slice":
            n = shape[d]
            bounds = [None if b is None else _static_int(b, "a slice bound (x[i:j:k])")
                      for b in (v.start, v.stop, v.step)]
            if bounds[2] == 0:
                raise ValueError("funtorch: slice step cannot be zero")
            start, stop, step = slice(*bounds).indices(n)
            entries.append(("slice", start, step, len(range(start, stop, step)), n))
            d += 1
        elif kind == "int":
            n = shape[d]
            if -n <= v < n:
                entries.append(("int", v % n, n))
            elif check:
                raise IndexError(f"funtorch: index {v} is out of bounds for axis {d} with "
                                 f"size {n}")
            else:
                entries.append(("array", np.asarray(v, np.int64), n))
            d += 1
        elif kind == "mask":
            for j, s in enumerate(v.shape):
                if s != shape[d + j]:
                    raise IndexError(
                        f"funtorch: boolean index did not match indexed array along axis "
                        f"{d + j}; size of axis is {shape[d + j]} but size of corresponding "
                        f"boolean axis is {s}")
            for j, a in enumerate(np.nonzero(v)):
                entries.append(("array", a.astype(np.int64), shape[d + j]))
            d += v.ndim
        else:  # integer array
            n = shape[d]
            if check and isinstance(v, np.ndarray) and v.size:
                bad = v[(v < -n) | (v >= n)]
                if bad.size:
                    raise IndexError(f"funtorch: index {bad.flat[0]} is out of bounds for axis "
                                     f"{d} with size {n}")
            entries.append(("array", v, n))
            d += 1
    return entries


def _expand_new_axes(x, entries):
    """Make each None a real axis of size 1 so every entry indexes one axis of x."""
    if not any(e[0] == "none" for e in entries):
        return x, entries
    shape, it = [], iter(x.shape)
    for e in entries:
        shape.append(1 if e[0] == "none" else next(it))
    entries = [("slice", 0, 1, 1, 1) if e[0] == "none" else e for e in entries]
    return lax.reshape(x, tuple(shape)), entries


def _advanced_layout(entries):
    """numpy's rule: the broadcast index block replaces the advanced indices if they are
    adjacent (ints count as advanced when arrays are present), else it goes first."""
    arrays = [e[1] for e in entries if e[0] == "array"]
    if not arrays:
        return arrays, (), True, None
    try:
        block = tuple(np.broadcast_shapes(*[np.shape(a) for a in arrays]))
    except ValueError:
        raise IndexError("funtorch: shape mismatch: indexing arrays could not be broadcast "
                         "together with shapes " + " ".join(str(np.shape(a)) for a in arrays)
                         ) from None
    adv = [d for d, e in enumerate(entries) if e[0] in ("array", "int")]
    adjacent = adv[-1] - adv[0] == len(adv) - 1
    return arrays, block, adjacent, adv[0]


def _to_block(a, block):
    return np.broadcast_to(a, block) if isinstance(a, np.ndarray) else \
        broadcast_to_shape(a, block)


def _linear_index(coords, sizes, shape, mode):
    """Row-major linear index of per-axis coordinates into the flattened indexed axes.

    ``coords`` are numpy arrays broadcastable to ``shape`` (combined on the host) or
    tracers of exactly ``shape``. Negative coordinates wrap; out-of-range ones are
    clamped ('clip') or make the whole index point past the end ('drop'), so the
    gather/scatter mode applies per axis, not to the combined index.
    """
    total = int(np.prod(sizes, dtype=np.int64))
    strides = [int(np.prod(sizes[i + 1:], dtype=np.int64)) for i in range(len(sizes))]
    lin, ok, traced = np.zeros((), np.int64), np.ones((), bool), []
    for c, n, s in zip(coords, sizes, strides, strict=True):
        if isinstance(c, Tracer):
            traced.append((c, n, s))
            continue
        c = np.where(c < 0, c + n, c)
        ok = ok & (c >= 0) & (c < n)
        lin = lin + np.clip(c, 0, builtins.max(n - 1, 0)) * s
    if not traced:
        if mode == "drop":
            lin = np.where(ok, lin, total)
        return np.broadcast_to(lin, shape).astype(index_dtype(total))
    dt = index_dtype(total, traced[0][0].dtype)
    acc = None if len(traced) == len(coords) else np.broadcast_to(lin, shape).astype(dt)
    bad = None if mode == "clip" or ok.all() else np.broadcast_to(~ok, shape)
    zero = lax.full(shape, 0, dt)
    for c, n, s in traced:
        c, size = lax.convert_element_type(c, dt), lax.full(shape, n, dt)
        c = lax.select_n(lax.lt(c, zero), c, lax.add(c, size))
        if mode == "clip":
            c = lax.max(lax.min(c, lax.full(shape, n - 1, dt)), zero)
        else:
            out = lax.bitwise_or(lax.lt(c, zero), lax.ge(c, size))
            bad = out if bad is None else lax.bitwise_or(bad, out)
        c = c if s == 1 else lax.mul(c, lax.full(shape, s, dt))
        acc = c if acc is None else lax.add(acc, c)
    if bad is not None:
        acc = lax.select_n(bad, acc, lax.full(shape, total, dt))
    return acc


def _gather_mode(mode):
    if mode not in (None, "clip", "drop", "fill"):
        raise ValueError(f"funtorch: indexing mode must be None, 'clip' or 'fill'/'drop' "
                         f"(out-of-range reads give 0), got {mode!r}")
    return "drop" if mode in ("drop", "fill") else "clip"


# --------------------------------------------------------------------------- x[idx]

def getitem(x, idx, mode=None):
    """``x[idx]`` with numpy semantics. ``mode`` None checks concrete indices (IndexError)
    and clamps traced ones; 'clip' clamps and 'fill' reads 0 out of range, unchecked."""
    x = _arr(x)
    gmode = _gather_mode(mode)
    x, entries = _expand_new_axes(x, _parse(x.shape, idx, mode is None))
    arrays, block, adjacent, _ = _advanced_layout(entries)
    starts, limits, strides, flips, drops, axes, sizes = [], [], [], [], [], [], []
    for d, e in enumerate(entries):
        if e[0] == "slice":
            _, start, step, m, n = e
            last = start + (m - 1) * step
            lo, hi = (start, last + 1) if step > 0 else (last, start + 1)
            starts.append(lo if m else 0)
            limits.append(hi if m else 0)
            strides.append(builtins.abs(step))
            if step < 0:
                flips.append(d)
        elif e[0] == "int":
            starts.append(e[1])
            limits.append(e[1] + 1)
            strides.append(1)
            drops.append(d)
        else:
            starts.append(0)
            limits.append(e[2])
            strides.append(1)
            axes.append(d - len(drops))
            sizes.append(e[2])
    x = lax.squeeze(lax.rev(lax.slice(x, starts, limits, strides), flips), drops)
    if not arrays:
        return x
    # the array-indexed axes, brought together at p and flattened, take one gather
    p = axes[0] if adjacent else 0
    rest = [a for a in range(x.ndim) if a not in axes]
    x = lax.transpose(x, rest[:p] + axes + rest[p:])
    x = lax.reshape(x, (*x.shape[:p], int(np.prod(sizes, dtype=np.int64)),
                        *x.shape[p + len(axes):]))
    coords = [_to_block(a, block) for a in arrays]
    return lax.gather(x, _linear_index(coords, sizes, block, gmode), p, gmode)


# --------------------------------------------------------------------------- x.at[idx]

def _update(x, idx, v, combine, mode, unique_indices, what):
    if mode not in (None, "clip", "drop"):
        raise ValueError(f"funtorch: {what}: mode must be None, 'clip' or 'drop', got "
                         f"{mode!r}")
    smode = mode or "drop"
    x = _arr(x)
    orig_shape = x.shape
    x, entries = _expand_new_axes(x, _parse(x.shape, idx, mode is None, what))
    arrays, block, adjacent, first_adv = _advanced_layout(entries)

    # the indexed view x[idx], one descriptor per axis: ("axis", d) or ("block", k)
    view = [("block", k) for k in range(len(block))] if arrays and not adjacent else []
    for d, e in enumerate(entries):
        if e[0] == "slice":
            view.append(("axis", d))
        elif arrays and adjacent and d == first_adv:
            view.extend(("block", k) for k in range(len(block)))
    view_shape = tuple(entries[t][3] if kind == "axis" else block[t] for kind, t in view)

    # axes taken whole stay put; the others (I) are flattened into one scatter axis
    def whole(e):
        return e[0] == "slice" and e[1] == 0 and e[2] == 1 and e[3] == e[4]

    indexed = [d for d, e in enumerate(entries) if not whole(e)]
    kept = [d for d, e in enumerate(entries) if whole(e)]
    contiguous = indexed == list(range(indexed[0], indexed[0] + len(indexed))) if indexed \
        else True
    p = indexed[0] if indexed and contiguous else 0
    pre, post = [d for d in kept if d < p], [d for d in kept if d >= p]
    perm = pre + indexed + post

    # updates: broadcast to the view, then laid out as pre + index shape + post
    v = asarray(v) if not is_array(v) else v
    v = lax.convert_element_type(v, x.dtype)
    if v.ndim > len(view_shape) and all(s == 1 for s in v.shape[:v.ndim - len(view_shape)]):
        v = lax.reshape(v, v.shape[v.ndim - len(view_shape):])
    try:
        if tuple(np.broadcast_shapes(v.shape, view_shape)) != view_shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"funtorch: {what}: values of shape {tuple(v.shape)} cannot be "
                         f"broadcast to the indexed shape {view_shape}") from None
    v = broadcast_to_shape(v, view_shape)
    pos = {desc: i for i, desc in enumerate(view)}
    index_view = [i for i, desc in enumerate(view)
                  if desc[0] == "block" or not whole(entries[desc[1]])]
    v = lax.transpose(v, [pos[("axis", d)] for d in pre] + index_view +
                      [pos[("axis", d)] for d in post])

    # the linear index of every view element into the flattened indexed axes
    index_shape = tuple(view_shape[i] for i in index_view)
    where = {view[i]: j for j, i in enumerate(index_view)}
    r = len(index_shape)
    coords, sizes, arrays_left = [], [], iter(arrays)
    for d in indexed:
        e = entries[d]
        if e[0] == "slice":
            j = where[("axis", d)]
            c = (e[1] + e[2] * np.arange(e[3])).reshape((1,) * j + (e[3],) + (1,) * (r - j - 1))
        elif e[0] == "int":
            c = np.asarray(e[1])
        else:
            c = _to_block(next(arrays_left), block)
            j = where[("block", 0)] if block else 0
            if isinstance(c, np.ndarray):
                c = c.reshape((1,) * j + block + (1,) * (r - j - len(block)))
            else:
                c = lax.broadcast_in_dim(c, index_shape, tuple(range(j, j + len(block))))
        coords.append(c)
        sizes.append(e[4] if e[0] == "slice" else e[2])
    lin = _linear_index(coords, sizes, index_shape, smode)

    xt = lax.transpose(x, perm)
    xs = xt.shape
    flat = lax.reshape(xt, (*xs[:len(pre)], int(np.prod(sizes, dtype=np.int64)),
                            *xs[len(pre) + len(indexed):]))
    # ints and slices (and a single advanced index) name each position once
    unique = unique_indices or int(np.prod(block, dtype=np.int64)) <= 1
    out = lax.scatter(flat, lin, v, len(pre), combine, smode, unique)
    out = lax.transpose(lax.reshape(out, xs), tuple(np.argsort(perm)))
    return lax.reshape(out, orig_shape)


def _default_fill(dtype):
    """JAX's fill value for out-of-range reads of ``dtype``."""
    if dtypes.is_float(dtype):
        return float("nan")
    if dtypes.is_bool(dtype):
        return True
    return int(np.iinfo(np.dtype(dtype)).min if np.dtype(dtype).kind == "i"
               else np.iinfo(np.dtype(dtype)).max)


class _IndexUpdateRef:
    """``x.at[idx]``: functional updates of the positions ``x[idx]`` names.

    Each method returns a new array with x's dtype; values broadcast to ``x[idx]``'s
    shape. With duplicate indices ``add``/``multiply``/``min``/``max`` accumulate and
    ``set`` keeps one of the values. ``mode`` None raises IndexError for concrete
    out-of-range indices and drops traced ones; 'drop' and 'clip' never raise.
    """

    __slots__ = ("array", "index")

    def __init__(self, array, index):
        self.array = array
        self.index = index

    def __repr__(self):
        return f"_IndexUpdateRef({self.array!r}, {self.index!r})"

    def get(self, mode=None, fill_value=None):
        """``x[idx]``; with ``mode='fill'`` (or 'drop') out-of-range positions read
        ``fill_value``, by default JAX's: NaN for floats, the minimum of a signed integer
        type, the maximum of an unsigned one, True for bool.

        Examples:
            >>> import funtorch as ft
            >>> x = ft.arange(3.0)
            >>> x.at[ft.asarray([0, 5])].get(mode="fill", fill_value=-1.0)
            Array([ 0., -1.], dtype=float32)
            >>> x.at[ft.asarray([0, 5])].get(mode="fill")
            Array([ 0., nan], dtype=float32)
        """
        if fill_value is not None and mode not in ("fill", "drop"):
            raise ValueError("funtorch: x.at[idx].get: fill_value needs mode='fill', got "
                             f"mode={mode!r}")
        out = getitem(self.array, self.index, mode)
        if mode not in ("fill", "drop"):
            return out
        x = _arr(self.array)
        inside = getitem(lax.full(x.shape, True, dtypes.bool_), self.index, mode)
        if fill_value is None:
            fill_value = _default_fill(x.dtype)
        return lax.select_n(inside, lax.full(out.shape, fill_value, x.dtype), out)

    def set(self, values, mode=None, unique_indices=False):
        return _update(self.array, self.index, values, "set", mode, unique_indices,
                       "x.at[idx].set")

    def add(self, values, mode=None, unique_indices=False):
        return _update(self.array, self.index, values, "add", mode, unique_indices,
                       "x.at[idx].add")

    def subtract(self, values, mode=None, unique_indices=False):
        from .ufuncs import negative
        return _update(self.array, self.index, negative(values), "add", mode, unique_indices,
                       "x.at[idx].subtract")

    def multiply(self, values, mode=None, unique_indices=False):
        """``unique_indices=True`` promises no duplicates; it is needed to differentiate
        with respect to ``values``."""
        return _update(self.array, self.index, values, "mul", mode, unique_indices,
                       "x.at[idx].multiply")

    def min(self, values, mode=None, unique_indices=False):
        return _update(self.array, self.index, values, "min", mode, unique_indices,
                       "x.at[idx].min")

    def max(self, values, mode=None, unique_indices=False):
        return _update(self.array, self.index, values, "max", mode, unique_indices,
                       "x.at[idx].max")


class _IndexUpdateHelper:
    """``x.at``: index it to get the update methods (``x.at[idx].set(v)``)."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __getitem__(self, index):
        return _IndexUpdateRef(self.array, index)

    def __repr__(self):
        return f"_IndexUpdateHelper({self.array!r})"


# --------------------------------------------------------------------------- functions

def _index_array(name, indices):
    """Integer indices as a numpy array (concrete) or a tracer."""
    if isinstance(indices, Tracer):
        v = indices
    else:
        v = to_numpy(indices) if isinstance(indices, Array) else np.asarray(indices)
        if v.size == 0 and isinstance(indices, (list, tuple)):
            v = v.astype(np.int64)
    if not dtypes.is_int(v.dtype):
        raise TypeError(f"funtorch.{name}: indices must be integers, got dtype {v.dtype}")
    return v


def take(a, indices, axis=None, mode=None):
    """numpy's take. ``mode``: None/'raise' (IndexError for concrete out-of-range
    indices, clamping for traced ones), 'clip' or 'wrap' (as numpy)."""
    a = _arr(a)
    if mode not in (None, "raise", "clip", "wrap"):
        raise ValueError(f"funtorch.take: mode must be 'raise', 'clip' or 'wrap', got {mode!r}")
    if axis is None:
        a, axis = lax.reshape(a, (a.size,)), 0
    axis = canonicalize_axis("take", axis, a.ndim)
    idx = _index_array("take", indices)
    n = a.shape[axis]
    if mode in ("clip", "wrap"):
        if n == 0:
            raise IndexError(f"funtorch.take: cannot {mode} indices into an empty axis")
        from .ufuncs import clip, remainder
        if mode == "wrap":
            idx = np.mod(idx, n) if isinstance(idx, np.ndarray) else remainder(idx, n)
        else:   # numpy's clip: negative indices clip to 0 rather than wrap
            idx = np.clip(idx, 0, n - 1) if isinstance(idx, np.ndarray) else clip(idx, 0, n - 1)
    return getitem(a, (slice(None),) * axis + (idx,))


def take_along_axis(arr, indices, axis):
    """numpy's take_along_axis: ``indices`` has arr's rank; other axes broadcast."""
    arr = _arr(arr)
    idx = _index_array("take_along_axis", indices)
    if axis is None:
        if idx.ndim != 1:
            raise ValueError(f"funtorch.take_along_axis: with axis=None the indices must be "
                             f"1-D, got shape {tuple(idx.shape)}")
        arr, axis = lax.reshape(arr, (arr.size,)), 0
    if idx.ndim != arr.ndim:
        raise ValueError(f"funtorch.take_along_axis: indices and arr must have the same "
                         f"number of dimensions, got shapes {tuple(idx.shape)} and "
                         f"{tuple(arr.shape)}")
    axis = canonicalize_axis("take_along_axis", axis, arr.ndim)
    n = arr.shape[axis]
    try:
        common = list(np.broadcast_shapes(
            *[tuple(1 if i == axis else s for i, s in enumerate(sh))
              for sh in (arr.shape, idx.shape)]))
    except ValueError:
        raise ValueError(f"funtorch.take_along_axis: shapes {tuple(arr.shape)} and "
                         f"{tuple(idx.shape)} do not broadcast outside axis {axis}") from None
    arr = broadcast_to_shape(arr, tuple(common[:axis] + [n] + common[axis + 1:]))
    ishape = tuple(common[:axis] + [idx.shape[axis]] + common[axis + 1:])
    if isinstance(idx, np.ndarray):
        bad = idx[(idx < -n) | (idx >= n)]
        if bad.size:
            raise IndexError(f"funtorch.take_along_axis: index {bad.flat[0]} is out of bounds "
                             f"for axis {axis} with size {n}")
        idx = np.broadcast_to(np.where(idx < 0, idx + n, idx), ishape).astype(
            index_dtype(n))
    else:
        idx = normalize_index(broadcast_to_shape(idx, ishape), n, "clip")
    return lax.take_along_axis(arr, idx, axis)


def diagonal(a, offset=0, axis1=0, axis2=1):
    """numpy's diagonal: the diagonal becomes the last axis (one static gather)."""
    a = _arr(a)
    if a.ndim < 2:
        raise ValueError(f"funtorch.diagonal: needs an array of at least 2 dimensions, got "
                         f"shape {tuple(a.shape)}")
    ax1 = canonicalize_axis("diagonal", axis1, a.ndim)
    ax2 = canonicalize_axis("diagonal", axis2, a.ndim)
    if ax1 == ax2:
        raise ValueError("funtorch.diagonal: axis1 and axis2 cannot be the same")
    a = lax.transpose(a, [i for i in range(a.ndim) if i not in (ax1, ax2)] + [ax1, ax2])
    n1, n2 = a.shape[-2:]
    r0, c0 = builtins.max(-offset, 0), builtins.max(offset, 0)
    k = builtins.max(0, builtins.min(n1 - r0, n2 - c0))
    lin = (np.arange(k) + r0) * n2 + np.arange(k) + c0
    a = lax.reshape(a, (*a.shape[:-2], n1 * n2))
    return lax.gather(a, lin.astype(index_dtype(n1 * n2)), a.ndim - 1)


def _concrete_value(name, a):
    if isinstance(a, Tracer):
        return np.asarray(a.to_concrete(
            f"funtorch.{name} (its result's shape depends on the input's values, so it runs "
            "only outside jit and vmap; ft.where keeps shapes fixed)"))
    return to_numpy(a) if isinstance(a, Array) else np.asarray(a)


def nonzero(a):
    """Indices of the non-zero entries, one int64 array per axis (outside jit only)."""
    v = _concrete_value("nonzero", a)
    if v.ndim == 0:
        raise ValueError("funtorch.nonzero: a 0-d array has no axes to index; use "
                         "ft.atleast_1d(x) first")
    return tuple(asarray(i.astype(np.int64)) for i in np.nonzero(v))


def argwhere(a):
    """``stack(nonzero(a), -1)``: one row per non-zero entry (outside jit only)."""
    return asarray(np.argwhere(_concrete_value("argwhere", a)).astype(np.int64))


def flatnonzero(a):
    """Indices of the non-zero entries of ``a.ravel()`` (outside jit only)."""
    return asarray(np.flatnonzero(_concrete_value("flatnonzero", a)).astype(np.int64))
