"""Direct access to the BLAS numpy links, for GEMMs called from inside Numba kernels.

The convolution kernels run one parallel region per call: each thread packs a tile of
im2col columns into its own cache-sized scratch buffer and multiplies it with a
single-threaded ``?gemm`` straight into the output, so nothing large goes through
memory and there is one synchronisation per call (OpenBLAS's own threads spin-wait at
every call, which collapses when other processes compete for the cores).

The GEMMs are ``numba.types.ExternalFunction``s named ``funtorch_sgemm`` and
``funtorch_dgemm`` (CBLAS signatures, row-major, 64-bit integers, pointers as ``intp``),
bound with ``llvmlite.binding.add_symbol`` to numpy's own OpenBLAS. They are linked by
name, so kernels that call them can be cached on disk. ``AVAILABLE`` is False where no
64-bit CBLAS is found (another numpy build): the convolutions then run their eager impls.

``enter()``/``leave()`` (``one_thread()``) make the library single-threaded while a
compiled graph runs (OpenBLAS's thread count is process-wide, whatever its ``_local``
setter says); the driver of every graph with such kernels calls them.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import threading

import numpy as np

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

AVAILABLE = False
sgemm = dgemm = None           # ExternalFunctions, when AVAILABLE
_get_threads = _set_threads = None

# (sgemm, dgemm, get threads, set threads) symbol names, 64-bit integer interfaces first
_FLAVOURS = [
    ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", "scipy_openblas_get_num_threads64_",
     "scipy_openblas_set_num_threads64_"),
    ("cblas_sgemm64_", "cblas_dgemm64_", "openblas_get_num_threads64_",
     "openblas_set_num_threads64_"),
]


def _candidates():
    here = os.path.dirname(np.__file__)
    pats = [os.path.join(here, "..", "numpy.libs", "*openblas*"),
            os.path.join(here, ".dylibs", "*openblas*")]
    for p in pats:
        yield from sorted(glob.glob(p))


def _bind():
    global AVAILABLE, sgemm, dgemm, _get_threads, _set_threads
    if os.environ.get("FUNTORCH_CPU_NO_BLAS_KERNELS"):
        return
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for s, d, get, set_ in _FLAVOURS:
            try:
                fns = [getattr(lib, n) for n in (s, d, get, set_)]
            except AttributeError:
                continue
            import llvmlite.binding as llvm
            from numba.core import types
            llvm.add_symbol("funtorch_sgemm", ctypes.cast(fns[0], ctypes.c_void_p).value)
            llvm.add_symbol("funtorch_dgemm", ctypes.cast(fns[1], ctypes.c_void_p).value)
            i32, i64, ip = types.int32, types.int64, types.intp
            sgemm = types.ExternalFunction("funtorch_sgemm", types.void(
                i32, i32, i32, i64, i64, i64, types.float32, ip, i64, ip, i64,
                types.float32, ip, i64))
            dgemm = types.ExternalFunction("funtorch_dgemm", types.void(
                i32, i32, i32, i64, i64, i64, types.float64, ip, i64, ip, i64,
                types.float64, ip, i64))
            _get_threads, _set_threads = fns[2], fns[3]
            _get_threads.restype, _get_threads.argtypes = ctypes.c_int, []
            _set_threads.restype, _set_threads.argtypes = None, [ctypes.c_int]
            AVAILABLE = True
            return


_bind()


_lock = threading.Lock()
_depth = 0
_saved = 1


def enter():
    """Make the library single-threaded while compiled code runs (re-entrant, thread-safe;
    ``leave`` restores the previous count when the last caller leaves)."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = _get_threads()
            if _saved != 1:
                _set_threads(1)
        _depth += 1


def leave():
    global _depth
    with _lock:
        _depth -= 1
        if _depth == 0 and _saved != 1:
            _set_threads(_saved)


@contextlib.contextmanager
def one_thread():
    enter()
    try:
        yield
    finally:
        leave()
