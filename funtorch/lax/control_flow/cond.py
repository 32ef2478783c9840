"""cond/switch: a primitive whose params hold one graph per branch.

Every branch graph takes the same inputs (all branches' constants, then the operands),
so the rules can transform the branches in lockstep.
"""

from __future__ import annotations

import numpy as np

from ... import tree as tree_util
from ...core import dtypes
from ...core.graph import Eqn, Var, eval_graph
from ...core.trace import Primitive, bind, get_aval
from ...core.tracing import trace_to_graph
from ...transforms import ad, batching
from ...transforms import partial_eval as pe
from ...transforms.ad import Zero, is_undefined, jvp_graph, transpose_graph
from ...transforms.batching import batch_graph
from .. import elementwise
from ..elementwise import convert_element_type, ne, select_n
from ..shape import broadcast_in_dim
from ._common import (
    as_array,
    def_rules,
    fmt_types,
    run_graph,
    stage_inputs,
    trace_fun,
    with_inputs,
)

cond_p = Primitive("cond", kind="control_flow", multiple_results=True)


def cond(pred, true_fun, false_fun, *operands):
    """``true_fun(*operands) if pred else false_fun(*operands)``, staged (JAX's lax.cond)."""
    if not callable(true_fun) or not callable(false_fun):
        raise TypeError("funtorch.cond: signature is cond(pred, true_fun, false_fun, *operands)")
    p_aval = get_aval(pred)
    if p_aval.shape != ():
        raise TypeError(f"funtorch.cond: pred must be a scalar, got {p_aval.str_short()}; use "
                        "ft.where for elementwise selection")
    if isinstance(pred, (bool, int, float, np.generic)) or not dtypes.is_bool(p_aval.dtype):
        pred = as_array(pred, "cond")
        pred = ne(pred, np.zeros((), get_aval(pred).dtype))
    index = convert_element_type(pred, dtypes.int32)
    return switch(index, [false_fun, true_fun], *operands, _name="cond")


def switch(index, branches, *operands, _name="switch"):
    """``branches[index](*operands)`` with the index clamped, as JAX's lax.switch."""
    if not branches:
        raise ValueError("funtorch.switch: need at least one branch")
    i_aval = get_aval(index)
    if i_aval.shape != () or not dtypes.is_int(i_aval.dtype):
        # JAX refuses a float index rather than truncating it
        got = i_aval.dtype if i_aval.shape == () else f"shape {i_aval.shape} {i_aval.dtype}"
        raise TypeError(f"funtorch.switch: index must be an integer scalar, got {got}; "
                        "convert it with .astype(ft.int32)")
    flat, in_tree = tree_util.flatten(list(operands))
    flat, avals = stage_inputs(flat, _name)
    weak = [[] for _ in branches]
    traced = [trace_fun(b, in_tree, avals, _name, w) for b, w in zip(branches, weak, strict=True)]
    traced = _promote_weak_outputs(branches, traced, weak, in_tree, avals, _name)
    out_tree = traced[0][2]
    for g, _, ot in traced[1:]:
        if ot != out_tree or g.out_avals != traced[0][0].out_avals:
            raise TypeError(
                f"funtorch.{_name}: branches must return the same structure and types; got "
                f"{out_tree} {fmt_types(traced[0][0].out_avals)} and {ot} {fmt_types(g.out_avals)}")
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
        graphs.append(with_inputs(g, pad_before + g.in_vars[:nc] + pad_after + g.in_vars[nc:]))
    index = convert_element_type(index, dtypes.int32)
    index = elementwise.max(elementwise.min(index, np.int32(len(branches) - 1)), np.int32(0))
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
    return [trace_fun(fn, in_tree, avals, name, cast_out=c) if any(d is not None for d in c)
            else t for fn, t, c in zip(branches, traced, casts, strict=True)]



def _cond_impl(index, *args, branches):
    return run_graph(branches[int(index)], args)


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
        idx = broadcast_in_dim(index, shape, (0,))
        outs.append(select_n(idx, *cases))
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
        _, _, o, _ = pe.partial_eval_graph(g, uks)
        out_uks = [a or b for a, b in zip(out_uks, o)]
    splits = [pe.partial_eval_graph(g, uks, out_uks) for g in branches]
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
        unknowns.append(with_inputs(u, all_res + u.in_vars[n:]))
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
    new = []
    for g in branches:
        tg, consts = transpose_graph(g, linear, ct_nz)
        if consts:
            raise NotImplementedError("funtorch internal error: constants in a cond transpose")
        new.append(tg)
    outs = iter(bind(cond_p, index, *[x for x in args if not is_undefined(x)],
                     *[c for c in cts if type(c) is not Zero], branches=tuple(new)))
    return [None] + [next(outs) if lin else None for lin in linear]


def_rules(cond_p, impl=_cond_impl, abstract_eval=_cond_abstract, jvp=_cond_jvp,
          partial_eval=_cond_partial_eval, transpose=_cond_transpose, batch=_cond_batch)
