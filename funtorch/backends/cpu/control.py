"""Control flow compiled into the driver: ``scan``, ``while`` and ``cond`` as a Python loop
(or branch) in the generated driver around the compiled body.

Each sub-graph (the scan or while body, the while predicate, each cond branch) compiles
through the same pipeline (``compile_body``) into a driver of its own: its fused kernels
and BLAS calls, its own buffer plan with a workspace made once and reused by every
iteration. The outer driver's step is then a few statements (``ControlOp.lines``):

    for i in range(length):                    # range(length - 1, -1, -1) if reverse
        body(*consts, *carry, *[x[i] for x in xs], *next_carry, *[y[i] for y in ys])
        carry, next_carry = next_carry, carry  # two buffers per carry, alternating
    carry_out[...] = carry

so an iteration costs one call of the body's driver: no tracing, no per-equation dispatch
through the eager impls, and no allocation: the body writes its new carries and its ys'
rows into buffers the loop passes (``compile_body(graph, dests=True)``; an output the
body returns as it is, an input say, is copied instead). Loop invariants are computed
once before the loop: the constant operands (and views of them), and the body's
equations that depend on constants only (``common.hoist``: an "invariants" driver whose
outputs join the body's constants). Each xs is made contiguous once, so ``x[i]`` is a
view. The body's driver does not switch BLAS threads: the outer driver does so once
around the call (``ControlOp.blas``).
"""

from __future__ import annotations

import weakref

from ..common.hoist import hoist
from . import compile_body
from .lowering import Op

_compiled = weakref.WeakKeyDictionary()   # graph -> {dests: its body driver}


def _body(graph, dests=False):
    per = _compiled.setdefault(graph, {})
    run = per.get(dests)
    if run is None:
        run = per[dests] = compile_body(graph, dests)
    return run


class ControlOp(Op):
    """A control-flow step: ``lines(ins, outs, g, new)`` are its driver statements, given
    the input expressions, the output buffers' names, ``g(value) -> global name`` and
    ``new() -> fresh local name``. ``bodies``: (role, compiled driver) for inspection."""

    def __init__(self, label, bodies, lines):
        super().__init__(None, label, blas=any(run.uses_blas for _, run in bodies))
        self.bodies = bodies
        self.lines = lines


def _locals(exprs, new, lines, wrap="{}"):
    names = []
    for e in exprs:
        n = new()
        lines.append(f"{n} = {wrap.format(e)}")
        names.append(n)
    return names


def _tuple(names):
    return f"({', '.join(names)},)" if names else "()"


class _Hoisted:
    """A loop body's invariant part, computed before the loop (``common.hoist``): its
    outputs join the constants of the body that is left."""

    def __init__(self, body, num_consts):
        split = hoist(body, num_consts)
        self.pre = None if split is None else _body(split[0])
        self.n = 0 if split is None else len(split[0].outs)
        self.graph = body if split is None else split[1]
        self.bodies = [] if split is None else [("invariants", self.pre)]

    def consts(self, consts, g, new, L):
        """Statements before the loop; returns the body's constants."""
        if self.pre is None:
            return consts
        names = [new() for _ in range(self.n)]
        L.append(f"{_tuple(names)} = {g(self.pre)}({', '.join(consts)})")
        return consts + names


def _row(name, i, ndim):
    # x[i, ...] keeps a 0-d array view (x[i] of a 1-d x would be a numpy scalar)
    return f"{name}[{i}, ...]" if ndim == 1 else f"{name}[{i}]"


class _Carries:
    """The carries of a loop whose body writes each new carry into a buffer it is given:
    two buffers per carry, made once per call, alternate (the body reads one and writes
    the other). Where the body returns some carry as it is (an input, a view, a repeat)
    there is nothing to alternate: every carry is then the body's returned value, and the
    buffers it writes are allocated per iteration."""

    def __init__(self, body, first, avals, g, new, L):
        self.first, self.n = first, len(avals)
        written = set(body.written)
        self.ping = all(first + k in written for k in range(self.n))
        self.dest = {}       # output position -> buffer expression passed to the body
        self.swap = []
        for k, a in enumerate(avals):
            if first + k not in written:
                continue
            alloc = f"_empty({a.shape}, {g(a.dtype)})"
            if self.ping:
                nxt, spare = new(), new()
                L += [f"{nxt} = {alloc}", f"{spare} = {alloc}"]
                self.dest[first + k] = nxt
                self.swap.append((k, nxt, spare))
            else:
                self.dest[first + k] = alloc

    def after_call(self, carry, r):
        """Statements (in the loop) taking the new carries."""
        if not self.ping:
            return [f"{_tuple(carry)} = {r}[{self.first}:{self.first + self.n}]"] if carry \
                else []
        lhs = [x for k, nxt, spare in self.swap for x in (carry[k], nxt, spare)]
        rhs = [x for k, nxt, spare in self.swap for x in (nxt, spare, nxt)]
        return [f"{_tuple(lhs)} = {_tuple(rhs)}"] if lhs else []


def scan(eqn):
    p = eqn.params
    nc, ncar, length = p["num_consts"], p["num_carry"], p["length"]
    inv = _Hoisted(p["body"], nc)
    body = _body(inv.graph, dests=True)
    x_ndim = [v.aval.ndim for v in eqn.inputs[nc + ncar:]]
    y_ndim = [v.aval.ndim for v in eqn.outputs[ncar:]]

    def lines(ins, outs, g, new):
        L = []
        consts = inv.consts(_locals(ins[:nc], new, L), g, new, L)
        carry = _locals(ins[nc:nc + ncar], new, L)
        xs = _locals(ins[nc + ncar:], new, L, "_contig({})")
        cs = _Carries(body, 0, p["body"].out_avals[:ncar], g, new, L)
        i, r, fn = new(), new(), g(body)
        dest = dict(cs.dest)
        ys = {ncar + k: (o, nd) for k, (o, nd) in enumerate(zip(outs[ncar:], y_ndim))}
        for k, (o, nd) in ys.items():
            if k in body.written:
                dest[k] = _row(o, i, nd)   # the body writes y into its row of ys
        args = consts + carry + [_row(x, i, nd) for x, nd in zip(xs, x_ndim)]
        args += [dest[k] for k in body.written]
        order = f"range({length - 1}, -1, -1)" if p["reverse"] else f"range({length})"
        L.append(f"for {i} in {order}:")
        L.append(f"    {r} = {fn}({', '.join(args)})")
        L += ["    " + ln for ln in cs.after_call(carry, r)]
        L += [f"    {o}[{i}] = {r}[{k}]" for k, (o, _) in ys.items() if k not in body.written]
        L += [f"{o}[...] = {c}" for o, c in zip(outs[:ncar], carry)]
        return L

    return ControlOp(f"compiled loop: scan of length {length}"
                     + (" (reversed)" if p["reverse"] else ""),
                     inv.bodies + [("body", body)], lines)


def while_loop(eqn):
    p = eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    inv = _Hoisted(p["body_graph"], nb)
    cond, body = _body(p["cond_graph"]), _body(inv.graph, dests=True)

    def lines(ins, outs, g, new):
        L = []
        cc = _locals(ins[:nc], new, L)
        bc = inv.consts(_locals(ins[nc:nc + nb], new, L), g, new, L)
        carry = _locals(ins[nc + nb:], new, L)
        cs = _Carries(body, 0, p["body_graph"].out_avals, g, new, L)
        r, fc, fb = new(), g(cond), g(body)
        args = bc + carry + [cs.dest[k] for k in body.written]
        L.append(f"while {fc}({', '.join(cc + carry)})[0]:")
        L.append(f"    {r} = {fb}({', '.join(args)})")
        L += ["    " + ln for ln in cs.after_call(carry, r)]
        L += [f"{o}[...] = {c}" for o, c in zip(outs, carry)]
        return L

    return ControlOp("compiled loop: while_loop (predicate compiled)",
                     inv.bodies + [("cond", cond), ("body", body)], lines)


def cond(eqn):
    branches = [_body(b) for b in eqn.params["branches"]]
    last = len(branches) - 1

    def lines(ins, outs, g, new):
        r, fs = new(), g(tuple(branches))
        L = [f"{r} = {fs}[min(max(int({ins[0]}), 0), {last})]({', '.join(ins[1:])})"]
        L += [f"{o}[...] = {r}[{k}]" for k, o in enumerate(outs)]
        return L

    return ControlOp(f"compiled cond over {len(branches)} branches",
                     [(f"branch {k}", b) for k, b in enumerate(branches)], lines)
