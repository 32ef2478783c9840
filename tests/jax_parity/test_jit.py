"""jit: static arguments, retracing and its cache key, closures."""

from __future__ import annotations

import numpy as np
import pytest

import funtorch as ft

from .common import X3, close, counted, f32


def test_jit_static_argnames_retraces_per_value_and_accepts_positional():
    f, calls = counted(lambda x, k: x * k if k > 1 else x)
    g = ft.jit(f, static_argnames="k")
    close(g(X3, k=2), 2 * X3)
    g(X3, k=2)
    close(g(X3, k=3), 3 * X3)
    close(g(X3, k=0), X3)
    assert calls[0] == 3
    f, calls = counted(lambda x, k: x * k)
    g = ft.jit(f, static_argnames="k")
    close(g(X3, 2), 2 * X3)
    close(g(X3, k=2), 2 * X3)
    f, calls = counted(lambda x, k: x * k)
    g = ft.jit(f, static_argnums=-1)
    g(X3, 2), g(X3, 2), g(X3, 3)
    assert calls[0] == 2

    def kwonly(x, *, n):
        return x * n
    close(ft.jit(kwonly, static_argnames="n")(X3, n=2), 2 * X3)
    with pytest.raises((TypeError, ValueError), match="hash"):
        ft.jit(lambda x, k: x, static_argnums=1)(X3, [1, 2])


def test_jit_retraces_on_new_shape_dtype_structure_but_not_values():
    f, calls = counted(lambda x: x * 2)
    g = ft.jit(f)
    g(X3), g(X3 + 1), g(X3[:2]), g(X3.astype(np.float16)), g(np.arange(3, dtype=np.int32))
    g(X3)
    assert calls[0] == 4
    f, calls = counted(lambda p: {"s": p["a"] + p["b"][0], "t": p["b"][1]})
    g = ft.jit(f)
    out = g({"a": X3, "b": (X3, f32(1))})
    close(out["s"], 2 * X3)
    g({"a": X3 + 1, "b": (X3, f32(2))})
    g({"a": X3, "b": [X3, f32(1)]})       # list vs tuple is a new structure
    assert calls[0] == 2
    f, calls = counted(lambda x, y=None: x + y)
    g = ft.jit(f)
    g(X3, y=X3), g(X3, y=X3), g(X3, X3)   # JAX keys kwargs apart from positionals
    assert calls[0] == 2


def test_jit_weak_types_key_the_cache_and_keep_dtypes():
    f, calls = counted(lambda x: x * 2)
    g = ft.jit(f)
    outs = [g(1.0), g(2.0), g(f32(1.0)), g(np.array(1.0, f32))]
    assert [np.asarray(o).dtype for o in outs] == [np.float32] * 4
    assert calls[0] == 2     # weak f32[] and strong f32[]
    assert ft.jit(lambda x, s: x + s)(X3.astype(np.float16), 1.5).dtype == np.float16


def test_jit_closures_none_args_and_non_array_outputs():
    w = ft.asarray(X3)
    close(ft.jit(lambda x: x * w)(X3), X3 * X3)
    close(ft.jit(lambda x, y: x if y is None else x + y)(X3, None), X3)
    a, three, none = ft.jit(lambda x: (x, 3, None))(X3)
    assert int(three) == 3 and none is None
    close(ft.jit(lambda x: x)(ft.asarray(X3)), X3)


def test_transforms_of_jit_with_static_args():
    close(ft.jit(ft.grad(lambda x, k: ft.sum(x ** k)), static_argnums=1)(X3, 3), 3 * X3 ** 2)
    g = ft.jit(lambda x, n: ft.sum(x ** n), static_argnums=1)
    close(ft.grad(g)(X3, 2), 2 * X3)
    g = ft.jit(lambda x, n: x ** n, static_argnums=1)
    close(ft.vmap(g, in_axes=(0, None))(X3, 3), X3 ** 3)


def test_jit_python_control_flow_on_tracer_is_a_clear_error():
    with pytest.raises(ft.ConcretizationTypeError, match="cond"):
        ft.jit(lambda x: x if x.sum() > 0 else -x)(X3)


@pytest.mark.parametrize("kw", [{"static_argnums": 3}, {"static_argnames": "zz"}])
def test_jit_rejects_static_args_that_do_not_exist(kw):
    with pytest.raises(ValueError):
        ft.jit(lambda x: x, **kw)(X3)
