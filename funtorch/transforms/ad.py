"""Automatic differentiation: forward mode (JVP), partial evaluation, transposition.

Reverse mode is derived, as in JAX: ``linearize`` stages the JVP into a graph and
splits it by partial evaluation into a known (primal) part and a linear (tangent)
part; ``vjp`` transposes the linear part. Only linear primitives need transpose
rules. Tangents and cotangents may be the symbolic ``Zero``, which saves the work
of differentiating through values that do not depend on the inputs.
"""

from __future__ import annotations

import numpy as np

from ..core import dtypes
from ..core.graph import Graph, Literal, Var
from ..core.trace import Trace, Tracer, bind, concrete_or_error, get_aval, new_main, weak_aval

# rule tables, filled in next to each primitive's definition
jvp_rules: dict = {}
transpose_rules: dict = {}
partial_eval_graph_rules: dict = {}   # prim -> rule(unknowns_in, eqn) -> (known, unknown, uks, res)


# --------------------------------------------------------------------------- symbolic zeros

class Zero:
    """A tangent/cotangent known to be zero; never materialised unless needed."""

    __slots__ = ("aval",)

    def __init__(self, aval):
        self.aval = aval

    def __repr__(self):
        return f"Zero({self.aval.str_short()})"

    @staticmethod
    def from_value(x):
        return Zero(get_aval(x).tangent_aval())


def _lax():
    from .. import lax
    return lax


def zeros_like_aval(aval):
    if aval.dtype == dtypes.float0:
        return np.zeros(aval.shape, dtypes.float0)
    return _lax().full(aval.shape, 0, aval.dtype)


def instantiate(t):
    return zeros_like_aval(t.aval) if type(t) is Zero else t


def add_tangents(a, b):
    if type(a) is Zero:
        return b
    if type(b) is Zero:
        return a
    return _lax().add(a, b)


# --------------------------------------------------------------------------- JVP interpreter

class JVPTracer(Tracer):
    __slots__ = ("primal", "tangent")

    def __init__(self, trace, primal, tangent):
        self._trace = trace
        self.primal = primal
        self.tangent = tangent
        self._origin = getattr(primal, "_origin", None)

    @property
    def aval(self):
        return weak_aval(self.primal)   # a Python scalar primal (vjp/jvp) is weak

    def to_concrete(self, why):
        return concrete_or_error(self.primal, why)


class JVPTrace(Trace):
    __slots__ = ()

    def pure(self, val):
        return JVPTracer(self, val, Zero.from_value(val))

    lift = pure

    def process_primitive(self, prim, tracers, params):
        primals = [t.primal for t in tracers]
        tangents = [t.tangent for t in tracers]
        if all(type(t) is Zero for t in tangents):
            out = bind(prim, *primals, **params)
            outs = out if prim.multiple_results else [out]
            return [JVPTracer(self, o, Zero.from_value(o)) for o in outs]
        try:
            rule = jvp_rules[prim]
        except KeyError:
            raise NotImplementedError(
                f"funtorch: differentiation rule for '{prim}' not implemented") from None
        primal_out, tangent_out = rule(primals, tangents, **params)
        if not prim.multiple_results:
            primal_out, tangent_out = [primal_out], [tangent_out]
        return [JVPTracer(self, p, t) for p, t in zip(primal_out, tangent_out)]


def jvp_flat(f, primals, tangents):
    """``f`` flat: list -> list. Tangents may be ``Zero``; outputs' tangents may be too."""
    with new_main(JVPTrace) as main:
        trace = JVPTrace(main)
        tracers_in = [JVPTracer(trace, p, t) for p, t in zip(primals, tangents)]
        outs = f(*tracers_in)
        pairs = []
        for o in outs:
            t = _full_raise_jvp(trace, o)
            pairs.append((t.primal, t.tangent))
    return [p for p, _ in pairs], [t for _, t in pairs]


def _full_raise_jvp(trace, x):
    if isinstance(x, JVPTracer) and x._trace.main is trace.main:
        return x
    return trace.pure(x)


# --- helpers for writing JVP rules next to primitives

def defjvp(prim, *jvp_fns):
    """Per-argument JVP: ``jvp_fns[i](t_i, ans, *primals, **params)``; ``None`` means
    the output does not depend differentiably on argument ``i``."""

    def rule(primals, tangents, **params):
        ans = bind(prim, *primals, **params)
        out = Zero.from_value(ans) if not prim.multiple_results else None
        for fn, t in zip(jvp_fns, tangents):
            if fn is None or type(t) is Zero:
                continue
            out = add_tangents(out, fn(t, ans, *primals, **params))
        return ans, out

    jvp_rules[prim] = rule


def defjvp_zero(prim):
    """Outputs are piecewise constant (comparisons, integer results)."""

    def rule(primals, tangents, **params):
        ans = bind(prim, *primals, **params)
        if prim.multiple_results:
            return ans, [Zero.from_value(a) for a in ans]
        return ans, Zero.from_value(ans)

    jvp_rules[prim] = rule


def defbilinear(prim, transpose_rule):
    """A primitive linear in each of its two array arguments (dot_general, conv): the
    tangent is ``f(t_lhs, rhs) + f(lhs, t_rhs)``, so only the transpose is its own."""
    defjvp(prim,
           lambda t, ans, lhs, rhs, **params: bind(prim, t, rhs, **params),
           lambda t, ans, lhs, rhs, **params: bind(prim, lhs, t, **params))
    transpose_rules[prim] = transpose_rule


def deflinear(prim, transpose_rule):
    """A primitive linear in all its array arguments."""

    def jvp(primals, tangents, **params):
        ans = bind(prim, *primals, **params)
        if all(type(t) is Zero for t in tangents):
            return ans, Zero.from_value(ans)
        t_out = bind(prim, *[instantiate(t) for t in tangents], **params)
        return ans, t_out

    jvp_rules[prim] = jvp
    transpose_rules[prim] = transpose_rule


# --------------------------------------------------------------------------- partial evaluation

def partial_eval_graph(graph: Graph, unknowns, instantiate=False):
    """Split ``graph`` into a known part and an unknown part.

    Returns ``(known, unknown, out_unknowns, num_res)``: ``known`` maps the known
    inputs to the known outputs followed by ``num_res`` residuals; ``unknown`` maps
    the residuals followed by the unknown inputs to the unknown outputs.
    """
    if isinstance(instantiate, bool):
        instantiate = [instantiate] * len(graph.outs)
    uk = {}
    for v, u in zip(graph.in_vars, unknowns, strict=True):
        uk[v] = u
    known_eqns, unknown_eqns = [], []
    residuals: dict = {}

    def is_uk(x):
        return type(x) is Var and uk[x]

    for eqn in graph.eqns:
        uks_in = [is_uk(x) for x in eqn.inputs]
        rule = partial_eval_graph_rules.get(eqn.prim)
        if rule is not None and any(uks_in):
            eqn_k, eqn_u, uks_out, res = rule(uks_in, eqn)
            if eqn_k is not None:
                known_eqns.append(eqn_k)
            if eqn_u is not None:
                unknown_eqns.append(eqn_u)
            for r in res:
                residuals[r] = None
            for v, u in zip(eqn.outputs, uks_out):
                uk[v] = u
        elif any(uks_in):
            for x, u in zip(eqn.inputs, uks_in):
                if type(x) is Var and not u:
                    residuals[x] = None
            unknown_eqns.append(eqn)
            for v in eqn.outputs:
                uk[v] = True
        else:
            known_eqns.append(eqn)
            for v in eqn.outputs:
                uk[v] = False
    out_uks = []
    for x, inst in zip(graph.outs, instantiate):
        u = is_uk(x)
        if inst and not u:
            if type(x) is Var:
                residuals[x] = None
            u = True
        out_uks.append(u)
    res = list(residuals)
    known_ins = [v for v, u in zip(graph.in_vars, unknowns) if not u]
    unknown_ins = [v for v, u in zip(graph.in_vars, unknowns) if u]
    known_outs = [x for x, u in zip(graph.outs, out_uks) if not u]
    unknown_outs = [x for x, u in zip(graph.outs, out_uks) if u]
    known = Graph(known_ins, known_eqns, known_outs + res)
    unknown = Graph(res + unknown_ins, unknown_eqns, unknown_outs)
    return dce(known), dce(unknown), out_uks, len(res)


# --------------------------------------------------------------------------- dead code

dce_rules: dict = {}   # prim -> rule(used_outputs, eqn) -> (used_inputs, new_eqn | None)


def dce(graph: Graph, used_outputs=None):
    """Drop equations whose outputs are unused (inputs are kept: the signature is fixed)."""
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


# --------------------------------------------------------------------------- transposition

class UndefinedPrimal:
    """A linear input of an equation being transposed."""

    __slots__ = ("aval",)

    def __init__(self, aval):
        self.aval = aval

    def __repr__(self):
        return f"UndefinedPrimal({self.aval.str_short()})"


def is_undefined(x):
    return type(x) is UndefinedPrimal


def backward_pass(graph: Graph, linear, args, cts_out):
    """Transpose ``graph`` (linear in inputs flagged by ``linear``).

    ``args`` holds values for the non-linear inputs (anything for linear ones);
    returns cotangents for the linear inputs (possibly ``Zero``).
    """
    primal_env = {}
    ct_env = {}
    for v, lin, a in zip(graph.in_vars, linear, args, strict=True):
        if not lin:
            primal_env[v] = a

    def read_primal(x):
        if type(x) is Literal:
            return x.val
        return primal_env.get(x, None) if x in primal_env else UndefinedPrimal(x.aval)

    def write_ct(v, ct):
        if type(v) is not Var or type(ct) is Zero or ct is None:
            return
        ct_env[v] = add_tangents(ct_env[v], ct) if v in ct_env else ct

    def read_ct(v):
        ct = ct_env.pop(v, None)
        return Zero(v.aval.tangent_aval()) if ct is None else ct

    for o, ct in zip(graph.outs, cts_out):
        write_ct(o, ct)

    # forward-evaluate equations that do not touch linear inputs (non-linear residual math)
    lin_vars = {v for v, lin in zip(graph.in_vars, linear) if lin}
    linear_eqns = []
    for eqn in graph.eqns:
        if any(type(x) is Var and x in lin_vars for x in eqn.inputs):
            linear_eqns.append(eqn)
            lin_vars.update(eqn.outputs)
        else:
            outs = bind(eqn.prim, *[read_primal(x) for x in eqn.inputs], **eqn.params)
            outs = outs if eqn.prim.multiple_results else [outs]
            for v, o in zip(eqn.outputs, outs):
                primal_env[v] = o

    for eqn in reversed(linear_eqns):
        cts = [read_ct(v) for v in eqn.outputs]
        if all(type(c) is Zero for c in cts):
            continue
        invals = [read_primal(x) for x in eqn.inputs]
        try:
            rule = transpose_rules[eqn.prim]
        except KeyError:
            raise NotImplementedError(
                f"funtorch: reverse-mode differentiation of '{eqn.prim}' is not supported "
                "(it has no transpose rule)") from None
        cts_in = rule(cts if eqn.prim.multiple_results else cts[0], *invals, **eqn.params)
        for x, ct in zip(eqn.inputs, cts_in):
            if type(x) is Var and x in lin_vars:
                write_ct(x, ct)
    return [read_ct(v) if lin else None for v, lin in zip(graph.in_vars, linear)]


__all__ = ["Zero", "jvp_flat", "backward_pass",
           "partial_eval_graph", "dce", "defjvp", "deflinear", "defjvp_zero",
           "UndefinedPrimal", "is_undefined", "instantiate", "add_tangents"]
