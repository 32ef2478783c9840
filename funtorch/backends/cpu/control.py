"""Control flow compiled into the driver: ``scan``, ``while`` and ``cond`` as a Python loop
(or branch) in the generated driver around the compiled body.

Each sub-graph (the scan or while body, the while predicate, each cond branch) compiles
through the same pipeline (``compile_body``) into a driver of its own: its fused kernels
and BLAS calls, its own buffer plan with a workspace made once and reused by every
iteration. The outer driver's step is then a few statements (``ControlOp.lines``):

    for i in range(length):                    # range(length - 1, -1, -1) if reverse
        r = body(*consts, *carry, *[x[i] for x in xs])
        carry = r[:num_carry]
        ys_k[i] = r[num_carry + k]             # into the preallocated stacked output
    carry_out[...] = carry

so an iteration costs one call of the body's driver: no tracing, no per-equation dispatch
through the eager impls. Loop-invariant operands (the consts, views of them) are
evaluated once before the loop; each xs is made contiguous once, so ``x[i]`` is a view.
The body's driver does not switch BLAS threads: the outer driver does so once around the
call (``ControlOp.blas``).
"""

from __future__ import annotations

import weakref

from . import compile_body
from .lowering import Op

_compiled = weakref.WeakKeyDictionary()   # graph -> its body driver


def _body(graph):
    run = _compiled.get(graph)
    if run is None:
        run = _compiled[graph] = compile_body(graph)
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


def scan(eqn):
    p = eqn.params
    nc, ncar, length = p["num_consts"], p["num_carry"], p["length"]
    body = _body(p["body"])
    x_ndim = [v.aval.ndim for v in eqn.inputs[nc + ncar:]]

    def lines(ins, outs, g, new):
        L = []
        consts = _locals(ins[:nc], new, L)
        carry = _locals(ins[nc:nc + ncar], new, L)
        xs = _locals(ins[nc + ncar:], new, L, "_contig({})")
        i, r, fn = new(), new(), g(body)
        # x[i, ...] keeps a 0-d array (x[i] of a 1-d x would be a numpy scalar)
        x_i = [f"{x}[{i}, ...]" if nd == 1 else f"{x}[{i}]" for x, nd in zip(xs, x_ndim)]
        order = f"range({length - 1}, -1, -1)" if p["reverse"] else f"range({length})"
        L.append(f"for {i} in {order}:")
        L.append(f"    {r} = {fn}({', '.join(consts + carry + x_i)})")
        if carry:
            L.append(f"    {_tuple(carry)} = {r}[:{ncar}]")
        L += [f"    {o}[{i}] = {r}[{ncar + k}]" for k, o in enumerate(outs[ncar:])]
        L += [f"{o}[...] = {c}" for o, c in zip(outs[:ncar], carry)]
        return L

    return ControlOp(f"compiled loop: scan of length {length}"
                     + (" (reversed)" if p["reverse"] else ""), [("body", body)], lines)


def while_loop(eqn):
    p = eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    cond, body = _body(p["cond_graph"]), _body(p["body_graph"])

    def lines(ins, outs, g, new):
        L = []
        cc = _locals(ins[:nc], new, L)
        bc = _locals(ins[nc:nc + nb], new, L)
        carry = _locals(ins[nc + nb:], new, L)
        fc, fb = g(cond), g(body)
        L.append(f"while {fc}({', '.join(cc + carry)})[0]:")
        L.append(f"    {_tuple(carry)} = {fb}({', '.join(bc + carry)})")
        L += [f"{o}[...] = {c}" for o, c in zip(outs, carry)]
        return L

    return ControlOp("compiled loop: while_loop (predicate compiled)",
                     [("cond", cond), ("body", body)], lines)


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
