"""Shared setup for the tests on the CUDA backend (tests/test_cuda_backend.py,
tests/test_edge_values_cuda.py): Numba's simulated GPU (``NUMBA_ENABLE_CUDASIM=1``, set
here unless the environment says otherwise; import this module before anything imports
numba.cuda), a module-level skip when no device is there, and the fixtures those modules
import by name (not in conftest.py, which every test shares)."""

from __future__ import annotations

import importlib
import os
import sys

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import pytest  # noqa: E402
from numba.cuda import config as _cuda_config  # noqa: E402

import funtorch as ft  # noqa: E402

registry = importlib.import_module("funtorch.core.devices")   # the module, not ft.devices()

if os.environ["NUMBA_ENABLE_CUDASIM"] == "1" and not _cuda_config.ENABLE_CUDASIM:
    pytest.skip("numba.cuda was imported without the simulator before this module; run it "
                "alone or export NUMBA_ENABLE_CUDASIM=1", allow_module_level=True)
if "cuda:0" not in ft.devices():
    pytest.skip("no CUDA device and the simulator is off", allow_module_level=True)


@pytest.fixture(scope="module", autouse=True)
def kernel_cache(tmp_path_factory):
    """Generated kernels go to a per-run directory, not the user's cache."""
    old = os.environ.get("FUNTORCH_CACHE_DIR")
    if old is None:
        os.environ["FUNTORCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("kernels"))
    yield
    if old is None:
        del os.environ["FUNTORCH_CACHE_DIR"]


@pytest.fixture(autouse=True)
def fast_thread_switching():
    """Simulated threads hand the GIL around at every barrier (see cuda_kernels' conftest)."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(old)


def cuda(x):
    return ft.device_put(x, "cuda")
