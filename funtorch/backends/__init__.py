"""Backends turn a graph into a callable on buffers (their lowering tables live with them).

``compile_graph(graph, device)`` returns ``fn(*buffers) -> list[buffers]`` and caches it
per graph. On the CPU the compiler in ``cpu/`` (fused Numba loops + BLAS) is the default;
``FUNTORCH_CPU_BACKEND=interpret`` selects the reference lowering, which evaluates the
graph with the eager impls. ``cuda/`` compiles for the GPU (numba device arrays as
buffers); eager ops on CUDA arrays and transfers also dispatch here.
"""

from __future__ import annotations

import os
import weakref

from ..core.array import Array
from ..core.graph import eval_graph

_compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def interpret(graph):
    """The reference lowering: evaluate equation by equation with the eager impls."""

    def run(*bufs):
        outs = eval_graph(graph, [Array(b) for b in bufs])
        return [o._value if type(o) is Array else o for o in outs]

    run.plan_text = lambda: f"{len(graph.eqns)} equations, each run by its eager impl"
    run.source = lambda: "# interpreted: no generated source"
    return run


def _cpu_lowering():
    name = os.environ.get("FUNTORCH_CPU_BACKEND", "numba")
    if name == "interpret":
        return lambda graph, donated: interpret(graph)
    if name == "numba":
        from .cpu import compile
        return compile
    raise ValueError(f"funtorch: unknown FUNTORCH_CPU_BACKEND={name!r} (numba or interpret)")


def compile_graph(graph, device="cpu", donated=None):
    """``donated``: per input, whether the caller gives its buffer up for the outputs."""
    per = _compiled.get(graph)
    if per is None:
        per = _compiled[graph] = {}
    key = (device, tuple(donated) if donated is not None and any(donated) else None)
    fn = per.get(key)
    if fn is None:
        if device == "cpu":
            fn = _cpu_lowering()(graph, key[1])
        elif device.startswith("cuda"):
            from .cuda import compile as cuda_compile
            fn = cuda_compile(graph, key[1])
        else:
            raise RuntimeError(f"funtorch: no compiler for device {device!r}")
        per[key] = fn
    return fn


def eager_impl(device, prim, args, params):
    """Run a primitive on the device of (one of) its arguments."""
    _check_cuda(device)
    from .cuda import eager_impl as cuda_eager
    return cuda_eager(prim, args, params)


def to_host(x):
    """A host numpy copy of a device Array."""
    _check_cuda(x._device)
    from .cuda import to_host as cuda_to_host
    return cuda_to_host(x)


def transfer(x, device):
    """Move an Array to ``device``."""
    if device == x._device:
        return x
    if device == "cpu":
        return Array(to_host(x))
    _check_cuda(device)
    if x._device != "cpu":
        raise RuntimeError(f"funtorch: cannot move an array from {x._device} to {device}")
    from .cuda import to_device
    return to_device(x)


def _check_cuda(device):
    if not device.startswith("cuda"):
        raise RuntimeError(f"funtorch: device {device!r} is not available")
