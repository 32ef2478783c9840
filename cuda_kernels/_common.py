"""Plumbing shared by every kernel module: simulator detection, compilation, array coercion.

Kernels are written once and run in two worlds: on a real GPU and under Numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``), which has no warp shuffles, no libdevice, and a
``cuda.jit`` that rejects GPU-only options. ``SIMULATOR`` is the one switch the other modules
consult for that.
"""

from __future__ import annotations

from numba import cuda
from numba.cuda import config

from .memory import default_pool

SIMULATOR = bool(config.ENABLE_CUDASIM)


def _lock_simulated_shared_memory():
    """The simulator hands each thread of a block its ``cuda.shared.array`` by looking the
    call site up in a dict and creating the array when missing, without a lock: two threads
    that interleave there get different arrays, the block no longer shares memory, and a
    kernel computes garbage now and then under load (seen as rare GEMM test failures).
    Same lookup, under a lock."""
    import sys
    import threading

    import numpy as np
    from numba import types
    from numba.cuda.simulator import kernelapi
    from numba.np import numpy_support

    shared = kernelapi.FakeCUDAShared
    if getattr(shared, "_funtorch_locked", False):
        return
    lock, unlocked = threading.Lock(), shared.array

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:   # dynamic shared memory, or an error
            return unlocked(self, shape, dtype, alignment)
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        frame = sys._getframe(1)
        site = (frame.f_code.co_filename, frame.f_lineno)
        with lock:
            arr = self._allocations.get(site)
            if arr is None:
                arr = self._allocations[site] = np.empty(shape, dtype)
        return arr

    shared.array = array
    shared._funtorch_locked = True


if SIMULATOR:
    _lock_simulated_shared_memory()
# Grid-stride kernels: a simulated block costs a Python thread per CUDA thread to start, so
# the simulator gets few small blocks and the loops make up the difference.
THREADS_1D = 32 if SIMULATOR else 256
MAX_BLOCKS = 2 if SIMULATOR else 65535


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def blocks_for(n: int, threads: int = THREADS_1D) -> int:
    """Block count for a grid-stride loop over ``n`` items (at least one block)."""
    return max(1, min(ceil_div(n, threads), MAX_BLOCKS))


def jit_kernel(pyfunc, sig, threads: int | None = None):
    """Compile ``pyfunc`` eagerly for ``sig``; ``threads`` becomes the launch bound.

    The launch bound tells ptxas the block size, so the register-blocked GEMMs may use up to
    65536 / threads registers per thread; the simulator rejects the option.
    """
    if SIMULATOR:
        return cuda.jit(sig)(pyfunc)
    return cuda.jit(sig, launch_bounds=threads)(pyfunc)


def device_fn(pyfunc):
    """A device function inlined into its caller at the Numba IR level.

    Inlining keeps the caller's ``cuda.local.array`` accumulators in registers, and it is also
    what lets ``compile_ptx`` run on a machine without a GPU: an out-of-line device function
    asks the driver for the current device's compute capability when it is compiled.
    """
    return cuda.jit(device=True, inline="always")(pyfunc)


def as_device(x):
    """Accept a numba device array or anything exposing ``__cuda_array_interface__``."""
    if SIMULATOR or isinstance(x, cuda.devicearray.DeviceNDArray):
        return x
    return cuda.as_cuda_array(x)


def alloc(shape, dtype, pool=None):
    """Allocate from ``pool`` (default: the process-wide pool), see :mod:`cuda_kernels.memory`."""
    return (pool or default_pool()).alloc(shape, dtype)


def release(arr, pool=None):
    """Hand a workspace back; safe right after an async launch when everything uses one stream."""
    (pool or default_pool()).free(arr)
