"""Data-parallel SPMD across processes on MPI (JAX's ``jax.distributed`` + ``shard_map``).

Launch one process per worker with MPI (``mpiexec -n 4 python train.py``, or ``srun``
under Slurm); each runs the same program on its own part of the data::

    ft.distributed.initialize()
    step = ft.jit(ft.distributed.spmd(train_step, axis_name="dp"))
    # inside train_step: grads = ft.distributed.pmean_tree(grads, "dp")

``spmd(f, axis_name)`` binds the process axis to ``axis_name`` while ``f`` runs (and
while ``jit`` traces it), so the collectives of ``ft.lax`` over that name
(``psum``, ``pmean``, ``all_gather``, ``axis_index`` ...) are MPI collectives between
the processes: eagerly through their impls, and inside ``jit`` as calls the CPU
backend's compiled program makes at the collective (on CUDA they stage through the
host; see docs/distributed.md). ``pmean_tree`` averages a whole gradient tree with one
allreduce per ~25 MB bucket (as PyTorch's DDP), not one per leaf.

Without ``mpiexec`` the program is one process of one (MPI's singleton start).
"""

from __future__ import annotations

import functools

import numpy as np

from .. import lax
from .. import tree as tree_util
from ..core import axis_env
from ..core.trace import get_aval
from .comm import DEFAULT_TIMEOUT, Communicator, install_excepthook

BUCKET_BYTES = 25 * 2**20

_world: list[Communicator] = []


def initialize(timeout=None):
    """Start MPI (from the environment ``mpiexec``/``srun`` set up) once per process, and
    make an uncaught exception on any rank abort the job. ``timeout``: seconds one
    collective may wait before the job is aborted (default ``FUNTORCH_DISTRIBUTED_TIMEOUT``
    or 300). Returns the world ``Communicator``; later calls return the same one."""
    if _world:
        return _world[0]
    try:
        from mpi4py import MPI  # optional dependency; importing it starts MPI
    except ImportError:
        raise ImportError("funtorch.distributed needs mpi4py and an MPI library: "
                          "pip install 'funtorch[distributed]' (mpi4py + mpich)") from None
    comm = Communicator(MPI, MPI.COMM_WORLD, timeout)
    install_excepthook(comm)
    _world.append(comm)
    return comm


def is_initialized():
    return bool(_world)


def _comm(what):
    if not _world:
        raise RuntimeError(f"funtorch.distributed.{what}: call ft.distributed.initialize() "
                           "first")
    return _world[0]


def process_index():
    """This process' rank among ``process_count()``."""
    return _comm("process_index").rank


def process_count():
    """The number of processes in the job."""
    return _comm("process_count").size


def barrier():
    _comm("barrier").barrier()


def broadcast(obj, root=0):
    """A picklable Python object (e.g. a pytree of numpy arrays) from ``root`` to all."""
    return _comm("broadcast").bcast(obj, root)


def spmd(fun, axis_name="dp"):
    """``fun`` with the process axis bound to ``axis_name``: collectives over that name
    inside it (eagerly or under ``jit``) run between the processes."""
    @functools.wraps(fun)
    def run(*args, **kwargs):
        comm = _comm("spmd")
        with axis_env.extend_axis_env(axis_env.AxisFrame(axis_name, comm.size, comm=comm)):
            return fun(*args, **kwargs)

    return run


def buckets(leaves, bucket_bytes=BUCKET_BYTES):
    """Leaf indices grouped into buckets of one dtype and at most ``bucket_bytes`` (a
    larger leaf is a bucket of its own), in order."""
    out, cur, cur_bytes, cur_dtype = [], [], 0, None
    for i, x in enumerate(leaves):
        a = get_aval(x)
        nbytes = a.size * a.dtype.itemsize
        if cur and (a.dtype != cur_dtype or cur_bytes + nbytes > bucket_bytes):
            out.append(cur)
            cur, cur_bytes = [], 0
        cur.append(i)
        cur_bytes += nbytes
        cur_dtype = a.dtype
    if cur:
        out.append(cur)
    return out


def pmean_tree(tree, axis_name, bucket_bytes=BUCKET_BYTES):
    """``lax.pmean`` of every leaf of ``tree``, flattened into buckets of at most
    ``bucket_bytes``: one allreduce per bucket, not one per leaf (DDP's bucketing)."""
    return _bucketed(lax.pmean, tree, axis_name, bucket_bytes)


def psum_tree(tree, axis_name, bucket_bytes=BUCKET_BYTES):
    """``lax.psum`` of every leaf of ``tree``, bucketed as ``pmean_tree``."""
    return _bucketed(lax.psum, tree, axis_name, bucket_bytes)


def _bucketed(collective, tree, axis_name, bucket_bytes):
    leaves, treedef = tree_util.flatten(tree)
    out = list(leaves)
    for idx in buckets(leaves, bucket_bytes):
        shapes = [get_aval(leaves[i]).shape for i in idx]
        sizes = [int(np.prod(s)) for s in shapes]
        flat = lax.concatenate([lax.reshape(leaves[i], (n,)) for i, n in zip(idx, sizes)], 0) \
            if len(idx) > 1 else lax.reshape(leaves[idx[0]], (sizes[0],))
        red = collective(flat, axis_name)
        start = 0
        for i, n, s in zip(idx, sizes, shapes):
            out[i] = lax.reshape(lax.slice_in_dim(red, start, start + n), s)
            start += n
    return tree_util.unflatten(treedef, out)


__all__ = ["initialize", "is_initialized", "process_index", "process_count", "barrier",
           "broadcast", "spmd", "pmean_tree", "psum_tree", "buckets", "BUCKET_BYTES",
           "DEFAULT_TIMEOUT", "Communicator"]
