"""vmap's in_axes/out_axes/axis_size options, keyword arguments, nesting, and batching of
reductions, matmul and shape ops, each against the same numpy computation."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import close64 as close
from helpers import rng
from helpers import tree_close64 as tree_close

import funtorch as ft

# --------------------------------------------------------------------------- vmap axes

def test_vmap_in_axes_int_none_negative():
    r = rng(14)
    A = r.normal(size=(3, 4))
    b = r.normal(size=4)
    close(ft.vmap(lambda a, b: a * b, in_axes=(0, None))(A, b), A * b)
    close(ft.vmap(lambda a, b: a * b, in_axes=(1, None))(A, b[:3]), (A * b[:3, None]).T)
    close(ft.vmap(lambda a: ft.sum(a), in_axes=-1)(A), A.sum(0))
    close(ft.vmap(lambda a: ft.sum(a), in_axes=-2)(A), A.sum(1))
    close(ft.vmap(lambda a, b: a + b, in_axes=[1, 0])(A, b), A.T + b[:, None])


def test_vmap_in_axes_pytrees():
    r = rng(15)
    p = {"w": r.normal(size=(2, 5)), "b": r.normal(size=2)}
    xs = (r.normal(size=(5, 4)), r.normal(size=4))

    def f(p, xs):
        x, y = xs
        return ft.sum(p["w"] * x) + ft.sum(p["b"]) * y

    out = ft.vmap(f, in_axes=({"w": None, "b": None}, (1, 0)))(p, xs)
    expect = np.array([np.sum(p["w"] * xs[0][:, i]) + p["b"].sum() * xs[1][i] for i in range(4)])
    close(out, expect)
    # a prefix: None for the whole dict
    close(ft.vmap(f, in_axes=(None, (1, 0)))(p, xs), expect)
    # dict in_axes entries that map a leaf of the params over its axis 1
    out = ft.vmap(lambda p: p["w"] * 2.0, in_axes=({"w": 1, "b": None},))(p)
    close(out, (p["w"] * 2).T)


def test_vmap_out_axes_variants():
    A = rng(16).normal(size=(3, 4))
    close(ft.vmap(lambda a: a * 2.0, out_axes=1)(A), (A * 2).T)
    close(ft.vmap(lambda a: a * 2.0, out_axes=-1)(A), (A * 2).T)
    r = ft.vmap(lambda a: {"s": ft.sum(a), "d": a * 2.0}, out_axes={"s": 0, "d": 1})(A)
    tree_close(r, {"s": A.sum(1), "d": (A * 2).T})
    # None for an output that does not depend on the mapped axis
    c = np.array([1.0, 2.0])
    s, u = ft.vmap(lambda a, c: (ft.sum(a), c * 3.0), in_axes=(0, None), out_axes=(0, None))(A, c)
    close(s, A.sum(1))
    close(u, c * 3)
    with pytest.raises(ValueError):
        ft.vmap(lambda a: a, out_axes=None)(A)


@pytest.mark.parametrize("out_axes", [3, 2, -3, 10])
def test_vmap_out_axes_out_of_range_is_an_error(out_axes):
    with pytest.raises(ValueError) as ei:
        ft.vmap(lambda x: x, out_axes=out_axes)(ft.ones((3, 2)))
    msg = str(ei.value)
    assert f"out_axes={out_axes}" in msg and "rank 2" in msg and "[-2, 2)" in msg


def test_vmap_out_axes_range_per_output_and_unbatched_outputs():
    A = rng(17).normal(size=(3, 2))
    close(ft.vmap(lambda a: a, out_axes=-2)(A), A)
    close(ft.vmap(lambda a: ft.ones(2), out_axes=1)(A), np.ones((2, 3)))  # broadcast output
    with pytest.raises(ValueError, match=r"out_axes=2 .*output 1.*rank 2"):
        ft.vmap(lambda a: (ft.sum(a), a), out_axes=(0, 2))(A)
    with pytest.raises(ValueError, match=r"out_axes=2 .*rank 2"):
        ft.vmap(lambda a: ft.ones(2), out_axes=2)(A)
    with pytest.raises(TypeError, match=r"out_axes entries must be ints or None"):
        ft.vmap(lambda a: a, out_axes="0")(A)


def test_vmap_axis_size_without_batched_input():
    out = ft.vmap(lambda c: c * 2.0, in_axes=None, axis_size=4)(np.array([1.0, 2.0]))
    close(out, np.tile([2.0, 4.0], (4, 1)))
    out = ft.vmap(lambda: ft.ones(2), axis_size=3)()
    close(out, np.ones((3, 2)))
    with pytest.raises(ValueError, match="axis_size"):
        ft.vmap(lambda c: c, in_axes=None)(np.ones(2))


def test_vmap_kwargs_batched_along_axis_0():
    A = rng(17).normal(size=(3, 4))
    b = rng(18).normal(size=(3,))
    out = ft.vmap(lambda a, *, scale: a * scale, in_axes=0)(A, scale=b)
    close(out, A * b[:, None])


def test_vmap_nested_three_levels():
    A = rng(19).normal(size=(2, 3, 4))
    f = ft.vmap(ft.vmap(ft.vmap(lambda x: x * x + 1.0)))
    close(f(A), A * A + 1)
    g = ft.vmap(ft.vmap(lambda x: ft.sum(x), in_axes=1), in_axes=2)
    close(g(A), A.sum(0).T)


def test_vmap_of_reductions_matmul_and_shapes():
    r = rng(20)
    A, B = r.normal(size=(5, 2, 3)), r.normal(size=(5, 3, 4))
    close(ft.vmap(ft.matmul)(A, B), A @ B)
    close(ft.vmap(lambda a: ft.reshape(a, (6,)))(A), A.reshape(5, 6))
    close(ft.vmap(lambda a: ft.transpose(a))(A), A.transpose(0, 2, 1))
    close(ft.vmap(lambda a: ft.max(a, axis=1))(A), A.max(2))
