"""einsum against np.einsum for the forms numpy accepts beyond plain contractions:
traces and diagonals (a label repeated within one operand), implicit output, spaces,
uppercase labels, permutations, scalar operands, '...' of different ranks with size-1
axes, and the sublist form; plus grad/vmap/jit of the diagonal cases."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import close

import funtorch as ft

CASES = [
    # traces and diagonals
    ("ii->", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("iij->j", [(2, 2, 4)]),
    ("ij,jj->i", [(2, 3), (3, 3)]),
    ("...ii->...i", [(2, 4, 3, 3)]),
    ("...ii->...i", [(3, 3)]),
    ("iii->i", [(3, 3, 3)]),
    ("iii", [(2, 2, 2)]),
    ("iji->ji", [(3, 2, 3)]),
    ("ijij->ij", [(2, 3, 2, 3)]),
    ("ii->i", [(0, 0)]),
    ("ii->i", [(1, 1)]),
    ("ii,i->i", [(3, 3), (1,)]),
    ("iiB,Bj", [(2, 2, 3), (3, 4)]),
    ("ii,jj->ij", [(2, 2), (3, 3)]),
    ("ij,ii,jj->", [(2, 3), (2, 2), (3, 3)]),
    # other numpy forms
    ("ij", [(2, 3)]),
    ("ji", [(2, 3)]),
    ("bA", [(2, 3)]),
    ("Ba,aC", [(2, 3), (3, 4)]),
    ("ij->ji", [(2, 3)]),
    (" i j , j k -> k i ", [(2, 3), (3, 4)]),
    ("i,->i", [(3,), ()]),
    (",->", [(), ()]),
    ("->", [()]),
    ("ij->...ij", [(2, 3)]),
    ("...i,...i->...", [(2, 1, 3), (4, 3)]),
    ("...i,i...", [(2, 3), (3,)]),
    ("i...,j...->ij...", [(2, 1, 3), (4, 5, 1)]),
    ("ij,jk", [(2, 1), (3, 4)]),
]


def _ops(shapes, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


@pytest.mark.parametrize("spec,shapes", CASES, ids=[c[0] for c in CASES])
def test_einsum_matches_numpy(spec, shapes):
    ops = _ops(shapes)
    out = ft.einsum(spec, *ops)
    ref = np.einsum(spec, *ops)
    assert out.dtype == ref.dtype
    close(out, ref, rtol=1e-12, atol=1e-12)


def test_einsum_sublist_form():
    a, b = _ops([(2, 3), (3, 4)])
    close(ft.einsum(a, [0, 1], b, [1, 2], [0, 2]), np.einsum(a, [0, 1], b, [1, 2], [0, 2]))
    close(ft.einsum(a, [1, 0]), np.einsum(a, [1, 0]))
    close(ft.einsum(a, [Ellipsis, 1], [1, Ellipsis]), np.einsum(a, [Ellipsis, 1], [1, Ellipsis]))
    (m,) = _ops([(3, 3)])
    close(ft.einsum(m, [5, 5]), np.einsum(m, [5, 5]))
    with pytest.raises(ValueError, match=r"einsum: subscript 52 .*\[0, 52\)"):
        ft.einsum(a, [0, 52])


def test_einsum_integer_trace_keeps_dtype():
    m = np.arange(9, dtype=np.int64).reshape(3, 3)
    out = ft.einsum("ii", m)
    assert out.dtype == np.int64 and int(out) == 12


DIFF_CASES = {"ii->": [(3, 3)], "ii->i": [(3, 3)], "iij->j": [(2, 2, 4)],
              "ij,jj->i": [(2, 3), (3, 3)], "...ii->...i": [(2, 3, 3)],
              "iji->ji": [(3, 2, 3)], "iii->i": [(3, 3, 3)], "ii,ik->ik": [(2, 2), (2, 3)]}


@pytest.mark.parametrize("spec", DIFF_CASES)
def test_einsum_diagonal_grad_matches_the_mask(spec):
    """einsum is linear in each operand, so the gradient of <w, einsum(x, ...)> w.r.t. x is
    einsum's transpose applied to w; compare it with numpy through the directional
    derivative <grad, t> = <w, einsum(t, ...)>."""
    shapes = DIFF_CASES[spec]
    ops = _ops(shapes)
    w = _ops([np.einsum(spec, *ops).shape], seed=1)[0]
    t = _ops([shapes[0]], seed=2)[0]

    def f(x):
        return ft.sum(ft.einsum(spec, x, *ops[1:]) * w)

    g = ft.grad(f)(ops[0])
    close(np.sum(np.asarray(g) * t), np.sum(np.einsum(spec, t, *ops[1:]) * w), rtol=1e-10)
    close(ft.jit(ft.grad(f))(ops[0]), g, rtol=1e-12)
    # forward mode agrees
    _, tout = ft.jvp(lambda x: ft.einsum(spec, x, *ops[1:]), (ops[0],), (t,))
    close(tout, np.einsum(spec, t, *ops[1:]), rtol=1e-12)


@pytest.mark.parametrize("spec", DIFF_CASES)
def test_einsum_diagonal_vmap_and_jit(spec):
    shapes = DIFF_CASES[spec]
    ops = _ops(shapes)
    xs = _ops([(4, *shapes[0])], seed=3)[0]

    def f(x):
        return ft.einsum(spec, x, *ops[1:])

    ref = np.stack([np.einsum(spec, x, *ops[1:]) for x in xs])
    close(ft.vmap(f)(xs), ref, rtol=1e-12)
    close(ft.jit(ft.vmap(f))(xs), ref, rtol=1e-12)
    close(ft.vmap(f, in_axes=-1, out_axes=-1)(np.moveaxis(xs, 0, -1)),
          np.moveaxis(ref, 0, -1), rtol=1e-12)
    close(ft.jit(f)(xs[0]), ref[0], rtol=1e-12)


def test_einsum_trace_graph_has_no_index_arrays():
    """The diagonal is a strided slice of a reshape: no gather, no eye mask."""
    graph = str(ft.make_graph(lambda x: ft.einsum("ii->", x))(ft.ones((3, 3))))
    assert "gather" not in graph and "mul" not in graph and "slice" in graph


@pytest.mark.parametrize("spec,shapes,match", [
    ("ii->", [(2, 3)], r"einsum: the axes of 'ii' repeating label 'i' must have equal "
                       r"sizes.*\[2, 3\]"),
    ("ii->i", [(1, 3)], r"\[1, 3\]"),
    ("ij,jk->ik", [(2, 3), (4, 5)], r"einsum: operands disagree"),
    ("ij->ii", [(2, 2)], r"einsum: repeated label in the output"),
    ("ij->k", [(2, 2)], r"einsum: output label 'k'"),
    ("ij,jk", [(2, 3)], r"einsum: 'ij,jk' names 2 operands but 1 were given"),
    ("i1", [(2, 3)], r"einsum: invalid subscript '1'"),
    ("ijk", [(2, 3)], r"einsum: subscripts 'ijk' do not match an operand of rank 2"),
    ("...i->i", [(2, 3)], r"einsum: .*'\.\.\.' in the inputs but not in the output"),
])
def test_einsum_errors(spec, shapes, match):
    with pytest.raises(ValueError, match=match):
        ft.einsum(spec, *_ops(shapes))


def test_einsum_non_string_subscripts_error():
    with pytest.raises(TypeError, match="einsum: subscripts must be a string"):
        ft.einsum(3, np.ones(2))
