"""The CPU compiler: a graph becomes fused Numba loops, BLAS calls and a thin driver.

``compile(graph, donated=None)`` returns ``run(*numpy_buffers) -> [numpy arrays]``:

1. ``common.fusion`` (shared with the CUDA backend): views fold into index expressions;
   elementwise equations and the reductions they feed group into loop nests (scalar
   step-count arithmetic is hoisted and nests an equation joins are merged, so an Adam
   update is one loop per weight); the rest become library calls (``lowering.OPS``) or
   eager impls.
2. ``codegen``: each nest becomes one kernel whose source is cached on disk by content
   hash, so equal nests share machine code within and across processes: an ``@njit``
   function, or for nests with enough work a ``cfunc`` that ``parallel.run`` runs on
   every core (a share of the outermost loop each). Reductions over an array's outer
   axis (bias gradients) walk it rows-outside.
3. ``common.memory``: outputs get fresh (or donated) buffers per call, intermediates
   reuse the slots of a persistent workspace.
4. ``program``: a generated straight-line Python driver calls the steps.

Library calls (``kernels``, ``windowed``): GEMMs, convolutions (im2col / col2im / weight
gradient, each thread packing a cache-sized tile and calling a single-threaded GEMM on
it) and pooling are static Numba kernels, parallel over the Numba threads, calling
numpy's BLAS by address (``blas``). The driver keeps BLAS's own thread pool asleep
while it runs, so the process has one set of threads competing for the cores.

``run.plan.describe()`` lists the steps; ``stats()`` counts kernels compiled and loaded.
Environment: ``FUNTORCH_CPU_SERIAL=1`` generates serial kernels only;
``FUNTORCH_CPU_NO_BLAS_KERNELS=1`` keeps numpy's matmul and the eager convolutions.
"""

from __future__ import annotations

import os
import warnings

from numba.core import types
from numba.np.numpy_support import from_dtype

from ..common import cache, pipeline
from ..common.fusion import Nest
from . import codegen, forked, lowering, program


def stats():
    """Kernels compiled by Numba and loaded from the disk cache in this process; those
    compiled by its forked workers (``forked``, which the process then loads) count as
    compiled, and again under ``forked``."""
    out = dict(codegen.STATS, **forked.STATS)
    out["compiled"] += out["forked"]
    out["loaded"] -= out["forked"]
    return out


class Plan:
    """What a graph compiled to (for inspection and tests)."""

    def __init__(self, part, loops, bp, kernels):
        self.steps = part.steps
        self.num_eqns = len(part.eqns)
        self.kernels = kernels
        self.buffers = bp
        self.loops = loops

    @property
    def num_kernels(self):
        """Steps that run code: fused kernels plus library and eager calls."""
        return len(self.steps)

    def describe(self):
        lines = [f"{self.num_eqns} equations -> {len(self.steps)} steps "
                 f"({len(self.kernels)} fused kernels, workspace "
                 f"{sum(self.buffers.slots) / 2**20:.2f} MiB in {len(self.buffers.slots)} "
                 "slots)"]
        for s in self.steps:
            if isinstance(s, Nest):
                loop = self.loops[s]
                prims = ", ".join(e.prim.name for e in s.eqns)
                ext = [loop.extent[d] for d in loop.kept]
                red = [loop.extent[d] for d in loop.inner]
                lines.append(f"  fused loop {ext}" + (f" reducing {red}" if red else "")
                             + f": {prims} -> stores {len(s.stored)}")
            else:
                kind = s.op.label if s.op is not None else "eager impl"
                lines.append(f"  {s.eqn.prim.name}: {kind}")
                for role, run in getattr(s.op, "bodies", ()):
                    lines.append(f"    {role}: " + run.plan.describe().replace(
                        "\n", "\n    "))
        return "\n".join(lines)


def _arg_types(source):
    ts = [types.intp] * len(source.extents)
    ts += [types.Array(from_dtype(v.aval.dtype), len(shape), "C") for v, shape in source.reads]
    ts += [types.Array(from_dtype(acc.var.aval.dtype), len(acc.shape), "C")
           for acc, name in source.stores if name.startswith("o")]
    ts += [types.Array(from_dtype(dt), len(shape), "C") for shape, dt in source.scratch]
    return ts


def _parallel_available():
    import numba
    return numba.get_num_threads() > 1 and not os.environ.get("FUNTORCH_CPU_SERIAL")


PARALLEL = _parallel_available()


def _sources(loops, bp, parallel=True):
    """Each nest's kernel source: parallel where the work pays for it, and for the small
    nests that share their structure (one compiled kernel: Adam's update of a bias and
    of a weight matrix), serial otherwise (and always where not ``parallel``)."""
    from .parallel import MIN_WORK
    out, par = {}, {}
    if PARALLEL and parallel:
        for nest, loop in loops.items():
            if codegen.parallel_ok(loop):
                src = codegen.generate(loop, bp.write_into.get(nest), parallel=True)
                if src.parallel:
                    par[nest] = src
    big = {src.text for nest, src in par.items() if codegen.work(loops[nest]) >= MIN_WORK}
    for nest, loop in loops.items():
        src = par.get(nest)
        out[nest] = src if src is not None and src.text in big else codegen.generate(
            loop, bp.write_into.get(nest))
    return out


class Emitter:
    """The CPU half of ``common.pipeline``: each nest a Numba kernel, each other step a
    library call (``lowering.OPS``) or eager impl, and the driver calling them in order."""

    options = {"ops": lowering.OPS, "lowers": lowering.lowers}
    inner = dests = False   # a loop body's driver (``program.Driver``'s ``inner``, ``dests``)

    @staticmethod
    def prepare(graph):
        return graph

    @classmethod
    def emit(cls, plan):
        part, loops, bp = plan.part, plan.loops, plan.buffers
        kernels = {}
        sources = _sources(loops, bp, parallel=not cls.inner)
        _compile_ahead(sources.values())
        for nest, loop in loops.items():
            src = sources[nest]
            try:
                if src.parallel:
                    fn = codegen.load_parallel(src)
                else:
                    fn = codegen.compile_kernel(codegen.load(src.text), _arg_types(src))
            except Exception as exc:  # a codegen bug must not make a graph uncompilable
                warnings.warn(f"funtorch cpu backend: a fused loop failed to compile and "
                              f"runs eagerly instead ({type(exc).__name__}: {exc})",
                              RuntimeWarning, stacklevel=2)
                raise pipeline.Retry(part.eqns.index(e) for e in nest.eqns) from exc
            kernels[nest] = program.Kernel(nest, loop, src, fn)
        run = program.Driver(part, bp, kernels, plan.donated, cls.inner,
                             cls.dests).build()
        run.plan = Plan(part, loops, bp, kernels)
        run.source = lambda: _source_text(run)
        return run


def _compile_ahead(sources):
    """Compile the kernels that are neither loaded nor on disk, on several cores
    (``forked``), so the loop in ``emit`` then finds them in the disk cache."""
    new = {}
    for src in sources:
        if not cache.is_loaded(src.text, "cpu"):
            new.setdefault(src.text, src)
    if len(new) < 2 or not forked.available():
        return
    work = [(len(text), _compiler(src)) for text, src in new.items()
            if not cache.on_disk(text, "cpu", codegen.VERSION)]
    if len(work) >= 2:
        forked.compile_ahead(work)


def _compiler(src):
    # compilation only: nothing that starts Numba's threads (not fork-safe) in a worker
    if src.parallel:
        return lambda: codegen.compile_parallel(src)
    return lambda: codegen.compile_kernel(codegen.load(src.text), _arg_types(src))


class BodyEmitter(Emitter):
    """A control-flow body: an inner driver of serial kernels and GEMMs (a parallel
    launch per iteration would wait for the Numba threads to be scheduled, every time)."""
    options = {"ops": lowering.BODY_OPS, "lowers": lowering.lowers}
    inner = True


class LoopBodyEmitter(BodyEmitter):
    dests = True


def _source_text(run, name="driver"):
    """The driver, then each fused kernel's source, then the drivers of loop bodies."""
    out = [f"# {name}\n{run.source_text}"]
    for k in run.plan.kernels.values():
        prims = ", ".join(e.prim.name for e in k.nest.eqns)
        out.append(f"# fused loop nest: {prims}\n{k.source.text}")
    for s in run.plan.steps:
        for role, body in getattr(getattr(s, "op", None), "bodies", ()):
            out.append(_source_text(body, f"{s.eqn.prim.name} {role} (called by the driver above)"))
    return "\n".join(out)


def compile(graph, donated=None):  # noqa: A001 - the backend's verb
    return pipeline.compile(graph, donated, Emitter)


def compile_body(graph, dests=False):
    """A control-flow body's driver (``control``): called once per iteration; ``dests``:
    it writes its outputs into buffers the caller passes (``program.Driver``)."""
    return pipeline.compile(graph, None, LoopBodyEmitter if dests else BodyEmitter)
