"""Loop-invariant code motion for compiled loop bodies.

``hoist(body, num_consts)`` splits a loop body graph whose first ``num_consts`` inputs are
the same every iteration into ``(pre, body')``: ``pre`` computes, once before the loop,
every equation that depends on nothing but those constants (a weight scaled, a matmul of
two constants, a nested loop over constants); ``body'`` takes pre's outputs as extra
constants after the original ones and computes the rest per iteration. Views of
constants stay in the body too (they cost nothing there: the fusion analysis folds them
into index expressions; materialised once they would take a buffer); so do equations of
literals only. Returns None when nothing is worth hoisting.
"""

from __future__ import annotations

from ...core.graph import Graph, Var
from ...core.passes import dce


def hoist(body: Graph, num_consts: int):
    invariant = set(body.in_vars[:num_consts])
    pre_eqns, moved = [], set()     # moved: equations computed by pre only
    for e in body.eqns:
        ins = [x for x in e.inputs if type(x) is Var]
        if all(x in invariant for x in ins):
            invariant.update(e.outputs)
            pre_eqns.append(e)
            if ins and e.prim.kind != "view":
                moved.add(e)
    if not moved:
        return None
    rest = [e for e in body.eqns if e not in moved]
    needed = {x for e in rest for x in e.inputs if type(x) is Var} | {
        x for x in body.outs if type(x) is Var}
    boundary = [v for e in pre_eqns if e in moved for v in e.outputs if v in needed]
    pre = dce(Graph(body.in_vars[:num_consts], pre_eqns, boundary))
    new_body = Graph(body.in_vars[:num_consts] + boundary + body.in_vars[num_consts:],
                     rest, body.outs)
    return pre, new_body
