"""The interface every backend implements (one package under ``funtorch/backends/``).

A backend owns the buffers of its devices and everything that runs on them. Core and the
transforms never ask which backend they talk to: they hold a ``Device`` (core/devices.py)
and call ``device.backend``. Buffers are the backend's own (numpy arrays on the CPU, numba
device arrays on CUDA); an ``Array`` pairs one with its ``Device``.

Adding a backend: a package with a ``Backend`` subclass, plus one ``register_backend``
entry in ``funtorch/backends/__init__.py``.
"""

from __future__ import annotations

import weakref


class Backend:
    """One platform's devices, eager execution, compilation, transfers and inspection."""

    platform: str = ""   # the name users write: 'cpu', 'cuda'

    def __init__(self):
        self._executables: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    # ---- devices
    def devices(self) -> list:
        """The ``Device``s of this platform present here (empty when there are none)."""
        raise NotImplementedError

    def unavailable(self) -> str:
        """Why this platform has no devices here (the message of the error users see)."""
        return f"no {self.platform} device is available"

    # ---- execution
    def eager(self, prim, args, params) -> list:
        """Run one primitive on ``args`` (Arrays, at least one on this backend's device;
        host ones move, see ``placement.computation_device``) and return its result Arrays."""
        raise NotImplementedError

    def compile(self, graph, donated=None):
        """An executable for ``graph``: ``run(*buffers) -> [buffers]``. ``donated`` (None or
        one bool per input) marks inputs whose buffers the outputs may reuse."""
        raise NotImplementedError

    def executable(self, graph, donated=None):
        """``compile``, once per graph and donation pattern."""
        per = self._executables.get(graph)
        if per is None:
            per = self._executables[graph] = {}
        key = tuple(donated) if donated is not None and any(donated) else None
        run = per.get(key)
        if run is None:
            run = per[key] = self.compile(graph, key)
        return run

    # ---- transfers
    def to_host(self, buf):
        """A host numpy array with the contents of ``buf``."""
        raise NotImplementedError

    def from_host(self, value, device):
        """A buffer on ``device`` holding the numpy array ``value``."""
        raise NotImplementedError

    def adopt(self, obj):
        """An Array sharing the memory of a foreign array object (another library's device
        array), or None when ``obj`` is not one of this backend's."""
        return None

    dlpack_device_type = None   # DLPack's device type of this backend's buffers (kDLCPU = 1)

    def from_dlpack(self, obj):
        """An Array of the DLPack exporter ``obj`` (on this backend's
        ``dlpack_device_type``), sharing its memory where the memory is the device's."""
        raise NotImplementedError

    def synchronize(self, device):
        """Wait for the work queued on ``device``."""

    # ---- interchange (``Array.__dlpack__`` and friends)
    def dlpack_device(self, device) -> tuple:
        raise NotImplementedError

    def dlpack(self, buf, **kwargs):
        raise NotImplementedError

    def cuda_array_interface(self, buf, device):
        raise AttributeError(f"funtorch: an array on {device} has no "
                             "__cuda_array_interface__; move it with ft.device_put(x, 'cuda')")

    # ---- inspection (``core.inspection``: ``jit(f).lower(x).compile()``)
    def describe(self, executable) -> str:
        """What ``executable`` (from ``compile``) runs, as text: its plan."""
        raise NotImplementedError

    def source(self, executable) -> str:
        """The source ``executable`` was generated from."""
        raise NotImplementedError


class Unavailable(Backend):
    """A registered platform that cannot run here (its package failed to import)."""

    def __init__(self, platform: str, reason: str):
        super().__init__()
        self.platform = platform
        self._reason = reason

    def devices(self):
        return []

    def unavailable(self):
        return self._reason
