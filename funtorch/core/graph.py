"""The IR: a typed graph of equations over variables (JAX's jaxpr).

Constants are hoisted to explicit inputs, so a ``Graph`` is closed over nothing and
can be hashed by identity, compiled, transformed and printed. ``ClosedGraph`` pairs
a graph with the values of its leading constant inputs.
"""

from __future__ import annotations

import itertools
import weakref

import numpy as np

from .abstract import ShapedArray
from .trace import abstract_eval, bind

_ids = itertools.count()


class Var:
    __slots__ = ("aval", "id")

    def __init__(self, aval: ShapedArray):
        self.aval = aval
        self.id = next(_ids)

    def __repr__(self):
        return f"Var({self.id}:{self.aval.str_short()})"


class Literal:
    """A scalar constant inlined into an equation."""

    __slots__ = ("val", "aval")

    def __init__(self, val):
        # usually a scalar; graphs built inside transformation rules may close over arrays
        self.val = np.asarray(val)
        self.aval = ShapedArray(self.val.shape, self.val.dtype)

    def __repr__(self):
        return f"Literal({self.val})"


class Eqn:
    __slots__ = ("prim", "inputs", "outputs", "params")

    def __init__(self, prim, inputs, outputs, params):
        self.prim = prim
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.params = params

    def __repr__(self):
        return f"Eqn({self.prim}, {self.inputs} -> {self.outputs})"


class Graph:
    __slots__ = ("in_vars", "eqns", "outs", "__weakref__")

    def __init__(self, in_vars, eqns, outs):
        self.in_vars = list(in_vars)
        self.eqns = list(eqns)
        self.outs = list(outs)

    @property
    def in_avals(self):
        return [v.aval for v in self.in_vars]

    @property
    def out_avals(self):
        return [o.aval for o in self.outs]

    def __str__(self):
        return pp_graph(self)

    __repr__ = __str__

    # identity semantics: graphs are params of higher-order primitives
    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other


_derived: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def derived(graph: Graph, kind: str, key, build):
    """``build()``, once per ``graph``, ``kind`` of transformation and ``key`` (its
    pattern): a jitted training step's graph is differentiated and batched once."""
    per_graph = _derived.setdefault(graph, {})
    k = (kind, key)
    if k not in per_graph:
        per_graph[k] = build()
    return per_graph[k]


class ClosedGraph:
    """A graph plus the values of its first ``len(consts)`` inputs."""

    __slots__ = ("graph", "consts", "out_tree")

    def __init__(self, graph: Graph, consts, out_tree=None):
        self.graph = graph
        self.consts = list(consts)
        self.out_tree = out_tree

    @property
    def in_avals(self):
        return self.graph.in_avals[len(self.consts):]

    @property
    def out_avals(self):
        return self.graph.out_avals

    @property
    def eqns(self):
        return self.graph.eqns

    def __call__(self, *args):
        return eval_graph(self.graph, [*self.consts, *args])

    def __str__(self):
        return pp_graph(self.graph, num_consts=len(self.consts))

    __repr__ = __str__


# --------------------------------------------------------------------------- evaluation

def eval_graph(graph: Graph, args):
    """Evaluate by binding each equation: under transformations this re-traces."""
    env = {}
    for v, a in zip(graph.in_vars, args, strict=True):
        env[v] = a

    def read(x):
        return x.val if type(x) is Literal else env[x]

    for eqn in graph.eqns:
        outs = bind(eqn.prim, *[read(x) for x in eqn.inputs], **eqn.params)
        if eqn.prim.multiple_results:
            for v, o in zip(eqn.outputs, outs):
                env[v] = o
        else:
            env[eqn.outputs[0]] = outs
    return [read(x) for x in graph.outs]


# --------------------------------------------------------------------------- type checking

class GraphTypeError(TypeError):
    pass


def typecheck(graph: Graph):
    """Check that every var is defined once before use and every eqn's types agree."""
    env = set()

    def define(v):
        if v in env:
            raise GraphTypeError(f"variable {v} defined twice")
        env.add(v)

    def use(x):
        if type(x) is Literal:
            return x.aval
        if x not in env:
            raise GraphTypeError(f"variable {x} used before definition")
        return x.aval

    for v in graph.in_vars:
        define(v)
    for eqn in graph.eqns:
        in_avals = [use(x) for x in eqn.inputs]
        for p in eqn.params.values():
            for g in _subgraphs(p):
                typecheck(g)
        out_avals = abstract_eval(eqn.prim, in_avals, eqn.params)
        if [ShapedArray(a.shape, a.dtype) for a in out_avals] != [v.aval for v in eqn.outputs]:
            raise GraphTypeError(
                f"{eqn.prim}: shape rule gives {[str(a) for a in out_avals]} but the graph "
                f"records {[str(v.aval) for v in eqn.outputs]}")
        for v in eqn.outputs:
            define(v)
    for x in graph.outs:
        use(x)
    return True


def _subgraphs(p):
    if isinstance(p, Graph):
        yield p
    elif isinstance(p, ClosedGraph):
        yield p.graph
    elif isinstance(p, (tuple, list)):
        for q in p:
            yield from _subgraphs(q)


# --------------------------------------------------------------------------- printing

def _letters():
    for n in itertools.count(1):
        for t in itertools.product("abcdefghijklmnopqrstuvwxyz", repeat=n):
            yield "".join(t)


def pp_graph(graph: Graph, num_consts: int = 0, indent: int = 0) -> str:
    names = {}
    gen = _letters()

    def name(x):
        if type(x) is Literal:
            v = x.val
            return repr(v.item()) if v.ndim == 0 else f"<{x.aval.str_short()} literal>"
        if x not in names:
            names[x] = next(gen)
        return names[x]

    def binder(v):
        return f"{name(v)}:{v.aval.str_short()}"

    consts = " ".join(binder(v) for v in graph.in_vars[:num_consts])
    ins = " ".join(binder(v) for v in graph.in_vars[num_consts:])
    pad = " " * indent
    lines = [f"{{ lambda {consts}; {ins}. let"]
    for eqn in graph.eqns:
        lhs = " ".join(binder(v) for v in eqn.outputs)
        params = _pp_params(eqn.params, indent + 6)
        rhs = " ".join(name(x) for x in eqn.inputs)
        lines.append(f"{pad}    {lhs} = {eqn.prim}{params} {rhs}".rstrip())
    outs = ", ".join(name(x) for x in graph.outs)
    lines.append(f"{pad}  in ({outs}{',' if len(graph.outs) == 1 else ''}) }}")
    return "\n".join(lines)


def _pp_params(params, indent):
    if not params:
        return ""
    items = []
    for k, v in params.items():
        if isinstance(v, (Graph, ClosedGraph)):
            g = v.graph if isinstance(v, ClosedGraph) else v
            nc = len(v.consts) if isinstance(v, ClosedGraph) else 0
            items.append(f"{k}=" + pp_graph(g, nc, indent))
        elif isinstance(v, tuple) and v and all(isinstance(q, (Graph, ClosedGraph)) for q in v):
            items.append(f"{k}=(" + ", ".join(
                pp_graph(q.graph if isinstance(q, ClosedGraph) else q, 0, indent)
                for q in v) + ")")
        elif callable(v) and not isinstance(v, (np.dtype, type)):
            items.append(f"{k}={getattr(v, '__name__', type(v).__name__)}")
        else:
            items.append(f"{k}={v}")
    return "[" + " ".join(items) + "]"
