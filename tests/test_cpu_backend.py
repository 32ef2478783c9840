"""The CPU compiler (funtorch.backends.cpu): compiled graphs equal eager, fusion and
buffer reuse are visible in the plan, donation updates in place, and a second process
loads kernels from the disk cache instead of compiling them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_ops import assert_close, call_ft, samples

import funtorch as ft
from funtorch.backends import cpu
from funtorch.backends.cpu import blas
from funtorch.core.array import Array

from op_table import OPS

pytestmark = pytest.mark.filterwarnings("error:funtorch cpu backend")


@pytest.fixture(autouse=True)
def _this_backend(monkeypatch):
    """Tests that go through ``ft.jit`` compile with this backend whatever the default."""
    monkeypatch.setenv("FUNTORCH_CPU_BACKEND", "numba")


def compile_fn(f, *xs):
    """Compile ``f``'s graph with this backend (whatever the default) and a runner."""
    g = ft.make_graph(f)(*xs)
    run = cpu.compile(g.graph)
    consts = [c._value if isinstance(c, Array) else np.asarray(c) for c in g.consts]
    return run, lambda *ys: run(*consts, *[np.asarray(y) for y in ys])


def check(f, *xs, rtol=1e-5, atol=1e-6):
    run, call = compile_fn(f, *xs)
    got = call(*xs)
    want = ft.tree.leaves(f(*[ft.asarray(x) for x in xs]))
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert_close(a, b, rtol, atol, True, f.__name__)
    return run


# --------------------------------------------------------------------------- the op table

JIT = [op for op in OPS if op.jit]


@pytest.mark.parametrize("op", JIT, ids=[o.name for o in JIT])
def test_op_table_compiled_equals_eager(op):
    for sample in samples(op, op.dtypes[0]):
        f, dyn = call_ft(op, sample)
        xs = [ft.asarray(x) for x in dyn]
        _, call = compile_fn(f, *xs)
        want = ft.tree.leaves(f(*xs))
        got = call(*dyn)
        assert len(got) == len(want)
        for a, b in zip(got, want):
            assert_close(a, b, op.rtol, op.atol, True, op.name)


# --------------------------------------------------------------------------- fused loops

RNG = np.random.default_rng(0)


def _x(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def softmax(x, axis):
    e = ft.exp(x - ft.max(x, axis=axis, keepdims=True))
    return e / ft.sum(e, axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_is_one_kernel(axis):
    run = check(lambda x: softmax(x, axis), _x(7, 5))
    assert len(run.plan.kernels) == 1 and len(run.plan.steps) == 1


def test_reduction_epilogues_and_prologues():
    def layer_norm(x, w, b):
        mu = ft.mean(x, axis=-1, keepdims=True)
        var = ft.mean((x - mu) ** 2, axis=-1, keepdims=True)
        return (x - mu) / ft.sqrt(var + 1e-5) * w + b

    check(layer_norm, _x(4, 6), _x(6), _x(6))
    check(lambda x: ft.logsumexp(x, axis=(0, 2)), _x(3, 4, 5))
    check(lambda x: (ft.sum(x * 2, axis=0), ft.max(x, axis=1)), _x(6, 3))
    check(lambda x: ft.argmax(ft.exp(x) + 1, axis=1), _x(5, 7))
    check(lambda x: ft.sum(x, axis=(0, 1, 2)), _x(2, 3, 4))


def test_broadcasts_transposes_slices_inside_loops():
    check(lambda a, b: ft.outer(ft.sin(a), ft.cos(b)), _x(5), _x(3))
    check(lambda x: ft.exp(x).T + x.T * 2, _x(4, 3))
    check(lambda x: ft.tanh(x[1:, ::2]) + ft.flip(x, 0)[:-1, ::2], _x(5, 6))
    check(lambda x, y: x[:, None, :] * y[None, :, :] - 1, _x(3, 4), _x(2, 4))
    check(lambda x: ft.exp(x.reshape(2, 3, 4)).reshape(6, 4).sum(0), _x(24))


def test_dtypes_and_integer_semantics():
    i = RNG.integers(-9, 9, (4, 5)).astype(np.int32)
    j = RNG.integers(1, 5, (4, 5)).astype(np.int32) * np.where(RNG.random((4, 5)) < .5, -1, 1)
    check(lambda a, b: (ft.lax.div(a, b), ft.lax.rem(a, b), a * b + 3), i, j.astype(np.int32))
    # integer powers, negative exponents included (trunc(1 / a**-b), as the eager impl)
    check(lambda a, b: (a ** b, 3 ** b, a ** ft.abs(b)), i, j.astype(np.int32))
    u = RNG.integers(0, 2**32, (6,), dtype=np.uint64).astype(np.uint32)
    check(lambda a: (ft.lax.shift_right_logical(a, ft.full_like(a, 13)) ^ (a << 3)) + a, u)
    check(lambda a, b: ft.logical_and(a > 0, b < 0) | ~(a == b), _x(3, 3), _x(3, 3))
    check(lambda a: ft.exp(a) * 2 - a.astype(np.float32), _x(3, 2, dtype=np.float64))
    check(lambda a: (a > 0).sum(), _x(4, 4))


@pytest.mark.parametrize("dt", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32,
                                np.uint64], ids=lambda d: np.dtype(d).name)
def test_integer_extremes_compiled(dt):
    """Compiled integer division and powers wrap as numpy's: INT_MIN // -1 is INT_MIN and
    INT_MIN % -1 is 0 (Numba's int64 // gives 0 there), x // 0 is 0 without a crash, and
    powers of any exponent (by squaring; Numba's ** goes through math.pow past 2**16)."""
    ii = np.iinfo(dt)
    vals = np.array(sorted({0, 1, 2, 3, 7, ii.max, ii.max - 1, ii.min} | (
        {-1, -2, -3, ii.min + 1} if ii.min else set())), dt)
    x, y = (v.ravel() for v in np.meshgrid(vals, vals, indexing="ij"))
    with np.errstate(all="ignore"):
        safe = np.where(y == 0, 1, y).astype(dt)
        want_div = np.where(y == 0, 0, np.floor_divide(x, safe))
        want_mod = np.where(y == 0, 0, np.remainder(x, safe))
        want_fmod = np.where(y == 0, 0, np.fmod(x, safe))
        e = np.abs(y)                        # abs(INT_MIN) is INT_MIN: x ** INT_MIN
        want_pow = np.power(x, np.where(e < 0, 0, e).astype(dt))
        want_pow[e < 0] = (x[e < 0] == 1) | (x[e < 0] == -1)
        want_pow9 = x ** 9
    f = ft.jit(lambda a, b: (a // b, a % b, ft.fmod(a, b), a ** ft.abs(b), a ** 9))
    got = f(ft.asarray(x), ft.asarray(y))
    for g, w, name in zip(got, [want_div, want_mod, want_fmod, want_pow, want_pow9],
                          ["//", "%", "fmod", "**", "** 9"]):
        np.testing.assert_array_equal(np.asarray(g), w.astype(dt), err_msg=name)
    # negative exponents: 1 for 1, +-1 for -1, else 0 (ft.power's documented values)
    if ii.min:
        inv = ft.jit(lambda a: (a ** -1, a ** -2, a ** ft.full_like(a, -3)))(ft.asarray(vals))
        ref = [np.where(vals == 1, 1, np.where(vals == -1, (-1) ** k, 0)) for k in (1, 2, 3)]
        for g, w in zip(inv, ref):
            np.testing.assert_array_equal(np.asarray(g), w.astype(dt))


def test_compiled_sign_zeros_and_float_to_uint32_agree_with_eager():
    """sign(-0.0) is +0.0; float -> uint32 of negative and out-of-range values is
    implementation-defined, and compiled code gives what numpy's vectorized cast loop
    gives (its scalar tail, the last size % 4 elements, differs), not a saturated value;
    NaN is 0 there (numpy's loop: 2**31, its tail: 0)."""
    x = np.array([-0.0, 0.0, 0.5, -2.5, 3.5, -1e10, 1e10, 3e9, -np.inf, np.inf,
                  -2147483648.0, 4294967295.0], np.float64)
    for dt in (np.float32, np.float64):
        f = lambda v: (ft.sign(v), v.astype(np.uint32), v.astype(np.int32))  # noqa: E731
        xs = ft.asarray(x.astype(dt))
        for g, e in zip(ft.jit(f)(xs), f(xs)):
            np.testing.assert_array_equal(np.asarray(g), np.asarray(e))
            if np.asarray(e).dtype.kind == "f":
                np.testing.assert_array_equal(np.signbit(np.asarray(g)),
                                              np.signbit(np.asarray(e)))
    nan = ft.asarray(np.array([np.nan, -np.nan], np.float32))
    assert np.asarray(ft.jit(lambda v: (ft.sign(v), v.astype(np.uint32)))(nan)[1]).tolist() \
        == [0, 0]


def test_compiled_float32_tanh_and_logistic_are_correctly_rounded():
    """float32 tanh and logistic compile to float64 arithmetic rounded once (``vecmath``):
    equal to float64 numpy rounded to float32 on every magnitude from denormals to the
    largest float, random bit patterns, infinities, NaN and signed zeros."""
    x = np.logspace(-45, np.log10(3.4e38), 40000).astype(np.float32)
    bits = np.random.default_rng(0).integers(0, 2**32, 40000, dtype=np.uint64)
    x = np.concatenate([x, -x, bits.astype(np.uint32).view(np.float32),
                        np.array([0.0, -0.0, 0.004, np.inf, -np.inf, np.nan], np.float32)])
    with np.errstate(over="ignore", invalid="ignore"):   # signalling NaNs among the bits
        x64 = x.astype(np.float64)
        e = np.exp(-np.abs(x64))
        want = {ft.tanh: np.tanh(x64),
                ft.nn.functional.sigmoid: np.where(x64 >= 0, 1.0, e) / (1.0 + e)}
    for f, w in want.items():
        got = np.asarray(ft.jit(f)(x))
        w = np.where(np.isnan(x64), x64, w).astype(np.float32)
        np.testing.assert_array_equal(got, w)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(w))


def test_edge_shapes():
    check(lambda x: ft.exp(x) + 1, _x(0, 3))
    check(lambda x: ft.sum(ft.exp(x), axis=0), _x(0, 3))
    check(lambda x: x * 2 + ft.sin(x), np.float32(1.5))
    check(lambda x: (x, x, 3.0, ft.zeros((2, 2)), x.T), _x(2, 3))


def test_iota_and_one_hot_fuse():
    run = check(lambda y: ft.nn.functional.one_hot(y, 5) * 2.0,
                RNG.integers(0, 5, (6,)).astype(np.int64))
    assert len(run.plan.steps) == 1


def test_unlowered_primitives_run_their_eager_impl():
    run = check(lambda x: ft.cumsum(ft.exp(x), axis=1) * 2, _x(3, 4))
    assert any("eager" in line for line in run.plan.describe().splitlines())


def test_nested_jit_is_inlined():
    inner = ft.jit(lambda x: ft.exp(x) * 2)
    run = check(lambda x: inner(x) + inner(x + 1), _x(3, 3))
    assert len(run.plan.steps) == 1


# --------------------------------------------------------------------------- a training step

def _mlp_step():
    nn, F = ft.nn, ft.nn.functional
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                          nn.Linear(32, 10))
    opt = ft.optim.adam(1e-3)

    def step(p, s, x, y):
        loss, g = ft.value_and_grad(lambda p: F.cross_entropy(model(p, x), y))(p)
        u, s = opt.update(g, s, p)
        return ft.optim.apply_updates(p, u), s, loss

    params = model.init(ft.random.key(0))
    return step, params, opt.init(params)


def test_training_step_fuses_into_few_kernels():
    step, params, state = _mlp_step()
    x, y = _x(16, 20), RNG.integers(0, 10, 16)
    jstep = ft.jit(step)
    graph = ft.make_graph(step)(params, state, x, y).graph
    run = cpu.compile(graph)
    plan = run.plan
    assert plan.num_eqns > 150
    assert len(plan.steps) * 5 < plan.num_eqns, plan.describe()
    assert sum("BLAS" in ln for ln in plan.describe().splitlines()) == 8
    want = step(params, state, ft.asarray(x), ft.asarray(y))
    got = jstep(params, state, x, y)
    for a, b in zip(ft.tree.leaves(got), ft.tree.leaves(want)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=2e-6)


def test_donated_params_are_updated_in_place():
    step, params, state = _mlp_step()
    x, y = ft.asarray(_x(16, 20)), ft.asarray(RNG.integers(0, 10, 16))
    want = ft.jit(step)(params, state, x, y)
    copy = ft.tree.map(lambda a: ft.asarray(np.array(a)), (params, state))
    jstep = ft.jit(step, donate_argnums=(0, 1))
    before = [np.asarray(a._value) for a in ft.tree.leaves(copy[0])]
    got = jstep(*copy, x, y)
    for a, b in zip(ft.tree.leaves(got), ft.tree.leaves(want)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    after = [a._value for a in ft.tree.leaves(got[0])]
    assert all(np.shares_memory(a, b) for a, b in zip(before, after))
    # read-only or shared buffers cannot be donated: the same step runs out of place
    ro = ft.tree.map(lambda a: ft.asarray(np.broadcast_to(np.asarray(a), a.shape)), params)
    got = jstep(ro, state, x, y)
    np.testing.assert_allclose(np.asarray(ft.tree.leaves(got)[0]),
                               np.asarray(ft.tree.leaves(want)[0]), rtol=1e-6, atol=1e-7)


def test_workspace_reuse_never_clobbers_outputs():
    f = ft.jit(lambda x: (ft.exp(x).T, ft.sum(ft.tanh(x) * 2, axis=0), x.reshape(-1) + 1))
    a, b = _x(4, 3), _x(4, 3)
    first = [np.array(o) for o in f(a)]
    out_a = f(a)
    f(b)
    for o, w in zip(out_a, first):
        np.testing.assert_array_equal(np.asarray(o), w)
    run, _ = compile_fn(lambda x: ft.exp(ft.exp(ft.exp(x) @ x.T) @ x).sum(), _x(8, 8))
    assert len(run.plan.buffers.slots) < 4


# --------------------------------------------------------------------------- disk cache

SCRIPT = textwrap.dedent("""
    import numpy as np, funtorch as ft
    from funtorch.backends import cpu
    f = lambda x: ft.sum(ft.exp(x * {k}) / (1 + x * x), axis=0) - ft.max(x, axis=1).sum()
    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    g = ft.make_graph(f)(x)
    out = cpu.compile(g.graph)(x)
    s = cpu.stats()
    print(s["compiled"], s["loaded"], float(np.asarray(out[0]).sum()))
""")


def test_second_process_loads_kernels_from_disk(tmp_path):
    env = dict(os.environ, FUNTORCH_CACHE_DIR=str(tmp_path))
    script = SCRIPT.format(k=float(RNG.integers(1000)) + 0.5)   # fresh kernels

    def run():
        out = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                             capture_output=True, text=True).stdout.split()
        return int(out[0]), int(out[1]), float(out[2])

    compiled1, loaded1, v1 = run()
    compiled2, loaded2, v2 = run()
    assert compiled1 >= 1 and loaded1 == 0
    assert compiled2 == 0 and loaded2 == compiled1
    assert v1 == v2
    assert any(p.suffix == ".py" for p in tmp_path.rglob("k*.py"))


# --------------------------------------------------------------------------- library kernels

BLAS = blas.AVAILABLE   # numpy's BLAS is callable from Numba (else: eager impls, numpy matmul)


def _labels(run, prim):
    if not BLAS:
        return None
    return [ln.split(": ", 1)[1] for ln in run.plan.describe().splitlines()
            if ln.strip().startswith(prim + ":")]


CONV_CASES = [  # strides, padding, lhs_dilation, rhs_dilation, groups
    ((1, 1), ((0, 0), (0, 0)), (1, 1), (1, 1), 1),
    ((1, 1), ((1, 1), (1, 1)), (1, 1), (1, 1), 1),
    ((2, 1), ((1, 2), (0, 1)), (1, 1), (1, 2), 2),
    ((1, 2), ((-1, 1), (2, 0)), (2, 1), (1, 1), 1),
    ((2, 2), ((1, 1), (1, 1)), (1, 2), (2, 1), 2),
    ((3, 2), ((0, 0), (0, 0)), (1, 1), (1, 1), 3),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_and_both_gradients_compiled_equal_eager(case, dtype):
    """Forward conv, input gradient and weight gradient each get a library kernel (im2col,
    col2im, weight-gradient GEMM) and agree with the eager impl."""
    strides, pads, lhs_d, rhs_d, groups = case
    x = _x(3, 2 * groups, 9, 8, dtype=dtype)
    w = _x(3 * groups, 2, 3, 2, dtype=dtype)

    def conv(x, w):
        return ft.lax.conv_general_dilated(x, w, strides, pads, lhs_d, rhs_d, groups)

    def f(x, w):
        y, vjp = ft.vjp(conv, x, w)
        return (y, *vjp(ft.sin(y)))

    tol = 2e-5 if dtype == np.float32 else 1e-12
    run = check(f, x, w, rtol=tol, atol=tol)
    assert all("eager" not in k for k in _labels(run, "conv_general_dilated") or [])


def test_conv_forms_of_a_training_step():
    """The three convs of a CNN layer's step pick the three formulations."""
    x, w = _x(4, 3, 10, 10), _x(5, 3, 3, 3)

    def f(x, w):
        y, vjp = ft.vjp(lambda x, w: ft.nn.functional.conv2d(x, w), x, w)
        return (y, *vjp(y))

    run = check(f, x, w, rtol=2e-5, atol=2e-5)
    assert not BLAS or sorted(_labels(run, "conv_general_dilated")) == [
        "conv (GEMM + col2im)", "conv (im2col + GEMM)", "conv weight gradient (im2col + GEMM)"]


def test_conv1d_and_big_kernels():
    check(lambda x, w: ft.lax.conv_general_dilated(x, w, (2,), ((1, 2),), (1,), (2,), 1),
          _x(2, 3, 11), _x(4, 3, 3), rtol=2e-5, atol=2e-5)
    # kernel larger than the output, groups: the gather form with tiny outputs
    check(lambda x, w: ft.lax.conv_general_dilated(x, w, (1, 1), "VALID", None, None, 2),
          _x(2, 4, 6, 6), _x(4, 2, 5, 5), rtol=2e-5, atol=2e-5)
    # many images, tiles of several rows
    check(lambda x, w: ft.lax.conv_general_dilated(x, w, (1, 1), "SAME"),
          _x(5, 8, 70, 70), _x(6, 8, 3, 3), rtol=2e-5, atol=2e-5)


POOL_CASES = [  # window, strides, padding (over the last two axes of NCHW)
    ((2, 2), (2, 2), ((0, 0), (0, 0))),
    ((3, 3), (2, 2), ((1, 1), (1, 1))),
    ((2, 3), (1, 2), ((0, 1), (2, 0))),
]


def _pool_input(dtype):
    x = RNG.integers(-2, 3, (2, 3, 7, 9)).astype(dtype)     # many ties
    if np.dtype(dtype).kind == "f":
        x.flat[::5] = RNG.standard_normal(len(x.flat[::5]))
        x.flat[[3, 4, 40]] = np.nan
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_and_its_derivatives_compiled_equal_eager(case, dtype):
    """Max pooling, its VJP (ties: first maximum; NaN wins) and JVP, sum pooling."""
    wd, ws, pad = ((1, 1, *case[0]), (1, 1, *case[1]), ((0, 0), (0, 0), *case[2]))
    x = _pool_input(dtype)

    def pool(x):
        return ft.lax.reduce_window_max(x, wd, ws, pad)

    run = check(pool, x)
    assert _labels(run, "reduce_window_max") in (["max pool kernel"], None)
    if dtype == np.int32:
        return
    y = np.asarray(pool(ft.asarray(x)))
    ct = _x(*y.shape, dtype=dtype)
    ct.flat[0] = np.inf
    run = check(lambda x, ct: ft.vjp(pool, x)[1](ct), x, ct, rtol=1e-6, atol=1e-6)
    assert _labels(run, "select_and_scatter_add") in (["max pool gradient kernel"], None)
    run = check(lambda x, t: ft.jvp(pool, (x,), (t,))[1], x, _x(*x.shape, dtype=dtype))
    assert _labels(run, "select_and_gather_add") in (["max pool tangent kernel"], None)
    xs = np.nan_to_num(x)
    run = check(lambda x: ft.lax.reduce_window_sum(x, wd, ws, pad), xs)
    assert _labels(run, "reduce_window_sum") in (["sum pool kernel"], None)


def test_max_pool_2x2_odd_sizes_and_relu():
    check(lambda x: ft.nn.functional.max_pool2d(ft.nn.functional.relu(x), 2), _x(3, 4, 9, 7))
    x = _x(3, 4, 9, 7)
    run = check(lambda x, g: ft.vjp(lambda x: ft.nn.functional.max_pool2d(x, 2), x)[1](g),
                x, _x(3, 4, 4, 3))
    assert _labels(run, "select_and_scatter_add") in (["max pool gradient kernel"], None)


def test_gemm_layouts_batches_and_sizes():
    """dot_general through the BLAS kernel: transposed operands read in place, batch dims,
    serial (small) and parallel (large) GEMMs, float64; integers use numpy."""
    def dots(a, b, c):
        return (a @ b, a.T @ c, ft.einsum("ij,kj->ik", c.T, a.T), b.T @ a.T)

    run = check(dots, _x(6, 5), _x(5, 4), _x(6, 3))
    assert _labels(run, "dot_general") in (["BLAS GEMM"] * 4, None)
    check(dots, _x(300, 200), _x(200, 100), _x(300, 50), rtol=1e-4, atol=1e-4)
    check(lambda a, b: ft.matmul(a, b), _x(3, 40, 30), _x(3, 30, 20), rtol=1e-5, atol=1e-5)
    check(lambda a, b: ft.einsum("bij,bkj->bki", a, b), _x(2, 64, 48), _x(2, 96, 48),
          rtol=1e-5, atol=1e-5)
    check(lambda a, b: a @ b, _x(7, 9, dtype=np.float64), _x(9, 2, dtype=np.float64),
          rtol=1e-12, atol=1e-12)
    i = RNG.integers(-5, 5, (4, 3)).astype(np.int32)
    run = check(lambda a, b: a @ b, i, i.T.copy())
    assert _labels(run, "dot_general") in (["numpy matmul"], None)
    # a non-contiguous input, as a caller may pass one
    run, call = compile_fn(lambda a, b: a @ b, _x(5, 4), _x(4, 3))
    a, b = _x(8, 5)[::2].T, _x(3, 4).T
    np.testing.assert_allclose(call(a, b)[0], a @ b, rtol=1e-5, atol=1e-6)


def test_blas_threads_restored():
    if not BLAS:
        pytest.skip("no BLAS kernels on this numpy")
    before = blas._get_threads()
    run, call = compile_fn(lambda a, b: ft.exp(a @ b), _x(64, 64), _x(64, 64))
    call(_x(64, 64), _x(64, 64))
    assert blas._get_threads() == before


def test_adam_update_is_one_loop_per_weight():
    """The bias corrections are hoisted and the moment and parameter updates share one
    loop: an Adam step reads each weight, gradient and moment once."""
    step, params, state = _mlp_step()
    x, y = _x(16, 20), RNG.integers(0, 10, 16)
    graph = ft.make_graph(step)(params, state, x, y).graph
    plan = cpu.compile(graph).plan
    updates = [ln for ln in plan.describe().splitlines() if "sqrt" in ln and "[]" not in ln]
    # one loop per weight matrix (3), the biases' updates join their gradient reductions
    assert len(updates) == 6, plan.describe()
    assert all(ln.rstrip().endswith("stores 3") or "reducing" in ln for ln in updates)


def test_column_reductions_walk_rows_outside():
    """Sums over the leading axis run rows-outside (accumulators in scratch arrays) and
    still fuse their epilogue, for every reducer."""
    x = _x(37, 19)
    check(lambda x: (ft.sum(ft.nn.functional.relu(x), axis=0) * 2, ft.max(x * 3, axis=0) - 1,
                     ft.min(x, axis=0), ft.prod(x[:5] + 1, axis=0)), x)
    check(lambda x: ft.sum(x, axis=(0, 1)) + 1, _x(6, 7, 5))
    check(lambda x, b: ft.sum(x * b, axis=0), _x(33, 4, 6), _x(4, 6))


def test_big_loops_run_in_parallel():
    """Loops with enough work are parallel kernels (each thread a share of the outermost
    loop): broadcasts, reversed and strided views, inner reductions and in-place
    updates give the same results as eager."""
    if not cpu.PARALLEL:
        pytest.skip("one thread")
    x, b, z = _x(300, 1024), _x(1024), _x(300, 2048)
    run = check(lambda x, b, z: ft.tanh(x * 2 + b) - ft.flip(z, 0)[:, ::-2], x, b, z)
    assert run.plan.kernels and all(k.source.parallel for k in run.plan.kernels.values())
    run = check(lambda x: (ft.exp(x - ft.max(x, axis=1, keepdims=True)).sum(axis=1),
                           ft.sum(x[::2] * 3, axis=1)), _x(600, 1024), rtol=1e-5, atol=1e-4)
    assert all(k.source.parallel for k in run.plan.kernels.values())
    # bools (a ReLU's mask) in and out
    run = check(lambda x, m: (ft.where(m, x, 0.0), x > 0.5, ~m), x, x < 0)
    assert all(k.source.parallel for k in run.plan.kernels.values())
    # the same array read transposed: one serial kernel
    y = _x(600, 600)
    run = check(lambda y: y * 2 + y.T, y)
    assert not any(k.source.parallel for k in run.plan.kernels.values())
    # a donated buffer updated in place by a parallel kernel
    f = ft.jit(lambda p, g: (p - 0.1 * g, ft.exp(g)), donate_argnums=(0,))
    p, g = _x(512, 1024), _x(512, 1024)
    want = p - np.float32(0.1) * g
    buf = ft.asarray(np.array(p))
    before = buf._value
    out, _ = f(buf, ft.asarray(g))
    np.testing.assert_allclose(np.asarray(out), want, rtol=1e-6, atol=1e-6)
    assert np.shares_memory(out._value, before)


def test_inspection_shows_graph_plan_and_source():
    """ft.jit(f).lower(x): the graph; .compile(): the plan and the generated source (the
    driver and every fused kernel), and the executable that calling f uses."""
    def f(p, x):
        return p - 0.1 * ft.grad(lambda p: ft.tanh(x @ p).sum())(p)

    j = ft.jit(f, donate_argnums=0)
    p, x = np.ones((4, 3), np.float32), np.full((2, 4), 0.5, np.float32)
    lowered = j.lower(p, x)
    text = lowered.as_text()
    assert "dot_general" in text and "tanh" in text and "f32[4,3]" in text
    compiled = lowered.compile()
    plan = compiled.plan_text()
    assert "BLAS" in plan and "fused loop" in plan and "tanh" in plan
    src = compiled.source()
    assert "def run(" in src and "_claim" in src          # the driver, donating p
    assert src.count("def kernel(") == plan.count("fused loop")
    assert all(part in compiled.as_text() for part in (text, plan, src))
    pa = ft.asarray(p)
    np.testing.assert_allclose(np.asarray(compiled(pa, x)[0]), np.asarray(j(p, x)), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(pa), p)      # a donated argument is copied
