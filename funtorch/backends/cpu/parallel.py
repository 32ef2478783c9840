"""Running fused loops and library kernels on all cores.

A fused loop whose work pays for a parallel launch is generated as a ``numba.cfunc``
``kernel(lo, hi, args)`` that finds its extents, arrays and their shapes in the int64
block ``args``; each thread runs it on a block describing its share of the outermost
loop. One static parallel launcher, ``run``, compiled once and cached, calls any such
kernel through its address on every Numba thread: the generated code itself compiles
serially (a ``parallel=True`` kernel costs seconds to compile), and the process has one
pool of threads. Library kernels (convolution, pooling) run the same way through
``Shares`` and ``run_shares``.

``ptr_<type>`` (int64 address -> typed pointer) are the intrinsics the generated kernels
use to read the block's addresses (bools as bytes); they index them with flat offsets.
"""

from __future__ import annotations

import ctypes
import os
import threading

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from ..common import cache
from . import codegen

SIGNATURE = types.void(types.int64, types.int64, types.CPointer(types.int64))
CFUNC = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p)

# loops with fewer element-iterations run serially (a launch costs ~10 us)
MIN_WORK = 1 << 18


def _pointer_intrinsic(ty):
    @intrinsic
    def ptr(typingctx, addr):
        sig = types.CPointer(ty)(types.int64)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(types.CPointer(ty)))

        return sig, codegen

    return ptr


ptr_i8 = _pointer_intrinsic(types.int8)
ptr_i16 = _pointer_intrinsic(types.int16)
ptr_i32 = _pointer_intrinsic(types.int32)
ptr_i64 = _pointer_intrinsic(types.int64)
ptr_u8 = _pointer_intrinsic(types.uint8)
ptr_u16 = _pointer_intrinsic(types.uint16)
ptr_u32 = _pointer_intrinsic(types.uint32)
ptr_u64 = _pointer_intrinsic(types.uint64)
ptr_f32 = _pointer_intrinsic(types.float32)
ptr_f64 = _pointer_intrinsic(types.float64)


@njit(parallel=True, cache=True, nogil=True)
def run(kernel, n, T, args, steps):
    """``kernel`` over ``[0, n)`` of its outermost loop, in ``T`` contiguous shares: each
    share gets a copy of the block with the extent ``args[0]`` cut to its size and every
    array moved ``steps[k]`` bytes per skipped index, so the kernel's loops all start
    at 0 (a loop from an unknown start makes Numba wrap negative indices, which stops
    LLVM from vectorising)."""
    for t in prange(T):
        lo = t * n // T
        hi = (t + 1) * n // T
        if hi > lo:
            a = args.copy()
            a[0] = hi - lo
            for k in range(a.shape[0]):
                a[k] += lo * steps[k]
            kernel(lo, hi, a.ctypes.data)


class Launch:
    """Calls one parallel kernel from the driver: ``launch(*arrays)`` fills the argument
    block (extents and shapes are fixed; the arrays' addresses change per call).
    ``steps``: per array, the bytes its address moves per index of the outer loop."""

    def __init__(self, cfunc, extents, shapes, steps):
        self.fn = CFUNC(cfunc.address)
        self.n = extents[0]
        self.T = numba.get_num_threads()
        # a small instance of a kernel shared with big ones runs on the calling thread
        self.serial = int(np.prod(extents, dtype=np.int64)) < MIN_WORK
        template = list(extents)
        step = [0] * len(extents)
        self.slots = []
        for shape, st in zip(shapes, steps):
            self.slots.append(len(template))
            template += [0, *shape]
            step += [st] + [0] * len(shape)
        self.template = np.array(template, np.int64)
        self.steps = np.array(step, np.int64)

    def __call__(self, *arrays):
        args = self.template.copy()
        for k, a in zip(self.slots, arrays):
            args[k] = a.__array_interface__["data"][0]
        if self.serial:
            self.fn(0, self.n, args.ctypes.data)
        else:
            run(self.fn, self.n, self.T, args, self.steps)


# --------------------------------------------------------------------------- static kernels

@njit(parallel=True, cache=True, nogil=True)
def run_shares(kernel, T, args):
    """``kernel(t, T, args)`` for every share ``t < T``, one per thread."""
    for t in prange(T):
        kernel(t, T, args.ctypes.data)


RUNTIME = "runtime"   # a constant's place in a kernel's key when it is passed at run time


class Runtime:
    """A ``Shares`` constant passed at run time (see ``Shares``)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class _Bound:
    """A ``Shares`` kernel with the values of its run-time constants."""

    __slots__ = ("kernel", "runtime")

    def __init__(self, kernel, runtime):
        self.kernel, self.runtime = kernel, runtime

    def __call__(self, *xs):
        self.kernel(*xs, runtime=self.runtime)


_TYPE = {"float32": "f32", "float64": "f64", "int8": "i8", "int16": "i16", "int32": "i32",
         "int64": "i64", "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64"}
_shares = {}
_lock = threading.RLock()   # entries may be built by ``library``'s background thread


class Shares:
    """A library kernel ``module.name(t, T, *arrays, *consts, *scalars)`` (thread ``t``'s
    share of the work) run on every thread: a generated ``cfunc`` unpacks the argument
    block and calls it with ``consts`` written in as literals, so LLVM specialises the body
    to them (strides, paddings and groups known: 20% faster convolutions). A
    ``parallel=True`` kernel with the same body compiles 3x slower (Numba recompiles the
    body inside its parallel region); here the body compiles once per signature and
    ``run_shares`` once for every kernel.

    ``arrays``: ndims of the array arguments, all of ``dtype``; ``n_scalars`` trailing
    scalars of ``dtype`` (passed as 1-element arrays). A constant given as
    ``Runtime(value)`` (or the marker ``RUNTIME`` with the value passed as ``runtime=`` at
    the call) is passed at run time instead: kernels that differ only there share their
    compiled code. An entry with every constant passed at run time depends on no model:
    it is cached beside the package (``cache.library_dir``), compiled once per
    installation; ``library`` runs those first and swaps in the specialised ones."""

    def __new__(cls, module, name, dtype, arrays, consts=(), n_scalars=0):
        spec = tuple(RUNTIME if type(c) is Runtime or c is RUNTIME else int(c)
                     for c in consts)
        key = (module, name, np.dtype(dtype), tuple(arrays), spec, n_scalars)
        self = _shares.get(key)
        if self is None:
            with _lock:
                self = _shares.get(key)
                if self is None:
                    self = super().__new__(cls)
                    self._build(*key)
                    _shares[key] = self
        runtime = tuple(int(c.value) for c in consts if type(c) is Runtime)
        return _Bound(self, runtime) if runtime else self

    def _build(self, module, name, dtype, arrays, consts, n_scalars):
        ptr = f"ptr_{_TYPE[dtype.name]}"
        # the body (not cached itself) is compiled into this kernel's cached code: the
        # hash of the sources it is made of is part of the kernel's, so the disk cache
        # misses when they change
        deps = (module, "gemm_kernels", "blas", "parallel")
        lines = ["# " + ", ".join(f"{m}: {codegen.source_hash(m)}" for m in deps),
                 "from numba import carray, cfunc",
                 f"from funtorch.backends.cpu.parallel import SIGNATURE, {ptr}",
                 f"from funtorch.backends.cpu.{module} import {name} as body", "", "",
                 "@cfunc(SIGNATURE, cache=True, error_model='numpy')",
                 "def kernel(t, T, args):"]
        j, call = 0, []
        for k, nd in enumerate(arrays):
            shape = "".join(f"args[{j + 1 + a}], " for a in range(nd))
            lines.append(f"    a{k} = carray({ptr}(args[{j}]), ({shape}))")
            call.append(f"a{k}")
            j += 1 + nd
        for c in consts:
            if c is RUNTIME:
                call.append(f"args[{j}]")
                j += 1
            else:
                call.append(str(c))
        call += [f"carray({ptr}(args[{j + k}]), (1,))[0]" for k in range(n_scalars)]
        lines.append(f"    body(t, T, {', '.join(call)})")
        text = "\n".join(lines) + "\n"
        self.library = all(c is RUNTIME for c in consts)
        if self.library:
            directory = cache.library_dir(os.path.dirname(__file__), "cpu", codegen.VERSION)
            cfunc = cache.load(text, "cpu-library", codegen.VERSION, directory).kernel
        else:
            cfunc = codegen.load(text)
        self.compiled = not cfunc._cache_hits
        codegen.STATS[("library " if self.library else "") + ("compiled" if self.compiled
                                                        else "loaded")] += 1
        self.fn = CFUNC(cfunc.address)
        self.T = numba.get_num_threads()
        self.ndims = tuple(arrays)
        self.dtype = dtype

    def __call__(self, *xs, runtime=()):
        """The arrays, then the scalars (``runtime``: the run-time constants, in order)."""
        block = []
        na = len(self.ndims)
        for a, nd in zip(xs[:na], self.ndims):
            if a.ndim != nd or not a.flags.c_contiguous or a.dtype != self.dtype:
                raise TypeError(f"funtorch: kernel argument {a.dtype}{list(a.shape)} is "
                                f"not a C-contiguous {self.dtype} array of rank {nd}")
            block.append(a.__array_interface__["data"][0])
            block.extend(a.shape)
        block.extend(runtime)
        keep = [np.full(1, v, self.dtype) for v in xs[na:]]
        block.extend(a.__array_interface__["data"][0] for a in keep)
        run_shares(self.fn, self.T, np.array(block, np.int64))
