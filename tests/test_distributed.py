"""Multi-process data parallelism on MPI, launched with mpiexec: equivalence with one
process on the same global batch, and faults that must end the job within seconds."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import funtorch as ft

ROOT = Path(__file__).resolve().parents[1]
WORKER = str(Path(__file__).with_name("distributed_worker.py"))
MPIEXEC = shutil.which("mpiexec", path=f"{Path(sys.executable).parent}{os.pathsep}"
                       f"{os.environ.get('PATH', '')}")


def _mpi():
    pytest.importorskip("mpi4py")
    if MPIEXEC is None:
        pytest.skip("no mpiexec (pip install 'funtorch[distributed]')")


def launch(n, *args, timeout=60, env=None):
    _mpi()
    e = {**_env(), **(env or {})}
    t0 = time.monotonic()
    p = subprocess.run([MPIEXEC, "-n", str(n), sys.executable, WORKER, *map(str, args)],
                       capture_output=True, text=True, timeout=timeout, env=e)
    return p.returncode, p.stdout + p.stderr, time.monotonic() - t0


def _env():
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
            "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


def _mnist(n, *args):
    """``examples/mnist.py`` (toy: the MLP, 128 of the bundled images, global batch 64),
    in ``n`` MPI processes (``--distributed``) or, for ``n`` None, one plain process."""
    cmd = [sys.executable, "examples/mnist.py", "--model", "mlp", "--limit", "128",
           "--batch-size", "64", "--no-download", "--data-dir", "no-such-dir", *map(str, args)]
    if n is not None:
        cmd = [MPIEXEC, "-n", str(n), *cmd, "--distributed"]
    return subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _done(proc, timeout=120):
    out = proc.communicate(timeout=timeout)[0]
    assert proc.returncode == 0, out[-3000:]
    return out


def test_a_checkpoint_resumes_with_another_number_of_processes(tmp_path):
    # 2 processes train epoch 1, 1 process resumes for epoch 2, 2 processes resume that for
    # epoch 3: the same state as one process training 3 epochs on the same global batches
    _mpi()
    ck = [tmp_path / f"ck{k}.safetensors" for k in range(4)]
    whole = _mnist(None, "--epochs", 3, "--save", ck[0])   # alongside the chain
    _done(_mnist(2, "--epochs", 1, "--save", ck[1]))
    out = _done(_mnist(None, "--epochs", 2, "--resume", ck[1], "--save", ck[2]))
    assert "resumed from" in out and "at epoch 1" in out, out
    assert "epoch 2:" in out and "epoch 1:" not in out
    out = _done(_mnist(2, "--epochs", 3, "--resume", ck[2], "--save", ck[3]))
    assert "at epoch 2" in out and "epoch 3:" in out and "epoch 2:" not in out, out
    assert "distributed: 2 processes" in out
    _done(whole)
    ref, resumed = ft.load(ck[0]), ft.load(ck[3])
    assert int(resumed["epoch"]) == int(ref["epoch"]) == 3
    paths, want, _ = ft.tree.flatten_with_path(ref)
    got = ft.tree.leaves(resumed)
    assert len(got) == len(want) > 10
    for path, g, w in zip(paths, got, want):
        # to 1e-4 of each leaf's scale: Adam divides by sqrt(v), so an element whose
        # gradients are near zero carries the summation order's rounding further
        w = np.asarray(w)
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5,
                                   atol=1e-4 * float(np.abs(w).max(initial=0)),
                                   err_msg=str(path))
    # (and each epoch moved the parameters: a resume that restarted would not match)
    first = ft.load(ck[1])["params"]
    assert not np.allclose(np.asarray(first["1"]["weight"]),
                           np.asarray(ref["params"]["1"]["weight"]))


def test_two_processes_train_as_one_on_the_global_batch(tmp_path):
    # generous: a cold kernel cache compiles both models in each process first
    rc2, out2, _ = launch(2, "equiv", tmp_path / "two.npz", timeout=240)
    assert rc2 == 0, out2
    rc1, out1, _ = launch(1, "equiv", tmp_path / "one.npz", timeout=240)
    assert rc1 == 0, out1
    two, one = np.load(tmp_path / "two.npz"), np.load(tmp_path / "one.npz")
    assert sorted(two.files) == sorted(one.files) and any(k.startswith("cnn") for k in two)
    for k in one.files:
        np.testing.assert_allclose(two[k], one[k], rtol=1e-5, atol=1e-5, err_msg=k)
    # and training moved the parameters (so the comparison can fail)
    paths, init, _ = ft.tree.flatten_with_path(_worker().models()["mlp"].init(ft.random.key(0)))
    moved = [not np.allclose(one["mlp/" + "/".join(map(str, p))], np.asarray(v))
             for p, v in zip(paths, init)]
    assert len(moved) == 4 and all(moved)


def _worker():
    spec = importlib.util.spec_from_file_location("distributed_worker", WORKER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_raising_rank_ends_every_rank_with_its_traceback(tmp_path):
    ckpt = tmp_path / "ckpt.safetensors"
    rc, out, dt = launch(2, "raise", ckpt, timeout=30)
    assert rc != 0 and dt < 30
    assert "rank 1 fails on purpose" in out and "Traceback" in out
    assert "rank 0 finished" not in out
    np.testing.assert_array_equal(np.asarray(ft.load(ckpt)["w"]), np.ones(3))


def test_a_killed_rank_does_not_hang_the_others():
    rc, out, dt = launch(2, "kill", timeout=30)
    assert rc != 0 and dt < 30, out
    assert "rank 0 finished" not in out


def test_a_silent_rank_trips_the_collective_timeout():
    rc, out, dt = launch(2, "hang", timeout=30, env={"FUNTORCH_DISTRIBUTED_TIMEOUT": "3"})
    assert rc != 0 and dt < 30, out
    assert "FUNTORCH_DISTRIBUTED_TIMEOUT" in out


# --------------------------------------------------------------------------- in-process

def test_batches_shard_covers_each_global_batch_once():
    x = np.arange(22)
    key = ft.random.key(3)
    whole = [b[0] for b in ft.data.batches(x, batch_size=6, key=key, drop_last=False)]
    parts = [[b[0] for b in ft.data.batches(x, batch_size=6, key=key, drop_last=False,
                                            shard=(i, 3))] for i in range(3)]
    for k, batch in enumerate(whole):
        np.testing.assert_array_equal(np.concatenate([p[k] for p in parts]), batch)
    assert [len(p[0]) for p in parts] == [2, 2, 2]
    with pytest.raises(ValueError, match="divide evenly"):
        ft.data.batches(x, batch_size=5, shard=(0, 2))
    with pytest.raises(ValueError, match="shard index 2"):
        ft.data.batches(x, batch_size=4, shard=(2, 2))


def test_buckets_group_leaves_by_dtype_and_size():
    leaves = [np.zeros(10, np.float32), np.zeros(10, np.float32), np.zeros(3, np.int32),
              np.zeros(100, np.float32), np.zeros(5, np.float32)]
    assert ft.distributed.buckets(leaves, bucket_bytes=100) == [[0, 1], [2], [3], [4]]
    assert ft.distributed.buckets(leaves) == [[0, 1], [2], [3, 4]]


def test_pmean_tree_under_vmap_matches_per_leaf_pmean():
    tree = {"a": np.arange(12.0, dtype=np.float32).reshape(4, 3),
            "b": np.arange(8.0, dtype=np.float32).reshape(4, 2)}
    got = ft.vmap(lambda t: ft.distributed.pmean_tree(t, "i", bucket_bytes=16),
                  axis_name="i")(tree)
    for k in tree:
        np.testing.assert_allclose(np.asarray(got[k]),
                                   np.broadcast_to(tree[k].mean(0), tree[k].shape))


def test_process_axis_needs_initialize_or_spmd():
    with pytest.raises(NameError, match="unbound axis name 'dp'"):
        ft.lax.psum(ft.ones(2), "dp")


class Loopback:
    """A communicator of ``size`` processes that all hold this process' values (a test
    double for the MPI one: the collectives' process-axis paths without MPI)."""

    rank, calls = 0, 0

    def __init__(self, size):
        self.size = size

    def allreduce(self, x, out, op):
        self.calls += 1
        out[...] = x * self.size if op == "sum" else x

    def allreduce_call(self, dtype, op):
        def in_place(buf):
            self.in_place += 1
            self.allreduce(buf.copy(), buf, op)
        return (lambda x, out: self.allreduce(x, out, op)), in_place

    in_place = 0

    def allgather(self, x, out):
        out[...] = x

    def reduce_scatter(self, chunks, out):
        out[...] = chunks[self.rank] * self.size

    def permute(self, x, out, perm):
        out[...] = x if any(d == self.rank for _, d in perm) else 0


def test_process_axis_collectives_eager_and_compiled_call_the_communicator():
    from funtorch.backends import compile_graph
    from funtorch.core import axis_env

    comm = Loopback(3)
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)

    def f(v):
        return (ft.lax.psum(v, "loop"), ft.lax.pmean(v + 1, "loop"),
                ft.lax.all_gather(v, "loop", axis=1, tiled=True),
                ft.lax.psum_scatter(v, "loop", scatter_dimension=1),
                ft.lax.axis_index("loop"), ft.distributed.psum_tree({"a": v, "b": v}, "loop"))

    with axis_env.extend_axis_env(axis_env.AxisFrame("loop", 3, comm=comm)):
        eager = f(x)
        graph = ft.make_graph(f)(x).graph
        assert "MPI psum" in compile_graph(graph, "cpu").plan.describe()
        calls = comm.calls
        jitted = ft.jit(f)(x)
        assert comm.calls - calls == 3     # psum, pmean, one bucket for the tree
    want = (3 * x, x + 1, np.concatenate([x] * 3, 1), 3 * x[:, 0], 0, {"a": 3 * x, "b": 3 * x})
    for got in (eager, jitted):
        for g, w in zip(ft.tree.leaves(got), ft.tree.leaves(want)):
            np.testing.assert_allclose(np.asarray(g), w)


def test_compiled_allreduce_runs_in_place_where_its_operand_dies():
    from funtorch.core import axis_env

    comm = Loopback(2)
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    with axis_env.extend_axis_env(axis_env.AxisFrame("loop", 2, comm=comm)):
        # the operand is a workspace value that dies at the psum: its slot takes the result
        f = ft.jit(lambda v: ft.lax.psum(v * 2, "loop") + 1)
        np.testing.assert_allclose(np.asarray(f(x)), 4 * x + 1)
        assert comm.in_place == 1
        driver = f.lower(x).compile().source().split("# fused")[0]
        assert re.search(r"_f\d+\(w\d+\)", driver), driver   # one buffer: in and out
        # still read afterwards: MPI writes a buffer of its own
        g = ft.jit(lambda v: ft.lax.psum(v * 2, "loop") + v * 2)
        np.testing.assert_allclose(np.asarray(g(x)), 6 * x)
        assert comm.in_place == 1
        # a donated input that is the result's operand is overwritten by it in place
        h = ft.jit(lambda v: ft.lax.psum(v, "loop"), donate_argnums=0)
        a = ft.asarray(x)
        np.testing.assert_allclose(np.asarray(h(a)), 2 * x)
        assert comm.in_place == 2
        # a bucket of several leaves: concatenated into a workspace slot, reduced there
        tree = {"a": x, "b": x[0]}
        got = ft.jit(lambda t: ft.distributed.pmean_tree(t, "loop"))(tree)
        np.testing.assert_allclose(np.asarray(got["a"]), x)
        np.testing.assert_allclose(np.asarray(got["b"]), x[0])
        assert comm.in_place == 3
        # not donated: the input is left alone, the result is a new buffer
        b = ft.asarray(x)
        np.testing.assert_allclose(np.asarray(ft.jit(lambda v: ft.lax.psum(v, "loop"))(b)),
                                   2 * x)
        np.testing.assert_array_equal(np.asarray(b), x)
        assert comm.in_place == 3
