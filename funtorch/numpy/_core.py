"""Conversion, promotion and broadcasting shared by the numpy-named ops."""

from __future__ import annotations

import operator

import numpy as np

from .. import lax
from ..core import devices, dtypes
from ..core import trace as trace_mod
from ..core.array import Array, host_array
from ..core.trace import Tracer, get_aval


def is_array(x):
    return isinstance(x, (Array, Tracer))


def asarray(x, dtype=None):
    """Array (or tracer) from array-likes; Python floats -> float32, ints -> int64."""
    if isinstance(x, Tracer):
        return x if dtype is None else lax.convert_element_type(x, dtype)
    if isinstance(x, Array):
        if dtype is None or np.dtype(dtype) == x.dtype:
            return x
        return lax.convert_element_type(x, dtype)
    if not isinstance(x, trace_mod.HOST_TYPES):
        # perhaps a device array (CuPy, PyTorch, numba) a backend shares without a copy
        adopted = devices.adopt(x)
        if adopted is not None:
            return asarray(adopted, dtype)
    if isinstance(x, (list, tuple)) and any(is_array(e) for e in _flat(x)):
        from .shape import stack
        return stack([asarray(e, dtype) for e in x])
    return host_array(x, dtype)


def _flat(x):
    for e in x:
        if isinstance(e, (list, tuple)):
            yield from _flat(e)
        else:
            yield e


def promote(name, *args):
    """Convert ``args`` to arrays of one dtype (Python scalars are weak)."""
    # Python sequences first become arrays as ft.asarray makes them (floats -> float32),
    # not as numpy reads them (float64)
    args = [asarray(a) if isinstance(a, (list, tuple)) else a for a in args]
    dt = dtypes.result_type(*args)
    out = []
    for a in args:
        if dtypes.is_weak(a):
            out.append(np.asarray(a, dt))
        elif is_array(a):
            out.append(lax.convert_element_type(a, dt) if a.dtype != dt else a)
        else:
            out.append(asarray(a, dt))
    return out


def broadcast_shapes(name, *shapes):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(
            f"funtorch.{name}: shapes {', '.join(str(tuple(s)) for s in shapes)} cannot be "
            "broadcast together (trailing dimensions must be equal or 1)") from None


def broadcast_to_shape(x, shape):
    a = get_aval(x)
    if a.shape == shape:
        return x
    nd = len(shape)
    # drop size-1 dims that are broadcast, keep the rest
    dims = tuple(range(nd - a.ndim, nd))
    return lax.broadcast_in_dim(x, shape, dims)


def promote_broadcast(name, *args):
    # fast paths for the common cases: equal arrays, and an array with Python scalars
    arrays = [a for a in args if isinstance(a, (Array, Tracer))]
    if len(arrays) == len(args):
        dt, sh = args[0].dtype, args[0].shape
        if all(a.dtype == dt and a.shape == sh for a in args):
            return list(args)
    elif len(arrays) == 1 and all(dtypes.is_weak(a) for a in args if a is not arrays[0]):
        arr = arrays[0]
        dt = dtypes.result_type(*args)
        if dt == arr.dtype:
            eager = type(arr) is Array and trace_mod.eager_mode()
            return [a if a is arr else (
                Array(np.broadcast_to(np.asarray(a, dt), arr.shape)) if eager
                else lax.broadcast_in_dim(np.asarray(a, dt), arr.shape, ()))
                for a in args]
    args = promote(name, *args)
    shape = broadcast_shapes(name, *[np.shape(a) if not is_array(a) else a.shape
                                     for a in args])
    return [broadcast_to_shape(a, shape) for a in args]


def elementwise(name, lax_fn, *args):
    return lax_fn(*promote_broadcast(name, *args))


def to_float(name, x):
    """Integer and bool inputs of transcendental ops become the default float."""
    if dtypes.is_weak(x):
        return np.asarray(x, dtypes.default_float)
    x = asarray(x)
    if not dtypes.is_float(x.dtype):
        return lax.convert_element_type(x, dtypes.default_float)
    return x


def canonicalize_axis(name, axis, ndim):
    try:
        axis = operator.index(axis)   # as numpy: 0.5 or "a" is not an axis
    except TypeError:
        raise TypeError(f"funtorch.{name}: axis must be an integer (or a tuple of them), got "
                        f"{type(axis).__name__} {axis!r:.40}") from None
    if not -ndim <= axis < max(ndim, 1):
        raise ValueError(f"funtorch.{name}: axis {axis} is out of bounds for an array of rank "
                         f"{ndim}")
    return axis % ndim if ndim else 0


def axes_tuple(name, axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        axes = tuple(canonicalize_axis(name, a, ndim) for a in axis)
        if len(set(axes)) != len(axes):
            raise ValueError(f"funtorch.{name}: repeated axis in {axis}")
        return axes
    return (canonicalize_axis(name, axis, ndim),)
