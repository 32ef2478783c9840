"""scan: a loop with a static trip count, carrying its body as a graph; the one loop
that reverse mode differentiates (the transpose is a scan running the other way)."""

from __future__ import annotations

import numpy as np

from ... import tree as tree_util
from ...core import dtypes
from ...core.abstract import ShapedArray
from ...core.graph import Eqn, Graph, Var
from ...core.trace import Primitive, bind, get_aval
from ...core.tracing import trace_to_graph
from ...transforms import ad, batching
from ...transforms import partial_eval as pe
from ...transforms.ad import Zero, is_undefined, jvp_graph
from ...transforms.batching import batch_graph
from ._common import (
    as_array,
    def_rules,
    fmt_types,
    permute_graph,
    run_graph,
    stage_inputs,
    trace_fun,
    trace_loop_body,
)

scan_p = Primitive("scan", kind="control_flow", multiple_results=True)


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """JAX's lax.scan: ``f(carry, x) -> (carry, y)``; returns ``(carry, stacked ys)``."""
    x_leaves, x_tree = tree_util.flatten(xs)
    x_leaves = [as_array(x, "scan") for x in x_leaves]
    lengths = {get_aval(x).shape[0] if get_aval(x).ndim else None for x in x_leaves}
    if None in lengths:
        raise ValueError("funtorch.scan: every leaf of xs needs a leading axis to scan over")
    if length is not None:
        lengths.add(int(length))
    if len(lengths) > 1:
        raise ValueError(f"funtorch.scan: xs leaves and length disagree on the scan length: "
                         f"{sorted(lengths)}")
    if not lengths:
        raise ValueError("funtorch.scan: pass xs or length")
    n = lengths.pop()
    raw_c_leaves, c_tree = tree_util.flatten(init)
    x_avals = [ShapedArray(get_aval(x).shape[1:], get_aval(x).dtype) for x in x_leaves]

    def body(carry, x):
        out = f(carry, x)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError("funtorch.scan: f must return a pair (carry, y)")
        return out

    def trace_body(raw_c, weak, cast_out):
        c_leaves, c_avals = stage_inputs(raw_c, "scan")
        in_tree = tree_util.structure((tree_util.unflatten(c_tree, c_leaves),
                                       tree_util.unflatten(x_tree, x_leaves)))
        return (c_leaves, c_avals,
                *trace_fun(body, in_tree, c_avals + x_avals, "scan", weak, cast_out))

    _, (c_leaves, c_avals, graph, consts, out_tree) = trace_loop_body(
        trace_body, raw_c_leaves, c_tree, lambda ot: ot.children()[0])
    carry_tree, y_tree = out_tree.children()
    nc_out = carry_tree.num_leaves
    if carry_tree != c_tree or [v.aval for v in graph.outs[:nc_out]] != c_avals:
        raise TypeError(
            f"funtorch.scan: the carry must keep its structure and types; init is {c_tree} "
            f"{fmt_types(c_avals)} but f returned {carry_tree} "
            f"{fmt_types([o.aval for o in graph.outs[:nc_out]])}")
    outs = bind(scan_p, *consts, *c_leaves, *x_leaves, body=graph, num_consts=len(consts),
                num_carry=len(c_leaves), length=n, reverse=bool(reverse))
    carry = tree_util.unflatten(c_tree, outs[:len(c_leaves)])
    ys = tree_util.unflatten(y_tree, outs[len(c_leaves):])
    return carry, ys


def _scan_impl(*args, body, num_consts, num_carry, length, reverse):
    consts, carry, xs = (args[:num_consts], list(args[num_consts:num_consts + num_carry]),
                         args[num_consts + num_carry:])
    ys = []
    order = range(length - 1, -1, -1) if reverse else range(length)
    for i in order:
        outs = run_graph(body, [*consts, *carry, *[x[i] for x in xs]])
        carry, y = outs[:num_carry], outs[num_carry:]
        ys.append(y)
    if reverse:
        ys.reverse()
    y_avals = body.out_avals[num_carry:]
    stacked = [np.stack([y[k] for y in ys]) if ys else np.zeros((0, *a.shape), a.dtype)
               for k, a in enumerate(y_avals)]
    return [*[np.asarray(c) for c in carry], *stacked]


def _scan_abstract(*avals, body, num_consts, num_carry, length, reverse):
    ys = [ShapedArray((length, *a.shape), a.dtype) for a in body.out_avals[num_carry:]]
    return [*body.out_avals[:num_carry], *ys]


def _split3(seq, a, b):
    return list(seq[:a]), list(seq[a:a + b]), list(seq[a + b:])


def _scan_jvp(primals, tangents, *, body, num_consts, num_carry, length, reverse):
    nz = [type(t) is not Zero for t in tangents]
    nz_c, nz_carry, nz_x = _split3(nz, num_consts, num_carry)
    carry_avals = body.out_avals[:num_carry]
    nz_carry = [z and dtypes.is_float(a.dtype) for z, a in zip(nz_carry, carry_avals)]
    while True:
        _, _, out_nz = jvp_graph(body, tuple(nz_c + nz_carry + nz_x),
                                 tuple(nz_carry) + (False,) * (len(body.outs) - num_carry))
        new = [a or (b and dtypes.is_float(av.dtype))
               for a, b, av in zip(nz_carry, out_nz[:num_carry], carry_avals)]
        if new == nz_carry:
            break
        nz_carry = new
    nz_in = tuple(nz_c + nz_carry + nz_x)
    jg, consts, out_nz = jvp_graph(body, nz_in, tuple(nz_carry) + (False,) * (
        len(body.outs) - num_carry))
    if consts:
        raise NotImplementedError("funtorch internal error: constants in a scan JVP graph")
    # jvp graph inputs: primals (c, carry, x) then nonzero tangents (c, carry, x);
    # reorder to (c, c_dot, carry, carry_dot, x, x_dot)
    n_in = len(body.in_vars)
    idx_t = iter(range(n_in, n_in + sum(nz_in)))
    t_pos = [next(idx_t) if z else None for z in nz_in]
    groups = [(0, num_consts), (num_consts, num_carry), (num_consts + num_carry,
                                                         n_in - num_consts - num_carry)]
    perm = []
    for start, cnt in groups:
        perm += list(range(start, start + cnt))
        perm += [t_pos[i] for i in range(start, start + cnt) if t_pos[i] is not None]
    n_out = len(body.outs)
    idx_o = iter(range(n_out, n_out + sum(out_nz)))
    to_pos = [next(idx_o) if z else None for z in out_nz]
    operm = list(range(num_carry)) + [to_pos[i] for i in range(num_carry) if to_pos[i] is not None]
    operm += list(range(num_carry, n_out)) + [to_pos[i] for i in range(num_carry, n_out)
                                              if to_pos[i] is not None]
    new_body = permute_graph(jg, perm, operm)
    c, carry, xs = _split3(primals, num_consts, num_carry)
    tc, tcarry, txs = _split3(tangents, num_consts, num_carry)
    tcarry = [ad.instantiate(t) if z else None for t, z in zip(tcarry, nz_carry)]
    args = [*c, *[t for t in tc if type(t) is not Zero], *carry,
            *[t for t in tcarry if t is not None], *xs, *[t for t in txs if type(t) is not Zero]]
    n_ct = sum(nz_carry)
    outs = bind(scan_p, *args, body=new_body, num_consts=num_consts + sum(nz_c),
                num_carry=num_carry + n_ct, length=length, reverse=reverse)
    carry_out, carry_t = outs[:num_carry], iter(outs[num_carry:num_carry + n_ct])
    rest = outs[num_carry + n_ct:]
    n_y = n_out - num_carry
    ys, ys_t = rest[:n_y], iter(rest[n_y:])
    t_carry_out = [next(carry_t) if z else Zero(a.tangent_aval())
                   for z, a in zip(nz_carry, carry_avals)]
    y_avals = body.out_avals[num_carry:]
    t_ys = [next(ys_t) if z else Zero(a.tangent_aval())
            for z, a in zip(out_nz[num_carry:], y_avals)]
    return [*carry_out, *ys], [*t_carry_out, *t_ys]


def _scan_batch(vals, dims, *, body, num_consts, num_carry, length, reverse):
    size = batching.batch_size_of(vals, dims)
    c, carry, xs = _split3(vals, num_consts, num_carry)
    dc, dcarry, dxs = _split3(dims, num_consts, num_carry)
    # simplest consistent scheme: every carry batched at 0, xs batched at 1
    carry = [batching.bdim_at_front(v, d, size) for v, d in zip(carry, dcarry)]
    xs_b, dxs_body = [], []
    for v, d in zip(xs, dxs):
        if d is None:
            xs_b.append(v)
            dxs_body.append(None)
        else:
            xs_b.append(batching.moveaxis(v, d, 1))
            dxs_body.append(0)
    g, consts = batch_graph(body, size, tuple(dc) + (0,) * num_carry + tuple(dxs_body))
    if consts:
        raise NotImplementedError("funtorch internal error: constants in a batched scan")
    outs = bind(scan_p, *c, *carry, *xs_b, body=g, num_consts=num_consts, num_carry=num_carry,
                length=length, reverse=reverse)
    return outs, [0] * num_carry + [1] * (len(outs) - num_carry)


def _scan_partial_eval(uks_in, eqn):
    p = eqn.params
    body, nc, ncar, length = p["body"], p["num_consts"], p["num_carry"], p["length"]
    uk_c, uk_carry, uk_x = _split3(uks_in, nc, ncar)
    while True:
        _, _, out_uks, _ = pe.partial_eval_graph(
            body, uk_c + uk_carry + uk_x, list(uk_carry) + [False] * (len(body.outs) - ncar))
        new = [a or b for a, b in zip(uk_carry, out_uks[:ncar])]
        if new == uk_carry:
            break
        uk_carry = new
    inst = list(uk_carry) + [False] * (len(body.outs) - ncar)
    known, unknown, out_uks, num_res = pe.partial_eval_graph(body, uk_c + uk_carry + uk_x, inst)
    n_known_c = sum(not u for u in uk_c)
    known_c_vars = known.in_vars[:n_known_c]
    res_out = known.outs[len(known.outs) - num_res:]
    # residuals that are known constants of the body stay constants (not stacked per step)
    invariant = [r in known_c_vars for r in res_out]
    outer_known_c = [x for x, u in zip(eqn.inputs[:nc], uk_c) if not u]
    const_res_outer = [outer_known_c[known_c_vars.index(r)] for r, inv in
                       zip(res_out, invariant) if inv]
    k_outs = known.outs[:len(known.outs) - num_res] + [r for r, inv in zip(res_out, invariant)
                                                       if not inv]
    known = Graph(known.in_vars, known.eqns, k_outs)
    stacked_vars = [Var(ShapedArray((length, *r.aval.shape), r.aval.dtype))
                    for r, inv in zip(res_out, invariant) if not inv]
    # unknown body inputs: res + uk consts + uk carry + uk xs -> reorder as scan wants:
    # (invariant res + uk consts), uk carry, (stacked res + uk xs)
    u_res = unknown.in_vars[:num_res]
    u_rest = unknown.in_vars[num_res:]
    n_uc, n_ucar = sum(uk_c), sum(uk_carry)
    inv_res = [v for v, inv in zip(u_res, invariant) if inv]
    var_res = [v for v, inv in zip(u_res, invariant) if not inv]
    unknown = Graph(inv_res + u_rest[:n_uc] + u_rest[n_uc:n_uc + n_ucar] + var_res +
                    u_rest[n_uc + n_ucar:], unknown.eqns, unknown.outs)
    ins = eqn.inputs
    c_in, carry_in, x_in = _split3(ins, nc, ncar)
    known_ins = ([x for x, u in zip(c_in, uk_c) if not u]
                 + [x for x, u in zip(carry_in, uk_carry) if not u]
                 + [x for x, u in zip(x_in, uk_x) if not u])
    out_carry, out_ys = eqn.outputs[:ncar], eqn.outputs[ncar:]
    y_uks = out_uks[ncar:]
    eqn_k = Eqn(scan_p, known_ins,
                [o for o, u in zip(out_carry, uk_carry) if not u]
                + [o for o, u in zip(out_ys, y_uks) if not u] + stacked_vars,
                dict(body=known, num_consts=n_known_c, num_carry=sum(not u for u in uk_carry),
                     length=length, reverse=p["reverse"]))
    u_ins = (const_res_outer + [x for x, u in zip(c_in, uk_c) if u]
             + list(carry_in[i] for i in range(ncar) if uk_carry[i])
             + stacked_vars + [x for x, u in zip(x_in, uk_x) if u])
    eqn_u = Eqn(scan_p, u_ins,
                [o for o, u in zip(out_carry, uk_carry) if u]
                + [o for o, u in zip(out_ys, y_uks) if u],
                dict(body=unknown, num_consts=len(const_res_outer) + n_uc, num_carry=n_ucar,
                     length=length, reverse=p["reverse"]))
    res = [x for x in u_ins if type(x) is Var and not _is_uk_input(x, eqn, uks_in)]
    return eqn_k, eqn_u, list(uk_carry) + list(y_uks), res


def _is_uk_input(x, eqn, uks_in):
    for y, u in zip(eqn.inputs, uks_in):
        if y is x:
            return u
    return False


def _scan_transpose(cts, *args, body, num_consts, num_carry, length, reverse):
    c, carry, xs = _split3(args, num_consts, num_carry)
    lin_c = [is_undefined(x) for x in c]
    lin_x = [is_undefined(x) for x in xs]
    # a carry may arrive as a known value (e.g. an instantiated zero tangent); the body is
    # linear in it all the same, and its cotangent is simply not returned
    carry_lin = [is_undefined(x) for x in carry]
    res_c = [x for x in c if not is_undefined(x)]
    res_x = [x for x in xs if not is_undefined(x)]
    ct_carry = [ad.instantiate(ct) for ct in cts[:num_carry]]
    ct_ys = [ad.instantiate(ct) for ct in cts[num_carry:]]
    lin_c_avals = [x.aval for x in c if is_undefined(x)]
    ct_c_init = [ad.zeros_like_aval(a) for a in lin_c_avals]
    linear = lin_c + [True] * num_carry + lin_x

    def body_t(*a):
        # consts: res_c | carry: ct_c_acc, ct_carry | xs: ct_ys, res_x
        rc, rest = a[:len(res_c)], a[len(res_c):]
        acc, rest = rest[:len(ct_c_init)], rest[len(ct_c_init):]
        ctc, rest = rest[:num_carry], rest[num_carry:]
        cty, rx = rest[:len(ct_ys)], rest[len(ct_ys):]
        rc_it, rx_it = iter(rc), iter(rx)
        invals = ([None if lin else next(rc_it) for lin in lin_c] + [None] * num_carry
                  + [None if lin else next(rx_it) for lin in lin_x])
        out = ad.backward_pass(body, linear, invals, [*ctc, *cty])
        oc, ocar, ox = _split3(out, num_consts, num_carry)
        new_acc = [ad.add_tangents(a_, ad.instantiate(g)) if not isinstance(g, Zero) else a_
                   for a_, g in zip(acc, [g for g, lin in zip(oc, lin_c) if lin])]
        new_acc = [ad.instantiate(v) if isinstance(v, Zero) else v for v in new_acc]
        return [*new_acc, *[ad.instantiate(g) for g in ocar],
                *[ad.instantiate(g) for g, lin in zip(ox, lin_x) if lin]]

    avals = ([get_aval(x) for x in res_c] + lin_c_avals + [get_aval(x) for x in ct_carry]
             + [ShapedArray(get_aval(y).shape[1:], get_aval(y).dtype) for y in ct_ys]
             + [ShapedArray(get_aval(x).shape[1:], get_aval(x).dtype) for x in res_x])
    g, consts = trace_to_graph(body_t, avals, closed=True)
    outs = bind(scan_p, *consts, *res_c, *ct_c_init, *ct_carry, *ct_ys, *res_x, body=g,
                num_consts=len(consts) + len(res_c), num_carry=len(ct_c_init) + num_carry,
                length=length, reverse=not reverse)
    ct_c_out = iter(outs[:len(ct_c_init)])
    ct_carry_out = outs[len(ct_c_init):len(ct_c_init) + num_carry]
    ct_x_out = iter(outs[len(ct_c_init) + num_carry:])
    return ([next(ct_c_out) if lin else None for lin in lin_c]
            + [ct if lin else None for ct, lin in zip(ct_carry_out, carry_lin)]
            + [next(ct_x_out) if lin else None for lin in lin_x])


def_rules(scan_p, impl=_scan_impl, abstract_eval=_scan_abstract, jvp=_scan_jvp,
          partial_eval=_scan_partial_eval, transpose=_scan_transpose, batch=_scan_batch)
