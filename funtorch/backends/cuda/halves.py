"""float16/bfloat16 graphs compute in float32 on the GPU, rounded where numpy rounds.

The kernels (GEMM, convolution, the fused-loop generator's arithmetic) are float32 code.
Rather than a half-precision variant of each, ``widen`` rewrites a graph so every
computing equation on half values runs on their float32 widening and its result is
rounded back through the half type (a ``convert_element_type`` pair, fused into the
surrounding loop), which is how numpy's float16 loops compute too. Half-typed values
remain only at the graph's edges (inputs, outputs) and around what cannot be widened
(``bitcast_convert_type``, control flow, whose bodies are widened when compiled), so the
only kernels that touch half storage are fused loops converting at load and store.
"""

from __future__ import annotations

import numpy as np

from ...core.dtypes import HALVES
from ...core.graph import Eqn, Graph, Literal, Var
from ...core.trace import abstract_eval, primitives
from ..common import scalar
from ..common.fusion import flatten

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
# fused loops also load and store the half types (only ``convert_element_type`` after
# ``widen``); a bfloat16 array reaches a kernel as its uint16 bits
LOOP_DTYPES = scalar.LOOP_DTYPES | HALVES

# results that are exact in the half type (moved, selected or compared values): no rounding
EXACT = frozenset([
    "reshape", "transpose", "squeeze", "broadcast_in_dim", "rev", "slice", "pad",
    "concatenate", "gather", "select_n", "max", "min", "neg", "abs", "sign", "floor",
    "ceil", "round", "reduce_max", "reduce_min", "sort", "stop_gradient"])
# computing primitives that widen (with every elementwise primitive and reduction); the rest
# keep their half operands
WIDEN = EXACT | frozenset([
    "dot_general", "conv_general_dilated", "conv_input_grad", "conv_weight_grad",
    "reduce_window_sum", "reduce_window_max",
    "cumsum", "scatter", "select_and_scatter_add", "select_and_gather_add", "iota"])


def has_halves(graph: Graph) -> bool:
    def half(x):
        return x.aval.dtype in HALVES
    return any(half(v) for v in graph.in_vars) or any(
        half(x) for e in graph.eqns for x in (*e.inputs, *e.outputs)) or any(
        half(x) for x in graph.outs)


def widen(graph: Graph) -> Graph:
    """``graph`` with its half-precision arithmetic moved to float32 (itself if none)."""
    if not has_halves(graph):
        return graph
    eqns, outs = flatten(graph)
    wide, narrow, new = {}, {}, []   # var -> its float32 / half-typed version
    narrow.update((v, v) for v in graph.in_vars if v.aval.dtype in HALVES)

    convert_element_type_p = primitives["convert_element_type"]   # registered by lax

    def convert(x, dtype):
        v = Var(abstract_eval(convert_element_type_p, [x.aval],
                              dict(new_dtype=dtype))[0])
        new.append(Eqn(convert_element_type_p, [x], [v],
                       dict(new_dtype=dtype)))
        return v

    def as_f32(x):
        if type(x) is Literal:
            return Literal(x.val.astype(F32)) if x.aval.dtype in HALVES else x
        if x.aval.dtype not in HALVES:
            return x
        if x not in wide:
            wide[x] = convert(narrow.get(x, x), F32)
        return wide[x]

    def as_half(x):
        if type(x) is Literal or x.aval.dtype not in HALVES:
            return x
        if x not in narrow:
            narrow[x] = x if x not in wide else convert(wide[x], x.aval.dtype)
        return narrow[x]

    for e in eqns:
        name = e.prim.name
        touches = any(x.aval.dtype in HALVES for x in (*e.inputs, *e.outputs))
        if not touches:
            new.append(Eqn(e.prim, [as_f32(x) for x in e.inputs], e.outputs, e.params))
            continue
        if name == "convert_element_type":
            _widen_convert(e, as_f32, as_half, convert, wide, narrow)
            continue
        params = {k: (F32 if isinstance(v, np.dtype) and v in HALVES else v)
                  for k, v in e.params.items()}
        ins = [as_f32(x) for x in e.inputs]
        avals = None
        if name in WIDEN or e.prim.kind in ("elementwise", "reduction"):
            try:
                avals = abstract_eval(e.prim, [x.aval for x in ins], params)
            except (TypeError, ValueError):
                avals = None
        if avals is None or any(a.dtype in HALVES for a in avals):
            # kept half-typed: its operands in their declared types
            new.append(Eqn(e.prim, [as_half(x) for x in e.inputs], e.outputs, e.params))
            for v in e.outputs:
                narrow[v] = v
            continue
        outs_new = [Var(a) for a in avals]
        new.append(Eqn(e.prim, ins, outs_new, params))
        for v, w in zip(e.outputs, outs_new):
            if v.aval.dtype not in HALVES:
                wide[v] = w
            elif name in EXACT:
                wide[v] = w
            else:   # round through the half type, as numpy's half loops do
                narrow[v] = convert(w, v.aval.dtype)
                wide[v] = convert(narrow[v], F32)
    # a plain var maps to itself: ``wide`` only holds half vars and non-half outputs
    for e in new:
        e.inputs = [wide.get(x, x) if type(x) is Var and x.aval.dtype not in HALVES
                    else x for x in e.inputs]
    final = []
    for x in outs:
        if type(x) is Var and x.aval.dtype in HALVES:
            final.append(as_half(x))
        elif type(x) is Var:
            final.append(wide.get(x, x))
        else:
            final.append(x)
    return Graph(graph.in_vars, new, final)


def _widen_convert(e, as_f32, as_half, convert, wide, narrow):
    """Conversions into a half type round (from float32, or float64 for float16: the
    kernels convert only between those and the half types); out of one, they start from
    the exact float32 value."""
    (x,), (v,) = e.inputs, e.outputs
    src, dst = x.aval.dtype, np.dtype(e.params["new_dtype"])
    if dst in HALVES and src == dst:
        narrow[v], wide[v] = as_half(x), as_f32(x)
    elif dst == F16 and src == F64:
        # in one step (the kernels convert float64 -> float16 directly): through float32
        # it would round twice, 1 + 2**-11 + 2**-40 -> 1.0 instead of numpy's 1.0009765625
        # (float64 -> bfloat16 does go through float32, as ml_dtypes' cast does)
        narrow[v] = convert(x, dst)
        wide[v] = convert(narrow[v], F32)
    elif dst in HALVES:
        xf = as_f32(x)
        if xf.aval.dtype != F32:
            xf = convert(xf, F32)
        narrow[v] = convert(xf, dst)
        wide[v] = convert(narrow[v], F32)
    else:
        xf = as_f32(x)
        wide[v] = xf if dst == F32 else convert(xf, dst)
