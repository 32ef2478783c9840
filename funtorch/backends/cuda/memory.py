"""Device buffers: pooled allocations, flat views for kernels, host <-> device copies.

Every buffer the backend allocates comes from ``cuda_kernels``' caching pool and goes back
to it when the last array viewing it dies: views made here carry the allocation's owner
token (``_ft_owner``), whose finalizer frees the block. Reuse needs no events because all
work runs in order on the default stream. Kernels take 1-D arrays (compile-time strides),
so each array also caches its flat view (``_ft_flat``).
"""

from __future__ import annotations

import math
import weakref

import numpy as np
from numba import cuda

from cuda_kernels._common import SIMULATOR
from cuda_kernels.memory import default_pool

if SIMULATOR:   # the device array type
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray as DeviceArray
else:
    from numba.cuda.cudadrv.devicearray import DeviceNDArray as DeviceArray


def pointer(arr) -> int:
    """The device address of ``arr``'s first element (a host address in the simulator)."""
    if SIMULATOR:
        return arr._ary.__array_interface__["data"][0]
    return arr.device_ctypes_pointer.value or 0


class _Block:
    """What ``DevicePool.free`` needs to find a block: its address."""

    size = 1

    def __init__(self, ptr):
        data = {"data": (ptr, False)}
        self.__cuda_array_interface__ = self.__array_interface__ = data


class _Owner:
    """Lives as long as some view of a pooled allocation; frees the block when it dies."""

    __slots__ = ("__weakref__",)


def empty(shape, dtype):
    """A C-contiguous device array from the pool, freed when its last view dies."""
    pool = default_pool()
    shape = tuple(int(s) for s in shape)
    arr = pool.alloc(shape, dtype)
    if arr.size:
        owner = _Owner()
        weakref.finalize(owner, pool.free, _Block(pointer(arr)))
        arr._ft_owner = owner
    return arr


def flat(arr):
    """The 1-D view of a C-contiguous device array (cached on the array)."""
    f = getattr(arr, "_ft_flat", None)
    if f is None:
        if arr.ndim == 1:
            return arr
        if not arr.is_c_contiguous():
            raise ValueError("funtorch: CUDA arrays must be C-contiguous; make a contiguous "
                             "copy first (torch: .contiguous(), cupy: ascontiguousarray)")
        f = arr.reshape(arr.size)
        f._ft_owner = getattr(arr, "_ft_owner", None)
        arr._ft_flat = f
    return f


def shaped(arr, shape):
    """``arr`` reshaped (a view sharing its owner and flat view)."""
    shape = tuple(shape)
    if tuple(arr.shape) == shape:
        return arr
    v = arr.reshape(shape)
    v._ft_owner = getattr(arr, "_ft_owner", None)
    v._ft_flat = flat(arr)
    return v


def view(arr, shape):
    """``arr.reshape(shape)`` for a kernel launcher, cached on ``arr``: the same buffers
    come back every call, and building a device array costs more than a launch."""
    cache = getattr(arr, "_ft_views", None)
    if cache is None:
        cache = arr._ft_views = {}
    v = cache.get(shape)
    if v is None:
        v = cache[shape] = arr.reshape(shape)
    return v


def bytes_view(slot, nbytes, dtype, shape):
    """A typed array over the first ``nbytes`` of a uint8 workspace slot."""
    v = slot[:nbytes].view(np.dtype(dtype))
    v._ft_owner = getattr(slot, "_ft_owner", None)
    return shaped(v, shape)


def to_device(value, dtype=None):
    """Copy a host value to a new device array (a broadcast scalar is filled on device)."""
    v = np.asarray(value, dtype)
    out = empty(v.shape, v.dtype)
    if not v.size:
        return out
    if v.ndim and not any(v.strides):
        from .kernels import fill
        fill(flat(out), v.reshape(-1)[0])
    else:
        out.copy_to_device(np.ascontiguousarray(v))
    return out


def to_host(arr) -> np.ndarray:
    return arr.copy_to_host()


def copy(dst, src):
    """Device-to-device copy between equally sized C-contiguous arrays (no kernel launch)."""
    if src.size:
        flat(dst).copy_to_device(flat(src))


def from_cuda_array_interface(obj):
    """A zero-copy device array over an object exposing ``__cuda_array_interface__``."""
    arr = obj if isinstance(obj, DeviceArray) else cuda.as_cuda_array(obj)
    if arr.size and not arr.is_c_contiguous():
        raise ValueError("funtorch: only C-contiguous CUDA arrays can be shared without a "
                         "copy; make it contiguous first (torch: .contiguous(), cupy: "
                         "ascontiguousarray)")
    return arr


def nbytes(shape, dtype) -> int:
    return math.prod(shape) * np.dtype(dtype).itemsize
