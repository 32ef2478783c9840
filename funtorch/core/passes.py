"""Graph-to-graph passes that keep a graph's meaning: inlining calls, common
subexpressions, dead code. The transforms (partial evaluation, jit's rules) and the
backends' fusion analysis (``backends/common/fusion.py``'s ``flatten``) share them.
"""

from __future__ import annotations

from .graph import Eqn, Graph, Var

# Primitives that call the graph in their ``graph`` parameter on their inputs and nothing
# else (jit_p registers itself): ``inline_calls`` replaces them by the graph's equations.
call_primitives: set = set()

# prim -> rule(used_outputs, eqn) -> (used_inputs, new_eqn | None), for primitives whose
# unused outputs let them drop work (jit's graph shrinks); others keep every input
dce_rules: dict = {}

# prim -> rule(eqn, producer, uses) -> [equations computing eqn's outputs] | None:
# rewrites that make a graph cheaper to run without changing its meaning beyond the order
# of a sum (the scan's accumulated products, ``lax/control_flow/scan_dots.py``; sums of
# zero pads, ``lax/pad_sums.py``); ``producer``: var -> its equation (rewritten ones
# included), ``uses``: var -> how often the graph reads it. The backends run ``rewrite``
rewrite_rules: dict = {}


def inline_calls(graph: Graph) -> Graph:
    """``graph`` with every call primitive replaced by its (recursively inlined) graph."""
    eqns = []

    def inline(g, inputs):
        sub = dict(zip(g.in_vars, inputs))

        def read(x):
            return sub.get(x, x) if type(x) is Var else x

        for e in g.eqns:
            ins = [read(x) for x in e.inputs]
            if e.prim in call_primitives:
                sub.update(zip(e.outputs, inline(e.params["graph"], ins)))
                continue
            new_outs = [Var(v.aval) for v in e.outputs]
            sub.update(zip(e.outputs, new_outs))
            eqns.append(Eqn(e.prim, ins, new_outs, e.params))
        return [read(x) for x in g.outs]

    outs = inline(graph, list(graph.in_vars))
    return Graph(graph.in_vars, eqns, outs)


def rewrite(graph: Graph) -> Graph:
    """``graph`` with each equation that has a ``rewrite_rules`` rule replaced by what the
    rule returns (unchanged where it returns None)."""
    uses = {}
    for x in [x for e in graph.eqns for x in e.inputs] + list(graph.outs):
        if type(x) is Var:
            uses[x] = uses.get(x, 0) + 1
    eqns, producer, changed = [], {}, False
    for e in graph.eqns:
        rule = rewrite_rules.get(e.prim)
        new = rule(e, producer, uses) if rule is not None else None
        if new is None:
            new = [e]
        else:
            changed = True
        for n in new:
            producer.update((v, n) for v in n.outputs)
        eqns += new
    return Graph(graph.in_vars, eqns, graph.outs) if changed else graph


def cse(graph: Graph) -> Graph:
    """Merge equations that apply one primitive, with equal parameters, to the same inputs
    (AD repeats work)."""
    sub, seen, kept = {}, {}, []

    def key_of(x):
        if type(x) is Var:
            return sub.get(x, x)
        return ("lit", x.val.dtype.str, x.val.tobytes())

    for e in graph.eqns:
        ins = [sub.get(x, x) if type(x) is Var else x for x in e.inputs]
        try:
            key = (e.prim, tuple(key_of(x) for x in ins), tuple(sorted(e.params.items())))
            hash(key)
        except TypeError:
            key = None
        prev = seen.get(key) if key is not None else None
        if prev is not None:
            sub.update(zip(e.outputs, prev.outputs))
            continue
        e = Eqn(e.prim, ins, e.outputs, e.params)
        if key is not None:
            seen[key] = e
        kept.append(e)
    return Graph(graph.in_vars, kept, [sub.get(x, x) if type(x) is Var else x
                                       for x in graph.outs])


def dce(graph: Graph, used_outputs=None) -> Graph:
    """Drop equations whose outputs are unused (inputs are kept: the signature is fixed).
    ``used_outputs`` (one bool per output) marks the outputs that count; all by default."""
    live = set()
    outs = graph.outs if used_outputs is None else [
        o for o, u in zip(graph.outs, used_outputs) if u]
    for o in outs:
        if type(o) is Var:
            live.add(o)
    new_eqns = []
    for eqn in reversed(graph.eqns):
        used = [v in live for v in eqn.outputs]
        if not any(used):
            continue
        rule = dce_rules.get(eqn.prim)
        if rule is not None:
            used_in, eqn = rule(used, eqn)
        else:
            used_in = [True] * len(eqn.inputs)
        for x, u in zip(eqn.inputs, used_in):
            if u and type(x) is Var:
                live.add(x)
        new_eqns.append(eqn)
    new_eqns.reverse()
    return Graph(graph.in_vars, new_eqns, graph.outs)


def used_inputs(graph: Graph) -> list:
    """Per input of ``graph``, whether an equation or an output reads it."""
    used = set()
    for e in graph.eqns:
        used.update(x for x in e.inputs if type(x) is Var)
    used.update(o for o in graph.outs if type(o) is Var)
    return [v in used for v in graph.in_vars]
