"""The edge-value audit (tests/test_edge_values.py, whose helpers this uses), continued:
reductions (NaN, infinities, signed zeros, ties, integer wrap, empty axes, the parallel
kernels), where/clip and maximum/minimum with NaN, zero-size broadcasting, and chains of
ops fused into one loop. The CUDA half is tests/test_edge_values_cuda.py."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from test_edge_values import (  # noqa: F401  (_numba_backend: the autouse fixture)
    F32,
    FLOATS,
    INTS,
    PATHS,
    _numba_backend,
    assert_same,
    binary_inputs,
    float_edges,
    in_dtype,
    run,
    ulps,
    xfail_if,
)

import funtorch as ft

# --------------------------------------------------------------------------- reductions

def reduction_input(dt):
    """Rows: a NaN in the middle, all NaN, both infinities, signed zeros, ties, a NaN
    first, a NaN last, -inf only."""
    nan, inf = math.nan, math.inf
    rows = [[1.0, nan, 3.0, -2.0], [nan, nan, nan, nan], [-inf, 2.0, inf, 1.0],
            [-0.0, 0.0, -0.0, -0.0], [5.0, 5.0, 1.0, 1.0], [nan, 1.0, 2.0, 3.0],
            [1.0, 2.0, 3.0, nan], [-inf, -inf, -inf, -inf], [-0.0, -0.0, -0.0, -0.0]]
    return np.array(rows, np.float64).astype(dt)


def _logsumexp64(x, axis):
    x = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        return np.logaddexp.reduce(x, axis=axis)


# name -> (ft function(x, axis), numpy reference(x, axis), ulps, check zero sign)
REDUCTIONS = {
    "sum": (ft.sum, np.sum, 4, True),
    "prod": (ft.prod, np.prod, 4, True),
    "max": (ft.max, np.max, 0, False),
    "min": (ft.min, np.min, 0, False),
    "argmax": (ft.argmax, np.argmax, 0, True),
    "argmin": (ft.argmin, np.argmin, 0, True),
    "mean": (ft.mean, np.mean, 4, True),
    "var": (ft.var, np.var, 8, True),
    "cumsum": (ft.cumsum, np.cumsum, 4, True),
    "all": (ft.all, np.all, 0, True),
    "any": (ft.any, np.any, 0, True),
    "logsumexp": (ft.logsumexp, _logsumexp64, 8, True),
}
REDUCTION_BUGS = {}


def _reduction_cases():
    for name in REDUCTIONS:
        for dt in FLOATS:
            for axis in (None, 0, 1):
                for path in PATHS:
                    reason = None
                    for key in ((name, dt.name, path), (name, dt.name, "*"),
                                (name, "*", path), (name, "*", "*")):
                        reason = reason or REDUCTION_BUGS.get(key)
                    yield pytest.param(name, dt, axis, path,
                                       id=f"{name}-{dt.name}-axis{axis}-{path}",
                                       marks=xfail_if(reason, reason))


def reduction_reference(name, dt, x, axis):
    ref = REDUCTIONS[name][1]
    if name == "logsumexp":
        x = x.ravel() if axis is None else x
        return _logsumexp64(x, 0 if axis is None else axis).astype(dt)
    out = in_dtype(lambda v: ref(v, axis=axis), dt, x)
    return out


@pytest.mark.parametrize("name,dt,axis,path", list(_reduction_cases()))
def test_reduction_float(name, dt, axis, path):
    fn, _, n, zs = REDUCTIONS[name]
    x = reduction_input(dt)
    want = reduction_reference(name, dt, x, axis)
    got = run(path, lambda v: fn(v, axis=axis), x)
    assert_same(got, want, f"{name}({dt.name}, axis={axis}) {path}", rtol=ulps(dt, n),
                zero_sign=zs)


INT_REDUCTIONS = ["sum", "prod", "max", "min", "argmax", "argmin", "cumsum", "all", "any"]


def int_reduction_input(dt):
    """A bool pattern, or integer extremes whose sums and products wrap."""
    if dt == np.bool_:
        return np.array([[True, False, True], [False, False, False], [True, True, True]])
    ii = np.iinfo(dt)
    return np.array([[ii.max, 1, 2], [ii.min, ii.min, 3], [ii.max, ii.max, ii.max],
                     [7, 0, 7], [0, 0, 0], [ii.max, ii.max, 1]], dt)


def mean_int_input(dt):
    """A bool pattern, or integer extremes for the mean of ints."""
    if dt == np.bool_:
        return np.array([[True, False, True], [False, False, False]])
    ii = np.iinfo(dt)
    return np.array([[ii.max, ii.max, ii.max], [ii.min, 1, 2]], dt)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dt", [*INTS, np.dtype(np.bool_)], ids=lambda d: d.name)
@pytest.mark.parametrize("name", INT_REDUCTIONS)
def test_reduction_int(name, dt, path):
    """Integer extremes: sums and products wrap; small ints and bools sum in 64 bits
    (as numpy: int64, or uint64 for unsigned)."""
    x = int_reduction_input(dt)
    fn, ref = REDUCTIONS[name][:2]
    for axis in (None, 0, 1):
        with np.errstate(all="ignore"):
            want = ref(x, axis=axis)
        got = run(path, lambda v, axis=axis: fn(v, axis=axis), x)
        assert_same(got, want, f"{name}({dt.name}, axis={axis}) {path}")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dt", [*INTS, np.dtype(np.bool_)], ids=lambda d: d.name)
def test_mean_of_ints(dt, path):
    """The mean of ints is float32 (numpy: float64; a documented difference); the values
    are numpy's rounded to float32, extremes included."""
    x = mean_int_input(dt)
    for axis in (None, 0, 1):
        want = np.mean(x, axis=axis).astype(np.float32)
        got = run(path, lambda v, axis=axis: ft.mean(v, axis=axis), x)
        assert got.dtype == np.float32
        assert_same(got, want, f"mean({dt.name}, axis={axis}) {path}", rtol=ulps(F32, 4))


EMPTY = [((0,), None), ((0,), 0), ((0, 3), 0), ((0, 3), 1), ((3, 0), 0), ((3, 0), 1),
         ((3, 0), None), ((2, 0, 4), (0, 2))]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape,axis", EMPTY, ids=[f"{s}-{a}" for s, a in EMPTY])
@pytest.mark.parametrize("name", ["sum", "prod", "mean", "max", "min", "argmax", "argmin",
                                  "all", "any", "cumsum", "logsumexp", "var"])
def test_empty_reductions(name, shape, axis, path):
    """Zero-size reductions: sum 0, prod 1, all True, any False, mean/var NaN; max, min,
    argmax, argmin over an empty axis raise ValueError (numpy too) on every path."""
    x = np.zeros(shape, np.float32)
    fn, ref = REDUCTIONS[name][:2]
    if name in ("argmax", "argmin", "cumsum") and isinstance(axis, tuple):
        # these take one axis (numpy too): a tuple is a TypeError on every path
        with pytest.raises(TypeError):
            ref(x, axis=axis)
        with pytest.raises(TypeError):
            run(path, lambda v: fn(v, axis=axis), x)
        return
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name == "logsumexp":
                want = np.log(np.sum(np.exp(x), axis=axis)).astype(np.float32)
            else:
                want = ref(x, axis=axis)
    except ValueError:
        with pytest.raises(ValueError):
            run(path, lambda v: fn(v, axis=axis), x)
        return
    got = run(path, lambda v: fn(v, axis=axis), x)
    assert_same(got, want, f"{name}{shape} axis={axis} {path}")


@pytest.mark.parametrize("path", PATHS)
def test_big_reductions_with_nan(path):
    """Arrays big enough for the parallel kernels: the first NaN wins argmax/argmin,
    max/min/sum propagate it, ties keep the first index."""
    n = 1 << 20
    x = np.zeros(n, np.float32)
    x[[5, 700001]] = 3.0                      # a tie: the first index wins
    x[[600000, 900000]] = -3.0
    got = run(path, lambda v: (ft.argmax(v), ft.argmin(v), ft.max(v), ft.min(v)), x)
    assert [int(v) for v in got] == [5, 600000, 3, -3]
    x[[700000, 800000]] = np.nan
    got = run(path, lambda v: (ft.argmax(v), ft.argmin(v), ft.max(v), ft.min(v), ft.sum(v)),
              x)
    assert int(got[0]) == 700000 and int(got[1]) == 700000
    assert all(np.isnan(v) for v in got[2:])
    y = np.zeros((64, 1 << 14), np.float32)
    y[3, 9000] = np.nan
    y[7, 100] = np.inf
    want = (np.argmax(y, axis=1), np.max(y, axis=1), np.argmin(y, axis=0), np.sum(y, axis=1))
    got = run(path, lambda v: (ft.argmax(v, axis=1), ft.max(v, axis=1), ft.argmin(v, axis=0),
                               ft.sum(v, axis=1)), y)
    for g, w in zip(got, want):
        assert_same(g, w, f"2-d {path}")


# --------------------------------------------------------------------------- where, clip

@pytest.mark.parametrize("dt", FLOATS, ids=lambda d: d.name)
@pytest.mark.parametrize("path", PATHS)
def test_where_clip_nan(dt, path):
    x = float_edges(dt)
    y = x[::-1].copy()
    for name, fn, ref in [
        ("where(x>y)", lambda a, b: ft.where(a > b, a, b), lambda a, b: np.where(a > b, a, b)),
        ("where(nan cond)", lambda a, b: ft.where(a, a, b), lambda a, b: np.where(a, a, b)),
        ("clip", lambda a, b: ft.clip(a, -1.0, 2.0), lambda a, b: np.clip(a, -1.0, 2.0)),
        ("clip lo>hi", lambda a, b: ft.clip(a, 2.0, -1.0),
         lambda a, b: np.minimum(np.maximum(a, 2.0), -1.0)),
        ("clip array bounds", lambda a, b: ft.clip(a, b, 1.0),
         lambda a, b: np.minimum(np.maximum(a, b), 1.0)),
    ]:
        want = in_dtype(ref, dt, x, y)
        assert_same(run(path, fn, x, y), want, f"{name} {dt.name} {path}", zero_sign=False)


@pytest.mark.parametrize("path", PATHS)
def test_max_min_signed_zero_and_nan(path):
    """NaN propagates from either side of maximum/minimum. The sign of a zero result of
    maximum(-0.0, 0.0) is not specified by numpy: only recorded."""
    x = np.array([np.nan, 1.0, np.nan, -np.inf, -0.0, 0.0], np.float32)
    y = np.array([1.0, np.nan, np.nan, np.nan, 0.0, -0.0], np.float32)
    for fn, ref in ((ft.maximum, np.maximum), (ft.minimum, np.minimum)):
        got = run(path, fn, x, y)
        assert_same(got, ref(x, y), f"{fn.__name__} {path}", zero_sign=False)
        print(fn.__name__, path, "signs of zeros:", np.signbit(got[4:]).tolist(),
              "numpy:", np.signbit(ref(x, y)[4:]).tolist())


# --------------------------------------------------------------------------- zero-size

ZERO_SIZE = [((0, 3), (1, 3)), ((2, 0), (2, 1)), ((3, 1), (0,)), ((0,), ()),
             ((1, 0), (5, 1)), ((0, 1, 2), (3, 1))]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("sx,sy", ZERO_SIZE, ids=[f"{a}-{b}" for a, b in ZERO_SIZE])
def test_zero_size_broadcasting(sx, sy, path):
    x = np.ones(sx, np.float32)
    y = np.full(sy, 2, np.int32)
    want = (x + y, np.maximum(x, y), np.where(x > y, x, y), np.exp(x) * y + 1,
            (x > y) | (x < 0), np.sum(x * y, axis=0), np.sum(x * y, axis=-1))
    got = run(path, lambda a, b: (a + b, ft.maximum(a, b), ft.where(a > b, a, b),
                                  ft.exp(a) * b + 1, (a > b) | (a < 0),
                                  ft.sum(a * b, axis=0), ft.sum(a * b, axis=-1)), x, y)
    for g, w in zip(got, want):
        assert_same(g, w, f"{sx} {sy} {path}", dtype=False)
        assert g.dtype == np.result_type(np.float32, np.int32) or g.dtype in (
            np.float32, np.bool_)



# name -> (function of two arrays, input dtype)
CHAINS = {
    "int8 wrap chain": (lambda x, y: (x * y + x) // (y | 1) - (x >> 2), np.int8),
    "uint8 wrap chain": (lambda x, y: (x - y) * 3 + (x ^ y) % (y | 1), np.uint8),
    "int32 shifts": (lambda x, y: (x << (y & 31)) ^ (x >> (y & 7)), np.int32),
    "int64 mixed": (lambda x, y: ft.where(y != 0, x // ft.maximum(y, 1), -x) + ft.abs(x),
                    np.int64),
    "float32 nan chain": (lambda x, y: ft.where(ft.isnan(x), 0.0, ft.sigmoid(ft.exp(x) - y)),
                          np.float32),
    "float32 clamp chain": (lambda x, y: ft.clip(x * y, -1.0, 1.0) + ft.minimum(x, y),
                            np.float32),
    "float64 log chain": (lambda x, y: ft.log1p(ft.abs(x)) * ft.tanh(y) - ft.sqrt(y * y),
                          np.float64),
}


@pytest.mark.parametrize("name", list(CHAINS))
def test_fused_chains_jit_equals_eager(name):
    """Chains of ops fused into one loop: every intermediate keeps its dtype (small ints
    wrap between ops, not only at the end)."""
    fn, dt = CHAINS[name]
    dt = np.dtype(dt)
    x, y = binary_inputs(dt)
    e = run("eager", fn, x, y)
    j = run("jit", fn, x, y)
    assert_same(j, e, f"{name}: jit vs eager", rtol=ulps(dt, 2))
