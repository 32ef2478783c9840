"""The CPU backend's ``Backend``: host numpy buffers, the compiler of this package.

``FUNTORCH_CPU_BACKEND=interpret`` (read when a graph compiles) selects the reference
lowering, which evaluates the graph equation by equation with the eager impls.
"""

from __future__ import annotations

import os

import numpy as np

from ...core.array import Array, host_array
from ...core.backend import Backend
from ...core.devices import CPU
from ...core.graph import eval_graph
from ...core.trace import eval_on_host, host_value
from . import compile as _compile


def interpret(graph):
    """The reference lowering: evaluate equation by equation with the eager impls."""

    def run(*bufs):
        outs = eval_graph(graph, [Array(b) for b in bufs])
        return [o._value if type(o) is Array else o for o in outs]

    return run


class CpuBackend(Backend):
    platform = "cpu"

    def devices(self):
        return [CPU]

    def eager(self, prim, args, params):
        # core calls ``eval_on_host`` directly for host arrays (the hot path); this is
        # the same entry for callers holding a Device
        return eval_on_host(prim, [host_value(a) for a in args], params)

    def compile(self, graph, donated=None):
        name = os.environ.get("FUNTORCH_CPU_BACKEND", "numba")
        if name == "interpret":
            return interpret(graph)
        if name == "numba":
            return _compile(graph, donated)
        raise ValueError(f"funtorch: unknown FUNTORCH_CPU_BACKEND={name!r} (numba or "
                         "interpret)")

    def to_host(self, buf):
        return buf

    def from_host(self, value, device):
        return value

    dlpack_device_type = 1   # kDLCPU

    def from_dlpack(self, obj):
        return host_array(np.from_dlpack(obj))   # a copy: Arrays are immutable

    def describe(self, executable):
        plan = getattr(executable, "plan", None)
        return plan.describe() if plan is not None else "(interpreted: the graph itself)"

    def source(self, executable):
        text = getattr(executable, "source", None)
        return text() if text is not None else "# interpreted: no generated source"
