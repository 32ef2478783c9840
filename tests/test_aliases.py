"""Names PyTorch and JAX users reach for (issue 16, item 7): constants, ft.cat and
ft.unsqueeze, x.at[i].get(mode='fill', fill_value=...), ft.random.key_data, and the errors
that name funtorch's spelling when PyTorch's is tried."""

import math

import numpy as np
import pytest

import funtorch as ft


def test_constants():
    assert ft.pi == math.pi and ft.e == math.e and ft.inf == math.inf
    assert math.isnan(ft.nan) and ft.newaxis is None
    x = ft.arange(3.0)
    assert x[ft.newaxis].shape == (1, 3) and x[:, ft.newaxis].shape == (3, 1)
    np.testing.assert_allclose(np.asarray(ft.sin(ft.asarray(ft.pi / 2))), 1.0)


def test_cat_and_unsqueeze(torch):
    a, b = np.arange(6.0).reshape(2, 3), np.ones((2, 2))
    np.testing.assert_array_equal(np.asarray(ft.cat([ft.asarray(a), ft.asarray(b)], dim=1)),
                                  torch.cat([torch.tensor(a), torch.tensor(b)], dim=1).numpy())
    np.testing.assert_array_equal(np.asarray(ft.cat([ft.asarray(a), ft.asarray(a)])),
                                  np.concatenate([a, a]))
    np.testing.assert_array_equal(np.asarray(ft.cat([ft.asarray(a)] * 2, axis=1)),
                                  np.concatenate([a, a], axis=1))
    for d in (0, 1, 2, -1, -3):
        assert ft.unsqueeze(ft.asarray(a), d).shape == tuple(torch.tensor(a).unsqueeze(d).shape)
    assert ft.jit(lambda x: ft.unsqueeze(x, 1))(ft.asarray(a)).shape == (2, 1, 3)
    with pytest.raises(TypeError, match="dim or axis, not both"):
        ft.cat([ft.asarray(a)], dim=0, axis=0)
    with pytest.raises(TypeError, match="unsqueeze: dim must be an int.*expand_dims"):
        ft.unsqueeze(ft.asarray(a), (0, 1))


@pytest.mark.parametrize("dtype,fill", [(np.float32, np.nan), (np.int32, -2**31),
                                        (np.uint8, 255), (np.bool_, True)])
def test_at_get_fill_defaults_to_jax(dtype, fill):
    x = ft.asarray(np.arange(4).astype(dtype))
    i = ft.asarray([1, 7, -9])
    want = np.array([np.arange(4).astype(dtype)[1], fill, fill], dtype)
    for f in (lambda x, i: x.at[i].get(mode="fill"),
              ft.jit(lambda x, i: x.at[i].get(mode="fill"))):
        got = np.asarray(f(x, i))
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)


def test_at_get_fill_value_matches_jax():
    jnp = pytest.importorskip("jax.numpy")
    x = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    i, j = np.array([0, 5, -1, -4]), np.array([1, 2, 9, 0])
    for idx in ((i,), (i, j), (slice(None), j)):
        ours = ft.jit(lambda x, idx=idx: x.at[idx].get(mode="fill", fill_value=-1.0))(
            ft.asarray(x))
        ref = jnp.asarray(x).at[idx].get(mode="fill", fill_value=-1.0)
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(ref))
    g = ft.grad(lambda x: ft.sum(x.at[i].get(mode="fill", fill_value=0.0)))(ft.asarray(x))
    np.testing.assert_array_equal(np.asarray(g), np.array([[1.0] * 4, [0.0] * 4, [1.0] * 4]))
    with pytest.raises(ValueError, match="fill_value needs mode='fill'"):
        ft.asarray(x).at[0].get(fill_value=1.0)


def test_key_data():
    k = ft.random.key(3)
    np.testing.assert_array_equal(np.asarray(ft.random.key_data(k)), np.asarray(k))
    ks = ft.random.split(k, 4)
    assert ft.random.key_data(ks).shape == (4, 2)
    assert ft.jit(ft.random.key_data)(ks).shape == (4, 2)
    with pytest.raises(TypeError, match="key_data: expected keys"):
        ft.random.key_data(ft.ones(3))
    jax = pytest.importorskip("jax")
    np.testing.assert_array_equal(np.asarray(ft.random.key_data(k)),
                                  np.asarray(jax.random.key_data(jax.random.key(3))))


@pytest.mark.parametrize("call,fix", [
    (lambda: ft.ones(4, 4), r"ft.ones\(\(4, 4\)\)"),
    (lambda: ft.zeros(2, 3, 4), r"ft.zeros\(\(2, 3, 4\)\)"),
    (lambda: ft.empty(2, 2), r"ft.empty\(\(2, 2\)\)"),
    (lambda: ft.sum(ft.ones((2, 3)), dim=1), "funtorch.sum: got dim=1.*pass axis=1"),
    (lambda: ft.mean(ft.ones(3), keepdim=True), "pass keepdims=True"),
    (lambda: ft.concatenate([ft.ones(2)], dim=0), "concatenate: got dim=0.*axis=0"),
    (lambda: ft.ones((2, 3)).max(dim=1), "Array.max: got dim=1.*pass axis=1"),
    (lambda: ft.ones((2, 3)).sum(dim=-1, keepdim=True), "pass axis=-1"),
    (lambda: ft.ones((2, 1)).squeeze(dim=1), "Array.squeeze: got dim=1"),
    (lambda: ft.argmax(ft.ones(3), dim=0), "argmax: got dim=0"),
])
def test_pytorch_spelling_names_the_funtorch_one(call, fix):
    with pytest.raises(TypeError, match=fix):
        call()


def test_jax_spellings_still_work():
    x = ft.ones((2, 3))
    assert ft.ones((4, 4)).shape == (4, 4) and ft.zeros(3, ft.int32).dtype == np.int32
    assert ft.sum(x, axis=1).shape == (2,) and x.sum(axis=1, keepdims=True).shape == (2, 1)
    assert ft.jit(lambda x: ft.max(x, axis=0))(x).shape == (3,)
    # a genuine TypeError that is not about spelling passes through unchanged
    with pytest.raises(TypeError, match="unexpected keyword argument 'axes'"):
        ft.sum(x, axes=1)
