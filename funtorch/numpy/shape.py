"""Shape manipulation with numpy names."""

from __future__ import annotations

import numpy as np

from .. import lax
from ..core.trace import concrete_or_error
from ._core import (
    asarray,
    axes_tuple,
    broadcast_shapes,
    broadcast_to_shape,
    canonicalize_axis,
    is_array,
    promote,
)


def _arr(x):
    return x if is_array(x) else asarray(x)


def _static_ints(name, what, v):
    """A shape-fixing integer argument (an int, a numpy integer, a sequence of them, or a
    concrete integer array) as a numpy int64 array of rank 0 or 1. It fixes the output's
    shape, so a traced value raises a ConcretizationTypeError."""
    if is_array(v):
        v = concrete_or_error(v, f"funtorch.{name}'s {what} (it fixes the output's shape; "
                                 "pass a Python int or mark it static)")
    elif isinstance(v, (list, tuple)) and any(is_array(e) for e in v):
        v = [concrete_or_error(e, f"funtorch.{name}'s {what} (it fixes the output's shape)")
             if is_array(e) else e for e in v]
    try:
        a = np.asarray(v)
    except (TypeError, ValueError):
        raise TypeError(f"funtorch.{name}: {what} must be an integer or a sequence of "
                        f"integers, got {v!r}") from None
    if a.size and (a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer)):
        raise TypeError(f"funtorch.{name}: {what} must be an integer or a sequence of "
                        f"integers, got {v!r}")
    if a.ndim > 1:
        raise ValueError(f"funtorch.{name}: {what} must be an integer or a 1-D sequence of "
                         f"integers, got an array of shape {a.shape}")
    return a.astype(np.int64)


def reshape(x, *shape, order="C"):
    if order != "C":
        raise NotImplementedError("funtorch.reshape: only order='C' is supported")
    x = _arr(x)
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = tuple(shape[0])
    shape = [int(s) for s in shape]
    if shape.count(-1) > 1:
        raise ValueError("funtorch.reshape: can only specify one unknown dimension (-1)")
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
        if known == 0 or x.size % known:
            raise ValueError(f"funtorch.reshape: cannot reshape array of size {x.size} into "
                             f"shape {tuple(shape)}")
        shape[shape.index(-1)] = x.size // known
    if any(s < 0 for s in shape) or int(np.prod(shape, dtype=np.int64)) != x.size:
        raise ValueError(f"funtorch.reshape: cannot reshape an array of shape {x.shape} "
                         f"({x.size} elements) into shape {tuple(shape)}; the sizes must "
                         "multiply to the same count (use -1 for one inferred dimension)")
    return lax.reshape(x, tuple(shape))


def ravel(x):
    x = _arr(x)
    return lax.reshape(x, (x.size,))


def transpose(x, axes=None):
    x = _arr(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = tuple(canonicalize_axis("transpose", a, x.ndim) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"funtorch.transpose: axes {axes} are not a permutation of "
                         f"range({x.ndim})")
    return lax.transpose(x, axes)


def permute_dims(x, axes):
    return transpose(x, axes)


def swapaxes(x, axis1, axis2):
    x = _arr(x)
    a1 = canonicalize_axis("swapaxes", axis1, x.ndim)
    a2 = canonicalize_axis("swapaxes", axis2, x.ndim)
    perm = list(range(x.ndim))
    perm[a1], perm[a2] = perm[a2], perm[a1]
    return lax.transpose(x, tuple(perm))


def moveaxis(x, source, destination):
    x = _arr(x)
    src = axes_tuple("moveaxis", source, x.ndim) if isinstance(source, (tuple, list)) else (
        canonicalize_axis("moveaxis", source, x.ndim),)
    dst = axes_tuple("moveaxis", destination, x.ndim) if isinstance(
        destination, (tuple, list)) else (canonicalize_axis("moveaxis", destination, x.ndim),)
    if len(src) != len(dst):
        raise ValueError("funtorch.moveaxis: source and destination need the same length")
    order = [i for i in range(x.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return lax.transpose(x, tuple(order))


def squeeze(x, axis=None):
    x = _arr(x)
    if axis is None:
        axes = tuple(i for i, s in enumerate(x.shape) if s == 1)
    else:
        axes = axes_tuple("squeeze", axis, x.ndim)
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"funtorch.squeeze: cannot select an axis to squeeze out "
                                 f"which has size not equal to one (axis {a} of shape "
                                 f"{x.shape})")
    return lax.squeeze(x, axes)


def expand_dims(x, axis):
    x = _arr(x)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    return lax.expand_dims(x, tuple(axes))


def broadcast_to(x, shape):
    x = _arr(x)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(map(int, shape))
    out = broadcast_shapes("broadcast_to", x.shape, shape)
    if out != shape:
        raise ValueError(f"funtorch.broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    return broadcast_to_shape(x, shape)


def broadcast_arrays(*xs):
    xs = [_arr(x) for x in xs]
    shape = broadcast_shapes("broadcast_arrays", *[x.shape for x in xs])
    return [broadcast_to(x, shape) for x in xs]


def atleast_1d(x):
    x = _arr(x)
    return lax.reshape(x, (1,)) if x.ndim == 0 else x


def cat(tensors, dim=None, *, axis=None):
    """PyTorch's ``torch.cat``: ``concatenate`` under PyTorch's name, taking its ``dim``
    (or ``axis``; default 0).

    Examples:
        >>> import funtorch as ft
        >>> ft.cat([ft.ones(2), ft.zeros(1)])
        Array([1., 1., 0.], dtype=float32)
        >>> ft.cat([ft.ones((2, 1)), ft.zeros((2, 1))], dim=1).shape
        (2, 2)
    """
    if dim is not None and axis is not None:
        raise TypeError("funtorch.cat: pass dim or axis, not both")
    return concatenate(tensors, dim if dim is not None else (axis or 0))


def unsqueeze(input, dim):
    """PyTorch's ``torch.unsqueeze``: a new axis of length 1 at ``dim`` (``expand_dims``
    with one axis).

    Examples:
        >>> import funtorch as ft
        >>> ft.unsqueeze(ft.arange(3), 0).shape
        (1, 3)
        >>> ft.unsqueeze(ft.arange(3), -1).shape
        (3, 1)
    """
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"funtorch.unsqueeze: dim must be an int, got {dim!r}; for several "
                        "axes use ft.expand_dims(x, axis=(...))")
    return expand_dims(input, int(dim))


def concatenate(arrays, axis=0):
    arrays = [_arr(a) for a in arrays]
    if not arrays:
        raise ValueError("funtorch.concatenate: need at least one array")
    if axis is None:
        arrays = [ravel(a) for a in arrays]
        axis = 0
    arrays = promote("concatenate", *arrays)
    nd = arrays[0].ndim
    if nd == 0:
        raise ValueError("funtorch.concatenate: zero-dimensional arrays cannot be concatenated")
    for a in arrays:
        if a.ndim != nd:
            raise ValueError(f"funtorch.concatenate: all arrays need the same rank, got shapes "
                             f"{[tuple(a.shape) for a in arrays]}")
    return lax.concatenate(arrays, canonicalize_axis("concatenate", axis, nd))


concat = concatenate


def stack(arrays, axis=0):
    arrays = [_arr(a) for a in arrays]
    if not arrays:
        raise ValueError("funtorch.stack: need at least one array")
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"funtorch.stack: all arrays must have the same shape, got "
                         f"{[tuple(a.shape) for a in arrays]}")
    nd = arrays[0].ndim + 1
    axis = canonicalize_axis("stack", axis, nd)
    return concatenate([lax.expand_dims(a, (axis,)) for a in arrays], axis)


def hstack(arrays):
    arrays = [atleast_1d(a) for a in arrays]
    return concatenate(arrays, 0 if arrays[0].ndim == 1 else 1)


def vstack(arrays):
    arrays = [_arr(a) for a in arrays]
    arrays = [lax.reshape(a, (1, a.size)) if a.ndim < 2 else a for a in arrays]
    return concatenate(arrays, 0)


def _split_at(x, indices, axis):
    """numpy's split at explicit indices: piece i is ``x[b_i:b_{i+1}]`` (slice rules, so
    negative indices wrap and an index past a later one gives an empty piece)."""
    n = x.shape[axis]
    bounds = [0, *(int(i) for i in indices), n]
    out = []
    for a, b in zip(bounds, bounds[1:]):
        start, stop, _ = slice(a, b).indices(n)
        out.append(lax.slice_in_dim(x, start, max(start, stop), 1, axis))
    return out


def split(x, indices_or_sections, axis=0):
    x = _arr(x)
    axis = canonicalize_axis("split", axis, x.ndim)
    n = x.shape[axis]
    v = _static_ints("split", "indices_or_sections", indices_or_sections)
    if v.ndim:
        return _split_at(x, v.tolist(), axis)
    k = int(v)
    if k <= 0 or n % k:
        raise ValueError(f"funtorch.split: array of size {n} along axis {axis} does not "
                         f"split into {k} equal sections (use array_split)")
    return _split_at(x, [i * (n // k) for i in range(1, k)], axis)


def array_split(x, indices_or_sections, axis=0):
    x = _arr(x)
    axis = canonicalize_axis("array_split", axis, x.ndim)
    n = x.shape[axis]
    v = _static_ints("array_split", "indices_or_sections", indices_or_sections)
    if v.ndim:
        return _split_at(x, v.tolist(), axis)
    k = int(v)
    if k <= 0:
        raise ValueError(f"funtorch.array_split: number sections must be larger than 0, "
                         f"got {k}")
    q, r = divmod(n, k)
    sizes = [q + 1] * r + [q] * (k - r)
    return _split_at(x, np.cumsum(sizes)[:-1].tolist(), axis)


def flip(x, axis=None):
    x = _arr(x)
    return lax.rev(x, axes_tuple("flip", axis, x.ndim))


def pad(x, pad_width, mode="constant", constant_values=0):
    """numpy's pad (mode 'constant', 'edge' or 'reflect')."""
    x = _arr(x)
    pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2)).tolist() \
        if x.ndim else []
    if any(a < 0 or b < 0 for a, b in pw):
        raise ValueError(f"funtorch.pad: negative pad width {pad_width}")
    if mode == "constant":
        cv = np.asarray(constant_values)
        if cv.ndim != 0:
            raise NotImplementedError("funtorch.pad: only a scalar constant_values is supported")
        return lax.pad(x, np.asarray(constant_values, x.dtype), [(a, b, 0) for a, b in pw])
    if mode in ("edge", "reflect"):
        for ax, (a, b) in enumerate(pw):
            if x.shape[ax] == 0 and (a or b):
                raise ValueError(f"funtorch.pad: can't extend empty axis {ax} using modes "
                                 f"other than 'constant' (got mode={mode!r}); pad it with "
                                 "mode='constant' or leave its pad width 0")
        for ax, (a, b) in enumerate(pw):
            n = x.shape[ax]
            if not (a or b):
                continue
            if mode == "edge":
                left = [lax.slice_in_dim(x, 0, 1, 1, ax)] * a
                right = [lax.slice_in_dim(x, n - 1, n, 1, ax)] * b
            else:    # reflected repeatedly past the far edge, as numpy and JAX
                src = [_reflect(i, n) for i in range(-a, 0)] + \
                    [_reflect(i, n) for i in range(n, n + b)]
                taps = [lax.slice_in_dim(x, i, i + 1, 1, ax) for i in src]
                left, right = taps[:a], taps[a:]
            x = lax.concatenate([*left, x, *right], ax) if (left or right) else x
        return x
    raise NotImplementedError(f"funtorch.pad: mode {mode!r} is not supported")


def _reflect(i, n):
    """The source of padded position ``i`` of an axis of ``n`` under mode 'reflect' (the
    edge not repeated): the axis extended with period 2 (n - 1)."""
    if n == 1:
        return 0
    j = i % (2 * (n - 1))
    return j if j < n else 2 * (n - 1) - j


def tile(x, reps):
    x = _arr(x)
    reps = tuple(_static_ints("tile", "reps", reps).reshape(-1).tolist())
    if any(n < 0 for n in reps):
        raise ValueError(f"funtorch.tile: negative dimensions are not allowed (reps={reps})")
    nd = max(x.ndim, len(reps))
    x = lax.reshape(x, (1,) * (nd - x.ndim) + tuple(x.shape))
    reps = (1,) * (nd - len(reps)) + reps
    for ax, r in enumerate(reps):
        if r != 1:
            x = lax.concatenate([x] * r, ax) if r > 0 else lax.slice_in_dim(x, 0, 0, 1, ax)
    return x


def repeat(x, repeats, axis=None):
    x = _arr(x)
    if axis is None:
        x, axis = ravel(x), 0
    axis = canonicalize_axis("repeat", axis, x.ndim)
    r = _static_ints("repeat", "repeats", repeats)
    if r.ndim:
        raise NotImplementedError("funtorch.repeat: only an integer repeat count is supported")
    r = int(r)
    if r < 0:
        raise ValueError(f"funtorch.repeat: negative dimensions are not allowed (repeats={r})")
    shape = list(x.shape)
    y = lax.expand_dims(x, (axis + 1,))
    bshape = shape[:axis + 1] + [r] + shape[axis + 1:]
    y = lax.broadcast_in_dim(y, tuple(bshape), tuple(range(len(bshape))))
    shape[axis] *= r
    return lax.reshape(y, tuple(shape))


def roll(x, shift, axis=None):
    """numpy's roll: ``shift`` and ``axis`` may be ints or matching sequences (a scalar
    broadcasts); shifts on the same axis add up; ``axis=None`` rolls the flattened array."""
    x = _arr(x)
    shifts = _static_ints("roll", "shift", shift)
    if axis is None:
        return reshape(roll(ravel(x), int(shifts.sum()), 0), x.shape)
    axes = _static_ints("roll", "axis", axis)
    try:
        shifts, axes = np.broadcast_arrays(shifts, axes)
    except ValueError:
        raise ValueError(f"funtorch.roll: shift {shift!r} and axis {axis!r} must have the same "
                         "length (or one of them be a scalar)") from None
    total = [0] * x.ndim
    for sh, ax in zip(shifts.reshape(-1).tolist(), axes.reshape(-1).tolist()):
        total[canonicalize_axis("roll", ax, x.ndim)] += sh
    for ax, sh in enumerate(total):
        n = x.shape[ax]
        s = sh % n if n else 0
        if s:
            x = lax.concatenate([lax.slice_in_dim(x, n - s, n, 1, ax),
                                 lax.slice_in_dim(x, 0, n - s, 1, ax)], ax)
    return x


def _tri(name, x, k, lower):
    """numpy's tril/triu: keep the entries on and below (above) the k-th diagonal of the
    last two axes; a 1-D ``x`` is a row broadcast to a square matrix. The dtype is kept."""
    x = _arr(x)
    if x.ndim == 0:
        raise ValueError(f"funtorch.{name}: needs an array with at least one axis, got a 0-d "
                         "array")
    rows, cols = (x.shape[-1], x.shape[-1]) if x.ndim == 1 else x.shape[-2:]
    r = lax.broadcasted_iota("int64", (rows, cols), 0)
    c = lax.broadcasted_iota("int64", (rows, cols), 1)
    r = lax.add(r, lax.full_like(r, k))
    keep = lax.ge(r, c) if lower else lax.le(r, c)
    shape = (rows, cols) if x.ndim == 1 else tuple(x.shape)
    x = broadcast_to_shape(x, shape)
    keep = broadcast_to_shape(keep, shape)
    return lax.select_n(keep, lax.full_like(x, 0), x)


def tril(x, k=0):
    return _tri("tril", x, k, True)


def triu(x, k=0):
    return _tri("triu", x, k, False)
