"""cond, switch, while_loop, fori_loop and scan: batching, differentiation, weak types."""

from __future__ import annotations

import numpy as np
import pytest

import funtorch as ft

from .common import M23, X3, close, f32, same_tree


def test_vmap_cond_batched_predicate_selects_and_differentiates():
    close(ft.vmap(lambda x: ft.cond(x > 0, lambda y: y * 2, lambda y: -y, x))(X3),
          np.where(X3 > 0, 2 * X3, -X3))
    g = ft.vmap(ft.grad(lambda x: ft.cond(x > 0, ft.sin, lambda y: y ** 2, x)))(X3)
    close(g, np.where(X3 > 0, np.cos(X3), 2 * X3))
    f = lambda p, x: ft.cond(p, lambda o: {"a": o[0] + o[1]["b"]},  # noqa: E731
                             lambda o: {"a": o[0] * o[1]["b"]}, (x, {"b": x * 3}))
    out = ft.vmap(f)(np.array([True, False, True]), X3)
    close(out["a"], np.where([True, False, True], 4 * X3, 3 * X3 ** 2))


def test_nested_vmap_of_cond_closing_over_both_levels():
    f = lambda a, b: ft.cond(a > b, lambda: a - b, lambda: b * 2)  # noqa: E731
    got = ft.vmap(ft.vmap(f, in_axes=(0, None)), in_axes=(None, 0))(X3, X3)
    a, b = X3[None, :], X3[:, None]
    close(got, np.where(a > b, a - b, 2 * b))


def test_cond_predicate_kinds_and_operands():
    assert float(ft.cond(np.int32(5), lambda: f32(1), lambda: f32(2))) == 1.0
    assert float(ft.cond(f32(0.5), lambda: f32(1), lambda: f32(2))) == 1.0
    close(ft.cond(True, lambda a, b: a + b, lambda a, b: a - b, X3, X3 * 2), 3 * X3)
    with pytest.raises(TypeError, match="scalar"):
        ft.cond(np.array([True, False]), lambda: f32(1), lambda: f32(2))
    with pytest.raises(TypeError, match="structure"):
        ft.cond(True, lambda: (f32(1), f32(2)), lambda: f32(1))
    r = ft.cond(True, lambda: 1.0, lambda: 2.0)
    assert np.asarray(r).dtype == np.float32


def test_cond_jvp_with_pytree_operand():
    f = lambda p: ft.cond(p["x"] > 0, lambda o: o["x"] * o["y"],  # noqa: E731
                          lambda o: o["x"] + o["y"], p)
    y, t = ft.jvp(f, ({"x": f32(2.0), "y": f32(3.0)},), ({"x": f32(1.0), "y": f32(0.5)},))
    assert float(y) == 6.0 and float(t) == 4.0


def test_switch_clamps_index_eagerly_under_jit_and_vmap():
    br = [lambda x: x, lambda x: x * 2, lambda x: x * 3]
    assert [float(ft.switch(i, br, f32(1.0))) for i in (-5, 0, 1, 2, 7)] == [1, 1, 2, 3, 3]
    g = ft.jit(lambda i, x: ft.switch(i, br, x))
    assert [float(g(np.int32(i), f32(1.0))) for i in (-5, 3, 100)] == [1, 3, 3]
    got = ft.vmap(lambda i, x: ft.switch(i, br, x))(np.array([-3, 0, 1, 2, 9], np.int32),
                                                     np.ones(5, f32))
    close(got, [1, 1, 2, 3, 3])
    assert float(ft.switch(5, [lambda x: x + 1], f32(1))) == 2.0
    with pytest.raises(ValueError, match="branch"):
        ft.switch(0, [], f32(1))


def test_vmap_while_loop_batched_predicate_runs_each_to_its_own_count():
    def f(n):
        return ft.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, c[1] * 2.0),
                             (0, f32(1.0)))
    i, v = ft.vmap(f)(np.array([0, 3, 1, 5], np.int32))
    np.testing.assert_array_equal(np.asarray(i), [0, 3, 1, 5])
    close(v, [1, 8, 2, 32])
    assert np.asarray(v).dtype == np.float32
    # batched carry, unbatched predicate
    i, v = ft.vmap(lambda x: ft.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * 2.0),
                                           (0, x)))(X3)
    close(v, 8 * X3)
    # predicate closes over a batched value
    got = ft.vmap(lambda lim, x: ft.while_loop(lambda c: c < lim, lambda c: c * 2.0, x))(
        np.array([5., 1., 100.], f32), np.array([1., 1., 3.], f32))
    close(got, [8, 1, 192])


def test_forward_mode_through_while_loop_vmapped_with_batched_trip_count():
    def f(x, n):
        return ft.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, c[1] * x),
                             (0, f32(1)))[1]
    n = np.array([1, 2, 3], np.int32)
    y, t = ft.vmap(lambda x, n: ft.jvp(lambda y: f(y, n), (x,), (f32(1),)))(X3, n)
    close(y, X3 ** n)
    close(t, n * X3 ** (n - 1))
    J = ft.jacfwd(lambda x: ft.while_loop(lambda c: c[0] < 3,
                                          lambda c: (c[0] + 1, c[1] * x), (0, x))[1])(X3)
    close(J, np.diag(4 * X3 ** 3))


def test_grad_of_while_loop_is_a_clear_error():
    with pytest.raises((NotImplementedError, ValueError), match="(?i)reverse-mode.*while_loop"):
        ft.grad(lambda x: ft.while_loop(lambda c: c < 10, lambda c: c * 2, x))(f32(1.0))
    with pytest.raises((NotImplementedError, ValueError), match="(?i)reverse-mode"):
        ft.jit(ft.grad(lambda x, n: ft.fori_loop(0, n, lambda i, c: c * x, f32(1.0))))(
            f32(1.5), 3)
    # a Python-int bound that is not differentiated stays static, as in JAX
    close(ft.grad(lambda x, n: ft.fori_loop(0, n, lambda i, c: c * x, f32(1.0)))(f32(1.5), 3),
          3 * 1.5 ** 2)
    y, t = ft.jvp(lambda x: ft.while_loop(lambda c: c < 10, lambda c: c * 2, x),
                  (f32(1.0),), (f32(1.0),))
    assert float(y) == 16.0 and float(t) == 16.0


def test_grad_of_fori_loop_with_static_bounds_under_jit_and_vmap():
    f = lambda x: ft.fori_loop(0, 5, lambda i, c: ft.sin(c) * x, x)  # noqa: E731

    def ref(x):
        c, dc = x, 1.0
        for _ in range(5):
            c, dc = np.sin(c) * x, np.cos(c) * dc * x + np.sin(c)
        return dc
    close(ft.jit(ft.grad(f))(f32(0.9)), ref(0.9))
    close(ft.vmap(lambda x: ft.fori_loop(0, 3, lambda i, c: c * x, f32(1)))(X3), X3 ** 3)
    out = ft.fori_loop(0, 3, lambda i, c: {"a": c["a"] * 2, "b": (c["b"][0] + 1.0,)},
                       {"a": X3, "b": (f32(0),)})
    close(out["a"], 8 * X3)
    close(out["b"][0], 3.0)


def test_scan_reverse_length_and_no_xs():
    c, ys = ft.scan(lambda c, x: (c + x, c * x), f32(0), X3, reverse=True)
    close(c, X3.sum())
    close(ys, [0.5 * 1.0, -1.0 * 2.0, 0.0])
    c, ys = ft.scan(lambda c, _: (c * 2, c), f32(1), None, length=4)
    close(c, 16.0)
    close(ys, [1, 2, 4, 8])
    c, ys = ft.scan(lambda c, x: (c + x, None), f32(0), X3)
    assert ys is None


def test_scan_unroll_does_not_change_results():
    xs = np.arange(7, dtype=f32)
    want = ft.scan(lambda c, x: (c * 1.5 + x, c), f32(0), xs)
    for u in (2, 3, 7, True):
        same_tree(ft.scan(lambda c, x: (c * 1.5 + x, c), f32(0), xs, unroll=u), want)
    f = lambda w: ft.scan(lambda c, x: (ft.sin(c * w + x), c), f32(0.1), X3,  # noqa: E731
                          reverse=True, unroll=2)[0]
    h = 1e-3
    fd = (float(f(f32(0.7 + h))) - float(f(f32(0.7 - h)))) / (2 * h)
    close(ft.grad(f)(f32(0.7)), fd, rtol=1e-2)


def test_scan_pytree_xs_and_errors():
    c, ys = ft.scan(lambda c, x: (c + x["a"] * x["b"][0], {"o": c}), f32(0),
                    {"a": X3, "b": [X3 + 1]})
    close(c, (X3 * (X3 + 1)).sum())
    close(ys["o"], np.concatenate([[0], np.cumsum(X3 * (X3 + 1))[:-1]]))
    with pytest.raises(ValueError, match="length"):
        ft.scan(lambda c, x: (c + x, None), f32(0), X3, length=5)
    with pytest.raises(ValueError):
        ft.scan(lambda c, x: (c, None), f32(0), None)
    with pytest.raises(ValueError, match="length"):
        ft.scan(lambda c, x: (c, None), f32(0), (X3, M23))


def test_vmap_scan_batched_and_unbatched_carry():
    c, ys = ft.vmap(lambda c0: ft.scan(lambda c, x: (c * x, c), c0, X3))(X3)
    close(c, X3 * X3.prod())
    close(ys, X3[:, None] * np.concatenate([[1], np.cumprod(X3)[:-1]])[None])
    c, ys = ft.vmap(lambda xs: ft.scan(lambda c, x: (c + x, c * 2), f32(0), xs))(M23)
    close(c, M23.sum(1))
    close(ys, 2 * np.concatenate([np.zeros((2, 1), f32), np.cumsum(M23, 1)[:, :-1]], 1))
    # carry starts unbatched and becomes batched through xs
    c, ys = ft.vmap(lambda xs, c0: ft.scan(lambda c, x: (c * x, c), c0, xs),
                    in_axes=(1, None))(M23, f32(1.0))
    close(c, M23.prod(0))


def test_vmap_of_grad_of_reverse_scan_and_higher_order_through_control_flow():
    def f(w, xs):
        return ft.scan(lambda c, x: (c * w + x, c), f32(0), xs, reverse=True)[0]
    # c = sum_k xs[k] w^k
    w = 0.5
    want = [sum(k * x * w ** (k - 1) for k, x in enumerate(row)) for row in M23]
    close(ft.vmap(ft.grad(f), in_axes=(None, 0))(f32(w), M23), want)
    close(ft.hessian(lambda x: ft.cond(x > 0, lambda y: y ** 3, lambda y: y ** 2, x))(f32(2.0)),
          12.0)
    # c_final = w^3 + sum_k X3[k] w^(2-k)
    h = ft.hessian(lambda w: ft.scan(lambda c, x: (c * w + x, None), f32(1), X3)[0])(f32(0.5))
    close(h, 6 * 0.5 + 2 * X3[0])
    Jf = ft.jacfwd(lambda xs: ft.scan(lambda c, x: (c * x + 1, c), f32(1), xs))(X3)
    Jr = ft.jacrev(lambda xs: ft.scan(lambda c, x: (c * x + 1, c), f32(1), xs))(X3)
    same_tree(Jf, Jr)


def test_vmap_of_loops_with_mixed_batching():
    # nested vmap: trip count depends on both levels
    def f(a, b):
        return ft.while_loop(lambda c: c[0] < a + b, lambda c: (c[0] + 1, c[1] * 2),
                             (np.int32(0), f32(1)))[1]
    got = ft.vmap(ft.vmap(f, in_axes=(0, None)), in_axes=(None, 0))(
        np.array([0, 1, 2], np.int32), np.array([1, 3], np.int32))
    close(got, [[2, 4, 8], [8, 16, 32]])
    # batched cond inside a while loop with an unbatched trip count
    _, v = ft.vmap(lambda x: ft.while_loop(
        lambda c: c[0] < 4,
        lambda c: (c[0] + 1, ft.cond(c[1] > 0, lambda: c[1] - 1.0, lambda: c[1] + 2.0)),
        (0, x)))(X3)
    close(v, [-0.5, 1.0, 1.0])
    # static fori loop inside a batched cond, with its gradient
    g = lambda x: ft.cond(x > 0, lambda: ft.fori_loop(0, 3, lambda i, c: c * x, f32(1)),  # noqa: E731
                          lambda: x)
    close(ft.vmap(g)(X3), np.where(X3 > 0, X3 ** 3, X3))
    close(ft.vmap(ft.grad(g))(X3), np.where(X3 > 0, 3 * X3 ** 2, 1.0))
    # reverse scan whose carry becomes batched inside the body
    c, (cs, xs2) = ft.vmap(lambda xs, c0: ft.scan(lambda c, x: (c * 0.5 + x, (c, x * 2)), c0, xs,
                                                  reverse=True), in_axes=(0, None))(M23, f32(1.0))
    want_c, want_cs = [], []
    for row in M23:
        c_, hist = 1.0, []
        for x in row[::-1]:
            hist.append(c_)
            c_ = c_ * 0.5 + x
        want_c.append(c_)
        want_cs.append(hist[::-1])
    close(c, want_c)
    close(cs, want_cs)
    close(xs2, 2 * M23)


def test_weak_python_scalars_flow_through_control_flow_under_jit():
    c, ys = ft.jit(lambda s: ft.scan(lambda c, x: (c + x * s, c), f32(0), X3))(2.0)
    assert c.dtype == np.float32 and ys.dtype == np.float32
    close(c, 2 * X3.sum())
    r = ft.jit(lambda s: ft.cond(s > 0, lambda: s * 2, lambda: s))(2.0)
    assert r.dtype == np.float32 and float(r) == 4.0


def test_control_flow_dict_key_order_and_none_leaves():
    c, _ = ft.scan(lambda c, x: ({"b": c["b"] + x, "a": c["a"] * 2}, None),
                   {"a": f32(1), "b": f32(0)}, X3)
    assert float(c["a"]) == 8.0 and float(c["b"]) == float(X3.sum())
    r = ft.cond(False, lambda: {"a": f32(1), "b": f32(2)}, lambda: {"b": f32(3), "a": f32(4)})
    assert (float(r["a"]), float(r["b"])) == (4.0, 3.0)
    r = ft.while_loop(lambda c: c["i"] < 3, lambda c: {"x": c["x"] * 2, "i": c["i"] + 1},
                      {"i": 0, "x": f32(1)})
    assert float(r["x"]) == 8.0
    (c, none), ys = ft.scan(lambda c, x: ((c[0] + x, None), x), (f32(0), None), X3)
    assert none is None
    close(ys, X3)
    assert ft.fori_loop(0, 3, lambda i, c: c, None) is None
    assert ft.cond(True, lambda: None, lambda: None) is None
    a, none = ft.vmap(lambda x: ft.cond(x > 0, lambda: (x, None), lambda: (-x, None)))(X3)
    assert none is None
    close(a, np.abs(X3))
    c, ys = ft.scan(lambda c, x: (c + x, 1.0), f32(0), X3)
    assert ys.dtype == np.float32 and ys.shape == (3,)


def test_loop_carry_python_scalars_take_float32():
    for r in (ft.while_loop(lambda c: c < 10, lambda c: c * 2, 1.0),
              ft.fori_loop(0, 3, lambda i, c: c * 2.0, 1.0),
              ft.scan(lambda c, x: (c + x, c), 0.0, X3)[0],
              ft.while_loop(lambda c: c < 10, lambda c: c * 2.5, f32(1))):
        assert np.asarray(r).dtype == np.float32


def test_while_loop_cond_must_return_scalar_bool():
    with pytest.raises(TypeError, match="scalar"):
        ft.while_loop(lambda c: c < 3, lambda c: c + 1, X3)


def test_fori_loop_index_is_weakly_typed():
    close(ft.fori_loop(0, 3, lambda i, c: c + i, f32(0)), 3.0)
    close(ft.grad(lambda x: ft.fori_loop(0, 4, lambda i, c: c * x + i, f32(1.0)))(f32(1.5)), 18.5)


def test_fori_loop_index_into_int32_carry():
    assert int(ft.fori_loop(0, 3, lambda i, c: i, np.int32(0))) == 2
    assert int(ft.fori_loop(0, 3, lambda i, c: c + i, np.int32(0))) == 3
    assert int(ft.fori_loop(5, 2, lambda i, c: c + i, np.int32(0))) == 0


def test_fori_loop_traced_bounds_index_is_weak():
    close(ft.jit(lambda n: ft.fori_loop(0, n, lambda i, c: c + i, f32(0)))(3), 3.0)


def test_switch_rejects_float_index():
    with pytest.raises(TypeError, match="(?i)integer"):
        ft.switch(f32(1.0), [lambda: f32(1), lambda: f32(2)])
