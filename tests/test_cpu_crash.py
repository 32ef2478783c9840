"""Regression: a 0-d fused kernel with many inputs that reads a 0-d result of an eager step
crashed the process (segfault) on the CPU backend.

The driver made the eager result C-contiguous with ``np.ascontiguousarray``, which
returns a 1-d array for a 0-d one; the kernel's entry point (compiled for a 0-d array
and called without type dispatch) then unboxed the 1-d array into a 0-d array struct,
writing its shape and strides past it. With ~16 or more arguments that overwrote live
stack and the process died (``ft.random.normal`` in jit, before lax.special kept its
constants inline). Each reproduction runs in a subprocess, so a regression fails the
test instead of killing pytest."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import funtorch as ft
from funtorch.backends.cpu import program
from funtorch.lax import elementwise as ew


@pytest.fixture(autouse=True)
def _this_backend(monkeypatch):
    monkeypatch.setenv("FUNTORCH_CPU_BACKEND", "numba")


SCRIPT = textwrap.dedent("""
    import numpy as np, funtorch as ft
    from funtorch.lax import elementwise as ew
    from funtorch.lax.shape import full_like

    def program(n):
        def f(bits):
            x = ew.bitcast_convert_type(bits, np.float32)   # eager step: a 0-d result
            acc = ew.convert_element_type(x, np.float64)
            for i in range(n):       # each constant its own kernel: one input more
                c = ew.convert_element_type(full_like(x, 1.0 + i / 64), np.float64)
                acc = ew.add(ew.mul(acc, c), c)
            return ew.convert_element_type(acc, np.float32)
        return f

    for n in (16, 17, 20, 24):
        out = ft.jit(program(n))(ft.asarray(np.uint32(0x3F800000)))   # 1.0f
        want = 1.0
        for i in range(n):
            want = want * (1.0 + i / 64) + (1.0 + i / 64)
        out = np.asarray(out)
        print(n, out.shape, float(out) == float(np.float32(want)), flush=True)
""")


def test_many_input_scalar_kernel_after_eager_step_does_not_crash():
    env = dict(os.environ, FUNTORCH_CPU_BACKEND="numba")
    p = subprocess.run([sys.executable, "-X", "faulthandler", "-c", SCRIPT], env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"rc {p.returncode}\n{p.stdout}\n{p.stderr[-3000:]}"
    lines = p.stdout.split("\n")
    assert [ln for ln in lines if ln] == [f"{n} () True" for n in (16, 17, 20, 24)]


def test_scalar_eager_result_read_by_a_kernel_keeps_its_shape():
    # the same eager result is an output and a kernel's input: it came back 1-d
    def f(bits):
        x = ew.bitcast_convert_type(bits, np.float32)
        return x, ew.add(x, x)

    x, y = ft.jit(f)(ft.asarray(np.uint32(0x3F800000)))
    assert np.asarray(x).shape == () and np.asarray(y).shape == ()
    assert float(np.asarray(x)) == 1.0 and float(np.asarray(y)) == 2.0


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_driver_contig_keeps_rank(shape):
    a = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    for x in (a, a.T, np.asfortranarray(a)):
        c = program._contig(x, np.float32)
        assert c.shape == x.shape and c.dtype == np.float32 and c.flags.c_contiguous
        np.testing.assert_array_equal(c, x)
