"""The fusion analysis both backends compile from: a graph as ordered steps.

Every value is described by a ``Ref``: a strided view of a *root* (a buffer-backed
variable, a scalar literal or an ``Iota``), so broadcasts, transposes, slices and
reversals (primitives of kind ``view``) move no data; whoever reads the value folds the view
into its index expressions (``iota``, a view of the index grid, is a root of its own).

Elementwise equations (kind ``elementwise``) and the reductions that consume them (kind
``reduction``) are grouped into *loop nests* (``Nest``): each primitive declares its kind
where lax defines it, and the backends' scalar tables cover every such primitive. Each value in a
nest
maps its axes to the nest's loop dimensions; equations join a nest when their operands'
dimensions unify (union-find) without putting one loop dimension on two axes of a value,
and when all reductions in the nest reduce the same dimensions. A nest therefore runs as
``for kept dims: [for reduced dims: ...]`` with the reductions' epilogues (softmax's
``x - max``, ``/ sum``) fused behind them. Everything else becomes an ``OpStep`` that the
backend lowers itself (``Partition(ops=...)`` lets it attach a library call per step).

The contract backends rely on: ``Partition.steps`` in program order, ``Nest.stored`` (the
members read outside the nest), ``OpStep.ins`` (``Ref``s to materialise), ``alias`` (whole
buffer reshapes), ``outs``/``ref``; ``loops.Loop`` resolves a nest's dimensions.
"""

from __future__ import annotations

import itertools

from ...core import passes
from ...core.graph import Graph, Literal, Var
from . import scalar
from .decompose import expand


class Iota:
    """The root of ``broadcasted_iota``: element ``i`` holds ``i[dimension]``."""

    __slots__ = ("aval", "dimension")

    def __init__(self, aval, dimension):
        self.aval, self.dimension = aval, dimension


class Ref:
    """A value as a strided view of a root.

    Root axis ``j`` is indexed by ``offsets[j] + scales[j] * i[axes[j]]``, ``i`` being the
    index into the view (``axes[j]`` None: fixed at ``offsets[j]``). ``chain`` lists the
    view equations applied to the root, to materialise the view with numpy when a
    library call needs it.
    """

    __slots__ = ("root", "shape", "axes", "scales", "offsets", "chain")

    def __init__(self, root, shape, axes, scales, offsets, chain=()):
        self.root, self.shape = root, tuple(shape)
        self.axes, self.scales, self.offsets = tuple(axes), tuple(scales), tuple(offsets)
        self.chain = chain

    @staticmethod
    def of(root):
        shape = () if type(root) is Literal else root.aval.shape
        n = len(shape)
        return Ref(root, shape, range(n), (1,) * n, (0,) * n)

    @property
    def root_shape(self):
        return () if type(self.root) is Literal else self.root.aval.shape

    def is_identity(self):
        n = len(self.root_shape)
        return (self.shape == self.root_shape and self.axes == tuple(range(n))
                and all(s == 1 for s in self.scales) and not any(self.offsets))

    def _derive(self, eqn, shape, axes, scales=None, offsets=None):
        return Ref(self.root, shape, axes, self.scales if scales is None else scales,
                   self.offsets if offsets is None else offsets, self.chain + (eqn,))

    # one method per view primitive; None when the result is not a strided view
    def transpose(self, eqn, permutation):
        inv = {p: a for a, p in enumerate(permutation)}
        return self._derive(eqn, [self.shape[p] for p in permutation],
                            [None if a is None else inv[a] for a in self.axes])

    def broadcast_in_dim(self, eqn, shape, broadcast_dimensions):
        new = []
        for a in self.axes:
            if a is None or (self.shape[a] == 1 and shape[broadcast_dimensions[a]] != 1):
                new.append(None)
            else:
                new.append(broadcast_dimensions[a])
        return self._derive(eqn, shape, new)

    def squeeze(self, eqn, dimensions):
        keep = [a for a in range(len(self.shape)) if a not in dimensions]
        pos = {a: i for i, a in enumerate(keep)}
        return self._derive(eqn, [self.shape[a] for a in keep],
                            [pos.get(a) if a is not None else None for a in self.axes])

    def reshape(self, eqn, new_sizes):
        old_big = [a for a, s in enumerate(self.shape) if s != 1]
        new_big = [a for a, s in enumerate(new_sizes) if s != 1]
        if type(self.root) is Literal:
            return self._derive(eqn, new_sizes, ())
        if [self.shape[a] for a in old_big] != [new_sizes[a] for a in new_big]:
            return None   # merges or splits axes: not a strided view of every root
        pos = dict(zip(old_big, new_big))
        return self._derive(eqn, new_sizes,
                            [pos.get(a) if a is not None else None for a in self.axes])

    def slice(self, eqn, start_indices, limit_indices, strides):
        shape = [max(0, -(-(lim - s) // st)) for s, lim, st in
                 zip(start_indices, limit_indices, strides)]
        offsets, scales = list(self.offsets), list(self.scales)
        for j, a in enumerate(self.axes):
            if a is not None:
                offsets[j] += scales[j] * start_indices[a]
                scales[j] *= strides[a]
        return self._derive(eqn, shape, self.axes, scales, offsets)

    def rev(self, eqn, dimensions):
        offsets, scales = list(self.offsets), list(self.scales)
        for j, a in enumerate(self.axes):
            if a is not None and a in dimensions:
                offsets[j] += scales[j] * (self.shape[a] - 1)
                scales[j] = -scales[j]
        return self._derive(eqn, self.shape, self.axes, scales, offsets)

    def stop_gradient(self, eqn):
        return self


# --------------------------------------------------------------------------- graph prep

def flatten(graph: Graph):
    """Inline nested ``jit`` graphs, merge repeated work, apply the rewrites
    (``passes.rewrite_rules``) and drop dead equations (the graph passes of
    ``core/passes.py``): fusion sees across calls."""
    g = passes.dce(passes.rewrite(passes.cse(passes.inline_calls(graph))))
    return _hoist_scalars(g.eqns), g.outs


def _hoist_scalars(eqns):
    """Move equations with only scalar outputs right behind their inputs' producers.

    An optimizer's step-count arithmetic (Adam's bias corrections) comes after the
    moment updates in program order; computed first, the parameter update can join the
    loop that updates the moments: one pass over each weight instead of two."""
    out = []
    where = {}   # var -> index in ``out`` of its producer
    for e in eqns:
        pos = len(out)
        if all(v.aval.shape == () for v in e.outputs) and e.prim.name != "jit":
            pos = max([where[x] + 1 for x in e.inputs if type(x) is Var and x in where],
                      default=0)
            for v, k in where.items():
                if k >= pos:
                    where[v] = k + 1
        out.insert(pos, e)
        for v in e.outputs:
            where[v] = pos
    return out


def _find(parent, d):
    while parent[d] != d:
        parent[d] = parent[parent[d]]
        d = parent[d]
    return d


class Nest:
    """Elementwise equations and reductions that run in one loop nest."""

    def __init__(self, pos, counter):
        self.pos = pos                # index of the first member in the equation list
        self.eqns = []
        self.operands = {}            # eqn -> [(Ref, dims per view axis)]
        self.vdims = {}               # member var -> loop dim per axis (None: size 1)
        self.parent, self.extent = {}, {}
        self.stored = {}              # member vars read outside the nest (ordered set)
        self._ids = counter

    def find(self, d):
        return _find(self.parent, d)

    def store(self, var):
        self.stored[var] = None

    # ---- joining

    def try_add(self, eqn, refs, is_member):
        """Add ``eqn`` if its dimensions unify with the nest's; return whether it did.

        An array the nest already reads through the same view is first assumed to be
        read at the same iteration point (so softmax's ``x - max(x)`` runs in the loop
        that reduced ``x``); failing that, with independent dimensions.
        """
        return self._try_add(eqn, refs, is_member, True) or (
            self._try_add(eqn, refs, is_member, False))

    def try_add_sibling(self, eqn, refs):
        """Add ``eqn`` only if it iterates like an existing read of one of its inputs."""
        return any(self._prior_read(r) is not None for r in refs) and self._try_add(
            eqn, refs, lambda v: False, True)

    def _prior_read(self, ref):
        sig = (ref.shape, ref.axes, ref.scales, ref.offsets)
        for ops in self.operands.values():
            for r, dims in ops:
                if r.root is ref.root and (r.shape, r.axes, r.scales, r.offsets) == sig:
                    return dims
        return None

    def _try_add(self, eqn, refs, is_member, link, check=True):
        parent, extent = dict(self.parent), dict(self.extent)

        def fresh(n):
            d = next(self._ids)
            parent[d], extent[d] = d, n
            return d

        operands = []
        for ref in refs:
            if type(ref.root) is Var and is_member(ref.root):
                dims = self._member_view_dims(ref, fresh)
                if dims is None:
                    return False
            else:
                dims = self._prior_read(ref) if link else None
                if dims is None:
                    dims = tuple(fresh(n) if n != 1 else None for n in ref.shape)
            operands.append((ref, dims))

        if eqn.prim.kind == "reduction":
            (ref, dims), = operands
            axes = scalar.reduced_axes(eqn)
            out_dims = tuple(d for a, d in enumerate(dims) if a not in axes)
        else:
            shape = eqn.outputs[0].aval.shape
            out = []
            for a, n in enumerate(shape):
                ds = [dims[a] for _, dims in operands if len(dims) == len(shape)
                      and dims[a] is not None]
                if n == 1 or not ds:
                    out.append(None if n == 1 else fresh(n))
                    continue
                r0 = _find(parent, ds[0])
                for d in ds[1:]:
                    r = _find(parent, d)
                    if r != r0:
                        if extent[r] != extent[r0]:
                            return False
                        parent[r] = r0
                out.append(r0)
            out_dims = tuple(out)

        vdims = dict(self.vdims)
        vdims[eqn.outputs[0]] = out_dims
        ops = dict(self.operands)
        ops[eqn] = operands
        if check and not self._valid(parent, vdims, [*self.eqns, eqn], ops):
            return False
        self.parent, self.extent, self.vdims, self.operands = parent, extent, vdims, ops
        self.eqns.append(eqn)
        return True

    def _member_view_dims(self, ref, fresh):
        """Dims of a view of a member: only views that keep elements in place fuse."""
        root_dims = self.vdims[ref.root]
        rshape = ref.root.aval.shape
        by_axis = {}
        for j, a in enumerate(ref.axes):
            if rshape[j] == 1:
                continue
            if a is None or ref.scales[j] != 1 or ref.offsets[j] or ref.shape[a] != rshape[j]:
                return None
            by_axis[a] = root_dims[j]
        return tuple(by_axis[a] if a in by_axis else None if n == 1 else fresh(n)
                     for a, n in enumerate(ref.shape))

    def _valid(self, parent, vdims, eqns, ops):
        for dims in vdims.values():
            rs = [_find(parent, d) for d in dims if d is not None]
            if len(set(rs)) != len(rs):
                return False   # one loop dim on two axes of a value
        reduced = None
        for e in eqns:
            if e.prim.kind != "reduction":
                continue
            (_, dims), = ops[e]
            axes = scalar.reduced_axes(e)
            r = frozenset(_find(parent, dims[a]) for a in axes if dims[a] is not None)
            if not r:
                continue
            if reduced is not None and r != reduced:
                return False
            reduced = r
        if reduced:
            for e in eqns:
                if e.prim.kind == "reduction":
                    out = vdims[e.outputs[0]]
                    if any(_find(parent, d) in reduced for d in out if d is not None):
                        return False
        # every kept dim must lie on one value, or independent loops would nest
        kept = {_find(parent, d) for dims in vdims.values() for d in dims if d is not None}
        if reduced:
            kept -= reduced
            # and on a reduction's result, or the reduction would rerun along it
            outs = {_find(parent, d) for e in eqns if e.prim.kind == "reduction"
                    for d in vdims[e.outputs[0]] if d is not None}
            if not kept <= outs:
                return False
        if kept and not any(kept <= {_find(parent, d) for d in dims if d is not None}
                            for dims in vdims.values()):
            return False
        # a nest over an empty space runs no iteration: a value with elements would never
        # be written there (a reduction's result is initialised outside its loop)
        empty = any(n == 0 for v, dims in vdims.items()
                    for d, n in zip(dims, v.aval.shape) if d is not None)
        if empty:
            results = {e.outputs[0] for e in eqns if e.prim.kind == "reduction"}
            if any(v not in results and v.aval.size > 0 for v in vdims):
                return False
        return True


# --------------------------------------------------------------------------- the partition

class OpStep:
    """An equation on materialised inputs; ``op``: what ``Partition(ops=...)`` built for it
    (the CPU's library call), None for an eager impl or a backend lowering it itself."""

    __slots__ = ("pos", "eqn", "op", "ins", "outs")

    def __init__(self, pos, eqn, op, ins):
        self.pos, self.eqn, self.op, self.ins = pos, eqn, op, ins
        self.outs = list(eqn.outputs)


class Partition:
    """The graph as ordered steps over values described by ``Ref``s.

    ``blocked``: equation positions not to fuse (nor view, nor give a library call): the
    CPU retries a graph whose fused loop failed to compile. ``ops``: primitive name ->
    ``builder(eqn)`` returning ``OpStep.op`` or None. ``loop_dtypes``: what fused loops may
    read and write (the CUDA backend adds the half types its widened graphs convert).
    ``lowers(eqn)``: whether the backend has a kernel for an equation whose primitive has a
    decomposition (``decompose.expand``; by default none: all of them are expanded)."""

    def __init__(self, graph: Graph, blocked=frozenset(), ops=None,
                 loop_dtypes=scalar.LOOP_DTYPES, lowers=None):
        self.graph = graph
        self._ops = ops or {}
        self._loop_dtypes = loop_dtypes
        self.eqns, self.outs = expand(*flatten(graph), lowers)
        self.env = {}                 # var -> Ref
        self.alias = {}               # reshape alias var -> base var
        self.member_of = {}           # var -> Nest
        self.available = {}           # var -> position after which it can be read
        self.steps = []               # Nests and OpSteps, by position
        self.readers = {}             # var -> nests reading it as an input
        self._ids = itertools.count()
        for v in graph.in_vars:
            self.env[v] = Ref.of(v)
            self.available[v] = -1
        for pos, eqn in enumerate(self.eqns):
            self._add(pos, eqn, blocked)
        for x in self.outs:
            self.materialise(self.ref(x))
        self.steps.sort(key=lambda s: s.pos)

    def ref(self, x):
        return Ref.of(x) if type(x) is Literal else self.env[x]

    def materialise(self, ref):
        """Make sure ``ref``'s root is in a buffer (a nest member must be stored)."""
        root = ref.root
        while type(root) is Var and root in self.alias:
            root = self.alias[root]
        if type(root) is Var and root in self.member_of:
            self.member_of[root].store(root)

    def _available_at(self, ref, pos):
        root = ref.root
        return type(root) is not Var or self.available[root] < pos

    def _add(self, pos, eqn, blocked):
        kind = eqn.prim.kind
        refs = [self.ref(x) for x in eqn.inputs]
        if kind == "view" and refs and pos not in blocked:
            out = self._view(eqn, refs[0])
            if out is not None:
                self.env[eqn.outputs[0]] = out
                return
        if kind == "view" and not refs and _loop_types(eqn, scalar.LOOP_DTYPES):   # iota
            p = eqn.params
            self.env[eqn.outputs[0]] = Ref.of(Iota(eqn.outputs[0].aval, p["dimension"]))
            return
        if kind in ("elementwise", "reduction") and _loop_types(eqn, self._loop_dtypes) \
                and pos not in blocked and self._fuse(pos, eqn, refs):
            return
        build = self._ops.get(eqn.prim.name)
        op = build(eqn) if build is not None and pos not in blocked else None
        for r in refs:
            self.materialise(r)
        self.steps.append(OpStep(pos, eqn, op, refs))
        for v in eqn.outputs:
            self.env[v] = Ref.of(v)
            self.available[v] = pos

    def _view(self, eqn, ref):
        name = eqn.prim.name
        out = getattr(ref, name)(eqn, **eqn.params)
        if out is not None or name != "reshape":
            return out
        # a reshape of a whole buffer is the same buffer with another shape
        if type(ref.root) is Var and ref.is_identity():
            self.materialise(ref)
            v = eqn.outputs[0]
            self.alias[v] = ref.root
            self.available[v] = self.available[ref.root]
            return Ref.of(v)
        return None

    def _fuse(self, pos, eqn, refs):
        member = self.member_of
        candidates = sorted({member[r.root] for r in refs
                             if type(r.root) is Var and r.root in member},
                            key=lambda n: -n.pos)
        if len(candidates) > 1 and self._merge(candidates[-1], candidates[:-1], eqn, refs):
            self._joined(candidates[-1], eqn, refs)
            return True
        for nest in candidates:
            if not all(self._available_at(r, nest.pos) or
                       (type(r.root) is Var and member.get(r.root) is nest) for r in refs):
                continue
            if nest.try_add(eqn, refs, lambda v, n=nest: member.get(v) is n):
                self._joined(nest, eqn, refs)
                return True
        # a sibling: a nest already reading one of the inputs the same way (Adam's m and
        # v updates both read the gradient)
        siblings = sorted({n for r in refs if type(r.root) is Var
                           for n in self.readers.get(r.root, ())}, key=lambda n: -n.pos)
        for nest in siblings:
            if all(self._available_at(r, nest.pos) for r in refs) and \
                    nest.try_add_sibling(eqn, refs):
                self._joined(nest, eqn, refs)
                return True
        nest = Nest(pos, self._ids)
        if not nest.try_add(eqn, refs, lambda v: False):
            return False
        self.steps.append(nest)
        self._joined(nest, eqn, refs)
        return True

    def _merge(self, into, others, eqn, refs):
        """Move the nests ``others`` into the earlier nest ``into`` when everything they
        read is available there, and add ``eqn`` (which reads them all) to it: Adam's
        second moment's decay starts its own nest, then meets the squared gradient
        computed in the first moment's. All or nothing."""
        member = self.member_of
        moved = set()
        for n in others:
            moved.update(v for e in n.eqns for v in e.outputs)
        for n in others:
            for e in n.eqns:
                for r, _ in n.operands[e]:
                    root = r.root
                    if type(root) is Var and root not in moved and not (
                            member.get(root) is into or self._available_at(r, into.pos)):
                        return False
        saved = (dict(into.parent), dict(into.extent), dict(into.vdims),
                 dict(into.operands), list(into.eqns))

        def is_member(v):
            return member.get(v) is into or v in moved

        # the nests are independent loops until ``eqn`` links them: validate at the end
        adds = [(e, [r for r, _ in n.operands[e]]) for n in sorted(others, key=lambda n: n.pos)
                for e in n.eqns]
        if any(type(r.root) is Var and not is_member(r.root) and not self._available_at(
                r, into.pos) for r in refs):
            return False
        ok = False
        for e, rs in adds + [(eqn, refs)]:
            if not (into._try_add(e, rs, is_member, True, check=False)
                    or into._try_add(e, rs, is_member, False, check=False)):
                break
        else:
            ok = into._valid(into.parent, into.vdims, into.eqns, into.operands)
        if not ok:
            into.parent, into.extent, into.vdims, into.operands, into.eqns = saved
            return False
        for n in others:
            for v in n.stored:
                into.store(v)
            for e in n.eqns:
                for v in e.outputs:
                    member[v] = into
                    self.available[v] = into.pos
            self.steps.remove(n)
            for readers in self.readers.values():
                if n in readers:
                    readers.discard(n)
                    readers.add(into)
        return True

    def _joined(self, nest, eqn, refs):
        for r in refs:
            if not (type(r.root) is Var and self.member_of.get(r.root) is nest):
                self.materialise(r)
                if type(r.root) is Var:
                    self.readers.setdefault(r.root, set()).add(nest)
        v = eqn.outputs[0]
        self.member_of[v] = nest
        self.available[v] = nest.pos
        self.env[v] = Ref.of(v)


def _loop_types(eqn, allowed):
    return all(x.aval.dtype in allowed for x in eqn.inputs) and all(
        v.aval.dtype in allowed for v in eqn.outputs)
