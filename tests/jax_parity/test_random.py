"""Random keys and samplers against values printed by JAX."""

from __future__ import annotations

import numpy as np
import pytest

import funtorch as ft

from .common import X3, close, f32

# values printed by JAX 0.10.2 with its default (threefry, 32-bit) configuration

KEY = ft.random.key


def _u32(a):
    return np.asarray(a, np.uint32)


def test_keys_for_edge_seeds_and_traced_seeds():
    np.testing.assert_array_equal(KEY(2 ** 32 + 5), _u32([0, 5]))
    np.testing.assert_array_equal(KEY(-1), _u32([0, 4294967295]))
    np.testing.assert_array_equal(KEY(2 ** 31 - 1), _u32([0, 2147483647]))
    np.testing.assert_array_equal(ft.jit(KEY)(np.int32(42)), _u32([0, 42]))
    np.testing.assert_array_equal(ft.vmap(KEY)(np.arange(3, dtype=np.int32)),
                                  _u32([[0, 0], [0, 1], [0, 2]]))


def test_split_with_shape_and_num_and_fold_in_values():
    k = ft.random.split(KEY(1), (2, 3))
    assert k.shape == (2, 3, 2) and k.dtype == np.uint32
    np.testing.assert_array_equal(k, _u32(
        [[[507451445, 1853169794], [1948878966, 4237131848], [2441914641, 3819641963]],
         [[3568232559, 2761185182], [869452973, 3597360905], [3243370355, 1313272271]]]))
    np.testing.assert_array_equal(ft.random.split(KEY(7), 3), _u32(
        [[3625411723, 1954958720], [195045567, 4062205631], [966301609, 1948237315]]))
    assert ft.random.split(KEY(1), 0).shape == (0, 2)
    want = [[3716834203, 3481239269], [1946498123, 2217676430], [2305098257, 124646918],
            [3880073057, 2496797065]]
    for d, w in zip((0, 1, 123456, 2 ** 31 - 1), want):
        np.testing.assert_array_equal(ft.random.fold_in(KEY(3), d), _u32(w))
    np.testing.assert_array_equal(
        ft.jit(ft.random.fold_in)(KEY(3), np.uint32(1)), _u32(want[1]))
    np.testing.assert_array_equal(
        ft.vmap(lambda d: ft.random.fold_in(KEY(1), d))(np.arange(3, dtype=np.uint32)),
        _u32([[507451445, 1853169794], [1948878966, 4237131848], [2441914641, 3819641963]]))


def test_bits_in_narrow_widths():
    k = KEY(5)
    b8 = ft.random.bits(k, (3,), np.uint8)
    b16 = ft.random.bits(k, (3,), np.uint16)
    b32 = ft.random.bits(k, (2, 3))
    assert (b8.dtype, b16.dtype, b32.dtype) == (np.uint8, np.uint16, np.uint32)
    np.testing.assert_array_equal(b8, [134, 100, 144])
    np.testing.assert_array_equal(b16, [44166, 56420, 3984])
    np.testing.assert_array_equal(b32, [[2003086470, 3955154020, 3160280976],
                                        [408371909, 3927703089, 2910825445]])


def test_uniform_values_dtypes_and_bounds():
    k = KEY(11)
    u = ft.random.uniform(k, (4,))
    assert u.dtype == np.float32
    np.testing.assert_array_equal(u, np.array(
        [0.20978271961212158, 0.018746256828308105, 0.7274388074874878, 0.3450886011123657], f32))
    np.testing.assert_array_equal(ft.random.uniform(k, (2, 2), minval=-3.0, maxval=5.0), np.array(
        [[-1.3217382431030273, -2.850029945373535], [2.8195104598999023, -0.23929119110107422]],
        f32))
    u16 = ft.random.uniform(k, (4,), np.float16)
    assert u16.dtype == np.float16
    np.testing.assert_array_equal(u16, np.array([0.3271484375, 0.5595703125, 0.435546875,
                                                 0.7294921875], np.float16))
    np.testing.assert_array_equal(ft.random.uniform(KEY(3), [2, 2]),
                                  ft.random.uniform(KEY(3), (2, 2)))
    ua = ft.random.uniform(KEY(2), (3,), minval=np.array([0., 10., 20.], f32),
                           maxval=np.array([1., 11., 30.], f32))
    close(ua, [0.6407910585403442, 10.900602340698242, 22.30034065246582])
    with pytest.raises((TypeError, ValueError), match="float"):
        ft.random.uniform(k, (2,), np.int32)


def test_normal_bernoulli_randint_values():
    close(ft.random.normal(KEY(11), (4,)),
          [-0.8071751594543457, -2.080359697341919, 0.6050853133201599, -0.3986145555973053],
          rtol=2e-7, atol=2e-7)
    b = ft.random.bernoulli(KEY(4), 0.3, (10,))
    assert b.dtype == np.bool_
    np.testing.assert_array_equal(b, [0, 0, 1, 0, 0, 0, 1, 0, 0, 0])
    assert ft.random.bernoulli(KEY(4)).shape == ()
    assert ft.random.bernoulli(KEY(4), np.array([0.1, 0.9], f32)).shape == (2,)
    assert np.asarray(ft.random.bernoulli(KEY(3), 1.0, (5,))).all()
    assert not np.asarray(ft.random.bernoulli(KEY(3), 0.0, (5,))).any()
    r = ft.random.randint(KEY(9), (8,), -5, 5, dtype=np.int32)
    assert r.dtype == np.int32
    np.testing.assert_array_equal(r, [2, -4, -1, -2, -2, -1, 2, 2])


def test_permutation_and_categorical_values():
    np.testing.assert_array_equal(ft.random.permutation(KEY(8), 10),
                                  [4, 5, 7, 3, 9, 8, 1, 2, 6, 0])
    p = ft.random.permutation(KEY(8), np.arange(10, dtype=np.int32))
    assert p.dtype == np.int32
    m = np.arange(12, dtype=f32).reshape(4, 3)
    np.testing.assert_array_equal(ft.random.permutation(KEY(8), m),
                                  m[[3, 1, 2, 0]])
    np.testing.assert_array_equal(ft.random.permutation(KEY(8), m, axis=1), m[:, [1, 2, 0]])
    lg = np.log(np.array([0.1, 0.2, 0.7], f32))
    np.testing.assert_array_equal(ft.random.categorical(KEY(3), lg, shape=(8,)),
                                  [1, 0, 2, 1, 2, 2, 2, 2])
    np.testing.assert_array_equal(ft.random.categorical(KEY(3), np.stack([lg, lg[::-1]])),
                                  [1, 0])
    lg2 = np.log(np.array([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]], f32))
    np.testing.assert_array_equal(ft.random.categorical(KEY(3), lg2, axis=0), [1, 0, 0])


def test_random_broadcast_bounds_independent_permutation_and_edge_data():
    u = ft.random.uniform(KEY(4), (2, 3), minval=np.zeros(3, f32), maxval=np.ones((2, 1), f32))
    close(u, [[0.8805466890335083, 0.7698888778686523, 0.1400362253189087],
              [0.6309863328933716, 0.5013562440872192, 0.5932458639144897]], rtol=0, atol=0)
    ks = ft.random.split(KEY(2), 2)
    got = ft.vmap(lambda k: ft.random.permutation(
        k, np.arange(6, dtype=np.int32).reshape(2, 3), axis=1, independent=True))(ks)
    np.testing.assert_array_equal(got, [[[1, 2, 0], [5, 3, 4]], [[0, 2, 1], [5, 4, 3]]])
    np.testing.assert_array_equal(ft.random.split(KEY(1), np.int64(3)), ft.random.split(KEY(1), 3))
    np.testing.assert_array_equal(ft.random.fold_in(KEY(1), 2 ** 32 - 1),
                                  _u32([1173147676, 4026309821]))
    # samples are constants for grad, per key under vmap
    g = ft.vmap(ft.grad(lambda mu, k: ft.sum(mu + ft.random.normal(k, (3,)))),
                in_axes=(None, 0))(X3, ks)
    close(g, np.ones((2, 3)))


def test_random_under_vmap_over_keys_matches_jax():
    ks = ft.random.split(KEY(0), 4)
    close(ft.vmap(lambda k: ft.random.uniform(k, (2,)))(ks),
          [[0.8423141241073608, 0.1823786497116089], [0.007293820381164551, 0.020891189575195312],
           [0.9024494886398315, 0.9122928380966187], [0.26698946952819824, 0.733950138092041]],
          rtol=0, atol=0)
    np.testing.assert_array_equal(ft.vmap(ft.random.split)(ks), _u32(
        [[[4165894930, 804218099], [1353695780, 2116000888]],
         [[346279018, 360566543], [3968330031, 3923691647]],
         [[2799984767, 1105366846], [3777617834, 145086855]],
         [[3223668805, 2222728495], [2060067018, 3241019684]]]))
    np.testing.assert_array_equal(ft.vmap(lambda k: ft.random.permutation(k, 5))(ks[:3]),
                                  [[0, 2, 4, 1, 3], [0, 3, 1, 4, 2], [4, 3, 1, 0, 2]])
    np.testing.assert_array_equal(
        ft.vmap(lambda k: ft.random.randint(k, (4,), 0, 100, dtype=np.int32))(ks[:3]),
        [[91, 61, 47, 17], [22, 22, 96, 35], [59, 34, 63, 55]])
    eager = np.stack([np.asarray(ft.random.normal(k, (3,))) for k in ks[:2]])
    close(ft.jit(ft.vmap(lambda k: ft.random.normal(k, (3,))))(ks[:2]), eager)
