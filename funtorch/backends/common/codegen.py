"""What both code generators share: naming in generated source, and a nest's scalars.

``Names`` gives the scalar types and typed constants a kernel uses module-level names
(the ``scalar.Ctx`` the expression builders call); both generators emit its
``definitions()``. ``Scalars`` turns a ``loops.Loop`` into named scalar statements (reads,
iota values, elementwise results, reduction results) with the loop dimensions each
depends on and its *phase* (the reductions it waits for); each backend then places them
in its own loop structure. Generated text is a cache key on both backends: changing what
these emit changes every kernel's hash.
"""

from __future__ import annotations

import numpy as np

from ...core.graph import Literal
from . import scalar
from .fusion import Iota

TYPE_NAMES = {
    "bool": "b1", "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
    "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64",
    "float32": "f32", "float64": "f64",
}


class Names(scalar.Ctx):
    """Names for the types, constants and helper functions (``scalar.HELPERS``) a
    kernel's source uses; a backend sets the constant prefix, the decorator of helpers
    and the ``prelude`` (imports) its sources start with."""

    const_prefix = "c"
    helper_decorator = "@njit"

    def __init__(self):
        self.types, self.consts, self.helpers = {}, {}, {}

    def ty(self, dtype):
        dt = np.dtype(dtype)
        name = TYPE_NAMES[dt.name]
        self.types[name] = dt.name if dt.name != "bool" else "bool_"
        return name

    def const(self, value, dtype):
        dt = np.dtype(dtype)
        if dt == np.bool_:
            return "True" if bool(value) else "False"
        if dt.kind == "f":
            text = f"{self.ty(dt)}(float.fromhex('{float(value).hex()}'))"
        else:
            text = f"{self.ty(dt)}({int(value)})"
        name = self.consts.get(text)
        if name is None:
            name = self.consts[text] = f"{self.const_prefix}{len(self.consts)}"
        return name

    def helper(self, name):
        fn = self.helpers.get(name)
        if fn is None:
            for dt in scalar.HELPERS[name][0]:
                self.ty(dt)
            fn = self.helpers[name] = f"_{name}"
        return fn

    def definitions(self):
        lines = [*[f"{n} = np.{t}" for n, t in sorted(self.types.items())],
                 *[f"{name} = {text}" for text, name in self.consts.items()]]
        for name, fn in sorted(self.helpers.items()):
            lines += ["", "", self.helper_decorator,
                      *scalar.HELPERS[name][1].format(name=fn).splitlines()]
        return lines

    def prelude(self):
        return self.definitions()


class Scalars:
    """The scalar statements of a loop nest, in definition order.

    ``table[name] = (deps, phase, lines, operand names)``: the loop dims the value varies
    along, how many reductions precede it, its statement lines (None for a reduction's
    result, which the generator places) and the names it reads. ``value_of[var]``: the
    scalar holding a nest member; ``reductions``: (eqn, accumulator, input scalar, result
    scalar). ``read(key, access) -> source`` is the backend's element read of
    ``loop.reads[key]``; equal reads share one scalar. ``reducers``: the backend's
    accumulators; ``exprs``: its scalar expression table; ``ivar``: dim -> index name.
    """

    def __init__(self, loop, mod, ivar, read, reducers, exprs):
        self.loop, self.inner = loop, set(loop.inner)
        self.table, self.order, self.value_of, self.reductions = {}, [], {}, []
        self._mod, self._ivar, self._read, self._reads = mod, ivar, read, {}
        for n, e in enumerate(loop.eqns):
            ops = [self._operand(e, k, r, d) for k, (r, d) in enumerate(loop.operands[e])]
            deps = set().union(*[self.table[o][0] for o in ops if o in self.table])
            phase = max([self.table[o][1] for o in ops if o in self.table], default=0)
            out = e.outputs[0]
            name = f"v{n}"
            in_avals = [x.aval for x in e.inputs]
            if e.prim.kind == "reduction":
                (ref, dims), = loop.operands[e]
                r_dims = {dims[a] for a in scalar.reduced_axes(e) if dims[a] is not None}
                if not r_dims:   # a reduction over size-1 axes only
                    expr = (mod.const(0, out.aval.dtype) if reducers[e.prim.name].uses_index
                            else ops[0] if out.aval.dtype == in_avals[0].dtype else
                            f"{mod.ty(out.aval.dtype)}({ops[0]})")
                    self.value_of[out] = self._add(name, deps, phase, [f"{name} = {expr}"],
                                                   tuple(ops))
                    continue
                self.reductions.append((e, f"s{n}", ops[0], name))
                self.value_of[out] = self._add(name, deps - self.inner, phase + 1, None,
                                               (ops[0],))
                continue
            expr = exprs[e.prim.name](mod, ops, in_avals, out.aval, e.params)
            self.value_of[out] = self._add(name, deps, phase, [f"{name} = {expr}"], tuple(ops))
        self.red_of = {r[3]: r for r in self.reductions}

    def _add(self, name, deps, phase, lines, uses):
        self.table[name] = (frozenset(deps), phase, lines, uses)
        self.order.append(name)
        return name

    def _operand(self, e, k, ref, dims):
        mod, root = self._mod, ref.root
        if type(root) is Literal:
            return mod.const(root.val.item(), root.aval.dtype)
        if type(root) is Iota:
            j = root.dimension
            a = ref.axes[j]
            d = dims[a] if a is not None else None
            o, s = ref.offsets[j], ref.scales[j]
            ty = mod.ty(root.aval.dtype)
            if d is None:
                return mod.const(o, root.aval.dtype)
            term = self._ivar[d] if s == 1 else f"{s} * {self._ivar[d]}"
            name = f"t{len(self.order)}"
            return self._add(name, {d}, 0,
                             [f"{name} = {ty}({term if o == 0 else f'{o} + {term}'})"], ())
        if root in self.value_of:
            return self.value_of[root]
        key = self.loop.read_of[(e, k)]
        acc = self.loop.reads[key]
        text = self._read(key, acc)
        name = self._reads.get(text)
        if name is None:
            name = self._reads[text] = f"r{len(self._reads)}"
            self._add(name, acc.dims(), 0, [f"{name} = {text}"], ())
        return name

    def is_inner(self, name):
        """Whether ``name`` varies along a reduced dim (and is not a reduction's result)."""
        return bool(self.table[name][0] & self.inner) and name not in self.red_of

    def needed(self, roots, inner_only=True):
        """The scalars ``roots`` need (the inner ones only, or all but reduction results),
        in definition order."""
        seen, stack = set(), list(roots)
        while stack:
            n = stack.pop()
            if n in seen or n not in self.table or (
                    not self.is_inner(n) if inner_only else n in self.red_of):
                continue
            seen.add(n)
            stack.extend(self.table[n][3])
        return [n for n in self.order if n in seen]

    def phase_lines(self, sinks, reducers, idx):
        """One phase's sinks (``("red", reduction)`` or ``("store", line, scalar)``) as the
        accumulators' init lines and the lines inside the reduced loop: the inner scalars
        they need, the accumulation steps (``idx``: the reduced index), the stores."""
        mod = self._mod
        reds = [s[1] for s in sinks if s[0] == "red"]
        init = [ln for e, acc, _, _ in reds for ln in reducers[e.prim.name].init(
            mod, acc, e.inputs[0].aval, e.outputs[0].aval)]
        roots = [r[2] for r in reds] + [s[2] for s in sinks if s[0] == "store"]
        body = [ln for n in self.needed(roots) for ln in self.table[n][2]]
        for e, acc, src, _ in reds:
            body += reducers[e.prim.name].step(mod, acc, src, e.inputs[0].aval,
                                               e.outputs[0].aval, idx)
        return init, body + [s[1] for s in sinks if s[0] == "store"]
