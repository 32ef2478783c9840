"""The CUDA backend's ``Backend``: numba device arrays as buffers (simulated ones under
``NUMBA_ENABLE_CUDASIM=1``), the entry points of this package behind it."""

from __future__ import annotations

import os

from numba import cuda

from ...core.array import Array
from ...core.backend import Backend
from ...core.placement import computation_device
from . import DEVICE, dlpack, eager_impl, from_cuda_array, from_dlpack, memory
from . import compile as _compile


class CudaBackend(Backend):
    platform = "cuda"

    def __init__(self):
        super().__init__()
        self._present = None

    def available(self) -> bool:
        if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
            return True
        if self._present is None:
            try:
                self._present = bool(cuda.is_available())
            except Exception:  # no driver: simply no GPU
                self._present = False
        return self._present

    def devices(self):
        return [DEVICE] if self.available() else []

    def unavailable(self):
        return ("no CUDA device is available (numba.cuda.is_available() is False). Use "
                "'cpu', or run on a machine with an NVIDIA GPU and numba-cuda installed "
                "(pip install 'funtorch[cuda]'); NUMBA_ENABLE_CUDASIM=1 gives a (slow) "
                "simulated device for testing.")

    def eager(self, prim, args, params):
        computation_device(args, prim.name)
        return eager_impl(prim, args, params)

    def compile(self, graph, donated=None):
        return _compile(graph, donated)

    def to_host(self, buf):
        return memory.to_host(buf)

    def from_host(self, value, device):
        return memory.to_device(value)

    def adopt(self, obj):
        if isinstance(obj, memory.DeviceArray) or hasattr(obj, "__cuda_array_interface__"):
            return from_cuda_array(obj)
        return None

    def synchronize(self, device):
        cuda.synchronize()

    dlpack_device_type = 2   # kDLCUDA

    def from_dlpack(self, obj):
        return from_dlpack(obj)

    def dlpack_device(self, device):
        return (2, device.id)   # (kDLCUDA, ordinal)

    def dlpack(self, buf, **kwargs):
        return dlpack(Array(buf, DEVICE), **kwargs)

    def cuda_array_interface(self, buf, device):
        return buf.__cuda_array_interface__

    def describe(self, executable):
        return executable.describe()

    def source(self, executable):
        return executable.source()
