"""The compile pipeline of both backends: partition -> loops -> memory plan -> emit.

``compile(graph, donated, emitter)`` runs the backend-independent stages into a ``Plan``
(``fusion.Partition``: decompositions expanded, views folded, elementwise chains and their
reductions grouped into nests; ``loops.Loop`` per nest; ``memory.plan``: the buffer of
every value) and hands it to the backend's emitter, which turns it into an executable:
the CPU's generated Python driver over Numba kernels, CUDA's list of launches.

An emitter has ``prepare(graph) -> graph`` (a backend's own rewrite first: CUDA widens
half-precision arithmetic), ``options`` (keyword arguments of ``Plan``: ``ops``,
``loop_dtypes``, ``lowers``, ``owns``) and ``emit(plan) -> executable``. ``emit`` may raise
``Retry`` with
equation positions that must not fuse (a fused loop that failed to compile): the pipeline
plans again without them. The executable has ``plan_text()`` and ``source()`` for
inspection (``backends.inspection``).
"""

from __future__ import annotations

from . import memory
from .fusion import Nest, Partition
from .loops import Loop


class Retry(Exception):
    """Raised by an emitter: plan again, not fusing the equations at ``blocked``."""

    def __init__(self, blocked):
        super().__init__(f"retry without fusing equations {sorted(blocked)}")
        self.blocked = frozenset(blocked)


class Plan:
    """A graph's steps (``part``), loop nests (``loops``: nest -> ``Loop``) and buffers."""

    def __init__(self, graph, donated=None, *, blocked=frozenset(), ops=None,
                 loop_dtypes=None, lowers=None, owns=None):
        self.graph = graph
        kw = {} if loop_dtypes is None else {"loop_dtypes": loop_dtypes}
        self.part = Partition(graph, blocked, ops, lowers=lowers, **kw)
        self.loops = {s: Loop(s) for s in self.part.steps if isinstance(s, Nest)}
        self.donated = frozenset(v for v, d in zip(self.part.graph.in_vars, donated or ())
                                 if d)
        self.buffers = memory.plan(self.part, self.loops, self.donated, owns)

    @property
    def steps(self):
        return self.part.steps

    def summary(self):
        """One line: equations, steps, fused nests, workspace."""
        slots = self.buffers.slots
        return (f"{len(self.part.eqns)} equations -> {len(self.steps)} steps "
                f"({len(self.loops)} fused loop nests, workspace {sum(slots) / 2**20:.2f} MiB "
                f"in {len(slots)} slots)")


def compile(graph, donated, emitter):  # noqa: A001 - the backends' verb
    graph = emitter.prepare(graph)
    blocked = frozenset()
    while True:
        plan = Plan(graph, donated, blocked=blocked, **emitter.options)
        try:
            return emitter.emit(plan)
        except Retry as r:
            if r.blocked <= blocked:
                raise RuntimeError("funtorch: an emitter asked to retry without progress") \
                    from r
            blocked |= r.blocked
