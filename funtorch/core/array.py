"""The concrete, immutable Array: a buffer plus the device it lives on."""

from __future__ import annotations

import numpy as np

from . import dtypes
from .abstract import ShapedArray
from .array_methods import ArrayMethods
from .devices import CPU, Device

_DONATED_MSG = ("funtorch: this Array was donated to a jitted call (donate_argnums) and its "
                "buffer now holds that call's outputs; use the outputs, or leave the argument "
                "out of donate_argnums to keep it")


class _Donated:
    """What a donated Array holds after the call (JAX deletes donated arrays): every use is
    an error saying why, never a silent read of the buffer the call reused."""

    __slots__ = ()

    def __getattr__(self, name):
        raise RuntimeError(_DONATED_MSG)

    def __array__(self, *args, **kwargs):
        raise RuntimeError(_DONATED_MSG)


DONATED = _Donated()


class Array(ArrayMethods):
    """An immutable n-d array: a buffer of its device's backend (numpy on the host) and
    the ``Device`` it lives on."""

    __slots__ = ("_value", "_device", "__weakref__")
    weak_type = False   # concrete arrays are strongly typed (only tracers may be weak)

    def __init__(self, value, device: Device = CPU):
        if device is CPU and not isinstance(value, np.ndarray):
            value = np.asarray(value)
        self._value = value
        self._device = device

    # ---- metadata
    @property
    def shape(self):
        s = self._value.shape
        return s if type(s) is tuple else tuple(s)   # the simulator's shapes are not tuples

    @property
    def dtype(self):
        return self._value.dtype

    @property
    def aval(self):
        return ShapedArray(self._value.shape, self._value.dtype)

    @property
    def device(self):
        return self._device

    # ---- conversion
    def numpy(self) -> np.ndarray:
        """A host copy (writable; the array itself stays immutable)."""
        return np.array(to_numpy(self))

    def __array__(self, dtype=None, copy=None):
        v = to_numpy(self)
        if dtype is not None and np.dtype(dtype) != v.dtype:
            return v.astype(dtype)
        if copy:
            return np.array(v)
        if v.flags.writeable and self._device is CPU:
            v = v.view()
            v.flags.writeable = False
        return v

    def item(self):
        v = to_numpy(self)
        if v.size != 1:
            raise ValueError(f"funtorch: item() needs an array of size 1, got shape {v.shape}")
        return v.reshape(()).item()

    def tolist(self):
        return to_numpy(self).tolist()

    def __bool__(self):
        return bool(_scalar_value(self, "bool()"))

    def __int__(self):
        return int(_scalar_value(self, "int()"))

    def __float__(self):
        return float(_scalar_value(self, "float()"))

    def __index__(self):
        v = _scalar_value(self, "use as an index")
        if not (dtypes.is_int(v.dtype) or dtypes.is_bool(v.dtype)):
            raise TypeError(f"funtorch: only integer arrays can be used as an index, got "
                            f"{v.dtype}")
        return int(v)

    def __complex__(self):
        return complex(_scalar_value(self, "complex()"))

    def __repr__(self):
        if self._value is DONATED:
            return "Array(<donated>)"
        v = to_numpy(self)
        body = np.array2string(v, separator=", ", prefix="Array(")
        dev = "" if self._device is CPU else f", device={self._device}"
        return f"Array({body}, dtype={v.dtype}{dev})"

    def __str__(self):
        return str(to_numpy(self))

    def __format__(self, spec):
        v = to_numpy(self)
        return format(v.item() if v.ndim == 0 else v, spec)

    def __hash__(self):
        raise TypeError("funtorch: arrays are unhashable; use .item() or a tuple of values")

    def __reduce__(self):
        return (_rebuild, (to_numpy(self),))

    def __dlpack__(self, *args, **kwargs):
        if self._device is CPU:
            return self._value.__dlpack__(*args, **kwargs)
        return self._device.backend.dlpack(self._value, **kwargs)

    def __dlpack_device__(self):
        if self._device is CPU:
            return self._value.__dlpack_device__()
        return self._device.backend.dlpack_device(self._device)

    @property
    def __cuda_array_interface__(self):
        """The device buffer, shared without a copy (CuPy, PyTorch, numba); CUDA arrays only."""
        return self._device.backend.cuda_array_interface(self._value, self._device)

    def block_until_ready(self):
        """Wait for the device work producing this array (a no-op on the host)."""
        if self._device is not CPU:
            self._device.backend.synchronize(self._device)
        return self


def _rebuild(v):
    return Array(v)


def _scalar_value(x, why):
    v = to_numpy(x)
    if v.size != 1:
        raise ValueError(f"funtorch: {why} of an array with {v.size} elements (shape "
                         f"{v.shape}) is ambiguous; reduce it first (x.any(), x.all(), x.sum())")
    return v.reshape(())


def to_numpy(x) -> np.ndarray:
    """Host numpy view of an Array (copying from a device), or np.asarray of anything."""
    if type(x) is Array:
        if x._device is CPU:
            return x._value
        return x._device.backend.to_host(x._value)
    return np.asarray(x)


def host_array(x, dtype=None) -> Array:
    """A host Array from a host array-like (numpy array or scalar, Python scalar, nested
    sequence of numbers), as ``ft.asarray`` makes it: Python floats become float32 and
    ints int64; the buffer is a read-only copy."""
    if dtype is not None:
        dtype = dtypes.dtype(dtype)
    if isinstance(x, (np.ndarray, np.generic)):
        v = x
        if dtype is None and v.dtype not in dtypes._SUPPORTED and v.dtype != dtypes.float0:
            raise TypeError(f"funtorch: numpy dtype {v.dtype} is not supported")
        v = np.array(v, dtype=dtype)
    else:
        try:
            v = np.array(x) if dtype is None else np.array(x, dtype=dtype)
        except ValueError as e:
            if "inhomogeneous" not in str(e):
                raise
            raise ValueError("funtorch.tensor: nested sequences have unequal lengths "
                             "(ragged), so they do not form an array; pad them to one "
                             "shape first") from None
        if dtype is None:
            if v.dtype == np.float64:
                v = v.astype(dtypes.default_float)
            elif v.dtype.kind == "i" and v.dtype != dtypes.default_int:
                v = v.astype(dtypes.default_int)
            elif v.dtype.kind not in "biuf":
                raise TypeError(f"funtorch: cannot convert {type(x).__name__} "
                                f"({v.dtype}) to an array")
    v.flags.writeable = False
    return Array(v)
