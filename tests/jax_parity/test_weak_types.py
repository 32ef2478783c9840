"""Python int and float arguments stay weakly typed through every transformation and
control-flow path."""

from __future__ import annotations

import numpy as np
import pytest

import funtorch as ft

from .common import X3, f32


def _cv_mul():
    f = ft.custom_vjp(lambda x, n: x * n)
    f.defvjp(lambda x, n: (x * n, None), lambda r, g: (g, None))
    return f


_PY_INT_PATHS = {
    "jvp": lambda: ft.jvp(lambda x, n: x * n, (X3, 3),
                          (np.ones(3, f32), np.zeros((), ft.float0)))[0],
    "vjp": lambda: ft.vjp(lambda x, n: x * n, X3, 3)[0],
    "cond_operand": lambda: ft.cond(True, lambda x, n: x * n, lambda x, n: x, X3, 3),
    "switch_operand": lambda: ft.switch(0, [lambda x, n: x * n, lambda x, n: x], X3, 3),
    "while_carry": lambda: ft.while_loop(lambda c: c[1] < 5,
                                         lambda c: (c[0] * c[1], c[1] + 1), (X3, 3))[0],
    "scan_carry": lambda: ft.scan(lambda c, x: ((c[0] * c[1], c[1]), None), (X3, 3), None,
                                  length=2)[0][0],
    "custom_vjp_arg": lambda: _cv_mul()(X3, 3),
}


@pytest.mark.parametrize("path", list(_PY_INT_PATHS))
def test_python_int_arguments_stay_weak(path):
    out = _PY_INT_PATHS[path]()
    assert out.dtype == np.float32


def test_weak_scalars_stay_weak_in_the_paths_that_handle_them():
    assert ft.vjp(lambda x, n: x * n, X3, 3.0)[0].dtype == np.float32
    assert ft.cond(True, lambda x, s: x * s, lambda x, s: x, X3, 2.0).dtype == np.float32
    assert ft.linearize(lambda x, n: x * n, X3, 3.0)[0].dtype == np.float32
    assert ft.jit(lambda x, n: x * n)(X3, 3).dtype == np.float32
    assert ft.jacrev(lambda x, n: x * n)(X3, 3).dtype == np.float32
    assert ft.jacfwd(lambda x, n: x * n)(X3, 3).dtype == np.float32
    assert ft.hessian(lambda x, n: ft.sum(x ** 2 * n))(X3, 3).dtype == np.float32
