"""Type promotion: JAX's lattice (``jax.numpy.promote_types`` with 64-bit types on) for
arrays, weak Python scalars, and every op that promotes following the one table, eagerly
and under jit/vmap/grad."""

from __future__ import annotations

import itertools
import pathlib

import numpy as np
import pytest

import funtorch as ft
import funtorch.nn.functional as F

DTYPES = [ft.bool_, ft.uint8, ft.uint16, ft.uint32, ft.uint64, ft.int8, ft.int16, ft.int32,
          ft.int64, ft.float16, ft.bfloat16, ft.float32, ft.float64]
PAIRS = list(itertools.product(DTYPES, DTYPES))
SHORT = {"bool": "b1", "bfloat16": "bf16"}


def _short(d):
    d = np.dtype(d)
    return SHORT.get(str(d), f"{d.kind.replace('f', 'f')}{d.itemsize * 8}")


def test_promote_types_is_jax_for_every_pair():
    jax = pytest.importorskip("jax")
    with jax.enable_x64(True):
        want = {(a, b): np.dtype(jax.numpy.promote_types(a, b)) for a, b in PAIRS}
        # and three at once: the join folds before JAX's weak float resolves
        triples = [(a, b, c) for a, b in PAIRS for c in (ft.uint64, ft.int8, ft.float16)]
        want3 = {t: np.dtype(jax.numpy.result_type(*t)) for t in triples}
    assert {p: ft.promote_types(*p) for p in PAIRS} == want
    assert {t: ft.result_type(*t) for t in triples} == want3


def test_lattice_without_jax():
    """The rules the issue names, so the table is checked where JAX is absent too."""
    P = ft.promote_types
    for i in (ft.bool_, ft.uint8, ft.int32, ft.int64, ft.uint64):
        for f in (ft.float16, ft.bfloat16, ft.float32, ft.float64):
            assert P(i, f) == P(f, i) == f
    assert P(ft.float16, ft.bfloat16) == ft.float32
    assert P(ft.int64, ft.uint64) == ft.float64
    assert P(ft.uint8, ft.int8) == ft.int16 and P(ft.uint32, ft.int32) == ft.int64
    assert P("int64", np.float32) == ft.float32          # dtype-likes
    assert ft.result_type(ft.uint64, ft.int8, ft.float16) == ft.float16
    for a, b in PAIRS:
        assert P(a, b) == P(b, a)


def test_the_table_in_the_docs_is_the_table():
    doc = pathlib.Path(__file__).parents[1] / "docs" / "type_promotion.md"
    rows = [r for r in doc.read_text().splitlines() if r.startswith("| **")]
    assert len(rows) == len(DTYPES)
    for a, row in zip(DTYPES, rows):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0] == f"**{_short(a)}**"
        assert cells[1:] == [_short(ft.promote_types(a, b)) for b in DTYPES], a


def test_result_type_with_weak_scalars_and_arrays():
    R = ft.result_type
    assert R(ft.ones(2, ft.int32), ft.ones(2, ft.float16)) == ft.float16
    assert R(ft.ones(2, ft.float16), 2.5) == ft.float16          # weak scalars never widen
    assert R(ft.ones(2, ft.uint8), 3) == ft.uint8
    assert R(ft.ones(2, ft.int32), 2.5) == ft.float32             # higher kind: the default
    assert R(ft.tensor([True]), 1) == ft.int64
    assert R(2, 2.5) == ft.float32 and R(2) == ft.int64
    assert R(np.int32, ft.float32, 1) == ft.float32
    assert R(np.ones(2, np.int64), ft.ones(2)) == ft.float32      # numpy arrays are strong
    with pytest.raises(TypeError, match="complex"):
        ft.promote_types("complex64", ft.float32)


def test_the_issues_examples_are_float32():
    preds = ft.full((4,), 0.25)
    targets = ft.tensor([True, False, True, False])
    assert (ft.arange(5)[:, None] ** ft.tensor([1., 2., 3.])).dtype == ft.float32
    assert ft.dot(ft.arange(3), ft.ones(3)).dtype == ft.float32
    out = (1 - preds) * (1 - targets)
    assert out.dtype == ft.float32
    np.testing.assert_array_equal(out, np.float32([0, .75, 0, .75]))


# Binary ops that promote, as (name, fn, result dtype for promoted dtype d).
_BINARY = {
    "add": (lambda x, y: x + y, None),
    "mul_r": (lambda x, y: y * x, None),
    "maximum": (ft.maximum, None),
    "where": (lambda x, y: ft.where(ft.tensor([True, False, True]), x, y), None),
    "concatenate": (lambda x, y: ft.concatenate([x, y]), None),
    "stack": (lambda x, y: ft.stack([x, y]), None),
    "dot": (ft.dot, None),
    "matmul": (lambda x, y: x[None] @ y[:, None], None),
    "einsum": (lambda x, y: ft.einsum("i,i->", x, y), None),
    "less": (lambda x, y: x < y, ft.bool_),
    "equal": (lambda x, y: x == y, ft.bool_),
}


def _operand(d):
    return ft.asarray(np.array([1, 0, 1]).astype(d))


@pytest.mark.parametrize("op", list(_BINARY))
def test_every_promoting_op_follows_the_table(op):
    fn, fixed = _BINARY[op]
    for a, b in PAIRS:
        if op in ("dot", "matmul", "einsum") and ft.bool_ in (a, b) and a != b:
            continue   # bool @ x: fine, but a uint64 accumulator is not worth the time
        want = fixed or ft.promote_types(a, b)
        got = fn(_operand(a), _operand(b))
        assert got.dtype == want, (op, a, b, got.dtype, want)


def test_arithmetic_values_are_computed_in_the_promoted_dtype():
    # int64 meets float32: the int is rounded to float32 first, as in JAX
    big = ft.tensor([2 ** 24 + 1])
    assert bool((big == ft.tensor([2.0 ** 24]))[0])
    np.testing.assert_array_equal(big - ft.tensor([2.0 ** 24]), np.float32([0.0]))
    np.testing.assert_array_equal(ft.arctan2(ft.ones(1, ft.int32), ft.ones(1, ft.float16)),
                                  np.arctan2(np.float16(1), np.float16([1])))
    assert ft.arctan2(ft.ones(1, ft.int32), ft.ones(1, ft.float16)).dtype == ft.float16
    assert (ft.ones(2, ft.int32) / ft.ones(2, ft.float16)).dtype == ft.float16
    assert (ft.ones(2, ft.int32) / ft.ones(2, ft.int8)).dtype == ft.float32


def test_at_updates_keep_the_arrays_dtype():
    x = ft.arange(4)
    assert x.at[0].set(ft.tensor(2.5)).dtype == ft.int64
    assert x.at[1:].add(ft.ones(3)).dtype == ft.int64
    y = ft.ones(4, ft.float16)
    assert y.at[0].set(ft.tensor(7, ft.int64)).dtype == ft.float16
    assert y.at[:2].add(ft.ones(2, ft.float64)).dtype == ft.float16


@pytest.mark.parametrize("a,b", [(ft.int64, ft.float32), (ft.uint8, ft.float16),
                                 (ft.bool_, ft.bfloat16), (ft.int32, ft.uint32),
                                 (ft.int64, ft.uint64)], ids=str)
def test_jit_and_vmap_promote_as_eager(a, b):
    x, y = _operand(a), _operand(b)
    for fn in (lambda x, y: x * y - 1, lambda x, y: ft.where(x > 0, x, y),
               lambda x, y: ft.dot(x, y)):
        eager = fn(x, y)
        for got in (ft.jit(fn)(x, y), ft.vmap(fn)(x[None], y[None])[0]):
            assert got.dtype == eager.dtype == ft.promote_types(a, b)
            np.testing.assert_array_equal(np.asarray(got), np.asarray(eager))


def test_grad_through_mixed_dtypes_stays_float32():
    idx = ft.arange(3)
    mask = ft.tensor([True, False, True])

    def loss(w):
        return ft.sum((w * idx) ** 2 * (1 - mask) + ft.dot(idx, w))

    w = ft.ones(3)
    assert loss(w).dtype == ft.float32
    g = ft.grad(loss)(w)
    assert g.dtype == ft.float32 and ft.jit(ft.grad(loss))(w).dtype == ft.float32
    np.testing.assert_allclose(g, [0., 5., 6.])   # 2 w i^2 (1 - m) + 3 i


def test_losses_with_integer_and_bool_targets_stay_float32():
    x = ft.full((2, 3), 0.5)
    assert F.mse_loss(x, ft.ones((2, 3), ft.int64)).dtype == ft.float32
    assert F.binary_cross_entropy_with_logits(x, ft.ones((2, 3), ft.bool_)).dtype == ft.float32
    assert F.cross_entropy(x, ft.tensor([0, 2])).dtype == ft.float32
    h = ft.full((2, 3), 0.5, ft.float16)
    assert F.mse_loss(h, ft.ones((2, 3), ft.int32)).dtype == ft.float16
