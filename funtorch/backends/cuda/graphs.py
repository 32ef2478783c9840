"""CUDA graph capture of compiled programs (opt-in: ``enable()``; real GPUs only).

A program's launches are recorded once into a cuda.core graph and then replayed: a call
costs a copy per input into the recording's staging buffers, one graph launch and a copy
per freshly allocated output, instead of a Python-issued launch per kernel (the usual
static-buffer discipline of CUDA graphs, done for the caller). Donated inputs are updated
in place, so a recording is keyed by their addresses: a training loop that donates its
parameters replays one graph. A recording owns everything its launches address: staging
buffers, a workspace, a private pool for the GEMMs' split-K partials. Programs that
synchronise with the host (``cond``, ``while``, host fallbacks) or copy between buffers
run as usual.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict

from cuda_kernels._common import SIMULATOR
from cuda_kernels.memory import DevicePool

from . import memory
from .source import target

_enabled = False
MAX_RECORDINGS = 4   # per program (per set of donated addresses)


def enable(flag=True):
    """Turn capture on or off for every program (off by default)."""
    global _enabled
    _enabled = bool(flag)


def enabled():
    return _enabled and not SIMULATOR


STATS = {"recordings": 0, "replays": 0, "failures": 0}


def stats():
    """Counters of this process: graphs recorded, replays, captures that failed."""
    return dict(STATS)


class Recorder:
    """Replays a program's recordings; the first call runs it plainly (compiling kernels
    and warming the pools), later calls with new donated addresses record."""

    def __init__(self, program):
        self.program = program
        self.recordings = OrderedDict()
        self.warm = False
        self.failed = False

    def __call__(self, args):
        if self.failed or not self.warm:
            self.warm = True
            return self.program.run(args)
        key = tuple(memory.pointer(args[i]) for i in self.program.donated)
        rec = self.recordings.get(key)
        if rec is None:
            try:
                rec = _Recording(self.program, args)
            except Exception as exc:   # an unsupported driver or launch: run as usual
                self.failed = True
                STATS["failures"] += 1
                warnings.warn(f"funtorch cuda backend: CUDA graph capture failed, running "
                              f"launch by launch ({type(exc).__name__}: {exc})",
                              RuntimeWarning, stacklevel=3)
                return self.program.run(args)
            self.recordings[key] = rec
            STATS["recordings"] += 1
            if len(self.recordings) > MAX_RECORDINGS:
                self.recordings.popitem(last=False)
        else:
            self.recordings.move_to_end(key)
        STATS["replays"] += 1
        return rec.replay(args)


class _Recording:
    def __init__(self, program, args):
        from cuda.core import Device
        self.program = program
        donated = set(program.donated)
        self.staged = {k: memory.empty(a.shape, a.dtype) for k, a in enumerate(args)
                       if k not in donated}
        for k, buf in self.staged.items():
            memory.copy(buf, args[k])
        self.ws = program._workspace()           # kept: the graph addresses it
        self.env, nat = program.bind(self.ws, [self.staged.get(k, a)
                                               for k, a in enumerate(args)])
        self.outputs = {k: nat[k] for k, _, _ in program.fresh}
        self.pool = DevicePool()
        builder = Device().create_graph_builder()
        builder.begin_building()
        target.stream, target.pool = builder.stream, self.pool
        try:
            for step in program.steps:
                step.run(self.env)
        finally:
            target.stream = target.pool = None
            builder.end_building()
        self.graph = builder.complete()

    def replay(self, args):
        from cuda.core import LEGACY_DEFAULT_STREAM
        for k, buf in self.staged.items():
            memory.copy(buf, args[k])
        self.graph.launch(LEGACY_DEFAULT_STREAM)
        nat = dict(enumerate(args))
        for k, staged in self.outputs.items():
            out = nat[k] = memory.empty(staged.shape, staged.dtype)
            memory.copy(out, staged)
        return [out(self.env, nat) for out in self.program.outputs]
