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


# ------------------------------------------------------ None nodes in argument/output trees
# As in JAX: a None inside an argument or output tree is an empty node (no leaves), so the
# in_axes/out_axes prefix broadcast gives it no axis; a None inside the in_axes/out_axes spec
# is a leaf meaning "not mapped" for the whole subtree at its place.

def test_vmap_in_axes_skips_none_nodes_in_tuple_and_dict_arguments():
    r = rng(21)
    A, B, X = r.normal(size=(3, 2)), r.normal(size=(3, 2)), r.normal(size=(6, 5))
    expect = A * X.sum() + B
    out = ft.vmap(lambda a, b, x: a * ft.sum(x) + b[0], in_axes=(0, 0, None))(A, (B, None), X)
    close(out, expect)
    out = ft.vmap(lambda a, b, x: a * ft.sum(x) + b["k"],
                  in_axes=(0, 0, None))(A, {"k": B, "n": None}, X)
    close(out, expect)
    # a None argument, mapped or not, takes no axis
    close(ft.vmap(lambda a, n, x: a * ft.sum(x), in_axes=(0, 0, None))(A, None, X), A * X.sum())
    close(ft.vmap(lambda a, n: a, in_axes=(0, 1))(A, None), A)


def test_vmap_in_axes_prefix_tree_over_none_nodes():
    r = rng(22)
    A, C = r.normal(size=(3, 2)), r.normal(size=(2, 3))
    expect = A + C.T
    # a full spec: any entry (int or None) at a None node is ignored
    for spec in [(0, None, 1), (0, 0, 1), (0, 5, 1)]:
        out = ft.vmap(lambda b: b[0] + b[2], in_axes=(spec,))((A, None, C))
        close(out, expect)
    # dict and list arguments with None leaves inside nested containers
    D = r.normal(size=(5,))
    out = ft.vmap(lambda a, b: a + ft.sum(b["x"][0]),
                  in_axes=(0, {"x": None, "n": 0}))(A[:, 0], {"x": [D, None], "n": None})
    close(out, A[:, 0] + D.sum())
    E = r.normal(size=(1, 3))
    out = ft.vmap(lambda a, b: a + b[1] + b[3],
                  in_axes=(0, [None, 0, None, 1]))(A[:, 0], [None, A[:, 1], None, E])
    close(out, (A[:, 0] + A[:, 1])[:, None] + E.T)
    # a dict spec entry at a None value is fine; a container spec at a None is not a prefix
    close(ft.vmap(lambda a, b: a, in_axes=(0, {"x": 0}))(A, {"x": None}), A)
    with pytest.raises(ValueError, match="in_axes"):
        ft.vmap(lambda a, b: a, in_axes=(0, (0, 0)))(A, None)


def test_vmap_in_axes_none_entries_mean_unmapped():
    r = rng(23)
    A, c = r.normal(size=(3, 2)), r.normal(size=(7,))
    # None in the spec is "not mapped", unlike a None node in the argument
    close(ft.vmap(lambda b: b[0] + ft.sum(b[1]), in_axes=((0, None),))((A, c)), A + c.sum())
    out = ft.vmap(lambda p, x: p["w"] * x + ft.sum(p["c"]),
                  in_axes=({"w": 0, "c": None, "n": None}, 0))({"w": A, "c": c, "n": None}, A)
    close(out, A * A + c.sum())
    # a None spec entry covers a whole subtree that itself holds None nodes
    out = ft.vmap(lambda a, t: a + ft.sum(t[0][1]),
                  in_axes=(0, None))(A, ((None, c), None))
    close(out, A + c.sum())


def test_vmap_out_axes_with_none_nodes_in_output():
    A = rng(24).normal(size=(3, 2))
    f = lambda a: (a * 2.0, None, {"k": a, "n": None})  # noqa: E731
    r = ft.vmap(f, out_axes=(1, None, {"k": 0, "n": 0}))(A)
    assert r[1] is None and r[2]["n"] is None
    close(r[0], (A * 2).T)
    close(r[2]["k"], A)
    r = ft.vmap(f, out_axes=1)(A)
    assert r[1] is None and r[2]["n"] is None
    close(r[0], (A * 2).T)
    close(r[2]["k"], A.T)
    c = np.array([1.0, 2.0, 3.0, 4.0])
    r = ft.vmap(lambda a, c: (a * 2.0, None, c), in_axes=(0, None),
                out_axes=(0, 0, None))(A, c)
    assert r[1] is None
    close(r[0], A * 2)
    close(r[2], c)


def test_vmap_none_nodes_nested_jit_and_grad():
    r = rng(25)
    A, B, X = r.normal(size=(4, 3, 2)), r.normal(size=(4, 3, 2)), r.normal(size=(6, 5))
    g = ft.vmap(ft.vmap(lambda a, b: a * b[0], in_axes=(0, (0, None))), in_axes=(0, (0, None)))
    close(g(A, (B, None)), A * B)
    f = ft.jit(ft.vmap(lambda a, b, x: a * ft.sum(x) + b[0], in_axes=(0, 0, None)))
    close(f(A[0], (B[0], None), X), A[0] * X.sum() + B[0])
    close(f(A[1], (B[1], None), X), A[1] * X.sum() + B[1])
    # grad inside vmap over a params tree with a None node: per-example grads
    loss = lambda p, x: ft.sum(p["w"] * x * x)  # noqa: E731
    p = {"w": A[0], "b": None}
    for spec in [({"w": 0, "b": None}, 0), 0]:
        gr = ft.vmap(ft.grad(loss), in_axes=spec)(p, B[0])
        assert gr["b"] is None
        close(gr["w"], B[0] * B[0])
    gr = ft.vmap(ft.grad(loss), in_axes=(None, 0))(p, B)
    assert gr["b"] is None
    close(gr["w"], B * B)
