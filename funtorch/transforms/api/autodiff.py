"""Forward and reverse mode: jvp, linearize, vjp, grad, value_and_grad (vjp = linearize +
transpose, as in JAX)."""

from __future__ import annotations

import functools

import numpy as np

from ... import tree as tree_util
from ...core import dtypes
from ...core.graph import eval_graph
from ...core.trace import get_aval
from .. import ad
from ..ad import Zero, instantiate
from ..partial_eval import PartialVal, partial_eval_flat
from ._util import (
    AuxPass,
    argnums_tuple,
    asarray,
    check_callable,
    check_diff_inputs,
    check_holomorphic,
    float0_zeros,
    is_float,
)


def _flatten_fun(fun, in_tree):
    """``fun`` on flat leaves; the output structure is appended to the returned list."""
    out_tree = []

    def flat_fun(*xs):
        leaves, ot = tree_util.flatten(fun(*tree_util.unflatten(in_tree, xs)))
        out_tree.append(ot)
        return leaves

    return flat_fun, out_tree


class _WeakInts:
    """Python int/bool primals have no derivative (their tangents are float0), so the
    function closes over them: inside it they stay Python scalars, weakly typed as in
    JAX (``x_f32 * (n + 1)`` stays float32), as grad does for the arguments it does not
    differentiate. The other leaves are the traced primals: arrays, and Python floats
    as they are, whose tracers are weakly typed (``weak_aval``), as under jit."""

    def __init__(self, flat_p):
        self.flat_p = flat_p
        self.mask = [dtypes.is_weak(p) and not isinstance(p, float) for p in flat_p]
        self.primals = [p if dtypes.is_weak(p) else asarray(p)
                        for p, m in zip(flat_p, self.mask) if not m]

    def drop(self, xs):
        """Per-leaf values -> those of the traced primals."""
        return [x for x, m in zip(xs, self.mask) if not m]

    def merge(self, xs, fill=None):
        """Values of the traced primals back at their leaf positions; the closed-over
        leaves get ``fill`` (by default the Python scalar itself)."""
        it = iter(xs)
        return [(p if fill is None else fill) if m else next(it)
                for p, m in zip(self.flat_p, self.mask)]

    def close(self, flat_fun):
        return lambda *xs: flat_fun(*self.merge(xs))


def jvp(fun, primals, tangents, has_aux=False):
    """Forward mode: ``(fun(*primals), J @ tangents)``."""
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("funtorch.jvp: primals and tangents must be tuples or lists, e.g. "
                        "ft.jvp(f, (x,), (t,))")
    flat_p, tree_p = tree_util.flatten(list(primals))
    flat_t, tree_t = tree_util.flatten(list(tangents))
    if tree_p != tree_t:
        raise TypeError(f"funtorch.jvp: primals and tangents must have the same structure, got "
                        f"{tree_p} and {tree_t}")
    for p, t in zip(flat_p, flat_t):
        ap, at = get_aval(p), get_aval(t)
        if ap.shape != at.shape:
            raise ValueError(f"funtorch.jvp: primal shape {ap.shape} and tangent shape "
                             f"{at.shape} differ; each tangent must have its primal's shape "
                             "(and dtype)")
        if dtypes.is_weak(t) and dtypes.is_float(ap.dtype):
            continue   # a Python scalar tangent takes the primal's dtype
        want = ap.dtype if dtypes.is_float(ap.dtype) else dtypes.float0
        if at.dtype != want:
            # JAX's rule: a tangent has exactly its primal's dtype (float0 for int/bool)
            fix = (f"cast the tangent with .astype(ft.{want})" if dtypes.is_float(ap.dtype)
                   else "pass np.zeros(shape, ft.float0)")
            raise TypeError(
                f"funtorch.jvp: a primal of dtype {ap.dtype} (shape {ap.shape}) needs a "
                f"{_dtype_name(want)} tangent, got a tangent of dtype {_dtype_name(at.dtype)}. "
                "Primal and tangent dtypes must be equal, or in case of an int/bool primal "
                "the tangent dtype must be float0 (as in JAX); " + fix)
    weak_ints = _WeakInts(flat_p)
    flat_t = [(asarray(np.asarray(t, get_aval(p).dtype)) if dtypes.is_weak(t) else
               asarray(t)) if is_float(p) else Zero.from_value(p)
              for p, t in zip(flat_p, flat_t)]
    if has_aux:
        fun = AuxPass(fun, "jvp")
    flat_fun, out_tree = _flatten_fun(fun, tree_p)
    outs, touts = ad.jvp_flat(weak_ints.close(flat_fun), weak_ints.primals,
                              weak_ints.drop(flat_t))
    touts = [instantiate(t) for t in touts]
    out = tree_util.unflatten(out_tree[0], outs)
    tout = tree_util.unflatten(out_tree[0], touts)
    if has_aux:
        return out[0], tout[0], fun.restore(out[1])
    return out, tout


def _dtype_name(d):
    return "float0" if d == dtypes.float0 else str(d)


def linearize_flat(f, primals):
    """Returns ``(primal_outs, lin_graph, consts, diff, out_float)``.

    ``lin_graph`` maps ``consts`` followed by the tangents of the float inputs to the
    tangents of the float outputs.
    """
    n = len(primals)
    diff = [is_float(p) for p in primals]
    out_info = []

    def jvp_fun(*args):
        ps, ts_in = args[:n], iter(args[n:])
        ts = [next(ts_in) if d else Zero.from_value(p) for p, d in zip(ps, diff)]
        outs, touts = ad.jvp_flat(f, ps, ts)
        out_float = [is_float(o) for o in outs]
        out_info.append(out_float)
        return [*outs, *[instantiate(t) for t, fl in zip(touts, out_float) if fl]]

    pvals = [PartialVal.known(p) for p in primals] + [
        PartialVal.unknown(get_aval(p)) for p, d in zip(primals, diff) if d]
    graph, pvals_out, consts = partial_eval_flat(jvp_fun, pvals)
    out_float = out_info[0]
    n_out = len(out_float)
    primal_outs = []
    for pv in pvals_out[:n_out]:
        if not pv.is_known:
            raise RuntimeError("funtorch internal error: a primal output depends on tangents")
        primal_outs.append(pv.const)
    # tangent outputs that turned out known (e.g. zero) are constants of the linear map
    lin_outs = pvals_out[n_out:]
    if any(pv.is_known for pv in lin_outs):
        graph, consts = _append_known_outputs(graph, consts, lin_outs)
    return primal_outs, graph, consts, diff, out_float


def _append_known_outputs(graph, consts, pvals):
    """Rebuild ``graph`` so that known tangent outputs appear as constant outputs."""
    from ...core.graph import Graph, Var
    nc = len(consts)
    unknown_outs = iter(graph.outs)
    new_consts_vars, new_consts, outs = [], [], []
    for pv in pvals:
        if pv.is_known:
            v = Var(pv.aval)
            new_consts_vars.append(v)
            new_consts.append(pv.const)
            outs.append(v)
        else:
            outs.append(next(unknown_outs))
    in_vars = graph.in_vars[:nc] + new_consts_vars + graph.in_vars[nc:]
    return Graph(in_vars, graph.eqns, outs), [*consts, *new_consts]


def linearize(fun, *primals):
    """``(fun(*primals), f_jvp)`` where ``f_jvp(*tangents)`` evaluates the linear map."""
    flat_p, tree_p = tree_util.flatten(list(primals))
    weak_ints = _WeakInts(flat_p)
    flat_fun, out_tree = _flatten_fun(fun, tree_p)
    outs, graph, consts, diff, out_float = linearize_flat(weak_ints.close(flat_fun),
                                                          weak_ints.primals)

    def f_jvp(*tangents):
        flat_t, tree_t = tree_util.flatten(list(tangents))
        if tree_t != tree_p:
            raise TypeError("funtorch.linearize: tangents must match the primals' structure")
        ts = [asarray(t) for t, d in zip(weak_ints.drop(flat_t), diff) if d]
        touts = iter(eval_graph(graph, [*consts, *ts]))
        res = [next(touts) if fl else np.zeros(np.shape(o), dtypes.float0)
               for o, fl in zip(outs, out_float)]
        return tree_util.unflatten(out_tree[0], res)

    return tree_util.unflatten(out_tree[0], outs), f_jvp


# --------------------------------------------------------------------------- vjp / grad

def vjp_flat(f, primals):
    primal_outs, lin, consts, diff, out_float = linearize_flat(f, primals)
    nc = len(consts)

    def vjp_fun(cts):
        cts_f = [c for c, fl in zip(cts, out_float) if fl]
        n_lin = len(lin.in_vars) - nc
        cts_in = ad.backward_pass(lin, [False] * nc + [True] * n_lin,
                                  [*consts] + [None] * n_lin, cts_f)[nc:]
        it = iter(cts_in)
        return [instantiate(next(it)) if d else np.zeros(np.shape(p), dtypes.float0)
                for p, d in zip(primals, diff)]

    return primal_outs, vjp_fun


def vjp(fun, *primals, has_aux=False):
    """``(fun(*primals), vjp_fn)``; ``vjp_fn(ct)`` returns a tuple, one entry per primal."""
    flat_p, tree_p = tree_util.flatten(list(primals))
    weak_ints = _WeakInts(flat_p)
    out_tree, aux_store = [], []
    if has_aux:
        fun = AuxPass(fun, "vjp")

    def flat_fun(*xs):
        out = fun(*tree_util.unflatten(tree_p, xs))
        if has_aux:
            out, aux = out
            aux_leaves, aux_tree = tree_util.flatten(aux)
            aux_store.append((aux_tree, len(aux_leaves)))
        else:
            aux_leaves = []
        leaves, ot = tree_util.flatten(out)
        out_tree.append((ot, len(leaves)))
        return [*leaves, *aux_leaves]

    outs, vjp_flat_fn = vjp_flat(weak_ints.close(flat_fun), weak_ints.primals)
    ot, n_out = out_tree[0]
    primal_out = tree_util.unflatten(ot, outs[:n_out])

    def vjp_fn(ct):
        flat_ct, ct_tree = tree_util.flatten(ct)
        if ct_tree != ot:
            raise TypeError(f"funtorch.vjp: cotangent structure {ct_tree} does not match the "
                            f"output structure {ot}")
        for c, o in zip(flat_ct, outs):
            if np.shape(c) != np.shape(o):
                raise ValueError(f"funtorch.vjp: cotangent shape {np.shape(c)} does not match "
                                 f"output shape {np.shape(o)}")
        cts = []
        for c, o in zip(flat_ct, outs):
            od = get_aval(o).dtype
            if not dtypes.is_float(od):   # integer outputs take any cotangent, as in JAX
                cts.append(Zero(get_aval(o).tangent_aval()))
            elif dtypes.is_weak(c):
                cts.append(asarray(np.asarray(c, od)))
            elif dtypes.is_float(get_aval(c).dtype):
                cts.append(asarray(c))
            else:
                cd = get_aval(c).dtype
                raise TypeError(
                    f"funtorch.vjp: the cotangent for an output of dtype {od} (shape "
                    f"{np.shape(o)}) must be floating point, got "
                    f"{'float0' if cd == dtypes.float0 else cd}; only integer and boolean "
                    "outputs take float0 cotangents.")
        cts += [Zero(get_aval(a)) for a in outs[n_out:]]
        g = weak_ints.merge(vjp_flat_fn(cts), float0_zeros(()))
        return tuple(tree_util.unflatten(tree_p, g))

    if has_aux:
        aux_tree, _ = aux_store[0]
        return primal_out, vjp_fn, fun.restore(tree_util.unflatten(aux_tree, outs[n_out:]))
    return primal_out, vjp_fn


def value_and_grad(fun, argnums=0, has_aux=False, holomorphic=False, allow_int=False):
    """``(fun(*args), grad)``; ``fun`` must return a float scalar (plus aux if has_aux)."""
    check_holomorphic("value_and_grad", holomorphic)
    check_callable("value_and_grad", fun)

    @functools.wraps(fun)
    def vg(*args, **kwargs):
        aux_fun = AuxPass(fun, "grad") if has_aux else fun
        nums = argnums_tuple(argnums, len(args), "grad")
        diff_args = [args[i] for i in nums]
        flat, tree_d = tree_util.flatten(diff_args)
        flat = [asarray(x) for x in flat]
        check_diff_inputs("grad", flat, argnums, allow_int)
        aux_store = []

        def flat_fun(*xs):
            d = tree_util.unflatten(tree_d, xs)
            full = list(args)
            for i, v in zip(nums, d):
                full[i] = v
            out = aux_fun(*full, **kwargs)
            if has_aux:
                out, aux = out
                aux_leaves, aux_tree = tree_util.flatten(aux)
                aux_store.append(aux_tree)
            else:
                aux_leaves = []
            if isinstance(out, (tuple, list, dict)):
                raise TypeError(f"funtorch.grad: the function must return a scalar array, got "
                                f"a {type(out).__name__}. Use has_aux=True to return extra "
                                "values, or ft.vjp / ft.jacrev for non-scalar outputs.")
            a = get_aval(out)
            if a.shape != ():
                raise TypeError(
                    f"funtorch.grad: the function must return a scalar (shape ()), got shape "
                    f"{a.shape}. Reduce it first, e.g. return loss.sum() or loss.mean(), or use "
                    "ft.vjp / ft.jacrev for non-scalar outputs.")
            if not dtypes.is_float(a.dtype):
                raise TypeError(f"funtorch.grad: the output must be floating point, got "
                                f"{a.dtype}. An integer or boolean output has no gradient: "
                                "cast it with .astype(ft.float32) before returning it, or "
                                "use ft.vjp directly.")
            return [out, *aux_leaves]

        outs, vjp_fn = vjp_flat(flat_fun, flat)
        one = np.ones((), get_aval(outs[0]).dtype)
        g = vjp_fn([one] + [Zero(get_aval(a)) for a in outs[1:]])
        g = tree_util.unflatten(tree_d, g)
        g = g[0] if isinstance(argnums, int) else tuple(g)
        if has_aux:
            return (outs[0], aux_fun.restore(tree_util.unflatten(aux_store[0], outs[1:]))), g
        return outs[0], g

    return vg


def grad(fun, argnums=0, has_aux=False, holomorphic=False, allow_int=False):
    """The gradient of a scalar function with respect to ``args[argnums]``."""
    check_holomorphic("grad", holomorphic)
    check_callable("grad", fun)
    vg = value_and_grad(fun, argnums, has_aux, holomorphic, allow_int)

    @functools.wraps(fun)
    def g(*args, **kwargs):
        res, gr = vg(*args, **kwargs)
        if has_aux:
            return gr, res[1]
        return gr

    return g
