"""funtorch.random: JAX's bits (against stored JAX outputs), distributions, transformations
and errors. The reference vectors come from tests/data/make_jax_random_vectors.py."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import funtorch as ft

DATA = os.path.join(os.path.dirname(__file__), "data")
sys.path.insert(0, DATA)
from make_jax_random_vectors import CASES, ERF_INV_X, run_case, storable  # noqa: E402

REF = np.load(os.path.join(DATA, "jax_random.npz"))
JAX = f"JAX {REF['jax_version']}"
KEY = ft.random.key(0)


# --------------------------------------------------------------------------- JAX's bits

@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_jax(case):
    got, want = storable(run_case(ft.random, case)), REF[case["name"]]
    assert got.shape == want.shape, f"{case['name']} vs {JAX}"
    if want.dtype.kind == "i":
        # JAX's default 32-bit mode returns int32 indices where funtorch returns int64
        np.testing.assert_array_equal(got, want, err_msg=f"{case['name']} vs {JAX}")
        return
    assert got.dtype == want.dtype, f"{case['name']} vs {JAX}"
    if case["tol"]:
        eps = np.finfo(want.dtype).eps
        np.testing.assert_allclose(got, want, rtol=case["tol"] * eps,
                                   atol=case["tol"] * eps, err_msg=f"{case['name']} vs {JAX}")
    else:
        np.testing.assert_array_equal(got, want, err_msg=f"{case['name']} vs {JAX}")


def test_erf_inv_matches_xla():
    """Same polynomial, log1p and rounding steps as XLA: bit for bit."""
    got, want = np.asarray(ft.lax.erf_inv(ft.asarray(ERF_INV_X))), REF["erf_inv_y"]
    np.testing.assert_array_equal(got, want, err_msg=JAX)


def test_threefry_known_answers():
    """Random123's published test vectors for threefry-2x32 with 20 rounds."""
    vectors = [((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
               ((0xFFFFFFFF,) * 2, (0xFFFFFFFF,) * 2, (0x1CB996FC, 0xBB002BE7)),
               ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0))]
    for key, ctr, want in vectors:
        args = [ft.asarray(np.uint32(v)) for v in (*key, *ctr)]
        assert [int(w) for w in ft.lax.threefry2x32(*args)] == list(want)


# --------------------------------------------------------------------------- distributions

def _keys(n):
    return ft.random.split(ft.random.key(1234), n)


def test_uniform_moments_and_range():
    k1, k2 = _keys(2)
    u = np.asarray(ft.random.uniform(k1, (100_000,)))
    assert u.dtype == np.float32 and u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    v = np.asarray(ft.random.uniform(k2, (50_000,), minval=-2.0, maxval=3.0))
    assert v.min() >= -2 and v.max() < 3 and abs(v.mean() - 0.5) < 0.05
    lo = np.asarray(ft.random.uniform(k2, (4, 3), minval=ft.arange(3.0), maxval=10.0))
    assert (lo >= np.arange(3.0)).all() and (lo < 10).all()


def test_normal_moments():
    x = np.asarray(ft.random.normal(_keys(1)[0], (100_000,)))
    assert abs(x.mean()) < 0.02 and abs(x.std() - 1) < 0.01
    assert abs(np.mean(np.abs(x) > 2) - 0.0455) < 0.004
    assert np.isfinite(x).all()


def test_truncated_normal_stays_inside():
    x = np.asarray(ft.random.truncated_normal(_keys(1)[0], -0.5, ft.asarray([0.0, 1.0, 3.0]),
                                              (2000, 3)))
    assert (x > -0.5).all() and (x < [0.0, 1.0, 3.0]).all()
    assert abs(x[:, 2].mean() - 0.48) < 0.05   # E[X | -0.5 < X < 3]


def test_bernoulli_frequency():
    b = np.asarray(ft.random.bernoulli(_keys(1)[0], 0.3, (100_000,)))
    assert b.dtype == np.bool_ and abs(b.mean() - 0.3) < 0.007
    per = np.asarray(ft.random.bernoulli(_keys(2)[1], ft.asarray([0.0, 1.0]), (1000, 2)))
    assert not per[:, 0].any() and per[:, 1].all()


@pytest.mark.parametrize("lo,hi,dtype", [(-3, 4, ft.int64), (-128, 128, ft.int8),
                                         (0, 256, ft.uint8), (-2**40, 2**40, ft.int64),
                                         (0, 2, ft.int32)])
def test_randint_range_includes_both_edges(lo, hi, dtype):
    r = np.asarray(ft.random.randint(_keys(1)[0], (20_000,), lo, hi, dtype))
    assert r.dtype == dtype and r.min() >= lo and r.max() <= hi - 1
    if hi - lo <= 256:
        counts = np.bincount(r.astype(np.int64) - lo, minlength=hi - lo)
        expected = len(r) / (hi - lo)
        assert (np.abs(counts - expected) < 5 * np.sqrt(expected) + 1).all()
    else:
        assert r.min() < lo // 2 and r.max() > hi // 2


def test_randint_full_dtype_range():
    r = np.asarray(ft.random.randint(_keys(1)[0], (1000,), -2**31, 2**31, ft.int32))
    assert r.min() < -2**30 and r.max() > 2**30


def test_permutation_is_a_permutation():
    k = _keys(1)[0]
    for n in (1, 7, 2000):   # 2000 elements take two sort rounds
        assert sorted(np.asarray(ft.random.permutation(k, n)).tolist()) == list(range(n))
    x = np.arange(24.0).reshape(6, 4)
    rows = np.asarray(ft.random.permutation(k, x))
    assert sorted(map(tuple, rows)) == sorted(map(tuple, x)) and not (rows == x).all()
    cols = np.asarray(ft.random.permutation(k, x, axis=1, independent=True))
    assert (np.sort(cols, axis=1) == x).all()
    assert len({tuple(np.argsort(c)) for c in cols}) > 1


def test_categorical_frequencies_match_softmax():
    logits = np.array([0.0, 1.0, 2.0, -1.0], np.float32)
    draws = np.asarray(ft.random.categorical(_keys(1)[0], logits, shape=(50_000,)))
    freq = np.bincount(draws, minlength=4) / len(draws)
    softmax = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(freq, softmax, atol=0.01)
    batch = ft.random.categorical(_keys(1)[0], ft.log(ft.asarray([[0.0, 1.0], [1.0, 0.0]])), axis=0,
                                  shape=(5, 2))
    assert (np.asarray(batch) == [1, 0]).all()


def test_choice():
    k = _keys(1)[0]
    s = np.asarray(ft.random.choice(k, 10, (5,), replace=False))
    assert len(set(s.tolist())) == 5 and s.min() >= 0 and s.max() < 10
    rows = np.asarray(ft.random.choice(k, np.arange(12.0).reshape(4, 3), (2,), replace=False))
    assert rows.shape == (2, 3) and (rows[:, 1] - rows[:, 0] == 1).all()
    p = np.array([0.1, 0.0, 0.9], np.float32)
    d = np.asarray(ft.random.choice(k, 3, (20_000,), p=p))
    np.testing.assert_allclose(np.bincount(d, minlength=3) / len(d), p, atol=0.01)
    top = np.asarray(ft.random.choice(k, 3, (2,), replace=False, p=p))
    assert 1 not in top.tolist()


# --------------------------------------------------------------------------- keys, jit, vmap

def test_keys_are_plain_uint32_arrays():
    k = ft.random.PRNGKey(42)
    assert isinstance(k, ft.Array) and k.shape == (2,) and k.dtype == ft.uint32
    assert np.asarray(ft.random.key(np.int32(42))).tolist() == [0, 42]
    assert np.asarray(ft.random.key(ft.asarray(-7))).tolist() == [0, 2**32 - 7]


def test_deterministic_and_independent():
    a, b = ft.random.split(KEY)
    assert np.array_equal(ft.random.normal(a, (5,)), ft.random.normal(a, (5,)))
    assert not np.array_equal(ft.random.normal(a, (5,)), ft.random.normal(b, (5,)))
    assert not np.array_equal(ft.random.fold_in(KEY, 1), ft.random.fold_in(KEY, 2))


SAMPLERS = {
    "split": lambda k: ft.random.split(k, 3),
    "fold_in": lambda k: ft.random.fold_in(k, 7),
    "bits64": lambda k: ft.random.bits(k, (5,), ft.uint64),
    "uniform": lambda k: ft.random.uniform(k, (2, 3), minval=-1.0, maxval=2.0),
    "normal": lambda k: ft.random.normal(k, (4,)),
    "truncated_normal": lambda k: ft.random.truncated_normal(k, -1.0, 2.0, (4,)),
    "bernoulli": lambda k: ft.random.bernoulli(k, 0.4, (6,)),
    "randint": lambda k: ft.random.randint(k, (6,), -5, 5),
    "permutation": lambda k: ft.random.permutation(k, ft.arange(8.0)),
    "categorical": lambda k: ft.random.categorical(k, ft.zeros((3, 4))),
    "choice": lambda k: ft.random.choice(k, 10, (3,), p=ft.ones(10) / 10),
}


# transcendental samplers go through log/erf_inv: compiled code and numpy may differ by
# an ulp there (the contract is "normal agrees to float32 rounding"); the rest are exact
_ULP_TOLERANT = {"normal", "truncated_normal"}


def _same(a, b, name):
    if name in _ULP_TOLERANT:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    else:
        assert np.array_equal(a, b)


@pytest.mark.parametrize("name", SAMPLERS)
def test_jit_and_vmap_agree_with_eager(name):
    f = SAMPLERS[name]
    _same(ft.jit(f)(KEY), f(KEY), name)
    keys = ft.random.split(KEY, 3)
    loop = np.stack([np.asarray(f(keys[i])) for i in range(3)])
    _same(ft.vmap(f)(keys), loop, name)
    _same(ft.jit(ft.vmap(f))(keys), loop, name)


def test_vmap_over_seeds_data_and_bounds():
    seeds = ft.arange(4)
    assert np.array_equal(ft.vmap(ft.random.key)(seeds),
                          np.stack([ft.random.key(i) for i in range(4)]))
    folded = ft.vmap(lambda d: ft.random.fold_in(KEY, d))(seeds)
    assert np.array_equal(folded[3], ft.random.fold_in(KEY, 3))
    lo = ft.asarray([0.0, 10.0])
    got = ft.vmap(lambda m: ft.random.uniform(KEY, (3,), minval=m, maxval=m + 1))(lo)
    assert np.array_equal(got[1], ft.random.uniform(KEY, (3,), minval=10.0, maxval=11.0))


def test_samples_are_constants_for_grad():
    g = ft.grad(lambda mu: ft.sum(mu + 2.0 * ft.random.normal(KEY, (3,))))(1.0)
    assert float(g) == 3.0
    g = ft.grad(lambda s: ft.sum(ft.random.uniform(KEY, (4,), minval=-s, maxval=s)))(1.0)
    u = np.asarray(ft.random.uniform(KEY, (4,)))
    np.testing.assert_allclose(float(g), np.sum(2 * u - 1), rtol=1e-5)


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call,err,match", [
    (lambda: ft.random.normal(ft.zeros(2, ft.uint32).astype(ft.int64)), TypeError,
     "expected a key"),
    (lambda: ft.random.uniform(ft.zeros(3, ft.uint32)), TypeError, "shape \\(2,\\)"),
    (lambda: ft.random.normal(ft.random.split(KEY, 4)), ValueError, "ft.vmap"),
    (lambda: ft.random.key(1.5), TypeError, "integer scalar seed"),
    (lambda: ft.random.key(ft.arange(2)), TypeError, "vmap"),
    (lambda: ft.random.fold_in(KEY, ft.arange(3)), TypeError, "scalar"),
    (lambda: ft.random.bits(KEY, (2,), ft.int32), TypeError, "unsigned"),
    (lambda: ft.random.uniform(KEY, (2,), ft.int32), TypeError, "float dtype"),
    (lambda: ft.random.normal(KEY, (2, -1)), ValueError, "negative dimension"),
    (lambda: ft.random.normal(KEY, (2.5,)), TypeError, "tuple of ints"),
    (lambda: ft.random.uniform(KEY, (2,), minval=1.0, maxval=1.0), ValueError,
     "minval < maxval"),
    (lambda: ft.random.uniform(KEY, (2,), minval=ft.zeros(3)), ValueError, "broadcast"),
    (lambda: ft.random.randint(KEY, (2,), 5, 3), ValueError, "minval < maxval"),
    (lambda: ft.random.randint(KEY, (2,), 0.0, 3), TypeError, "integers"),
    (lambda: ft.random.randint(KEY, (2,), 0, 3, ft.float32), TypeError, "integer dtype"),
    (lambda: ft.random.bernoulli(KEY, 1), TypeError, "float"),
    (lambda: ft.random.bernoulli(KEY, ft.ones(3) / 2, (2,)), ValueError, "broadcast"),
    (lambda: ft.random.truncated_normal(KEY, 1.0, -1.0), ValueError, "lower < upper"),
    (lambda: ft.random.categorical(KEY, ft.arange(3)), TypeError, "floats"),
    (lambda: ft.random.categorical(KEY, ft.zeros((2, 3)), shape=(4,)), ValueError,
     "broadcast to shape"),
    (lambda: ft.random.choice(KEY, 3, (5,), replace=False), ValueError, "without replacement"),
    (lambda: ft.random.permutation(KEY, 2.5), TypeError, "int"),
    (lambda: ft.jit(lambda n: ft.random.permutation(KEY, n))(5), ft.ConcretizationTypeError,
     "int"),
    (lambda: ft.jit(ft.lax.threefry2x32)(*[ft.zeros(2, ft.uint32)] * 3, ft.zeros(3, ft.uint32)),
     TypeError, "one shape"),
])
def test_clear_errors(call, err, match):
    with pytest.raises(err, match=match):
        call()
