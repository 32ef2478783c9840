"""Primitives a backend has no kernel for become their decomposition (a composite of other
primitives, ``core.trace.decompositions``), as JAX lowers such primitives with
``mlir.lower_fun``: the convolution gradients, say, are convolutions of flipped and
transposed operands on the CPU, and the backward-data / backward-weight kernels on CUDA
where those apply."""

from __future__ import annotations

from ...core.graph import Eqn, Var
from ...core.trace import decompositions
from ...core.tracing import trace_to_graph


def expand(eqns, outs, lowers=None):
    """``(eqns, outs)`` with every equation that has a decomposition, and that
    ``lowers(eqn)`` (the backend's "I have a kernel for this") rejects, replaced by the
    equations of its decomposition, recursively."""
    if not any(e.prim in decompositions for e in eqns):
        return eqns, outs
    sub = {}

    def read(x):
        return sub.get(x, x) if type(x) is Var else x

    new = []

    def add(e):
        ins = [read(x) for x in e.inputs]
        if e.prim not in decompositions or (lowers is not None and lowers(e)):
            new.append(Eqn(e.prim, ins, e.outputs, e.params) if ins != e.inputs else e)
            return
        fn, params = decompositions[e.prim], e.params

        def flat(*xs):
            out = fn(*xs, **params)
            return list(out) if e.prim.multiple_results else [out]

        graph, consts = trace_to_graph(flat, [x.aval for x in ins], closed=True)
        assert not consts, "a decomposition closes over no traced values"
        inner = dict(zip(graph.in_vars, ins))

        def read_inner(x):
            return inner.get(x, x) if type(x) is Var else x

        for d in graph.eqns:
            d_outs = [Var(v.aval) for v in d.outputs]
            inner.update(zip(d.outputs, d_outs))
            add(Eqn(d.prim, [read_inner(x) for x in d.inputs], d_outs, d.params))
        for v, o in zip(e.outputs, graph.outs):
            sub[v] = read_inner(o)

    for e in eqns:
        add(e)
    return new, [read(x) for x in outs]
