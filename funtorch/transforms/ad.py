"""Automatic differentiation: forward mode (JVP), transposition, and both on graphs.

Reverse mode is derived, as in JAX: ``linearize`` stages the JVP into a graph and
splits it by partial evaluation into a known (primal) part and a linear (tangent)
part; ``vjp`` transposes the linear part. Only linear primitives need transpose
rules. Tangents and cotangents may be the symbolic ``Zero``, which saves the work
of differentiating through values that do not depend on the inputs.
"""

from __future__ import annotations

import numpy as np

from ..core import dtypes
from ..core.graph import Graph, Literal, Var, derived, eval_graph
from ..core.trace import Trace, Tracer, bind, concrete_or_error, get_aval, new_main, weak_aval
from ..core.tracing import trace_to_graph

# rule tables, filled in next to each primitive's definition
jvp_rules: dict = {}
transpose_rules: dict = {}


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


# Tangent arithmetic is lax's, which sits above this module and registers it on import
# (lax/__init__.py; JAX's ``ad_util.add_jaxvals`` and ``aval_zeros_likers``):
# ``add(a, b)`` of two tangents of one type, ``full(shape, value, dtype)``.
tangent_ops: dict = {}


def zeros_like_aval(aval):
    if aval.dtype == dtypes.float0:
        return np.zeros(aval.shape, dtypes.float0)
    return tangent_ops["full"](aval.shape, 0, aval.dtype)


def instantiate(t):
    return zeros_like_aval(t.aval) if type(t) is Zero else t


def add_tangents(a, b):
    if type(a) is Zero:
        return b
    if type(b) is Zero:
        return a
    return tangent_ops["add"](a, b)


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


# --- the JVP of a graph (jit's, control flow's rules)

def jvp_graph(graph: Graph, nonzeros, instantiate_outs=None):
    """Graph of (primals, nonzero tangents) -> (outs, nonzero tangent outs).

    Output tangents flagged in ``instantiate_outs`` are materialised even when zero, so
    callers (cond branches, scan carries) can force a common pattern."""
    inst = (tuple(instantiate_outs) if instantiate_outs is not None
            else (False,) * len(graph.outs))

    def build():
        out_nz = []

        def fun(*args):
            n = len(graph.in_vars)
            primals, ts = args[:n], iter(args[n:])
            tangents = [next(ts) if nz else Zero(v.aval.tangent_aval())
                        for v, nz in zip(graph.in_vars, nonzeros)]
            outs, touts = jvp_flat(lambda *xs: eval_graph(graph, xs), primals, tangents)
            touts = [instantiate(t) if i and dtypes.is_float(t.aval.dtype) else t
                     for t, i in zip(touts, inst)]
            out_nz.extend(type(t) is not Zero for t in touts)
            return [*outs, *[t for t in touts if type(t) is not Zero]]

        avals = [v.aval for v in graph.in_vars] + [
            v.aval for v, nz in zip(graph.in_vars, nonzeros) if nz]
        g, consts = trace_to_graph(fun, avals, closed=True)
        return g, consts, out_nz

    return derived(graph, "jvp", (tuple(nonzeros), inst), build)


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


def transpose_graph(graph: Graph, linear, ct_nonzero):
    """Graph of (non-linear inputs, nonzero cotangents) -> cotangents of linear inputs."""

    def build():
        def fun(*args):
            n_res = sum(not lin for lin in linear)
            res, cts_in = iter(args[:n_res]), iter(args[n_res:])
            invals = [None if lin else next(res) for lin in linear]
            cts = [next(cts_in) if nz else Zero(o.aval.tangent_aval())
                   for o, nz in zip(graph.outs, ct_nonzero)]
            out = backward_pass(graph, linear, invals, cts)
            return [instantiate(c) for c, lin in zip(out, linear) if lin]

        avals = [v.aval for v, lin in zip(graph.in_vars, linear) if not lin] + [
            o.aval for o, nz in zip(graph.outs, ct_nonzero) if nz]
        return trace_to_graph(fun, avals, closed=True)

    return derived(graph, "transpose", (tuple(linear), tuple(ct_nonzero)), build)


__all__ = ["Zero", "jvp_flat", "jvp_graph", "backward_pass", "transpose_graph", "defjvp",
           "deflinear", "defjvp_zero", "UndefinedPrimal", "is_undefined", "instantiate",
           "add_tangents"]
