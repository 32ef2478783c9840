"""The first training step of the MNIST MLP and CNN (trace + compile + run), cold and warm.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/first_step.py \\
        [--models mlp cnn] [--rounds 3] [--jax-python PYTHON] [--profile]

Every measurement is a fresh process (the workloads of benchmarks/mnist.py, batch 128,
Adam, cross-entropy). The framework's import is timed on its own (``import``); the first
step (``first step``: building the model, trace + compile + run of one training step) is
timed after it, as the peers' figures in issue 12 are; ``import + step`` is their sum:

- funtorch cold: an empty kernel cache (``FUNTORCH_CACHE_DIR`` a new directory), so every
  generated kernel is compiled; funtorch warm: the cache that cold run filled. The library
  kernels that take shapes as arguments (the parallel launchers, GEMM, and the generic
  convolution and pooling entry points, ``backends/cpu/library.py``) are cached beside the
  package like its .pyc files, compiled once per installation (``make precompile``), in
  both; ``--scratch`` also empties those (the truly-from-scratch first step);
- JAX (its persistent compilation cache off, as by default) and PyTorch (eager: no compile)
  for reference.

The CPU seconds of the first step (all threads, and the processes funtorch forks to
compile kernels on several cores, ``backends/cpu/forked.py``) are printed beside its wall
time. Cold and warm alternate within each round, so drift of a shared machine hits both; the
medians over rounds are reported. ``--profile`` prints where a cold funtorch step spends
its time (kernels compiled, by kind).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

BATCH = 128


def worker(framework, model_name, profile):
    t0 = time.perf_counter()
    import mnist  # the workloads (imports no framework itself)
    if framework == "funtorch":
        import funtorch  # noqa: F401
    elif framework == "jax":
        import jax  # noqa: F401
    else:
        import torch  # noqa: F401
    t_import = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, BATCH)
    t0, c0, k0 = time.perf_counter(), time.process_time(), _children_cpu()
    train, _ = mnist.FRAMEWORKS[framework](model_name)
    train(x, y)                 # float(loss): waits for the result
    first = time.perf_counter() - t0
    first_cpu = time.process_time() - c0 + _children_cpu() - k0
    t0 = time.perf_counter()
    train(x, y)
    second = time.perf_counter() - t0
    out = {"import": t_import, "first": first, "cpu": first_cpu, "second": second}
    if framework == "funtorch":
        from funtorch.backends import cpu
        out["kernels"] = cpu.stats()
    print(json.dumps(out), flush=True)


def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _library_dirs(root):
    """funtorch's library-kernel caches beside the package (``--scratch`` empties them)."""
    pycache = os.path.join(root, "funtorch", "backends", "cpu", "__pycache__")
    if not os.path.isdir(pycache):
        return []
    return [os.path.join(pycache, d) for d in os.listdir(pycache) if "-library-" in d]


def _run(python, framework, model, env, profile=False):
    cmd = [python, os.path.abspath(__file__), "--worker", framework, model]
    if profile:
        cmd = [python, "-m", "cProfile", "-s", "cumulative", *cmd[1:]]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise RuntimeError(f"{framework} {model} worker failed:\n{proc.stderr[-3000:]}")
    if profile:
        print(proc.stdout[:6000])
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _importable(python, module):
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["mlp", "cnn"], choices=["mlp", "cnn"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--jax-python", default=None, help="interpreter that can import jax")
    ap.add_argument("--no-reference", action="store_true", help="funtorch only")
    ap.add_argument("--scratch", action="store_true",
                    help="cold also without the library kernels precompiled (deletes "
                         "funtorch/backends/cpu/__pycache__/*-library-*)")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile one cold funtorch CNN first step")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(*args.worker, False)

    root = os.path.dirname(HERE)
    base_env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get(
        "PYTHONPATH", "")]))
    if args.profile:
        env = dict(base_env, FUNTORCH_CACHE_DIR=tempfile.mkdtemp(prefix="ft-cold-"))
        _run(sys.executable, "funtorch", "cnn", env, profile=True)
        return
    refs = {}
    if not args.no_reference:
        for fw, py in (("jax", args.jax_python or sys.executable), ("torch", sys.executable)):
            if _importable(py, fw):
                refs[fw] = py
            else:
                print(f"({fw} not importable by {py}: skipped)")
    print(f"first step (s) = trace + compile + run of one training step, batch {BATCH}; "
          f"medians of {args.rounds} rounds, each measurement a fresh process "
          "(provisional on a shared machine)")
    for model in args.models:
        rows = {"funtorch cold": [], "funtorch warm": [], **{fw: [] for fw in refs}}
        kernels = None
        for _ in range(args.rounds):
            env = dict(base_env, FUNTORCH_CACHE_DIR=tempfile.mkdtemp(prefix="ft-cold-"))
            if args.scratch:
                for d in _library_dirs(root):
                    shutil.rmtree(d, ignore_errors=True)
            cold = _run(sys.executable, "funtorch", model, env)
            warm = _run(sys.executable, "funtorch", model, env)
            rows["funtorch cold"].append(cold)
            rows["funtorch warm"].append(warm)
            kernels = (cold["kernels"], warm["kernels"])
            for fw, py in refs.items():
                rows[fw].append(_run(py, fw, model, base_env))
        print(f"\n{model}:")
        print(f"  {'':14s} {'first step':>10s} {'(CPU s)':>8s} {'import':>8s} "
              f"{'import + step':>14s} {'2nd step':>9s}")
        for name, rs in rows.items():
            med = {k: float(np.median([r[k] for r in rs]))
                   for k in ("first", "cpu", "import", "second")}
            both = float(np.median([r["import"] + r["first"] for r in rs]))
            print(f"  {name:14s} {med['first']:10.2f} {med['cpu']:8.2f} {med['import']:8.2f} "
                  f"{both:14.2f} {med['second']:9.3f}")
        print(f"  kernels compiled/loaded: cold {kernels[0]}, warm {kernels[1]}")


if __name__ == "__main__":
    main()
