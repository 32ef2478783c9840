"""Parity audit: indexing, x.at[] updates, shape ops and sorting against numpy.

Every case runs eagerly and under ``ft.jit`` (with the data as a traced argument and the
index as a concrete constant, so numpy's rules apply); traced-index behaviour under jit
and vmap follows JAX (gathers clamp, scatters drop out-of-range indices). Gradients are
checked against central differences. Shape ops are in tests/test_shape_ops_parity.py,
sorting in tests/test_sorting_parity.py (both use the helpers here).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import fd_grad

import funtorch as ft

X4 = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
X3 = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
NAN = np.nan


def _same(got, want):
    if isinstance(want, (list, tuple)):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            _same(g, w)
        return
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_array_equal(got, want)


def _both(f, g, *args):
    """f on funtorch arrays eagerly and under jit == g on numpy arrays."""
    want = g(*[a.copy() for a in args])
    fargs = [ft.asarray(a) for a in args]
    _same(f(*fargs), want)
    _same(ft.jit(f)(*fargs), want)


def _np_set(a, idx, v):
    a = a.copy()
    a[idx] = v
    return a


def _np_ufunc_at(ufunc, a, idx, v):
    a = a.copy()
    ufunc.at(a, idx, v)
    return a


# --------------------------------------------------------------------------- x[idx]

_M3 = X4[..., 0] > 30          # partial-rank mask, shape (2, 3, 4)
GETITEM = {
    "arrays_split_by_slice_go_first": lambda a: a[[0, 1], :, [1, 2]],
    "arrays_split_by_slices_inner": lambda a: a[:, [0, 1], :, [1, 2]],
    "adjacent_arrays_stay_in_place": lambda a: a[:, [0, 1], [1, 2]],
    "broadcast_index_arrays": lambda a: a[np.array([[1], [0]]), :, [0, 1, 2]],
    "broadcast_adjacent": lambda a: a[:, np.array([[0], [2]]), np.array([1, 3, 0])],
    "negative_ints_and_arrays": lambda a: a[-1, [-1, -3]],
    "int32_index": lambda a: a[:, np.array([2, 0], np.int32)],
    "uint8_index": lambda a: a[:, np.array([2, 0], np.uint8)],
    "zero_d_array_with_array": lambda a: a[np.array(1), :, np.array([1, 2])],
    "zero_d_array_alone": lambda a: a[:, np.array(1)],
    "empty_int_array": lambda a: a[:, np.array([], np.int64)],
    "empty_list": lambda a: a[[]],
    "ellipsis_middle": lambda a: a[0, ..., 1],
    "ellipsis_between_arrays": lambda a: a[[0, 1], ..., [1, 2]],
    "none_with_arrays": lambda a: a[None, [0, 1], None, 1],
    "none_between_arrays": lambda a: a[[0, 1], None, [0, 1]],
    "none_before_array": lambda a: a[:, None, [0, 1]],
    "int_slice_array": lambda a: a[1, :, [0, 1]],
    "list_is_one_index": lambda a: a[[0, 1]],
    "nested_list_is_2d_index": lambda a: a[[[0, 1]]],
    "tuple_of_lists": lambda a: a[([0, 1], [1, 2])],
    "list_of_arrays": lambda a: a[[np.array([0]), np.array([1])]],
    "empty_tuple": lambda a: a[()],
    "negative_steps_with_array": lambda a: a[::-1, [0, 2], ::-2],
    "slice_array_slice_array": lambda a: a[0:1, [0, 1], 1:3, [[1], [2]]],
    "empty_slice_with_int": lambda a: a[1:1, 2],
    "mask_partial_rank": lambda a: a[_M3],
    "mask_full_rank": lambda a: a[X4 > 50],
    "mask_all_false": lambda a: a[np.zeros(X4.shape, bool)],
    "mask_with_slice": lambda a: a[:, np.array([True, False, True]), 1:3],
    "mask_with_array_split": lambda a: a[np.array([True, False]), :, [1, 2]],
    "mask_with_int": lambda a: a[1, np.array([True, False, True])],
    "mask_2d_in_middle": lambda a: a[:, X4[0, :, :, 0] > 20],
    "mask_after_ellipsis": lambda a: a[..., np.array([True, False, True, False, True])],
    "mask_with_none": lambda a: a[None, np.array([True, False])],
    "bool_list_is_mask": lambda a: a[[True, False]],
}


@pytest.mark.parametrize("name", list(GETITEM))
def test_getitem_matches_numpy(name):
    f = GETITEM[name]
    _both(f, f, X4)


def test_getitem_empty_array_on_empty_axis():
    f = lambda a: a[:, np.array([], np.int64)]  # noqa: E731
    _both(f, f, np.zeros((2, 0), np.float32))


@pytest.mark.parametrize("idx", [np.array([1, -2]), np.array([[1, 0]])])
def test_getitem_with_funtorch_index_array(idx):
    _same(ft.asarray(X3)[ft.asarray(idx)], X3[idx])
    _same(ft.jit(lambda a, i: a[i])(ft.asarray(X3), ft.asarray(idx)), X3[idx])


# --------------------------------------------------------------------------- x.at[idx]

AT = {
    "set_split_arrays": (lambda a: a.at[[0, 1], :, [1, 2]].set(7.0),
                         lambda a: _np_set(a, ([0, 1], slice(None), [1, 2]), 7.0)),
    "set_split_arrays_values": (
        lambda a: a.at[[0, 1], :, [1, 2]].set(np.arange(30.0).reshape(2, 3, 5)),
        lambda a: _np_set(a, ([0, 1], slice(None), [1, 2]),
                          np.arange(30.0).reshape(2, 3, 5))),
    "set_ellipsis_negative_step": (lambda a: a.at[1, ..., ::-2].set(-1.0),
                                   lambda a: _np_set(a, (1, Ellipsis, slice(None, None, -2)),
                                                     -1.0)),
    "set_with_none": (lambda a: a.at[None, 0, [1, 2], None].set(3.0),
                      lambda a: _np_set(a, (None, 0, [1, 2], None), 3.0)),
    "set_broadcast_index": (lambda a: a.at[[[0], [1]], [0, 2]].add(1.0),
                            lambda a: _np_ufunc_at(np.add, a, ([[0], [1]], [0, 2]), 1.0)),
    "set_zero_d_index": (lambda a: a.at[np.array(1), 1:, np.array([0, 3])].set(9.0),
                         lambda a: _np_set(a, (np.array(1), slice(1, None), np.array([0, 3])),
                                           9.0)),
    "set_empty_index": (lambda a: a.at[:, []].set(9.0),
                        lambda a: _np_set(a, (slice(None), np.array([], np.int64)), 9.0)),
    "set_negative_arrays": (lambda a: a.at[:, [-1, -3]].set(0.0),
                            lambda a: _np_set(a, (slice(None), [-1, -3]), 0.0)),
    "set_values_with_leading_ones": (lambda a: a.at[0].set(np.ones((1, 1, 4, 5), np.float32)),
                                     lambda a: _np_set(a, 0, 1.0)),
    "set_mask": (lambda a: a.at[X4 > 100].set(0.0), lambda a: _np_set(a, X4 > 100, 0.0)),
    "add_duplicates_2d": (lambda a: a.at[[0, 0, 1], [1, 1, 2]].add(5.0),
                          lambda a: _np_ufunc_at(np.add, a, ([0, 0, 1], [1, 1, 2]), 5.0)),
    "add_split_broadcast_values": (
        lambda a: a.at[[0, 1], :, [[0], [3]]].add(np.ones(5, np.float32)),
        lambda a: _np_ufunc_at(np.add, a, ([0, 1], slice(None), [[0], [3]]), 1.0)),
    "multiply_duplicates": (lambda a: a.at[:, [1, 1]].multiply(2.0),
                            lambda a: _np_ufunc_at(np.multiply, a, (slice(None), [1, 1]), 2.0)),
    "multiply_ellipsis": (lambda a: a.at[0, ..., [1, 3]].multiply(2.0),
                          lambda a: _np_ufunc_at(np.multiply, a, (0, Ellipsis, [1, 3]), 2.0)),
    "min_duplicates": (
        lambda a: a.at[0, 0, [1, 1, 3]].min(np.array([-1.0, -5.0, 2.0], np.float32)[:, None]),
        lambda a: _np_ufunc_at(np.minimum, a, (0, 0, [1, 1, 3]),
                               np.array([-1.0, -5.0, 2.0], np.float32)[:, None])),
    "max_duplicates": (
        lambda a: a.at[1, 2, [0, 0]].max(np.array([[500.0], [900.0]], np.float32)),
        lambda a: _np_ufunc_at(np.maximum, a, (1, 2, [0, 0]),
                               np.array([[500.0], [900.0]], np.float32))),
    "subtract_duplicates": (lambda a: a.at[1, [2, 2]].subtract(1.0),
                            lambda a: _np_ufunc_at(np.subtract, a, (1, [2, 2]), 1.0)),
    "get_is_getitem": (lambda a: a.at[[0, 1], :, [1, 2]].get(),
                       lambda a: a[[0, 1], :, [1, 2]]),
}


@pytest.mark.parametrize("name", list(AT))
def test_at_matches_numpy(name):
    f, g = AT[name]
    if name == "set_mask":   # a concrete mask is fine under jit; a traced one is not
        _same(f(ft.asarray(X4)), g(X4))
        _same(ft.jit(lambda a: a.at[np.asarray(X4 > 100)].set(0.0))(ft.asarray(X4)), g(X4))
        return
    _both(f, g, X4)


def test_at_casts_values_to_the_array_dtype():
    i = np.arange(4, dtype=np.int32)
    _both(lambda a: a.at[[0, 2]].add(1.7), lambda a: _np_ufunc_at(np.add, a, [0, 2], 1), i)
    b = np.zeros(3, bool)
    _both(lambda a: a.at[1].set(True), lambda a: _np_set(a, 1, True), b)
    u = np.array([250, 1], np.uint8)
    _both(lambda a: a.at[0].add(10), lambda a: a + np.array([10, 0], np.uint8), u)


def test_at_set_duplicates_consistent_eager_jit_vmap():
    """Which duplicate wins is unspecified in JAX; funtorch must at least agree with
    itself across eager, jit and vmap (it keeps the last one)."""
    x, i, v = ft.zeros(5), ft.asarray([1, 1, 1, 3]), ft.asarray([1.0, 2.0, 3.0, 4.0])
    eager = np.asarray(x.at[i].set(v))
    assert eager[1] in (1.0, 2.0, 3.0) and eager[3] == 4.0
    _same(ft.jit(lambda x, i, v: x.at[i].set(v))(x, i, v), eager)
    batched = ft.vmap(lambda x, v: x.at[i].set(v))(ft.zeros((2, 5)), ft.stack([v, v]))
    _same(batched, np.stack([eager, eager]))


# --------------------------------------------------------------------------- out of range

def test_traced_out_of_range_follows_jax():
    """Under jit a traced index normalises negatives once, then gathers clamp and
    scatters drop, per axis (jax.numpy semantics)."""
    x, i = ft.arange(5.0), ft.asarray([-7, 6, 2, -1])
    _same(ft.jit(lambda x, i: x[i])(x, i), np.array([0.0, 4.0, 2.0, 4.0], np.float32))
    _same(ft.jit(lambda x, i: x.at[i].set(9.0))(x, i), np.array([0, 1, 9, 3, 9], np.float32))
    _same(ft.jit(lambda x, i: x.at[i].add(9.0))(x, i), np.array([0, 1, 11, 3, 13], np.float32))
    _same(ft.jit(lambda x, i: x[i])(x, ft.asarray(7)), np.float32(4.0))
    _same(ft.jit(lambda x, i: x.at[i].set(1.0))(x, ft.asarray(7)), np.arange(5.0, dtype=np.float32))
    m = ft.arange(12.0).reshape(3, 4)
    _same(ft.jit(lambda x, i, j: x[i, j])(m, ft.asarray([3, 0, -4]), ft.asarray([0, 4, 1])),
          np.array([8.0, 3.0, 1.0], np.float32))
    want = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    want[1, 1] = -1
    _same(ft.jit(lambda x, i, j: x.at[i, j].set(-1.0))(m, ft.asarray([3, 0, -4, 1]),
                                                       ft.asarray([0, 4, 1, 1])), want)
    _same(ft.jit(lambda x, i: x[1:, i])(m, ft.asarray([5, -1])),
          np.array([[7.0, 7.0], [11.0, 11.0]], np.float32))


def test_traced_unsigned_index_is_not_negative():
    x = ft.arange(5.0)
    _same(ft.jit(lambda x, i: x[i])(x, ft.asarray(np.array([4, 255], np.uint8))),
          np.array([4.0, 4.0], np.float32))
    _same(ft.jit(lambda x, i: x.at[i].add(1.0))(x, ft.asarray(np.array([4, 255], np.uint8))),
          np.array([0, 1, 2, 3, 5], np.float32))
    _same(ft.arange(300.0)[np.array([255], np.uint8)], np.array([255.0], np.float32))


def test_explicit_modes_eager_and_jit():
    x, i = ft.arange(5.0), ft.asarray([-7, 6, 2, -1])
    for f in (lambda x, i: x.at[i].get(mode="fill"), ft.jit(lambda x, i: x.at[i].get(mode="fill"))):
        _same(f(x, i), np.array([np.nan, np.nan, 2.0, 4.0], np.float32))   # JAX's fill
    j = ft.asarray([-7, 6, 2])
    for f in (lambda x, j: x.at[j].set(9.0, mode="clip"),
              ft.jit(lambda x, j: x.at[j].set(9.0, mode="clip"))):
        _same(f(x, j), np.array([9, 1, 9, 3, 9], np.float32))
    _same(x.at[i].set(9.0, mode="drop"), np.array([0, 1, 9, 3, 9], np.float32))
    xn = np.arange(5.0, dtype=np.float32)
    for mode in ("clip", "wrap"):
        _same(ft.jit(lambda x, i, m=mode: ft.take(x, i, mode=m))(x, i),
              np.take(xn, [-7, 6, 2, -1], mode=mode))
    _same(ft.jit(lambda x, i: ft.take_along_axis(x, i, 0))(x, i),
          np.array([0.0, 4.0, 2.0, 4.0], np.float32))


@pytest.mark.parametrize("fn", [
    lambda x: x[ft.asarray([6])],
    lambda x: x.at[ft.asarray([6])].add(1.0),
    lambda x: x[-6],
    lambda x: ft.take(x, [5]),
    lambda x: ft.take_along_axis(x, np.array([5]), 0),
    lambda x: ft.jit(lambda x: x[np.array([0, 5])])(x),   # concrete index, even under jit
])
def test_concrete_out_of_range_raises_indexerror(fn):
    with pytest.raises(IndexError, match="out of bounds"):
        fn(ft.arange(5.0))


# --------------------------------------------------------------------------- vmap

def test_vmap_indexing_matches_loop():
    m = ft.arange(12.0).reshape(3, 4)
    idx = ft.asarray([[0, 3], [1, 1], [3, -1]])
    _same(ft.vmap(lambda r, i: r[i])(m, idx), np.array([[0, 3], [5, 5], [11, 11]], np.float32))
    _same(ft.vmap(lambda r, i: r.at[i].add(1.0))(ft.zeros((3, 4)), idx),
          np.array([[1, 0, 0, 1], [0, 2, 0, 0], [0, 0, 0, 2]], np.float32))
    _same(ft.vmap(lambda r, i: r.at[i].set(1.0), in_axes=(0, None))(ft.zeros((3, 4)),
                                                                      ft.asarray([0, 2])),
          np.tile(np.array([1, 0, 1, 0], np.float32), (3, 1)))
    _same(ft.vmap(lambda v: ft.zeros(4).at[ft.asarray([1, 1, 2])].add(v))(
        ft.arange(6.0).reshape(2, 3)), np.array([[0, 1, 2, 0], [0, 7, 5, 0]], np.float32))
    _same(ft.vmap(lambda i: ft.arange(5.0)[i])(ft.asarray([4, -1, 0])),
          np.array([4.0, 4.0, 0.0], np.float32))
    _same(ft.vmap(lambda r, i: r.at[i].set(7.0))(ft.zeros((2, 3)), ft.asarray([5, -1])),
          np.array([[0, 0, 0], [0, 0, 7]], np.float32))
    b = np.arange(2 * 2 * 3 * 4.0, dtype=np.float32).reshape(2, 2, 3, 4)
    _same(ft.vmap(lambda a: a[[0, 1], :, [1, 2]])(ft.asarray(b)),
          np.stack([r[[0, 1], :, [1, 2]] for r in b]))
    _same(ft.vmap(lambda a, i: ft.take_along_axis(a, i, 0))(
        ft.arange(8.0).reshape(2, 4), ft.asarray([[3, 0], [1, 1]])),
        np.array([[3, 0], [5, 5]], np.float32))


# --------------------------------------------------------------------------- gradients

_W = np.random.default_rng(0).standard_normal((2, 3, 4))
_C = {}


def _weighted(a):
    """A scalar that weights every output element differently (so ordering matters)."""
    if a.shape not in _C:
        _C[a.shape] = ft.asarray(np.cos(np.arange(a.size)).reshape(a.shape))
    return ft.sum(a * _C[a.shape])


GRADS = {
    "gather_split_arrays_dups": lambda a: a[[0, 1, 1], :, [1, 2, 2]],
    "gather_broadcast": lambda a: a[[[0], [1]], [2, 0, 2]],
    "gather_mask": lambda a: a[np.asarray(_W > 0)],
    "scatter_set_dups": lambda a: a.at[[0, 0], :, [1, 1]].set(a[1, :, 0:2].T * 2),
    "scatter_add_dups": lambda a: a.at[0, [2, 2, 0]].add(a[1] ** 2),
    "scatter_max": lambda a: a.at[1, [0, 2]].max(a[0, [1, 1]]),
    "take_dups": lambda a: ft.take(a, [5, 5, -1, 0]),
    "take_along_dups": lambda a: ft.take_along_axis(a, np.array([[[3, 3, 0]]]), axis=2),
    "sort_axis1": lambda a: ft.sort(a, axis=1),
    "sort_none": lambda a: ft.sort(a, axis=None),
    "sort_descending": lambda a: ft.sort(a, axis=-1, descending=True),
    "argsort_gather": lambda a: ft.take_along_axis(a, ft.argsort(a, axis=0), axis=0),
    "cumsum_axis": lambda a: ft.cumsum(a, axis=1),
    "cumsum_none": lambda a: ft.cumsum(a),
    "pad_reflect": lambda a: ft.pad(a, ((1, 0), (2, 1), (0, 3)), mode="reflect"),
    "pad_edge": lambda a: ft.pad(a, ((1, 0), (2, 1), (0, 3)), mode="edge"),
    "roll": lambda a: ft.roll(a, 5),
    "roll_tuple": lambda a: ft.roll(a, (1, -2, 1), axis=(0, 2, 2)),
    "repeat": lambda a: ft.repeat(a, 2, axis=1),
    "tile": lambda a: ft.tile(a, (2, 1, 2)),
    "tril": lambda a: ft.tril(a, 1),
    "triu_1d": lambda a: ft.triu(a[0, 0], 1),
    "diagonal": lambda a: ft.diagonal(a, -1, 1, 2),
    "negative_steps": lambda a: a[::-1, 1:, ::-2],
    "split_middle": lambda a: ft.split(a, [1, 3], axis=2)[1],
    "split_negative": lambda a: ft.split(a, [-1], axis=2)[0],
    "array_split_indices": lambda a: ft.array_split(a, [1, -1], axis=-1)[1],
    "vmap_scatter_set": lambda a: ft.vmap(lambda r: r.at[[1, 1, 3]].set(r[0] * 3.0))(
        a.reshape(6, 4)),
    "vmap_gather": lambda a: ft.vmap(lambda r, i: r[i])(
        a.reshape(6, 4), ft.asarray([[0, 3], [1, 1], [3, -1], [0, 0], [2, 2], [1, 3]])),
}


@pytest.mark.parametrize("name", list(GRADS))
def test_grad_matches_finite_differences(name):
    def f(a):
        return _weighted(GRADS[name](a))
    want = fd_grad(lambda a: float(f(ft.asarray(a))), _W, h=1e-6)
    x = ft.asarray(_W)
    np.testing.assert_allclose(ft.grad(f)(x), want, atol=1e-5)
    np.testing.assert_allclose(ft.jit(ft.grad(f))(x), want, atol=1e-5)
