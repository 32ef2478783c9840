"""Parity audit (tests/test_indexing_parity.py, whose helpers this uses), continued: shape
ops against numpy, eagerly and under ``ft.jit``, their errors, and the divergences an
earlier audit found."""

from __future__ import annotations

import numpy as np
import pytest
from test_indexing_parity import X3, _both, _same

import funtorch as ft

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
