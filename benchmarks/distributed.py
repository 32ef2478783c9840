"""Data-parallel scaling of the MNIST CNN: 2 processes x 1 thread vs 1 process x 1 thread.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/distributed.py [--rounds 3]

Each configuration runs as ``mpiexec -n N python benchmarks/distributed.py --worker``
(Numba and BLAS on one thread per process), the configurations taking turns for
``--rounds`` rounds. A worker trains the CNN of examples/mnist.py (Adam) on synthetic
MNIST-shaped data, 64 images per process per step (weak scaling: the global batch is
64 N), with the gradients averaged by one bucketed ``pmean`` per step, and reports
images/s over all processes (median over steps after a warm-up), the CPU time of rank 0
per step (wall time well above it: the process waited for a core or for the other rank),
and the share of a step spent in the allreduce (the same ``pmean_tree`` timed alone on a
gradient tree).
Reported: median images/s per configuration, the speed-up and parallel efficiency, and
the speed-up the CPU times imply (2 x CPU per step of 1 process / of 2 processes), which
is what idle cores would give and is robust to other load on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

PER_PROCESS_BATCH = 64


def worker(steps):
    import funtorch as ft
    import funtorch.nn as nn
    import funtorch.nn.functional as F

    comm = ft.distributed.initialize()
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    opt = ft.optim.adam(1e-3)
    params = model.init(ft.random.key(0))
    state = opt.init(params)
    rng = np.random.default_rng(comm.rank)
    x = ft.asarray(rng.standard_normal((PER_PROCESS_BATCH, 1, 28, 28)).astype(np.float32))
    y = ft.asarray(rng.integers(0, 10, PER_PROCESS_BATCH))

    def step(params, state, x, y):
        grads = ft.grad(lambda p: F.cross_entropy(model(p, x), y))(params)
        grads = ft.distributed.pmean_tree(grads, "dp")
        updates, state = opt.update(grads, state, params)
        return ft.optim.apply_updates(params, updates), state

    step = ft.jit(ft.distributed.spmd(step, "dp"), donate_argnums=(0, 1))
    reduce = ft.jit(ft.distributed.spmd(lambda g: ft.distributed.pmean_tree(g, "dp"), "dp"))
    grads = ft.tree.map(ft.ones_like, params)
    times, cpu, ar = [], [], []
    for k in range(steps + 2):
        comm.barrier()
        t, c = time.perf_counter(), time.process_time()
        params, state = step(params, state, x, y)
        float(ft.tree.leaves(params)[0].reshape(-1)[0])
        if k >= 2:
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        comm.barrier()
        t = time.perf_counter()
        reduce(grads)
        ar.append(time.perf_counter() - t)
    step_s, ar_s = float(np.median(times)), float(np.median(ar))
    if comm.rank == 0:
        print(json.dumps({"processes": comm.size, "step_s": step_s, "allreduce_s": ar_s,
                          "step_cpu_s": float(np.median(cpu)),
                          "images_per_s": PER_PROCESS_BATCH * comm.size / step_s}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--worker", action="store_true")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    if args.worker:
        return worker(args.steps)
    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    results = {1: [], 2: []}
    for _ in range(args.rounds):
        for n in results:
            out = subprocess.run([mpiexec, "-n", str(n), sys.executable, __file__, "--worker",
                                  "--steps", str(args.steps)], env=env, capture_output=True,
                                 text=True, check=True).stdout
            results[n].append(json.loads(out.strip().splitlines()[-1]))
    med = {n: {k: float(np.median([r[k] for r in rs])) for k in rs[0]}
           for n, rs in results.items()}
    for n, m in med.items():
        print(f"{n} process(es) x 1 thread: {m['images_per_s']:.0f} images/s, step "
              f"{m['step_s'] * 1e3:.0f} ms ({m['step_cpu_s'] * 1e3:.0f} ms CPU), allreduce "
              f"{m['allreduce_s'] * 1e3:.2f} ms "
              f"({100 * m['allreduce_s'] / m['step_s']:.1f}% of a step)")
    speedup = med[2]["images_per_s"] / med[1]["images_per_s"]
    print(f"speed-up 2 vs 1 process: {speedup:.2f}x (parallel efficiency "
          f"{100 * speedup / 2:.0f}%; target >= 1.8x)")
    # each process on a core of its own: a step costs its CPU time (MPICH polls while it
    # waits, so the allreduce and the wait for the slower rank are in it)
    est = 2 * med[1]["step_cpu_s"] / med[2]["step_cpu_s"]
    print(f"estimate from CPU time per step (one idle core per process): {est:.2f}x")


if __name__ == "__main__":
    main()
