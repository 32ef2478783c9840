"""Control flow primitives: cond, scan, while (and fori_loop on top of them).

Each carries its body as graphs in its params; the rules below transform those graphs
(JVP, batching, partial evaluation, transposition) the way JAX's lax.control_flow does.
"""

from __future__ import annotations

import numpy as np

from .. import tree as tree_util
from ..core import dtypes
from ..core.abstract import ShapedArray
from ..core.array import Array
from ..core.graph import Eqn, Graph, Var, eval_graph
from ..core.trace import Primitive, Tracer, bind, get_aval
from ..core.tracing import trace_to_graph
from ..transforms import ad, batching
from ..transforms.ad import Zero, is_undefined
from ..transforms.jit import batch_graph, jvp_graph

# --------------------------------------------------------------------------- helpers

def _trace(fun, in_tree, in_avals, what, weak_out=None, cast_out=None):
    """Stage ``fun`` (taking the pytree ``in_tree`` of ``in_avals``) into a graph.

    ``weak_out`` (a list) receives, per output leaf, whether it was a Python scalar;
    ``cast_out`` (per output leaf, a dtype or None) converts outputs after the fact."""
    out_tree = []

    def flat(*xs):
        out = fun(*tree_util.unflatten(in_tree, xs))
        leaves, ot = tree_util.flatten(out)
        out_tree.append(ot)
        if weak_out is not None:
            weak_out[:] = [dtypes.is_weak(x) for x in leaves]
        if cast_out is not None:   # only Python scalars are cast: convert the exact value
            leaves = [np.asarray(x, d) if d is not None and dtypes.is_weak(x) else x
                      for x, d in zip(leaves, cast_out, strict=True)]
        return [_as_array(x, what) for x in leaves]

    graph, consts = trace_to_graph(flat, in_avals)
    return graph, consts, out_tree[0]


def _as_array(x, what):
    if isinstance(x, (Array, Tracer)):
        return x
    if dtypes.is_weak(x) or isinstance(x, (np.ndarray, np.generic)):
        from ..numpy import asarray
        return asarray(x)
    raise TypeError(f"funtorch.{what}: the function returned a {type(x).__name__}, which is not "
                    "an array; return arrays (or pytrees of arrays)")


def _run(graph, args):
    """Evaluate a sub-graph from an eager impl (numpy in, numpy out)."""
    outs = eval_graph(graph, [Array(a) if isinstance(a, np.ndarray) else a for a in args])
    return [o._value if type(o) is Array else np.asarray(o) for o in outs]


def _with_inputs(graph, new_in_vars):
    return Graph(new_in_vars, graph.eqns, graph.outs)


def _types(avals):
    return "(" + ", ".join(a.str_short() for a in avals) + ")"


def _permute_graph(graph, in_perm=None, out_perm=None):
    ins = graph.in_vars if in_perm is None else [graph.in_vars[i] for i in in_perm]
    outs = graph.outs if out_perm is None else [graph.outs[i] for i in out_perm]
    return Graph(ins, graph.eqns, outs)


# --------------------------------------------------------------------------- cond

cond_p = Primitive("cond", multiple_results=True)


def cond(pred, true_fun, false_fun, *operands):
    """``true_fun(*operands) if pred else false_fun(*operands)``, staged (JAX's lax.cond)."""
    if not callable(true_fun) or not callable(false_fun):
        raise TypeError("funtorch.cond: signature is cond(pred, true_fun, false_fun, *operands)")
    p_aval = get_aval(pred)
    if p_aval.shape != ():
        raise TypeError(f"funtorch.cond: pred must be a scalar, got {p_aval.str_short()}; use "
                        "ft.where for elementwise selection")
    from .. import lax
    if isinstance(pred, (bool, int, float, np.generic)) or not dtypes.is_bool(p_aval.dtype):
        from ..numpy import not_equal
        pred = not_equal(pred, 0)
    index = lax.convert_element_type(pred, dtypes.int32)
    return switch(index, [false_fun, true_fun], *operands, _name="cond")


def switch(index, branches, *operands, _name="switch"):
    """``branches[index](*operands)`` with the index clamped, as JAX's lax.switch."""
    from .. import lax
    if not branches:
        raise ValueError("funtorch.switch: need at least one branch")
    flat, in_tree = tree_util.flatten(list(operands))
    flat = [_as_array(x, _name) for x in flat]
    avals = [get_aval(x) for x in flat]
    weak = [[] for _ in branches]
    traced = [_trace(b, in_tree, avals, _name, w) for b, w in zip(branches, weak, strict=True)]
    traced = _promote_weak_outputs(branches, traced, weak, in_tree, avals, _name)
    out_tree = traced[0][2]
    for g, _, ot in traced[1:]:
        if ot != out_tree or g.out_avals != traced[0][0].out_avals:
            raise TypeError(
                f"funtorch.{_name}: branches must return the same structure and types; got "
                f"{out_tree} {_types(traced[0][0].out_avals)} and {ot} {_types(g.out_avals)}")
    # every branch takes all branches' constants, then the operands
    all_consts = [c for _, consts, _ in traced for c in consts]
    graphs = []
    for k, (g, consts, _) in enumerate(traced):
        before = sum(len(t[1]) for t in traced[:k])
        after = sum(len(t[1]) for t in traced[k + 1:])
        nc = len(consts)
        pad_before = [Var(get_aval(c)) for t in traced[:k] for c in t[1]]
        pad_after = [Var(get_aval(c)) for t in traced[k + 1:] for c in t[1]]
        assert len(pad_before) == before and len(pad_after) == after
        graphs.append(_with_inputs(g, pad_before + g.in_vars[:nc] + pad_after + g.in_vars[nc:]))
    index = lax.convert_element_type(index, dtypes.int32)
    index = lax.max(lax.min(index, np.int32(len(branches) - 1)), np.int32(0))
    outs = bind(cond_p, index, *all_consts, *flat, branches=tuple(graphs))
    return tree_util.unflatten(out_tree, outs)


def _promote_weak_outputs(branches, traced, weak, in_tree, avals, name):
    """As JAX does, a branch output that is a Python scalar takes the dtype the other
    branches give that output (``cond(p, lambda x: x, lambda x: 0.0, x64)`` is f64)."""
    if len({t[2] for t in traced}) != 1:
        return traced
    n = len(traced[0][0].outs)
    casts = [[None] * n for _ in traced]
    for k in range(n):
        strong = [t[0].out_avals[k] for t, w in zip(traced, weak, strict=True) if not w[k]]
        if not strong:
            continue
        target = strong[0]
        for b, (t, w) in enumerate(zip(traced, weak, strict=True)):
            a = t[0].out_avals[k]
            if w[k] and a.shape == target.shape and a.dtype != target.dtype:
                casts[b][k] = target.dtype
    return [_trace(fn, in_tree, avals, name, cast_out=c) if any(d is not None for d in c)
            else t for fn, t, c in zip(branches, traced, casts, strict=True)]


def _promote_weak_init(raw_leaves, leaves, out_avals):
    """JAX's ``_promote_weak_typed_inputs``: a loop carry initialised with a Python
    scalar takes the dtype the body gives it. Returns the new leaves, or None."""
    new, changed = list(leaves), False
    for i, (raw, a_out) in enumerate(zip(raw_leaves, out_avals, strict=True)):
        a_in = get_aval(leaves[i])
        if dtypes.is_weak(raw) and a_in.shape == a_out.shape and a_in.dtype != a_out.dtype:
            new[i] = _as_array(np.asarray(raw, a_out.dtype), "loop")   # the exact value
            changed = True
    return new if changed else None


def _cond_impl(index, *args, branches):
    return _run(branches[int(index)], args)


def _cond_abstract(index, *avals, branches):
    if index.shape != () or not dtypes.is_int(index.dtype):
        raise TypeError(f"funtorch.cond: index must be an int32 scalar, got {index.str_short()}")
    return list(branches[0].out_avals)


def _cond_jvp(primals, tangents, *, branches):
    index, *args = primals
    nz = tuple(type(t) is not Zero for t in tangents[1:])
    out_nz = [False] * len(branches[0].outs)
    for g in branches:
        _, _, nz_g = jvp_graph(g, nz)
        out_nz = [a or b for a, b in zip(out_nz, nz_g)]
    out_nz = [o and dtypes.is_float(a.dtype) for o, a in zip(out_nz, branches[0].out_avals)]
    new = []
    for g in branches:
        jg, consts, _ = jvp_graph(g, nz, out_nz)
        if consts:  # fold captured constants in as leading inputs of every branch
            raise NotImplementedError("funtorch internal error: constants in a cond JVP graph")
        new.append(jg)
    ts = [t for t in tangents[1:] if type(t) is not Zero]
    outs = bind(cond_p, index, *args, *ts, branches=tuple(new))
    n = len(branches[0].outs)
    touts = iter(outs[n:])
    return outs[:n], [next(touts) if z else Zero(a.tangent_aval())
                      for z, a in zip(out_nz, branches[0].out_avals)]


def _cond_batch(vals, dims, *, branches):
    from .. import lax
    index, *args = vals
    idim, *adims = dims
    size = batching.batch_size_of(vals, dims)
    if idim is None:
        new = [batch_graph(g, size, tuple(adims)) for g in branches]
        if any(c for _, c in new):
            raise NotImplementedError("funtorch internal error: constants in a batched cond")
        outs = bind(cond_p, index, *args, branches=tuple(g for g, _ in new))
        return outs, [0] * len(outs)
    # a batched predicate: run every branch and select per example
    index = batching.moveaxis(index, idim, 0)
    results = []
    for g in branches:
        results.append(batching.vmap_flat(lambda *xs, g=g: eval_graph(g, xs), size, list(args),
                                          list(adims), lambda n: [0] * n))
    outs = []
    for k in range(len(branches[0].outs)):
        cases = [r[k] for r in results]
        shape = get_aval(cases[0]).shape
        idx = lax.broadcast_in_dim(index, shape, (0,))
        outs.append(lax.select_n(idx, *cases))
    return outs, [0] * len(outs)


def _join_residuals(knowns, num_res):
    """Make every known branch output the residuals of all branches (zeros for others')."""
    res_avals = [[o.aval for o in k.outs[len(k.outs) - n:]] for k, n in zip(knowns, num_res)]
    joined = []
    for i, (k, n) in enumerate(zip(knowns, num_res)):
        base = k.outs[:len(k.outs) - n]

        def fun(*xs, k=k, i=i, base=base):
            outs = eval_graph(k, xs)
            main, own = outs[:len(base)], outs[len(base):]
            res = []
            for j, avals in enumerate(res_avals):
                res += list(own) if j == i else [ad.zeros_like_aval(a) for a in avals]
            return [*main, *res]

        g, consts = trace_to_graph(fun, [v.aval for v in k.in_vars], closed=True)
        if consts:
            raise NotImplementedError("funtorch internal error: constants in cond residuals")
        joined.append(g)
    return joined, [a for avals in res_avals for a in avals]


def _cond_partial_eval(uks_in, eqn):
    branches = eqn.params["branches"]
    if uks_in[0]:  # unknown predicate: the whole cond is unknown
        return None, eqn, [True] * len(eqn.outputs), [
            x for x, u in zip(eqn.inputs, uks_in) if not u and type(x) is Var]
    uks = uks_in[1:]
    out_uks = [False] * len(eqn.outputs)
    for g in branches:
        _, _, o, _ = ad.partial_eval_graph(g, uks)
        out_uks = [a or b for a, b in zip(out_uks, o)]
    splits = [ad.partial_eval_graph(g, uks, out_uks) for g in branches]
    knowns, num_res = zip(*[(k, n) for k, _, _, n in splits])
    joined, res_avals = _join_residuals(knowns, num_res)
    res_vars = [Var(a) for a in res_avals]
    offsets = np.cumsum([0, *num_res])
    unknowns = []
    for i, (_, u, _, n) in enumerate(splits):
        # each unknown branch takes all residuals and uses its own slice
        all_res = [Var(a) for a in res_avals]
        own = u.in_vars[:n]
        all_res[offsets[i]:offsets[i] + n] = own
        unknowns.append(_with_inputs(u, all_res + u.in_vars[n:]))
    index = eqn.inputs[0]
    known_ins = [x for x, u in zip(eqn.inputs[1:], uks) if not u]
    unknown_ins = [x for x, u in zip(eqn.inputs[1:], uks) if u]
    eqn_k = Eqn(cond_p, [index, *known_ins],
                [o for o, u in zip(eqn.outputs, out_uks) if not u] + res_vars,
                dict(branches=tuple(joined)))
    eqn_u = Eqn(cond_p, [index, *res_vars, *unknown_ins],
                [o for o, u in zip(eqn.outputs, out_uks) if u], dict(branches=tuple(unknowns)))
    res = [index] if type(index) is Var else []
    return eqn_k, eqn_u, out_uks, res + res_vars


def _cond_transpose(cts, index, *args, branches):
    if is_undefined(index):
        raise ValueError("funtorch internal error: cond index is linear")
    linear = tuple(is_undefined(x) for x in args)
    ct_nz = tuple(type(c) is not Zero for c in cts)
    from ..transforms.jit import transpose_graph
    new = []
    for g in branches:
        tg, consts = transpose_graph(g, linear, ct_nz)
        if consts:
            raise NotImplementedError("funtorch internal error: constants in a cond transpose")
        new.append(tg)
    outs = iter(bind(cond_p, index, *[x for x in args if not is_undefined(x)],
                     *[c for c in cts if type(c) is not Zero], branches=tuple(new)))
    return [None] + [next(outs) if lin else None for lin in linear]


cond_p.def_impl(_cond_impl)
cond_p.def_abstract_eval(_cond_abstract)
ad.jvp_rules[cond_p] = _cond_jvp
ad.partial_eval_graph_rules[cond_p] = _cond_partial_eval
ad.transpose_rules[cond_p] = _cond_transpose
batching.batching_rules[cond_p] = _cond_batch


# --------------------------------------------------------------------------- scan

scan_p = Primitive("scan", multiple_results=True)


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """JAX's lax.scan: ``f(carry, x) -> (carry, y)``; returns ``(carry, stacked ys)``."""
    x_leaves, x_tree = tree_util.flatten(xs)
    x_leaves = [_as_array(x, "scan") for x in x_leaves]
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
    c_leaves = [_as_array(c, "scan") for c in raw_c_leaves]
    x_avals = [ShapedArray(get_aval(x).shape[1:], get_aval(x).dtype) for x in x_leaves]

    def body(carry, x):
        out = f(carry, x)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError("funtorch.scan: f must return a pair (carry, y)")
        return out

    def trace_body(c_leaves):
        c_avals = [get_aval(c) for c in c_leaves]
        in_tree = tree_util.structure((tree_util.unflatten(c_tree, c_leaves),
                                       tree_util.unflatten(x_tree, x_leaves)))
        return (c_avals, *_trace(body, in_tree, c_avals + x_avals, "scan"))

    c_avals, graph, consts, out_tree = trace_body(c_leaves)
    carry_tree, y_tree = out_tree.children()
    nc_out = carry_tree.num_leaves
    if carry_tree == c_tree:
        promoted = _promote_weak_init(raw_c_leaves, c_leaves, graph.out_avals[:nc_out])
        if promoted is not None:
            c_leaves = promoted
            c_avals, graph, consts, out_tree = trace_body(c_leaves)
            carry_tree, y_tree = out_tree.children()
    if carry_tree != c_tree or [v.aval for v in graph.outs[:nc_out]] != c_avals:
        raise TypeError(
            f"funtorch.scan: the carry must keep its structure and types; init is {c_tree} "
            f"{_types(c_avals)} but f returned {carry_tree} "
            f"{_types([o.aval for o in graph.outs[:nc_out]])}")
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
        outs = _run(body, [*consts, *carry, *[x[i] for x in xs]])
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
    new_body = _permute_graph(jg, perm, operm)
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
        _, _, out_uks, _ = ad.partial_eval_graph(
            body, uk_c + uk_carry + uk_x, list(uk_carry) + [False] * (len(body.outs) - ncar))
        new = [a or b for a, b in zip(uk_carry, out_uks[:ncar])]
        if new == uk_carry:
            break
        uk_carry = new
    inst = list(uk_carry) + [False] * (len(body.outs) - ncar)
    known, unknown, out_uks, num_res = ad.partial_eval_graph(body, uk_c + uk_carry + uk_x, inst)
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


scan_p.def_impl(_scan_impl)
scan_p.def_abstract_eval(_scan_abstract)
ad.jvp_rules[scan_p] = _scan_jvp
ad.partial_eval_graph_rules[scan_p] = _scan_partial_eval
ad.transpose_rules[scan_p] = _scan_transpose
batching.batching_rules[scan_p] = _scan_batch


# --------------------------------------------------------------------------- while

while_p = Primitive("while", multiple_results=True)


def while_loop(cond_fun, body_fun, init_val):
    """JAX's lax.while_loop. Forward-differentiable; for reverse mode use scan/fori_loop
    with static bounds."""
    raw_leaves, tree = tree_util.flatten(init_val)
    leaves = [_as_array(x, "while_loop") for x in raw_leaves]
    avals = [get_aval(x) for x in leaves]
    bg, bconsts, bout = _trace_single(body_fun, tree, avals)
    if bout == tree:
        promoted = _promote_weak_init(raw_leaves, leaves, bg.out_avals)
        if promoted is not None:
            leaves = promoted
            avals = [get_aval(x) for x in leaves]
            bg, bconsts, bout = _trace_single(body_fun, tree, avals)
    cg, cconsts, _ = _trace_single(cond_fun, tree, avals)
    if len(cg.outs) != 1 or cg.out_avals[0].shape != () or not dtypes.is_bool(
            cg.out_avals[0].dtype):
        raise TypeError(f"funtorch.while_loop: cond_fun must return a boolean scalar, got "
                        f"{_types(cg.out_avals)}")
    if bout != tree or bg.out_avals != avals:
        raise TypeError(f"funtorch.while_loop: body_fun must keep the carry's structure and "
                        f"types; got {tree} {_types(avals)} -> {bout} {_types(bg.out_avals)}")
    outs = bind(while_p, *cconsts, *bconsts, *leaves, cond_graph=cg, body_graph=bg,
                cond_nconsts=len(cconsts), body_nconsts=len(bconsts))
    return tree_util.unflatten(tree, outs)


def _trace_single(fun, tree, avals):
    """Stage ``fun(carry)`` where ``carry`` has structure ``tree``."""
    out_tree = []

    def flat(*xs):
        out = fun(tree_util.unflatten(tree, xs))
        leaves, ot = tree_util.flatten(out)
        out_tree.append(ot)
        return [_as_array(x, "while_loop") for x in leaves]

    g, consts = trace_to_graph(flat, avals)
    return g, consts, out_tree[0]


def _while_impl(*args, cond_graph, body_graph, cond_nconsts, body_nconsts):
    cc, bc = args[:cond_nconsts], args[cond_nconsts:cond_nconsts + body_nconsts]
    carry = list(args[cond_nconsts + body_nconsts:])
    while bool(_run(cond_graph, [*cc, *carry])[0]):
        carry = _run(body_graph, [*bc, *carry])
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
    body = _permute_graph(jg, perm)
    n_ct = sum(nz_carry)
    cond = _with_inputs(cond_graph, cond_graph.in_vars + [
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
    from .. import lax
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
        return [lax.reduce_max(p, (0,))]

    def body_fun(*a):
        ccs, bcs, xs = a[:cond_nconsts], a[cond_nconsts:nconst], a[nconst:]
        p = pred_b(ccs, xs)
        new = batching.vmap_flat(lambda *z: eval_graph(body_graph, z), size, [*bcs, *xs],
                                 [*dbc, *[0] * ncar], lambda n: [0] * n)
        return [lax.select_n(lax.broadcast_in_dim(p, get_aval(o).shape, (0,)), x, o)
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
        _, _, out_uks, _ = ad.partial_eval_graph(body_graph, uk_bc + uk_carry, uk_carry)
        new = [a or b for a, b in zip(uk_carry, out_uks)]
        if new == uk_carry:
            break
        uk_carry = new
    ck, _, c_uks, _ = ad.partial_eval_graph(cond_graph, uk_cc + uk_carry)
    if c_uks[0] or all(uk_carry):
        return all_unknown
    bk, _, _, _ = ad.partial_eval_graph(body_graph, uk_bc + uk_carry, uk_carry)
    n_known = sum(not u for u in uk_carry)
    cond_k = ad.dce(Graph(ck.in_vars, ck.eqns, ck.outs[:1]))
    body_k = ad.dce(Graph(bk.in_vars, bk.eqns, bk.outs[:n_known]))
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


while_p.def_impl(_while_impl)
while_p.def_abstract_eval(lambda *avals, cond_graph, body_graph, cond_nconsts, body_nconsts:
                          list(body_graph.out_avals))
ad.jvp_rules[while_p] = _while_jvp
ad.transpose_rules[while_p] = _while_transpose
ad.partial_eval_graph_rules[while_p] = _while_partial_eval
batching.batching_rules[while_p] = _while_batch


# --------------------------------------------------------------------------- fori_loop

def fori_loop(lower, upper, body_fun, init_val):
    """``for i in range(lower, upper): val = body_fun(i, val)``. With Python-int bounds it
    lowers to scan (reverse-differentiable); with traced bounds to while_loop."""
    from .. import lax
    from ..numpy import asarray
    static = not isinstance(lower, Tracer) and not isinstance(upper, Tracer)
    if static:
        lo, hi = int(lower), int(upper)

        def step(carry, _):
            i, val = carry
            return (lax.add(i, np.asarray(1, i.dtype)), body_fun(i, val)), None

        (_, val), _ = scan(step, (asarray(np.int64(lo)), init_val), None,
                           length=max(hi - lo, 0))
        return val
    lo = lax.convert_element_type(asarray(lower), dtypes.int64)
    hi = lax.convert_element_type(asarray(upper), dtypes.int64)
    _, _, val = while_loop(lambda c: lax.lt(c[0], c[1]),
                           lambda c: (lax.add(c[0], np.asarray(1, np.int64)), c[1],
                                      body_fun(c[0], c[2])),
                           (lo, hi, init_val))
    return val
