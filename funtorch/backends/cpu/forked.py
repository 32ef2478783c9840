"""Compiling a graph's new kernels on several cores: forked workers fill the disk cache.

Numba compiles one function at a time under a global lock, mostly in Python, so threads
cannot compile in parallel. A forked process can: it starts with this process's Numba
already initialised (no import; its target context is set up before forking), compiles
its share of the kernels into the kernel cache (``common.cache``: each source written
atomically, Numba's machine code beside it) and exits; the parent compiles its own share
meanwhile, waits, then loads the workers' kernels from the cache like any cached kernel
(milliseconds each). The result is
the code the parent would have compiled itself: same source, same compiler.

Only on Linux (fork is the platform's process model there), with more than one core
available and at least two kernels to compile. Before forking, the parent takes the
cache's lock and Numba's compiler lock, so no other thread of ours (``library``'s background
compiles) is inside a compilation the child would inherit half done. A worker that fails
changes nothing: the parent compiles what is missing when it loads it.

Not in a process that has loaded JAX's runtime (``jaxlib``, e.g. a test or benchmark
using JAX as an oracle beside funtorch): XLA's thread pools are not fork-safe and JAX
warns that a fork may deadlock, so there the parent compiles everything itself.

``FUNTORCH_CPU_COMPILE_JOBS``: processes compiling at once (default: the cores this
process may run on, at most 4; 1 turns forking off).
"""

from __future__ import annotations

import os
import sys
import warnings

from numba.core.compiler_lock import global_compiler_lock
from numba.core.registry import cpu_target

from ..common import cache

STATS = {"forked": 0}    # kernels compiled by forked workers (then loaded by the parent)


def _jobs():
    try:
        n = int(os.environ.get("FUNTORCH_CPU_COMPILE_JOBS", "0"))
    except ValueError:
        n = 0
    if n <= 0:
        n = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                else os.cpu_count() or 1)
    return n


def available():
    return (sys.platform.startswith("linux") and hasattr(os, "fork") and _jobs() > 1
            and "jaxlib" not in sys.modules)


def compile_ahead(work):
    """``work``: (cost estimate, thunk) pairs, each thunk compiling one kernel into the
    disk cache. Runs them split over forked workers and this process (largest first, each
    to the least loaded); returns once all have finished. With one job, runs them here."""
    n = min(_jobs(), len(work)) if available() else 1
    if n <= 1:
        return
    shares = [[] for _ in range(n)]
    loads = [0] * n
    for cost, thunk in sorted(work, key=lambda w: -w[0]):
        k = loads.index(min(loads))
        shares[k].append(thunk)
        loads[k] += cost
    pids, mine = [], list(shares[0])
    # the order every thread takes them in (a cache load compiles under Numba's lock)
    with cache.lock, global_compiler_lock:
        # Numba's typing and target contexts (its registries, ~0.3 s at a process's first
        # compilation) are set up once here, for the parent and every worker
        cpu_target.target_context.refresh()
        sys.stdout.flush()
        sys.stderr.flush()
        for share in shares[1:]:
            with warnings.catch_warnings():   # Python 3.12+: forking with threads running;
                # the worker only compiles, under locks the forking thread holds
                warnings.filterwarnings("ignore", ".*fork", DeprecationWarning)
                try:
                    pid = os.fork()
                except OSError:       # no process to be had: compile that share here
                    mine += share
                    continue
            if pid == 0:      # the worker: compile, then leave without running any exit code
                code = 0
                try:
                    for thunk in share:
                        thunk()
                except BaseException:
                    code = 1
                os._exit(code)
            pids.append((pid, len(share)))
    for thunk in mine:
        thunk()
    for pid, count in pids:
        _, status = os.waitpid(pid, 0)
        if status == 0:
            STATS["forked"] += count
