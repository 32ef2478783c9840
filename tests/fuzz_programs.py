"""Random straight-line programs for the differential fuzzer (tests/test_fuzz*.py).

A program is a few inputs (shapes broadcast-compatible with a base shape that may have
size-0 and size-1 dims, or be 0-d) and 2-8 ops, each reading earlier values; some values
are its outputs (a tuple: a pytree of several outputs). ``run(ns, program, inputs)``
evaluates it with a numpy-like namespace: ``FT`` (funtorch) or ``jax_namespace()``, so
one program runs on every backend and under every transformation, and in JAX.

``programs(kind)`` is the hypothesis strategy; ``inputs(program, dtype, seed, special)``
makes its input arrays (``special``: some elements replaced by 0, -0, +-inf, NaN, 1e30,
...). The comparison rules that tell rounding from bugs live with the tests.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import strategies as st

import funtorch as ft

SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e30, 1e-30, 1.0, -1.0])


# --------------------------------------------------------------------------- namespaces

class Namespace:
    """numpy names from ``module``, plus the few that differ between libraries."""

    def __init__(self, module, **extra):
        self._module, self._extra = module, extra

    def __getattr__(self, name):
        if name in self._extra:
            return self._extra[name]
        return getattr(self._module, name)


FT = Namespace(ft, softmax=lambda x, axis: ft.nn.functional.softmax(x, axis),
               log_softmax=lambda x, axis: ft.nn.functional.log_softmax(x, axis),
               sigmoid=ft.sigmoid, logsumexp=ft.logsumexp)


def jax_namespace():
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp
    return Namespace(jnp, softmax=lambda x, axis: jax.nn.softmax(x, axis=axis),
                     log_softmax=lambda x, axis: jax.nn.log_softmax(x, axis=axis),
                     sigmoid=jax.nn.sigmoid, logsumexp=logsumexp)


# --------------------------------------------------------------------------- ops

@dataclasses.dataclass(frozen=True)
class Op:
    """``fn(ns, args, param)``; ``shape(shapes, param)`` the output shape (None: not
    applicable); ``params(shapes)``: the parameters it may take; ``kinds``: 'f' float,
    'i' integer programs; ``arity``."""
    name: str
    arity: int
    fn: object
    shape: object
    params: object = lambda shapes: [None]
    kinds: str = "f"


def _same(shapes, p):
    return shapes[0]


def _bcast(shapes, p):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None


def _axes(shapes):
    """None (all axes) or one axis of the first operand."""
    return [None] + list(range(len(shapes[0])))


def _reduced(shapes, axis, empty_ok=True):
    s = shapes[0]
    size = int(np.prod(s)) if axis is None else (s[axis] if s else 1)
    if not empty_ok and size == 0:
        return None
    if axis is None:
        return ()
    return s[:axis] + s[axis + 1:]


def _axis_params(shapes):
    return list(range(len(shapes[0]))) or [None]


def _keep_axis(shapes, axis):
    """A shape-preserving op along ``axis`` (of an array of rank >= 1)."""
    return shapes[0] if axis is not None else None


def _unary(name, fn, kinds="f"):
    return Op(name, 1, lambda ns, a, p: fn(ns, a[0]), _same, kinds=kinds)


def _binary(name, fn, kinds="f"):
    return Op(name, 2, lambda ns, a, p: fn(ns, a[0], a[1]), _bcast, kinds=kinds)


OPS = [
    _binary("sub", lambda ns, x, y: x - y, "fi"),
    _unary("neg", lambda ns, x: ns.negative(x), "fi"),
    _unary("abs", lambda ns, x: ns.abs(x), "fi"),
    _unary("square", lambda ns, x: ns.square(x), "fi"),
    _unary("sign", lambda ns, x: ns.sign(x), "fi"),
    _unary("exp", lambda ns, x: ns.exp(x)),
    _unary("log", lambda ns, x: ns.log(x)),
    _unary("sqrt", lambda ns, x: ns.sqrt(x)),
    _unary("sin", lambda ns, x: ns.sin(x)),
    _unary("tanh", lambda ns, x: ns.tanh(x)),
    _unary("sigmoid", lambda ns, x: ns.sigmoid(x)),
    _unary("log1p", lambda ns, x: ns.log1p(x)),
    _unary("expm1", lambda ns, x: ns.expm1(x)),
    _unary("reciprocal", lambda ns, x: 1.0 / x),
    _unary("floor", lambda ns, x: ns.floor(x)),
    _unary("relu", lambda ns, x: ns.maximum(x, 0)),
    _unary("scale", lambda ns, x: x * 3 - 1, "fi"),
    _binary("add", lambda ns, x, y: x + y, "fi"),
    _binary("mul", lambda ns, x, y: x * y, "fi"),
    _binary("div", lambda ns, x, y: x / y),
    _binary("maximum", lambda ns, x, y: ns.maximum(x, y), "fi"),
    _binary("minimum", lambda ns, x, y: ns.minimum(x, y), "fi"),
    _binary("where", lambda ns, x, y: ns.where(x > y, x, y * 2), "fi"),
    _binary("arctan2", lambda ns, x, y: ns.arctan2(x, y)),
    _binary("pow", lambda ns, x, y: ns.power(x, y)),
    Op("sum", 1, lambda ns, a, p: ns.sum(a[0], axis=p), lambda s, p: _reduced(s, p), _axes,
       "fi"),
    Op("prod", 1, lambda ns, a, p: ns.prod(a[0], axis=p), lambda s, p: _reduced(s, p), _axes,
       "fi"),
    Op("mean", 1, lambda ns, a, p: ns.mean(a[0], axis=p), lambda s, p: _reduced(s, p), _axes),
    Op("max", 1, lambda ns, a, p: ns.max(a[0], axis=p), lambda s, p: _reduced(s, p, False),
       _axes, "fi"),
    Op("min", 1, lambda ns, a, p: ns.min(a[0], axis=p), lambda s, p: _reduced(s, p, False),
       _axes, "fi"),
    Op("logsumexp", 1, lambda ns, a, p: ns.logsumexp(a[0], axis=p),
       lambda s, p: _reduced(s, p), _axes),
    Op("var", 1, lambda ns, a, p: ns.var(a[0], axis=p), lambda s, p: _reduced(s, p, False),
       _axes),
    Op("softmax", 1, lambda ns, a, p: ns.softmax(a[0], p), _keep_axis, _axis_params),
    Op("log_softmax", 1, lambda ns, a, p: ns.log_softmax(a[0], p), _keep_axis, _axis_params),
    Op("cumsum", 1, lambda ns, a, p: ns.cumsum(a[0], axis=p), _keep_axis, _axis_params, "fi"),
    Op("transpose", 1, lambda ns, a, p: ns.transpose(a[0]), lambda s, p: s[0][::-1],
       kinds="fi"),
    Op("flip", 1, lambda ns, a, p: ns.flip(a[0], axis=p),
       lambda s, p: s[0] if p is not None else None, _axis_params, "fi"),
    Op("ravel", 1, lambda ns, a, p: ns.reshape(a[0], (-1,)),
       lambda s, p: (int(np.prod(s[0])),), kinds="fi"),
    Op("stride", 1, lambda ns, a, p: a[0][::2],
       lambda s, p: ((s[0][0] + 1) // 2,) + s[0][1:] if s[0] else None, kinds="fi"),
    Op("newaxis", 1, lambda ns, a, p: a[0][None], lambda s, p: (1,) + s[0], kinds="fi"),
    Op("concat", 2, lambda ns, a, p: ns.concatenate([a[0], a[1]], axis=0),
       lambda s, p: (s[0][0] + s[1][0],) + s[0][1:] if s[0] and s[0][1:] == s[1][1:] and
       len(s[0]) == len(s[1]) else None, kinds="fi"),
    Op("pad", 1, lambda ns, a, p: ns.pad(a[0], 1, mode=p),
       lambda s, p: tuple(n + 2 for n in s[0]) if p == "constant" or all(s[0]) else None,
       lambda s: ["constant", "edge", "reflect"], "fi"),
    Op("gram", 1, lambda ns, a, p: ns.matmul(a[0], ns.transpose(a[0])),
       lambda s, p: (s[0][0], s[0][0]) if len(s[0]) == 2 else None, kinds="f"),
]
OPS_BY_NAME = {op.name: op for op in OPS}


@dataclasses.dataclass(frozen=True)
class Program:
    """``input_shapes``; ``steps``: (op name, operand value indices, param); values are
    the inputs then each step's result; ``outputs``: value indices returned as a tuple."""
    input_shapes: tuple
    steps: tuple
    outputs: tuple
    kind: str = "f"

    def __str__(self):
        lines = [f"inputs {self.input_shapes}"]
        n = len(self.input_shapes)
        for k, (name, args, p) in enumerate(self.steps):
            lines.append(f"  v{n + k} = {name}({', '.join(f'v{a}' for a in args)}"
                         f"{'' if p is None else f', {p!r}'})")
        lines.append(f"  return {tuple(f'v{o}' for o in self.outputs)}")
        return "\n".join(lines)


def run(ns, program, args):
    vals = list(args)
    for name, idx, p in program.steps:
        vals.append(OPS_BY_NAME[name].fn(ns, [vals[i] for i in idx], p))
    return tuple(vals[o] for o in program.outputs)


def _shape_strategy(max_rank=3):
    # hypothesis leans towards the first entries: a rank-2 shape of 3s is the "simplest"
    rank = st.sampled_from([2, 1, 3, 0][:max_rank + 1] if max_rank < 3 else [2, 1, 3, 0])
    size = st.sampled_from([3, 2, 1, 4, 0, 5])
    return rank.flatmap(lambda r: st.tuples(*[size] * r))


@st.composite
def programs(draw, kind="f", min_ops=2, max_ops=8, max_rank=3):
    base = draw(_shape_strategy(max_rank))
    shapes = [base]
    for _ in range(draw(st.integers(0, 2))):
        # a suffix of the base shape, some dims 1: broadcast-compatible
        k = draw(st.integers(0, len(base)))
        suffix = base[len(base) - k:]
        shapes.append(tuple(draw(st.sampled_from([n, 1])) for n in suffix))
    n_inputs = len(shapes)
    steps = []
    ops = [op for op in OPS if kind in op.kinds]
    for _ in range(draw(st.integers(min_ops, max_ops))):
        for _attempt in range(20):
            op = draw(st.sampled_from(ops))
            # mostly a chain: the first operand the latest value, the others any
            n = len(shapes)
            first = n - 1 - draw(st.integers(0, n - 1))
            args = (first,) + tuple(draw(st.integers(0, n - 1)) for _ in range(op.arity - 1))
            p = draw(st.sampled_from(op.params([shapes[a] for a in args])))
            out = op.shape([shapes[a] for a in args], p)
            if out is not None and int(np.prod(out)) <= 4096:
                steps.append((op.name, args, p))
                shapes.append(tuple(out))
                break
    # outputs: the last value and the results no later step reads (a pytree of several)
    used = {a for _, args, _ in steps for a in args}
    dangling = [k for k in range(n_inputs, len(shapes) - 1) if k not in used]
    outputs = (len(shapes) - 1,) + tuple(dangling[-2:])
    return Program(tuple(shapes[:n_inputs]), tuple(steps), outputs, kind)


def shapes_of(program):
    """Every value's shape (inputs first)."""
    shapes = list(program.input_shapes)
    for name, idx, p in program.steps:
        shapes.append(tuple(OPS_BY_NAME[name].shape([shapes[i] for i in idx], p)))
    return shapes


def inputs(program, dtype, seed, special=False):
    """numpy input arrays for ``program``."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    out = []
    for shape in program.input_shapes:
        if dtype.kind in "iu":
            x = rng.integers(-6, 7, shape).astype(dtype)
        else:
            x = rng.standard_normal(shape) * rng.choice([0.5, 1.0, 3.0])
            if special and x.size:
                mask = rng.random(shape) < 0.3
                x = np.where(mask, rng.choice(SPECIALS, shape), x)
            x = x.astype(dtype)
        out.append(x)
    return out
