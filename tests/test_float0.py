"""float0: the tangent/cotangent type of integer and boolean values, as in JAX.

jvp/vjp/linearize give float0 (data-free) tangents for integer values; grad and jacrev
accept integer inputs only with allow_int=True and then return float0 zeros of the
input's shape; jacfwd of an integer output is a float0 Jacobian; vmap carries float0
outputs with the mapped axis inserted. (The errors are in test_errors.py.)"""

from __future__ import annotations

import numpy as np
from helpers import close

import funtorch as ft

F0 = ft.float0


def is_float0(x, shape):
    a = np.asarray(x)
    return a.dtype == F0 and a.shape == tuple(shape)


# --------------------------------------------------------------------------- jvp / vjp

def test_jvp_of_int_identity_and_add():
    _, t = ft.jvp(lambda x: x, (1,), (np.zeros((), F0),))
    assert is_float0(t, ())
    _, t = ft.jvp(lambda x: x + 1, (2,), (np.zeros((), F0),))
    assert is_float0(t, ())
    _, t = ft.jvp(ft.jit(lambda x: x + 1), (2,), (np.zeros((), F0),))
    assert is_float0(t, ())


def test_jvp_float_input_integer_output():
    out, t = ft.jvp(lambda x: (x * 2).astype(ft.int32), (np.float32(1.5),), (np.float32(1.0),))
    assert int(out) == 3 and is_float0(t, ())


def test_vjp_of_int_index():
    out, vjp_fn = ft.vjp(lambda x, i: x[i], np.ones(2, np.float32) * 2, 1)
    gx, gi = vjp_fn(np.float32(1.0))
    close(out, 2.0)
    close(gx, [0.0, 1.0])
    assert is_float0(gi, ())


def test_vjp_of_int_shapes_takes_a_float0_cotangent():
    _, vjp_fn = ft.vjp(lambda x: ft.reshape(x, (2, 2)), np.ones((4, 1), np.int64))
    (g,) = vjp_fn(np.zeros((2, 2), F0))
    assert is_float0(g, (4, 1))


def test_vjp_integer_output_contributes_nothing():
    """An integer output takes any cotangent of its shape (float0 included) and adds
    nothing to the float inputs' cotangents."""
    def f(x):
        return x * 3.0, (x * 2).astype(ft.int32)

    _, vjp_fn = ft.vjp(f, np.array([1.0, 2.0], np.float32))
    for ct_int in (np.zeros(2, F0), np.ones(2, np.float32), np.ones(2, np.int32)):
        (g,) = vjp_fn((np.ones(2, np.float32), ct_int))
        close(g, [3.0, 3.0])


def test_linearize_integer_output_is_float0():
    _, f_jvp = ft.linearize(lambda x: (x * 2).astype(ft.int32), np.float32(1.0))
    assert is_float0(f_jvp(np.float32(1.0)), ())


# --------------------------------------------------------------------------- grad / jacobians

def test_grad_allow_int_gives_float0():
    g = ft.grad(lambda x: x * 2.0, allow_int=True)(1)
    assert is_float0(g, ())
    gx, gi = ft.grad(lambda x, i: x[i], argnums=(0, 1), allow_int=True)(
        np.ones(2, np.float32), 1)
    close(gx, [0.0, 1.0])
    assert is_float0(gi, ())
    gx, gi = ft.jit(ft.grad(lambda x, i: x[i], argnums=(0, 1), allow_int=True))(
        np.ones(2, np.float32), 1)
    close(gx, [0.0, 1.0])
    assert is_float0(gi, ())
    g = ft.grad(lambda x: ft.sum(x + 0.0), allow_int=True)(np.ones((2, 4), np.int64))
    assert is_float0(g, (2, 4))
    g = ft.grad(lambda b: ft.sum(ft.where(b, 1.0, 2.0)), allow_int=True)(np.array([True]))
    assert is_float0(g, (1,))


def test_jacfwd_of_integer_output_is_float0():
    """jax.jacfwd(lambda x: (x * 2).astype(int))(1.0) is a float0 array of shape ()."""
    j = ft.jacfwd(lambda x: (x * 2).astype(ft.int32))(1.0)
    assert is_float0(j, ())
    j = ft.jacfwd(lambda x: (x * 2).astype(ft.int32))(np.ones(3, np.float32))
    assert is_float0(j, (3, 3))
    jf, ji = ft.jacfwd(lambda x: (x * 2.0, ft.sum(x).astype(ft.int64)))(
        np.ones(3, np.float32))
    close(jf, 2.0 * np.eye(3))
    assert is_float0(ji, (3,))
    # argnums tuple: one float0 Jacobian per input
    ja, jb = ft.jacfwd(lambda a, b: (a * b).astype(ft.int32), argnums=(0, 1))(
        np.ones(2, np.float32), np.ones((2, 2), np.float32))
    assert is_float0(ja, (2, 2, 2)) and is_float0(jb, (2, 2, 2, 2))
    j = ft.jit(ft.jacfwd(lambda x: (x * 2).astype(ft.int32)))(np.ones(3, np.float32))
    assert is_float0(j, (3, 3))


def test_jacrev_allow_int_gives_float0_jacobians():
    j = ft.jacrev(lambda x: x * 2.0, allow_int=True)(np.arange(3, dtype=np.int32))
    assert is_float0(j, (3, 3))
    jx, ji = ft.jacrev(lambda x, i: x[i] * 2.0, argnums=(0, 1), allow_int=True)(
        np.ones((2, 2), np.float32), np.int64(1))
    expect = np.zeros((2, 2, 2))
    expect[0, 1, 0] = expect[1, 1, 1] = 2.0      # d(2 x[1, a]) / d x[1, a]
    close(jx, expect)
    assert is_float0(ji, (2,))
    jx, ji = ft.jit(ft.jacrev(lambda x, i: x[i] * 2.0, argnums=(0, 1), allow_int=True))(
        np.ones((2, 2), np.float32), np.int64(1))
    assert is_float0(ji, (2,))


# --------------------------------------------------------------------------- vmap

def test_vmap_carries_float0_outputs_with_the_mapped_axis():
    g = ft.grad(lambda x: ft.sum(x * 2.0), allow_int=True)
    assert is_float0(ft.vmap(g)(np.ones((4, 3), np.int64)), (4, 3))
    assert is_float0(ft.vmap(g, in_axes=1, out_axes=1)(np.ones((3, 4), np.int64)), (3, 4))
    assert is_float0(ft.vmap(g, in_axes=1, out_axes=-1)(np.ones((3, 4), np.int64)), (3, 4))
    assert is_float0(ft.jit(ft.vmap(g))(np.ones((4, 3), np.int64)), (4, 3))
    j = ft.vmap(ft.jacfwd(lambda x: (x * 2).astype(ft.int32)))(np.ones((2, 3), np.float32))
    assert is_float0(j, (2, 3, 3))
    # float and float0 outputs side by side keep their order
    y, t = ft.vmap(lambda x: ft.jvp(lambda n: (n * 2.0, n), (x,), (np.zeros((), F0),)))(
        np.arange(3))
    close(y[0], [0.0, 2.0, 4.0])
    close(t[0], np.zeros(3))
    assert is_float0(t[1], (3,))


def test_zero_cotangents_are_arrays_and_float0_passes_through_jit():
    # a gradient that is symbolically zero is still an ft.Array (JAX returns Arrays too)
    g = ft.grad(lambda x: ft.stop_gradient(x) * 1.0)(ft.tensor(1.5))
    assert type(g) is ft.Array and g.dtype == np.float32 and float(g) == 0.0
    _, vjp_fn = ft.vjp(lambda x: (x * 2).astype(ft.int32), ft.tensor(1.5))
    (eager,) = vjp_fn(np.zeros((), F0))
    (jitted,) = ft.jit(vjp_fn)(np.zeros((), F0))
    assert type(eager) is ft.Array and type(jitted) is ft.Array
    assert float(eager) == float(jitted) == 0.0
