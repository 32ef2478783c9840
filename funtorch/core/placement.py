"""Placement (JAX's rules): a computation runs on the device of its non-host arguments.

Host arrays join it as JAX's *uncommitted* arrays do, copied over, unless they were placed
on the host explicitly with ``device_put`` (committed): that is an error naming both.
"""

from __future__ import annotations

import weakref

from .array import Array
from .devices import CPU, Device

_committed = weakref.WeakValueDictionary()   # id -> host Array placed with device_put


def commit(x):
    """Mark the host Array ``x`` as placed on the host explicitly (see the module doc)."""
    _committed[id(x)] = x
    return x


def transfer(x, device: Device):
    """The Array ``x`` on ``device`` (``x`` itself if it is there already)."""
    src = x._device
    if src is device:
        return x
    host = src.backend.to_host(x._value) if src is not CPU else x._value
    if device is CPU:
        return Array(host)
    return Array(device.backend.from_host(host, device), device)


def computation_device(values, what="computation", names=None) -> Device:
    """The device a computation on ``values`` runs on: that of its non-host arrays (host
    arrays move there), else the host. A host array committed with ``device_put`` meeting
    a device array is an error, unless it is a scalar."""
    device, first = CPU, None
    for i, x in enumerate(values):
        if type(x) is Array and x._device is not CPU:
            if device is not CPU and x._device is not device:
                raise ValueError(f"funtorch.{what}: arguments on different devices: "
                                 f"{_describe(values, first, names)} and "
                                 f"{_describe(values, i, names)}")
            device, first = x._device, i
    if device is CPU:
        return device
    for i, x in enumerate(values):
        if type(x) is Array and x._device is CPU and x.ndim and _committed.get(id(x)) is x:
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
