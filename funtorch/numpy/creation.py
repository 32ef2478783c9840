"""Array creation: tensor, asarray, zeros, ones, full, arange, linspace, eye, *_like."""

from __future__ import annotations

import numpy as np

from .. import lax
from ..core import devices as _registry
from ..core import dtypes
from ._core import asarray, is_array


def tensor(data, dtype=None):
    """A new array holding a copy of ``data`` (PyTorch's ``torch.tensor``)."""
    if is_array(data):
        return asarray(data, dtype)
    return asarray(np.array(data, copy=True) if isinstance(data, np.ndarray) else data, dtype)


def array(data, dtype=None):
    return tensor(data, dtype)


def from_dlpack(x):
    """An Array from any DLPack exporter (``torch.from_dlpack``'s counterpart): a CUDA
    tensor's buffer is shared without a copy; a host tensor is copied (Arrays are
    immutable, the exporter's memory is not)."""
    if hasattr(x, "__cuda_array_interface__"):
        return asarray(x)
    if not hasattr(x, "__dlpack_device__"):
        raise TypeError(f"funtorch.from_dlpack: {type(x).__name__} is not a DLPack exporter "
                        "(it has no __dlpack__/__dlpack_device__); use ft.asarray")
    return _registry.from_dlpack(x)


def _size(n, op, what="size"):
    """``n`` as a non-negative Python int, else a TypeError/ValueError naming ``op``."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"funtorch.{op}: {what} must be an integer, got "
                        f"{type(n).__name__} {n!r}; pass e.g. {what}=3")
    if n < 0:
        raise ValueError(f"funtorch.{op}: negative dimensions are not allowed, got "
                         f"{what}={int(n)}")
    return int(n)


def _shape(shape, op="zeros"):
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"funtorch.{op}: shape must be an integer or a sequence of "
                        f"integers, got {type(shape).__name__} {shape!r}") from None
    for s in shape:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"funtorch.{op}: shape must contain only integers, got {shape!r}")
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"funtorch.{op}: negative dimensions are not allowed, got {shape}")
    return shape


def full(shape, fill_value, dtype=None):
    shape = _shape(shape, "full")
    if is_array(fill_value):
        from .shape import broadcast_to
        return broadcast_to(asarray(fill_value, dtype), shape)
    dtype = dtypes.dtype(dtype) if dtype is not None else dtypes.result_type(fill_value)
    return asarray(np.full(shape, fill_value, dtype))


def zeros(shape, dtype=None):
    return asarray(np.zeros(_shape(shape, "zeros"), dtypes.dtype(dtype or dtypes.default_float)))


def ones(shape, dtype=None):
    return asarray(np.ones(_shape(shape, "ones"), dtypes.dtype(dtype or dtypes.default_float)))


def empty(shape, dtype=None):
    return zeros(shape, dtype)


def zeros_like(x, dtype=None, shape=None):
    return full_like(x, 0, dtype, shape)


def ones_like(x, dtype=None, shape=None):
    return full_like(x, 1, dtype, shape)


def full_like(x, fill_value, dtype=None, shape=None):
    """On ``x``'s device, as PyTorch's ``*_like``."""
    x = asarray(x) if not is_array(x) else x
    shape = x.shape if shape is None else _shape(shape, "full_like")
    out = lax.full(shape, fill_value, dtype or x.dtype)
    return lax.on_device_of(x, out)


def arange(start, stop=None, step=1, dtype=None):
    for v in (start, stop, step):
        if is_array(v) and not hasattr(v, "_value"):
            raise TypeError("funtorch.arange: start/stop/step must be concrete; under jit "
                            "pass them as static arguments (static_argnums)")
    if stop is None:
        start, stop = 0, start
    for name, v in (("start", start), ("stop", stop), ("step", step)):
        if not (is_array(v) or isinstance(v, (int, float, np.integer, np.floating))):
            raise TypeError(f"funtorch.arange: {name} must be a real number, got "
                            f"{type(v).__name__} {v!r}")
    start, stop, step = (v.item() if is_array(v) else v for v in (start, stop, step))
    if step == 0:
        raise ValueError("funtorch.arange: step must not be zero")
    if dtype is None:
        dtype = dtypes.result_type(start, stop, step)
    return asarray(np.arange(start, stop, step, dtype=dtypes.dtype(dtype)))


def linspace(start, stop, num=50, endpoint=True, dtype=None):
    num = _size(num, "linspace", "num")
    dtype = dtypes.dtype(dtype or dtypes.default_float)
    return asarray(np.linspace(float(start), float(stop), int(num), endpoint=endpoint)
                   .astype(dtype))


def eye(n, m=None, k=0, dtype=None):
    n = _size(n, "eye", "n")
    m = None if m is None else _size(m, "eye", "m")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"funtorch.eye: k must be an integer, got {type(k).__name__} {k!r}")
    return asarray(np.eye(n, m, int(k),
                          dtype=dtypes.dtype(dtype or dtypes.default_float)))
