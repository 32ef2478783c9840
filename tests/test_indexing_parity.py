"""Parity audit: indexing, x.at[] updates, shape ops and sorting against numpy.

Every case runs eagerly and under ``ft.jit`` (with the data as a traced argument and the
index as a concrete constant, so numpy's rules apply); traced-index behaviour under jit
and vmap follows JAX (gathers clamp, scatters drop out-of-range indices). Gradients are
checked against central differences.
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


# --------------------------------------------------------------------------- shape ops

SHAPE_OK = {
    "reshape_minus_one": (lambda a: ft.reshape(a, (-1, 4)), lambda a: np.reshape(a, (-1, 4)), X3),
    "reshape_method_varargs": (lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1), X3),
    "reshape_zero_size": (lambda a: ft.reshape(a, (3, -1)), lambda a: np.reshape(a, (3, -1)),
                          np.zeros((0, 3), np.float32)),
    "squeeze_negative": (lambda a: ft.squeeze(a, -1), lambda a: np.squeeze(a, -1), X3[..., :1]),
    "squeeze_zero_size": (lambda a: ft.squeeze(a), lambda a: np.squeeze(a),
                          np.zeros((1, 0, 1), np.float32)),
    "expand_dims_tuple_neg": (lambda a: ft.expand_dims(a, (0, -1)),
                              lambda a: np.expand_dims(a, (0, -1)), X3),
    "expand_dims_tuple": (lambda a: ft.expand_dims(a, (1, 3)),
                          lambda a: np.expand_dims(a, (1, 3)), X3),
    "expand_dims_neg": (lambda a: ft.expand_dims(a, -2), lambda a: np.expand_dims(a, -2), X3),
    "moveaxis_neg": (lambda a: ft.moveaxis(a, -1, 0), lambda a: np.moveaxis(a, -1, 0), X3),
    "moveaxis_tuples": (lambda a: ft.moveaxis(a, (0, -1), (-1, 0)),
                        lambda a: np.moveaxis(a, (0, -1), (-1, 0)), X3),
    "moveaxis_tuples2": (lambda a: ft.moveaxis(a, (0, 1), (2, 0)),
                         lambda a: np.moveaxis(a, (0, 1), (2, 0)), X3),
    "swapaxes_neg": (lambda a: ft.swapaxes(a, -1, -3), lambda a: np.swapaxes(a, -1, -3), X3),
    "transpose_neg": (lambda a: ft.transpose(a, (-1, 0, -2)),
                      lambda a: np.transpose(a, (-1, 0, -2)), X3),
    "split_sections_neg_axis": (lambda a: ft.split(a, 2, axis=-1),
                                lambda a: np.split(a, 2, axis=-1), X3),
    "split_indices": (lambda a: ft.split(a, [1, 3], axis=2),
                      lambda a: np.split(a, [1, 3], axis=2), X3),
    "split_indices_unsorted_past_end": (lambda a: ft.split(a, [3, 1, 10], axis=2),
                                        lambda a: np.split(a, [3, 1, 10], axis=2), X3),
    "split_numpy_indices": (lambda a: ft.split(a, np.array([1, 2])),
                            lambda a: np.split(a, np.array([1, 2])), X3[0, 0]),
    "split_zero_size": (lambda a: ft.split(a, 2), lambda a: np.split(a, 2),
                        np.zeros((0, 3), np.float32)),
    "array_split_uneven": (lambda a: ft.array_split(a, 3, axis=2),
                           lambda a: np.array_split(a, 3, axis=2), X3),
    "array_split_more_than_n": (lambda a: ft.array_split(a, 6, axis=-1),
                                lambda a: np.array_split(a, 6, axis=-1), X3),
    "flip_none": (lambda a: ft.flip(a), lambda a: np.flip(a), X3),
    "flip_tuple": (lambda a: ft.flip(a, (0, -1)), lambda a: np.flip(a, (0, -1)), X3),
    "flip_0d": (lambda a: ft.flip(a), lambda a: np.flip(a), np.ones((), np.float32)),
    "roll_flat": (lambda a: ft.roll(a, -7), lambda a: np.roll(a, -7), X3),
    "roll_axis": (lambda a: ft.roll(a, 5, axis=-1), lambda a: np.roll(a, 5, axis=-1), X3),
    "roll_empty": (lambda a: ft.roll(a, 1), lambda a: np.roll(a, 1), np.zeros(0, np.float32)),
    "repeat_axis": (lambda a: ft.repeat(a, 2, axis=-1), lambda a: np.repeat(a, 2, axis=-1), X3),
    "repeat_flat": (lambda a: ft.repeat(a, 3), lambda a: np.repeat(a, 3), X3),
    "repeat_zero": (lambda a: ft.repeat(a, 0, axis=1), lambda a: np.repeat(a, 0, axis=1), X3),
    "tile_more_reps": (lambda a: ft.tile(a, (2, 1, 1, 2)), lambda a: np.tile(a, (2, 1, 1, 2)), X3),
    "tile_int": (lambda a: ft.tile(a, 2), lambda a: np.tile(a, 2), X3),
    "tile_zero": (lambda a: ft.tile(a, (0, 1)), lambda a: np.tile(a, (0, 1)), X3),
    "tril_batched": (lambda a: ft.tril(a, -1), lambda a: np.tril(a, -1), X3),
    "triu_batched": (lambda a: ft.triu(a, 1), lambda a: np.triu(a, 1), X3),
    "tril_k_big": (lambda a: ft.tril(a, 10), lambda a: np.tril(a, 10), X3),
    "triu_int32": (lambda a: ft.triu(a, -1), lambda a: np.triu(a, -1),
                   np.arange(12, dtype=np.int32).reshape(3, 4)),
    "diagonal_offset_axes": (lambda a: ft.diagonal(a, 1, -1, -2),
                             lambda a: np.diagonal(a, 1, -1, -2), X3),
    "diagonal_offset_big": (lambda a: ft.diagonal(a, 5), lambda a: np.diagonal(a, 5), X3),
    "diagonal_empty": (lambda a: ft.diagonal(a), lambda a: np.diagonal(a),
                       np.zeros((0, 3), np.float32)),
    "take_flat_2d_wrap": (lambda a: ft.take(a, [[-5, 25]], mode="wrap"),
                          lambda a: np.take(a, [[-5, 25]], mode="wrap"), X3),
    "take_clip_axis": (lambda a: ft.take(a, [-5, 9], axis=1, mode="clip"),
                       lambda a: np.take(a, [-5, 9], axis=1, mode="clip"), X3),
    "take_scalar_index": (lambda a: ft.take(a, 2, axis=1), lambda a: np.take(a, 2, axis=1), X3),
    "take_neg_axis": (lambda a: ft.take(a, [0, -1], axis=-1),
                      lambda a: np.take(a, [0, -1], axis=-1), X3),
    "take_axis_none": (lambda a: ft.take(a, [3, 7, -1]), lambda a: np.take(a, [3, 7, -1]), X3),
    "take_along_broadcast": (
        lambda a: ft.take_along_axis(a, np.array([[[0], [3], [1]]]), axis=2),
        lambda a: np.take_along_axis(a, np.array([[[0], [3], [1]]]), axis=2), X3),
    "take_along_broadcast_neg": (
        lambda a: ft.take_along_axis(a, np.array([[[0, -1]]]), axis=-1),
        lambda a: np.take_along_axis(a, np.array([[[0, -1]]]), axis=-1), X3),
    "take_along_none": (
        lambda a: ft.take_along_axis(a, np.array([0, 23, -1]), axis=None),
        lambda a: np.take_along_axis(a, np.array([0, 23, -1]), axis=None), X3),
    "take_along_int32": (
        lambda a: ft.take_along_axis(a, np.array([[[2, -1]]], np.int32), 2),
        lambda a: np.take_along_axis(a, np.array([[[2, -1]]], np.int32), 2), X3),
    "broadcast_to_more_dims": (lambda a: ft.broadcast_to(a, (5, 2, 3, 4)),
                               lambda a: np.broadcast_to(a, (5, 2, 3, 4)), X3),
    "broadcast_to_zero": (lambda a: ft.broadcast_to(a, (0, 4)),
                          lambda a: np.broadcast_to(a, (0, 4)), np.ones((1, 4), np.float32)),
    "pad_per_axis_pairs": (
        lambda a: ft.pad(a, ((0, 1), (2, 0), (1, 1)), constant_values=-1),
        lambda a: np.pad(a, ((0, 1), (2, 0), (1, 1)), constant_values=-1), X3),
    "pad_int": (lambda a: ft.pad(a, 1), lambda a: np.pad(a, 1), X3),
    "pad_one_pair": (lambda a: ft.pad(a, (1, 2)), lambda a: np.pad(a, (1, 2)), X3),
    "pad_one_pair_nested": (lambda a: ft.pad(a, ((1, 2),)), lambda a: np.pad(a, ((1, 2),)), X3),
    "pad_edge": (lambda a: ft.pad(a, ((1, 2), (0, 3), (2, 2)), mode="edge"),
                 lambda a: np.pad(a, ((1, 2), (0, 3), (2, 2)), mode="edge"), X3),
    "pad_edge_int64": (lambda a: ft.pad(a, 2, mode="edge"), lambda a: np.pad(a, 2, mode="edge"),
                       np.arange(3, dtype=np.int64)),
    "pad_reflect": (lambda a: ft.pad(a, ((1, 1), (2, 1), (3, 0)), mode="reflect"),
                    lambda a: np.pad(a, ((1, 1), (2, 1), (3, 0)), mode="reflect"), X3),
    "pad_float_constant_into_int": (lambda a: ft.pad(a, 1, constant_values=2.7),
                                    lambda a: np.pad(a, 1, constant_values=2.7), np.arange(3)),
    "pad_0d": (lambda a: ft.pad(a, 0), lambda a: np.pad(a, 0), np.ones((), np.float32)),
}


@pytest.mark.parametrize("name", list(SHAPE_OK))
def test_shape_op_matches_numpy(name):
    f, g, x = SHAPE_OK[name]
    _both(f, g, x)


@pytest.mark.parametrize("arrays, axis", [
    ([X3, X3.astype(np.float64)], -1),
    ([X3, X3], -4),
])
def test_stack_negative_axis_and_promotion(arrays, axis):
    _both(lambda a, b: ft.stack([a, b], axis=axis), lambda a, b: np.stack([a, b], axis=axis),
          *arrays)


@pytest.mark.parametrize("a, b, axis", [
    (X3, np.ones((2, 3, 1), np.int32), -1),
    (np.ones(2, np.int32), np.ones(2, np.int64), 0),
    (np.ones(2, np.uint8), np.ones(2, np.int32), 0),
    (np.ones(2, bool), np.ones(2, np.float32), 0),
    (np.zeros((2, 0, 4), np.float32), X3, 1),
    (np.zeros(0, np.float32), np.zeros(0, np.float32), 0),
    (X3, X3[0], None),
])
def test_concatenate_matches_numpy(a, b, axis):
    # numpy's values in the dtype of JAX's lattice (int32 with float32 is float32)
    _both(lambda a, b: ft.concatenate([a, b], axis=axis),
          lambda a, b: np.concatenate([a, b], axis=axis).astype(
              ft.promote_types(a.dtype, b.dtype)), a, b)


def test_hstack_vstack_match_numpy():
    _both(lambda a, b: ft.hstack([a, b]), lambda a, b: np.hstack([a, b]).astype(np.float32),
          np.ones(2, np.int32), np.ones(3, np.float32))
    _both(lambda a, b: ft.vstack([a, b]), lambda a, b: np.vstack([a, b]),
          np.ones(3, np.int32), np.zeros(3, np.int32))


@pytest.mark.parametrize("fn, err", [
    (lambda x: ft.reshape(x, (0, -1)), ValueError),         # numpy refuses too
    (lambda x: ft.squeeze(x, 1), ValueError),
    (lambda x: ft.squeeze(x[:1], (0, 0)), ValueError),
    (lambda x: ft.expand_dims(x, 5), ValueError),
    (lambda x: ft.expand_dims(x, (1, 1)), ValueError),
    (lambda x: ft.moveaxis(x, (0, 0), (1, 2)), ValueError),
    (lambda x: ft.split(x, 3, axis=2), ValueError),
    (lambda x: ft.broadcast_to(x, (3, 3, 4)), ValueError),
    (lambda x: ft.broadcast_to(x, (3, 4)), ValueError),
    (lambda x: ft.concatenate([x, x[:, :2]]), ValueError),
    (lambda x: ft.take(x, [0], axis=-4), ValueError),
    (lambda x: ft.sort(x[0, 0, 0]), ValueError),
])
def test_shape_errors_like_numpy(fn, err):
    with pytest.raises(err):
        fn(ft.asarray(X3))


@pytest.mark.parametrize("fn, err, msg", [
    (lambda x: ft.reshape(x, (4, 6), order="F"), NotImplementedError, "order='C'"),
    (lambda x: ft.pad(x, 1, mode="symmetric"), NotImplementedError, "symmetric"),
    (lambda x: ft.pad(x, 1, mode="wrap"), NotImplementedError, "wrap"),
    (lambda x: ft.pad(x, 1, constant_values=(1, 2)), NotImplementedError, "scalar"),
    (lambda x: ft.repeat(x, [1, 0], axis=0), NotImplementedError, "integer repeat"),
])
def test_unsupported_numpy_features_are_clear_errors(fn, err, msg):
    with pytest.raises(err, match=msg):
        fn(ft.asarray(X3))


# --- divergences an earlier audit found (fixed; kept as regression tests)

@pytest.mark.parametrize("indices", [[-1], [1, -2], [-10, 2], [-3, -1, 10]])
def test_split_negative_index(indices):
    _both(lambda a: ft.split(a, indices, axis=2), lambda a: np.split(a, indices, axis=2), X3)


@pytest.mark.parametrize("indices, axis", [([1, 2], 2), ([-1], 0), (np.array([2, 1]), -1)])
def test_array_split_indices(indices, axis):
    _both(lambda a: ft.array_split(a, indices, axis=axis),
          lambda a: np.array_split(a, indices, axis=axis), X3)


@pytest.mark.parametrize("shift, axis", [((1, 2), (0, 2)), ((1, 2), 2), (1, (0, 1)),
                                         ((-1, 5), (-1, 1)), ([1, 2], None),
                                         (np.array([1, 1]), np.array([0, -1]))])
def test_roll_tuple(shift, axis):
    _both(lambda a: ft.roll(a, shift, axis=axis), lambda a: np.roll(a, shift, axis=axis), X3)


def test_roll_mismatched_shift_axis_is_clear():
    with pytest.raises(ValueError, match="funtorch.roll"):
        ft.roll(ft.asarray(X3), (1, 2, 3), axis=(0, 1))


@pytest.mark.parametrize("reps", [np.int64(2), np.int32(0), np.array(2), (np.int64(2), 1),
                                  np.array([1, 2])])
def test_tile_numpy_int_reps(reps):
    _both(lambda a: ft.tile(a, reps), lambda a: np.tile(a, reps), X3)


def test_tile_concrete_array_reps():
    _same(ft.tile(ft.asarray(X3), ft.asarray(2)), np.tile(X3, 2))


@pytest.mark.parametrize("fn", ["tril", "triu"])
@pytest.mark.parametrize("x", [np.ones((3, 3), bool), np.ones((2, 3, 4), bool),
                               np.arange(6, dtype=np.uint8).reshape(2, 3)])
def test_triu_bool_keeps_dtype(fn, x):
    _both(lambda a: getattr(ft, fn)(a, 1), lambda a: getattr(np, fn)(a, 1), x)
    _both(lambda a: getattr(ft, fn)(a), lambda a: getattr(np, fn)(a), x)


@pytest.mark.parametrize("fn", ["tril", "triu"])
@pytest.mark.parametrize("k", [0, -1, 2])
def test_tril_1d(fn, k):
    _both(lambda a: getattr(ft, fn)(a, k), lambda a: getattr(np, fn)(a, k),
          np.arange(3.0, dtype=np.float32))


def test_tril_0d_is_clear():
    with pytest.raises(ValueError, match="funtorch.tril"):
        ft.tril(ft.asarray(1.0))


@pytest.mark.parametrize("mode", ["edge", "reflect"])
@pytest.mark.parametrize("jit", [False, True])
def test_pad_edge_empty_axis_raises(mode, jit):
    f = (lambda a: ft.pad(a, 1, mode=mode))
    with pytest.raises(ValueError, match="funtorch.pad: can't extend empty axis 0"):
        (ft.jit(f) if jit else f)(ft.zeros((0, 3)))


def test_pad_edge_empty_array_other_axis_ok():
    _both(lambda a: ft.pad(a, ((0, 0), (1, 2)), mode="edge"),
          lambda a: np.pad(a, ((0, 0), (1, 2)), mode="edge"), np.zeros((0, 3), np.float32))


@pytest.mark.parametrize("reps", [-1, (2, -1)])
def test_tile_negative_reps_raises(reps):
    with pytest.raises(ValueError, match="funtorch.tile: negative dimensions"):
        ft.tile(ft.arange(3.0), reps)


@pytest.mark.parametrize("sections", [0, -2])
def test_array_split_zero_sections(sections):
    with pytest.raises(ValueError, match="number sections must be larger than 0"):
        ft.array_split(ft.arange(4.0), sections)


def test_repeat_negative_is_clear():
    with pytest.raises(ValueError, match="funtorch.repeat: negative dimensions"):
        ft.jit(lambda a: ft.repeat(a, -1))(ft.arange(3.0))
    with pytest.raises(ValueError, match="funtorch.repeat: negative dimensions"):
        ft.repeat(ft.arange(3.0), np.int64(-2))


def test_traced_shift_or_reps_is_a_concretization_error():
    with pytest.raises(ft.ConcretizationTypeError, match="roll"):
        ft.jit(lambda a, s: ft.roll(a, s))(ft.arange(3.0), ft.asarray(1))
    with pytest.raises(ft.ConcretizationTypeError, match="tile"):
        ft.jit(lambda a, r: ft.tile(a, r))(ft.arange(3.0), ft.asarray(2))


# --------------------------------------------------------------------------- sorting

_V = np.array([3.0, NAN, 1.0, -np.inf, NAN, 1.0, np.inf, 0.0, -0.0], np.float32)
SORTS = {
    "sort_nan_last": (lambda a: ft.sort(a), lambda a: np.sort(a), _V),
    "argsort_nan_stable": (lambda a: ft.argsort(a), lambda a: np.argsort(a, kind="stable"), _V),
    "argsort_kind_stable": (lambda a: ft.argsort(a, kind="stable"),
                            lambda a: np.argsort(a, kind="stable"),
                            np.array([1, 0, 1, 0, 1, 0], np.int32)),
    "argsort_signed_zeros_tie": (lambda a: ft.argsort(a), lambda a: np.argsort(a, kind="stable"),
                                 np.array([0.0, -0.0, 0.0, -0.0], np.float32)),
    "sort_axis_none": (lambda a: ft.sort(a, axis=None), lambda a: np.sort(a, axis=None),
                       np.array([[3, 1], [2, 0]], np.int64)),
    "sort_axis0_nan": (lambda a: ft.sort(a, axis=0), lambda a: np.sort(a, axis=0),
                       np.array([[3, NAN], [NAN, 0], [1, 2]], np.float32)),
    "argsort_axis0_nan": (lambda a: ft.argsort(a, axis=0),
                          lambda a: np.argsort(a, axis=0, kind="stable"),
                          np.array([[3, NAN], [NAN, 0], [1, 2], [1, NAN]], np.float32)),
    "sort_bool": (lambda a: ft.sort(a), lambda a: np.sort(a), np.array([True, False, True])),
    "sort_uint8": (lambda a: ft.sort(a), lambda a: np.sort(a),
                   np.array([200, 3, 255, 0], np.uint8)),
    "argsort_int64_big": (lambda a: ft.argsort(a), lambda a: np.argsort(a, kind="stable"),
                          np.array([2**40, -2**40, 5, 2**40], np.int64)),
    "argsort_float16_nan": (lambda a: ft.argsort(a), lambda a: np.argsort(a, kind="stable"),
                            np.array([NAN, 1, -np.inf, 1], np.float16)),
    "sort_zero_size": (lambda a: ft.sort(a), lambda a: np.sort(a), np.zeros((2, 0), np.float32)),
    "descending_is_flip_of_sort": (lambda a: ft.sort(a, descending=True),
                                   lambda a: np.sort(a)[::-1], _V),
    "argsort_descending_stable": (
        lambda a: ft.argsort(a, descending=True),
        # stable descending: argsort of the negated keys, NaNs first
        lambda a: np.argsort(np.where(np.isnan(a), -np.inf, -a.astype(np.float64)) -
                             np.isnan(a), kind="stable"),
        np.array([1.0, 3.0, NAN, 1.0, 3.0, NAN], np.float32)),
    "argmax_nan_first": (lambda a: ft.argmax(a), lambda a: np.argmax(a), _V),
    "argmin_nan_first": (lambda a: ft.argmin(a), lambda a: np.argmin(a), _V),
    "argmax_ties_first": (lambda a: ft.argmax(a, axis=1), lambda a: np.argmax(a, axis=1),
                          np.array([[1, 3, 3], [2, 2, 2]], np.float32)),
    "argmin_ties_first": (lambda a: ft.argmin(a, axis=0), lambda a: np.argmin(a, axis=0),
                          np.array([[1, 3, 3], [1, 0, 0]], np.float32)),
    "argmax_keepdims": (lambda a: ft.argmax(a, axis=-1, keepdims=True),
                        lambda a: np.argmax(a, axis=-1, keepdims=True),
                        np.array([[1, 3, 3], [2, 2, 2]], np.float32)),
    "argmax_rows_nan_inf": (lambda a: ft.argmax(a, axis=1), lambda a: np.argmax(a, axis=1),
                            np.array([[1, NAN, 5, NAN], [NAN, 2, 2, 1], [-np.inf] * 4],
                                     np.float32)),
    "argmin_rows_nan_inf": (lambda a: ft.argmin(a, axis=1), lambda a: np.argmin(a, axis=1),
                            np.array([[1, NAN, -5, NAN], [NAN, 2, 2, 1], [np.inf] * 4],
                                     np.float32)),
    "argmax_none_2d_nan": (lambda a: ft.argmax(a), lambda a: np.argmax(a),
                           np.array([[1, 2], [NAN, NAN]], np.float32)),
    "argmax_bool": (lambda a: ft.argmax(a), lambda a: np.argmax(a), np.array([False, True, True])),
    "argmax_int64": (lambda a: ft.argmax(a), lambda a: np.argmax(a),
                     np.array([-2**40, 2**40, 2**40], np.int64)),
    "argmin_uint8": (lambda a: ft.argmin(a), lambda a: np.argmin(a),
                     np.array([200, 0, 255, 0], np.uint8)),
    "argmax_method": (lambda a: a.argmax(axis=0), lambda a: a.argmax(axis=0),
                      np.array([[1, 3, 3], [2, 2, 2]], np.float32)),
    "cumsum_axis_none": (lambda a: ft.cumsum(a), lambda a: np.cumsum(a),
                         np.arange(6, dtype=np.float32).reshape(2, 3)),
    "cumsum_neg_axis": (lambda a: ft.cumsum(a, axis=-2), lambda a: np.cumsum(a, axis=-2),
                        np.arange(6, dtype=np.float32).reshape(2, 3)),
    "cumsum_dtype_f64": (lambda a: ft.cumsum(a, dtype=np.float64),
                         lambda a: np.cumsum(a, dtype=np.float64),
                         np.arange(6, dtype=np.float32).reshape(2, 3)),
    "cumsum_int_to_float": (lambda a: ft.cumsum(a, dtype=np.float32),
                            lambda a: np.cumsum(a, dtype=np.float32), np.arange(4)),
    "cumsum_int32": (lambda a: ft.cumsum(a, axis=0), lambda a: np.cumsum(a, axis=0),
                     np.ones((2, 2), np.int32)),
    "cumsum_uint8": (lambda a: ft.cumsum(a), lambda a: np.cumsum(a),
                     np.array([200, 100], np.uint8)),
    "cumsum_bool": (lambda a: ft.cumsum(a), lambda a: np.cumsum(a),
                    np.array([True, True, False])),
    "cumsum_float16": (lambda a: ft.cumsum(a), lambda a: np.cumsum(a), np.ones(3, np.float16)),
    "cumsum_zero_size": (lambda a: ft.cumsum(a, axis=1), lambda a: np.cumsum(a, axis=1),
                         np.zeros((2, 0), np.float32)),
    "cumsum_0d": (lambda a: ft.cumsum(a), lambda a: np.cumsum(a), np.ones((), np.float32)),
    "cumsum_nan": (lambda a: ft.cumsum(a), lambda a: np.cumsum(a),
                   np.array([1, NAN, 2], np.float32)),
}


@pytest.mark.parametrize("name", list(SORTS))
def test_sorting_and_scans_match_numpy(name):
    f, g, x = SORTS[name]
    _both(f, g, x)


def test_argmax_of_empty_raises():
    with pytest.raises(ValueError, match="empty"):
        ft.argmax(ft.zeros(0))


def test_sorting_under_vmap():
    a = np.array([[3.0, 1.0], [1.0, NAN], [2.0, 0.0]], np.float32)
    _same(ft.vmap(ft.sort, in_axes=1, out_axes=1)(ft.asarray(a)), np.sort(a, axis=0))
    b = np.array([[3.0, NAN, 5.0], [1.0, 2.0, 2.0]], np.float32)
    _same(ft.vmap(ft.argmax)(ft.asarray(b)), np.argmax(b, axis=1))
    c = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    _same(ft.vmap(ft.cumsum)(ft.asarray(c)), np.cumsum(c, axis=1))
    _same(ft.vmap(lambda r: ft.roll(r, 1))(ft.asarray(c)), np.roll(c, 1, axis=1))
    _same(ft.vmap(lambda r: ft.pad(r, 1, mode="reflect"))(ft.asarray(c)),
          np.pad(c, ((0, 0), (1, 1)), mode="reflect"))


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
