"""Helpers shared by the control-flow primitives: staging bodies to graphs, running
them eagerly, rewiring their inputs, and registering the rule set each primitive has."""

from __future__ import annotations

import numpy as np

from ... import tree as tree_util
from ...core import dtypes
from ...core.array import Array
from ...core.graph import Graph, eval_graph
from ...core.trace import Tracer, get_aval
from ...core.tracing import trace_to_graph
from ...transforms import ad, batching


def trace_fun(fun, in_tree, in_avals, what, weak_out=None, cast_out=None):
    """Stage ``fun`` (taking the pytree ``in_tree`` of ``in_avals``) into a graph.

    ``weak_out`` (a list) receives, per output leaf, whether it was a Python scalar;
    ``cast_out`` (per output leaf, a dtype or None) converts outputs after the fact."""
    out_tree = []

    def flat(*xs):
        out = fun(*tree_util.unflatten(in_tree, xs))
        leaves, ot = tree_util.flatten(out)
        out_tree.append(ot)
        if weak_out is not None:
            weak_out[:] = [_is_weak(x) for x in leaves]
        if cast_out is not None:   # only weak values are cast: convert the exact value
            leaves = [_cast_weak(x, d) if d is not None and _is_weak(x) else x
                      for x, d in zip(leaves, cast_out, strict=True)]
        return [as_array(x, what) for x in leaves]

    graph, consts = trace_to_graph(flat, in_avals)
    return graph, consts, out_tree[0]


def _is_weak(x):
    """A Python scalar, or a weakly typed traced value (a Python scalar given to jit)."""
    return dtypes.is_weak(x) or (isinstance(x, Tracer) and x.aval.weak_type)


def _cast_weak(x, dtype):
    if isinstance(x, Tracer):
        from ... import lax
        return lax.convert_element_type(x, dtype)
    return np.asarray(x, dtype)


def as_array(x, what):
    if isinstance(x, (Array, Tracer)):
        return x
    if dtypes.is_weak(x) or isinstance(x, (np.ndarray, np.generic)):
        from ...numpy import asarray
        return asarray(x)
    raise TypeError(f"funtorch.{what}: the function returned a {type(x).__name__}, which is not "
                    "an array; return arrays (or pytrees of arrays)")


def run_graph(graph, args):
    """Evaluate a sub-graph from an eager impl (numpy in, numpy out)."""
    outs = eval_graph(graph, [Array(a) if isinstance(a, np.ndarray) else a for a in args])
    return [o._value if type(o) is Array else np.asarray(o) for o in outs]


def with_inputs(graph, new_in_vars):
    return Graph(new_in_vars, graph.eqns, graph.outs)


def fmt_types(avals):
    return "(" + ", ".join(a.str_short() for a in avals) + ")"


def permute_graph(graph, in_perm=None, out_perm=None):
    ins = graph.in_vars if in_perm is None else [graph.in_vars[i] for i in in_perm]
    outs = graph.outs if out_perm is None else [graph.outs[i] for i in out_perm]
    return Graph(ins, graph.eqns, outs)


def promote_weak_init(raw_leaves, leaves, out_avals):
    """JAX's ``_promote_weak_typed_inputs``: a loop carry initialised with a Python
    scalar takes the dtype the body gives it. Returns the new leaves, or None."""
    new, changed = list(leaves), False
    for i, (raw, a_out) in enumerate(zip(raw_leaves, out_avals, strict=True)):
        a_in = get_aval(leaves[i])
        if _is_weak(raw) and a_in.shape == a_out.shape and a_in.dtype != a_out.dtype:
            new[i] = as_array(_cast_weak(raw, a_out.dtype), "loop")   # the exact value
            changed = True
    return new if changed else None


def def_rules(prim, *, impl, abstract_eval, jvp, partial_eval, transpose, batch):
    """Register the full rule set: every control-flow primitive needs all six, since
    its body graph may meet any transformation."""
    prim.def_impl(impl)
    prim.def_abstract_eval(abstract_eval)
    ad.jvp_rules[prim] = jvp
    ad.partial_eval_graph_rules[prim] = partial_eval
    ad.transpose_rules[prim] = transpose
    batching.batching_rules[prim] = batch
