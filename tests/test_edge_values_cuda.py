"""The edge-value audit (tests/test_edge_values.py) on the CUDA backend: every op eager
on the device and jitted on the device against the CPU eager result (ints and bools
bit-exact; floats with NaN/inf at the same places, zeros of the same sign, a few ulps).
Runs on Numba's simulated GPU (``NUMBA_ENABLE_CUDASIM=1``, set here unless the
environment says otherwise); with ``NUMBA_ENABLE_CUDASIM=0`` on a GPU machine the same
tests run on the real device. Known divergences are ``xfail(strict=True)``, "BUG: ..."."""

from __future__ import annotations

import os
import warnings

# first: sets NUMBA_ENABLE_CUDASIM before anything imports numba.cuda
from cuda_sim import fast_thread_switching, kernel_cache  # noqa: F401

# isort: split

import numpy as np
import pytest
from test_edge_values import (
    BINARY,
    BOOL_BINARY,
    CAST_TARGETS,
    F32,
    F64_TO_F16_DOUBLE_ROUNDING,
    FLOATS,
    INTS,
    UNARY_FLOAT,
    UNARY_INT,
    assert_same,
    binary_inputs,
    cast_inputs,
    float_edges,
    float_to_int_defined,
    int_edges,
    is_float,
    ulps,
    xfail_if,
)
from test_edge_values_reductions import (
    CHAINS,
    EMPTY,
    INT_REDUCTIONS,
    REDUCTIONS,
    ZERO_SIZE,
    int_reduction_input,
    mean_int_input,
    reduction_input,
)

import funtorch as ft

SIM = os.environ["NUMBA_ENABLE_CUDASIM"] == "1"
CUDA_PATHS = ["cuda-eager", "cuda-jit"]


def on_cpu(fn, *xs):
    """The reference: ``fn`` eager on the CPU."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fn(*[ft.asarray(x) for x in xs])
    return ft.tree.map(np.asarray, out)


def on_cuda(path, fn, *xs):
    """``fn`` on the device, eager or jitted; the results (on the device) copied back."""
    args = [ft.device_put(ft.asarray(x), "cuda") for x in xs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = ft.jit(fn)(*args) if path == "cuda-jit" else fn(*args)
    for leaf in ft.tree.leaves(out):
        assert leaf.device == "cuda:0", f"{path}: a result on {leaf.device}"
    return ft.tree.map(np.asarray, out)


def compare(path, fn, xs, what, n=0, zero_sign=True, dt=None):
    want = on_cpu(fn, *xs)
    got = on_cuda(path, fn, *xs)
    rtol = ulps(dt, n) if dt is not None else 0.0
    for g, w in zip(ft.tree.leaves(got), ft.tree.leaves(want), strict=True):
        assert_same(g, w, f"{what} {path}", rtol=rtol, zero_sign=zero_sign)


def _bug(table, *keys):
    for key in keys:
        if key in table:
            return table[key]
    return None


def _name_dt_path_cases(table, names, dtypes):
    """(name, dtype, path) params, xfailed by the first of (name, dtype, path),
    (name, dtype, "*"), (name, "*", path) in ``table``."""
    return [pytest.param(name, dt, path, id=f"{name}-{dt.name}-{path}", marks=xfail_if(
        r := _bug(table, (name, dt.name, path), (name, dt.name, "*"), (name, "*", path)), r))
        for name in names for dt in dtypes for path in CUDA_PATHS]


# --------------------------------------------------------------------------- unary

CUDA_UNARY_FLOAT_BUGS = {
    # (name, dtype name or "*", path or "*") -> reason
}


@pytest.mark.parametrize("name,dt,path",
                         _name_dt_path_cases(CUDA_UNARY_FLOAT_BUGS, UNARY_FLOAT, FLOATS))
def test_unary_float(name, dt, path):
    fn, _, n, _ = UNARY_FLOAT[name]
    compare(path, fn, [float_edges(dt)], f"{name}({dt.name})", max(n, 1) if not SIM else n,
            dt=dt)


CUDA_UNARY_INT_BUGS = {}


@pytest.mark.parametrize("name,dt,path", _name_dt_path_cases(CUDA_UNARY_INT_BUGS, UNARY_INT, INTS))
def test_unary_int(name, dt, path):
    compare(path, UNARY_INT[name][0], [int_edges(dt)], f"{name}({dt.name})")


# --------------------------------------------------------------------------- binary

CUDA_BINARY_BUGS = {}


@pytest.mark.parametrize("name,dt,path", [
    pytest.param(name, dt, path, id=f"{name}-{dt.name}-{path}", marks=xfail_if(
        r := _bug(CUDA_BINARY_BUGS, (name, dt.name, path), (name, dt.name, "*"),
                  (name, "*", path), (name, "*", "*")), r))
    for name, (_, _, _, floats, ints) in BINARY.items()
    for dt in (FLOATS if floats else []) + (INTS if ints else [])
    for path in CUDA_PATHS])
def test_binary(name, dt, path):
    fn, _, n, _, _ = BINARY[name]
    compare(path, fn, list(binary_inputs(dt)), f"{name}({dt.name})", n, dt=dt,
            zero_sign=name not in ("maximum", "minimum"))


CUDA_BOOL_BUGS = {}


@pytest.mark.parametrize("name,path", [
    pytest.param(n, p, id=f"{n}-{p}", marks=xfail_if(
        r := _bug(CUDA_BOOL_BUGS, (n, p), (n, "*")), r))
    for n in BOOL_BINARY for p in CUDA_PATHS])
def test_binary_bool(name, path):
    x = np.array([True, True, False, False])
    y = np.array([True, False, True, False])
    try:
        on_cpu(getattr(ft, name), x, y)
    except TypeError:
        # where the CPU rejects bool operands the device must reject them too
        with pytest.raises(TypeError):
            on_cuda(path, getattr(ft, name), x, y)
        return
    compare(path, getattr(ft, name), [x, y], f"{name}(bool)")


@pytest.mark.parametrize("path", CUDA_PATHS)
def test_true_divide_ints(path):
    for dt in INTS:
        compare(path, ft.true_divide, list(binary_inputs(dt)), f"true_divide({dt.name})", 2,
                dt=F32)


# --------------------------------------------------------------------------- conversions

CUDA_CAST_BUGS = {}


@pytest.mark.parametrize("src,dst,path", [
    pytest.param(src, dst, path, id=f"{src.name}-to-{dst.name}-{path}", marks=xfail_if(
        r := _bug(CUDA_CAST_BUGS, (src.name, dst.name, path), (src.name, dst.name, "*")), r))
    for src in [*FLOATS, *INTS, np.dtype(np.bool_)] for dst in CAST_TARGETS if src != dst
    for path in CUDA_PATHS])
def test_astype(src, dst, path):
    x = cast_inputs(src)
    fn = lambda v: v.astype(dst)   # noqa: E731
    want = on_cpu(fn, x)
    got = on_cuda(path, fn, x)      # must not raise or crash
    assert got.shape == want.shape and got.dtype == want.dtype
    if is_float(src) and dst.kind in "iu":
        ok = float_to_int_defined(x, dst)   # the rest is implementation-defined
        assert_same(got[ok], want[ok], f"{src.name}->{dst.name} {path}")
    else:
        assert_same(got, want, f"{src.name}->{dst.name} {path}")


@pytest.mark.parametrize("path", CUDA_PATHS)
def test_float64_to_float16_rounds_once(path):
    compare(path, lambda v: v.astype(np.float16), [F64_TO_F16_DOUBLE_ROUNDING],
            "float64->float16")


def test_float_to_int_undefined_values_record():
    """float -> int on the device: where numpy defines the value it equals the CPU's; NaN,
    inf and out-of-range values are implementation-defined (printed for the record) but
    never crash and keep the dtype and shape."""
    for src in FLOATS:
        x = float_edges(src)
        for dst in INTS:
            fn = lambda v, d=dst: v.astype(d)   # noqa: E731
            c = on_cpu(fn, x)
            for path in CUDA_PATHS:
                g = on_cuda(path, fn, x)
                assert g.dtype == c.dtype and g.shape == c.shape
                defined = float_to_int_defined(x, dst)
                np.testing.assert_array_equal(g[defined], c[defined])
                bad = (g != c) & ~defined
                if bad.any():
                    print(f"{src.name}->{dst.name} {path}: x={x[bad].tolist()} "
                          f"cpu={c[bad].tolist()} cuda={g[bad].tolist()}")


# --------------------------------------------------------------------------- reductions

CUDA_REDUCTION_BUGS = {
    # (name, dtype name or "*", axis, path or "*") -> reason
}


@pytest.mark.parametrize("name,dt,axis,path", [
    pytest.param(name, dt, axis, path, id=f"{name}-{dt.name}-axis{axis}-{path}",
                 marks=xfail_if(r := _bug(CUDA_REDUCTION_BUGS, (name, dt.name, axis, path),
                                          (name, "*", axis, "*")), r))
    for name in REDUCTIONS for dt in FLOATS for axis in (None, 0, 1) for path in CUDA_PATHS])
def test_reduction_float(name, dt, axis, path):
    fn, _, n, zs = REDUCTIONS[name]
    compare(path, lambda v: fn(v, axis=axis), [reduction_input(dt)],
            f"{name}({dt.name}, axis={axis})", n, dt=dt, zero_sign=zs)


CUDA_INT_REDUCTION_BUGS = {}


@pytest.mark.parametrize("name,dt,path", _name_dt_path_cases(
    CUDA_INT_REDUCTION_BUGS, INT_REDUCTIONS, [*INTS, np.dtype(np.bool_)]))
def test_reduction_int(name, dt, path):
    x = int_reduction_input(dt)
    fn = REDUCTIONS[name][0]
    for axis in (None, 0, 1):
        compare(path, lambda v, axis=axis: fn(v, axis=axis), [x],
                f"{name}({dt.name}, axis={axis})")


@pytest.mark.parametrize("path", CUDA_PATHS)
@pytest.mark.parametrize("dt", [*INTS, np.dtype(np.bool_)], ids=lambda d: d.name)
def test_mean_of_ints(dt, path):
    x = mean_int_input(dt)
    for axis in (None, 0, 1):
        compare(path, lambda v, axis=axis: ft.mean(v, axis=axis), [x],
                f"mean({dt.name}, axis={axis})", 4, dt=F32)


@pytest.mark.parametrize("path", CUDA_PATHS)
@pytest.mark.parametrize("shape,axis", EMPTY, ids=[f"{s}-{a}" for s, a in EMPTY])
@pytest.mark.parametrize("name", ["sum", "prod", "mean", "max", "min", "argmax", "argmin",
                                  "all", "any", "cumsum", "logsumexp", "var"])
def test_empty_reductions(name, shape, axis, path):
    """As on the CPU: values where the CPU gives values, ValueError where it raises."""
    x = np.zeros(shape, np.float32)
    fn = REDUCTIONS[name][0]
    if name in ("argmax", "argmin", "cumsum") and isinstance(axis, tuple):
        # one axis only: a TypeError on the CPU and on the device alike
        with pytest.raises(TypeError):
            on_cpu(lambda v: fn(v, axis=axis), x)
        with pytest.raises(TypeError):
            on_cuda(path, lambda v: fn(v, axis=axis), x)
        return
    try:
        want = on_cpu(lambda v: fn(v, axis=axis), x)
    except ValueError:
        with pytest.raises(ValueError):
            on_cuda(path, lambda v: fn(v, axis=axis), x)
        return
    assert_same(on_cuda(path, lambda v: fn(v, axis=axis), x), want,
                f"{name}{shape} axis={axis} {path}")


@pytest.mark.parametrize("path", CUDA_PATHS)
def test_block_reductions_with_nan_and_ties(path):
    """Rows long enough to be split over a thread block (and, for the full reduction,
    over blocks): the first NaN / the first of tied extrema wins, as on the CPU."""
    n = 3000
    x = np.zeros(n, np.float32)
    x[[5, 2900]] = 3.0
    x[[1000, 2000]] = -3.0
    fn = lambda v: (ft.argmax(v), ft.argmin(v), ft.max(v), ft.min(v), ft.sum(v))  # noqa: E731
    compare(path, fn, [x], "ties")
    x[[1700, 2500]] = np.nan
    compare(path, fn, [x], "nan")
    y = np.zeros((4, 1500), np.float32)
    y[1, 1200] = np.nan
    y[2, 700] = np.inf
    y[2, 1400] = np.inf
    y[3, 100] = -np.inf
    compare(path, lambda v: (ft.argmax(v, axis=1), ft.max(v, axis=1), ft.argmin(v, axis=1),
                             ft.min(v, axis=1), ft.sum(v, axis=1), ft.argmax(v, axis=0)),
            [y], "2-d")
    i = np.zeros(n, np.int32)
    i[[7, 2999]] = np.iinfo(np.int32).max
    i[[8, 1500]] = np.iinfo(np.int32).min
    compare(path, lambda v: (ft.argmax(v), ft.argmin(v), ft.max(v), ft.min(v), ft.sum(v)),
            [i], "int32")


# --------------------------------------------------------------------------- the rest

@pytest.mark.parametrize("path", CUDA_PATHS)
@pytest.mark.parametrize("dt", FLOATS, ids=lambda d: d.name)
def test_where_clip_nan(dt, path):
    x = float_edges(dt)
    y = x[::-1].copy()
    for name, fn in [("where(x>y)", lambda a, b: ft.where(a > b, a, b)),
                     ("where(nan cond)", lambda a, b: ft.where(a, a, b)),
                     ("clip", lambda a, b: ft.clip(a, -1.0, 2.0)),
                     ("clip lo>hi", lambda a, b: ft.clip(a, 2.0, -1.0)),
                     ("clip array bounds", lambda a, b: ft.clip(a, b, 1.0)),
                     ("maximum/minimum", lambda a, b: (ft.maximum(a, b), ft.minimum(a, b)))]:
        compare(path, fn, [x, y], f"{name} {dt.name}")


@pytest.mark.parametrize("path", CUDA_PATHS)
@pytest.mark.parametrize("sx,sy", ZERO_SIZE, ids=[f"{a}-{b}" for a, b in ZERO_SIZE])
def test_zero_size_broadcasting(sx, sy, path):
    x = np.ones(sx, np.float32)
    y = np.full(sy, 2, np.int32)
    compare(path, lambda a, b: (a + b, ft.maximum(a, b), ft.where(a > b, a, b),
                                ft.exp(a) * b + 1, (a > b) | (a < 0), ft.sum(a * b, axis=0),
                                ft.sum(a * b, axis=-1)), [x, y], f"{sx} {sy}")


@pytest.mark.parametrize("path", CUDA_PATHS)
@pytest.mark.parametrize("name", list(CHAINS))
def test_fused_chains(name, path):
    fn, dt = CHAINS[name]
    dt = np.dtype(dt)
    compare(path, fn, list(binary_inputs(dt)), name, 2, dt=dt)


def test_eager_constants_stay_on_the_device():
    """Eager composites that build a constant (``*_like``, isfinite of ints, reductions
    over no elements, out-of-range comparisons) give it on the operand's device."""
    i = ft.device_put(ft.asarray(np.arange(6, dtype=np.uint8).reshape(2, 3)), "cuda")
    e = ft.device_put(ft.asarray(np.zeros((2, 0), np.float32)), "cuda")
    outs = {"zeros_like": ft.zeros_like(i), "ones_like": ft.ones_like(i),
            "full_like": ft.full_like(i, 7), "isfinite": ft.isfinite(i), "uint8 > -1": i > -1,
            "all": ft.all(e, axis=1), "any": ft.any(e, axis=1), "var": ft.var(e, axis=1),
            "logsumexp": ft.logsumexp(e, axis=1), "mean": ft.mean(e, axis=1)}
    for name, out in outs.items():
        assert out.device == "cuda:0", f"{name}: on {out.device}"
