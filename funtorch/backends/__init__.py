"""The backends, one package each, registered with the device registry (core/devices.py).

Each package has a ``backend.py`` with its ``core.backend.Backend`` subclass: ``cpu/``
(fused Numba loops + BLAS on numpy buffers; ``FUNTORCH_CPU_BACKEND=interpret`` selects
the reference lowering) and ``cuda/`` (launches on numba device arrays). ``common/`` is
the backend-independent half of compilation. A backend's package loads on first use of
its platform, so importing funtorch does not import Numba.

Adding a backend: a package with a ``Backend`` subclass and one ``register_backend`` line
below.
"""

from __future__ import annotations

from ..core.backend import Unavailable
from ..core.devices import get_device, register_backend


def _cpu():
    from .cpu.backend import CpuBackend
    return CpuBackend()


def _cuda():
    try:
        from .cuda.backend import CudaBackend
    except ImportError as e:   # numba-cuda (or cuda_kernels) missing: simply no GPU
        return Unavailable("cuda", f"no CUDA device is available (the CUDA backend cannot "
                                   f"be imported: {e}); install numba-cuda "
                                   "(pip install 'funtorch[cuda]')")
    return CudaBackend()


register_backend("cpu", _cpu)
register_backend("cuda", _cuda)


def compile_graph(graph, device="cpu", donated=None):
    """``device``'s executable for ``graph`` (``run(*buffers) -> [buffers]``), compiled
    once per graph and donation pattern (``donated``: per input, whether the caller gives
    its buffer up for the outputs)."""
    return get_device(device).backend.executable(graph, donated)
