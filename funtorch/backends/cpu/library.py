"""Library kernels in two tiers: generic now, specialised in the background.

A convolution or pooling kernel (``conv_kernels``, ``pool_kernels``) compiled with its
strides, paddings and window written in runs 6-10% faster than one taking them at run
time, but compiling it costs seconds, once per geometry, and most of a cold first step
was spent there. So ``kernel(...)`` returns a ``Tiered`` kernel that starts on the
*generic* entry point (every constant passed at run time: one compiled kernel per body
and dtype for every model, cached beside the package, so an empty kernel cache does not
recompile it) and, once the kernel is hot (its ``SPECIALIZE_AFTER``-th call), has a
background thread compile the specialised entry point (or load it from the kernel cache),
then swaps it in. Both run the same operations in the same order, with no fast-math flags:
the results are bitwise identical, so the swap changes nothing but speed.

The background thread is a daemon doing one job at a time; Numba's compiler lock and the
kernel cache's lock (``common.cache``) serialise it with the main thread's compilations,
and the cache's writes stay atomic. ``wait()`` blocks until the queued jobs are done (for
tests, and for benchmarks that want steady-state throughput).

``FUNTORCH_CPU_SPECIALIZE_AFTER``: calls before specialising (default 2: a training loop's
second step; 1: at the first call; 0: never). ``precompile()`` (``make precompile``) builds
the generic entry points of the common float32/float64 kernels by running a small model.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
import warnings

from . import forked
from .parallel import RUNTIME, Runtime, Shares


def _after():
    try:
        return int(os.environ.get("FUNTORCH_CPU_SPECIALIZE_AFTER", "2"))
    except ValueError:
        return 2


SPECIALIZE_AFTER = _after()


class Tiered:
    """``module.name`` run through ``Shares``: the generic entry until the specialised one
    is ready. ``entry`` is one (callable, run-time constants) pair, replaced whole, so a
    call never mixes one tier's kernel with the other's constants."""

    __slots__ = ("entry", "key", "calls", "queued", "specialised")

    def __init__(self, module, name, dtype, arrays, consts, n_scalars):
        generic = Shares(module, name, dtype, arrays, (RUNTIME,) * len(consts), n_scalars)
        values = tuple(int(c.value) if type(c) is Runtime else int(c) for c in consts)
        self.entry = (generic, values)
        self.key = (module, name, dtype, arrays, tuple(consts), n_scalars)
        self.calls = 0
        self.queued = False
        self.specialised = False

    def __call__(self, *xs):
        fn, runtime = self.entry
        if not self.queued:
            self.calls += 1
            if 0 < SPECIALIZE_AFTER <= self.calls:
                self.queued = True
                _submit(self.specialise)
        fn(*xs, runtime=runtime)

    def specialise(self):
        """Build the specialised entry (compiled or loaded from the kernel cache) and swap
        it in: called by the background thread."""
        special = Shares(*self.key)     # a _Bound where some constants stay at run time
        if type(special) is Shares:
            self.entry = (special, ())
        else:
            self.entry = (special.kernel, special.runtime)
        self.specialised = True


# (module, kernel) -> (ndims of its arrays, number of constants, number of trailing scalars)
SIGNATURES = {
    ("conv_kernels", "gather"): ((4, 4, 4, 2), 10, 0),
    ("conv_kernels", "scatter"): ((4, 3, 4, 2), 12, 0),
    ("conv_kernels", "wgrad"): ((4, 4, 4, 2, 3), 9, 0),
    ("pool_kernels", "max_pool"): ((3, 3), 6, 1),
    ("pool_kernels", "max_pool_2x2"): ((3, 3), 0, 0),
    ("pool_kernels", "sum_pool"): ((3, 3), 6, 1),
    ("pool_kernels", "scatter_max"): ((3, 3, 3), 6, 2),
    ("pool_kernels", "scatter_max_2x2"): ((3, 3, 3), 0, 1),
    ("pool_kernels", "gather_max"): ((3, 3, 3), 6, 2),
}


def kernel(module, name, dtype, consts=()):
    """The kernel ``module.name`` for ``dtype`` with ``consts`` (``Runtime`` ones stay run
    time constants in both tiers): tiered where it has constants to write in."""
    arrays, n_consts, n_scalars = SIGNATURES[module, name]
    if len(consts) != n_consts:
        raise TypeError(f"funtorch: {module}.{name} takes {n_consts} constants, "
                        f"got {len(consts)}")
    if all(type(c) is Runtime for c in consts):
        return Shares(module, name, dtype, arrays, consts, n_scalars)
    return Tiered(module, name, dtype, arrays, consts, n_scalars)


# --------------------------------------------------------------------------- the thread

_jobs = queue.Queue()
_thread = None
_start = threading.Lock()


def _submit(job):
    global _thread
    with _start:
        if _thread is None:
            _thread = threading.Thread(target=_work, name="funtorch-specialise", daemon=True)
            _thread.start()
    _jobs.put(job)


def _work():
    while True:
        job = _jobs.get()
        try:
            job()
        except Exception as exc:   # the generic kernel keeps running: slower, not wrong
            warnings.warn(f"funtorch cpu backend: a specialised library kernel failed to "
                          f"compile; the generic one stays ({type(exc).__name__}: {exc})",
                          RuntimeWarning, stacklevel=1)
        finally:
            _jobs.task_done()


def wait():
    """Block until every specialisation queued so far is compiled and swapped in."""
    _jobs.join()


def precompile(dtypes=("float32", "float64")):
    """Compile (or load) the generic entry point of every library kernel for ``dtypes``,
    on every core (``forked``): what a cold first step then finds ready. Returns how many
    there are."""
    keys = [(module, name, dt, arrays, (RUNTIME,) * n_consts, n_scalars)
            for (module, name), (arrays, n_consts, n_scalars) in SIGNATURES.items()
            for dt in dtypes]
    forked.compile_ahead([(1, functools.partial(Shares, *key)) for key in keys])
    return len([Shares(*key) for key in keys])


if __name__ == "__main__":
    import time
    t = time.perf_counter()
    n = precompile()
    print(f"funtorch: {n} library kernels ready (compiled or already there), "
          f"{time.perf_counter() - t:.1f} s")
