"""The fuzzer's judge: the summation-order error bound (tests/fuzz_bounds.py) accepts what
an order may change and still rejects wrong results (a dropped term, a sign flip)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fuzz_bounds import radii
from fuzz_programs import Program
from test_fuzz import _fn, _loss, agree, bounded

import funtorch as ft

# sum((x - x) - x): the program a long run stopped at (seed 1002)
CANCELLING = Program(((3, 3),), (("sub", (0, 0), None), ("sub", (1, 0), None),
                                 ("sum", (2,), None)), (3,))
X = np.array([[1.00000002e30, 0.3, -1.00000002e30],
              [0.5, -1.2, 1e30],
              [0.7, -1e30, 0.2]])


def _check(got, want, program, fn, *args, dtype=np.float64):
    """The fuzzer's comparison of a result ``got`` against eager ``want`` of dtype."""
    agree("test", program, (np.asarray(got, dtype),), (np.asarray(want, dtype),),
          bound=bounded(fn, *args))


def _orders(terms):
    """The sum of ``terms`` in several orders: pairwise (numpy), left to right, right to
    left, sorted by magnitude, and exactly rounded (fsum)."""
    return [float(np.sum(terms)), _left(terms), _left(terms[::-1]),
            _left(sorted(terms, key=abs)), math.fsum(terms)]


def _left(ts):
    s = 0.0
    for t in ts:
        s += t
    return s


def test_reassociated_cancelling_sums_pass():
    f = _fn(CANCELLING)
    want = float(f(X)[0])
    terms = list(-X.ravel())
    orders = _orders(terms)
    assert len({round(o, 6) for o in orders}) > 1     # the orders really differ
    for got in orders:
        _check(got, want, CANCELLING, f, X)
    # without the bound these differences are failures: the bound decides them
    with pytest.raises(AssertionError, match="differs"):
        agree("test", CANCELLING, (np.asarray(orders[-1]),), (np.asarray(want),))


def test_reassociated_float32_sums_pass():
    x = X.astype(np.float32)
    f = _fn(CANCELLING)
    want = np.float32(f(x)[0])
    for got in _orders(list((-x.astype(np.float64)).ravel())):
        _check(np.float32(got), want, CANCELLING, f, x, dtype=np.float32)


def test_a_dropped_term_fails():
    f = _fn(CANCELLING)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 3))
    want = float(f(x)[0])
    _check(-math.fsum(x.ravel()), want, CANCELLING, f, x)       # another order: fine
    with pytest.raises(AssertionError, match="differs"):
        _check(-math.fsum(x.ravel()[1:]), want, CANCELLING, f, x)
    # with cancelling +-1e30 the bound is ~1e16: dropping a 1e30 term still fails
    want = float(f(X)[0])
    with pytest.raises(AssertionError, match="differs"):
        _check(-math.fsum(X.ravel()[:-2]), want, CANCELLING, f, X)


def test_a_sign_flip_fails():
    f = _fn(CANCELLING)
    x = np.random.default_rng(1).standard_normal((3, 3))
    want = float(f(x)[0])
    with pytest.raises(AssertionError, match="differs"):
        _check(-want, want, CANCELLING, f, x)


def test_a_wrong_gradient_beside_a_cancelling_sum_fails():
    """value_and_grad of the cancelling program: the loss may move by the bound, the
    (exact, constant) gradient may not."""
    loss = _loss(CANCELLING)
    vg = ft.value_and_grad(loss)
    value, grad = vg(X)
    value, grad = np.asarray(value), np.asarray(grad)
    b = bounded(vg, X)
    agree("test", CANCELLING, (value + 1e14, grad), (value, grad), bound=b)
    bad = grad.copy()
    bad[0, 0] *= -1
    with pytest.raises(AssertionError, match="output 1"):
        agree("test", CANCELLING, (value, bad), (value, grad), bound=b)


def test_radii_of_well_conditioned_programs_are_a_few_ulps():
    x = np.random.default_rng(2).standard_normal((3, 4))
    for fn in (lambda a: ft.exp(a) * a - 1, lambda a: ft.sum(ft.square(a), axis=0),
               lambda a: ft.tanh(a) @ ft.transpose(a), lambda a: ft.max(ft.sin(a), axis=1),
               lambda a: ft.cumsum(a + 2, axis=1), lambda a: ft.prod(a + 3, axis=0)):
        for dtype in (np.float32, np.float64):
            (c,), (r,) = radii(fn, x.astype(dtype))
            assert np.all(r <= 64 * np.finfo(dtype).eps * (1 + np.abs(c))), (c, r)


def test_radii_are_unbounded_where_the_class_may_change():
    """log of a sum that may be negative, a division by a sum that may be 0, a product
    that may overflow in some order: no bound (any value, NaN or inf, is an order's)."""
    s = lambda a: ft.sum(a)                                     # noqa: E731
    for fn in (lambda a: ft.log(s(a)), lambda a: 1.0 / s(a)):
        (_,), (r,) = radii(fn, X)
        assert r == np.inf
    (_,), (r,) = radii(lambda a: ft.prod(a), np.array([3e38, 3e38, 0.0], np.float32))
    assert r == np.inf
    # but an exact zero factor with no overflow gives an exact zero, and a NaN term a NaN
    (_,), (r,) = radii(lambda a: ft.prod(a), np.array([1e30, 0.0, 2.0], np.float32))
    assert r == 0
    (c,), (r,) = radii(lambda a: ft.sum(a), np.array([1.0, np.nan, 2.0]))
    assert np.isnan(c) and r == 0
