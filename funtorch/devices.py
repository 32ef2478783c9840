"""Devices: where arrays live. ``'cpu'`` always; ``'cuda:0'`` where Numba sees a GPU (or
its CUDA simulator, ``NUMBA_ENABLE_CUDASIM=1``).

A computation runs on the device of its CUDA arguments. Host arrays join it as JAX's
*uncommitted* arrays do: they are copied over, unless they were placed on the CPU
explicitly with ``device_put`` (committed), which is an error naming both devices.
"""

from __future__ import annotations

import functools
import os
import weakref

from . import tree as tree_util
from .core.array import Array


@functools.lru_cache(maxsize=1)
def _cuda_available() -> bool:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return True
    try:
        from numba import cuda
        return bool(cuda.is_available())
    except Exception:  # numba-cuda missing or no driver: simply no GPU
        return False


def devices():
    """The devices arrays can be placed on, e.g. ``['cpu', 'cuda:0']``."""
    return ["cpu", "cuda:0"] if _cuda_available() else ["cpu"]


def canonical_device(device) -> str:
    d = str(device or "cpu").lower()
    if d == "cuda":
        d = "cuda:0"
    if d == "cpu":
        return d
    if d.startswith("cuda:"):
        if not _cuda_available():
            raise RuntimeError(
                f"funtorch: device {device!r} was requested but no CUDA device is available "
                "(numba.cuda.is_available() is False). Use 'cpu', or run on a machine with an "
                "NVIDIA GPU and numba-cuda installed (pip install 'funtorch[cuda]'); "
                "NUMBA_ENABLE_CUDASIM=1 gives a (slow) simulated device for testing.")
        if d != "cuda:0":
            raise RuntimeError(f"funtorch: only one CUDA device (cuda:0) is supported, got "
                               f"{device!r}")
        return d
    raise ValueError(f"funtorch: unknown device {device!r}; expected 'cpu' or 'cuda'")


def device_put(tree, device="cpu"):
    """Copy every array leaf of ``tree`` to ``device`` (which commits it there)."""
    from .numpy import asarray
    device = canonical_device(device)

    def put(x):
        x = asarray(x)
        if not isinstance(x, Array):
            raise TypeError("funtorch.device_put: cannot move a traced value between devices "
                            "inside a transformation")
        if x.device != device:
            from .backends import transfer
            x = transfer(x, device)
        elif device == "cpu":
            x = Array(x._value)
        if device == "cpu":
            _committed[id(x)] = x
        return x

    return tree_util.map(put, tree)


_committed = weakref.WeakValueDictionary()   # id -> host Array placed with device_put


def computation_device(values, what="computation", names=None):
    """The device a computation on ``values`` runs on: that of its device arrays (host
    arrays move there), else the CPU. A host array committed with ``device_put`` meeting a
    device array is an error, unless it is a scalar."""
    device, first = "cpu", None
    for i, x in enumerate(values):
        if type(x) is Array and x._device != "cpu":
            if device != "cpu" and x._device != device:
                raise ValueError(f"funtorch.{what}: arguments on different devices: "
                                 f"{_describe(values, first, names)} and "
                                 f"{_describe(values, i, names)}")
            device, first = x._device, i
    if device == "cpu":
        return device
    for i, x in enumerate(values):
        if type(x) is Array and x._device == "cpu" and x.ndim and \
                _committed.get(id(x)) is x:
            raise ValueError(
                f"funtorch.{what}: arguments on different devices: "
                f"{_describe(values, first, names)} and {_describe(values, i, names)}, which "
                f"was placed there with device_put. Move one of them: "
                f"ft.device_put(x, '{device}') or ft.device_put(y, 'cpu')")
    return device


def _describe(values, i, names):
    x = values[i]
    who = names[i] if names else f"argument {i}"
    return f"{who} ({x.aval.str_short()}) on {x._device}"
