"""CPU time per training step of one ``benchmarks/seq.py`` workload, each framework on one
thread, interleaved rounds, medians: a measure of the work per step that a shared, loaded
machine distorts less than wall-clock tokens/s (contention hits multi-threaded runtimes
unevenly). It complements seq.py's interleaved ratios; it does not replace them.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/seq_work.py \\
        [--workload transformer] [--rounds 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# one thread each, set before the libraries start their pools
os.environ["NUMBA_NUM_THREADS"] = "1"
os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seq  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", default="transformer", choices=["lstm", "gru", "transformer",
                                                                   "forecast"])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3, help="steps per round")
    args = ap.parse_args()
    import jax
    import torch

    import funtorch as ft
    jax.config.update("jax_platforms", "cpu")
    torch.set_num_threads(1)
    cfg, name = dict(seq.FULL), args.workload
    n = 3 + args.rounds * args.steps
    data = seq.forecast_batches(cfg, n) if name == "forecast" else seq.lm_batches(cfg, n)
    t_step, sd, _ = seq.make_torch_trainer(torch, cfg, name, "cpu")
    steps = {"torch": t_step,
             "funtorch": seq.make_funtorch_trainer(ft, cfg, name, sd, "cpu")[0],
             "jax": seq.make_jax_trainer(jax, cfg, name, sd)}
    for step in steps.values():          # compile and warm up
        for b in data[:3]:
            step(*b)
    cpu = {fw: [] for fw in steps}
    for r in range(args.rounds):
        chunk = data[3 + r * args.steps:3 + (r + 1) * args.steps]
        for fw, step in steps.items():
            c0 = time.process_time()
            for b in chunk:
                step(*b)
            cpu[fw].append((time.process_time() - c0) / len(chunk))
    med = {fw: float(np.median(v)) for fw, v in cpu.items()}
    print(f"{name}: CPU ms per step, one thread each, median of {args.rounds} rounds")
    for fw, v in med.items():
        print(f"  {fw:9s} {v * 1e3:8.1f}")
    print(f"  funtorch does {med['torch'] / med['funtorch']:.2f}x torch's work rate, "
          f"{med['jax'] / med['funtorch']:.2f}x JAX's")


if __name__ == "__main__":
    main()
