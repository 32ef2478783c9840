"""The differential fuzzer (tests/test_fuzz.py) on the CUDA backend: a subset of small
programs, jitted on the (simulated) device against the CPU eager result, values and
``value_and_grad``. Runs on Numba's CUDA simulator unless ``NUMBA_ENABLE_CUDASIM=0``."""

from __future__ import annotations

# first: sets NUMBA_ENABLE_CUDASIM before anything imports numba.cuda
from cuda_sim import cuda, fast_thread_switching, kernel_cache  # noqa: F401

# isort: split

import numpy as np
from fuzz_programs import inputs, programs
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz import _argnums, _cast, _fn, _loss, agree, examples, quiet  # noqa: F401

import funtorch as ft


@examples(3)
@given(programs("f", max_ops=4, max_rank=2), st.integers(0, 2 ** 16), st.booleans())
def test_cuda_jit_matches_cpu_eager(program, seed, special):
    xs = inputs(program, np.float32, seed, special)
    x64 = _cast(xs, np.float64)
    f, loss = _fn(program), _loss(program)
    vg = ft.value_and_grad(loss, argnums=_argnums(program))
    on_device = [cuda(x) for x in xs]
    host = lambda tree: ft.tree.map(lambda a: np.asarray(ft.device_put(a, "cpu")), tree)  # noqa: E731
    agree("cuda jit", program, host(ft.jit(f)(*on_device)), f(*xs), f(*x64), f(*x64))
    agree("cuda jit(value_and_grad)", program, host(ft.jit(vg)(*on_device)), vg(*xs),
          vg(*x64), vg(*x64))
