"""custom_vjp: the rule under grad / jit / vmap / scan, nondiff_argnums, errors."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import funtorch as ft

from .common import X3, close, f32


def _sin_with_scaled_rule():
    @ft.custom_vjp
    def f(x):
        return ft.sin(x)
    f.defvjp(lambda x: (ft.sin(x), ft.cos(x)), lambda c, g: (g * c * 10,))
    return f


def test_custom_vjp_rule_is_used_under_grad_jit_and_vmap():
    f = _sin_with_scaled_rule()
    want = 10 * np.cos(X3)
    close(ft.grad(lambda x: ft.sum(f(x)))(X3), want)
    close(ft.jit(ft.grad(lambda x: ft.sum(f(x))))(X3), want)
    close(ft.vmap(ft.grad(f))(X3), want)
    close(ft.vmap(f)(X3), np.sin(X3))
    close(ft.grad(lambda x: ft.sum(ft.jit(f)(x)))(X3), want)


def test_custom_vjp_nondiff_argnums_static_value_and_function():
    @functools.partial(ft.custom_vjp, nondiff_argnums=(0,))
    def scale(k, x):
        return x * k
    scale.defvjp(lambda k, x: (x * k, None), lambda k, r, g: (g * k * 100,))
    close(ft.grad(lambda x: ft.sum(scale(3.0, x)))(X3), np.full(3, 300.0))
    close(ft.jit(ft.grad(lambda x: ft.sum(scale(3.0, x))))(X3), np.full(3, 300.0))

    @functools.partial(ft.custom_vjp, nondiff_argnums=(0,))
    def app(fn, x):
        return fn(x)
    app.defvjp(lambda fn, x: (fn(x), x), lambda fn, r, g: (g * 7.0,))
    close(ft.grad(lambda x: ft.sum(app(ft.sin, x)))(X3), np.full(3, 7.0))


def test_custom_vjp_under_vmap_with_unbatched_argument_and_none_cotangent():
    @ft.custom_vjp
    def mul(x, y):
        return x * y
    mul.defvjp(lambda x, y: (x * y, (x, y)), lambda r, g: (g * r[1] * 2, g * r[0] * 2))
    gx, gy = ft.vmap(ft.grad(mul, argnums=(0, 1)), in_axes=(0, None))(X3, f32(2.0))
    close(gx, np.full(3, 4.0))
    close(gy, 2 * X3)

    @ft.custom_vjp
    def mul2(x, y):
        return x * y
    mul2.defvjp(lambda x, y: (x * y, (x, y)), lambda r, g: (g * r[1], None))
    gx, gy = ft.grad(mul2, argnums=(0, 1))(f32(1.0), f32(2.0))
    assert float(gx) == 2.0 and float(gy) == 0.0


def _sin_times_y():
    @ft.custom_vjp
    def f(x, y):
        return ft.sin(x) * y

    def fwd(x, y):
        return ft.sin(x) * y, (ft.cos(x), y, None)   # a None residual is an empty node

    def bwd(r, g):
        c, y, _ = r
        return g * c * y * 2, 5.0 * g
    f.defvjp(fwd, bwd)
    return f


def test_custom_vjp_inside_scan_jit_and_vmap_and_second_order():
    f = _sin_times_y()
    gx, gy = ft.grad(lambda x, y: ft.sum(f(x, y)), argnums=(0, 1))(X3, X3 + 1)
    close(gx, 2 * np.cos(X3) * (X3 + 1))
    close(gy, np.full(3, 5.0))
    close(ft.grad(ft.jit(lambda x: ft.sum(f(x, x))))(X3), 2 * np.cos(X3) * X3 + 5.0)
    close(ft.jit(ft.vmap(ft.grad(f)))(X3, X3 + 1), 2 * np.cos(X3) * (X3 + 1))

    def loss(w):
        return ft.scan(lambda c, x: (f(c, w) + x, None), f32(0.3), X3)[0]
    c, dw = 0.3, 0.0          # custom rule: d/dc = 2 cos(c) w, d/dw = 5
    for x in X3:
        c, dw = np.sin(c) * 1.5 + x, 2 * np.cos(c) * 1.5 * dw + 5.0
    close(ft.grad(loss)(f32(1.5)), dw, rtol=1e-5)

    @ft.custom_vjp
    def cube(x):
        return x ** 3
    cube.defvjp(lambda x: (x ** 3, x), lambda x, g: (g * 3 * x ** 2,))
    close(ft.grad(ft.grad(cube))(f32(2.0)), 12.0)


def test_vjp_and_linearize_functions_compose_with_vmap_and_jit():
    out, fn = ft.vjp(ft.sin, X3)
    close(ft.vmap(fn)(np.eye(3, dtype=f32))[0], np.diag(np.cos(X3)))
    close(ft.jit(fn)(np.ones(3, f32))[0], np.cos(X3))
    y, fl = ft.linearize(lambda x: ft.sin(x) * x, X3)
    close(ft.vmap(fl)(np.eye(3, dtype=f32)), np.diag(np.cos(X3) * X3 + np.sin(X3)))

    def f(x):
        _, fn = ft.vjp(lambda y: ft.sin(y) * x, x)
        return ft.sum(fn(np.ones(3, f32))[0])
    # f(x) = sum(cos(x) * x)
    close(ft.grad(f)(X3), np.cos(X3) - X3 * np.sin(X3))


def test_custom_vjp_errors():
    f = _sin_with_scaled_rule()
    with pytest.raises(TypeError, match="(?i)forward-mode|jvp"):
        ft.jvp(f, (X3,), (X3,))

    @ft.custom_vjp
    def mul(x, y):
        return x * y
    mul.defvjp(lambda x, y: (x * y, None), lambda r, g: (g,))
    with pytest.raises(TypeError, match="bwd"):
        ft.grad(mul)(f32(1.0), f32(2.0))


def test_custom_vjp_fwd_may_call_the_primal_function():
    @ft.custom_vjp
    def f(x):
        return ft.sin(x)
    f.defvjp(lambda x: (f(x), ft.cos(x)), lambda c, g: (g * c,))
    close(f(f32(1.0)), np.sin(1.0))
    close(ft.grad(f)(f32(1.0)), np.cos(1.0))


def test_custom_vjp_accepts_keyword_arguments():
    f = _sin_times_y()
    close(f(X3, y=X3), np.sin(X3) * X3)
    close(ft.grad(lambda x: ft.sum(f(x, y=X3)))(X3), 2 * np.cos(X3) * X3)


@pytest.mark.parametrize("bad", [lambda g: ft.sum(g), lambda g: ft.ones(5)],
                         ids=["scalar", "longer"])
def test_custom_vjp_checks_bwd_cotangent_shapes(bad):
    @ft.custom_vjp
    def f(x):
        return x * 2
    f.defvjp(lambda x: (x * 2, None), lambda r, g: (bad(g),))
    with pytest.raises((TypeError, ValueError), match="shape"):
        ft.grad(lambda x: ft.sum(f(x)))(X3)
