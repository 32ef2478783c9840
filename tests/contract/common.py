"""What the contract modules share: the random data source, dtype lists, the comparison
helpers and the oracles' converters."""

from __future__ import annotations

import collections

import numpy as np

import funtorch as ft

RNG = np.random.default_rng(1234)

FLOATS = [ft.float16, ft.bfloat16, ft.float32, ft.float64]
INTS = [ft.int32, ft.int64, ft.uint8, ft.uint32]
ALL_DTYPES = FLOATS + INTS + [ft.bool_]


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def assert_same(actual, expected, rtol=1e-5, atol=1e-6, check_dtype=True):
    a, e = np.asarray(actual), np.asarray(expected)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    if check_dtype:
        assert a.dtype == e.dtype, f"dtype {a.dtype} != {e.dtype}"
    if e.dtype == np.bool_ or np.issubdtype(e.dtype, np.integer):
        np.testing.assert_array_equal(a, e)
    else:
        np.testing.assert_allclose(a.astype(np.float64), e.astype(np.float64), rtol=rtol,
                                   atol=atol, equal_nan=True)


def ids(values):
    return [str(v) for v in values]


def _t(torch, a):
    return torch.from_numpy(np.array(a, order="C"))


NT = collections.namedtuple("NT", "a b")
