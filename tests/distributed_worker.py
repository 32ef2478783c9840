"""Run by tests/test_distributed.py under ``mpiexec -n N``: one scenario per call.

    python tests/distributed_worker.py equiv OUT.npz   # the collectives, then k steps of
                                                       # MLP and CNN training
    python tests/distributed_worker.py raise CKPT      # rank 1 raises after a checkpoint
    python tests/distributed_worker.py kill            # rank 1 SIGKILLs itself
    python tests/distributed_worker.py hang            # rank 1 stops calling collectives
"""

import os
import signal
import sys
import time

import numpy as np

import funtorch as ft
import funtorch.nn as nn
import funtorch.nn.functional as F

STEPS, GLOBAL_BATCH = 3, 8


def models():
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(36, 10))
    return {"mlp": mlp, "cnn": cnn}


def train(model, rank, nproc):
    """``STEPS`` SGD steps on this process' part of each global batch."""
    opt = ft.optim.sgd(0.1, momentum=0.9)
    params = model.init(ft.random.key(0))
    state = opt.init(params)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 32)

    def step(params, state, xb, yb):
        grads = ft.grad(lambda p: F.cross_entropy(model(p, xb), yb))(params)
        if nproc > 1:
            grads = ft.distributed.pmean_tree(grads, "dp")
        updates, state = opt.update(grads, state, params)
        return ft.optim.apply_updates(params, updates), state

    step = ft.jit(ft.distributed.spmd(step, "dp"))
    comm = ft.distributed.initialize()
    calls = comm.calls
    it = ft.data.batches(x, y, batch_size=GLOBAL_BATCH, key=ft.random.key(2),
                         shard=(rank, nproc))
    for k, (xb, yb) in enumerate(it):
        if k == STEPS:
            break
        params, state = step(params, state, ft.asarray(xb), ft.asarray(yb))
    # one allreduce per step for the whole gradient tree
    assert comm.calls - calls == (STEPS if nproc > 1 else 0), comm.calls - calls
    return params


def check_collectives(rank, nproc):
    """Every collective over the process axis, eagerly and compiled, against numpy."""
    lax = ft.lax
    x = np.arange(2 * nproc, dtype=np.float32).reshape(2, nproc) + 10 * rank
    every = [np.arange(2 * nproc, dtype=np.float32).reshape(2, nproc) + 10 * r
             for r in range(nproc)]
    ring = [(i, (i + 1) % nproc) for i in range(nproc)]

    def f(v):
        return (lax.psum(v, "dp"), lax.pmax(v, "dp"), lax.pmin(v, "dp"), lax.pmean(v, "dp"),
                lax.all_gather(v, "dp", axis=1), lax.all_gather(v, "dp", tiled=True),
                lax.psum_scatter(v, "dp", scatter_dimension=1),
                lax.ppermute(v, "dp", ring), lax.axis_index("dp"))

    want = (sum(every), np.max(every, 0), np.min(every, 0), sum(every) / nproc,
            np.stack(every, 1), np.concatenate(every, 0), sum(every)[:, rank],
            every[(rank - 1) % nproc], rank)
    for got in (ft.distributed.spmd(f, "dp")(x), ft.jit(ft.distributed.spmd(f, "dp"))(x)):
        for k, (g, w) in enumerate(zip(got, want)):
            np.testing.assert_allclose(np.asarray(g), w, err_msg=f"collective {k}")
    # compiled allreduces in place (MPI_IN_PLACE): on a workspace value that dies there,
    # and on a donated input
    def g(v):
        return lax.psum(v + 1, "dp") * 2, lax.pmax(v * 3, "dp") - 1
    a, b = ft.jit(ft.distributed.spmd(g, "dp"))(x)
    np.testing.assert_allclose(np.asarray(a), 2 * (sum(every) + nproc))
    np.testing.assert_allclose(np.asarray(b), 3 * np.max(every, 0) - 1)
    donating = ft.jit(ft.distributed.spmd(lambda v: lax.psum(v, "dp"), "dp"), donate_argnums=0)
    np.testing.assert_allclose(np.asarray(donating(ft.asarray(x.copy()))), sum(every))


def main():
    mode = sys.argv[1]
    comm = ft.distributed.initialize()
    rank, nproc = ft.distributed.process_index(), ft.distributed.process_count()
    allreduce = ft.jit(ft.distributed.spmd(lambda v: ft.lax.psum(v, "dp"), "dp"))
    if mode == "equiv":
        check_collectives(rank, nproc)
        out = {}
        for name, model in models().items():
            paths, leaves, _ = ft.tree.flatten_with_path(train(model, rank, nproc))
            for path, leaf in zip(paths, leaves):
                out[name + "/" + "/".join(map(str, path))] = np.asarray(leaf)
        if rank == 0:
            np.savez(sys.argv[2], **out)
    elif mode == "raise":
        allreduce(ft.ones(3))
        if rank == 0:
            ft.save(sys.argv[2], {"w": ft.ones(3)})
        comm.barrier()
        if rank == 1:
            raise ValueError("rank 1 fails on purpose")
        allreduce(ft.ones(3))    # rank 0 waits here for rank 1, which is gone
    elif mode == "kill":
        allreduce(ft.ones(3))
        if rank == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        allreduce(ft.ones(3))
    elif mode == "hang":
        allreduce(ft.ones(3))
        if rank == 1:
            time.sleep(120)      # alive but silent: rank 0's watchdog must end the job
        allreduce(ft.ones(3))
    print(f"rank {rank} finished {mode}", flush=True)


if __name__ == "__main__":
    main()
