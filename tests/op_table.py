"""The op table (PyTorch's OpInfo idea): every public op once, with a sample-input
generator and a numpy reference. Generic tests in test_ops.py run each entry eager
vs numpy, JVP vs finite differences, VJP vs JVP, vmap vs a loop, jit vs eager.

A sample generator is written once against ``Gen`` and driven either by hypothesis
(``HypGen``: shrinking, edge cases) or by a seeded numpy RNG (``RngGen``: the
deterministic samples used by the transformation checks).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

import funtorch as ft

# --------------------------------------------------------------------------- generators

class Gen:
    """What a sample generator may ask for."""

    def int(self, lo, hi):  # inclusive
        raise NotImplementedError

    def choice(self, options):
        return options[self.int(0, len(options) - 1)]

    def bool(self):
        return bool(self.int(0, 1))

    def shape(self, min_dims=0, max_dims=3, min_side=0, max_side=4):
        nd = self.int(min_dims, max_dims)
        return tuple(self.int(min_side, max_side) for _ in range(nd))

    def broadcastable(self, shape):
        """A shape that broadcasts against ``shape`` (drops leading dims, sets some to 1)."""
        drop = self.int(0, len(shape))
        return tuple(1 if self.bool() else s for s in shape[drop:])

    def array(self, shape, dtype, low=-3.0, high=3.0):
        raise NotImplementedError

    def axis(self, ndim, allow_none=False):
        if ndim == 0:
            return None if allow_none else 0
        opts = list(range(-ndim, ndim)) + ([None] if allow_none else [])
        return self.choice(opts)


class RngGen(Gen):
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def int(self, lo, hi):
        return int(self.rng.integers(lo, hi + 1))

    def array(self, shape, dtype, low=-3.0, high=3.0):
        dtype = np.dtype(dtype)
        if dtype == np.bool_:
            return self.rng.random(shape) < 0.5
        if np.issubdtype(dtype, np.integer):
            return self.rng.integers(int(low), int(high) + 1, shape).astype(dtype)
        return self.rng.uniform(low, high, shape).astype(dtype)


class HypGen(Gen):
    def __init__(self, draw):
        self.draw = draw

    def int(self, lo, hi):
        from hypothesis import strategies as st
        return self.draw(st.integers(lo, hi))

    def array(self, shape, dtype, low=-3.0, high=3.0):
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp
        dtype = np.dtype(dtype)
        if dtype == np.bool_:
            elems = st.booleans()
        elif np.issubdtype(dtype, np.integer):
            elems = st.integers(int(low), int(high))
        else:
            width = 32 if dtype.itemsize <= 4 else 64
            lo, hi = (float(np.float32(v)) for v in (low, high))
            elems = st.floats(lo, hi, width=width, allow_nan=False,
                              allow_infinity=False)
        if dtype.itemsize < 4 and np.issubdtype(dtype, np.floating):
            return self.draw(hnp.arrays(np.float32, shape, elements=elems)).astype(dtype)
        return self.draw(hnp.arrays(dtype, shape, elements=elems))


# --------------------------------------------------------------------------- entries

@dataclasses.dataclass
class Sample:
    args: tuple
    kwargs: dict = dataclasses.field(default_factory=dict)
    # numpy arrays anywhere in args/kwargs (lists included) are the op's array inputs;
    # every other value is a static Python argument


@dataclasses.dataclass
class OpInfo:
    name: str
    fn: Callable                    # funtorch op
    ref: Callable                   # numpy reference on numpy arrays
    sample: Callable[[Gen, Any], Sample]
    dtypes: tuple = (np.float32,)
    differentiable: bool = True
    check_dtype: bool = True
    rtol: float = 1e-5
    atol: float = 1e-6
    grad_rtol: float = 2e-3
    grad_atol: float = 2e-4
    vmap: bool = True
    jit: bool = True
    fd_eps: float = 1e-6


OPS: list[OpInfo] = []


def register(*infos):
    OPS.extend(infos)


def by_name(name):
    for op in OPS:
        if op.name == name:
            return op
    raise KeyError(name)


# --------------------------------------------------------------------------- sample helpers

def unary(low=-3.0, high=3.0, min_side=0):
    def sample(g, dtype):
        return Sample((g.array(g.shape(min_side=min_side), dtype, low, high),))
    return sample


def binary(low=-3.0, high=3.0, low2=None, high2=None):
    def sample(g, dtype):
        s = g.shape()
        s2 = g.broadcastable(s)
        if g.bool():
            s, s2 = s2, s
        return Sample((g.array(s, dtype, low, high),
                       g.array(s2, dtype, low if low2 is None else low2,
                               high if high2 is None else high2)))
    return sample


def reduction(min_side=0, keepdims=True, allow_none=True):
    def sample(g, dtype):
        x = g.array(g.shape(min_side=min_side), dtype)
        kw = {"axis": g.axis(x.ndim, allow_none=allow_none)}
        if keepdims:
            kw["keepdims"] = g.bool()
        return Sample((x,), kw)
    return sample


def _away_from(x, points, margin=0.05):
    """Nudge samples away from kinks so finite differences are meaningful."""
    x = np.array(x)
    for p in points:
        close = np.abs(x - p) < margin
        x[close] = p + margin * np.where(x[close] >= p, 1, -1) * 2
    return x


# --------------------------------------------------------------------------- elementwise

def _smooth_unary(name, fn, ref, low=-3.0, high=3.0, **kw):
    return OpInfo(name, fn, ref, unary(low, high), **kw)


register(
    _smooth_unary("exp", ft.exp, np.exp),
    _smooth_unary("log", ft.log, np.log, low=0.1, high=5.0),
    _smooth_unary("log1p", ft.log1p, np.log1p, low=-0.9, high=5.0),
    _smooth_unary("expm1", ft.expm1, np.expm1),
    _smooth_unary("sqrt", ft.sqrt, np.sqrt, low=0.1, high=5.0),
    _smooth_unary("rsqrt", ft.rsqrt, lambda x: 1 / np.sqrt(x), low=0.1, high=5.0, rtol=1e-5),
    _smooth_unary("sin", ft.sin, np.sin),
    _smooth_unary("cos", ft.cos, np.cos),
    _smooth_unary("tanh", ft.tanh, np.tanh),
    _smooth_unary("sigmoid", ft.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    _smooth_unary("negative", ft.negative, np.negative),
    _smooth_unary("square", ft.square, np.square),
    _smooth_unary("reciprocal", ft.reciprocal, np.reciprocal, low=0.5, high=3.0),
    _smooth_unary("erf", ft.erf, lambda x: np.vectorize(math.erf, otypes=[np.float64])(x)
                  .astype(x.dtype), rtol=1e-5, atol=1e-6),
    OpInfo("abs", ft.abs, np.abs, lambda g, d: Sample((_away_from(g.array(g.shape(), d), [0]),))),
    OpInfo("sign", ft.sign, np.sign, unary(), differentiable=True),
    OpInfo("floor", ft.floor, np.floor, unary()),
    OpInfo("ceil", ft.ceil, np.ceil, unary()),
    OpInfo("round", ft.round, np.round, unary()),
)

register(
    OpInfo("add", ft.add, np.add, binary()),
    OpInfo("subtract", ft.subtract, np.subtract, binary()),
    OpInfo("multiply", ft.multiply, np.multiply, binary()),
    OpInfo("divide", ft.divide, np.divide, binary(low2=0.5, high2=3.0)),
    OpInfo("power", ft.power, np.power, binary(low=0.5, high=3.0, low2=-2.0, high2=2.0),
           rtol=1e-4),
    # integer ** integer array (numpy raises on negative exponents: none sampled here)
    OpInfo("power_int", ft.power, np.power, binary(low=-4, high=4, low2=0, high2=5),
           dtypes=(np.int64, np.int32), differentiable=False),
    OpInfo("maximum", ft.maximum, np.maximum, binary()),
    OpInfo("minimum", ft.minimum, np.minimum, binary()),
    OpInfo("arctan2", ft.arctan2, np.arctan2, binary(low2=0.5, high2=3.0), rtol=1e-5),
    OpInfo("remainder", ft.remainder, np.remainder, binary(low2=0.5, high2=3.0), rtol=1e-4,
           atol=1e-5, differentiable=False),
    OpInfo("floor_divide", ft.floor_divide, np.floor_divide, binary(low2=0.5, high2=3.0),
           differentiable=False),
    OpInfo("left_shift", ft.left_shift, np.left_shift, binary(low=-9, high=9, low2=0, high2=7),
           dtypes=(np.int32, np.int64), differentiable=False),
    # unsigned: a logical shift
    OpInfo("right_shift", ft.right_shift, np.right_shift,
           binary(low=0, high=200, low2=0, high2=7), dtypes=(np.uint32, np.uint8),
           differentiable=False),
    # the bits of a float as an integer of the same width
    OpInfo("bitcast_convert_type", lambda x: ft.lax.bitcast_convert_type(x, np.int32),
           lambda x: x.view(np.int32), unary(), differentiable=False),
)


def _cmp(name, fn, ref):
    return OpInfo(name, fn, ref, binary(), differentiable=False)


register(
    _cmp("equal", ft.equal, np.equal), _cmp("not_equal", ft.not_equal, np.not_equal),
    _cmp("less", ft.less, np.less), _cmp("less_equal", ft.less_equal, np.less_equal),
    _cmp("greater", ft.greater, np.greater),
    _cmp("greater_equal", ft.greater_equal, np.greater_equal),
)


def _bool_binary(g, dtype):
    s = g.shape()
    return Sample((g.array(s, np.bool_), g.array(g.broadcastable(s), np.bool_)))


register(
    OpInfo("logical_and", ft.logical_and, np.logical_and, _bool_binary, differentiable=False),
    OpInfo("logical_or", ft.logical_or, np.logical_or, _bool_binary, differentiable=False),
    OpInfo("logical_xor", ft.logical_xor, np.logical_xor, _bool_binary, differentiable=False),
    OpInfo("logical_not", ft.logical_not, np.logical_not,
           lambda g, d: Sample((g.array(g.shape(), np.bool_),)), differentiable=False),
)


def _clip_sample(g, dtype):
    x = g.array(g.shape(), dtype)
    return Sample((_away_from(_away_from(x, [-1.0]), [1.5]), -1.0, 1.5))


def _where_sample(g, dtype):
    s = g.shape()
    return Sample((g.array(g.broadcastable(s), np.bool_), g.array(s, dtype),
                   g.array(g.broadcastable(s), dtype)))


register(
    OpInfo("clip", ft.clip, np.clip, _clip_sample),
    OpInfo("where", ft.where, np.where, _where_sample),
)

# --------------------------------------------------------------------------- reductions


def _ref_keep(fn):
    def ref(x, axis=None, keepdims=False, **kw):
        return np.asarray(fn(x, axis=axis, keepdims=keepdims, **kw))
    return ref


def _nonempty_reduction(g, dtype):
    x = g.array(g.shape(min_side=1), dtype)
    # distinct values so max/min/argmax are unambiguous and smooth
    flat = np.argsort(np.argsort(g.array((x.size,), np.float64).ravel())).astype(dtype)
    x = (flat.reshape(x.shape) * 0.37 - 1.5).astype(dtype)
    return Sample((x,), {"axis": g.axis(x.ndim, allow_none=True), "keepdims": g.bool()})


def _logsumexp_ref(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


register(
    OpInfo("sum", ft.sum, _ref_keep(np.sum), reduction(), rtol=1e-5, atol=1e-5),
    OpInfo("prod", ft.prod, _ref_keep(np.prod), lambda g, d: Sample(
        (g.array(g.shape(max_side=3), d, 0.5, 1.5),),
        {}), rtol=1e-5),
    OpInfo("mean", ft.mean, _ref_keep(np.mean), reduction(min_side=1), atol=1e-5),
    OpInfo("var", ft.var, _ref_keep(np.var), reduction(min_side=2), rtol=1e-4, atol=1e-5),
    OpInfo("std", ft.std, _ref_keep(np.std), reduction(min_side=2), rtol=1e-4, atol=1e-5,
           grad_rtol=5e-3),
    OpInfo("max", ft.max, _ref_keep(np.max), _nonempty_reduction),
    OpInfo("min", ft.min, _ref_keep(np.min), _nonempty_reduction),
    OpInfo("argmax", ft.argmax, _ref_keep(np.argmax), _nonempty_reduction,
           differentiable=False),
    OpInfo("argmin", ft.argmin, _ref_keep(np.argmin), _nonempty_reduction,
           differentiable=False),
    OpInfo("logsumexp", ft.logsumexp, _logsumexp_ref, reduction(min_side=1), rtol=1e-5,
           atol=1e-5),
    OpInfo("cumsum", ft.cumsum, lambda x, axis=None: np.cumsum(x, axis=axis),
           lambda g, d: (lambda x: Sample((x,), {"axis": g.axis(x.ndim, allow_none=True)}))(
               g.array(g.shape(), d)), atol=1e-5),
)

# --------------------------------------------------------------------------- shape ops


def _reshape_sample(g, dtype):
    x = g.array(g.shape(max_side=3), dtype)
    shapes = [(x.size,), (-1,), (1, x.size), (x.size, 1)]
    if x.size and x.size % 2 == 0:
        shapes.append((2, -1))
    return Sample((x, g.choice(shapes)))


def _transpose_sample(g, dtype):
    x = g.array(g.shape(), dtype)
    perm = list(range(x.ndim))
    for i in range(len(perm) - 1, 0, -1):
        j = g.int(0, i)
        perm[i], perm[j] = perm[j], perm[i]
    return Sample((x, tuple(perm)))


def _two_axes(g, dtype):
    x = g.array(g.shape(min_dims=1), dtype)
    return Sample((x, g.axis(x.ndim), g.axis(x.ndim)))


def _squeeze_sample(g, dtype):
    s = list(g.shape(max_dims=3))
    s.insert(g.int(0, len(s)), 1)
    x = g.array(tuple(s), dtype)
    ones = [i for i, d in enumerate(s) if d == 1]
    return Sample((x,), {"axis": g.choice([None, g.choice(ones), -len(s) + g.choice(ones)])})


def _expand_sample(g, dtype):
    x = g.array(g.shape(), dtype)
    return Sample((x, g.int(-x.ndim - 1, x.ndim)))


def _broadcast_to_sample(g, dtype):
    s = g.shape(min_dims=1)
    return Sample((g.array(g.broadcastable(s), dtype), s))


def _concat_sample(g, dtype):
    s = list(g.shape(min_dims=1))
    ax = g.int(0, len(s) - 1)
    xs = []
    for _ in range(g.int(1, 3)):
        s2 = list(s)
        s2[ax] = g.int(0, 3)
        xs.append(g.array(tuple(s2), dtype))
    return Sample((xs,), {"axis": ax - (len(s) if g.bool() else 0)})


def _stack_sample(g, dtype):
    s = g.shape()
    xs = [g.array(s, dtype) for _ in range(g.int(1, 3))]
    return Sample((xs,), {"axis": g.int(-len(s) - 1, len(s))})


def _split_sample(g, dtype):
    s = list(g.shape(min_dims=1, min_side=1))
    ax = g.int(0, len(s) - 1)
    k = g.int(1, 3)
    s[ax] = s[ax] * k
    x = g.array(tuple(s), dtype)
    return Sample((x, g.choice([k, [1], [0, s[ax] - 1]]), ax))


def _pad_sample(g, dtype):
    x = g.array(g.shape(min_dims=1), dtype)
    pw = [(g.int(0, 2), g.int(0, 2)) for _ in range(x.ndim)]
    return Sample((x, pw), {"constant_values": g.choice([0.0, 1.5])})


def _flip_sample(g, dtype):
    x = g.array(g.shape(), dtype)
    return Sample((x,), {"axis": g.axis(x.ndim, allow_none=True)})


def _moveaxis_sample(g, dtype):
    x = g.array(g.shape(min_dims=1), dtype)
    return Sample((x, g.axis(x.ndim), g.axis(x.ndim)))


def _list_ref(fn):
    return lambda xs, **kw: fn(xs, **kw)


register(
    OpInfo("reshape", ft.reshape, np.reshape, _reshape_sample),
    OpInfo("transpose", ft.transpose, np.transpose, _transpose_sample),
    OpInfo("swapaxes", ft.swapaxes, np.swapaxes, _two_axes),
    OpInfo("moveaxis", ft.moveaxis, np.moveaxis, _moveaxis_sample),
    OpInfo("squeeze", ft.squeeze, np.squeeze, _squeeze_sample),
    OpInfo("expand_dims", ft.expand_dims, np.expand_dims, _expand_sample),
    OpInfo("broadcast_to", ft.broadcast_to, np.broadcast_to, _broadcast_to_sample),
    OpInfo("concatenate", ft.concatenate, np.concatenate, _concat_sample),
    OpInfo("stack", ft.stack, np.stack, _stack_sample),
    OpInfo("split", ft.split, np.split, _split_sample),
    OpInfo("pad", ft.pad, np.pad, _pad_sample),
    OpInfo("flip", ft.flip, np.flip, _flip_sample),
)
import op_table_indexing  # noqa: F401,E402
import op_table_linalg  # noqa: F401,E402
import op_table_random  # noqa: F401,E402
