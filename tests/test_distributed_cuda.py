"""Collectives over a process axis on the CUDA backend (simulator): staged through the
host, eagerly and compiled, with no host-fallback warning."""

# first: sets NUMBA_ENABLE_CUDASIM before anything imports numba.cuda
from cuda_sim import kernel_cache  # noqa: F401

# isort: split

import warnings

import numpy as np
from test_distributed import Loopback

import funtorch as ft
from funtorch.core import axis_env


def test_psum_on_cuda_arrays_stages_through_the_host():
    x = ft.device_put(np.arange(4, dtype=np.float32), "cuda:0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with axis_env.extend_axis_env(axis_env.AxisFrame("cuda_loop", 2, comm=Loopback(2))):
            compiled = ft.jit(lambda v: ft.lax.psum(v * 2, "cuda_loop") + 1)(x)
            eager = ft.lax.psum(x, "cuda_loop")
    assert compiled.device == "cuda:0" and eager.device == "cuda:0"
    np.testing.assert_allclose(np.asarray(compiled), [1, 5, 9, 13])
    np.testing.assert_allclose(np.asarray(eager), [0, 2, 4, 6])
