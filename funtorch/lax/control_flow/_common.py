"""Helpers shared by the control-flow primitives: staging bodies to graphs, running
them eagerly, rewiring their inputs, and registering the rule set each primitive has."""

from __future__ import annotations

import numpy as np

from ... import tree as tree_util
from ...core import dtypes
from ...core.array import Array, host_array
from ...core.graph import Graph, eval_graph
from ...core.trace import Tracer, weak_aval
from ...core.tracing import trace_to_graph
from ...transforms import ad, batching
from ...transforms import partial_eval as pe
from ..elementwise import convert_element_type


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
            weak_out[:] = [dtypes.is_weakly_typed(x) for x in leaves]
        if cast_out is not None:   # only weak values are cast: convert the exact value
            leaves = [_cast_weak(x, d) if d is not None and dtypes.is_weakly_typed(x) else x
                      for x, d in zip(leaves, cast_out, strict=True)]
        return [as_array(x, what) for x in leaves]

    graph, consts = trace_to_graph(flat, in_avals)
    return graph, consts, out_tree[0]


def _cast_weak(x, dtype):
    if isinstance(x, Tracer):
        return convert_element_type(x, dtype)
    return np.asarray(x, dtype)


def as_array(x, what):
    if isinstance(x, (Array, Tracer)):
        return x
    if dtypes.is_weak(x) or isinstance(x, (np.ndarray, np.generic)):
        return host_array(x)
    raise TypeError(f"funtorch.{what}: the function returned a {type(x).__name__}, which is not "
                    "an array; return arrays (or pytrees of arrays)")


def stage_inputs(raw_leaves, what):
    """Operand or carry leaves as arrays, with the avals to trace the body at: a Python
    scalar is weakly typed there (as for jit), so ``f32_x * n`` stays float32."""
    return [as_array(x, what) for x in raw_leaves], [weak_aval(x) for x in raw_leaves]


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


def trace_loop_body(trace, raw_leaves, carry_tree, carry_of):
    """Trace a loop body whose carry starts as ``raw_leaves``, reconciling the carry's
    types where one side is weakly typed, then retracing once if needed.

    A carry initialised with a Python scalar takes the dtype the body gives it (JAX's
    ``_promote_weak_typed_inputs``); a weakly typed body output (e.g. fori_loop's index)
    of the carry's kind takes the carry's dtype, so ``lambda i, c: i`` fits an int32
    carry (JAX's index would be int32 already). ``trace(raw,
    weak_out, cast_out)`` returns a tuple ending in ``(graph, consts, out_tree)`` (see
    ``trace_fun``); ``carry_of(out_tree)`` is the carry part of the output structure.
    Returns ``(raw_leaves, trace's result)``."""
    weak = []
    res = trace(raw_leaves, weak, None)
    graph, out_tree = res[-3], res[-1]
    if carry_of(out_tree) != carry_tree:
        return raw_leaves, res
    n = carry_tree.num_leaves
    new, casts = list(raw_leaves), [None] * len(graph.outs)
    for i, (raw, a_out, w) in enumerate(zip(raw_leaves, graph.out_avals[:n], weak[:n],
                                            strict=True)):
        a_in = weak_aval(raw)
        if a_in.shape != a_out.shape or a_in.dtype == a_out.dtype:
            continue
        if dtypes.is_weakly_typed(raw):
            new[i] = as_array(_cast_weak(raw, a_out.dtype), "loop")   # the exact value
        elif w and dtypes.kind(a_in.dtype) == dtypes.kind(a_out.dtype):
            casts[i] = a_in.dtype   # int64 -> int32, never a truncating float -> int
    if all(a is b for a, b in zip(new, raw_leaves)) and not any(c is not None for c in casts):
        return raw_leaves, res
    return new, trace(new, [], casts)


def def_rules(prim, *, impl, abstract_eval, jvp, partial_eval, transpose, batch):
    """Register the full rule set: every control-flow primitive needs all six, since
    its body graph may meet any transformation."""
    prim.def_impl(impl)
    prim.def_abstract_eval(abstract_eval)
    ad.jvp_rules[prim] = jvp
    pe.partial_eval_graph_rules[prim] = partial_eval
    ad.transpose_rules[prim] = transpose
    batching.batching_rules[prim] = batch
