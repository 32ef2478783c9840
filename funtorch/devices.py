"""Devices: where arrays live. ``'cpu'`` always; ``'cuda:0'`` where Numba sees a GPU (or
its CUDA simulator, ``NUMBA_ENABLE_CUDASIM=1``)."""

from __future__ import annotations

import functools
import os

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
    """Copy every array leaf of ``tree`` to ``device``."""
    from .numpy import asarray
    device = canonical_device(device)

    def put(x):
        x = asarray(x)
        if not isinstance(x, Array):
            raise TypeError("funtorch.device_put: cannot move a traced value between devices "
                            "inside a transformation")
        if x.device == device:
            return x
        from .backends import transfer
        return transfer(x, device)

    return tree_util.map(put, tree)
