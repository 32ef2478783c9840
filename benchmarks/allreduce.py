"""Allreduce latency and bandwidth between MPI processes: raw mpi4py vs funtorch.

    mpiexec -n 2 env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        python benchmarks/allreduce.py

For each size (float32 buffers, 1 KB .. 64 MB) the variants take turns, interleaved,
``--rounds`` times; rank 0 prints the median time of each: mpi4py's ``Allreduce`` into a
preallocated buffer and in place (``MPI.IN_PLACE``), and into a fresh buffer each call
(what an immutable result costs: with MPICH, first-touch page faults inside the call);
funtorch's ``lax.psum`` eagerly under ``spmd``; inside ``jit`` (the compiled program's
MPI call, its result a fresh array), inside ``jit`` with the input donated (the program
reduces the donated buffer in place), and an empty ``jit`` (``lambda v: v``: the cost of
a compiled call itself, the jit columns' floor above MPI).
Then it fits the ring model
``t = 2(N-1) a + 2(N-1)/N * bytes / B`` to the mpi4py medians (least squares):
latency ``a`` and bandwidth ``B``, the figures docs/distributed.md's cost model uses.
``--json`` writes them.

    python benchmarks/allreduce.py --project [--from measured.json]

prints docs/distributed.md's projection tables (no MPI needed): parallel efficiency
``C / (C + T_allreduce(N))`` at 2, 8, 64 and 512 processes for the MNIST CNN and the
Transformer workload, from the per-step compute ``C`` and gradient bytes in
``WORKLOADS`` and the interconnects in ``LINKS`` (this machine's fit from ``--from``).
"""

from __future__ import annotations

import argparse
import json
import os
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


# name -> (gradient bytes (float32), compute seconds per step on a CPU process, on a GPU)
WORKLOADS = {
    # 1,199,882 parameters; 128 images: 72 ms at 1780 images/s (BENCHMARKS.md, 2 cores);
    # GPU: an assumed 1 ms
    "MNIST CNN, 128 images/process": (1_199_882 * 4, 0.072, 0.001),
    # issue 13's decoder-only model (4 layers, d_model 128, MLP 512, vocab 65, learned
    # positions, untied head): 826,433 parameters; 32 x 128 tokens: 168 ms at PyTorch's
    # 24,400 tokens/s on 2 cores (issue 13); GPU: an assumed 3 ms
    "Transformer, 4096 tokens/process": (826_433 * 4, 0.168, 0.003),
}
# name -> (bandwidth B/s, latency s) per link
LINKS = {"InfiniBand 100 Gb/s": (12.5e9, 2e-6), "NVLink (NCCL, in a node)": (200e9, 5e-6)}
GPUS_PER_NODE = 8


def ring(n, nbytes, bw, lat):
    """Ring allreduce: reduce-scatter then all-gather, 2(n-1) steps of nbytes/n each."""
    return 2 * (n - 1) / n * nbytes / bw + 2 * (n - 1) * lat if n > 1 else 0.0


def hierarchical(n, nbytes):
    """GPUs: ring over NVLink inside each node of 8, then a ring over InfiniBand between
    the nodes, one 100 Gb/s NIC per node carrying the whole gradient (the 8 GPUs' shares
    together): NCCL's hierarchy, roughly."""
    inside = min(n, GPUS_PER_NODE)
    t = ring(inside, nbytes, *LINKS["NVLink (NCCL, in a node)"])
    nodes = n // inside
    return t + ring(nodes, nbytes, *LINKS["InfiniBand 100 Gb/s"])


def project(measured=None):
    sizes = (2, 8, 64, 512)
    setups = [("CPU processes, InfiniBand", 1,
               lambda n, b: ring(n, b, *LINKS["InfiniBand 100 Gb/s"])),
              ("GPUs, NVLink x8 per node + InfiniBand", 2, hierarchical)]
    if measured:
        setups.insert(0, (f"CPU processes, this machine's link (a={measured[1] * 1e6:.1f} us, "
                          f"B={measured[0] / 1e9:.2f} GB/s)", 1,
                          lambda n, b: ring(n, b, *measured)))
    for name, (nbytes, *compute) in WORKLOADS.items():
        print(f"\n{name}: {nbytes / 1e6:.1f} MB of gradients\n")
        print("| setup | compute/step | " + " | ".join(f"N={n}" for n in sizes) + " |")
        print("|---|---|" + "---|" * len(sizes))
        for setup, k, t in setups:
            c = compute[k - 1]
            cells = [f"{t(n, nbytes) * 1e3:.2f} ms, {100 * c / (c + t(n, nbytes)):.0f}%"
                     for n in sizes]
            print(f"| {setup} | {c * 1e3:.0f} ms | " + " | ".join(cells) + " |")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", default=None)
    p.add_argument("--project", action="store_true")
    p.add_argument("--from", dest="measured", default=None)
    args = p.parse_args()
    if args.project:
        m = None
        if args.measured:
            with open(args.measured) as f:
                d = json.load(f)
            m = (d["bandwidth_Bps"], d["latency_s"])
        return project(m)
    comm = ft.distributed.initialize()
    MPI, world = comm.MPI, comm.comm
    n = comm.size
    eager = ft.distributed.spmd(lambda v: ft.lax.psum(v, "dp"), "dp")
    jitted = ft.jit(eager)
    donating = ft.jit(eager, donate_argnums=0)
    empty = ft.jit(lambda v: v)
    rows = []
    for nbytes in SIZES:
        x = np.ones(nbytes // 4, np.float32)
        out, buf = np.empty_like(x), x.copy()
        xa = ft.asarray(x)
        held = [donating(ft.asarray(x.copy()))]   # compiles; then each call donates it
        reps = max(3, min(200, 2**22 // nbytes))
        jitted(xa), empty(xa)   # compile

        def donated(held=held):
            held[0] = donating(held[0])

        variants = {"mpi4py": lambda x=x, out=out: world.Allreduce(x, out, op=MPI.SUM),
                    "in place": lambda buf=buf: world.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM),
                    "fresh": lambda x=x: world.Allreduce(x, np.empty_like(x), op=MPI.SUM),
                    "ft eager": lambda xa=xa: eager(xa),
                    "ft jit": lambda xa=xa: jitted(xa),
                    "ft donated": donated,
                    "empty jit": lambda xa=xa: empty(xa)}
        res = {k: [] for k in variants}
        for _ in range(args.rounds):
            for k, f in variants.items():
                world.Barrier()
                res[k].append(_time(f, reps))
        rows.append((nbytes, {k: float(np.median(v)) for k, v in res.items()}))
    if comm.rank:
        return
    print(f"allreduce between {n} processes (median time per call; load average "
          f"{os.getloadavg()[0]:.1f})")
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
