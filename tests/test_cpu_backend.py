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
    u = RNG.integers(0, 2**32, (6,), dtype=np.uint64).astype(np.uint32)
    check(lambda a: (ft.lax.shift_right_logical(a, ft.full_like(a, 13)) ^ (a << 3)) + a, u)
    check(lambda a, b: ft.logical_and(a > 0, b < 0) | ~(a == b), _x(3, 3), _x(3, 3))
    check(lambda a: ft.exp(a) * 2 - a.astype(np.float32), _x(3, 2, dtype=np.float64))
    check(lambda a: (a > 0).sum(), _x(4, 4))


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
