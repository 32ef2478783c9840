"""Compiling a graph's new kernels in forked workers (backends/cpu/forked.py): the parent
loads what the workers compiled into the disk cache and gets the same results."""

import os
import sys
import warnings

import numpy as np
import pytest

import funtorch as ft
from funtorch.backends import cpu
from funtorch.backends.cpu import forked

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork: Linux only")


@pytest.fixture(autouse=True)
def _as_without_jax(monkeypatch):
    """These tests fork in the test process; another test may have loaded JAX (an oracle)
    into it, which turns forking off (``forked.available``). The workers here touch
    nothing of JAX's, so its at-fork warning is silenced for them."""
    monkeypatch.delitem(sys.modules, "jaxlib", raising=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
        yield


@linux
def test_no_forking_where_jax_runtime_is_loaded(monkeypatch):
    monkeypatch.setenv("FUNTORCH_CPU_COMPILE_JOBS", "2")
    assert forked.available()
    monkeypatch.setitem(sys.modules, "jaxlib", object())
    assert not forked.available()


def _fn(c):
    # several distinct fused nests (elementwise chains, reductions over each axis), with a
    # constant no other test uses, so their kernels are new to this process
    def f(x, y):
        a = ft.sin(x) * c + y
        b = ft.sum(ft.exp(a * 0.5), axis=0)
        d = ft.max(a - c, axis=1)
        return b * 2.0 + c, ft.tanh(d) - 1.0, ft.sum(a * a)
    return f


@linux
def test_workers_compile_and_the_parent_loads(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 29)).astype(np.float32)
    y = rng.standard_normal((37, 29)).astype(np.float32)
    c = float(rng.uniform(1.1, 1.9))
    monkeypatch.setenv("FUNTORCH_CPU_COMPILE_JOBS", "2")
    monkeypatch.setenv("FUNTORCH_CACHE_DIR", str(tmp_path / "a"))
    before = cpu.stats()
    got = ft.jit(_fn(c))(ft.asarray(x), ft.asarray(y))
    after = cpu.stats()
    assert after["forked"] > before["forked"]
    assert after["compiled"] - before["compiled"] >= after["forked"] - before["forked"] + 1
    assert after["loaded"] == before["loaded"]     # an empty cache: nothing to load

    # the same function run eagerly (numpy impls, no compiled kernels)
    want = _fn(c)(ft.asarray(x), ft.asarray(y))
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-5)


@linux
def test_one_job_does_not_fork(monkeypatch, tmp_path):
    monkeypatch.setenv("FUNTORCH_CPU_COMPILE_JOBS", "1")
    monkeypatch.setenv("FUNTORCH_CACHE_DIR", str(tmp_path))
    before = cpu.stats()["forked"]
    x = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    ft.jit(_fn(2.0625))(ft.asarray(x), ft.asarray(x))
    assert cpu.stats()["forked"] == before
    assert not forked.available()


@linux
def test_a_failing_worker_changes_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("FUNTORCH_CPU_COMPILE_JOBS", "2")
    done = []
    marker = tmp_path / "worker-ran"

    def fails():
        marker.write_text("x")
        raise RuntimeError("boom")

    before = forked.STATS["forked"]
    # the largest job goes to the parent, the other to the worker
    forked.compile_ahead([(2, lambda: done.append(os.getpid())), (1, fails)])
    assert done == [os.getpid()]           # the parent's share ran here
    assert marker.exists()                 # the worker ran its share, and failed
    assert forked.STATS["forked"] == before


CONCURRENT = """
import numpy as np, funtorch as ft
import funtorch.nn.functional as F
from funtorch.backends.cpu import library
library.SPECIALIZE_AFTER = 1
x = ft.asarray(np.random.default_rng(0).standard_normal((2, 3, 13, 11)).astype(np.float32))
pool = ft.jit(lambda x: F.max_pool2d(x, {k}, stride=2, padding=1))
a = pool(x)                  # queues a background specialisation (a new geometry)
def f(u, v):                 # meanwhile: a graph of new nests, compiled by forked workers
    w = ft.sin(u) * {c} + v
    return ft.sum(ft.exp(w), axis=0), ft.max(w, axis=1) - {c}
for _ in range(3):
    f_ = ft.jit(f)(x[0, 0], x[1, 1])
    library.wait()
b = pool(x)
assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
print("ok")
"""


@linux
def test_forked_compile_beside_a_background_specialisation(tmp_path):
    import subprocess
    env = dict(os.environ, FUNTORCH_CACHE_DIR=str(tmp_path), FUNTORCH_CPU_COMPILE_JOBS="2")
    code = CONCURRENT.format(k=3, c=float(np.random.default_rng().uniform(2, 3)))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "ok"


@linux
def test_no_fork_to_be_had_compiles_here(monkeypatch):
    monkeypatch.setenv("FUNTORCH_CPU_COMPILE_JOBS", "3")

    def no_fork():
        raise OSError("fork: resource temporarily unavailable")

    monkeypatch.setattr(forked.os, "fork", no_fork)
    done = []
    forked.compile_ahead([(3, lambda: done.append(1)), (2, lambda: done.append(2)),
                          (1, lambda: done.append(3))])
    assert sorted(done) == [1, 2, 3]
