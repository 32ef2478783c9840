"""Run the kernel tests under Numba's CUDA simulator unless told otherwise.

This must execute before anything imports ``numba.cuda``; pytest loads it at start-up because
``cuda_kernels/tests`` is a configured test path. Set ``NUMBA_ENABLE_CUDASIM=0`` to run the same
tests on a real GPU.
"""

import os
import sys

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from numba.cuda import config  # noqa: E402

if os.environ["NUMBA_ENABLE_CUDASIM"] == "1" and not config.ENABLE_CUDASIM:
    raise RuntimeError(
        "numba.cuda was imported before cuda_kernels/tests/conftest.py could enable the "
        "simulator; run `pytest cuda_kernels/tests` on its own or export NUMBA_ENABLE_CUDASIM=1"
    )


@pytest.fixture(scope="session", autouse=True)
def kernel_cache_dir(tmp_path_factory):
    """Kernels the benchmark script generates through funtorch go to a per-run directory,
    not the user's cache."""
    old = os.environ.get("FUNTORCH_CACHE_DIR")
    os.environ["FUNTORCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("kernel_cache"))
    yield
    if old is None:
        del os.environ["FUNTORCH_CACHE_DIR"]
    else:
        os.environ["FUNTORCH_CACHE_DIR"] = old


@pytest.fixture(autouse=True)
def fast_thread_switching():
    """Simulated threads hand the GIL around at every barrier; Python's default 5 ms switch
    interval makes each ``syncthreads`` cost milliseconds, so shorten it while a test runs."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(old)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
