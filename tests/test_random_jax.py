"""The samplers against live JAX, bit for bit, over many shapes and every float dtype
(the stored vectors of tests/data/jax_random.npz check the same without JAX)."""

from __future__ import annotations

import numpy as np
import pytest

import funtorch as ft

jax = pytest.importorskip("jax")
jnp = jax.numpy

SHAPES = [(), (3, 1, 5), (64, 33)]
FLOATS = ["float32", "float16", "bfloat16", "float64"]


def _bits(a):
    a = np.asarray(a)
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.kind in "fV" or a.dtype.itemsize == 2 \
        and a.dtype.kind not in "iub" else a


def _same(got, want, what, eager_f64=False):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (what, got.dtype, want.dtype)
    bad = (_bits(got) != _bits(want)) & ~(np.isnan(got.astype(np.float64)) & np.isnan(
        want.astype(np.float64)) if want.dtype.kind not in "iub" else True)
    if eager_f64 and want.dtype == np.float64:
        # numpy's own float64 log may differ from the C library's (XLA's) in the last bit
        # (gumbel's outer log can widen one ulp of its inner log to a few)
        assert bad.mean() <= 0.01, what
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-300, err_msg=what)
    else:
        assert not bad.any(), f"{what}: {bad.sum()} of {bad.size} values differ from JAX"


def _jax(fn, dtype):
    with jax.enable_x64(dtype in ("float64", "int64")):
        return np.asarray(fn())


# name -> (funtorch sampler, JAX sampler), as functions of (random, key, shape, dtype)
SAMPLERS = {
    "uniform": lambda r, k, s, d: r.uniform(k, s, d),
    "uniform(-3, 2.5)": lambda r, k, s, d: r.uniform(k, s, d, -3.0, 2.5),
    "normal": lambda r, k, s, d: r.normal(k, s, d),
    "gumbel": lambda r, k, s, d: r.gumbel(k, s, d),
    "gumbel high": lambda r, k, s, d: r.gumbel(k, s, d, mode="high"),
}


@pytest.mark.parametrize("dtype", FLOATS)
def test_float_samplers_are_jaxs_bits(dtype):
    for seed, shape in enumerate(SHAPES):
        jk, fk = jax.random.PRNGKey(seed), ft.random.key(seed)
        # one JAX compilation per shape and dtype for all the samplers
        with jax.enable_x64(dtype == "float64"):
            wants = {n: np.asarray(w) for n, w in jax.jit(lambda k, s=shape: {
                n: f(jax.random, k, s, dtype) for n, f in SAMPLERS.items()})(jk).items()}
            # on its own: inside a larger jit, XLA folds erf of constant bounds at compile
            # time (with the C library's erf), so JAX's own bits depend on the context
            wants["truncated_normal"] = np.asarray(
                jax.random.truncated_normal(jk, -2.0, 1.5, shape, dtype))
        samplers = dict(SAMPLERS, truncated_normal=lambda r, k, s, d: r.truncated_normal(
            k, -2.0, 1.5, s, d))
        for name, f in samplers.items():
            what = f"{name} {dtype} {shape}"
            _same(f(ft.random, fk, shape, dtype), wants[name], what, eager_f64=True)
            if shape == SHAPES[-1] and name in ("normal", "gumbel") and dtype in (
                    "float32", "float64"):
                _same(ft.jit(lambda k, f=f, s=shape: f(ft.random, k, s, dtype))(fk), wants[name],
                      what + " (jit)")


def test_truncated_normal_array_bounds_and_bernoulli():
    lo = np.array([-3.0, -0.5, 0.25], np.float32)
    hi = np.array([-1.0, 0.5, 4.0], np.float32)
    for seed, shape in enumerate([(3,), (50, 3)]):
        jk, fk = jax.random.PRNGKey(seed), ft.random.key(seed)
        _same(ft.random.truncated_normal(fk, lo, hi, shape),
              jax.random.truncated_normal(jk, lo, hi, shape), f"truncated_normal {shape}")
        for dtype in ("float32", "float16", "bfloat16"):
            p = np.array([0.1, 0.5, 0.93]).astype(jnp.dtype(dtype))
            _same(ft.random.bernoulli(fk, p, shape), jax.random.bernoulli(jk, p, shape),
                  f"bernoulli {dtype} {shape}")
        _same(ft.random.bernoulli(fk, 0.3, shape), jax.random.bernoulli(jk, 0.3, shape),
              f"bernoulli {shape}")


def test_categorical_randint_permutation_are_jaxs():
    logits = np.random.default_rng(0).standard_normal((5, 11)).astype(np.float32)
    for seed in (0,):
        jk, fk = jax.random.PRNGKey(seed), ft.random.key(seed)
        for axis, shape in ((-1, None), (-1, (7, 5)), (0, (11,)), (0, (3, 11))):
            want = np.asarray(jax.random.categorical(jk, logits, axis, shape=shape))
            got = np.asarray(ft.random.categorical(fk, logits, axis, shape=shape))
            np.testing.assert_array_equal(got, want, err_msg=f"categorical {axis} {shape}")
        for dtype in ("float16", "bfloat16"):
            lg = logits.astype(jnp.dtype(dtype))
            np.testing.assert_array_equal(ft.random.categorical(fk, lg),
                                          jax.random.categorical(jk, lg))
        for shape, lo, hi, dtype in (((9,), 0, 10, "int32"), ((4, 6), -50, 7, "int32"),
                                     ((33,), 0, 256, "uint8"), ((5, 5), -2**40, 2**40, "int64"),
                                     ((17,), 3, 2**31 - 1, "int32")):
            want = _jax(lambda jk=jk, s=shape, lo=lo, hi=hi, d=dtype:
                        jax.random.randint(jk, s, lo, hi, d), dtype)
            np.testing.assert_array_equal(ft.random.randint(fk, shape, lo, hi, dtype), want,
                                          err_msg=f"randint {shape} {dtype}")
        for n in (1, 10, 3000):    # 3000: two sorting rounds
            np.testing.assert_array_equal(ft.random.permutation(fk, n),
                                          jax.random.permutation(jk, n))
        x = np.arange(24.0, dtype=np.float32).reshape(6, 4)
        np.testing.assert_array_equal(ft.random.permutation(fk, x, axis=1),
                                      jax.random.permutation(jk, x, axis=1))
        np.testing.assert_array_equal(ft.random.permutation(fk, x, independent=True),
                                      jax.random.permutation(jk, x, independent=True))


def test_xla_math_is_jaxs_on_cpu():
    """The building blocks, over wide ranges (16-bit floats through float32)."""
    special = ft.lax.special
    rng = np.random.default_rng(0)
    for dtype in ("float32", "float16", "bfloat16"):
        dt = jnp.dtype(dtype)
        with np.errstate(over="ignore"):     # e**40 is inf in float16, as it should be
            pos = np.concatenate([rng.random(3000) * 10,
                                  np.exp(rng.standard_normal(3000) * 20),
                                  [0.0, 1e-40, np.inf, -1.0, np.nan, 1.0]]).astype(dt)
        l1 = np.concatenate([-rng.random(3000), rng.random(3000) * 3,
                             (rng.random(3000) - 0.5) * 1e-3, [-1.0, 0.0]]).astype(dt)
        ex = np.concatenate([rng.standard_normal(3000) * 2.5, [0.0, 5.0, -4.0]]).astype(dt)
        for name, ours, theirs, x in (
                ("log", special.xla_log, jnp.log, pos),
                ("log1p", special.xla_log1p, jnp.log1p, l1),
                ("erf", special.xla_erf, jax.lax.erf, ex),
                ("erf_inv", ft.lax.erf_inv, jax.lax.erf_inv, np.clip(ex / 4, -1, 1).astype(dt))):
            _same(ours(ft.asarray(x)), jax.jit(theirs)(x), f"{name} {dtype}")
