"""Vectorisation (vmap): each value carries the axis its batch lives on, or None.
``batch_graph`` is the same interpreter applied to a graph (jit's and control flow's
rules)."""

from __future__ import annotations

import contextlib
import operator

from ..core import axis_env
from ..core.abstract import ShapedArray
from ..core.errors import ConcretizationTypeError
from ..core.graph import Graph, derived, eval_graph
from ..core.trace import Trace, Tracer, bind, concrete_or_error, get_aval, new_main
from ..core.tracing import trace_to_graph

not_mapped = None

# prim -> rule(vals, dims, **params) -> (outs, out_dims); outs a list iff multiple_results
batching_rules: dict = {}
# Collectives over this vmap's own axis name (``params["axes"]`` holds it):
# prim -> rule(frame, vals, dims, **params) -> (outs, out_dims); unmapped args included.
collective_rules: dict = {}


class _Axis:
    """What a BatchTrace's main carries: the mapped axis' size and name (None: unnamed)."""
    __slots__ = ("size", "name")

    def __init__(self, size, name):
        self.size, self.name = size, name


# The axis name of the BatchTrace whose rule is running: a rule that re-batches a
# sub-graph (jit, cond, scan, custom_vjp) maps the same named axis (``vmap_flat``).
_rule_axis_name = [None]
_INHERIT = object()


class BatchTracer(Tracer):
    __slots__ = ("val", "batch_dim")

    def __init__(self, trace, val, batch_dim):
        self._trace = trace
        self.val = val
        self.batch_dim = batch_dim
        self._origin = getattr(val, "_origin", None)

    @property
    def aval(self):
        a = get_aval(self.val)
        if self.batch_dim is None:
            return a
        s = list(a.shape)
        del s[self.batch_dim]
        return ShapedArray(tuple(s), a.dtype)

    def to_concrete(self, why):
        if self.batch_dim is None:
            return concrete_or_error(self.val, why)
        raise ConcretizationTypeError(self, why + " inside vmap (the value differs per example)")


class BatchTrace(Trace):
    __slots__ = ()

    @property
    def axis_size(self):
        return self.main.global_data.size

    @property
    def axis_name(self):
        return self.main.global_data.name

    def pure(self, val):
        return BatchTracer(self, val, not_mapped)

    lift = pure

    def process_primitive(self, prim, tracers, params):
        vals = [t.val for t in tracers]
        dims = [t.batch_dim for t in tracers]
        name = self.axis_name
        if name is not None and prim in collective_rules and name in params["axes"]:
            outs, out_dims = self._run(collective_rules[prim], self.main.global_data,
                                       vals, dims, params)
        else:
            if all(d is None for d in dims):
                if prim.axis_mains is None or self.main not in prim.axis_mains(params):
                    out = bind(prim, *vals, **params)
                    outs = out if prim.multiple_results else [out]
                    return [BatchTracer(self, o, None) for o in outs]
                # a sub-graph uses this axis' name: batch it, over a broadcast argument
                if not vals:
                    raise NotImplementedError(
                        f"funtorch.vmap: '{prim}' without arguments uses the axis name "
                        f"{name!r}; pass it an argument")
                vals[0], dims[0] = bdim_at_front(vals[0], None, self.axis_size), 0
            try:
                rule = batching_rules[prim]
            except KeyError:
                raise NotImplementedError(f"funtorch: vmap rule for '{prim}' not implemented")\
                    from None
            outs, out_dims = self._run(rule, None, vals, dims, params)
        if not prim.multiple_results:
            outs, out_dims = [outs], [out_dims]
        return [BatchTracer(self, o, d) for o, d in zip(outs, out_dims)]

    def _run(self, rule, frame, vals, dims, params):
        prev = _rule_axis_name[0]
        _rule_axis_name[0] = self.axis_name
        try:
            return rule(frame, vals, dims, **params) if frame is not None else \
                rule(vals, dims, **params)
        finally:
            _rule_axis_name[0] = prev


# Moving batch axes uses lax's ``transpose`` and ``broadcast_in_dim``; lax sits above this
# module and registers them on import (lax/__init__.py).
axis_ops: dict = {}


def moveaxis(x, src, dst):
    """Move axis ``src`` of ``x`` to ``dst`` (both non-negative)."""
    if src == dst:
        return x
    nd = get_aval(x).ndim
    perm = [i for i in range(nd) if i != src]
    perm.insert(dst, src)
    return axis_ops["transpose"](x, tuple(perm))


def bdim_at_front(x, dim, size):
    """``x`` with its batch axis first, broadcasting an unbatched ``x`` to ``size``."""
    if dim is None:
        a = get_aval(x)
        return axis_ops["broadcast_in_dim"](x, (size, *a.shape), tuple(range(1, a.ndim + 1)))
    return moveaxis(x, dim, 0)


def matchaxis(x, src, dst, size):
    if src is None:
        a = get_aval(x)
        shape = list(a.shape)
        shape.insert(dst, size)
        dims = tuple(i for i in range(len(shape)) if i != dst)
        return axis_ops["broadcast_in_dim"](x, tuple(shape), dims)
    return moveaxis(x, src, dst)


def batch_size_of(vals, dims):
    for v, d in zip(vals, dims):
        if d is not None:
            return get_aval(v).shape[d]
    raise ValueError("no batched argument")


def vmap_flat(f, axis_size, vals, in_dims, out_dims_fn, axis_name=_INHERIT):
    """Run flat ``f`` batched. ``out_dims_fn(n_out) -> list`` gives the output axes.

    ``axis_name`` binds the mapped axis to a name for the collectives (``lax.parallel``);
    by default a batching rule's sub-computation maps its trace's named axis."""
    if axis_name is _INHERIT:
        axis_name = _rule_axis_name[0]
    with new_main(BatchTrace, _Axis(axis_size, axis_name)) as main, \
            _bind_name(axis_name, axis_size, main):
        prev = _rule_axis_name[0]
        _rule_axis_name[0] = None      # user code inside maps no name unless it says so
        try:
            return _vmap_flat(f, axis_size, vals, in_dims, out_dims_fn, main)
        finally:
            _rule_axis_name[0] = prev


def _bind_name(name, size, main):
    if name is None:
        return contextlib.nullcontext()
    return axis_env.extend_axis_env(axis_env.AxisFrame(name, size, main))


def _vmap_flat(f, axis_size, vals, in_dims, out_dims_fn, main):
    trace = BatchTrace(main)
    tracers = [BatchTracer(trace, v, d) if d is not None else v
               for v, d in zip(vals, in_dims)]
    outs = f(*tracers)
    out_dims = out_dims_fn(len(outs))
    results = []
    for k, (o, od) in enumerate(zip(outs, out_dims)):
        if isinstance(o, BatchTracer) and o._trace.main is main:
            v, d = o.val, o.batch_dim
        else:
            v, d = o, None
        if od is None:
            if d is not None:
                raise ValueError(
                    "vmap: out_axes=None for an output that varies along the mapped axis")
            results.append(v)
        else:
            a = get_aval(v)
            shape = a.shape if d is None else a.shape[:d] + a.shape[d + 1:]
            where = f"output {k}" if len(outs) > 1 else "the output"
            od = canonical_out_axis(od, shape, axis_size, where)
            results.append(matchaxis(v, d, od, axis_size))
    return results


def batch_graph(graph: Graph, axis_size, dims):
    def build():
        def fun(*args):
            return vmap_flat(lambda *xs: eval_graph(graph, xs), axis_size, list(args),
                                      list(dims), lambda n: [0] * n)

        avals = []
        for v, d in zip(graph.in_vars, dims):
            if d is None:
                avals.append(v.aval)
            else:
                s = list(v.aval.shape)
                s.insert(d, axis_size)
                avals.append(ShapedArray(s, v.aval.dtype))
        return trace_to_graph(fun, avals, closed=True)

    # a rule batching a sub-graph maps its trace's axis name (vmap_flat inherits it): a
    # collective over that name is batched away, over another kept
    return derived(graph, "vmap", (axis_size, tuple(dims), _rule_axis_name[0]), build)


def axis_index(ax, what, where):
    """An in_axes/out_axes entry as a Python int (numpy integers too; not bools)."""
    if not isinstance(ax, bool):
        try:
            return operator.index(ax)
        except TypeError:
            pass
    raise TypeError(f"funtorch.vmap: {what} entries must be ints or None, got {ax!r} for "
                    f"{where}")


def canonical_out_axis(od, shape, axis_size, where="the output"):
    """``out_axes`` entry ``od`` for an output of per-example ``shape``, made non-negative;
    it must index the batched output, of rank ``len(shape) + 1`` (JAX's range check)."""
    od = axis_index(od, "out_axes", where)
    nd = len(shape) + 1
    if not -nd <= od < nd:
        raise ValueError(
            f"funtorch.vmap: out_axes={od} is out of range for {where}: it has shape "
            f"{tuple(shape)} per example, so rank {nd} with the mapped axis (of size "
            f"{axis_size}); out_axes must be within range [{-nd}, {nd}), e.g. out_axes=0 "
            "puts the mapped axis first")
    return od % nd


# --- helpers for writing batching rules next to primitives

def defvectorized(prim):
    """Unary elementwise: the batch axis passes straight through."""

    def rule(vals, dims, **params):
        return bind(prim, *vals, **params), dims[0]

    batching_rules[prim] = rule


def defbroadcasting(prim):
    """n-ary elementwise over equal shapes: align batch axes, broadcast unbatched args."""

    def rule(vals, dims, **params):
        size = batch_size_of(vals, dims)
        first = next(d for d in dims if d is not None)
        if all(d == first for d in dims):
            out = bind(prim, *vals, **params)
            return out, (first if not prim.multiple_results else [first] * len(out))
        args = [matchaxis(v, d, first, size) if d != first else v for v, d in zip(vals, dims)]
        out = bind(prim, *args, **params)
        return out, (first if not prim.multiple_results else [first] * len(out))

    batching_rules[prim] = rule
