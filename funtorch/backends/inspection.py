"""What a jitted function compiles to, on either backend (as JAX's ``jit(f).lower(x)``):

    lowered = ft.jit(f).lower(x)        # traced for these arguments' types
    print(lowered.as_text())            # the graph
    compiled = lowered.compile()        # on the arguments' device (or device=...)
    print(compiled.plan_text())         # steps: fused loop nests, library calls, launches
    print(compiled.source())            # the generated source (CPU driver and kernels,
                                        # CUDA kernels)
    compiled(x)                         # runs it

``compile`` goes through ``backends.compile_graph``, so it returns (and warms) the
executable that calling the jitted function uses.
"""

from __future__ import annotations

import numpy as np

from ..core.array import Array
from . import compile_graph, transfer


class Lowered:
    """A traced function: its graph (with the values of its constants) for arguments of
    given types, and which inputs are donated."""

    def __init__(self, closed, donated, device="cpu"):
        self.closed = closed
        self.donated = tuple(donated)
        self.device = device

    @property
    def graph(self):
        return self.closed.graph

    def as_text(self):
        return str(self.closed)

    def compile(self, device=None):
        device = self.device if device is None else device
        n = len(self.closed.consts)
        donated = (False,) * n + self.donated[len(self.donated) - len(self.closed.in_avals):]
        return Compiled(self, compile_graph(self.graph, device, donated), device)

    def __str__(self):
        return self.as_text()


class Compiled:
    """A lowered function compiled for a device: ``plan_text()``, ``source()``, and a call
    on flat arguments (the lowered function's array leaves, in order)."""

    def __init__(self, lowered, executable, device):
        self.lowered, self.executable, self.device = lowered, executable, device

    def as_text(self):
        return "\n\n".join([self.lowered.as_text(), self.plan_text(), self.source()])

    def plan_text(self):
        return self.executable.plan_text()

    def source(self):
        return self.executable.source()

    def __call__(self, *args):
        """Donated arguments are copied first: the caller's arrays stay valid."""
        consts = self.lowered.closed.consts
        donated = self.lowered.donated[len(self.lowered.donated) - len(args):]
        bufs = [transfer(c if type(c) is Array else Array(np.asarray(c)), self.device)._value
                for c in consts]
        for x, d in zip(args, donated):
            if d or type(x) is not Array:
                x = Array(np.array(x))
            bufs.append(transfer(x, self.device)._value)
        return [Array(o, self.device) for o in self.executable(*bufs)]
