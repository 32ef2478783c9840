"""Allreduce latency and bandwidth between MPI processes: raw mpi4py vs funtorch.

    mpiexec -n 2 env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/allreduce.py

For each size (float32 buffers, 1 KB .. 64 MB) the variants take turns, interleaved,
``--rounds`` times; rank 0 prints the median time of each: mpi4py's ``Allreduce``,
funtorch's ``lax.psum`` eagerly under ``spmd`` and inside ``jit`` (the compiled program's
MPI call), and mpi4py writing a fresh output buffer each call (what an immutable
result costs: first-touch page faults inside the copy). Then it fits the ring model ``t = 2(N-1) a + 2(N-1)/N * bytes / B`` to the
mpi4py medians (least squares): latency ``a`` and bandwidth ``B``, the figures
docs/distributed.md's cost model uses. ``--json`` writes them.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import funtorch as ft

SIZES = [2**10, 2**14, 2**18, 2**20, 2**22, 2**24, 2**26]


def _time(fn, reps):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    comm = ft.distributed.initialize()
    MPI, world = comm.MPI, comm.comm
    n = comm.size
    eager = ft.distributed.spmd(lambda v: ft.lax.psum(v, "dp"), "dp")
    jitted = ft.jit(eager)
    rows = []
    for nbytes in SIZES:
        x = np.ones(nbytes // 4, np.float32)
        out = np.empty_like(x)
        xa = ft.asarray(x)
        reps = max(3, min(200, 2**22 // nbytes))
        jitted(xa)   # compile
        variants = {"mpi4py": lambda: world.Allreduce(x, out, op=MPI.SUM),
                    # a fresh output each call, as funtorch's arrays are immutable
                    "mpi4py new": lambda: world.Allreduce(x, np.empty_like(x), op=MPI.SUM),
                    "ft eager": lambda: eager(xa),
                    "ft jit": lambda: jitted(xa)}
        res = {k: [] for k in variants}
        for _ in range(args.rounds):
            for k, f in variants.items():
                world.Barrier()
                res[k].append(_time(f, reps))
        rows.append((nbytes, {k: float(np.median(v)) for k, v in res.items()}))
    if comm.rank:
        return
    print(f"allreduce between {n} processes (median seconds per call)")
    print(f"{'bytes':>10} " + " ".join(f"{k:>12}" for k in rows[0][1]))
    for nbytes, r in rows:
        print(f"{nbytes:>10} " + " ".join(f"{v * 1e6:>10.1f}us" for v in r.values()))
    # least squares for t = 2(n-1) a + 2(n-1)/n * bytes / B over the mpi4py medians
    A = np.array([[2 * (n - 1), 2 * (n - 1) / n * b] for b, _ in rows])
    t = np.array([r["mpi4py"] for _, r in rows])
    (alpha, inv_bw), *_ = np.linalg.lstsq(A / t[:, None], np.ones_like(t), rcond=None)
    print(f"ring model fit (relative error weighted): latency a = {alpha * 1e6:.1f} us, "
          f"bandwidth B = {1 / inv_bw / 1e9:.2f} GB/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"processes": n, "latency_s": alpha, "bandwidth_Bps": 1 / inv_bw,
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
