"""CUDA source for a fused loop nest (``common.fusion.Nest`` resolved as ``common.loops.Loop``).

The nest's kept dimensions are flattened onto the grid; its reduced dimensions run either

- *per thread*: each thread owns kept points and walks the reduced extent itself (many
  outputs, short reductions: softmax rows, elementwise chains), or
- *per block*: a block owns a kept point, its threads stride over the reduced extent and
  combine their float32 partials with ``cuda_kernels._block`` (few outputs, long
  reductions: bias gradients, the loss).

Reductions' epilogues run in *phases* exactly as on the CPU (softmax: max, then
``exp(x - max)`` summed, then divided). Every array is passed flat; shapes, strides and
the launch configuration are compiled in.
"""

from __future__ import annotations

import math

import numpy as np

from cuda_kernels._common import SIMULATOR, THREADS_1D, blocks_for

from ..common import codegen as common
from . import lowering
from .source import PRELUDE, KernelSpec

# block reductions: from this many reduced elements, for at most this many outputs
BLOCK_MIN_REDUCED = 4 if SIMULATOR else 64
BLOCK_MAX_KEPT = 16384


class Names(common.Names):
    """Module-level names of a kernel source (``PRELUDE`` provides the imports)."""

    const_prefix = "_c"
    # inlined: an out-of-line device function would ask the driver for the device's
    # compute capability when compiled (ptx_check runs without a GPU)
    helper_decorator = "@cuda.jit(device=True, inline='always')"


def strides(shape):
    out, s = [], 1
    for n in reversed(shape):
        out.append(s)
        s *= n
    return out[::-1]


def offset_expr(shape, idx, ivar):
    """Flat offset of ``(dim, scale, offset)`` per axis of a C-contiguous ``shape``."""
    const, terms = 0, []
    for (d, s, o), st in zip(idx, strides(shape)):
        const += o * st
        if d is not None and s:
            terms.append(ivar[d] if s * st == 1 else f"{s * st} * {ivar[d]}")
    if const or not terms:
        terms.append(str(const))
    return " + ".join(terms)


def decompose(dims, extent, ivar, src):
    """Lines splitting the flat index ``src`` into the coordinates of ``dims``."""
    if not dims:
        return []
    lines = [f"t = {src}"]
    for d in reversed(dims[1:]):
        lines += [f"{ivar[d]} = t % {extent[d]}", f"t = t // {extent[d]}"]
    return lines + [f"{ivar[dims[0]]} = t"]


class NestKernel:
    """What the driver passes: ``reads`` (root vars, one flat array each, in order), then
    the ``outputs`` it stores that are not written in place over a read."""

    def __init__(self, spec, reads, outputs):
        self.spec, self.reads, self.outputs = spec, reads, outputs


def _block_ok(loop, nk, nr):
    """Per block when the reduction is long, the outputs few and every reduction a float32
    sum/max/min/argmax/argmin (what ``_block`` combines)."""
    if not loop.inner or nr < BLOCK_MIN_REDUCED or nk > BLOCK_MAX_KEPT:
        return False
    return all(e.prim.name in lowering.BLOCK_REDUCERS and
               lowering.BLOCK_REDUCERS[e.prim.name].combine is not None and
               e.inputs[0].aval.dtype == np.float32
               for e in loop.eqns if e.prim.kind == "reduction")


def generate(loop, write_into=None) -> NestKernel:
    """``write_into``: stored var -> read var whose buffer it overwrites in place."""
    write_into = write_into or {}
    mod = Names()
    kept, inner = loop.kept, loop.inner
    ext = loop.extent
    nk = math.prod(ext[d] for d in kept)
    nr = math.prod(ext[d] for d in inner)
    per_block = _block_ok(loop, nk, nr)
    reducers = lowering.BLOCK_REDUCERS if per_block else lowering.REDUCERS
    ivar = {d: f"i{k}" for k, d in enumerate(kept + inner)}

    reads = []
    for acc in loop.reads.values():
        if acc.var not in reads:
            reads.append(acc.var)
    param = {v: f"a{k}" for k, v in enumerate(reads)}
    store_names, outputs = [], []
    for acc in loop.stores:
        src = write_into.get(acc.var)
        if src is not None and src in param:
            store_names.append(param[src])
        else:
            store_names.append(f"o{len(outputs)}")
            outputs.append(acc.var)

    R = set(inner)

    def read(key, acc):
        return f"{param[acc.var]}[{offset_expr(acc.shape, acc.idx, ivar)}]"

    sc = common.Scalars(loop, mod, ivar, read, reducers, lowering.SCALAR)
    scalars, order, value_of = sc.table, sc.order, sc.value_of
    reductions, red_of = sc.reductions, sc.red_of
    is_inner = sc.is_inner

    # ---- placement: outer lines per phase; inner sinks (reductions, stores) per phase
    outer, sinks = {}, {}
    for name in order:
        if is_inner(name):
            continue
        ph = scalars[name][1]
        if name in red_of:
            e, acc, src, _ = red_of[name]
            red = reducers[e.prim.name]
            lines = [f"{name} = {red.result(mod, acc, e.inputs[0].aval, e.outputs[0].aval)}"]
            sinks.setdefault(scalars[src][1] if src in scalars else 0, []).append(
                ("red", red_of[name]))
        else:
            lines = scalars[name][2]
        outer.setdefault(ph, []).extend(lines)
    last = []   # a block's outer stores: one thread, once every thread has read its inputs
    for acc, sname in zip(loop.stores, store_names):
        name = value_of[acc.var]
        line = f"{sname}[{offset_expr(acc.shape, acc.idx, ivar)}] = {name}"
        ph = scalars[name][1]
        if set(acc.dims()) & R:
            sinks.setdefault(ph, []).append(("store", line, name))
        elif per_block:
            last.append(line)
        else:
            outer.setdefault(ph, []).append(line)

    body = []

    def emit(lines, ind):
        body.extend("    " * ind + ln for ln in lines)

    def emit_phase(p, ind):
        phase_sinks = sinks.get(p, [])
        if not phase_sinks:
            return
        reds = [s[1] for s in phase_sinks if s[0] == "red"]
        init, lines = sc.phase_lines(phase_sinks, reducers,
                                     "r" if per_block else ivar[inner[0]])
        emit(init, ind)
        if per_block:
            emit(["r = tid", f"while r < {nr}:"], ind)
            emit(decompose(inner, ext, ivar, "r"), ind + 1)
            ii = ind + 1
        else:
            for k, d in enumerate(inner):
                emit([f"for {ivar[d]} in range({ext[d]}):"], ind + k)
            ii = ind + len(inner)
        emit(lines, ii)
        if per_block:
            emit(["r += THREADS"], ii)
            for e, acc, _, _ in reds:
                red = reducers[e.prim.name]
                pay = f"{acc}_i" if red.uses_index else "int64(0)"
                lhs = f"{acc}, {acc}_i" if red.uses_index else f"{acc}, _"
                emit([f"{lhs} = _reduce_{red.combine}(f32({acc}), {pay})"], ind)
                mod.ty(np.float32)

    top = max([*outer, *sinks], default=0)
    if per_block:
        threads = _block_threads(nr)
        grid = blocks_for(nk, 1)
        emit(["row = cuda.blockIdx.x", "tid = cuda.threadIdx.x", f"while row < {nk}:"], 1)
        emit(decompose(kept, ext, ivar, "row"), 2)
    else:
        threads = THREADS_1D
        grid = blocks_for(nk, threads)
        emit(["i = cuda.grid(1)", f"while i < {nk}:"], 1)
        emit(decompose(kept, ext, ivar, "i"), 2)
    emit(outer.get(0, []), 2)
    for p in range(top + 1):
        if p:
            emit(outer.get(p, []), 2)
        emit_phase(p, 2)
    if last:   # (in-place stores overwrite inputs that other threads may still read)
        emit(["cuda.syncthreads()", "if tid == 0:"], 2)
        emit(last, 3)
    emit(["row += cuda.gridDim.x" if per_block else "i += cuda.gridsize(1)"], 2)

    combiners = sorted({reducers[e.prim.name].combine for e, *_ in reductions}) \
        if per_block else []
    params = [param[v] for v in reads] + [s for s in store_names if s.startswith("o")]
    text = "\n".join([
        PRELUDE.rstrip("\n"), "", *mod.prelude(), f"THREADS = {threads}",
        *[f"_reduce_{c} = _block.block_reducer(_block.{c}, THREADS, int64)"
          for c in combiners],
        "", "", f"def kernel({', '.join(params)}):", *body]) + "\n"
    dtypes = [v.aval.dtype for v in reads] + [v.aval.dtype for v in outputs]
    label = "fused " + ("block-reduce" if per_block else "loop") + ": " + ", ".join(
        e.prim.name for e in loop.eqns)
    return NestKernel(KernelSpec(text, dtypes, grid, threads, label), reads, outputs)


def _block_threads(n):
    """A power of two covering the reduced extent, within [32, 256] (simulator: [1, 16])."""
    lo, hi = (1, 16) if SIMULATOR else (32, 256)
    return max(lo, min(hi, 1 << max(0, n - 1).bit_length()))
