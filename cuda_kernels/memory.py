"""A caching device allocator: repeated calls with the same shapes allocate nothing.

Freed blocks go to a free list keyed by their rounded size (power-of-two buckets with four
steps per doubling, so waste is under 25%) and are handed out again by later ``alloc`` calls.
Reuse is safe without events because every kernel in this package is launched on the
caller's stream: a block freed after a launch is only reused by later work on that stream.
Do not share a pool between streams.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

MIN_BLOCK = 256


def bucket_size(nbytes: int) -> int:
    """Round up to one of 4 steps per power of two, at least ``MIN_BLOCK`` bytes."""
    if nbytes <= MIN_BLOCK:
        return MIN_BLOCK
    top = 1 << (nbytes - 1).bit_length()
    step = top // 8
    return -(-nbytes // step) * step


def _pointer(arr) -> int:
    iface = getattr(arr, "__cuda_array_interface__", None)
    if iface is None:  # simulator arrays wrap host numpy arrays
        iface = arr.__array_interface__
    return iface["data"][0]


class DevicePool:
    """``alloc(shape, dtype)`` / ``free(arr)`` over size-bucketed free lists."""

    def __init__(self):
        self._free: dict[int, list] = {}
        self._live: dict[int, tuple[int, object]] = {}  # pointer -> (bucket, raw block)
        self._stats = {"allocations": 0, "reuses": 0, "bytes_reserved": 0, "live": 0}

    def alloc(self, shape, dtype):
        dtype = np.dtype(dtype)
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if nbytes == 0:  # empty arrays own no memory (and have no distinct pointer)
            return cuda.device_array(shape, dtype=dtype)
        size = bucket_size(nbytes)
        blocks = self._free.get(size)
        if blocks:
            raw = blocks.pop()
            self._stats["reuses"] += 1
        else:
            raw = cuda.device_array(size, dtype=np.uint8)
            self._stats["allocations"] += 1
            self._stats["bytes_reserved"] += size
        arr = raw[:nbytes].view(dtype).reshape(shape)
        self._live[_pointer(raw)] = (size, raw)
        self._stats["live"] += 1
        return arr

    def free(self, arr) -> None:
        """Return a block obtained from :meth:`alloc` (any view starting at its first byte)."""
        if arr.size == 0:
            return
        size, raw = self._live.pop(_pointer(arr))
        self._free.setdefault(size, []).append(raw)
        self._stats["live"] -= 1

    def stats(self) -> dict:
        """Counters: real ``allocations``, free-list ``reuses``, ``bytes_reserved``, ``live``."""
        return dict(self._stats, cached_blocks=sum(len(v) for v in self._free.values()))

    def release_cached(self) -> None:
        """Drop the free lists so the driver can reclaim their memory."""
        self._stats["bytes_reserved"] -= sum(k * len(v) for k, v in self._free.items())
        self._free.clear()


_DEFAULT: DevicePool | None = None


def default_pool() -> DevicePool:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = DevicePool()
    return _DEFAULT
