"""Generated kernels: source text -> a module in the disk cache -> a configured launch.

Each distinct source is written once, named by its hash, in the kernel cache shared with
the CPU backend (``common.cache``), so Numba's ``cache=True`` keeps the compiled code beside
it and a second process loads instead of compiling. Grid and block are fixed when the kernel is
built, and a launch goes straight to the compiled
overload (no per-call type dispatch).
"""

from __future__ import annotations

import warnings

import numpy as np
from numba import cuda, types
from numba.np.numpy_support import from_dtype

from cuda_kernels import _dtypes as _dt
from cuda_kernels._common import SIMULATOR

from ..common import cache

VERSION = "1"   # bump when generated code changes meaning

PRELUDE = """\
import numpy as np
from numba import cuda, int64
from cuda_kernels import _block
from cuda_kernels import _dtypes as _dt
import funtorch.backends.cuda.devmath as math
"""

_NUMBA_TYPES = {np.dtype(t): from_dtype(np.dtype(t)) for t in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
    np.uint64, np.float32, np.float64)}
_NUMBA_TYPES[np.dtype(np.float16)] = types.float16
_NUMBA_TYPES[_dt.BFLOAT16] = types.uint16      # passed as its bits (``_dt.raw``)


class KernelSpec:
    """A kernel to build: source with a ``kernel`` function over 1-D arrays of
    ``arg_dtypes`` (``Scalar(dtype)``: a scalar argument), and its launch configuration."""

    def __init__(self, text, arg_dtypes, grid, block, label):
        self.text, self.arg_dtypes = text, list(arg_dtypes)
        self.grid, self.block, self.label = grid, block, label

    @property
    def signature(self):
        return types.void(*[_NUMBA_TYPES[d.dtype] if type(d) is Scalar else
                            types.Array(_NUMBA_TYPES[np.dtype(d)], 1, "C")
                            for d in self.arg_dtypes])

    def pyfunc(self):
        return load(self.text).kernel


class Scalar:
    """A scalar kernel argument of ``dtype``."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)


def load(text):
    """The module for a kernel source (the shared kernel cache, ``common.cache``)."""
    return cache.load(text, "cuda", VERSION)


class _Target:
    """Where launches go: the default stream, or the stream of a CUDA graph being
    captured (``graphs``), with the pool ``cuda_kernels`` launchers take workspaces from."""

    stream = None     # a cuda.core stream replacing the default one
    pool = None       # None: cuda_kernels' default pool


target = _Target()


class Launch:
    """A compiled kernel with its grid and block: ``launch(*arrays)``."""

    def __init__(self, spec: KernelSpec):
        self.spec = spec
        fn = spec.pyfunc()
        if SIMULATOR:
            disp = cuda.jit(spec.signature)(fn)
            self._call = _raw_args(_quiet(disp[spec.grid, spec.block]), spec)
            return
        disp = cuda.jit(spec.signature, cache=True, launch_bounds=spec.block)(fn)
        with warnings.catch_warnings():   # small grids are expected for small arrays
            warnings.simplefilter("ignore")
            cfg = disp[spec.grid, spec.block]
        kernel = disp.compile(spec.signature)
        grid, block, stream = cfg.griddim, cfg.blockdim, cfg.stream
        self._call = _raw_args(
            lambda *args: kernel.launch(args, grid, block, target.stream or stream, 0), spec)

    def __call__(self, *args):
        self._call(*args)


def _quiet(call):
    """Simulated kernels compute on numpy scalars, which warn where device integers wrap
    silently (integer powers, INT_MIN // -1); the semantics are the device's."""
    def quiet_call(*args):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning,
                                    module=r"funtorch_cuda_kernel_")
            call(*args)
    return quiet_call


def _raw_args(call, spec):
    """``call`` with the bfloat16 arrays among its arguments viewed as their uint16 bits."""
    bits = [k for k, d in enumerate(spec.arg_dtypes)
            if type(d) is not Scalar and np.dtype(d) == _dt.BFLOAT16]
    if not bits:
        return call

    def raw_call(*args):
        args = list(args)
        for k in bits:
            args[k] = _dt.raw(args[k])
        call(*args)
    return raw_call


_launches = {}


def build(spec: KernelSpec) -> Launch:
    """The launch for ``spec``, compiled once per process."""
    key = (spec.text, spec.grid, spec.block)
    launch = _launches.get(key)
    if launch is None:
        launch = _launches[key] = Launch(spec)
    return launch
