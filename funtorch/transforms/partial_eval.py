"""Partial evaluation on tracers (Autodidax part 4) and on graphs (``partial_eval_graph``,
with dead-code elimination from ``core/passes.py``): known values are computed now,
unknown ones are staged into a graph. ``linearize`` runs the JVP under this trace
with primals known and tangents unknown, so Python control flow on primal values
still works inside ``grad`` (as in JAX), and the tangent part becomes a linear graph.
"""

from __future__ import annotations

from ..core.abstract import ShapedArray
from ..core.errors import ConcretizationTypeError
from ..core.graph import Eqn, Graph, Var
from ..core.passes import dce
from ..core.trace import (
    Trace,
    Tracer,
    abstract_eval,
    bind,
    concrete_or_error,
    full_lower,
    get_aval,
    new_main,
    weak_aval,
)

# prim -> rule(trace, tracers, **params) -> out tracers (overrides the generic behaviour)
partial_eval_rules: dict = {}
# higher-order primitives (jit, cond, scan) only:
# prim -> rule(unknowns_in, eqn) -> (known eqn, unknown eqn, out unknowns, residuals)
partial_eval_graph_rules: dict = {}


class PartialVal:
    __slots__ = ("aval", "const")

    def __init__(self, aval, const):
        self.aval = aval
        self.const = const

    @classmethod
    def known(cls, val):
        return cls(weak_aval(val), val)   # a Python scalar stays weakly typed

    @classmethod
    def unknown(cls, aval):
        return cls(aval, None)

    @property
    def is_known(self):
        return self.const is not None


class LambdaBindingRecipe:
    __slots__ = ()


class ConstRecipe:
    __slots__ = ("val",)

    def __init__(self, val):
        self.val = val


class EqnRecipe:
    __slots__ = ("prim", "tracers_in", "params", "tracers_out")

    def __init__(self, prim, tracers_in, params):
        self.prim = prim
        self.tracers_in = tracers_in
        self.params = params
        self.tracers_out = []


class PETracer(Tracer):
    __slots__ = ("pval", "recipe")

    def __init__(self, trace, pval, recipe):
        self._trace = trace
        self.pval = pval
        self.recipe = recipe
        self._origin = None

    @property
    def aval(self):
        return self.pval.aval

    def full_lower(self):
        if self.pval.is_known:
            return full_lower(self.pval.const)
        return self

    def to_concrete(self, why):
        if self.pval.is_known:
            return concrete_or_error(self.pval.const, why)
        raise ConcretizationTypeError(self, why)


class PartialEvalTrace(Trace):
    __slots__ = ()

    def new_arg(self, pval):
        return PETracer(self, pval, None if pval.is_known else LambdaBindingRecipe())

    def pure(self, val):
        return PETracer(self, PartialVal.known(val), None)

    lift = pure

    def instantiate_const(self, tracer):
        if tracer.pval.is_known:
            return PETracer(self, PartialVal.unknown(get_aval(tracer.pval.const)),
                            ConstRecipe(tracer.pval.const))
        return tracer

    def process_primitive(self, prim, tracers, params):
        if all(t.pval.is_known for t in tracers):
            out = bind(prim, *[t.pval.const for t in tracers], **params)
            outs = out if prim.multiple_results else [out]
            return [self.pure(o) for o in outs]
        rule = partial_eval_rules.get(prim)
        if rule is not None:
            return rule(self, tracers, **params)
        if prim in partial_eval_graph_rules:
            return _via_graph_rule(self, prim, tracers, params)
        return self.default_process(prim, tracers, params)

    def default_process(self, prim, tracers, params):
        tracers_in = [self.instantiate_const(t) for t in tracers]
        avals_out = abstract_eval(prim, [t.aval for t in tracers_in], params)
        recipe = EqnRecipe(prim, tracers_in, params)
        outs = [PETracer(self, PartialVal.unknown(a), recipe) for a in avals_out]
        recipe.tracers_out = outs
        return outs


def _via_graph_rule(trace, prim, tracers, params):
    """Bridge a graph-level partial-eval rule (for jit/cond/scan) to tracers."""
    in_vars = [Var(t.aval) for t in tracers]
    out_avals = abstract_eval(prim, [t.aval for t in tracers], params)
    out_vars = [Var(a) for a in out_avals]
    eqn = Eqn(prim, in_vars, out_vars, params)
    uks = [not t.pval.is_known for t in tracers]
    eqn_k, eqn_u, uks_out, res = partial_eval_graph_rules[prim](uks, eqn)
    env = {v: t for v, t in zip(in_vars, tracers)}
    if eqn_k is not None:
        vals = bind(eqn_k.prim, *[_known_val(env, x) for x in eqn_k.inputs], **eqn_k.params)
        vals = vals if eqn_k.prim.multiple_results else [vals]
        for v, val in zip(eqn_k.outputs, vals):
            env[v] = trace.pure(val)
    if eqn_u is not None:
        tracers_in = [trace.instantiate_const(_read(env, x)) for x in eqn_u.inputs]
        recipe = EqnRecipe(eqn_u.prim, tracers_in, eqn_u.params)
        outs = [PETracer(trace, PartialVal.unknown(v.aval), recipe) for v in eqn_u.outputs]
        recipe.tracers_out = outs
        for v, t in zip(eqn_u.outputs, outs):
            env[v] = t
    return [env[v] for v in out_vars]


def _read(env, x):
    from ..core.graph import Literal
    return x.val if type(x) is Literal else env[x]


def _known_val(env, x):
    t = _read(env, x)
    return t.pval.const if isinstance(t, PETracer) else t


def partial_eval_flat(f, pvals_in):
    """Run flat ``f`` with some inputs unknown. Returns (graph, out_pvals, consts):
    ``graph`` takes consts + the unknown inputs and computes the unknown outputs."""
    with new_main(PartialEvalTrace) as main:
        trace = PartialEvalTrace(main)
        tracers_in = [trace.new_arg(p) for p in pvals_in]
        outs = f(*tracers_in)
        tracers_out = [o if isinstance(o, PETracer) and o._trace.main is main
                       else trace.pure(o) for o in outs]
        pvals_out = [t.pval for t in tracers_out]
        unknown_in = [t for t in tracers_in if not t.pval.is_known]
        unknown_out = [t for t in tracers_out if not t.pval.is_known]
        graph, consts = tracers_to_graph(unknown_in, unknown_out)
    return graph, pvals_out, consts


def tracers_to_graph(tracers_in, tracers_out):
    tracer_to_var = {id(t): Var(ShapedArray(t.aval.shape, t.aval.dtype)) for t in tracers_in}
    const_vars, const_vals, eqns = [], [], []
    done = set()
    processed_recipes = set()

    def visit(t):
        if id(t) in tracer_to_var and id(t) in done:
            return
        stack = [(t, False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            r = node.recipe
            if isinstance(r, LambdaBindingRecipe):
                if id(node) not in tracer_to_var:
                    raise RuntimeError("funtorch internal error: unbound lambda tracer")
                done.add(id(node))
            elif isinstance(r, ConstRecipe):
                v = Var(node.aval)
                tracer_to_var[id(node)] = v
                const_vars.append(v)
                const_vals.append(r.val)
                done.add(id(node))
            elif isinstance(r, EqnRecipe):
                if id(r) in processed_recipes:
                    done.add(id(node))
                    continue
                if not expanded:
                    stack.append((node, True))
                    for ti in r.tracers_in:
                        if id(ti) not in done:
                            stack.append((ti, False))
                else:
                    processed_recipes.add(id(r))
                    outs = []
                    for to in r.tracers_out:
                        v = Var(to.aval)
                        tracer_to_var[id(to)] = v
                        outs.append(v)
                        done.add(id(to))
                    eqns.append(Eqn(r.prim, [tracer_to_var[id(ti)] for ti in r.tracers_in],
                                    outs, r.params))
            else:
                raise RuntimeError(f"funtorch internal error: tracer without recipe {node}")

    for t in tracers_out:
        visit(t)
    in_vars = [tracer_to_var[id(t)] for t in tracers_in]
    out_vars = [tracer_to_var[id(t)] for t in tracers_out]
    return Graph(const_vars + in_vars, eqns, out_vars), const_vals


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
