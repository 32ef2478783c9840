"""The CUDA backend on Numba's simulated GPU (``NUMBA_ENABLE_CUDASIM=1``, set here unless
the environment says otherwise): every op-table entry eager and jitted on the device
against the CPU, MLP/CNN training steps, control flow, donation and the memory plan,
transfers, interop and device errors. With ``NUMBA_ENABLE_CUDASIM=0`` on a GPU machine
the same tests run on the real device."""

from __future__ import annotations

import importlib
import os
import sys
import warnings

# first: sets NUMBA_ENABLE_CUDASIM before anything imports numba.cuda
from cuda_sim import _cuda_config, cuda, fast_thread_switching, kernel_cache, registry  # noqa: F401

# isort: split

import ml_dtypes
import numpy as np
import pytest
from test_ops import assert_close, call_ft

import funtorch as ft
import funtorch.nn as nn
import funtorch.nn.functional as F
from cuda_kernels.memory import default_pool
from funtorch.backends import compile_graph
from funtorch.backends.cuda import memory

from op_table import OPS, RngGen


def on_device(tree):
    return all(getattr(x, "device", "cuda:0") == "cuda:0" for x in ft.tree.leaves(tree))


# --------------------------------------------------------------------------- arrays

def test_device_arrays_and_transfers():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    d = cuda(x)
    assert d.device == "cuda:0" and d.shape == (2, 3) and d.dtype == np.float32
    assert isinstance(d._value, memory.DeviceArray)
    np.testing.assert_array_equal(np.asarray(d), x)          # a host copy
    np.testing.assert_array_equal(d.numpy(), x)
    assert "device=cuda:0" in repr(d)
    back = ft.device_put(d, "cpu")
    assert back.device == "cpu" and isinstance(back._value, np.ndarray)
    np.testing.assert_array_equal(np.asarray(back), x)
    assert cuda(d) is d
    assert float(cuda(np.float32(2.5))) == 2.5 and cuda(np.int64(3)).item() == 3
    tree = ft.device_put({"a": x, "b": [np.ones(2, np.int32)]}, "cuda")
    assert on_device(tree) and tree["b"][0].dtype == np.int32


def test_device_arrays_are_shared_without_copies():
    """ft.asarray of a device array (here numba's; CuPy/PyTorch through
    __cuda_array_interface__ on a GPU) makes a CUDA Array over the same buffer."""
    from numba import cuda as nb_cuda
    dev = nb_cuda.to_device(np.arange(4, dtype=np.float32))
    a = ft.asarray(dev)
    assert a.device == "cuda:0"
    assert memory.pointer(a._value) == memory.pointer(dev)
    np.testing.assert_array_equal(np.asarray(a * 2), [0, 2, 4, 6])
    assert not hasattr(ft.ones(3), "__cuda_array_interface__")
    assert a.__dlpack_device__() == (2, 0)


def test_pooled_buffers_return_to_the_pool():
    pool = default_pool()
    x = cuda(np.ones((64,), np.float32))
    ptr = memory.pointer(x._value)
    del x
    y = cuda(np.zeros((64,), np.float32))   # same size bucket: the freed block again
    assert memory.pointer(y._value) == ptr
    assert pool.stats()["live"] >= 1


def test_dlpack_import_shares_the_cuda_buffer(monkeypatch):
    """ft.from_dlpack of a CUDA exporter reads it through cuda.core's StridedMemoryView
    and wraps the buffer (a stand-in view here: the simulator has no DLPack devices)."""
    from cuda.core import utils

    import funtorch.backends.cuda as backend

    class View:
        ptr, shape, strides, dtype, readonly = 4096, (2, 3), (3, 1), np.dtype(np.float32), False

    class Exporter:
        def __dlpack_device__(self):
            return (2, 0)

        def __dlpack__(self, **kw):
            raise AssertionError("read through StridedMemoryView")

    seen = {}
    monkeypatch.setattr(utils, "StridedMemoryView", type(
        "StridedMemoryView", (), {"from_dlpack": staticmethod(lambda obj, stream_ptr: View())}))
    monkeypatch.setattr(backend, "from_cuda_array",
                        lambda obj: seen.setdefault("cai", obj.__cuda_array_interface__))
    ft.from_dlpack(Exporter())
    assert seen["cai"] == dict(shape=(2, 3), strides=(12, 4), typestr="<f4",
                               data=(4096, False), version=3)


# --------------------------------------------------------------------------- the op table

@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_op_table_on_device(op):
    """Eager and jitted on the device against the CPU result (one sample per op)."""
    sample = op.sample(RngGen(0), op.dtypes[0])
    f, dyn = call_ft(op, sample)
    want = f(*[ft.asarray(x) for x in dyn])
    xs = [cuda(x) for x in dyn]
    rtol, atol = max(op.rtol, 1e-5), max(op.atol, 1e-5)
    got = f(*xs)
    assert_close(got, want, rtol, atol, True, op.name + " eager")
    if op.jit:   # the others are data-dependent (nonzero...) and finish on the host
        assert on_device(got)
        got = ft.jit(f)(*xs)
        assert on_device(got)
        assert_close(got, want, rtol, atol, True, op.name + " jit")


# --------------------------------------------------------------------------- training

def _small(kind):
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 6, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(24, 8), nn.ReLU(),
                         nn.Linear(8, 10))


def _train_step(model, opt):
    def loss_fn(params, x, y):
        return nn.functional.cross_entropy(model(params, x), y)

    def step(params, state, x, y):
        loss, grads = ft.value_and_grad(loss_fn)(params, x, y)
        updates, state = opt.update(grads, state, params)
        return ft.optim.apply_updates(params, updates), state, loss

    return step


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_training_step_matches_cpu(kind):
    # SGD with momentum: Adam's first update is ~lr * sign(g), which turns last-bit
    # differences in near-zero gradients into lr-sized ones and makes the comparison flaky
    model, opt = _small(kind), ft.optim.sgd(0.1, momentum=0.9)
    params = model.init(ft.random.key(0))
    state = opt.init(params)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 4)
    step = _train_step(model, opt)
    want = ft.jit(step)(params, state, ft.asarray(x), ft.asarray(y))
    dstep = ft.jit(step, donate_argnums=(0, 1))
    p, s = cuda(params), cuda(state)
    ptrs = [memory.pointer(v._value) for v in ft.tree.leaves(p)]
    got = dstep(p, s, cuda(x), cuda(y))
    assert on_device(got)
    for g, w in zip(ft.tree.leaves(got), ft.tree.leaves(want)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-6)
    # donated parameters were updated in place
    assert [memory.pointer(v._value) for v in ft.tree.leaves(got[0])] == ptrs
    # a second step matches too; once the previous outputs are recycled, steps allocate
    # nothing (the caller holds one step's outputs while the next is computed)
    want = ft.jit(step)(*want[:2], ft.asarray(x), ft.asarray(y))
    xd, yd = cuda(x), cuda(y)
    got = dstep(*got[:2], xd, yd)
    for g, w in zip(ft.tree.leaves(got), ft.tree.leaves(want)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-4, atol=1e-6)
    if kind == "cnn":   # simulated GEMMs are slow; the plan is the same for both
        return
    for _ in range(3):
        got = dstep(*got[:2], xd, yd)
    before = default_pool().stats()["allocations"]
    for _ in range(3):
        got = dstep(*got[:2], xd, yd)
    assert default_pool().stats()["allocations"] == before


def test_cnn_step_uses_the_gradient_kernels():
    model, opt = _small("cnn"), ft.optim.sgd(0.1)
    params = model.init(ft.random.key(1))
    graph = ft.make_graph(_train_step(model, opt))(
        params, opt.init(params), ft.zeros((2, 1, 8, 8)), ft.zeros((2,), ft.int64)).graph
    plan = compile_graph(graph, "cuda:0").describe()
    assert plan.count("conv2d backward-weight") == 2
    assert plan.count("conv2d backward-data") == 1
    assert "host fallback" not in plan and "copy view" not in plan


# --------------------------------------------------------------------------- transformations

def test_grad_vmap_and_nested_jit_on_device():
    def f(w, x):
        return ft.sum(ft.tanh(x @ w) ** 2)

    w = np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32)
    x = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    want = ft.grad(f)(ft.asarray(w), ft.asarray(x))
    for g in (ft.grad(f), ft.grad(ft.jit(f)), ft.jit(ft.grad(f))):
        got = g(cuda(w), cuda(x))
        assert got.device == "cuda:0"
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
    got = ft.vmap(ft.jit(lambda r: ft.sum(r * r)))(cuda(x))
    np.testing.assert_allclose(np.asarray(got), (x * x).sum(1), rtol=1e-5)


def test_control_flow_on_device():
    def f(x, n):
        y = ft.cond(ft.sum(x) > 0, lambda v: v * 2.0, lambda v: v - 1.0, x)
        y = ft.fori_loop(0, 3, lambda i, v: v + 1.0, y)
        y = ft.while_loop(lambda v: ft.max(v) < 20.0, lambda v: v * 1.5, y)
        # the body's tanh(x[0] * 2).sum() is loop-invariant: computed once before the loop
        c, ys = ft.scan(lambda c, r: (c + r * ft.sum(ft.tanh(x[0] * 2.0)), c * r),
                        ft.zeros(x.shape[1:]), y)
        return y, c, ys, n * 2

    x = np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32)
    want = ft.jit(f)(ft.asarray(x), ft.asarray(np.int32(4)))
    got = ft.jit(f)(cuda(x), cuda(np.int32(4)))
    assert on_device(got)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5)


def test_matmul_of_a_partial_view_at_offset_zero():
    """Regression: ``h[0] @ w`` with h [2, 1, 6] read the whole root as the operand (the
    gemm check missed root axes fixed by the view), where ``h[1]`` was copied correctly."""
    rng = np.random.default_rng(0)
    h, w = rng.standard_normal((2, 1, 6), np.float32), rng.standard_normal((6, 4), np.float32)
    for i in (0, 1):
        got = ft.jit(lambda h, w, i=i: h[i] @ w)(cuda(h), cuda(w))
        np.testing.assert_allclose(np.asarray(got), h[i] @ w, rtol=1e-5, atol=1e-6)


def test_random_bits_on_device_match_the_host():
    key = cuda(np.asarray(ft.random.key(7)))
    got = ft.jit(lambda k: ft.random.uniform(k, (5,)))(key)
    want = ft.random.uniform(ft.random.key(7), (5,))
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("dt", [np.int8, np.int64, np.uint32], ids=lambda d: np.dtype(d).name)
def test_integer_extremes_on_device(dt):
    """Division, remainders and powers at the integer extremes (INT_MIN // -1, division by
    zero, huge exponents by squaring in a generated device function) as on the CPU."""
    ii = np.iinfo(dt)
    vals = np.array(sorted({0, 1, 3, ii.max, ii.min} | ({-1, ii.min + 1} if ii.min else set())),
                    dt)
    x, y = (v.ravel() for v in np.meshgrid(vals, vals, indexing="ij"))

    def f(a, b):
        return a // b, a % b, ft.fmod(a, b), a ** b, a ** 9, a ** -1

    want = f(ft.asarray(x), ft.asarray(y))
    got = ft.jit(f)(cuda(x), cuda(y))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


def test_device_float64_to_float16_and_signed_zeros():
    """float64 -> float16 rounds once (not through float32); sign(-0.0) is +0.0 and a
    cumsum keeps -0.0, as numpy."""
    x = np.array([1 + 2 ** -11 + 2 ** -40, 2 ** -25 + 2 ** -60, 65520 - 2 ** -30, -0.0])
    h, s, c = ft.jit(lambda v: (v.astype(np.float16), ft.sign(v), ft.cumsum(v[3:])))(cuda(x))
    np.testing.assert_array_equal(np.asarray(h), x.astype(np.float16))
    assert not np.signbit(np.asarray(s)[3]) and np.signbit(np.asarray(c)).all()


# --------------------------------------------------------------------------- plans

def test_elementwise_chain_is_one_launch():
    f = ft.jit(lambda a, b: ft.exp(a * b + 1.0) - ft.sum(a, axis=0))
    a = np.ones((4, 3), np.float32)
    f(cuda(a), cuda(a))
    prog = compile_graph(next(iter(f._cache.values())).graph, "cuda:0")
    assert prog.num_launches <= 2


def test_graph_recording_bookkeeping(monkeypatch):
    """Capture/replay plumbing (recordings keyed by donated addresses, staged inputs and
    outputs, view outputs) with a stand-in for cuda.core's graphs, which the simulator
    lacks: capturing runs the launches and the stand-in replay does nothing, so a replay
    with the captured inputs must return the captured results."""
    from funtorch.backends.cuda import graphs
    core = importlib.import_module("cuda.core")

    class Builder:
        stream = None

        def begin_building(self):
            pass

        def end_building(self):
            pass

        def complete(self):
            return type("Graph", (), {"launch": lambda self, stream: None})()

    monkeypatch.setattr(graphs, "SIMULATOR", False)
    monkeypatch.setattr(core, "Device", lambda: type(
        "Device", (), {"create_graph_builder": lambda self: Builder()})())
    graphs.enable()
    try:
        f = ft.jit(lambda p, x: (p - 0.5 * x, ft.sum(x * p), (x * 2).T), donate_argnums=0)
        x = cuda(np.arange(6, dtype=np.float32).reshape(2, 3))
        p = cuda(np.ones((2, 3), np.float32))
        want = [np.asarray(v) for v in ft.jit(lambda p, x: (p - 0.5 * x, ft.sum(x * p),
                                                            (x * 2).T))(p, x)]
        for _ in range(3):   # plain (warm-up), capture + replay, replay
            q = cuda(np.ones((2, 3), np.float32))
            got = f(q, x)
            for g, w in zip(got, want):
                np.testing.assert_allclose(np.asarray(g), w)
        program = compile_graph(next(iter(f._cache.values())).graph, "cuda:0",
                                next(iter(f._cache.values())).donated)
        assert program._recorder is not None and program._recorder.recordings
    finally:
        graphs.enable(False)


def test_host_fallback_warns_and_is_correct(monkeypatch):
    # every primitive has a lowering; take one away to exercise the fallback
    from funtorch.backends.cuda import ops
    monkeypatch.delitem(ops.LOWERINGS, "cumsum")
    x = np.arange(4, dtype=np.float32)
    with pytest.warns(RuntimeWarning, match="runs on the host"):
        got = ft.jit(lambda a: ft.cumsum(a * a) + a)(cuda(x))
    assert got.device == "cuda:0"
    np.testing.assert_array_equal(np.asarray(got), np.cumsum(x * x) + x)


@pytest.mark.parametrize("dtype", [np.float16, ft.bfloat16], ids=["float16", "bfloat16"])
def test_half_precision_runs_on_the_device(dtype):
    """Half graphs compute in float32 kernels, rounded per op as numpy's half loops do:
    no host fallback, and the results equal the CPU's."""
    def f(a, w, k):
        h = ft.tanh(a @ w + 1.0)                      # GEMM + fused epilogue
        c = F.conv2d(h.reshape(1, 1, 4, 4), k, padding=1)
        return ft.sum(h, axis=0), ft.max(c), F.relu(c).astype(ft.float32), (h * 3).astype(
            ft.int32)
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(s).astype(np.float32).astype(dtype)
            for s in ((2, 3), (3, 8), (2, 1, 3, 3))]
    args[0] = args[0].reshape(2, 3)
    g = ft.jit(lambda a, w, k: f(a.reshape(2, 3).T.T, w, k))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = g(*[cuda(a) for a in args])
    want = g(*[ft.asarray(a) for a in args])
    for x, y in zip(got, want):
        assert x.device == "cuda:0" and x.dtype == y.dtype
        a, b = np.asarray(x, np.float32), np.asarray(y, np.float32)
        if _cuda_config.ENABLE_CUDASIM:
            # the simulator runs numpy's own math: equal, as the docstring says (the old
            # rtol=atol=1e-2 also passed float32 math rounded once at the end)
            np.testing.assert_array_equal(a, b)
        else:   # a GPU's libdevice tanh/exp may differ from numpy's by an ulp of the half
            np.testing.assert_allclose(a, b, rtol=2 * float(ml_dtypes.finfo(dtype).eps),
                                       atol=1e-3)
    plan = compile_graph(next(iter(g._cache.values())).graph, "cuda:0").describe()
    assert "host fallback" not in plan


def test_generated_kernels_compile_for_gpus():
    """Every kernel generated for the MNIST steps and the op cases compiles to PTX with the
    real numba.cuda (no GPU needed; the simulator never compiles)."""
    import subprocess
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.run([sys.executable, os.path.join(root, "benchmarks", "ptx_check.py"),
                        "--cc", "8.0"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]


def test_gpu_benchmark_script_runs_simulated(tmp_path):
    """benchmarks/gpu.py's training section end to end at toy sizes on the simulator (the
    kernel checks it also runs have their own test in cuda_kernels)."""
    import json
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.run([sys.executable, os.path.join(root, "benchmarks", "gpu.py"),
                        "--simulate-tiny", "--only", "mnist", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, NUMBA_ENABLE_CUDASIM="1"))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    for kind in ("mlp", "cnn"):
        row = results["mnist"][kind]["funtorch"]
        assert row["launches_per_step"] > 0 and np.isfinite(row["loss"])
    assert "| cnn |" in (tmp_path / "results.md").read_text()


# --------------------------------------------------------------------------- errors

def test_mixed_devices():
    d = cuda(np.ones(3, np.float32))
    np.testing.assert_array_equal(np.asarray(d + ft.ones(3)), 2)   # an uncommitted host array
    assert (d * ft.asarray(np.float32(2))).device == "cuda:0"       # a scalar always moves
    pinned = ft.device_put(np.ones(3, np.float32), "cpu")
    with pytest.raises(ValueError, match=r"cuda:0.*cpu.*device_put"):
        d + pinned
    f = ft.jit(lambda a, b: a + b)
    with pytest.raises(ValueError, match=r"argument 'a'.*cuda:0.*argument 'b'.*cpu"):
        f(d, pinned)


def test_cuda_requested_without_a_device(monkeypatch):
    monkeypatch.setattr(registry.backend("cuda"), "devices", lambda: [])
    with pytest.raises(RuntimeError, match="no CUDA device is available"):
        ft.device_put(np.ones(2), "cuda")
    assert ft.devices() == ["cpu"]


def test_inspection_on_device():
    """The same inspection API on the device: the plan lists the launches, the source holds
    every generated kernel."""
    x = cuda(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4))
    j = ft.jit(lambda x: ft.nn.functional.softmax(x * 2, -1) @ ft.ones((4, 2)))
    compiled = j.lower(x).compile()
    assert compiled.device == "cuda:0"
    plan, src = compiled.plan_text(), compiled.source()
    assert "kernel launches" in plan and "matmul" in plan
    assert src.count("def kernel(") == plan.count("  fused") == 1    # softmax: one kernel
    np.testing.assert_allclose(np.asarray(compiled(x)[0]), np.asarray(j(x)), rtol=1e-6)


def test_jit_device_runs_on_that_device():
    """jit(f, device='cuda') places host inputs (committed ones too) on the GPU and runs
    there; device='cpu' brings device inputs back to the host."""
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    f = ft.jit(lambda a, b: a * b + 1, device="cuda")
    out = f(x, ft.device_put(np.ones((2, 3), np.float32), "cpu"))
    assert out.device == "cuda:0" and out.device is ft.devices()[1]
    np.testing.assert_allclose(np.asarray(out), x + 1)
    back = ft.jit(lambda a: a - 1, device="cpu")(out)
    assert back.device == "cpu"
    np.testing.assert_allclose(np.asarray(back), x)
