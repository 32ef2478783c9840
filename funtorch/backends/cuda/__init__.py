"""The CUDA backend: graphs compiled to launches of generated and ``cuda_kernels`` kernels.

``compile(graph, donated)`` runs the shared pipeline (``common.pipeline``) into a ``Program``
(``run(*device_arrays) -> [device_arrays]``,
``run.describe()`` lists its launches). Eager ops on CUDA arrays compile their single
equation the same way, once per primitive, parameters and input types. Arrays hold numba
device arrays (simulated ones under ``NUMBA_ENABLE_CUDASIM=1``).

Modules: ``program`` (partition, buffer plan, the call), ``codegen`` (fused loop nests),
``lowering`` (their scalar expressions and reductions), ``ops`` (everything else),
``kernels`` (generated non-fused kernels),
``memory`` (pooled buffers, transfers), ``source`` (compile and launch), ``devmath``
(kernel math), ``graphs`` (opt-in CUDA graph replay). ``benchmarks/ptx_check.py`` compiles
every kernel it generates to PTX without a GPU.
See docs/cuda_backend.md.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ...core.array import Array
from ...core.devices import Device
from ...core.graph import Eqn, Graph, Var
from ...core.trace import abstract_eval, get_aval
from . import memory
from .program import compile as _compile

DEVICE = Device("cuda", 0)   # one device (see backend.py, which registers it)


def compile(graph, donated=None):  # noqa: A001 - the backend's verb
    return _compile(graph, donated, DEVICE)


# --------------------------------------------------------------------------- eager

_EAGER_CACHE_SIZE = 4096
_eager: OrderedDict = OrderedDict()


def _key(prim, params, avals):
    try:
        key = (prim, tuple(sorted(params.items())), tuple((a.shape, a.dtype) for a in avals))
        hash(key)
        return key
    except TypeError:   # an unhashable parameter: compile without caching
        return None


def eager_impl(prim, args, params):
    """Run ``prim`` on the device; host operands must be movable (the caller checked
    with ``core.placement.computation_device``)."""
    bufs = [_on_device(x) for x in args]
    if prim.name == "jit":
        outs = DEVICE.backend.executable(params["graph"], params["donated"])(*bufs)
    else:
        avals = [get_aval(x) for x in args]
        key = _key(prim, params, avals)
        program = _eager.get(key) if key is not None else None
        if program is None:
            in_vars = [Var(a) for a in avals]
            out_avals = abstract_eval(prim, avals, params)
            outs_v = [Var(a) for a in out_avals]
            program = _compile(Graph(in_vars, [Eqn(prim, in_vars, outs_v, params)], outs_v),
                               None, DEVICE)
            if key is not None:
                _eager[key] = program
                if len(_eager) > _EAGER_CACHE_SIZE:
                    _eager.popitem(last=False)
        else:
            _eager.move_to_end(key)
        outs = program(*bufs)
    return [Array(o, DEVICE) for o in outs]


def _on_device(x):
    if type(x) is Array:
        return x._value if x._device is DEVICE else memory.to_device(x._value)
    return memory.to_device(np.asarray(x, get_aval(x).dtype))


# --------------------------------------------------------------------------- transfers

def to_host(x: Array) -> np.ndarray:
    return memory.to_host(x._value)


def to_device(x: Array) -> Array:
    return Array(memory.to_device(x._value), DEVICE)


def from_cuda_array(obj) -> Array:
    """A zero-copy Array over a device array (``__cuda_array_interface__``: CuPy, PyTorch,
    numba)."""
    return Array(memory.from_cuda_array_interface(obj), DEVICE)


class _Interface:
    """``__cuda_array_interface__`` over a DLPack import, keeping the exporter alive."""

    def __init__(self, view):
        self._view = view
        dt = np.dtype(view.dtype)
        strides = None if view.strides is None else tuple(s * dt.itemsize for s in view.strides)
        self.__cuda_array_interface__ = dict(
            shape=tuple(view.shape), strides=strides, typestr=dt.str,
            data=(int(view.ptr), bool(view.readonly)), version=3)


def from_dlpack(obj) -> Array:
    """A zero-copy Array over a CUDA DLPack exporter (via cuda.core's view of it)."""
    from cuda.core.utils import StridedMemoryView
    view = StridedMemoryView.from_dlpack(obj, stream_ptr=-1)
    return from_cuda_array(_Interface(view))


def dlpack(x: Array, **kwargs):
    """A DLPack capsule for a CUDA Array, through cuda.core's ``StridedMemoryView``."""
    from cuda.core.utils import StridedMemoryView
    view = StridedMemoryView.from_cuda_array_interface(x._value, stream_ptr=-1)
    return view.__dlpack__(**kwargs)
