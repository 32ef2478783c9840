"""Reference outputs of ``jax.random`` for tests/test_random.py (stored in jax_random.npz).

funtorch.random promises JAX's bits for the same key, so the tests compare against
vectors that JAX itself produced. JAX is not needed at test time. To regenerate (in a
scratch environment, never the project's venv)::

    python3 -m venv /tmp/jaxenv && /tmp/jaxenv/bin/pip install jax
    /tmp/jaxenv/bin/python tests/data/make_jax_random_vectors.py

``CASES`` is shared with the tests: each case names a function that ``jax.random`` and
``funtorch.random`` both have, the key it gets and its keyword arguments, so one table
drives both sides. JAX runs in its default configuration (32-bit mode, partitionable
threefry) except for cases marked ``x64``, which need 64-bit types and run with
``jax_enable_x64``.
"""

from __future__ import annotations

import os

import numpy as np

# A key is a seed, or (seed, (num, index), ...): split(key, num)[index], applied in turn.
# Seeds cover 32-bit edges, a large Python int and a negative one (JAX's default mode
# keeps only the low 32 bits).
SEEDS = [0, 1, 42, 2**31, 2**32 - 1, 2**40 + 5, 12345678901234567, -7]
NESTED = (42, (3, 1), (2, 0))
LOGITS = np.array([[0.0, 1.0, 2.0, -1.0], [3.0, -2.0, 0.5, 0.0], [1.0, 1.0, 1.0, 1.0]],
                  np.float32)


def _case(name, fn, key, tol=0, x64=False, **kwargs):
    """``tol``: 0 for bit-exact, else the allowed error in units of float32 epsilon."""
    return dict(name=name, fn=fn, key=key, kwargs=kwargs, tol=tol, x64=x64)


CASES = (
    [_case(f"key_{i}", "PRNGKey", None, seed=s) for i, s in enumerate(SEEDS)]
    + [_case(f"split_{s}_{n}", "split", s, num=n) for s in (0, 42) for n in (2, 3, 5)]
    + [_case("split_shape", "split", 7, num=(2, 3)),
       _case("split_nested", "split", NESTED, num=4)]
    + [_case(f"fold_in_{s}_{d}", "fold_in", s, data=d)
       for s in (0, 42) for d in (0, 1, 7, 2**31, 2**32 - 1)]
    + [_case("fold_in_nested", "fold_in", NESTED, data=3)]
    + [_case(f"bits_{s}_{'x'.join(map(str, sh))}", "bits", s, shape=sh)
       for s in (0, 42, 2**32 - 1) for sh in ((), (3,), (2, 5), (7,), (0,), (3, 1, 3))]
    + [_case(f"bits_{d}", "bits", 1, shape=(7,), dtype=d) for d in ("uint8", "uint16")]
    + [_case("bits_uint64", "bits", 1, shape=(2, 3), dtype="uint64", x64=True)]
    + [_case(f"uniform_{s}_{'x'.join(map(str, sh))}", "uniform", s, shape=sh)
       for s in (0, 42) for sh in ((), (7,), (2, 5))]
    + [_case("uniform_range", "uniform", 3, shape=(9,), minval=-2.0, maxval=3.0),
       _case("uniform_array_range", "uniform", 4, shape=(2, 3),
             minval=np.array([0.0, 1.0, 2.0], np.float32), maxval=10.0),
       _case("uniform_float16", "uniform", 5, shape=(7,), dtype="float16"),
       _case("uniform_bfloat16", "uniform", 5, shape=(7,), dtype="bfloat16"),
       _case("uniform_float64", "uniform", 5, shape=(7,), dtype="float64", x64=True),
       _case("uniform_nested", "uniform", NESTED, shape=(5,))]
    + [_case("normal_0", "normal", 0, shape=(2000,)),
       _case("normal_42", "normal", 42, shape=(2, 5)),
       _case("normal_scalar", "normal", 1),
       _case("normal_float64", "normal", 5, shape=(50,), dtype="float64", x64=True),
       _case("truncated_normal", "truncated_normal", 6, lower=-1.0, upper=2.0,
             shape=(200,))]
    + [_case("bernoulli_scalar_p", "bernoulli", 0, p=0.3, shape=(50,)),
       _case("bernoulli_array_p", "bernoulli", 1, p=np.array([0.1, 0.5, 0.9], np.float32)),
       _case("bernoulli_broadcast", "bernoulli", 2,
             p=np.array([0.1, 0.5, 0.9], np.float32), shape=(4, 3))]
    + [_case("randint_int32", "randint", 0, shape=(20,), minval=0, maxval=10, dtype="int32"),
       _case("randint_negative", "randint", 1, shape=(4, 5), minval=-5, maxval=5,
             dtype="int32"),
       _case("randint_single", "randint", 2, shape=(6,), minval=3, maxval=4, dtype="int32"),
       _case("randint_array_bounds", "randint", 3, shape=(2, 3),
             minval=np.array([0, 10, 100], np.int32), maxval=np.array([5, 20, 1000], np.int32),
             dtype="int32"),
       _case("randint_uint8_full", "randint", 4, shape=(16,), minval=0, maxval=256,
             dtype="uint8"),
       _case("randint_int8", "randint", 5, shape=(16,), minval=-100, maxval=100, dtype="int8"),
       _case("randint_int64", "randint", 6, shape=(20,), minval=0, maxval=10, dtype="int64",
             x64=True),
       _case("randint_int64_wide", "randint", 7, shape=(10,), minval=-2**40, maxval=2**40,
             dtype="int64", x64=True)]
    + [_case("permutation_int", "permutation", 0, x=10),
       _case("permutation_2d", "permutation", 1, x=np.arange(12, dtype=np.float32)
             .reshape(4, 3)),
       _case("permutation_two_rounds", "permutation", 2, x=2000)]
    + [_case("choice_int", "choice", 3, a=10, shape=(6,)),
       _case("choice_array_no_replace", "choice", 4, a=np.arange(8, dtype=np.float32),
             shape=(2, 3), replace=False),
       _case("choice_p", "choice", 5, a=4, shape=(20,),
             p=np.array([0.1, 0.2, 0.3, 0.4], np.float32)),
       _case("choice_p_no_replace", "choice", 6, a=6, shape=(4,), replace=False,
             p=np.array([0.3, 0.05, 0.2, 0.15, 0.1, 0.2], np.float32))]
    + [_case("categorical_1d", "categorical", 0, logits=LOGITS[0], shape=(100,)),
       _case("categorical_2d", "categorical", 1, logits=LOGITS),
       _case("categorical_axis0", "categorical", 2, logits=LOGITS, axis=0, shape=(5, 4))]
)

# erf_inv on a float32 grid that reaches into both polynomial branches (|x| near 1)
ERF_INV_X = np.concatenate([
    np.linspace(-0.999, 0.999, 201, dtype=np.float32),
    np.float32(1) - np.logspace(-7, -2, 30, dtype=np.float32),
    np.array([0.0, -0.0, 1.0, -1.0, 1e-30, -0.9999999], np.float32)])


def derive_key(random, key_spec):
    """The key of a case in a library that has ``PRNGKey`` and ``split``."""
    if isinstance(key_spec, int):
        return random.PRNGKey(key_spec)
    key = random.PRNGKey(key_spec[0])
    for num, index in key_spec[1:]:
        key = random.split(key, num)[index]
    return key


def run_case(random, case):
    if case["fn"] == "PRNGKey":
        return random.PRNGKey(case["kwargs"]["seed"])
    return getattr(random, case["fn"])(derive_key(random, case["key"]), **case["kwargs"])


def storable(x):
    """npz cannot hold bfloat16; keep its bits."""
    x = np.asarray(x)
    return x.view(np.uint16) if x.dtype.name == "bfloat16" else x


def main():
    import jax
    import jax.numpy as jnp

    assert jax.config.jax_threefry_partitionable, "expected JAX's current default"
    out = {"jax_version": np.array(jax.__version__)}
    for x64 in (False, True):
        jax.config.update("jax_enable_x64", x64)
        for case in CASES:
            if case["x64"] == x64:
                out[case["name"]] = storable(run_case(jax.random, case))
    jax.config.update("jax_enable_x64", False)
    out["erf_inv_x"] = ERF_INV_X
    out["erf_inv_y"] = np.asarray(jax.lax.erf_inv(jnp.asarray(ERF_INV_X)))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jax_random.npz")
    np.savez_compressed(path, **out)
    print(f"wrote {len(out)} arrays from JAX {jax.__version__} to {path}")


if __name__ == "__main__":
    main()
