"""Random keys, JAX-style."""

from __future__ import annotations

import numpy as np
import pytest

import funtorch as ft

from .common import assert_same


class TestRandom:
    def test_keys_are_plain_uint32_pairs(self):
        k = ft.random.key(0)
        assert isinstance(k, ft.Array) and k.dtype == np.uint32 and k.shape == (2,)
        assert np.asarray(ft.random.key(42)).tolist() == [0, 42]
        assert np.asarray(ft.random.PRNGKey(7)).tolist() == [0, 7]
        assert np.asarray(ft.random.key(np.int64(3))).tolist() == [0, 3]

    def test_split_of_key_zero_matches_jax(self):
        # jax.random.split(jax.random.key(0)) with JAX's default (partitionable) threefry
        assert np.asarray(ft.random.split(ft.random.key(0))).tolist() == [
            [1797259609, 2579123966], [928981903, 3453687069]]
        assert_same(ft.random.split(ft.random.key(0)), ft.random.split(ft.random.key(0), num=2))

    @pytest.mark.parametrize("num,shape", [(2, (2, 2)), (3, (3, 2)), (1, (1, 2)),
                                           ((2, 3), (2, 3, 2))])
    def test_split_shapes(self, num, shape):
        assert ft.random.split(ft.random.key(0), num).shape == shape

    @pytest.mark.parametrize("fn,shape,dtype", [
        (lambda k: ft.random.uniform(k), (), np.float32),
        (lambda k: ft.random.uniform(k, (3,)), (3,), np.float32),
        (lambda k: ft.random.uniform(k, [2, 3]), (2, 3), np.float32),
        (lambda k: ft.random.uniform(k, (2,), dtype=ft.float16), (2,), np.float16),
        (lambda k: ft.random.uniform(k, (2,), ft.bfloat16), (2,), ft.bfloat16),
        (lambda k: ft.random.uniform(k, (2,), dtype=ft.float64), (2,), np.float64),
        (lambda k: ft.random.normal(k), (), np.float32),
        (lambda k: ft.random.normal(k, (4, 1)), (4, 1), np.float32),
        (lambda k: ft.random.normal(k, (3,), dtype=ft.float16), (3,), np.float16),
        (lambda k: ft.random.bernoulli(k), (), np.bool_),
        (lambda k: ft.random.bernoulli(k, 0.3, (5,)), (5,), np.bool_),
        (lambda k: ft.random.bernoulli(k, ft.tensor([0.0, 1.0])), (2,), np.bool_),
        (lambda k: ft.random.randint(k, (5,), 0, 10), (5,), np.int64),
        (lambda k: ft.random.randint(k, (5,), 0, 10, dtype=ft.int32), (5,), np.int32),
        (lambda k: ft.random.randint(k, shape=(2,), minval=3, maxval=4), (2,), np.int64),
        (lambda k: ft.random.permutation(k, 5), (5,), np.int64),
        (lambda k: ft.random.permutation(k, ft.arange(10.0).reshape(5, 2)), (5, 2), np.float32),
        (lambda k: ft.random.categorical(k, ft.zeros((3, 4))), (3,), np.int64),
        (lambda k: ft.random.categorical(k, ft.zeros((3, 4)), axis=0), (4,), np.int64),
        (lambda k: ft.random.categorical(k, ft.zeros(4), shape=(5,)), (5,), np.int64),
        (lambda k: ft.random.bits(k), (), np.uint32),
        (lambda k: ft.random.bits(k, (2, 2)), (2, 2), np.uint32),
        (lambda k: ft.random.bits(k, (3,), dtype=ft.uint8), (3,), np.uint8),
        (lambda k: ft.random.fold_in(k, 5), (2,), np.uint32),
        (lambda k: ft.random.fold_in(k, ft.tensor(5)), (2,), np.uint32),
        (lambda k: ft.random.split(k), (2, 2), np.uint32),
    ])
    def test_shapes_dtypes_jit_vmap(self, fn, shape, dtype):
        k = ft.random.key(3)
        out = fn(k)
        assert out.shape == shape and out.dtype == np.dtype(dtype)
        assert_same(fn(k), out)                                       # deterministic
        assert_same(ft.jit(fn)(k), out, rtol=1e-6, atol=1e-7)
        ks = ft.random.split(k, 3)
        want = np.stack([np.asarray(fn(kk)) for kk in ks])
        assert_same(ft.vmap(fn)(ks), want, rtol=1e-6, atol=1e-7)
        assert_same(ft.jit(ft.vmap(fn))(ks), want, rtol=1e-6, atol=1e-7)

    def test_value_ranges(self):
        k = ft.random.key(0)
        u = np.asarray(ft.random.uniform(k, (2000,), minval=-2, maxval=-1))
        assert u.min() >= -2 and u.max() < -1
        r = np.asarray(ft.random.randint(k, (2000,), -3, 2))
        assert set(r.tolist()) == {-3, -2, -1, 0, 1}
        p = np.asarray(ft.random.permutation(k, 50))
        assert sorted(p.tolist()) == list(range(50))
        b = np.asarray(ft.random.bernoulli(k, 0.2, (5000,)))
        assert 0.17 < b.mean() < 0.23
        n = np.asarray(ft.random.normal(k, (5000,)))
        assert abs(n.mean()) < 0.06 and abs(n.std() - 1) < 0.05

    def test_keys_are_independent_and_traced_seeds_work(self):
        k = ft.random.key(0)
        k1, k2 = ft.random.split(k)
        assert not np.array_equal(np.asarray(ft.random.uniform(k1, (4,))),
                                  np.asarray(ft.random.uniform(k2, (4,))))
        assert_same(ft.jit(ft.random.key)(ft.tensor(3)), ft.random.key(3))
        assert_same(ft.vmap(ft.random.key)(ft.arange(3)),
                    np.array([[0, 0], [0, 1], [0, 2]], np.uint32))

    def test_samples_have_no_gradient(self):
        g = ft.grad(lambda s: ft.sum(ft.random.normal(ft.random.key(0), (3,)) * s))(2.0)
        assert np.isfinite(float(g))

    def test_errors(self):
        with pytest.raises(TypeError, match=r"uniform.*key.*f32\[2\]"):
            ft.random.uniform(ft.ones(2), (2,))
        with pytest.raises(TypeError, match=r"key.*integer"):
            ft.random.key(1.5)
        with pytest.raises(TypeError, match=r"uniform.*float.*int32"):
            ft.random.uniform(ft.random.key(0), (2,), dtype=ft.int32)
        with pytest.raises(TypeError, match=r"split.*u32\[3\]"):
            ft.random.split(ft.ones(3, ft.uint32))
