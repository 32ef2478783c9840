"""The MPI communicator behind a process axis: buffer collectives with a watchdog.

The collectives of ``lax.parallel`` call these methods (eagerly, and from the CPU
backend's compiled programs) with numpy buffers; the output is written in place.
mpi4py is imported by ``initialize`` only: importing funtorch never starts MPI.

Faults. ``install_excepthook`` makes an uncaught exception on any rank print its
traceback and ``MPI_Abort`` the job, so every rank exits non-zero within seconds. A
killed rank is noticed by the launcher (MPICH's hydra ends the job); as a backstop, a
watchdog thread aborts the job when one collective waits longer than ``timeout``
seconds (``FUNTORCH_DISTRIBUTED_TIMEOUT``, default 300).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from contextlib import contextmanager

import numpy as np

from ..core import dtypes

DEFAULT_TIMEOUT = 300.0
ABORT_GRACE = 0.25   # seconds between a fault's message and MPI_Abort


class Communicator:
    """An mpi4py communicator, its ``rank`` and ``size``, and the collectives on
    buffers (``x`` any array, ``out`` a C-contiguous array of the result's shape)."""

    def __init__(self, MPI, comm, timeout=None):
        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
        env = os.environ.get("FUNTORCH_DISTRIBUTED_TIMEOUT")
        self.timeout = float(timeout if timeout is not None else env or DEFAULT_TIMEOUT)
        self.calls = 0            # collectives run (tests count allreduces with it)
        self.inside = None        # the collective running now (for the watchdog), or None
        self._watchdog = threading.Thread(target=self._watch, name="funtorch-mpi-watchdog",
                                          daemon=True)
        self._watchdog.start()

    # ---- the collectives

    def allreduce(self, x, out, op):
        if x.dtype in dtypes.HALVES:   # MPI has no 16-bit float: reduce in float32
            wide = np.empty(out.shape, np.float32)
            self.allreduce(x.astype(np.float32), wide, op)
            out[...] = wide
            return
        self.calls += 1
        self.inside = "allreduce"
        try:
            self.comm.Allreduce(np.ascontiguousarray(x), out, op=self.ops[op])
        finally:
            self.inside = None

    def allreduce_call(self, dtype, op):
        """The allreduce of a compiled program, bound once: ``(run(x, out), in_place(buf))``
        (``in_place``: MPI_IN_PLACE on one buffer holding the input and receiving the
        result; None where there is none). A call costs little more than MPI's."""
        if dtype in dtypes.HALVES:
            return (lambda x, out: self.allreduce(x, out, op)), None
        Allreduce, mpi_op, IN_PLACE = self.comm.Allreduce, self.ops[op], self.MPI.IN_PLACE

        def run(x, out):
            if not x.flags.c_contiguous:
                x = np.ascontiguousarray(x)
            self.calls += 1
            self.inside = "allreduce"
            try:
                Allreduce(x, out, mpi_op)
            finally:
                self.inside = None

        def in_place(buf):
            self.calls += 1
            self.inside = "allreduce"
            try:
                Allreduce(IN_PLACE, buf, mpi_op)
            finally:
                self.inside = None

        return run, in_place

    def allgather(self, x, out):
        with self._in("allgather"):
            self.comm.Allgather(np.ascontiguousarray(x), out)

    def reduce_scatter(self, chunks, out):
        """``chunks`` (size, *out.shape): member i gets the sum of every member's chunk i."""
        if chunks.dtype in dtypes.HALVES:
            wide = np.empty(out.shape, np.float32)
            self.reduce_scatter(chunks.astype(np.float32), wide)
            out[...] = wide
            return
        with self._in("reduce_scatter"):
            self.comm.Reduce_scatter_block(np.ascontiguousarray(chunks), out,
                                           op=self.MPI.SUM)

    def permute(self, x, out, perm):
        send = [d for s, d in perm if s == self.rank]
        recv = [s for s, d in perm if d == self.rank]
        reqs = []
        if recv:
            reqs.append(self.comm.Irecv(out, source=recv[0], tag=7001))
        else:
            out[...] = 0
        if send:
            reqs.append(self.comm.Isend(np.ascontiguousarray(x), dest=send[0], tag=7001))
        with self._in("ppermute"):
            self.MPI.Request.Waitall(reqs)

    def barrier(self):
        with self._in("barrier"):
            self.comm.Barrier()

    def bcast(self, obj, root=0):
        """A picklable Python object from ``root`` to every process."""
        with self._in("bcast"):
            return self.comm.bcast(obj, root=root)

    # ---- faults

    @contextmanager
    def _in(self, what):
        self.calls += 1
        self.inside = what
        try:
            yield
        finally:
            self.inside = None

    def _watch(self):
        """Abort the job when one collective (the same ``calls`` count, ``inside`` set)
        is seen running for longer than ``timeout``. (The collectives only set two
        attributes: no clock is read on their path.)"""
        seen, since = None, 0.0
        while True:
            time.sleep(min(1.0, self.timeout / 4))
            now, cur = time.monotonic(), (self.calls, self.inside)
            if cur[1] is None or cur != seen:
                seen, since = cur, now
            elif now - since > self.timeout:
                sys.stderr.write(
                    f"funtorch.distributed: rank {self.rank} waited more than "
                    f"{self.timeout:g} s in {cur[1]} (FUNTORCH_DISTRIBUTED_TIMEOUT): another "
                    "process died or hangs; aborting the job\n")
                sys.stderr.flush()
                self.abort(3)

    def abort(self, code=1):
        """``MPI_Abort`` the job, a moment after what this rank printed: the launcher
        forwards output asynchronously, and an abort at once can lose its last lines."""
        time.sleep(ABORT_GRACE)
        self.comm.Abort(code)


def install_excepthook(comm):
    """An uncaught exception prints its traceback (tagged with the rank) and aborts the
    whole job, so no rank waits forever in a collective for it."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        if comm.size > 1:
            text = "".join(traceback.format_exception(kind, value, tb))
            sys.stderr.write(f"funtorch.distributed: rank {comm.rank} of {comm.size} "
                             f"raised; aborting the job\n{text}")
            sys.stderr.flush()
            comm.abort(1)
        previous(kind, value, tb)

    sys.excepthook = hook
