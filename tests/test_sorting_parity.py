"""Parity audit (tests/test_indexing_parity.py, whose helpers this uses), continued: sorting
and scans against numpy (NaN last, signed zeros, stability), eagerly, under ``ft.jit``
and under ``vmap``."""

from __future__ import annotations

import numpy as np
import pytest
from test_indexing_parity import NAN, _both, _same

import funtorch as ft

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
