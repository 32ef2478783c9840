"""A scan's accumulated products (and sums) as one product (sum) after the loop.

A carry that only sums a per-step matrix product,

    acc' = acc + dot_general(a_t, b_t)          (or ``transpose(dot_general(...))``)

(the cotangent of a loop-invariant weight in a scan's reverse pass: ``dW_hh = sum_t
h_{t-1}^T @ dgates_t``), is the product of the stacked operands contracted over time as
well,

    acc_T = acc_0 + dot_general(a[0:T], b[0:T])     (time joins the contracting dims)

which is what PyTorch's LSTM backward computes: one big GEMM instead of one small GEMM and
one read-modify-write of the accumulator per step. ``hoist_accumulated_dots(eqn)`` rewrites
a scan equation so: the body returns the operands that vary per step as extra stacked
outputs (an operand that is one of the body's ``xs`` is read from the scan's own input),
the carry leaves the loop, and the product and the sum with the initial value follow it.
A carry summing ``reduce_sum(x_t, axes)`` (a bias gradient) becomes one ``reduce_sum`` of
the stacked ``x`` the same way. Only the order of the sum changes (a float reduction's one
freedom).

The rule fires for a carry whose input is read by the sum alone, whose new value is that
sum and is read by nothing else, where the product (and its transpose) feed the sum
alone, and both operands vary per step (a product with a loop invariant is not stacked:
that would multiply memory for nothing). Registered as a graph rewrite
(``core.passes.rewrite_rules``) that the backends' fusion analysis runs on jitted graphs.
"""

from __future__ import annotations

from ...core import passes
from ...core.abstract import ShapedArray
from ...core.graph import Eqn, Graph, Var
from ..linalg import dot_general_p
from ..reductions import reduce_sum_p
from ..shape import transpose_p
from .scan import scan_p

_SUMS = ("add", "add_any")


def _uses(body):
    n = {}
    for e in body.eqns:
        for x in e.inputs:
            if type(x) is Var:
                n[x] = n.get(x, 0) + 1
    for x in body.outs:
        if type(x) is Var:
            n[x] = n.get(x, 0) + 1
    return n


def _invariant(body, nc):
    inv = set(body.in_vars[:nc])
    for e in body.eqns:
        if all(type(x) is not Var or x in inv for x in e.inputs):
            inv.update(e.outputs)
    return inv


def _match(body, k, nc, producer, uses, invariant):
    """(sum eqn, transpose eqn or None, dot eqn) when carry ``k`` accumulates a product."""
    c, o = body.in_vars[nc + k], body.outs[k]
    add = producer.get(o) if type(o) is Var else None
    if add is None or add.prim.name not in _SUMS or uses.get(o) != 1 or uses.get(c) != 1:
        return None
    ins = add.inputs
    if sum(x is c for x in ins) != 1 or len(ins) != 2:
        return None
    other = ins[1] if ins[0] is c else ins[0]
    if type(other) is not Var or uses.get(other) != 1:
        return None
    tr, dot = None, producer.get(other)
    if dot is not None and dot.prim is transpose_p:
        tr, x = dot, dot.inputs[0]
        if type(x) is not Var or uses.get(x) != 1:
            return None
        dot = producer.get(x)
    if dot is None or dot.prim not in (dot_general_p, reduce_sum_p):
        return None
    if not all(type(x) is Var and x not in invariant for x in dot.inputs):
        return None
    if dot.outputs[0].aval.dtype != c.aval.dtype:
        return None
    return add, tr, dot


def hoist_accumulated_dots(eqn, producer=None, uses=None):
    """The equations replacing scan ``eqn`` (see the module docstring), or None."""
    p = eqn.params
    body = passes.inline_calls(p["body"])
    nc, ncar, T = p["num_consts"], p["num_carry"], p["length"]
    producer = {v: e for e in body.eqns for v in e.outputs}
    uses, invariant = _uses(body), _invariant(body, nc)
    found = {}
    for k in range(ncar):
        m = _match(body, k, nc, producer, uses, invariant)
        if m is not None:
            found[k] = m
    if not found:
        return None
    xs_in = body.in_vars[nc + ncar:]
    outer_xs = eqn.inputs[nc + ncar:]
    stacked = {}       # body var -> outer stacked var
    extra_ys = []      # body vars returned as new ys
    for _, _, dot in found.values():
        for x in dot.inputs:
            if x in stacked:
                continue
            if x in xs_in:
                stacked[x] = outer_xs[xs_in.index(x)]
            else:
                stacked[x] = Var(ShapedArray((T, *x.aval.shape), x.aval.dtype))
                extra_ys.append(x)
    dropped = {id(e) for m in found.values() for e in m if e is not None}
    keep = [k for k in range(ncar) if k not in found]
    new_body = passes.dce(Graph(
        body.in_vars[:nc] + [body.in_vars[nc + k] for k in keep] + xs_in,
        [e for e in body.eqns if id(e) not in dropped],
        [body.outs[k] for k in keep] + body.outs[ncar:] + extra_ys))
    scan = Eqn(eqn.prim,
               eqn.inputs[:nc] + [eqn.inputs[nc + k] for k in keep] + outer_xs,
               [eqn.outputs[k] for k in keep] + eqn.outputs[ncar:]
               + [stacked[x] for x in extra_ys],
               dict(p, body=new_body, num_carry=len(keep)))
    out = [scan]
    for k, (add, tr, dot) in found.items():
        up = lambda ds: tuple(d + 1 for d in ds)     # noqa: E731
        if dot.prim is dot_general_p:      # time joins the contracting dims
            (lc, rc), (lb, rb) = dot.params["dimension_numbers"]
            params = dict(dot.params, dimension_numbers=(((0, *up(lc)), (0, *up(rc))),
                                                         (up(lb), up(rb))))
        else:                              # and the reduced axes
            params = dict(dot.params, axes=(0, *up(dot.params["axes"])))
        prod = Var(dot.outputs[0].aval)
        out.append(Eqn(dot.prim, [stacked[x] for x in dot.inputs], [prod], params))
        if tr is not None:
            t = Var(tr.outputs[0].aval)
            out.append(Eqn(transpose_p, [prod], [t], tr.params))
            prod = t
        init = eqn.inputs[nc + k]
        c = body.in_vars[nc + k]
        ins = [init if x is c else prod for x in add.inputs]
        out.append(Eqn(add.prim, ins, [eqn.outputs[k]], add.params))
    return out


passes.rewrite_rules[scan_p] = hoist_accumulated_dots
