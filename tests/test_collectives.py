"""Collectives over vmap's named axis: values and gradients against JAX's vmap(axis_name=)."""

import numpy as np
import pytest

import funtorch as ft
from funtorch import lax

jax = pytest.importorskip("jax")
jlax = jax.lax
jnp = jax.numpy

rng = np.random.default_rng(0)
X = rng.standard_normal((4, 3, 4)).astype(np.float32)

# name -> (f(lax_module, x), batched input)
CASES = {
    "psum": (lambda L, x: L.psum(x, "i"), X),
    "psum_scalar": (lambda L, x: x * L.psum(1.0, "i"), X),
    "pmean": (lambda L, x: L.pmean(x * x, "i"), X),
    "pmax": (lambda L, x: L.pmax(x, "i"), X),
    "pmin": (lambda L, x: L.pmin(x, "i"), X),
    "all_gather": (lambda L, x: L.all_gather(x, "i"), X),
    "all_gather_axis1": (lambda L, x: L.all_gather(x, "i", axis=1), X),
    "all_gather_tiled": (lambda L, x: L.all_gather(x, "i", axis=1, tiled=True), X),
    "psum_scatter": (lambda L, x: L.psum_scatter(x, "i", scatter_dimension=1), X),
    "psum_scatter_tiled": (lambda L, x: L.psum_scatter(x, "i", scatter_dimension=1,
                                                               tiled=True), X),
    "ppermute": (lambda L, x: L.ppermute(x, "i", [(0, 1), (1, 2), (2, 3), (3, 0)]), X),
    "axis_index": (lambda L, x: x * L.axis_index("i"), X),
    "psum_of_unmapped": (lambda L, x: x + L.psum(X[0], "i"), X),
}
DIFFERENTIABLE = [k for k in CASES if k not in ("pmax", "pmin")]


def _weights(shape):
    return np.linspace(-1, 1, int(np.prod(shape)), dtype=np.float32).reshape(shape)


@pytest.mark.parametrize("name", list(CASES))
def test_vmap_value_matches_jax(name):
    f, x = CASES[name]
    got = ft.vmap(lambda v: f(lax, v), axis_name="i")(x)
    want = jax.vmap(lambda v: f(jlax, v), axis_name="i")(x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_vmap_grad_matches_jax(name):
    f, x = CASES[name]
    w = _weights(ft.vmap(lambda v: f(lax, v), axis_name="i")(x).shape[1:])

    def loss(L, np_):
        return lambda v: np_.sum(f(L, v) * w)

    got = ft.vmap(ft.grad(loss(lax, ft)), axis_name="i")(x)
    want = jax.vmap(jax.grad(loss(jlax, jnp)), axis_name="i")(x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["psum", "all_gather_tiled", "psum_scatter", "ppermute",
                                  "axis_index"])
def test_jit_inside_and_outside_vmap(name):
    f, x = CASES[name]
    want = ft.vmap(lambda v: f(lax, v), axis_name="i")(x)
    inside = ft.vmap(ft.jit(lambda v: f(lax, v)), axis_name="i")(x)
    outside = ft.jit(ft.vmap(lambda v: f(lax, v), axis_name="i"))(x)
    np.testing.assert_allclose(np.asarray(inside), np.asarray(want), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(outside), np.asarray(want), rtol=1e-6)


def test_jvp_matches_jax():
    t = np.ones_like(X)
    f = lambda L: (lambda v: L.psum_scatter(L.all_gather(v * v, "i"), "i"))  # noqa: E731
    got = ft.vmap(lambda v, tv: ft.jvp(f(lax), (v,), (tv,))[1], axis_name="i")(X, t)
    want = jax.vmap(lambda v, tv: jax.jvp(f(jlax), (v,), (tv,))[1], axis_name="i")(X, t)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5)


def test_nested_names_and_tuples():
    x = rng.standard_normal((2, 3, 5)).astype(np.float32)

    def f(L):
        def inner(v):
            return L.psum(v, ("i", "j")) + L.psum(v, "i") * L.axis_index("j")
        return inner

    got = ft.vmap(ft.vmap(f(lax), axis_name="j"), axis_name="i")(x)
    want = jax.vmap(jax.vmap(f(jlax), axis_name="j"), axis_name="i")(x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5)


def test_unmapped_jit_call_uses_the_axis():
    # the jitted call's argument is not batched, yet it sums over the mapped axis
    got = ft.vmap(lambda v: ft.jit(lambda c: lax.psum(c, "i"))(2.0) + v, axis_name="i")(X)
    np.testing.assert_allclose(np.asarray(got), X + 8.0)


def test_pmax_gradient_goes_to_the_maximum():
    x = np.array([1.0, 3.0, 2.0, 3.0], np.float32)
    g = ft.vmap(ft.grad(lambda v: lax.pmax(v, "i")), axis_name="i")(x)
    # the 4 members' output cotangents meet (psum's transpose is psum, as in JAX) and are
    # shared between the 2 members attaining the maximum
    np.testing.assert_allclose(np.asarray(g), [0, 2, 0, 2])


def test_unbound_axis_name_is_a_clear_error():
    with pytest.raises(NameError, match="unbound axis name 'k'"):
        ft.vmap(lambda v: lax.psum(v, "k"), axis_name="i")(X)
    with pytest.raises(NameError, match="unbound axis name 'i'"):
        lax.axis_index("i")
    with pytest.raises(NameError, match="'i'"):
        ft.jit(lambda v: lax.pmean(v, "i"))(X)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="scatter dimension"):
        ft.vmap(lambda v: lax.psum_scatter(v, "i", scatter_dimension=1), axis_name="i")(
            np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="ppermute: perm"):
        ft.vmap(lambda v: lax.ppermute(v, "i", [(0, 1), (2, 1)]), axis_name="i")(X)


@pytest.mark.parametrize("kind", ["cond", "cond_batched_pred", "scan", "grad_scan"])
def test_collectives_inside_control_flow_match_jax(kind):
    def f(L, cf):
        if kind == "cond":
            return lambda v: cf.cond(True, lambda u: L.psum(u, "i"), lambda u: u, v)
        if kind == "cond_batched_pred":
            return lambda v: cf.cond(v[0, 0] > 0, lambda u: L.pmean(u, "i"), lambda u: -u, v)
        body = lambda c, _: (L.psum(c * c, "i") * 0.1, None)  # noqa: E731
        if kind == "scan":
            return lambda v: cf.scan(body, v, None, length=2)[0]
        return lambda v: (cf.scan(body, v, None, length=2)[0]).sum()

    fl, jl = f(lax, ft.lax), f(jlax, jlax)
    if kind == "grad_scan":
        fl, jl = ft.grad(fl), jax.grad(jl)
    got = ft.vmap(fl, axis_name="i")(X)
    want = jax.vmap(jl, axis_name="i")(X)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
