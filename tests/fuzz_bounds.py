"""How far two correct implementations of one graph may differ: a running error analysis.

Compiled code keeps each primitive's IEEE semantics but may sum in any order (and
accumulate in higher precision). Where terms cancel, that freedom is large:
``sum((x - x) - x)`` over +-1e30 beside values of order 1 has an exact value of order 1
and an error of order ``n * eps * 1e30`` in any order. The fuzzer cannot tell such a
difference from a bug by comparing with the result; it needs the error a summation order
may make, ``n * eps * sum(|terms|)``, carried through the rest of the program.

``radii(fn, args)`` traces ``fn`` (the graph ``jit`` compiles), evaluates it eagerly on
``args`` (the centers ``c``, in the arguments' dtype) and propagates a radius ``r >= 0``
per element such that every correct implementation of the graph in that dtype, in any
summation order, gives a value within ``r`` of ``c`` (two of them: within ``2 r`` of
each other). ``r = inf``: no bound (the element may take any value or class, e.g. a log
of an interval holding negatives, a product that may overflow in some order). For a
non-finite center, ``r = 0`` means the class (NaN, +inf, -inf) is certain.

The rules, per primitive (``u`` the unit roundoff of the dtype, ``tiny`` its smallest
subnormal):

- elementwise: interval evaluation. The primitive is evaluated at the corners of its
  inputs' intervals ``[c - r, c + r]`` (exact for functions monotone in each argument,
  and for bilinear ones), plus the critical points where the primitive is not (0 for
  ``abs``, ``integer_pow``, ``pow``, conversions); ``sin``/``cos`` are 1-Lipschitz;
  ``div`` by an interval holding 0, ``pow`` of one holding negatives and ``atan2``
  across its branch cut have no bound. A library function (exp, tanh, ...) may be off
  by a few ulps in another implementation (``8 u |value| + tiny``); IEEE's correctly
  rounded operations (+, -, *, /, sqrt, ...) give the same bits on the same inputs.
- comparisons give an uncertain bool (``r = 1``) where the corners disagree (``eq``:
  where the intervals meet); ``select_n`` with an uncertain predicate covers every case.
- ``reduce_sum``, ``cumsum``, ``dot_general``: the terms' radii plus
  ``2 n u sum(|c| + r)`` (either order's error, Higham's ``gamma_n``); no bound where a
  partial sum could overflow. ``reduce_prod``: ``prod(|c| + r) - prod(|c|)`` plus the
  rounding, and ``n tiny prod(max(1, |c| + r))`` where a partial product could underflow.
  ``reduce_max``/``reduce_min``: the max/min of the interval ends.
- moves (broadcast, reshape, slice, pad, concatenate, transpose, rev): the same move of
  the radii.

The bound is pessimistic (``x - x`` gets ``2 r``), never optimistic; it decides only
differences the ulp-level comparison already rejected.
"""

from __future__ import annotations

import itertools

import numpy as np

import funtorch as ft
from funtorch.core.graph import Literal
from funtorch.core.trace import eval_on_host
from funtorch.lax.linalg import dot_general_p

ULPS = 8   # one libm evaluation against another (numpy's and LLVM's exp, say)


def _ev(prim, vals, params):
    out = [np.asarray(o) for o in eval_on_host(prim, vals, params)]
    return out if prim.multiple_results else out[0]


def _dev(F, c):
    """|F - c|, 0 where both are the same non-finite value, inf where the classes differ."""
    F, c = np.asarray(F, np.float64), np.asarray(c, np.float64)
    fin = np.isfinite(F) & np.isfinite(c)
    same = (F == c) | (np.isnan(F) & np.isnan(c))
    with np.errstate(invalid="ignore"):
        return np.where(fin, np.abs(F - c), np.where(same, 0.0, np.inf))


class _Format:
    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        if self.dtype.kind == "f":
            fi = np.finfo(self.dtype)
            self.u, self.tiny, self.max = float(fi.eps) / 2, float(fi.smallest_subnormal), \
                float(fi.max)
        else:       # integers and bools: exact
            self.u, self.tiny, self.max = 0.0, 0.0, np.inf

    def rounding(self, *values):
        """The error of evaluating to ``values`` (few ulps; 0 for non-finite values)."""
        m = np.zeros(np.shape(values[0]))
        for v in values:
            v = np.asarray(v, np.float64)
            m = np.maximum(m, np.where(np.isfinite(v), np.abs(v), 0.0))
        return ULPS * self.u * m + (self.tiny if self.u else 0.0)


def _fmt(a):
    return _Format(a.dtype if a.dtype.kind == "f" else np.float64)


# --------------------------------------------------------------------------- elementwise

MOVES = {"broadcast_in_dim", "reshape", "rev", "slice", "transpose", "concatenate",
         "stop_gradient", "squeeze", "expand_dims"}
COMPARISONS = {"gt", "ge", "lt", "le"}
LIPSCHITZ = {"sin", "cos"}
# 0 is a critical point (the function turns or jumps there)
TURNS_AT_ZERO = {"abs", "integer_pow", "pow", "convert_element_type"}
# IEEE's correctly rounded operations: on the same inputs every implementation gives the
# same bits, and rounding is monotone, so the corners bound the computed values exactly
# (float32 and float64; half precision may be computed in float32 and rounded later)
CORRECTLY_ROUNDED = {"add", "sub", "mul", "div", "neg", "abs", "max", "min", "sqrt",
                     "floor", "sign", "convert_element_type"}


def _corners(prim, cs, rs, params, out_c):
    """The largest deviation from ``out_c`` of the primitive over its inputs' box."""
    cs64 = [np.asarray(c, np.float64) for c in cs]
    axes = []
    for c, r, c64 in zip(cs, rs, cs64):
        pts = [c]
        if np.any(r > 0):
            with np.errstate(all="ignore"):
                lo = np.where(r > 0, c64 - r, c64).astype(c.dtype)
                hi = np.where(r > 0, c64 + r, c64).astype(c.dtype)
            pts = [lo, hi]
            if prim.name in TURNS_AT_ZERO and c.dtype.kind == "f":
                inside = (c64 - r <= 0) & (c64 + r >= 0)
                pts.append(np.where(inside, np.zeros_like(c), c))
        axes.append(pts)
    dev = np.zeros(np.shape(out_c))
    values = []
    for combo in itertools.product(*axes):
        F = _ev(prim, list(combo), params)
        values.append(F)
        dev = np.maximum(dev, _dev(F, out_c))
    return dev, values


def _elementwise(prim, cs, rs, params, out_c):
    name = prim.name
    fmt = _Format(out_c.dtype) if out_c.dtype.kind == "f" else None
    exact = name in CORRECTLY_ROUNDED and out_c.dtype in (np.float32, np.float64)
    if not any(np.any(r > 0) for r in rs):
        return fmt.rounding(out_c) if fmt and not exact else np.zeros(out_c.shape)
    if name in LIPSCHITZ:
        (c,), (r,) = cs, rs
        base = np.where(np.isfinite(np.asarray(c, np.float64)), np.minimum(r, 2.0), np.inf)
        base = np.where(r == 0, 0.0, base)
        return np.broadcast_to(base + fmt.rounding(out_c), out_c.shape)
    if name == "eq" or name == "ne":
        (x, y), (rx, ry) = cs, rs
        with np.errstate(invalid="ignore"):
            meet = np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)) <= rx + ry
        return np.where(((rx + ry) > 0) & (meet | np.isnan(rx + ry)), 1.0, 0.0)
    dev, values = _corners(prim, cs, rs, params, out_c)
    if name in COMPARISONS or name == "is_finite" or fmt is None:
        return np.where(dev > 0, np.inf if fmt is None and out_c.dtype != bool else 1.0, 0.0)
    x64 = [np.asarray(c, np.float64) for c in cs]
    with np.errstate(invalid="ignore"):
        if name == "div":        # a divisor that may be 0
            y, ry = x64[1], rs[1]
            dev = np.where((ry > 0) & (np.abs(y) <= ry), np.inf, dev)
        if name == "pow":        # a base that may be negative: NaN at non-integer powers
            x, rx = x64[0], rs[0]
            dev = np.where((np.maximum(rx, rs[1]) > 0) & (x - rx < 0), np.inf, dev)
        if name == "atan2":      # across the branch cut (x < 0, y = 0) or the origin
            y, x, ry, rx = x64[0], x64[1], rs[0], rs[1]
            dev = np.where(((rx + ry) > 0) & (np.abs(y) <= ry) & (x - rx <= 0), np.inf, dev)
    return dev if exact else dev + fmt.rounding(out_c, *values)


def _select_n(cs, rs, out_c):
    which, *cases = cs
    rw, *rcases = rs
    chosen = np.asarray(_select_n_plain(which, rcases))
    if not np.any(rw > 0):
        return chosen
    spread = np.zeros(out_c.shape)
    for c, r in zip(cases, rcases):
        spread = np.maximum(spread, _dev(c, out_c) + r)
    return np.where(rw > 0, spread, chosen)


def _select_n_plain(which, cases):
    if len(cases) == 2:
        return np.where(which, cases[1], cases[0])
    return np.choose(np.asarray(which).astype(np.int64), cases)


# --------------------------------------------------------------------------- reductions

def _summed(x, like, params, name):
    """``x`` (float64) reduced like the primitive reduces its operand."""
    if name == "reduce_sum":
        return np.sum(x, axis=tuple(params["axes"]))
    if name == "cumsum":
        axis = params["axis"]
        if params["reverse"]:
            return np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis)
        return np.cumsum(x, axis=axis)
    raise AssertionError(name)


def _sum_like(name, c, r, params, out_c):
    fmt = _fmt(out_c)
    c64 = np.asarray(c, np.float64)
    fin = np.isfinite(c64)
    n = max(1, c64.size // max(1, out_c.size)) if name == "reduce_sum" else \
        (c64.shape[params["axis"]] if c64.ndim else 1)
    R = _summed(np.where(fin, r, 0.0), c64, params, name)
    S = _summed(np.where(fin, np.abs(c64) + r, 0.0), c64, params, name)
    unbounded = _summed((r == np.inf).astype(np.float64), c64, params, name) > 0
    gamma = 2 * n * fmt.u * 1.01
    out = R + gamma * S + n * fmt.tiny
    out = np.where(np.isfinite(np.asarray(out_c, np.float64)), out, 0.0)
    return np.where(unbounded | (S * (1 + gamma) >= fmt.max), np.inf, out)


def _prod(c, r, params, out_c):
    fmt = _fmt(out_c)
    axes = tuple(params["axes"])
    c64 = np.asarray(c, np.float64)
    a = np.abs(c64)
    n = max(1, c64.size // max(1, out_c.size))
    with np.errstate(all="ignore"):
        upper = np.prod(a + r, axis=axes)
        bound = upper - np.prod(a, axis=axes)
        big = np.prod(np.maximum(1.0, a + r), axis=axes)          # largest partial product
        nonzero = np.where(a - r > 0, np.minimum(1.0, a - r), 1.0)
        small = np.prod(nonzero, axis=axes)                       # smallest nonzero one
        exact_zero = np.any((c64 == 0) & (r == 0), axis=axes)
        uncertain = np.any(r > 0, axis=axes)
        out = bound + 2 * n * fmt.u * 1.01 * upper
        out = out + np.where(small < np.finfo(fmt.dtype).tiny, n * fmt.tiny * big, 0.0)
        out = np.where(exact_zero, 0.0, out)
        finite_out = np.isfinite(np.asarray(out_c, np.float64))
        out = np.where(finite_out, out, np.where(uncertain, np.inf, 0.0))
        out = np.where(big * (1 + 4 * n * fmt.u) >= fmt.max, np.inf, out)
    return np.where(np.isnan(out), np.inf, out)


def _extremum(name, c, r, params, out_c):
    axes = tuple(params["axes"])
    c64 = np.asarray(c, np.float64)
    with np.errstate(invalid="ignore"):
        lo, hi = np.where(r > 0, c64 - r, c64), np.where(r > 0, c64 + r, c64)
    red = np.max if name == "reduce_max" else np.min
    return np.maximum(_dev(red(lo, axis=axes), out_c), _dev(red(hi, axis=axes), out_c))


def _dot(cs, rs, params, out_c):
    fmt = _fmt(out_c)
    (a, b), (ra, rb) = cs, rs
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    fa, fb = np.isfinite(a64), np.isfinite(b64)
    (lc, _), _ = params["dimension_numbers"]
    n = int(np.prod([a64.shape[d] for d in lc])) if lc else 1
    p = dict(params, preferred_element_type=None)
    A, B = np.where(fa, np.abs(a64), 0.0), np.where(fb, np.abs(b64), 0.0)
    Ra, Rb = np.where(fa, ra, 0.0), np.where(fb, rb, 0.0)
    R = _ev_dot(A, Rb, p) + _ev_dot(Ra, B, p) + _ev_dot(Ra, Rb, p)
    S = _ev_dot(A + Ra, B + Rb, p)
    gamma = 2 * n * fmt.u * 1.01
    out = R + gamma * S + n * fmt.tiny
    uncertain = bool(np.any(ra > 0) or np.any(rb > 0))
    fin_out = np.isfinite(np.asarray(out_c, np.float64))
    out = np.where(fin_out, out, np.inf if uncertain else 0.0)
    infinite_r = bool(np.any(ra == np.inf) or np.any(rb == np.inf))
    return np.where(infinite_r | (S * (1 + gamma) >= fmt.max), np.inf, out)


def _ev_dot(a, b, params):
    return np.asarray(_ev(dot_general_p, [a, b], params), np.float64)


# --------------------------------------------------------------------------- the graph

def _radius(eqn, cs, rs, out_c):
    prim, params, name = eqn.prim, eqn.params, eqn.prim.name
    if name in MOVES:
        return np.asarray(_ev(prim, [np.asarray(r, np.float64) for r in rs], params),
                          np.float64)
    if name == "pad":
        return np.asarray(_ev(prim, [rs[0], np.float64(rs[1])], params), np.float64)
    if name == "select_n":
        return _select_n(cs, rs, out_c)
    if name in ("reduce_sum", "cumsum"):
        return _sum_like(name, cs[0], rs[0], params, out_c)
    if name == "reduce_prod":
        return _prod(cs[0], rs[0], params, out_c)
    if name in ("reduce_max", "reduce_min"):
        return _extremum(name, cs[0], rs[0], params, out_c)
    if name == "dot_general":
        return _dot(cs, rs, params, out_c)
    if prim.kind == "elementwise":
        return _elementwise(prim, cs, rs, params, out_c)
    raise NotImplementedError(f"fuzz_bounds: no error rule for primitive {name!r}")


def radii(fn, *args):
    """(centers, radii): flat lists over ``fn(*args)``'s output leaves (see the module
    docstring). ``args``: numpy arrays."""
    closed = ft.jit(fn).lower(*args).closed
    graph = closed.graph
    env = {}
    for v, a in zip(graph.in_vars, [*closed.consts, *args], strict=True):
        a = np.asarray(a)
        env[v] = (a, np.zeros(a.shape))

    def read(x):
        if type(x) is Literal:
            return x.val, np.zeros(x.val.shape)
        return env[x]

    for eqn in graph.eqns:
        ins = [read(x) for x in eqn.inputs]
        cs = [c for c, _ in ins]
        rs = [r for _, r in ins]
        out_c = _ev(eqn.prim, cs, eqn.params)
        if eqn.prim.multiple_results:
            raise NotImplementedError(f"fuzz_bounds: multiple results ({eqn.prim})")
        r = np.asarray(_radius(eqn, cs, rs, out_c), np.float64)
        env[eqn.outputs[0]] = (out_c, np.broadcast_to(r, out_c.shape))
    outs = [read(x) for x in graph.outs]
    return [c for c, _ in outs], [r for _, r in outs]
