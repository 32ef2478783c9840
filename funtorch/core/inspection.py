"""What a jitted function compiles to, on any backend (as JAX's ``jit(f).lower(x)``):

    lowered = ft.jit(f).lower(x)        # traced for these arguments' types
    print(lowered.as_text())            # the graph
    compiled = lowered.compile()        # on the arguments' device (or device=...)
    print(compiled.plan_text())         # steps: fused loop nests, library calls, launches
    print(compiled.source())            # the generated source (CPU driver and kernels,
                                        # CUDA kernels)
    compiled(x)                         # runs it

``compile`` asks the device's backend for its cached executable (``Backend.executable``),
the one calling the jitted function runs; ``plan_text`` and ``source`` are the backend's
``describe`` and ``source`` of it.
"""

from __future__ import annotations

import numpy as np

from .array import Array
from .devices import get_device
from .placement import transfer


class Lowered:
    """A traced function: its graph (with the values of its constants) for arguments of
    given types, which inputs are donated, and the device the arguments are on."""

    def __init__(self, closed, donated, device):
        self.closed = closed
        self.donated = tuple(donated)
        self.device = device

    @property
    def graph(self):
        return self.closed.graph

    def as_text(self):
        return str(self.closed)

    __str__ = as_text

    def compile(self, device=None):
        device = self.device if device is None else get_device(device)
        donated = (False,) * len(self.closed.consts) + self.donated
        return Compiled(self, device.backend.executable(self.graph, donated), device)


class Compiled:
    """A lowered function compiled for a device: ``plan_text()``, ``source()``, and a call
    on the lowered function's array arguments (flat, in order)."""

    def __init__(self, lowered, executable, device):
        self.lowered, self.executable, self.device = lowered, executable, device

    def as_text(self):
        return "\n\n".join([self.lowered.as_text(), self.plan_text(), self.source()])

    def plan_text(self):
        return self.device.backend.describe(self.executable)

    def source(self):
        return self.device.backend.source(self.executable)

    def __call__(self, *args):
        """Donated arguments are copied first: the caller's arrays stay valid."""
        bufs = [transfer(c if type(c) is Array else Array(np.asarray(c)), self.device)._value
                for c in self.lowered.closed.consts]
        for x, d in zip(args, self.lowered.donated):
            if d or type(x) is not Array:
                x = Array(np.array(x))
            bufs.append(transfer(x, self.device)._value)
        return [Array(o, self.device) for o in self.executable(*bufs)]
