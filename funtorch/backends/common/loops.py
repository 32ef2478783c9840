"""A loop nest resolved for code generation: ordered loop dimensions and array accesses.

``Loop(nest)`` is what both code generators start from: ``kept`` (outer) and ``inner``
(reduced) dimensions, ordered outer to inner along the largest array's layout, with
neighbouring dimensions every array walks contiguously merged (so structurally equal
nests share a kernel); ``reads`` / ``stores`` as ``Access``es of root buffers;
``operands`` per equation with resolved dimensions; ``indexed``: dimensions whose index
value is used (iota, argmax), never merged. The buffer plan reads it too.
"""

from __future__ import annotations

import numpy as np

from ...core.graph import Var
from . import scalar
from .fusion import Iota


class Access:
    """An array read or written by a nest: per array axis, (loop dim, scale, offset)."""

    __slots__ = ("var", "shape", "idx")

    def __init__(self, var, shape, idx):
        self.var, self.shape, self.idx = var, list(shape), list(idx)

    def dims(self):
        return [d for d, _, _ in self.idx if d is not None]

    def key(self):
        return (self.var, tuple(self.shape), tuple(self.idx))


class Loop:
    """A nest resolved into ordered loop dimensions, accesses and merged shapes."""

    def __init__(self, nest):
        self.nest = nest
        find = nest.find
        self.eqns = nest.eqns
        self.vdims = {v: tuple(None if d is None else find(d) for d in dims)
                      for v, dims in nest.vdims.items()}
        self.operands = {e: [(r, tuple(None if d is None else find(d) for d in dims))
                             for r, dims in ops] for e, ops in nest.operands.items()}
        self.extent = {find(d): n for d, n in nest.extent.items()}
        self.reduced = set()
        for e in self.eqns:
            if e.prim.kind == "reduction":
                (_, dims), = self.operands[e]
                self.reduced |= {dims[a] for a in scalar.reduced_axes(e)
                                 if dims[a] is not None}
        self.indexed = set()   # dims whose index value is used (iota, argmax)
        self.reads = {}        # access key -> Access
        self.read_of = {}      # (eqn, operand number) -> access key
        for e in self.eqns:
            for k, (ref, dims) in enumerate(self.operands[e]):
                root = ref.root
                if type(root) is Iota:
                    j = root.dimension
                    if ref.axes[j] is not None and dims[ref.axes[j]] is not None:
                        self.indexed.add(dims[ref.axes[j]])
                elif type(root) is Var and root not in self.vdims:
                    acc = Access(root, ref.root_shape, [
                        (None if a is None else dims[a], s, o)
                        for a, s, o in zip(ref.axes, ref.scales, ref.offsets)])
                    self.reads.setdefault(acc.key(), acc)
                    self.read_of[(e, k)] = acc.key()
            if e.prim.name in ("argmax", "argmin"):
                self.indexed |= self.reduced
        self.stores = [Access(v, v.aval.shape, [(d, 1, 0) for d in self.vdims[v]])
                       for v in nest.stored]
        dims = set(self.extent)
        self.kept = [d for d in self._order(dims - self.reduced, kept=True)]
        self.inner = [d for d in self._order(self.reduced, kept=False)]
        self._coalesce()

    def _order(self, dims, kept):
        """Outer to inner, following the layout of the largest array that spans them."""
        if not dims:
            return []
        arrays = ([*self.stores, *self.reads.values()] if kept else
                  [*self.reads.values(), *self.stores])
        best = max(arrays, key=lambda a: (len(set(a.dims()) & dims),
                                          int(np.prod(a.shape, dtype=np.int64))),
                   default=None)
        order = [d for d in (best.dims() if best is not None else []) if d in dims]
        for vd in self.vdims.values():
            order += [d for d in vd if d in dims and d not in order]
        for a in arrays:
            order += [d for d in a.dims() if d in dims and d not in order]
        order += sorted(d for d in dims if d not in order)
        return order

    def _coalesce(self):
        """Merge neighbouring loop dims that every array walks as one contiguous run."""
        for group in (self.kept, self.inner):
            i = 0
            while i + 1 < len(group):
                a, b = group[i], group[i + 1]
                if a in self.indexed or b in self.indexed or not all(
                        _mergeable(acc, a, b, self.extent) for acc in self.accesses()):
                    i += 1
                    continue
                for acc in self.accesses():
                    _merge(acc, a)
                self.extent[a] *= self.extent.pop(b)
                for v, vd in self.vdims.items():
                    self.vdims[v] = tuple(d for d in vd if d != b)
                del group[i + 1]

    def accesses(self):
        return [*self.reads.values(), *self.stores]


def _axis_of(acc, d):
    for j, (dd, _, _) in enumerate(acc.idx):
        if dd == d:
            return j
    return None


def _mergeable(acc, a, b, extent):
    ja, jb = _axis_of(acc, a), _axis_of(acc, b)
    if ja is None and jb is None:
        return True
    if ja is None or jb is None or jb != ja + 1:
        return False
    (_, sa, oa), (_, sb, ob) = acc.idx[ja], acc.idx[jb]
    return (sa == sb == 1 and oa == ob == 0 and acc.shape[ja] == extent[a]
            and acc.shape[jb] == extent[b])


def _merge(acc, a):
    """Only ``a`` is needed: ``_mergeable`` checked that the merged dim sits right after it."""
    ja = _axis_of(acc, a)
    if ja is None:
        return
    acc.shape[ja:ja + 2] = [acc.shape[ja] * acc.shape[ja + 1]]
    acc.idx[ja:ja + 2] = [(a, 1, 0)]
