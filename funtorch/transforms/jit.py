"""jit: stage a function into a graph once per input signature and compile it.

``jit_p`` is a primitive whose parameter is the graph; its rules apply the graph
transforms that live beside their interpreters (``ad.jvp_graph``, ``ad.transpose_graph``,
``batching.batch_graph``, ``partial_eval.partial_eval_graph``, ``core.passes.dce``) so
that ``grad(jit(f))``, ``jit(grad(f))`` and ``vmap(jit(f))`` all work. A call runs the
graph's executable from the backend of its device (``core/backend.py``).
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from .. import tree as tree_util
from ..core import axis_env, dtypes, passes
from ..core.array import DONATED, Array
from ..core.devices import CPU, get_device
from ..core.graph import Eqn, Graph, Var
from ..core.inspection import Lowered
from ..core.placement import computation_device, transfer
from ..core.trace import Primitive, Tracer, as_array, bind, eager_mode, get_aval, host_value
from ..core.tracing import make_graph, trace_to_graph
from . import ad, batching
from . import partial_eval as pe
from .ad import Zero, is_undefined

jit_p = Primitive("jit", kind="control_flow", multiple_results=True)


def _jit_impl(*args, graph, name, donated):
    # host buffers; with arrays on another device, bind runs that device's backend
    return CPU.backend.executable(graph)(*args)


jit_p.def_impl(_jit_impl)
# a collective inside over a vmap's axis name makes that vmap batch the call
jit_p.axis_mains = lambda params: axis_env.mains(axis_env.graph_axis_names(params["graph"]))
jit_p.def_abstract_eval(lambda *avals, graph, name, donated: list(graph.out_avals))


def _params(graph, name, donated=None):
    return dict(graph=graph, name=name, donated=donated or (False,) * len(graph.in_vars))


def _jit_jvp(primals, tangents, *, graph, name, donated):
    nonzeros = tuple(type(t) is not Zero for t in tangents)
    g, consts, out_nz = ad.jvp_graph(graph, nonzeros)
    outs = bind(jit_p, *consts, *primals, *[t for t in tangents if type(t) is not Zero],
                **_params(g, f"jvp({name})"))
    n = len(graph.outs)
    touts = iter(outs[n:])
    return outs[:n], [next(touts) if nz else Zero(a.tangent_aval())
                      for nz, a in zip(out_nz, graph.out_avals)]


ad.jvp_rules[jit_p] = _jit_jvp


def _jit_batch(vals, dims, *, graph, name, donated):
    size = batching.batch_size_of(vals, dims)
    g, consts = batching.batch_graph(graph, size, dims)
    outs = bind(jit_p, *consts, *vals, **_params(g, f"vmap({name})"))
    return outs, [0] * len(outs)


batching.batching_rules[jit_p] = _jit_batch


def _jit_transpose(cts, *invals, graph, name, donated):
    linear = tuple(is_undefined(x) for x in invals)
    ct_nz = tuple(type(c) is not Zero for c in cts)
    g, consts = ad.transpose_graph(graph, linear, ct_nz)
    outs = iter(bind(jit_p, *consts, *[x for x in invals if not is_undefined(x)],
                     *[c for c in cts if type(c) is not Zero],
                     **_params(g, f"transpose({name})")))
    return [next(outs) if lin else None for lin in linear]


ad.transpose_rules[jit_p] = _jit_transpose


def _jit_partial_eval(uks_in, eqn):
    graph, name = eqn.params["graph"], eqn.params["name"]
    known, unknown, out_uks, num_res = pe.partial_eval_graph(graph, uks_in)
    res_vars = [Var(v.aval) for v in known.outs[len(known.outs) - num_res:]]
    eqn_k = Eqn(jit_p, [x for x, u in zip(eqn.inputs, uks_in) if not u],
                [o for o, u in zip(eqn.outputs, out_uks) if not u] + res_vars,
                _params(known, name))
    eqn_u = Eqn(jit_p, res_vars + [x for x, u in zip(eqn.inputs, uks_in) if u],
                [o for o, u in zip(eqn.outputs, out_uks) if u], _params(unknown, name))
    return eqn_k, eqn_u, out_uks, res_vars


pe.partial_eval_graph_rules[jit_p] = _jit_partial_eval


def _jit_dce(used_outputs, eqn):
    graph = eqn.params["graph"]
    g = passes.dce(graph, used_outputs)
    live = passes.used_inputs(g)
    new_graph = Graph([v for v, u in zip(g.in_vars, live) if u], g.eqns,
                      [o for o, u in zip(g.outs, used_outputs) if u])
    new_eqn = Eqn(jit_p, [x for x, u in zip(eqn.inputs, live) if u],
                  [o for o, u in zip(eqn.outputs, used_outputs) if u],
                  _params(new_graph, eqn.params["name"]))
    return live, new_eqn


passes.dce_rules[jit_p] = _jit_dce
passes.call_primitives.add(jit_p)


# --------------------------------------------------------------------------- the user API

class _CacheEntry:
    __slots__ = ("graph", "consts", "out_tree", "reusable", "donated", "origins", "placed")


def _describe_args(fun, n):
    try:
        names = list(inspect.signature(fun).parameters)
    except (TypeError, ValueError):
        names = []
    fname = getattr(fun, "__qualname__", getattr(fun, "__name__", "function"))
    return [f"argument '{names[i]}' of {fname}" if i < len(names) else
            f"argument {i} of {fname}" for i in range(n)]


class JitFunction:
    """A function staged and compiled once per input signature.

    A call runs on ``device`` if one was given (every input is placed there), else on the
    device of its non-host inputs (``core.placement``), else on the host; under an
    enclosing transformation it is the primitive ``jit_p``."""

    def __init__(self, fun, static_argnums=(), static_argnames=(), donate_argnums=(),
                 device=None):
        from .api._util import check_callable
        check_callable("jit", fun)
        self.fun = fun
        self.donate_argnums = _tuple(donate_argnums)
        self.device = None if device is None else get_device(device)
        self._cache = {}
        self._fast = {}   # (args treedef, leaf shapes/dtypes/devices) -> compiled call
        self._flat = {}   # leaf shapes/dtypes/devices -> compiled call, for array arguments
        self._sig = None
        try:
            self._sig = inspect.signature(fun)
        except (TypeError, ValueError):
            pass
        if self._sig is not None:
            _check_argnums(self._sig, _tuple(static_argnums), "static_argnums")
            _check_argnums(self._sig, self.donate_argnums, "donate_argnums")
            _check_argnames(self._sig, _tuple(static_argnames))
        self.static_argnums, self.static_argnames = _infer_static(
            self._sig, _tuple(static_argnums), _tuple(static_argnames))
        functools.update_wrapper(self, fun, updated=())  # never copy fun.__dict__ over ours

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)

    def _split(self, args, kwargs):
        nargs = len(args)
        # static_argnums/static_argnames already hold each other's positional-or-keyword
        # parameters (see _infer_static), so an argument is static however it is passed
        static_nums = tuple(i % nargs if nargs else i for i in self.static_argnums
                            if -nargs <= i < nargs)
        statics = tuple((i, args[i]) for i in sorted(set(static_nums)))
        static_kw = tuple(sorted((k, v) for k, v in kwargs.items()
                                 if k in self.static_argnames))
        dyn_args = [a for i, a in enumerate(args) if i not in static_nums]
        dyn_kwargs = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        for _, v in statics + static_kw:
            try:
                hash(v)
            except TypeError:
                raise TypeError(f"funtorch.jit: static argument {v!r} of type "
                                f"{type(v).__name__} is not hashable; static arguments must "
                                "be hashable (use a tuple instead of a list)") from None
        return statics, static_kw, dyn_args, dyn_kwargs, static_nums

    def __call__(self, *args, **kwargs):
        if not kwargs and eager_mode():   # fast path: a compiled signature seen before
            try:   # fastest: arrays as the positional arguments (no tree to flatten)
                hit = self._flat.get(tuple([_leaf_key(x) if type(x) is Array else None
                                            for x in args]))
            except AttributeError:
                hit = None
            if hit is not None:
                run, const_bufs, out_tree, device, donated = hit
                outs = run(*const_bufs, *[x._value for x in args])
                for i in donated:
                    args[i]._value = DONATED
                if out_tree is None:   # one array
                    return Array(outs[0], device)
                return out_tree.unflatten([Array(o, device) for o in outs])
            leaves, tree = tree_util.flatten(args)
            try:
                hit = self._fast.get(_fast_key(tree, leaves))
            except AttributeError:   # a leaf that is not an Array
                hit = None
            if hit is not None:
                run, const_bufs, out_tree, device, donated = hit
                outs = run(*const_bufs, *[x._value for x in leaves])
                for i in donated:
                    leaves[i]._value = DONATED
                return out_tree.unflatten([Array(o, device) for o in outs])
        statics, static_kw, dyn_args, dyn_kwargs, static_nums = self._split(args, kwargs)
        leaves, in_tree = tree_util.flatten((dyn_args, dyn_kwargs))
        # Python scalars (and weakly typed tracers of an enclosing jit) are weak: they
        # trace as weakly typed values, and never share a trace with strong arrays
        weak = tuple(dtypes.is_weakly_typed(x) for x in leaves)
        weak = weak if any(weak) else None
        leaves = [x if isinstance(x, (Array, Tracer)) else _to_array(x) for x in leaves]
        # a tracer has no device; host arrays share its key, so jit(f) called eagerly and
        # under grad/vmap traces once per shape/dtype signature
        sig = (in_tree, statics, static_kw,
               tuple((x.shape, x.dtype, x._device if type(x) is Array and x._device is not CPU
                      else None) for x in leaves), weak, axis_env.key())
        entry = self._cache.get(sig)
        if entry is None:
            entry = self._trace(args, kwargs, statics, static_kw, static_nums, in_tree, leaves,
                                weak)
            if entry.reusable:
                self._cache[sig] = entry
        if eager_mode() and entry.reusable:
            outs = self._run(entry, args, kwargs, statics, weak, leaves)
        else:
            outs = bind(jit_p, *entry.consts, *leaves,
                        **_params(entry.graph, getattr(self.fun, "__name__", "jit")))
        return tree_util.unflatten(entry.out_tree, outs)

    def _trace(self, args, kwargs, statics, static_kw, static_nums, in_tree, leaves,
               weak=None):
        origins = _describe_args(self.fun, len(args))
        dyn_origins = [o for i, o in enumerate(origins) if i not in static_nums]
        leaf_origins = []
        for a, o in zip(tree_util.unflatten(in_tree, leaves)[0], dyn_origins):
            leaf_origins += [o] * len(tree_util.leaves(a))
        fname = getattr(self.fun, "__qualname__", getattr(self.fun, "__name__", "function"))
        kw_tree = tree_util.unflatten(in_tree, leaves)[1]
        for k in sorted(kw_tree):
            n_leaves = len(tree_util.leaves(kw_tree[k]))
            leaf_origins += [f"keyword argument '{k}' of {fname}"] * n_leaves
        leaf_origins += ["a keyword argument"] * (len(leaves) - len(leaf_origins))
        out_tree = []

        def flat_fun(*xs):
            dargs, dkw = tree_util.unflatten(in_tree, xs)
            it = iter(dargs)
            static_map = dict(statics)
            full = [static_map[i] if i in static_map else next(it) for i in range(len(args))]
            out = self.fun(*full, **dkw, **dict(static_kw))
            ls, ot = tree_util.flatten(out)
            for leaf in ls:   # trace time only: the cached call path never gets here
                if not isinstance(leaf, (Tracer, Array, np.ndarray, np.generic, int, float)):
                    raise TypeError(
                        f"funtorch.jit: {fname} returned a value of type {type(leaf).__name__} "
                        f"({leaf!r:.60}); a jitted function may only return arrays, numbers "
                        "and pytrees of them. Return non-array values from outside the jit")
            out_tree.append(ot)
            return ls

        avals = [get_aval(x) for x in leaves]
        if weak is not None:   # not weak_aval: a Python int past int64 became a uint64 leaf
            avals = [a.update(weak_type=True) if w else a for a, w in zip(avals, weak)]
        graph, consts = trace_to_graph(flat_fun, avals, leaf_origins)
        e = _CacheEntry()
        e.graph, e.consts, e.out_tree = graph, consts, out_tree[0]
        e.origins = leaf_origins
        e.reusable = not any(isinstance(c, Tracer) for c in consts)
        e.placed = {}   # device -> (executable, constant buffers)
        donate = {i % len(args) for i in self.donate_argnums if -len(args) <= i < len(args)}
        donated = [False] * len(consts)
        for i, a in enumerate(args):
            if i not in static_nums:
                donated += [i in donate] * len(tree_util.leaves(a))
        e.donated = donated + [False] * (len(consts) + len(leaves) - len(donated))
        return e

    def _run(self, entry, args, kwargs, statics, weak, leaves):
        """The one eager call path: the executable of the graph on the call's device
        (compiled once per device), inputs and constants placed there."""
        device = self.device or computation_device(
            leaves, getattr(self.fun, "__name__", "jit"), entry.origins)
        placed = entry.placed.get(device)
        if placed is None:
            placed = entry.placed[device] = (
                device.backend.executable(entry.graph, entry.donated),
                [_buffer(c, device) for c in entry.consts])
        run, const_bufs = placed
        if not kwargs and not statics and weak is None and all(
                x._device is device for x in leaves):
            call = (run, const_bufs, entry.out_tree, device, _donated_leaves(entry))
            self._fast[_fast_key(tree_util.structure(args), leaves)] = call
            if all(type(x) is Array for x in args):
                one = entry.out_tree == _ONE_LEAF
                self._flat[tuple([_leaf_key(x) for x in args])] = (
                    call[:2] + ((None if one else entry.out_tree),) + call[3:])
        outs = [Array(o, device) for o in run(*const_bufs,
                                              *[_buffer(x, device) for x in leaves])]
        _invalidate(leaves, entry)
        return outs

    def lower(self, *args, **kwargs):
        """What this function compiles to for these arguments: ``.as_text()`` (the graph),
        ``.compile()`` -> ``.plan_text()``, ``.source()`` (``core.inspection``)."""
        closed = make_graph(self.fun, static_argnums=self.static_argnums)(*args, **kwargs)
        static = {i % len(args) for i in self.static_argnums if -len(args) <= i < len(args)}
        donate = {i % len(args) for i in self.donate_argnums if -len(args) <= i < len(args)}
        donated, leaves = [], []
        for i, a in enumerate(args):
            if i not in static:
                ls = tree_util.leaves(a)
                donated += [i in donate] * len(ls)
                leaves += ls
        donated += [False] * (len(closed.in_avals) - len(donated))
        device = self.device if self.device is not None else computation_device(
            leaves, getattr(self.fun, "__name__", "jit"))
        return Lowered(closed, donated, device)

    def clear_cache(self):
        self._cache.clear()
        self._fast.clear()
        self._flat.clear()

    @property
    def cache_size(self):
        return len(self._cache)


def _donated_leaves(entry):
    """Positions among the call's array leaves (after the constants) that are donated."""
    n = len(entry.consts)
    return tuple(i - n for i, d in enumerate(entry.donated) if d and i >= n)


def _invalidate(leaves, entry):
    """Donated arrays are used up, as in JAX: their buffers may now hold the outputs."""
    for i in _donated_leaves(entry):
        if type(leaves[i]) is Array:
            leaves[i]._value = DONATED


_ONE_LEAF = tree_util.structure(0)


def _leaf_key(x):
    return (x._value.shape, x._value.dtype, x._device)


def _fast_key(tree, leaves):
    return (tree, *[(x._value.shape, x._value.dtype, x._device) for x in leaves])


def _buffer(x, device):
    """The buffer of ``x`` (an Array, or a host value as eager ops read it) on ``device``."""
    if type(x) is not Array:
        x = Array(host_value(x))
    return x._value if x._device is device else transfer(x, device)._value


def _to_array(x):
    if x is None:
        raise TypeError("funtorch.jit: None is not a valid argument value")
    if dtypes.is_weak(x) or hasattr(x, "__array__") or hasattr(x, "__cuda_array_interface__") \
            or isinstance(x, (list, tuple)):
        return as_array(x)
    raise TypeError(f"funtorch.jit: argument of type {type(x).__name__} is not an array; mark "
                    "it static with static_argnums/static_argnames")


def _check_argnums(sig, argnums, what):
    """JAX's check when jit is applied: a position the function cannot take is an error
    (a typo would otherwise leave the argument traced); ``*args`` takes any position."""
    P = inspect.Parameter
    params = sig.parameters.values()
    if any(p.kind is P.VAR_POSITIONAL for p in params):
        return
    n = sum(p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD) for p in params)
    if argnums and (-min(argnums) > n or max(argnums) >= n):
        raise ValueError(f"funtorch.jit: {what}={argnums}, but the function only accepts {n} "
                         "positional arguments")


def _check_argnames(sig, argnames):
    """JAX's check: static_argnames must name parameters that can be passed by keyword
    (any name, with ``**kwargs``)."""
    P = inspect.Parameter
    params = sig.parameters
    positional = {k for k, p in params.items()
                  if p.kind in (P.POSITIONAL_ONLY, P.VAR_POSITIONAL)} & set(argnames)
    if positional:
        raise ValueError(f"funtorch.jit: static_argnames {sorted(positional)} name "
                         "positional-only parameters; use static_argnums for them")
    if any(p.kind is P.VAR_KEYWORD for p in params.values()):
        return
    unknown = set(argnames) - set(params)
    if unknown:
        raise ValueError(f"funtorch.jit: static_argnames {sorted(unknown)} are not parameters "
                         f"of the function (it takes {list(params)})")


def _infer_static(sig, argnums, argnames):
    """JAX's ``_infer_argnums_and_argnames``: a static parameter named by position is
    static when passed by keyword too, and one named by name when passed by position."""
    if sig is None:
        return argnums, argnames
    params = list(sig.parameters.values())
    pos_or_kw = inspect.Parameter.POSITIONAL_OR_KEYWORD
    argnames += tuple(p.name for i, p in enumerate(params)
                      if p.kind is pos_or_kw and i in argnums and p.name not in argnames)
    argnums += tuple(i for i, p in enumerate(params)
                     if p.kind in (pos_or_kw, inspect.Parameter.POSITIONAL_ONLY)
                     and p.name in argnames and i not in argnums)
    return argnums, argnames


def _tuple(x):
    if x is None:
        return ()
    return (x,) if isinstance(x, (int, str)) else tuple(x)


def jit(fun=None, *, static_argnums=(), static_argnames=(), donate_argnums=(), device=None):
    """Compile ``fun`` (also usable as ``@jit(static_argnums=...)``)."""
    if fun is None:
        return lambda f: JitFunction(f, static_argnums, static_argnames, donate_argnums, device)
    return JitFunction(fun, static_argnums, static_argnames, donate_argnums, device)
