"""Targeted tests for indexing, x.at[] updates, take/take_along_axis and sorting.

The op table (op_table_indexing.py) checks random index expressions under every
transformation; these pin down errors, duplicates, out-of-range behaviour and the
gradients that training code relies on.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import fd_grad

import funtorch as ft


def _x(*shape):
    return ft.arange(float(np.prod(shape))).reshape(*shape)


def _numeric_grad(f, x, eps=1e-3):
    """Central differences of a funtorch scalar function, in float64."""
    return fd_grad(lambda a: float(f(ft.asarray(a))), x, h=eps)


# --------------------------------------------------------------------------- out of range

@pytest.mark.parametrize("fn, msg", [
    (lambda x: x[3], "index 3 is out of bounds for axis 0 with size 3"),
    (lambda x: x[-4], "index -4 is out of bounds for axis 0 with size 3"),
    (lambda x: x[:, 7], "index 7 is out of bounds for axis 1 with size 4"),
    (lambda x: x[[0, 9]], "index 9 is out of bounds for axis 0 with size 3"),
    (lambda x: x[ft.tensor([1, -5]), 0], "index -5 is out of bounds for axis 0 with size 3"),
    (lambda x: x[..., np.array([4])], "index 4 is out of bounds for axis 1 with size 4"),
    (lambda x: x.at[5].set(1.0), "index 5 is out of bounds for axis 0 with size 3"),
    (lambda x: x.at[:, [0, 4]].add(1.0), "index 4 is out of bounds for axis 1 with size 4"),
    (lambda x: ft.take(x, 12), "index 12 is out of bounds for axis 0 with size 12"),
    (lambda x: ft.take(x, [0, 4], axis=1), "index 4 is out of bounds for axis 1 with size 4"),
    (lambda x: ft.take_along_axis(x, ft.tensor([[9]]), 1),
     "index 9 is out of bounds for axis 1 with size 4"),
])
def test_concrete_out_of_range_raises(fn, msg):
    with pytest.raises(IndexError, match=msg):
        fn(_x(3, 4))


def test_traced_out_of_range_clamps_reads_and_drops_updates():
    x = _x(3, 4)
    i = ft.tensor([5, -1, -7])
    np.testing.assert_array_equal(ft.jit(lambda x, i: x[i])(x, i), np.asarray(x)[[2, 2, 0]])
    np.testing.assert_array_equal(ft.jit(lambda x, i: x.at[i].set(-1.0))(x, i),
                                  np.asarray(x.at[2].set(-1.0)))
    filled = ft.jit(lambda x, i: x.at[i].get(mode="fill", fill_value=0.0))(x, i)
    np.testing.assert_array_equal(filled, np.stack([np.zeros(4), np.asarray(x)[2], np.zeros(4)]))
    # the same rules hold when the indexed axes are flattened together
    j = ft.tensor([1, 9, 2])
    got = ft.jit(lambda x, i, j: x.at[i, j].add(100.0))(x, ft.tensor([0, 0, 9]), j)
    want = np.asarray(x).copy()
    want[0, 1] += 100
    np.testing.assert_array_equal(got, want)


def test_explicit_modes_do_not_raise():
    x = _x(3, 4)
    np.testing.assert_array_equal(x.at[7].get(mode="clip"), np.asarray(x)[2])
    np.testing.assert_array_equal(x.at[[0, 7]].add(1.0, mode="drop"),
                                  np.asarray(x.at[0].add(1.0)))
    np.testing.assert_array_equal(ft.take(_x(5), [-1, 7], mode="clip"), [0.0, 4.0])
    np.testing.assert_array_equal(ft.take(_x(5), [-1, 7], mode="wrap"), [4.0, 2.0])


# --------------------------------------------------------------------------- bad indices

@pytest.mark.parametrize("fn, err, msg", [
    (lambda x: x[0, 0, 0], IndexError, "too many indices for array: array is 2-dimensional, "
                                       "but 3 were indexed"),
    (lambda x: x[1.0], IndexError, "only integers, slices"),
    (lambda x: x[ft.tensor([0.0])], IndexError, "dtype float32"),
    (lambda x: x[..., ...], IndexError, "single ellipsis"),
    (lambda x: x[[0, 1], [0, 1, 2]], IndexError, r"could not be broadcast together with "
                                                 r"shapes \(2,\) \(3,\)"),
    (lambda x: x[np.array([True, False])], IndexError, "boolean index did not match indexed "
                                                       "array along axis 0; size of axis is 3"),
    (lambda x: x[True], TypeError, "boolean scalar index"),
    (lambda x: x[::0], ValueError, "slice step cannot be zero"),
    (lambda x: x.at[0].set(ft.ones(5)), ValueError, r"values of shape \(5,\) cannot be "
                                                    r"broadcast to the indexed shape \(4,\)"),
    (lambda x: ft.take(x, [0.5]), TypeError, "indices must be integers"),
])
def test_bad_index_errors(fn, err, msg):
    with pytest.raises(err, match=msg):
        fn(_x(3, 4))


def test_setitem_points_to_at():
    x = _x(3)
    with pytest.raises(TypeError, match=r"x.at\[idx\].set"):
        x[0] = 1.0


def test_traced_slice_bound_is_a_clear_error():
    with pytest.raises(ft.ConcretizationTypeError, match="slice bound"):
        ft.jit(lambda x, i: x[i:])(_x(4), ft.tensor(1))


# --------------------------------------------------------------------------- boolean masks

def test_bool_mask_eager():
    x = _x(3, 4)
    xn = np.asarray(x)
    np.testing.assert_array_equal(x[x > 4.5], xn[xn > 4.5])
    np.testing.assert_array_equal(x[:, [True, False, True, True]], xn[:, [True, False, True,
                                                                          True]])
    np.testing.assert_array_equal(x.at[x > 4.5].set(0.0), np.where(xn > 4.5, 0, xn))
    # under grad (no jit) the mask is still concrete
    np.testing.assert_array_equal(ft.grad(lambda x: x[x > 4.5].sum())(x), (xn > 4.5) * 1.0)


@pytest.mark.parametrize("fn", [
    lambda x: x[x > 0],
    lambda x: x.at[x > 0].set(0.0),
])
def test_bool_mask_under_jit_errors(fn):
    with pytest.raises(ft.NonConcreteBooleanIndexError, match=r"ft\.where"):
        ft.jit(fn)(_x(3, 4))
    with pytest.raises(IndexError, match="concrete boolean mask"):
        ft.vmap(fn)(_x(3, 4))


def test_nonzero_eager_only():
    m = ft.tensor([[0, 2], [3, 0]])
    rows, cols = ft.nonzero(m)
    np.testing.assert_array_equal(rows, [0, 1])
    np.testing.assert_array_equal(cols, [1, 0])
    np.testing.assert_array_equal(ft.argwhere(m), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(ft.flatnonzero(m), [1, 2])
    with pytest.raises(ft.ConcretizationTypeError, match="nonzero"):
        ft.jit(ft.nonzero)(m)


# --------------------------------------------------------------------------- duplicates

def test_at_duplicate_indices():
    x = ft.zeros(4)
    idx = ft.tensor([1, 1, 3, 1])
    v = ft.tensor([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(x.at[idx].add(v), [0, 7, 0, 3])
    np.testing.assert_array_equal(x.at[idx].add(1.0), [0, 3, 0, 1])
    np.testing.assert_array_equal(ft.ones(4).at[idx].multiply(v), [1, 8, 1, 3])
    np.testing.assert_array_equal(x.at[idx].min(v), [0, 0, 0, 0])
    np.testing.assert_array_equal(x.at[idx].max(v), [0, 4, 0, 3])
    np.testing.assert_array_equal(x.at[idx].subtract(v), [0, -7, 0, -3])
    s = np.asarray(x.at[idx].set(v))
    assert s[1] in (1.0, 2.0, 4.0) and s[3] == 3.0 and s[0] == s[2] == 0
    # the same under jit and for a 2-d scatter
    np.testing.assert_array_equal(ft.jit(lambda x, i, v: x.at[i].add(v))(x, idx, v),
                                  [0, 7, 0, 3])
    m = ft.zeros((2, 3)).at[ft.tensor([0, 0, 1]), ft.tensor([2, 2, 0])].add(1.0)
    np.testing.assert_array_equal(m, [[0, 0, 2], [1, 0, 0]])


def test_at_set_gradient_goes_to_the_winner():
    idx = ft.tensor([1, 1, 3])
    w = ft.tensor([1.0, 10.0, 100.0, 1000.0])

    def f(x, v):
        return ft.sum(w * x.at[idx].set(v))

    x, v = ft.ones(4), ft.tensor([5.0, 6.0, 7.0])
    out = np.asarray(x.at[idx].set(v))
    gx, gv = ft.grad(f, argnums=(0, 1))(x, v)
    np.testing.assert_array_equal(gx, [1.0, 0.0, 100.0, 0.0])
    winner = [i for i in (0, 1) if out[1] == np.asarray(v)[i]]
    assert len(winner) == 1
    want_gv = np.zeros(3)
    want_gv[winner[0]] = 10.0
    want_gv[2] = 1000.0
    np.testing.assert_array_equal(gv, want_gv)


def test_at_keeps_dtype():
    x = ft.zeros(3, dtype=ft.int32)
    y = x.at[0].set(2.7)
    assert y.dtype == ft.int32 and np.asarray(y).tolist() == [2, 0, 0]
    assert ft.zeros(3).at[1].add(ft.tensor(2)).dtype == ft.float32


def test_multiply_grad_needs_unique_indices():
    x, v = ft.ones(3), ft.tensor([2.0, 3.0])
    with pytest.raises(NotImplementedError, match="unique_indices=True"):
        ft.grad(lambda v: x.at[ft.tensor([0, 1])].multiply(v).sum())(v)
    g = ft.grad(lambda v: (x * 2).at[ft.tensor([0, 1])].multiply(v, unique_indices=True)
                .sum())(v)
    np.testing.assert_array_equal(g, [2.0, 2.0])


def test_min_max_ties_share_the_gradient():
    x = ft.tensor([1.0, 5.0])
    g = ft.grad(lambda x, v: x.at[ft.tensor([0, 0])].max(v).sum(), argnums=(0, 1))(
        x, ft.tensor([1.0, 0.0]))
    np.testing.assert_allclose(g[0], [0.5, 1.0])
    np.testing.assert_allclose(g[1], [0.5, 0.0])


# --------------------------------------------------------------------------- gradients

def test_cross_entropy_style_indexing_grad():
    rng = np.random.default_rng(0)
    logits = ft.asarray(rng.standard_normal((5, 4)).astype(np.float64))
    labels = ft.tensor([0, 3, 1, 1, 2])

    def loss(z):
        logp = z - ft.logsumexp(z, axis=1, keepdims=True)
        return -ft.mean(logp[ft.arange(5), labels])

    np.testing.assert_allclose(ft.grad(loss)(logits), _numeric_grad(loss, logits),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ft.jit(ft.grad(loss))(logits), ft.grad(loss)(logits),
                               rtol=1e-12)
    # per example, under vmap: a gather with batched operand and batched index
    per = ft.vmap(lambda lp, y: lp[y])(logits, labels)
    np.testing.assert_array_equal(per, np.asarray(logits)[np.arange(5), np.asarray(labels)])


def test_take_along_axis_grad():
    rng = np.random.default_rng(1)
    x = ft.asarray(rng.standard_normal((3, 4)))
    idx = ft.tensor([[0, 0, 3], [1, 2, 1], [3, 3, 3]])
    w = ft.asarray(rng.standard_normal((3, 3)))

    def f(x):
        return ft.sum(w * ft.take_along_axis(x, idx, axis=1))

    np.testing.assert_allclose(ft.grad(f)(x), _numeric_grad(f, x), rtol=1e-6, atol=1e-8)


def test_getitem_grad_of_mixed_index():
    rng = np.random.default_rng(2)
    x = ft.asarray(rng.standard_normal((3, 4, 5)))

    def f(x):
        y = x[ft.tensor([2, 0, 2]), ::-2, None, ft.tensor([1, 4, 1])]
        return ft.sum(y * y)

    np.testing.assert_allclose(ft.grad(f)(x), _numeric_grad(f, x), rtol=1e-6, atol=1e-8)


def test_basic_indexing_stages_no_gather():
    x = _x(3, 4)
    graph = str(ft.make_graph(lambda x: x[1:, ::-2, None][0])(x))
    assert "gather" not in graph and "slice" in graph and "rev" in graph
    grad_graph = str(ft.make_graph(ft.grad(lambda x: x[1:, ::-2].sum()))(x))
    assert "scatter" not in grad_graph and "pad" in grad_graph


def test_traced_scalar_index_in_a_loop():
    x = _x(5)

    def f(x):
        return ft.fori_loop(0, 5, lambda i, acc: acc + x[i] * x[4 - i], 0.0)

    assert float(ft.jit(f)(x)) == float(np.dot(np.asarray(x), np.asarray(x)[::-1]))


# --------------------------------------------------------------------------- sorting

def test_argsort_is_stable_both_ways():
    x = ft.tensor([2, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(ft.argsort(x), [3, 1, 4, 0, 2, 5])
    np.testing.assert_array_equal(ft.argsort(x, descending=True), [0, 2, 5, 1, 4, 3])
    assert ft.argsort(x).dtype == ft.int64


def test_sort_nan_last_and_grad():
    x = ft.tensor([3.0, float("nan"), 1.0, 2.0])
    np.testing.assert_array_equal(ft.sort(x), [1.0, 2.0, 3.0, np.nan])
    w = ft.tensor([1.0, 10.0, 100.0])
    g = ft.grad(lambda x: ft.sum(ft.sort(x) * w))(ft.tensor([5.0, -1.0, 2.0]))
    np.testing.assert_array_equal(g, [100.0, 1.0, 10.0])


def test_sort_under_vmap_and_jit():
    x = ft.asarray(np.random.default_rng(3).standard_normal((4, 6)).astype(np.float32))
    np.testing.assert_array_equal(ft.vmap(ft.sort)(x), np.sort(np.asarray(x), axis=1))
    np.testing.assert_array_equal(ft.jit(lambda x: ft.argsort(x, axis=0))(x),
                                  np.argsort(np.asarray(x), axis=0, kind="stable"))
