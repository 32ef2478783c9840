"""vmap: in_axes / out_axes specs, axis_size, nesting, errors."""

from __future__ import annotations

import numpy as np
import pytest

import funtorch as ft

from .common import M23, M34, X3, close, f32


def test_vmap_in_axes_dict_with_none_leaves():
    got = ft.vmap(lambda p: p["a"] * p["b"], in_axes=({"a": 0, "b": None},))(
        {"a": M23, "b": X3})
    close(got, M23 * X3)
    got = ft.vmap(lambda p: p["a"] + ft.sum(p["b"]), in_axes=({"a": 1, "b": None},))(
        {"a": M23, "b": M34})
    close(got, M23.T + M34.sum())
    # key order in the spec does not matter (dicts flatten by sorted key)
    got = ft.vmap(lambda p: p["a"] - p["b"], in_axes=({"b": None, "a": 0},))(
        {"a": M23, "b": X3})
    close(got, M23 - X3)


def test_vmap_in_axes_tuple_prefix_list_negative_and_kwargs():
    close(ft.vmap(lambda t: t[0] + t[1], in_axes=((0, 1),))((M23, M23.T)), 2 * M23)
    close(ft.vmap(lambda a, b: a * b, in_axes=[0, None])(M23, X3), M23 * X3)
    close(ft.vmap(lambda a: a * 2, in_axes=-1)(M34), 2 * M34.T)
    close(ft.vmap(lambda a, b: a * b)(M23, b=M23), M23 * M23)   # kwargs mapped on axis 0
    close(ft.vmap(lambda t: t[0] * 2)((X3, None)), 2 * X3)      # None is an empty node
    close(ft.vmap(lambda a, t: a * 2, in_axes=(0, 0))(X3, ()), 2 * X3)


def test_vmap_out_axes_pytree_none_and_negative():
    out = ft.vmap(lambda a: {"s": a * 2, "t": (a, ft.sum(a))},
                  out_axes={"s": 1, "t": (0, 0)})(M23)
    close(out["s"], (2 * M23).T)
    close(out["t"][0], M23)
    close(out["t"][1], M23.sum(1))
    a, b = ft.vmap(lambda a, b: (a * 2, b), in_axes=(0, None), out_axes=(0, None))(M23, X3)
    close(a, 2 * M23)
    close(b, X3)
    out = ft.vmap(lambda a: ft.outer(a, a), out_axes=-1)(M23)
    close(out, np.einsum("bi,bj->ijb", M23, M23))
    a, n = ft.vmap(lambda a: (a, None))(X3)
    assert n is None


def test_vmap_axis_size_without_mapped_inputs():
    close(ft.vmap(lambda: ft.ones(2), axis_size=3)(), np.ones((3, 2)))
    close(ft.vmap(lambda a: a * 2, in_axes=None, axis_size=4)(X3), np.tile(2 * X3, (4, 1)))
    close(ft.vmap(lambda a: 3.0)(X3), np.full(3, 3.0))
    close(ft.vmap(lambda a: ft.ones(2))(X3), np.ones((3, 2)))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: ft.vmap(lambda a: a * 2, in_axes=None)(X3), ValueError, "axis_size"),
    (lambda: ft.vmap(lambda a, b: a + b)(M23, M34), ValueError, "size"),
    (lambda: ft.vmap(lambda a: a * 2, out_axes=None)(M23), ValueError, "out_axes"),
    (lambda: ft.vmap(lambda a, b: a + b, in_axes=(0, 0, 0))(M23, M23), ValueError, "in_axes"),
    (lambda: ft.vmap(lambda a: (a, a), out_axes=(0, 0, 0))(M23), ValueError, "out_axes"),
])
def test_vmap_spec_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_nested_vmap_with_different_axes():
    got = ft.vmap(ft.vmap(lambda a, b: ft.dot(a, b), in_axes=(None, 1)), in_axes=(0, None))(
        M23, M34)
    close(got, M23 @ M34)
    Z = np.arange(24, dtype=f32).reshape(2, 3, 4)
    got = ft.vmap(ft.vmap(lambda a: a * 3, in_axes=1, out_axes=1), in_axes=2, out_axes=0)(Z)
    close(got, 3 * Z.transpose(2, 0, 1))


def test_vjp_of_vmap_and_jacrev_of_vmap_over_pytree():
    out, fn = ft.vjp(ft.vmap(lambda a: ft.sum(ft.sin(a))), M23)
    close(fn(np.ones(2, f32))[0], np.cos(M23))
    J = ft.jacrev(ft.vmap(lambda p: p["u"] * p["v"]))({"u": X3, "v": X3 + 1})
    close(J["u"], np.diag(X3 + 1))
    close(J["v"], np.diag(X3))
