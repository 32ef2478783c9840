"""while_loop (a primitive with cond and body graphs; dynamic trip count, so forward
mode only) and fori_loop, which lowers to scan when its bounds are static."""

from __future__ import annotations

import numpy as np

from ... import tree as tree_util
from ...core import dtypes
from ...core.graph import Eqn, Graph, Var, eval_graph
from ...core.passes import dce
from ...core.trace import Primitive, Tracer, bind, get_aval, weak_aval
from ...core.tracing import trace_to_graph
from ...transforms import ad, batching
from ...transforms import partial_eval as pe
from ...transforms.ad import Zero, jvp_graph
from ..elementwise import convert_element_type, select_n
from ..reductions import reduce_max
from ..shape import broadcast_in_dim
from ._common import (
    as_array,
    def_rules,
    fmt_types,
    permute_graph,
    run_graph,
    stage_inputs,
    trace_fun,
    trace_loop_body,
    with_inputs,
)
from .scan import scan

while_p = Primitive("while", kind="control_flow", multiple_results=True)


def while_loop(cond_fun, body_fun, init_val):
    """JAX's lax.while_loop. Forward-differentiable; for reverse mode use scan/fori_loop
    with static bounds."""
    raw_leaves, tree = tree_util.flatten(init_val)

    def trace(fun):
        def run(raw, weak=None, cast_out=None):
            leaves, avals = stage_inputs(raw, "while_loop")
            in_tree = tree_util.structure((tree_util.unflatten(tree, leaves),))
            return (leaves, avals,
                    *trace_fun(fun, in_tree, avals, "while_loop", weak, cast_out))
        return run

    raw_leaves, (leaves, avals, bg, bconsts, bout) = trace_loop_body(
        trace(body_fun), raw_leaves, tree, lambda ot: ot)
    _, _, cg, cconsts, _ = trace(cond_fun)(raw_leaves)
    if len(cg.outs) != 1 or cg.out_avals[0].shape != () or not dtypes.is_bool(
            cg.out_avals[0].dtype):
        raise TypeError(f"funtorch.while_loop: cond_fun must return a boolean scalar, got "
                        f"{fmt_types(cg.out_avals)}")
    if bout != tree or bg.out_avals != avals:
        raise TypeError(f"funtorch.while_loop: body_fun must keep the carry's structure and "
                        f"types; got {tree} {fmt_types(avals)} -> {bout} {fmt_types(bg.out_avals)}")
    outs = bind(while_p, *cconsts, *bconsts, *leaves, cond_graph=cg, body_graph=bg,
                cond_nconsts=len(cconsts), body_nconsts=len(bconsts))
    return tree_util.unflatten(tree, outs)


def _while_impl(*args, cond_graph, body_graph, cond_nconsts, body_nconsts):
    cc, bc = args[:cond_nconsts], args[cond_nconsts:cond_nconsts + body_nconsts]
    carry = list(args[cond_nconsts + body_nconsts:])
    while bool(run_graph(cond_graph, [*cc, *carry])[0]):
        carry = run_graph(body_graph, [*bc, *carry])
    return [np.asarray(c) for c in carry]


def _while_jvp(primals, tangents, *, cond_graph, body_graph, cond_nconsts, body_nconsts):
    nconst = cond_nconsts + body_nconsts
    nz = [type(t) is not Zero for t in tangents]
    nz_bc, nz_carry = nz[cond_nconsts:nconst], nz[nconst:]
    avals = body_graph.out_avals
    nz_carry = [z and dtypes.is_float(a.dtype) for z, a in zip(nz_carry, avals)]
    while True:
        _, _, out_nz = jvp_graph(body_graph, tuple(nz_bc + nz_carry), tuple(nz_carry))
        new = [a or (b and dtypes.is_float(av.dtype)) for a, b, av in
               zip(nz_carry, out_nz, avals)]
        if new == nz_carry:
            break
        nz_carry = new
    jg, consts, out_nz = jvp_graph(body_graph, tuple(nz_bc + nz_carry), tuple(nz_carry))
    if consts:
        raise NotImplementedError("funtorch internal error: constants in a while JVP graph")
    nb, ncar = body_nconsts, len(avals)
    n_bt = sum(nz_bc)
    # jvp body inputs: bc, carry, bc_dot, carry_dot -> (bc, bc_dot), (carry, carry_dot)
    perm = (list(range(nb)) + list(range(nb + ncar, nb + ncar + n_bt)) + list(range(nb, nb + ncar))
            + list(range(nb + ncar + n_bt, len(jg.in_vars))))
    body = permute_graph(jg, perm)
    n_ct = sum(nz_carry)
    cond = with_inputs(cond_graph, cond_graph.in_vars + [
        Var(a) for a, z in zip(avals, nz_carry) if z])
    cc, bc, carry = (primals[:cond_nconsts], primals[cond_nconsts:nconst], primals[nconst:])
    tbc = [t for t in tangents[cond_nconsts:nconst] if type(t) is not Zero]
    tcarry = [ad.instantiate(t) for t, z in zip(tangents[nconst:], nz_carry) if z]
    outs = bind(while_p, *cc, *bc, *tbc, *carry, *tcarry, cond_graph=cond, body_graph=body,
                cond_nconsts=cond_nconsts, body_nconsts=nb + n_bt)
    it = iter(outs[ncar:ncar + n_ct])
    return outs[:ncar], [next(it) if z else Zero(a.tangent_aval()) for z, a in
                         zip(nz_carry, avals)]


def _while_batch(vals, dims, *, cond_graph, body_graph, cond_nconsts, body_nconsts):
    size = batching.batch_size_of(vals, dims)
    nconst = cond_nconsts + body_nconsts
    cc, bc, carry = vals[:cond_nconsts], vals[cond_nconsts:nconst], vals[nconst:]
    dcc, dbc = dims[:cond_nconsts], dims[cond_nconsts:nconst]
    carry = [batching.bdim_at_front(v, d, size) for v, d in zip(carry, dims[nconst:])]
    ncar = len(carry)

    def pred_b(ccs, xs):
        return batching.vmap_flat(lambda *a: eval_graph(cond_graph, a), size, [*ccs, *xs],
                                  [*dcc, *[0] * ncar], lambda n: [0])[0]

    def cond_fun(*a):
        p = pred_b(a[:cond_nconsts], a[cond_nconsts + body_nconsts:])
        return [reduce_max(p, (0,))]

    def body_fun(*a):
        ccs, bcs, xs = a[:cond_nconsts], a[cond_nconsts:nconst], a[nconst:]
        p = pred_b(ccs, xs)
        new = batching.vmap_flat(lambda *z: eval_graph(body_graph, z), size, [*bcs, *xs],
                                 [*dbc, *[0] * ncar], lambda n: [0] * n)
        return [select_n(broadcast_in_dim(p, get_aval(o).shape, (0,)), x, o)
                for x, o in zip(xs, new)]

    avals = [get_aval(v) for v in [*cc, *bc, *carry]]
    cg, c1 = trace_to_graph(cond_fun, avals, closed=True)
    bg, c2 = trace_to_graph(body_fun, avals, closed=True)
    if c1 or c2:
        raise NotImplementedError("funtorch internal error: constants in a batched while")
    # both graphs take all constants; the while primitive passes them to each
    outs = bind(while_p, *cc, *bc, *cc, *bc, *carry, cond_graph=cg, body_graph=bg,
                cond_nconsts=nconst, body_nconsts=nconst)
    return outs, [0] * len(outs)


def _while_partial_eval(uks_in, eqn):
    """Known carries are computed by a loop over the known part of the body; the unknown
    outputs come from the whole loop again, recomputing the known part (as JAX does)."""
    p = eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    cond_graph, body_graph = p["cond_graph"], p["body_graph"]
    uk_cc, uk_bc, uk_carry = uks_in[:nc], uks_in[nc:nc + nb], list(uks_in[nc + nb:])
    all_unknown = (None, eqn, [True] * len(eqn.outputs),
                   [x for x, u in zip(eqn.inputs, uks_in) if not u and type(x) is Var])
    if any(uk_cc):
        return all_unknown
    while True:
        _, _, out_uks, _ = pe.partial_eval_graph(body_graph, uk_bc + uk_carry, uk_carry)
        new = [a or b for a, b in zip(uk_carry, out_uks)]
        if new == uk_carry:
            break
        uk_carry = new
    ck, _, c_uks, _ = pe.partial_eval_graph(cond_graph, uk_cc + uk_carry)
    if c_uks[0] or all(uk_carry):
        return all_unknown
    bk, _, _, _ = pe.partial_eval_graph(body_graph, uk_bc + uk_carry, uk_carry)
    n_known = sum(not u for u in uk_carry)
    cond_k = dce(Graph(ck.in_vars, ck.eqns, ck.outs[:1]))
    body_k = dce(Graph(bk.in_vars, bk.eqns, bk.outs[:n_known]))
    ins = eqn.inputs
    known_ins = ([x for x in ins[:nc]] + [x for x, u in zip(ins[nc:nc + nb], uk_bc) if not u]
                 + [x for x, u in zip(ins[nc + nb:], uk_carry) if not u])
    eqn_k = Eqn(while_p, known_ins, [o for o, u in zip(eqn.outputs, uk_carry) if not u],
                dict(cond_graph=cond_k, body_graph=body_k, cond_nconsts=nc,
                     body_nconsts=sum(not u for u in uk_bc)))
    outs_u = [o if u else Var(o.aval) for o, u in zip(eqn.outputs, uk_carry)]
    eqn_u = Eqn(while_p, ins, outs_u, p)
    res = [x for x, u in zip(ins, uks_in) if not u and type(x) is Var]
    return eqn_k, eqn_u, uk_carry, res


def _while_transpose(cts, *args, **params):
    raise NotImplementedError(
        "funtorch: reverse-mode differentiation does not work through ft.while_loop (its trip "
        "count is dynamic). Use ft.scan, or ft.fori_loop with Python-int bounds, which lowers "
        "to scan.")


def _while_abstract(*avals, cond_graph, body_graph, cond_nconsts, body_nconsts):
    return list(body_graph.out_avals)


def_rules(while_p, impl=_while_impl, abstract_eval=_while_abstract, jvp=_while_jvp,
          partial_eval=_while_partial_eval, transpose=_while_transpose, batch=_while_batch)


# --------------------------------------------------------------------------- fori_loop

def fori_loop(lower, upper, body_fun, init_val):
    """``for i in range(lower, upper): val = body_fun(i, val)``. With concrete bounds it
    lowers to scan (reverse-differentiable) and, as in JAX, the index is a weakly typed
    Python int, the bounds truncated by ``int`` (JAX 0.10 accepts float bounds of one
    type: ``fori_loop(0.5, 3.7, ...)`` runs i = 0, 1, 2); with traced bounds to
    while_loop, the index having the bounds' dtype (float bounds step a float by 1)."""
    if not isinstance(lower, Tracer) and not isinstance(upper, Tracer):
        _fori_dtype(lower, upper, concrete=True)
        lo, hi = int(lower), int(upper)

        def step(carry, _):
            i, val = carry
            return (i + 1, body_fun(i, val)), None

        (_, val), _ = scan(step, (lo, init_val), None, length=max(hi - lo, 0))
        return val
    lower, upper = _fori_bounds(lower, upper)
    _, _, val = while_loop(lambda c: c[0] < c[1],
                           lambda c: (c[0] + 1, c[1], body_fun(c[0], c[2])),
                           (lower, upper, init_val))
    return val


def _fori_bounds(lower, upper):
    """Both bounds in their common dtype (``_fori_dtype``)."""
    dt = _fori_dtype(lower, upper)
    return tuple(b if weak_aval(b).dtype == dt else
                 convert_element_type(as_array(b, "fori_loop"), dt) for b in (lower, upper))


def _fori_dtype(lower, upper, concrete=False):
    """JAX's rule: equal bound dtypes (integers, or floats), except that a weakly typed
    bound (a Python int or float) takes the other bound's dtype of the same kind.
    ``concrete`` bounds (about to be truncated by ``int``) need only be of one kind."""
    la, ua = weak_aval(lower), weak_aval(upper)

    def kind(a):
        return "int" if dtypes.is_int(a.dtype) else "float" if dtypes.is_float(a.dtype) \
            else None
    if kind(la) is None or kind(ua) is None:
        raise TypeError(f"funtorch.fori_loop: lower and upper must be integers (or floats of "
                        f"one type), got {la.str_short()} and {ua.str_short()}")
    if la.dtype == ua.dtype or (concrete and kind(la) == kind(ua)):
        return la.dtype
    if kind(la) == kind(ua):
        if la.weak_type and not ua.weak_type:
            return ua.dtype
        if ua.weak_type and not la.weak_type:
            return la.dtype
    raise TypeError(f"funtorch.fori_loop: lower and upper must have equal types, got "
                    f"{la.str_short()} and {ua.str_short()}; cast one with .astype")
