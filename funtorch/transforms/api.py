"""The user-facing transformations: jvp, linearize, vjp, grad, value_and_grad,
jacfwd, jacrev, hessian, vmap. All take and return pytrees."""

from __future__ import annotations

import functools
import inspect

import numpy as np

from .. import tree as tree_util
from ..core import dtypes
from ..core.graph import eval_graph
from ..core.trace import get_aval
from . import ad, batching
from .ad import Zero, instantiate
from .partial_eval import PartialVal, partial_eval_flat


def _asarray(x):
    from ..numpy import asarray
    return asarray(x)


def _is_float(x):
    return dtypes.is_float(get_aval(x).dtype)


def _is_float0(x):
    d = getattr(x, "dtype", None)   # arrays, tracers and numpy values; other leaves: False
    return isinstance(d, np.dtype) and d == dtypes.float0


def _float0_zeros(shape):
    """float0 values carry no data, so they are plain numpy arrays (as in JAX), never
    traced or staged."""
    return np.zeros(tuple(shape), dtypes.float0)


def _check_diff_inputs(name, flat, argnums, allow_int):
    """JAX's rule for reverse mode: integer/bool inputs are refused unless ``allow_int``,
    when their gradient is a float0 array of their shape."""
    for x in flat:
        d = get_aval(x).dtype
        if dtypes.is_float(d) or (allow_int and (dtypes.is_int(d) or dtypes.is_bool(d))):
            continue
        raise TypeError(
            f"funtorch.{name}: differentiated arguments must be floating point, got {d} "
            f"(shape {tuple(get_aval(x).shape)}, argnums={argnums}). Cast with "
            ".astype(ft.float32), choose other argnums, or pass allow_int=True to get "
            "float0 (data-free zero) gradients for integer and boolean inputs.")


def _check_float_outputs(name, leaves):
    """Reverse-mode Jacobians need a cotangent basis per output: an integer or bool
    output has none (JAX raises the same)."""
    for o in leaves:
        d = get_aval(o).dtype
        if not dtypes.is_float(d):
            raise TypeError(
                f"funtorch.{name}: the function's outputs must be floating point, got {d} "
                f"(shape {tuple(get_aval(o).shape)}). An integer or boolean output has no "
                "derivative: drop it or cast it with .astype(ft.float32), or use ft.vjp "
                "directly (integer outputs take any cotangent and contribute nothing) or "
                "ft.jacfwd (which gives a float0 Jacobian for them).")


# --------------------------------------------------------------------------- jvp / linearize

def _flatten_fun(fun, in_tree):
    """``fun`` on flat leaves; the output structure is appended to the returned list."""
    out_tree = []

    def flat_fun(*xs):
        leaves, ot = tree_util.flatten(fun(*tree_util.unflatten(in_tree, xs)))
        out_tree.append(ot)
        return leaves

    return flat_fun, out_tree


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
    flat_p = [_asarray(p) for p in flat_p]
    flat_t = [(_asarray(np.asarray(t, get_aval(p).dtype)) if dtypes.is_weak(t) else
               _asarray(t)) if _is_float(p) else Zero.from_value(p)
              for p, t in zip(flat_p, flat_t)]
    flat_fun, out_tree = _flatten_fun(fun, tree_p)
    outs, touts = ad.jvp_flat(flat_fun, flat_p, flat_t)
    touts = [instantiate(t) for t in touts]
    out = tree_util.unflatten(out_tree[0], outs)
    tout = tree_util.unflatten(out_tree[0], touts)
    if has_aux:
        return out[0], tout[0], out[1]
    return out, tout


def _dtype_name(d):
    return "float0" if d == dtypes.float0 else str(d)


def linearize_flat(f, primals):
    """Returns ``(primal_outs, lin_graph, consts, diff, out_float)``.

    ``lin_graph`` maps ``consts`` followed by the tangents of the float inputs to the
    tangents of the float outputs.
    """
    n = len(primals)
    diff = [_is_float(p) for p in primals]
    out_info = []

    def jvp_fun(*args):
        ps, ts_in = args[:n], iter(args[n:])
        ts = [next(ts_in) if d else Zero.from_value(p) for p, d in zip(ps, diff)]
        outs, touts = ad.jvp_flat(f, ps, ts)
        out_float = [_is_float(o) for o in outs]
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
    from ..core.graph import Graph, Var
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
    flat_p = [_asarray(p) for p in flat_p]
    flat_fun, out_tree = _flatten_fun(fun, tree_p)
    outs, graph, consts, diff, out_float = linearize_flat(flat_fun, flat_p)

    def f_jvp(*tangents):
        flat_t, tree_t = tree_util.flatten(list(tangents))
        if tree_t != tree_p:
            raise TypeError("funtorch.linearize: tangents must match the primals' structure")
        ts = [_asarray(t) for t, d in zip(flat_t, diff) if d]
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
    flat_p = [_asarray(p) for p in flat_p]
    out_tree, aux_store = [], []

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

    outs, vjp_flat_fn = vjp_flat(flat_fun, flat_p)
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
                cts.append(_asarray(np.asarray(c, od)))
            elif dtypes.is_float(get_aval(c).dtype):
                cts.append(_asarray(c))
            else:
                cd = get_aval(c).dtype
                raise TypeError(
                    f"funtorch.vjp: the cotangent for an output of dtype {od} (shape "
                    f"{np.shape(o)}) must be floating point, got "
                    f"{'float0' if cd == dtypes.float0 else cd}; only integer and boolean "
                    "outputs take float0 cotangents.")
        cts += [Zero(get_aval(a)) for a in outs[n_out:]]
        g = vjp_flat_fn(cts)
        return tuple(tree_util.unflatten(tree_p, g))

    if has_aux:
        aux_tree, _ = aux_store[0]
        return primal_out, vjp_fn, tree_util.unflatten(aux_tree, outs[n_out:])
    return primal_out, vjp_fn


def _argnums_tuple(argnums, nargs, name):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not -nargs <= i < nargs:
            raise ValueError(f"funtorch.{name}: argnums {argnums} out of range for a function "
                             f"called with {nargs} positional arguments")
    return tuple(i % nargs for i in nums)


def value_and_grad(fun, argnums=0, has_aux=False, allow_int=False):
    """``(fun(*args), grad)``; ``fun`` must return a float scalar (plus aux if has_aux)."""

    @functools.wraps(fun)
    def vg(*args, **kwargs):
        nums = _argnums_tuple(argnums, len(args), "grad")
        diff_args = [args[i] for i in nums]
        flat, tree_d = tree_util.flatten(diff_args)
        flat = [_asarray(x) for x in flat]
        _check_diff_inputs("grad", flat, argnums, allow_int)
        aux_store = []

        def flat_fun(*xs):
            d = tree_util.unflatten(tree_d, xs)
            full = list(args)
            for i, v in zip(nums, d):
                full[i] = v
            out = fun(*full, **kwargs)
            if has_aux:
                if not (isinstance(out, (tuple, list)) and len(out) == 2):
                    raise TypeError("funtorch.grad(has_aux=True): the function must return a "
                                    "pair (output, aux)")
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
            return (outs[0], tree_util.unflatten(aux_store[0], outs[1:])), g
        return outs[0], g

    return vg


def grad(fun, argnums=0, has_aux=False, allow_int=False):
    """The gradient of a scalar function with respect to ``args[argnums]``."""
    vg = value_and_grad(fun, argnums, has_aux, allow_int)

    @functools.wraps(fun)
    def g(*args, **kwargs):
        res, gr = vg(*args, **kwargs)
        if has_aux:
            return gr, res[1]
        return gr

    return g


# --------------------------------------------------------------------------- vmap

def _flatten_axes(name, axes, tree):
    """Broadcast an axis spec (int/None or a prefix tree of them) to the leaves of ``tree``."""
    import optree
    try:
        return optree.tree_broadcast_prefix(axes, tree, none_is_leaf=True,
                                            namespace=tree_util.NAMESPACE)
    except ValueError as e:
        raise ValueError(f"funtorch.vmap: {name} {axes!r} does not match the structure of the "
                         f"arguments: {e}") from None


def vmap(fun, in_axes=0, out_axes=0, axis_size=None):
    """Vectorise ``fun`` over a mapped axis of its arguments (JAX's vmap)."""
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    if not (in_axes is None or isinstance(in_axes, (int, tuple, dict))):
        raise TypeError(f"funtorch.vmap: in_axes must be an int, None or a tuple, got "
                        f"{type(in_axes).__name__}")

    @functools.wraps(fun)
    def batched(*args, **kwargs):
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise ValueError(f"funtorch.vmap: in_axes has {len(in_axes)} entries but the "
                             f"function was called with {len(args)} positional arguments")
        spec = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
        leaves, treedef = tree_util.flatten((list(args), kwargs))
        axes_flat = _broadcast_leaves_axes(args, kwargs, spec)
        vals, dims = [], []
        sizes = []
        for i, (x, ax) in enumerate(zip(leaves, axes_flat)):
            if ax is not None and type(ax) is not int:
                ax = batching.axis_index(ax, "in_axes",
                                         _arg_names(fun, args, kwargs).get(i, f"leaf {i}"))
            x = _asarray(x) if ax is not None else x
            if ax is not None:
                nd = get_aval(x).ndim
                if not -nd <= ax < nd:
                    name = _arg_names(fun, args, kwargs).get(i, f"leaf {i}")
                    fix = (f"in_axes must be within range [{-nd}, {nd}) for it, or None to "
                           "pass it unmapped" if nd else
                           "a rank-0 argument has no axis to map: use in_axes=None for it")
                    raise ValueError(f"funtorch.vmap: in_axes={ax} is out of range for {name} "
                                     f"of rank {nd} (shape {get_aval(x).shape}); {fix}")
                ax = ax % nd
                sizes.append((i, get_aval(x).shape, ax, get_aval(x).shape[ax]))
            vals.append(x)
            dims.append(ax)
        size = axis_size
        found = {s for *_, s in sizes}
        if len(found) > 1 or (size is not None and found and found != {size}):
            names = _arg_names(fun, args, kwargs)
            lines = [f"  {names.get(i, f'leaf {i}')} of shape {shp} has size {s} along axis {ax}"
                     for i, shp, ax, s in sizes]
            if size is not None:
                lines.append(f"  axis_size={size} was given")
            raise ValueError("funtorch.vmap: inconsistent sizes for the mapped axis:\n"
                             + "\n".join(lines))
        if size is None:
            if not found:
                raise ValueError("funtorch.vmap: no argument is mapped (all in_axes are None); "
                                 "pass axis_size=")
            size = found.pop()
        out_tree, float0_outs = [], {}

        def flat_fun(*xs):
            a, kw = tree_util.unflatten(treedef, xs)
            out = fun(*a, **kw)
            ls, ot = tree_util.flatten(out)
            out_tree.append((ot, out))
            # float0 outputs (tangents of integers) hold no data: they skip batching and
            # are rebuilt with the mapped axis below
            float0_outs.update((i, get_aval(o).shape) for i, o in enumerate(ls)
                               if _is_float0(o))
            return [o for i, o in enumerate(ls) if i not in float0_outs]

        def all_out_dims():
            ot, out = out_tree[0]
            spec_o = _flatten_axes("out_axes", out_axes, out)
            return tree_util.leaves(spec_o, is_leaf=lambda x: x is None)

        def out_dims_fn(n):
            return [d for i, d in enumerate(all_out_dims()) if i not in float0_outs] if n \
                else []

        outs = iter(batching.vmap_flat(flat_fun, size, vals, dims, out_dims_fn))
        if float0_outs:
            res = []
            for i, d in enumerate(all_out_dims()):
                if i not in float0_outs:
                    res.append(next(outs))
                    continue
                shape = list(float0_outs[i])
                if d is not None:
                    shape.insert(batching.canonical_out_axis(d, shape, size, f"output {i}"),
                                 size)
                res.append(_float0_zeros(shape))
            outs = res
        return tree_util.unflatten(out_tree[0][0], list(outs))

    return batched


def _broadcast_leaves_axes(args, kwargs, spec):
    out = []
    for a, s in zip(args, spec):
        b = _flatten_axes("in_axes", s, a)
        out.extend(tree_util.leaves(b, is_leaf=lambda x: x is None))
    for k in sorted(kwargs):
        out.extend([0] * len(tree_util.leaves(kwargs[k])))
    return out


def _arg_names(fun, args, kwargs=None):
    try:
        params = list(inspect.signature(fun).parameters)
    except (TypeError, ValueError):
        params = []
    names = {}
    idx = 0
    labelled = [(f"argument {i}" + (f" ('{params[i]}')" if i < len(params) else ""), a)
                for i, a in enumerate(args)]
    labelled += [(f"keyword argument '{k}'", kwargs[k]) for k in sorted(kwargs or {})]
    for label, a in labelled:
        n = len(tree_util.leaves(a))
        for j in range(n):
            names[idx + j] = label if n == 1 else f"{label} leaf {j}"
        idx += n
    return names


# --------------------------------------------------------------------------- jacobians

def _std_basis(flat):
    """One-hot tangents stacked along a new leading axis, for every input element."""
    sizes = [int(np.prod(np.shape(x), dtype=np.int64)) for x in flat]
    total = sum(sizes)
    eye = np.eye(total, dtype=np.float64)
    out, start = [], 0
    for x, n in zip(flat, sizes):
        a = get_aval(x)
        out.append(_asarray(eye[:, start:start + n].reshape((total, *a.shape)).astype(a.dtype)))
        start += n
    return out, total


def jacfwd(fun, argnums=0, has_aux=False):
    """Jacobian by forward mode: output shape = out.shape + in.shape."""

    def jac(*args):
        nums = _argnums_tuple(argnums, len(args), "jacfwd")
        dargs = [args[i] for i in nums]
        flat, tree_d = tree_util.flatten(dargs)
        flat = [_asarray(x) for x in flat]
        for x in flat:
            if not _is_float(x):
                raise TypeError(
                    f"funtorch.jacfwd: differentiated arguments must be floating point, got "
                    f"{get_aval(x).dtype} (shape {tuple(get_aval(x).shape)}, "
                    f"argnums={argnums}): forward mode pushes a float tangent through every "
                    "input element. Cast with .astype(ft.float32), choose other argnums, or "
                    "use ft.jvp with float0 tangents (or ft.jacrev(..., allow_int=True)) "
                    "for integer inputs.")
        basis, total = _std_basis(flat)

        def f_flat(*xs):
            full = list(args)
            for i, v in zip(nums, tree_util.unflatten(tree_d, xs)):
                full[i] = v
            return fun(*full)

        def push(*ts):
            return jvp(f_flat, tuple(flat), tuple(ts), has_aux=has_aux)

        if has_aux:
            out, t_out, aux = vmap(push, in_axes=0, out_axes=(None, -1, None))(*basis)
        else:
            out, t_out = vmap(push, in_axes=0, out_axes=-1)(*basis)

        def per_output(t):
            if _is_float0(t):   # an integer output: a float0 Jacobian, as in JAX
                lead = get_aval(t).shape[:-1]
                parts = [_float0_zeros((*lead, *get_aval(x).shape)) for x in flat]
            else:
                parts = _split_last(t, flat)
            parts = tree_util.unflatten(tree_d, parts)
            return parts[0] if isinstance(argnums, int) else tuple(parts)

        jac_tree = tree_util.map(per_output, t_out)
        return (jac_tree, aux) if has_aux else jac_tree

    return jac


def _split_last(t, flat):
    from ..numpy import reshape
    out, start = [], 0
    a = get_aval(t)
    lead = a.shape[:-1]
    from .. import lax
    for x in flat:
        shp = get_aval(x).shape
        n = int(np.prod(shp, dtype=np.int64))
        part = lax.slice_in_dim(t, start, start + n, 1, a.ndim - 1)
        out.append(reshape(part, (*lead, *shp)))
        start += n
    return out


def jacrev(fun, argnums=0, has_aux=False, allow_int=False):
    """Jacobian by reverse mode: output shape = out.shape + in.shape. Outputs must be
    floating point; integer inputs need ``allow_int=True`` and get float0 Jacobians."""

    def jac(*args):
        nums = _argnums_tuple(argnums, len(args), "jacrev")
        dargs = [args[i] for i in nums]
        _check_diff_inputs("jacrev", [_asarray(x) for x in tree_util.leaves(dargs)],
                           argnums, allow_int)

        def f_d(*d):
            full = list(args)
            for i, v in zip(nums, d):
                full[i] = v
            return fun(*full)

        if has_aux:
            out, vjp_fn, aux = vjp(f_d, *dargs, has_aux=True)
        else:
            out, vjp_fn = vjp(f_d, *dargs)
        flat_o, tree_o = tree_util.flatten(out)
        _check_float_outputs("jacrev", flat_o)
        basis, total = _std_basis(flat_o)
        cts = vmap(lambda *b: vjp_fn(tree_util.unflatten(tree_o, list(b))))(*basis)
        # cts: tuple over dargs, leaves with shape (total,) + in.shape
        per_out = []
        start = 0
        from .. import lax
        from ..numpy import reshape
        for o in flat_o:
            shp = get_aval(o).shape
            n = int(np.prod(shp, dtype=np.int64))

            def pick(c, shp=shp, start=start, n=n):
                if _is_float0(c):   # an integer input (allow_int=True)
                    return _float0_zeros((*shp, *get_aval(c).shape[1:]))
                part = lax.slice_in_dim(c, start, start + n, 1, 0)
                return reshape(part, (*shp, *get_aval(c).shape[1:]))

            per_out.append(tree_util.map(pick, cts))
            start += n
        res = [p[0] if isinstance(argnums, int) else tuple(p) for p in per_out]
        res = tree_util.unflatten(tree_o, res)
        return (res, aux) if has_aux else res

    return jac


def hessian(fun, argnums=0, has_aux=False):
    return jacfwd(jacrev(fun, argnums, has_aux=has_aux), argnums, has_aux=has_aux)
