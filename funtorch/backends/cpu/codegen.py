"""Numba source for a loop nest, compiled through an on-disk cache.

A nest becomes one ``@njit`` function ``kernel(n0, .., a0, .., o0, ..)`` taking loop
extents, the root buffers it reads and the buffers it writes. Shapes are arguments, not
constants, and adjacent loop dimensions that every array walks contiguously are merged,
so structurally equal nests (Adam's update of every parameter, say) share one kernel.

Each distinct source is written once, as a real file named by its hash, in the kernel
cache (``common.cache``, shared with the CUDA backend); Numba's ``cache=True`` then keeps
the machine code beside it, so a second process loads kernels instead of compiling them.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from ..common import cache
from ..common import codegen as common
from ..common.codegen import TYPE_NAMES
from ..common.loops import Loop
from ..common.scalar import acc_dtype
from . import lowering, vecmath

VERSION = "5"   # bump when generated code changes meaning

_hashes = {}


def source_hash(module):
    """A hash of one of this package's modules' source (for generated code's cache keys:
    code compiled into a cached kernel from another module goes stale with it)."""
    h = _hashes.get(module)
    if h is None:
        path = os.path.join(os.path.dirname(__file__), module + ".py")
        with open(path, "rb") as f:
            h = _hashes[module] = hashlib.sha256(f.read()).hexdigest()[:16]
    return h

# kernels compiled by Numba / loaded from the disk cache: fused nests and specialised library
# entry points (``parallel.Shares``) in the user's kernel cache, the library's own beside
# the package
STATS = {"compiled": 0, "loaded": 0, "library compiled": 0, "library loaded": 0}


# --------------------------------------------------------------------------- source

class Names(common.Names):
    """Module-level names of a kernel source, after the imports an ``njit`` module needs.

    Kernels compile without fast-math flags (compiled code gives each op's IEEE result,
    NaNs and signed zeros included). The one exception is ``reassoc``: the accumulating
    add or multiply of a float reduction is a helper (``reassoc.py``) compiled with LLVM's
    ``reassoc`` flag alone, which LLVM inlines with its flag, so only the reduction's
    order may change and the loop vectorizer keeps several partial sums."""

    def __init__(self):
        super().__init__()
        self.reassoc_ops = {}
        self.vecmath = set()      # ``vecmath`` functions the kernel calls

    def helper(self, name):
        if name in vecmath.FUNCTIONS:
            self.vecmath.add(name)
            return name
        return super().helper(name)

    def reassoc(self, op):
        name = self.reassoc_ops[op] = {"+": "_radd", "*": "_rmul"}[op]
        return name

    def prelude(self):
        lines = ["import math", "import numpy as np", "from numba import njit"]
        if self.reassoc_ops:     # the helpers of ``reassoc.py``, shared by every kernel
            lines[:0] = [f"# reassoc: {source_hash('reassoc')}"]
            imports = {"_radd": "radd", "_rmul": "rmul"}
            lines.append("from funtorch.backends.cpu.reassoc import " + ", ".join(
                f"{imports[n]} as {n}" for n in sorted(self.reassoc_ops.values())))
        if self.vecmath:         # float32 tanh and logistic (``vecmath.py``)
            lines[:0] = [f"# vecmath: {source_hash('vecmath')}"]
            lines.append("from funtorch.backends.cpu.vecmath import "
                         + ", ".join(sorted(self.vecmath)))
        return lines + ["", *self.definitions()]


class Source:
    """The generated kernel and its arguments: ``reads`` are (var, shape) pairs, ``stores``
    (Access, parameter name) pairs; a store named like a read writes into that buffer;
    ``scratch``: (shape, dtype) of arrays the caller provides for the kernel's own use
    (the kernels never allocate: compiled without Numba's runtime they build faster)."""

    def __init__(self, text, reads, stores, extents, flags, scratch=(), parallel=False):
        self.text, self.reads, self.stores = text, reads, stores
        self.extents, self.flags = extents, flags
        self.scratch = list(scratch)
        self.parallel = parallel


def work(loop: Loop) -> int:
    return int(np.prod([loop.extent[d] for d in loop.kept + loop.inner], dtype=np.int64))


def parallel_ok(loop: Loop) -> bool:
    """Whether ``loop`` could be a parallel kernel (see ``parallel``): an outer kept dim
    to split whose index value the loop does not use."""
    return (bool(loop.kept) and loop.extent[loop.kept[0]] > 1
            and loop.kept[0] not in loop.indexed)


class _Serial(Exception):
    """The loop cannot be a parallel kernel after all."""


def generate(loop: Loop, write_into=None, parallel=False) -> Source:
    """``write_into``: stored var -> read var whose buffer it overwrites in place.
    ``parallel``: a ``cfunc`` taking its arguments in a block (for ``parallel.run``)
    instead of an ``njit`` function, when the loop allows it."""
    if parallel:
        try:
            return _generate(loop, write_into, True)
        except _Serial:
            pass
    return _generate(loop, write_into, False)


def _generate(loop, write_into, parallel):
    write_into = write_into or {}
    mod = Names()
    kept, inner = loop.kept, loop.inner
    loops = kept + inner
    ivar = {d: f"i{k}" for k, d in enumerate(loops)}
    arg_names = {}    # (var, shape) -> argument name
    for acc in loop.reads.values():
        arg_names.setdefault((acc.var, tuple(acc.shape)), f"a{len(arg_names)}")
    read_names = {k: arg_names[(acc.var, tuple(acc.shape))] for k, acc in loop.reads.items()}
    var_arg = {var: name for (var, _), name in arg_names.items()}
    store_names = []
    for k, acc in enumerate(loop.stores):
        src = write_into.get(acc.var)
        store_names.append(var_arg[src] if src is not None and src in var_arg else f"o{k}")
    kpos = {d: k for k, d in enumerate(kept)}

    def index_expr(idx, array=None):
        parts = []
        for d, s, o in idx:
            if d is None:
                parts.append(str(o))
            else:
                term = ivar[d] if s == 1 else f"{s} * {ivar[d]}"
                parts.append(term if o == 0 else f"{o} + {term}")
        if parallel:
            # raw pointers, flat offsets: no negative-index wrapping to defeat LLVM
            n = len(parts)
            flat = [p if j == n - 1 else f"({p}) * {array}_s{j}"
                    for j, p in enumerate(parts) if p != "0"]
            return " + ".join(flat) if flat else "0"
        return ", ".join(parts) if parts else "()"

    def read(key, acc):
        text = f"{read_names[key]}[{index_expr(acc.idx, read_names[key])}]"
        if parallel and acc.var.aval.dtype == np.bool_:
            text = f"({text} != 0)"       # bools are bytes behind a raw pointer
        return text

    sc = common.Scalars(loop, mod, ivar, read, lowering.REDUCERS, lowering.SCALAR)
    scalars, order, value_of = sc.table, sc.order, sc.value_of
    reductions, red_of = sc.reductions, sc.red_of
    R = set(inner)
    is_inner = sc.is_inner

    def depth(name):
        deps, phase, _, _ = scalars[name]
        if phase > 0 and inner:
            return len(kept)
        return max([kpos[d] + 1 for d in deps if d in kpos], default=0)

    # ---- placement
    outer_at = {}    # (depth, phase) -> lines
    inner_sinks = {}  # phase -> list of ("red"/"store", payload)
    for name in order:
        if is_inner(name):
            continue
        d = depth(name)
        ph = scalars[name][1] if inner else 0
        if name in red_of:
            e, acc, src, _ = red_of[name]
            red = lowering.REDUCERS[e.prim.name]
            in_aval, out_aval = e.inputs[0].aval, e.outputs[0].aval
            lines = [f"{name} = {red.result(mod, acc, in_aval, out_aval)}"]
            src_phase = scalars[src][1] if src in scalars else 0
            inner_sinks.setdefault(src_phase, []).append(("red", red_of[name]))
        else:
            lines = scalars[name][2]
        outer_at.setdefault((d, ph), []).extend(lines)
    for acc, sname in zip(loop.stores, store_names):
        name = value_of[acc.var]
        line = f"{sname}[{index_expr(acc.idx, sname)}] = {name}"
        if parallel and acc.var.aval.dtype == np.bool_:
            line = f"{sname}[{index_expr(acc.idx, sname)}] = np.uint8({name})"
        ph = scalars[name][1] if inner else 0
        if set(acc.dims()) & R:
            inner_sinks.setdefault(ph, []).append(("store", line, name))
            continue
        d = max(depth(name), max([kpos[x] + 1 for x in acc.dims()], default=0))
        outer_at.setdefault((d, ph), []).append(line)

    # ---- emission
    body = []
    scratch = []
    swap = _swap_order(loop, inner_sinks, reductions)
    if swap and parallel:
        raise _Serial    # its accumulators span the kept dims: one thread

    def emit(lines, ind):
        body.extend("    " * ind + ln for ln in lines)

    def emit_inner(ind):
        phases = sorted(inner_sinks)
        top = max([p for (_, p) in outer_at] + phases, default=0)
        for p in range(top + 1):
            emit(outer_at.get((len(kept), p), []) if p > 0 else [], ind)
            sinks = inner_sinks.get(p, [])
            if not sinks:
                continue
            init, lines = sc.phase_lines(sinks, lowering.REDUCERS,
                                         ivar[inner[0]] if inner else "0")
            emit(init, ind)
            for k, d in enumerate(inner):
                emit([f"for {ivar[d]} in range(n{len(kept) + k}):"], ind + k)
            emit(lines, ind + len(inner))

    def emit_kept(k, ind):
        emit(outer_at.get((k, 0), []), ind)
        if k < len(kept):
            emit([f"for {ivar[kept[k]]} in range(n{k}):"], ind)
            emit_kept(k + 1, ind + 1)
        elif inner:
            emit_inner(ind)

    def emit_swapped():
        """Reduced dims outside, kept dims inside, sums in arrays: for reductions over the
        outer axis of an array (a bias gradient sums the rows of a (batch, features)
        array), which the kept-outside order would read with a stride per element."""
        kidx = ", ".join(ivar[d] for d in kept)
        sinks = inner_sinks[0]
        reds = [x[1] for x in sinks if x[0] == "red"]
        emit(outer_at.get((0, 0), []), 1)
        for e, acc, _, _ in reds:
            red = lowering.REDUCERS[e.prim.name]
            emit(red.init(mod, acc, e.inputs[0].aval, e.outputs[0].aval), 1)
            scratch.append(((loop.extent[d] for d in kept), _red_acc_dtype(e)))
            emit([f"{acc}_a = t{len(scratch) - 1}"], 1)
        for k, d in enumerate(kept):
            emit([f"for {ivar[d]} in range(n{k}):"], 1 + k)
        emit([f"{acc}_a[{kidx}] = {acc}" for _, acc, _, _ in reds], 1 + len(kept))
        ind = 1
        for k, d in enumerate(inner):
            emit([f"for {ivar[d]} in range(n{len(kept) + k}):"], ind)
            ind += 1
        for k, d in enumerate(kept):
            emit([f"for {ivar[d]} in range(n{k}):"], ind)
            ind += 1
        roots = [x[1][2] for x in sinks if x[0] == "red"] + [x[2] for x in sinks
                                                               if x[0] == "store"]
        for n in sc.needed(roots, inner_only=False):
            emit(scalars[n][2], ind)
        for e, acc, src, _ in reds:
            red = lowering.REDUCERS[e.prim.name]
            emit([f"{acc} = {acc}_a[{kidx}]"], ind)
            emit(red.step(mod, acc, src, e.inputs[0].aval, e.outputs[0].aval, "0"), ind)
            emit([f"{acc}_a[{kidx}] = {acc}"], ind)
        emit([x[1] for x in sinks if x[0] == "store"], ind)
        # the epilogue: everything on kept dims only, the reductions' results first
        top = max([p for (_, p) in outer_at], default=0)
        for k, d in enumerate(kept):
            if k:
                emit(outer_at.get((k, 0), []), 1 + k)
            emit([f"for {ivar[d]} in range(n{k}):"], 1 + k)
        ind = 1 + len(kept)
        emit([f"{acc} = {acc}_a[{kidx}]" for _, acc, _, _ in reds], ind)
        for p in range(top + 1):
            emit(outer_at.get((len(kept), p), []), ind)

    if swap:
        emit_swapped()
    else:
        emit_kept(0, 1)
    if not body:
        body = ["    pass"]
    params = ([f"n{k}" for k in range(len(loops))] + list(arg_names.values())
              + [s for s in store_names if s.startswith("o")]
              + [f"t{k}" for k in range(len(scratch))])
    # no cfunc wrapper, no reference counting (nothing is allocated): 40% less compile time;
    # no fast-math flags (see ``Names``)
    flags = "error_model='numpy', nogil=True, no_cfunc_wrapper=True, _nrt=False"
    stores = [(acc, s) for acc, s in zip(loop.stores, store_names)]
    if parallel:
        # bytes each array's address moves per index of the outermost loop: every access
        # to one argument must agree (x and x.T in one loop do not)
        steps = {}
        if scratch:
            raise _Serial
        for acc in loop.reads.values():
            steps.setdefault(arg_names[(acc.var, tuple(acc.shape))], set()).add(
                _step(acc, kept[0]))
        for acc, name in stores:
            steps.setdefault(name, set()).add(_step(acc, kept[0]))
        if any(len(v) > 1 for v in steps.values()):
            raise _Serial
        flags = "error_model='numpy', _nrt=False"
        arrays = [(v.aval.dtype, len(shape)) for v, shape in arg_names] + [
            (acc.var.aval.dtype, len(acc.shape)) for acc, name in stores
            if name.startswith("o")]
        unpack = [f"    n{k} = args[{k}]" for k in range(len(loops))]
        j = len(loops)
        for name, (dt, nd) in zip(params[len(loops):], arrays):
            unpack.append(f"    {name} = {_ptr(dt)}(args[{j}])")
            for a in range(nd - 2, -1, -1):   # strides in elements
                unpack.append(f"    {name}_s{a} = args[{j + 2 + a}]" + (
                    f" * {name}_s{a + 1}" if a < nd - 2 else ""))
            j += 1 + nd
        head = [f"# parallel: {source_hash('parallel')}", "from numba import cfunc",
                "from funtorch.backends.cpu.parallel import SIGNATURE, " + ", ".join(
                    sorted({_ptr(dt) for dt, _ in arrays}))]
        text = "\n".join(mod.prelude() + head + ["", "", f"@cfunc(SIGNATURE, cache=True, {flags})",
                                                "def kernel(lo, hi, args):"] + unpack + body)
    else:
        text = "\n".join(mod.prelude() + ["", "", f"@njit(cache=True, {flags})",
                                          f"def kernel({', '.join(params)}):"] + body)
    text += "\n"
    src = Source(text, list(arg_names), stores, [loop.extent[d] for d in loops], flags,
                 [(tuple(shape), dt) for shape, dt in scratch], parallel)
    if parallel:
        src.steps = [steps[name].pop() for name in params[len(loops):]]
    return src


def _step(acc, d):
    for j, (dd, s, _) in enumerate(acc.idx):
        if dd == d:
            inner = int(np.prod(acc.shape[j + 1:], dtype=np.int64))
            return s * inner * acc.var.aval.dtype.itemsize
    return 0


def _ptr(dt):
    return "ptr_u8" if dt == np.bool_ else f"ptr_{TYPE_NAMES[dt.name]}"


def _red_acc_dtype(e):
    """The dtype of a reduction's accumulator (as ``lowering.REDUCERS`` initialise it)."""
    out = e.outputs[0].aval.dtype
    if e.prim.name in ("reduce_sum", "reduce_prod") and out != np.bool_:
        return acc_dtype(out)
    return out


def _swap_order(loop, inner_sinks, reductions):
    """Whether to run the reduced dims outside the kept ones (``emit_swapped``): when the
    largest array the reduction walks has a kept dim innermost, and the reductions are
    one plain phase (sums, products, max, min of values computed before any of them)."""
    if not loop.kept or not loop.inner or set(inner_sinks) != {0}:
        return False
    if any(e.prim.name not in ("reduce_sum", "reduce_prod", "reduce_max", "reduce_min")
           for e, *_ in reductions):
        return False
    kept, inner = set(loop.kept), set(loop.inner)
    spanning = [a for a in loop.accesses() if set(a.dims()) & kept and set(a.dims()) & inner]
    if not spanning:
        return False
    best = max(spanning, key=lambda a: int(np.prod(a.shape, dtype=np.int64)))
    dims = best.dims()
    return dims[-1] in kept


# --------------------------------------------------------------------------- disk cache

def load(text):
    """The dispatcher for a kernel source, from this process, the disk cache or Numba."""
    return cache.load(text, "cpu", VERSION).kernel


def compile_parallel(source):
    """A parallel kernel's ``cfunc`` (compiled or loaded when its module is imported)."""
    fresh = not cache.is_loaded(source.text, "cpu")
    cfunc = load(source.text)
    if fresh:
        STATS["loaded" if cfunc._cache_hits else "compiled"] += 1
    return cfunc


def load_parallel(source):
    """The launcher of a parallel kernel."""
    from .parallel import Launch
    shapes = [shape for _, shape in source.reads] + [
        acc.shape for acc, name in source.stores if name.startswith("o")]
    return Launch(compile_parallel(source), source.extents, shapes, source.steps)


def compile_kernel(disp, arg_types):
    """Compile (or load) one signature; return its entry point, which skips type dispatch."""
    from numba.core import types
    sig = types.void(*arg_types)
    misses = sum(disp._cache_misses.values())
    hits = sum(disp._cache_hits.values())
    fn = disp.compile(sig)
    STATS["compiled"] += sum(disp._cache_misses.values()) - misses
    STATS["loaded"] += sum(disp._cache_hits.values()) - hits
    return fn
