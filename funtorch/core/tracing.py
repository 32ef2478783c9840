"""Staging Python functions into graphs (JAX's DynamicJaxprTrace, omnistaging).

The graph trace is installed as the *dynamic* trace, so every primitive bound while
tracing is recorded, even on values that do not depend on the inputs. Values from
outer interpreters, and arrays, become constant inputs of the graph.
"""

from __future__ import annotations

import numpy as np

from .. import tree as tree_util
from .abstract import ShapedArray
from .array import Array
from .devices import CPU
from .graph import ClosedGraph, Eqn, Graph, Literal, Var
from .trace import Trace, Tracer, abstract_eval, get_aval, new_dynamic, new_main, weak_aval
from .weak import WeakTypes


class GraphTracer(Tracer):
    __slots__ = ("_aval",)

    def __init__(self, trace, aval, origin=None):
        self._trace = trace
        self._aval = aval
        self._origin = origin

    @property
    def aval(self):
        return self._aval


class GraphBuilder:
    def __init__(self):
        self.eqns = []
        self.tracer_to_var = {}
        self.const_tracers = {}   # id(value) -> tracer
        self.const_vals = {}      # var -> value
        self.tracers = []         # keep alive so ids stay unique
        self.weak = WeakTypes()   # weak typing: which tracers are neutral constants

    def new_tracer(self, trace, aval, origin=None):
        t = GraphTracer(trace, aval, origin)
        self.tracers.append(t)
        return t

    def add_var(self, tracer):
        v = Var(tracer.aval)
        self.tracer_to_var[id(tracer)] = v
        return v

    def getvar(self, tracer):
        return self.tracer_to_var[id(tracer)]

    def add_const(self, tracer, val):
        v = self.add_var(tracer)
        self.const_tracers[id(val)] = tracer
        self.const_vals[v] = val
        return v

    def build(self, in_tracers, out_tracers, inline_all=False):
        const_vars = list(self.const_vals)
        const_vals = [self.const_vals[v] for v in const_vars]
        in_vars = [self.getvar(t) for t in in_tracers]
        outs = [self.getvar(t) for t in out_tracers]
        graph = Graph(const_vars + in_vars, self.eqns, outs)
        return _inline_literals(graph, const_vals, inline_all)


def _inline_literals(graph, consts, inline_all=False):
    """Scalar constants (every concrete constant, with ``inline_all``) become literals.

    Top-level jit graphs keep array constants as inputs (the compiled code receives them
    as buffers); graphs derived inside transformation rules are closed instead, so a
    rule never has to thread constants through a higher-order primitive.
    """
    nc = len(consts)
    out_set = set(graph.outs)
    keep_vars, keep_vals, lits = [], [], {}
    for v, c in zip(graph.in_vars[:nc], consts):
        val = c._value if (type(c) is Array and c._device is CPU) else c
        concrete = not isinstance(val, (Tracer, Array))
        if concrete and (inline_all or (np.ndim(val) == 0 and v not in out_set)):
            lits[v] = Literal(np.asarray(val, v.aval.dtype))
        else:
            keep_vars.append(v)
            keep_vals.append(c)
    if not lits:
        return graph, consts
    eqns = [Eqn(e.prim, [lits.get(x, x) if type(x) is Var else x for x in e.inputs],
                e.outputs, e.params) for e in graph.eqns]
    outs = [lits.get(x, x) if type(x) is Var else x for x in graph.outs]
    return Graph(keep_vars + graph.in_vars[nc:], eqns, outs), keep_vals


class GraphTrace(Trace):
    __slots__ = ()

    @property
    def builder(self) -> GraphBuilder:
        return self.main.global_data

    def new_arg(self, aval, origin=None):
        t = self.builder.new_tracer(self, aval, origin)
        self.builder.add_var(t)
        return t

    def get_or_make_const_tracer(self, val):
        t = self.builder.const_tracers.get(id(val))
        if t is None:
            weak = isinstance(val, Tracer) and val.aval.weak_type
            t = self.builder.new_tracer(self, ShapedArray(*_shape_dtype(val), weak),
                                        "a constant")
            self.builder.add_const(t, val)
            self.builder.weak.add_const(t, val)
        return t

    pure = lift = get_or_make_const_tracer

    def process_primitive(self, prim, tracers, params):
        avals_in = [t.aval for t in tracers]
        avals_out = abstract_eval(prim, avals_in, params)
        origin = _joint_origin(tracers)
        avals_out, neutral = self.builder.weak.out_avals(prim, tracers, avals_out)
        out_tracers = [self.builder.new_tracer(self, a, origin) for a in avals_out]
        if neutral:
            self.builder.weak.add_neutral(out_tracers)
        inputs = [self.builder.getvar(t) for t in tracers]
        outvars = [self.builder.add_var(t) for t in out_tracers]
        self.builder.eqns.append(Eqn(prim, inputs, outvars, params))
        return out_tracers


def _joint_origin(tracers):
    """Which arguments a computed value depends on, for error messages (as JAX says
    "depends on the value of the argument x")."""
    seen = []
    for t in tracers:
        o = t._origin
        if o and o != "a constant":
            for part in o.split(" and "):
                if part not in seen:
                    seen.append(part)
    if not seen:
        return None
    if len(seen) > 3:
        seen = seen[:3] + ["others"]
    return " and ".join(seen)


def _shape_dtype(val):
    a = get_aval(val)
    return a.shape, a.dtype


def trace_to_graph(f, in_avals, origins=None, closed=False):
    """Trace flat ``f(*tracers) -> list`` into a graph; returns (graph, consts).

    With ``closed``, concrete constants are inlined as literals, so ``consts`` holds only
    values of outer transformations (tracers)."""
    builder = GraphBuilder()
    with new_main(GraphTrace, builder) as main:
        with new_dynamic(main):
            trace = GraphTrace(main)
            origins = origins or [None] * len(in_avals)
            tracers_in = [trace.new_arg(a, o) for a, o in zip(in_avals, origins)]
            outs = f(*tracers_in)
            tracers_out = [trace.get_or_make_const_tracer(o) if not (
                isinstance(o, Tracer) and o._trace.main is main) else o for o in outs]
            graph, consts = builder.build(tracers_in, tracers_out, closed)
    return graph, consts


def make_graph(f, *, static_argnums=()):
    """``ft.make_graph(f)(*args)``: the IR of ``f`` at these arguments, printable."""
    static_argnums = (static_argnums,) if isinstance(static_argnums, int) else tuple(
        static_argnums)

    def wrapped(*args, **kwargs):
        dyn = [a for i, a in enumerate(args) if i not in static_argnums]
        flat, treedef = tree_util.flatten((dyn, kwargs))
        avals = [weak_aval(x) for x in flat]
        out_tree = []

        def flat_fun(*xs):
            d, kw = tree_util.unflatten(treedef, xs)
            it = iter(d)
            full = [a if i in static_argnums else next(it) for i, a in enumerate(args)]
            out = f(*full, **kw)
            leaves, ot = tree_util.flatten(out)
            out_tree.append(ot)
            return leaves

        graph, consts = trace_to_graph(flat_fun, avals)
        return ClosedGraph(graph, consts, out_tree[0])

    return wrapped
