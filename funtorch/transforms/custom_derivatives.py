"""custom_vjp: user-defined reverse-mode rules (JAX's ``jax.custom_vjp``).

``custom_vjp_call_p`` evaluates the primal function normally; its JVP rule runs the
user's ``fwd`` (traced lazily: the ``fwd_graph`` parameter is a thunk) and emits
``custom_lin_p`` for the tangents: a linear primitive whose transpose is the user's
``bwd``. So reverse mode uses ``bwd``, while forward mode
(which would need the JVP of ``bwd``'s transpose) is rejected with a clear error.
"""

from __future__ import annotations

import functools
import inspect

from .. import tree as tree_util
from ..core import dtypes
from ..core.abstract import ShapedArray
from ..core.array import Array
from ..core.graph import eval_graph
from ..core.trace import Primitive, as_array, bind, get_aval, weak_aval
from ..core.tracing import trace_to_graph
from . import ad, batching
from .ad import Zero, is_undefined

custom_vjp_call_p = Primitive("custom_vjp_call", kind="control_flow", multiple_results=True)
custom_lin_p = Primitive("custom_lin", kind="control_flow", multiple_results=True)


class custom_vjp:  # noqa: N801 - JAX's name
    """Decorate ``f``, then ``f.defvjp(fwd, bwd)``:

    ``fwd(*args) -> (out, residuals)`` and ``bwd(residuals, ct_out) -> tuple of cts``,
    one per positional argument (``None`` for a zero cotangent).
    """

    def __init__(self, fun, nondiff_argnums=()):
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.fwd = self.bwd = None
        try:
            self._sig = inspect.signature(fun)
        except (TypeError, ValueError):   # some builtins
            self._sig = None
        functools.update_wrapper(self, fun, updated=())  # never copy fun.__dict__ over ours

    def defvjp(self, fwd, bwd):
        self.fwd, self.bwd = fwd, bwd
        return self

    def __call__(self, *args, **kwargs):
        if self.fwd is None:
            raise TypeError(f"funtorch.custom_vjp: define the rule with "
                            f"{getattr(self.fun, '__name__', 'f')}.defvjp(fwd, bwd) first")
        args = _resolve_kwargs(self._sig, args, kwargs)
        nondiff = {i: args[i] for i in self.nondiff_argnums}
        dyn = [a for i, a in enumerate(args) if i not in nondiff]
        raw, in_tree = tree_util.flatten(dyn)
        avals = [weak_aval(x) for x in raw]   # Python scalars stay weak, as under jit
        flat = [as_array(x) for x in raw]

        def full_args(xs):
            it = iter(tree_util.unflatten(in_tree, xs))
            return [nondiff[i] if i in nondiff else next(it) for i in range(len(args))]

        out_tree, res_tree = [], []

        def fun_flat(*xs):
            out = self.fun(*full_args(xs))
            leaves, ot = tree_util.flatten(out)
            out_tree.append(ot)
            return [as_array(o) for o in leaves]

        fun_graph, fun_consts = trace_to_graph(fun_flat, avals, closed=True)
        _check_no_consts(fun_consts)
        n_out = len(fun_graph.outs)

        @functools.cache
        def fwd_graph():
            """fwd's graph, traced only when a JVP needs it: fwd may call the decorated
            function itself (JAX's ``f_fwd(x): return f(x), res``), which then binds a
            plain call instead of tracing fwd again (an endless recursion)."""

            def fwd_flat(*xs):
                res = self.fwd(*full_args(xs))
                if not (isinstance(res, tuple) and len(res) == 2):
                    raise TypeError("funtorch.custom_vjp: fwd must return (output, residuals)")
                out, r = res
                leaves, ot = tree_util.flatten(out)
                r_leaves, rt = tree_util.flatten(r)
                res_tree.append(rt)
                out_tree.append(ot)
                return [as_array(o) for o in leaves] + [as_array(x) for x in r_leaves]

            graph, consts = trace_to_graph(fwd_flat, avals, closed=True)
            _check_no_consts(consts)
            if out_tree[0] != out_tree[-1] or graph.out_avals[:n_out] != fun_graph.out_avals:
                raise TypeError("funtorch.custom_vjp: fwd's output must match the function's "
                                "output in structure, shapes and dtypes")
            return graph

        bwd = _flat_bwd(self.bwd, res_tree, out_tree[0], in_tree, args, nondiff, avals)
        outs = bind(custom_vjp_call_p, *flat, fun_graph=fun_graph, fwd_graph=fwd_graph,
                    bwd=bwd, n_out=n_out)
        return tree_util.unflatten(out_tree[0], outs)


def _resolve_kwargs(sig, args, kwargs):
    """Keyword arguments bound to positions by the function's signature (defaults filled
    in), as JAX's custom_vjp does: the rule works on a positional argument tuple."""
    if sig is None:
        if kwargs:
            raise TypeError("funtorch.custom_vjp: the function's signature cannot be "
                            "inspected, so pass its arguments positionally")
        return args
    try:
        ba = sig.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"funtorch.custom_vjp: {e}") from None
    ba.apply_defaults()
    if ba.kwargs:
        raise TypeError(f"funtorch.custom_vjp: keyword arguments {sorted(ba.kwargs)} cannot be "
                        "bound to positions of the function's signature; pass them "
                        "positionally")
    return ba.args


def _check_no_consts(consts):
    if consts:
        raise TypeError("funtorch.custom_vjp: the function closes over traced values; pass "
                        "them as arguments instead")


def _flat_bwd(bwd, res_tree, out_tree, in_tree, args, nondiff, avals):
    """``bwd`` on flat residuals and cotangents, checked as JAX checks it: one cotangent
    (or None) per differentiable argument, each with its argument's structure and shape.
    ``res_tree`` is a list filled when fwd is traced."""
    dyn_args = [a for i, a in enumerate(args) if i not in nondiff]

    def flat(res, cts):
        r = tree_util.unflatten(res_tree[0], res)
        ct = tree_util.unflatten(out_tree, cts)
        nd = [nondiff[i] for i in sorted(nondiff)]
        grads = bwd(*nd, r, ct) if nd else bwd(r, ct)
        if not isinstance(grads, (tuple, list)) or len(grads) != len(dyn_args):
            got = (f"a {type(grads).__name__} of length {len(grads)}"
                   if isinstance(grads, (tuple, list)) else f"a {type(grads).__name__}")
            raise TypeError(f"funtorch.custom_vjp: bwd must return a tuple with one cotangent "
                            f"(or None) per differentiable argument ({len(dyn_args)}), got "
                            f"{got}")
        leaves = []
        for k, (g, a) in enumerate(zip(grads, dyn_args)):
            want = tree_util.structure(a)
            if g is None:
                leaves += [None] * want.num_leaves
                continue
            g_leaves, got = tree_util.flatten(g)
            if got != want:
                raise TypeError(f"funtorch.custom_vjp: bwd's output {k} has structure {got}, "
                                f"but the argument it is the cotangent of has structure {want}")
            leaves += g_leaves
        out = []
        for k, (g, aval) in enumerate(zip(leaves, avals)):
            if g is None or not dtypes.is_float(aval.dtype):   # no cotangent / int input
                out.append(ad.zeros_like_aval(ShapedArray(aval.shape, aval.dtype)))
                continue
            if get_aval(g).shape != aval.shape:
                raise ValueError(
                    "funtorch.custom_vjp: Custom VJP bwd rule must produce an output with the "
                    "same shape/dtypes as the args tuple of the primal function, but at "
                    f"{_leaf_name(k, dyn_args)} bwd produced {get_aval(g).str_short()} for "
                    f"an input of {aval.str_short()}. Return one cotangent per argument with "
                    "the argument's shape (reduce or broadcast it in bwd).")
            g = as_array(g)
            # a float cotangent takes the input's dtype
            out.append(g if get_aval(g).dtype == aval.dtype else g.astype(aval.dtype))
        return out

    return flat


def _leaf_name(k, dyn_args):
    """'argument i' (and the leaf within it) for flat leaf ``k`` of the arguments."""
    for i, a in enumerate(dyn_args):
        n = len(tree_util.leaves(a))
        if k < n:
            return f"argument {i}" + (f" (leaf {k})" if n > 1 else "")
        k -= n
    return f"leaf {k}"


def _call_impl(*args, fun_graph, fwd_graph, bwd, n_out):
    outs = eval_graph(fun_graph, [Array(a) for a in args])
    return [o._value for o in outs]


custom_vjp_call_p.def_impl(_call_impl)
custom_vjp_call_p.def_abstract_eval(lambda *avals, fun_graph, fwd_graph, bwd, n_out:
                                    list(fun_graph.out_avals))


def _call_jvp(primals, tangents, *, fun_graph, fwd_graph, bwd, n_out):
    outs = eval_graph(fwd_graph(), primals)
    out, res = outs[:n_out], outs[n_out:]
    ts = [ad.instantiate(t) for t in tangents]
    out_avals = [get_aval(o) for o in out]
    t_out = bind(custom_lin_p, *res, *ts, num_res=len(res), bwd=bwd, out_avals=tuple(out_avals))
    return out, t_out


def _vmapped_bwd(bwd, size):
    """``bwd`` over residuals and cotangents that all carry a leading batch axis."""

    def batched(res, cts):
        return batching.vmap_flat(lambda *a: bwd(list(a[:len(res)]), list(a[len(res):])),
                                  size, [*res, *cts], [0] * (len(res) + len(cts)),
                                  lambda n: [0] * n)

    return batched


def _call_batch(vals, dims, *, fun_graph, fwd_graph, bwd, n_out):
    size = batching.batch_size_of(vals, dims)
    vals = [batching.bdim_at_front(v, d, size) for v, d in zip(vals, dims)]
    zeros = (0,) * len(vals)

    def batched(graph):
        g, consts = batching.batch_graph(graph, size, zeros)
        if consts:
            raise NotImplementedError("funtorch internal error: constants in a batched "
                                      "custom_vjp")
        return g

    outs = bind(custom_vjp_call_p, *vals, fun_graph=batched(fun_graph),
                fwd_graph=functools.cache(lambda: batched(fwd_graph())),
                bwd=_vmapped_bwd(bwd, size), n_out=n_out)
    return outs, [0] * len(outs)


ad.jvp_rules[custom_vjp_call_p] = _call_jvp
batching.batching_rules[custom_vjp_call_p] = _call_batch


def _lin_impl(*args, num_res, bwd, out_avals):
    raise TypeError("funtorch: forward-mode differentiation (jvp/jacfwd) of a custom_vjp "
                    "function is not supported; use reverse mode (grad/vjp/jacrev)")


def _lin_transpose(cts, *args, num_res, bwd, out_avals):
    res = args[:num_res]
    cts = [ad.instantiate(c) if type(c) is Zero else c for c in cts]
    grads = bwd(list(res), cts)
    return [None] * num_res + [g if is_undefined(x) else None
                               for g, x in zip(grads, args[num_res:])]


def _lin_batch(vals, dims, *, num_res, bwd, out_avals):
    size = batching.batch_size_of(vals, dims)
    vals = [batching.bdim_at_front(v, d, size) for v, d in zip(vals, dims)]
    avals = tuple(ShapedArray((size, *a.shape), a.dtype) for a in out_avals)
    outs = bind(custom_lin_p, *vals, num_res=num_res, bwd=_vmapped_bwd(bwd, size),
                out_avals=avals)
    return outs, [0] * len(outs)


custom_lin_p.def_impl(_lin_impl)
custom_lin_p.def_abstract_eval(lambda *avals, num_res, bwd, out_avals: list(out_avals))
ad.transpose_rules[custom_lin_p] = _lin_transpose
batching.batching_rules[custom_lin_p] = _lin_batch
ad.jvp_rules[custom_lin_p] = lambda primals, tangents, **params: _lin_impl()
