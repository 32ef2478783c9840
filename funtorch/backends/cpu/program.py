"""The driver: a generated Python function that runs the steps of a compiled graph.

Straight-line code, one statement per step, so a call costs little more than the
kernel calls themselves: workspace buffers (and their reshaped views) are made once per
workspace and reused across calls; only outputs are allocated per call. A control-flow
step is a loop or branch around the drivers of its bodies (``control``); those are
``inner`` drivers: they leave BLAS threading to the outer driver and return arrays of
their outputs' dtypes; with ``dests`` they take, after the inputs, a buffer for each
output in ``run.written`` (those a step writes as they are) and write it there, so a
loop passes ``ys[i]`` and alternates two buffers per carry instead of allocating.
"""

from __future__ import annotations

import numpy as np

from ...core.graph import Literal, Var
from ...core.trace import impl_rules
from ..common.fusion import Iota, Nest, OpStep


def _apply_chain(chain, x):
    for e in chain:
        x = impl_rules[e.prim](x, **e.params)
    return x


def _root_value(root):
    if type(root) is Literal:
        return np.asarray(root.val)
    if type(root) is Iota:
        a = root.aval
        r = np.arange(a.shape[root.dimension], dtype=a.dtype)
        shape = [1] * len(a.shape)
        shape[root.dimension] = a.shape[root.dimension]
        return np.broadcast_to(r.reshape(shape), a.shape)
    return None


class Kernel:
    """A compiled nest: entry point plus how to call it."""

    def __init__(self, nest, loop, source, fn):
        self.nest, self.loop, self.source, self.fn = nest, loop, source, fn


def _contig(a, dtype=None):
    """``a`` as a C-contiguous array of ``dtype``, of its own shape. (Not
    ``np.ascontiguousarray``, which makes a 0-d array 1-d: a kernel's entry point takes its
    arrays unchecked, and a 1-d array where it expects a 0-d one overwrites its stack.)"""
    return np.asarray(a, dtype, order="C")


class Driver:
    """Builds the source of ``run(*inputs) -> [outputs]`` and its globals."""

    def __init__(self, part, bp, kernels, donated, inner=False, dests=False):
        self.part, self.bp, self.kernels = part, bp, kernels
        self.inner = inner
        self.glob = {"_empty": np.empty, "_contig": _contig, "_asarray": np.asarray}
        self.lines = []
        self.ws_recipes = []      # how new_ws builds each entry of the workspace tuple
        self.ws_index = {}        # key -> index in the workspace tuple
        self.names = {}           # var -> driver name of its array
        self.n_tmp = 0
        in_vars = part.graph.in_vars
        self.args = [f"a{i}" for i in range(len(in_vars))]
        for v, a in zip(in_vars, self.args):
            self.names[v] = a
        self.donated = [a for v, a in zip(in_vars, self.args) if v in donated]
        self.dest = self._dests() if dests else {}
        self.written = sorted(self.dest.values())
        self.kernel_read = self._kernel_read_vars()
        self._emit()

    # ---- names

    def _g(self, value, prefix="g"):
        name = f"_{prefix}{len(self.glob)}"
        self.glob[name] = value
        return name

    def _base(self, v):
        while v in self.part.alias:
            v = self.part.alias[v]
        return v

    def _in_ws(self, v):
        return self.bp.storage.get(self._base(v), ("",))[0] == "ws"

    def _ws(self, key, recipe):
        k = self.ws_index.get(key)
        if k is None:
            k = self.ws_index[key] = len(self.ws_recipes)
            self.ws_recipes.append(recipe)
        return f"w{k}"

    def _array(self, v):
        """The driver expression for var ``v``'s (natural-shape) array."""
        if v in self.names:
            return self.names[v]
        if self._in_ws(v):
            if v in self.part.alias:
                base = self.part.alias[v]
                name = self._ws(("alias", v), ("reshape", self._ws_key(base), v.aval.shape))
            else:
                name = self._ws(("var", v), ("slot", self.bp.storage[v][1], v.aval))
            self.names[v] = name
            return name
        raise KeyError(v)

    def _ws_key(self, v):
        self._array(v)
        return self.ws_index[("alias", v) if v in self.part.alias else ("var", v)]

    def _kernel_arg(self, v, shape):
        shape = tuple(shape)
        if shape == v.aval.shape:
            return self._array(v)
        if self._in_ws(v):
            return self._ws(("shape", v, shape), ("reshape", self._ws_key(v), shape))
        return f"{self._array(v)}.reshape({shape})"

    def _ref_arg(self, ref):
        root = ref.root
        if type(root) is not Var:
            return self._g(_apply_chain(ref.chain, _root_value(root)), "c")
        if ref.is_identity() or not ref.chain:
            return self._array(root)
        if self._in_ws(root):
            return self._ws(("ref", id(ref)), ("chain", self._ws_key(root), ref.chain))
        fn = self._g(lambda x, c=ref.chain: _apply_chain(c, x), "v")
        return f"{fn}({self._array(root)})"

    def _kernel_read_vars(self):
        out = set()
        for k in self.kernels.values():
            out |= {self._base(v) for v, _ in k.source.reads}
        return out

    def _dests(self):
        """Output position -> var, for the outputs the caller provides buffers for
        (``dests``): those a step writes as they are (not inputs, views or repeats)."""
        dest = {}
        for k, x in enumerate(self.part.outs):
            ref = self.part.ref(x)
            v = ref.root
            if (type(v) is Var and (not ref.chain or ref.is_identity())
                    and v.aval == x.aval and v not in self.part.alias and v not in dest
                    and self.bp.storage.get(v) == ("out",)):
                dest[v] = k
        return dest

    # ---- code

    def _emit(self):
        L = self.lines
        part, bp = self.part, self.bp
        for v, a in zip(part.graph.in_vars, self.args):
            if v in self.kernel_read:
                L.append(f"if not {a}.flags.c_contiguous: {a} = _contig({a})")
        self._define_aliases(lambda v: v in part.graph.in_vars)
        out_k = 0
        for step in part.steps:
            for v in (step.stored if isinstance(step, Nest) else
                      step.outs if step.op is not None else ()):
                st = bp.storage[v]
                if v in self.dest:
                    self.names[v] = f"r{self.dest[v]}"
                elif st[0] == "out":
                    name = f"o{out_k}"
                    out_k += 1
                    dt = self._g(v.aval.dtype, "d")
                    L.append(f"{name} = _empty({v.aval.shape}, {dt})")
                    self.names[v] = name
                elif st[0] == "donate":
                    self.names[v] = self.names[st[1]]
            if isinstance(step, Nest):
                self._emit_kernel(self.kernels[step])
                defined = set(step.stored)
            else:
                self._emit_op(step)
                defined = set(step.outs)
            self._define_aliases(defined.__contains__)
        outs = []
        for x in part.outs:
            ref = part.ref(x)
            if type(ref.root) is Literal and not ref.chain:
                outs.append(f"{self._g(np.asarray(ref.root.val), 'c')}.copy()")
            elif self.inner and self._eager_result(ref.root):
                # a loop passes it back into kernels: an array of the var's dtype (an
                # eager impl may return a numpy scalar or another dtype)
                dt = self._g(x.aval.dtype, "d")
                outs.append(f"_asarray({self._ref_arg(ref)}, {dt})")
            else:
                outs.append(self._ref_arg(ref))
        L.append(f"return [{', '.join(outs)}]")

    def _define_aliases(self, base_defined):
        for v, base in self.part.alias.items():
            if base_defined(base) and not self._in_ws(v) and v not in self.names:
                name = f"x{self.n_tmp}"
                self.n_tmp += 1
                self.lines.append(f"{name} = {self._array(base)}.reshape({v.aval.shape})")
                self.names[v] = name
                self._define_aliases(lambda u, v=v: u is v)

    def _emit_kernel(self, k):
        src = k.source
        args = [] if src.parallel else [str(n) for n in src.extents]
        args += [self._kernel_arg(v, shape) for v, shape in src.reads]
        args += [self._kernel_arg(acc.var, acc.shape) for acc, name in src.stores
                 if name.startswith("o")]
        args += [self._ws(("scratch", id(k), j), ("new", shape, dt))
                 for j, (shape, dt) in enumerate(src.scratch)]
        fn = self._g(k.fn, "k")
        self.lines.append(f"{fn}({', '.join(args)})")

    def _eager_result(self, v):
        return type(v) is Var and self.names.get(self._base(v), "").startswith("e")

    def _new_local(self):
        self.n_tmp += 1
        return f"t{self.n_tmp}"

    def _emit_op(self, step: OpStep):
        ins = [self._ref_arg(r) for r in step.ins]
        e = step.eqn
        lines = getattr(step.op, "lines", None)
        if lines is not None:   # control flow: statements around compiled bodies
            outs = [self._array(v) for v in step.outs]
            self.lines += lines(ins, outs, self._g, self._new_local)
            return
        if step.op is not None:
            outs = [self._array(v) for v in step.outs]
            if step in self.bp.write_into:   # the output over the dead input's buffer
                fn = self._g(step.op.in_place, "f")
                self.lines.append(f"{fn}({outs[0]})")
                return
            fn = self._g(step.op.fn, "f")
            self.lines.append(f"{fn}({', '.join(ins + outs)})")
            return
        impl = impl_rules.get(e.prim)
        if impl is None:
            raise NotImplementedError(f"funtorch: primitive '{e.prim}' has no eager impl")
        params = e.params
        fn = self._g(lambda *xs, impl=impl, params=params: impl(*xs, **params), "f")
        names = [f"e{self.n_tmp + k}" for k in range(len(step.outs))]
        self.n_tmp += len(names)
        lhs = ", ".join(names) + ("," if e.prim.multiple_results and len(names) == 1 else "")
        if e.prim.multiple_results:
            self.lines.append(f"{lhs} = {fn}({', '.join(ins)})")
        else:
            self.lines.append(f"{names[0]} = {fn}({', '.join(ins)})")
        for v, n in zip(step.outs, names):
            self.names[v] = n
            if v in self.kernel_read:
                dt = self._g(v.aval.dtype, "d")
                self.lines.append(f"{n} = _contig({n}, {dt})")

    # ---- assembly

    def build(self):
        """The driver function."""
        g = dict(self.glob)
        head = []
        if self.donated:
            # buffers that cannot be given up (shared, read-only views, passed twice) are
            # copied first: the outputs then overwrite the private copies
            g["_claim"] = _claim
            names = ", ".join(self.donated)
            others = "".join(f"{a}, " for a in self.args if a not in self.donated)
            head.append(f"({names},) = _claim(({names},), ({others}))")
        body = self.lines
        if self.ws_recipes:
            g["_pool"] = []
            g["_new_ws"] = lambda: _new_ws(self.ws_recipes, self.bp.slots)
            names = ", ".join(f"w{k}" for k in range(len(self.ws_recipes)))
            body = ["_ws = _pool.pop() if _pool else _new_ws()", f"({names},) = _ws",
                    *body[:-1], "_pool.append(_ws)", body[-1]]
        uses_blas = any(getattr(s, "op", None) is not None and s.op.blas
                        for s in self.part.steps)
        if uses_blas and not self.inner:
            # BLAS runs inside our parallel kernels: its own threads must stay asleep
            from . import blas
            g["_blas_enter"], g["_blas_leave"] = blas.enter, blas.leave
            body = ["_blas_enter()", "try:", *["    " + ln for ln in body], "finally:",
                    "    _blas_leave()"]
        args = self.args + [f"r{k}" for k in self.written]
        src = f"def run({', '.join(args)}):\n" + "\n".join(
            "    " + ln for ln in head + body) + "\n"
        exec(compile(src, "<funtorch cpu driver>", "exec"), g)
        fn = g["run"]
        fn.source_text = src
        fn.uses_blas = uses_blas   # an inner driver leaves BLAS threads to its caller
        fn.written = tuple(self.written)   # outputs written into buffers the caller passes
        return fn


def _claim(donated, others):
    """The donated buffers, each private to its array and distinct from every other input
    (copied where it is not), unlocked for writing. (funtorch marks the buffers it owns
    read-only; a donated one is unlocked.)"""
    seen = {id(x) for x in others}
    seen.update([id(x.base) for x in others])
    out = []
    for a in donated:
        flags = a.flags
        if a.base is not None or not flags.c_contiguous or id(a) in seen:
            a = np.array(a, order="C")
        else:
            flags.writeable = True
        seen.add(id(a))
        out.append(a)
    return out


def _new_ws(recipes, slots):
    bufs = [np.empty(n, np.uint8) for n in slots]
    ws = []
    for r in recipes:
        if r[0] == "slot":
            _, k, aval = r
            n = aval.size * aval.dtype.itemsize
            ws.append(bufs[k][:n].view(aval.dtype).reshape(aval.shape))
        elif r[0] == "reshape":
            ws.append(ws[r[1]].reshape(r[2]))
        elif r[0] == "new":
            ws.append(np.empty(r[1], r[2]))
        else:
            ws.append(_apply_chain(r[2], ws[r[1]]))
    return tuple(ws)
