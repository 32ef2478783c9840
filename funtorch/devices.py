"""Devices: where arrays live. ``'cpu'`` always; ``'cuda:0'`` where Numba sees a GPU (or
its CUDA simulator, ``NUMBA_ENABLE_CUDASIM=1``). Each is a ``Device`` (core/devices.py)
that compares equal to its name.

A computation runs on the device of its non-host arguments (see core/placement.py): host
arrays join it as JAX's *uncommitted* arrays do, copied over, unless they were placed on
the host explicitly with ``device_put`` (committed), which is an error naming both devices.
"""

from __future__ import annotations

from . import tree as tree_util
from .core import devices as _registry
from .core.array import Array
from .core.devices import CPU
from .core.placement import commit, transfer
from .numpy import asarray


def devices():
    """The devices arrays can be placed on, e.g. ``[Device('cpu'), Device('cuda:0')]``
    (equal to ``['cpu', 'cuda:0']``)."""
    return _registry.devices()


def device_put(tree, device="cpu"):
    """Copy every array leaf of ``tree`` to ``device`` (which commits it there)."""
    device = _registry.get_device(device)

    def put(x):
        x = asarray(x)
        if not isinstance(x, Array):
            raise TypeError("funtorch.device_put: cannot move a traced value between devices "
                            "inside a transformation")
        if x._device is not device:
            x = transfer(x, device)
        elif device is CPU:
            x = Array(x._value)
        if device is CPU:
            commit(x)
        return x

    return tree_util.map(put, tree)
