"""Transformations: the grad family, vmap, jit and their compositions (JAX semantics)."""

from __future__ import annotations

import numpy as np
import pytest

import funtorch as ft
import funtorch.nn as nn

from .common import FLOATS, NT, assert_same, ids, rand


def _f2(x, y):
    return ft.sum(x * y ** 2)


_XA = ft.arange(3.0)
_YA = ft.ones(3) * 2


class TestGradFamily:
    @pytest.mark.parametrize("argnums,want", [
        (0, "gx"), (1, "gy"), (-1, "gy"), (-2, "gx"), ((0, 1), ("gx", "gy")), ((1,), ("gy",)),
        ((1, 0), ("gy", "gx")),
    ])
    def test_argnums_forms(self, argnums, want):
        ref = {"gx": np.array([4, 4, 4], np.float32), "gy": np.array([0, 4, 8], np.float32)}
        got = ft.grad(_f2, argnums=argnums)(_XA, _YA)
        if isinstance(want, tuple):
            assert isinstance(got, tuple) and len(got) == len(want)
            for g, w in zip(got, want):
                assert_same(g, ref[w])
        else:
            assert_same(got, ref[want])
        v, g2 = ft.value_and_grad(_f2, argnums=argnums)(_XA, _YA)
        assert_same(v, np.float32(12.0))
        assert type(g2) is type(got)

    @pytest.mark.parametrize("dtype", FLOATS, ids=ids(FLOATS))
    def test_grad_keeps_input_dtype(self, dtype):
        x = ft.ones(3, dtype)
        g = ft.grad(lambda a: ft.sum(a ** 3).astype(ft.float32))(x)
        assert g.dtype == dtype
        assert_same(g, np.full(3, 3.0, dtype))
        assert ft.jit(ft.grad(lambda a: ft.sum(a * a).astype(ft.float32)))(x).dtype == dtype

    def test_python_scalar_and_0d_inputs(self):
        assert_same(ft.grad(lambda x: x * x)(3.0), np.float32(6.0))
        assert_same(ft.grad(lambda x: x ** 3)(ft.tensor(2.0)), np.float32(12.0))
        assert_same(ft.grad(lambda x: ft.sin(x))(np.float64(0.0)), np.float64(1.0))

    def test_pytrees_in_and_out(self):
        p = {"w": _XA, "b": [ft.tensor(1.0)], "nt": NT(_YA, None)}
        g = ft.grad(lambda p: ft.sum(p["w"]) + p["b"][0] * 3 + ft.sum(p["nt"].a ** 2))(p)
        assert ft.tree.structure(g) == ft.tree.structure(p)
        assert_same(g["w"], np.ones(3, np.float32))
        assert_same(g["b"][0], np.float32(3.0))
        assert_same(g["nt"].a, 2 * np.asarray(_YA))
        assert g["nt"].b is None

    def test_has_aux(self):
        g, aux = ft.grad(lambda x: (ft.sum(x ** 2), {"a": x, "n": 3}), has_aux=True)(_XA)
        assert_same(g, 2 * np.asarray(_XA))
        assert aux["n"] == 3
        assert_same(aux["a"], _XA)
        (v, aux), g = ft.value_and_grad(lambda x: (ft.sum(x ** 2), [x, None]), has_aux=True)(_XA)
        assert_same(v, np.float32(5.0))
        assert aux[1] is None
        (v, aux), (gx, gy) = ft.value_and_grad(lambda x, y: (_f2(x, y), y), argnums=(0, 1),
                                               has_aux=True)(_XA, _YA)
        assert_same(gy, np.array([0, 4, 8], np.float32))

    def test_keyword_arguments_are_not_differentiated(self):
        g = ft.grad(lambda x, scale=1.0: ft.sum(x) * scale)(_XA, scale=3.0)
        assert_same(g, np.full(3, 3.0, np.float32))

    def test_vjp_and_jvp(self):
        out, f_vjp = ft.vjp(lambda a, b: a * b, _XA, _YA)
        assert_same(out, np.asarray(_XA) * 2)
        ga, gb = f_vjp(ft.ones(3))
        assert_same(ga, np.asarray(_YA))
        assert_same(gb, _XA)
        out, f_vjp, aux = ft.vjp(lambda a: (a * 2, {"aux": a}), _XA, has_aux=True)
        assert_same(aux["aux"], _XA)
        assert isinstance(f_vjp(ft.ones(3)), tuple)
        p, t = ft.jvp(lambda a: a * a, (_XA,), (ft.ones(3),))
        assert_same(t, 2 * np.asarray(_XA))
        p, t = ft.jvp(lambda a: a * a, [_XA], [ft.ones(3)])      # lists accepted
        p, t = ft.jvp(lambda d: d["a"] ** 3, ({"a": _XA},), ({"a": ft.ones(3)},))
        assert_same(t, 3 * np.asarray(_XA) ** 2)
        p, t, aux = ft.jvp(lambda a: (a * a, 1), (_XA,), (ft.ones(3),), has_aux=True)
        assert aux == 1

    def test_jvp_and_vjp_shape_errors(self):
        with pytest.raises(ValueError, match=r"jvp.*\(2,\).*\(3,\)"):
            ft.jvp(lambda x: x, (ft.ones(2),), (ft.ones(3),))
        with pytest.raises(ValueError, match=r"vjp.*\(3,\).*\(2,\)"):
            ft.vjp(lambda x: x * 2, ft.ones(2))[1](ft.ones(3))

    def test_jvp_tangent_dtype_must_match(self):
        with pytest.raises(TypeError):
            ft.jvp(lambda a: a * a, (ft.ones(3),), (ft.ones(3, ft.float64),))

    def test_linearize(self):
        y, f_jvp = ft.linearize(ft.sin, _XA)
        assert_same(y, np.sin(np.asarray(_XA)))
        assert_same(f_jvp(ft.ones(3)), np.cos(np.asarray(_XA)), rtol=1e-6)
        assert_same(f_jvp(2 * ft.ones(3)), 2 * np.cos(np.asarray(_XA)), rtol=1e-6)
        assert_same(ft.jit(lambda a: ft.linearize(ft.sin, a)[1](a))(_XA),
                    np.cos(np.asarray(_XA)) * np.asarray(_XA), rtol=1e-6)

    @pytest.mark.parametrize("jac", ["jacfwd", "jacrev"])
    def test_jacobians(self, jac):
        J = getattr(ft, jac)
        assert_same(J(lambda a: a ** 2)(_XA), np.diag(2 * np.asarray(_XA)))
        assert_same(J(lambda a: a ** 2)(ft.tensor(3.0)), np.float32(6.0))
        jx, jy = J(lambda x, y: x * y, argnums=(0, 1))(_XA, _YA)
        assert_same(jx, np.diag(np.asarray(_YA)))
        assert_same(jy, np.diag(np.asarray(_XA)))
        out = J(lambda a: {"o": a * 2})({"i": _XA}["i"])
        assert_same(out["o"], 2 * np.eye(3, dtype=np.float32))
        j, aux = J(lambda a: (a ** 2, 7), has_aux=True)(_XA)
        assert aux == 7
        m = ft.ones((2, 3))
        assert J(lambda a: a.T @ a)(m).shape == (3, 3, 2, 3)
        assert J(lambda d: d["x"] * 2)({"x": _XA})["x"].shape == (3, 3)

    def test_hessian(self):
        assert_same(ft.hessian(lambda a: ft.sum(a ** 3))(_XA), np.diag(6 * np.asarray(_XA)))
        assert_same(ft.hessian(_f2, argnums=1)(_XA, _YA), np.diag(2 * np.asarray(_XA)))
        h = ft.hessian(lambda p: ft.sum(p["a"] ** 3))({"a": _XA})
        assert_same(h["a"]["a"], np.diag(6 * np.asarray(_XA)))
        assert_same(ft.jit(ft.hessian(lambda a: ft.sum(a ** 3)))(_XA), np.diag(6 * np.asarray(_XA)))

    def test_errors(self):
        with pytest.raises(TypeError, match=r"grad.*scalar.*\(3,\).*(sum|mean)"):
            ft.grad(lambda x: x * 2)(ft.ones(3))
        with pytest.raises(TypeError, match=r"grad.*float.*int64.*astype"):
            ft.grad(lambda x: ft.sum(x))(ft.arange(3))
        with pytest.raises(TypeError, match=r"grad.*int64"):
            ft.grad(lambda x: x * x)(3)


class TestVmap:
    @pytest.mark.parametrize("in_axes,shape,want", [
        (0, (4, 3), (4,)), (1, (4, 3), (3,)), (-1, (4, 3), (3,)), (-2, (4, 3), (4,)),
        ((0,), (4, 3), (4,)), ([1], (4, 3), (3,)),
    ])
    def test_in_axes_forms(self, in_axes, shape, want):
        a = rand(*shape)
        ax = in_axes[0] if isinstance(in_axes, (tuple, list)) else in_axes
        got = ft.vmap(lambda v: ft.sum(v * v), in_axes=in_axes)(ft.asarray(a))
        assert_same(got, np.sum(a * a, axis=1 - (ax % 2)), rtol=1e-5, atol=1e-5)
        assert got.shape == want

    @pytest.mark.parametrize("out_axes", [0, 1, -1, 2, -3])
    def test_out_axes(self, out_axes):
        a = rand(4, 3, 2)
        got = ft.vmap(lambda v: v * 2, out_axes=out_axes)(ft.asarray(a))
        assert_same(got, np.moveaxis(a * 2, 0, out_axes))

    def test_out_axes_out_of_range_raises(self):
        with pytest.raises(ValueError, match=r"out_axes"):
            ft.vmap(lambda x: x, out_axes=3)(ft.ones((3, 2)))

    def test_pytree_in_and_out_axes(self):
        p = {"a": ft.ones((4, 3)), "b": ft.arange(3.0)}
        got = ft.vmap(lambda d: d["a"] + d["b"], in_axes=({"a": 0, "b": None},))(p)
        assert got.shape == (4, 3)
        got = ft.vmap(lambda d: d["a"] * 2, in_axes=({"a": 1, "b": None},))(p)
        assert got.shape == (3, 4)
        out = ft.vmap(lambda a: {"s": ft.sum(a), "v": a}, out_axes={"s": 0, "v": 1})(
            ft.ones((4, 3)))
        assert out["s"].shape == (4,) and out["v"].shape == (3, 4)
        o1, o2 = ft.vmap(lambda a: (a, ft.ones(2)), out_axes=(0, None))(ft.ones((4, 3)))
        assert o1.shape == (4, 3) and o2.shape == (2,)
        nt = ft.vmap(lambda t: NT(t.a * 2, t.b))(NT(ft.ones((2, 3)), ft.zeros((2,))))
        assert isinstance(nt, NT) and nt.a.shape == (2, 3)

    def test_none_axes_python_scalars_and_kwargs(self):
        x = ft.ones((4, 3))
        assert ft.vmap(lambda a, b: a + b, in_axes=(0, None))(x, ft.ones(3)).shape == (4, 3)
        assert_same(ft.vmap(lambda a, s: a * s, in_axes=(0, None))(ft.ones(4), 2.0),
                    np.full(4, 2.0, np.float32))
        assert ft.vmap(lambda a, b=None: a + b)(x, b=x).shape == (4, 3)
        assert ft.vmap(lambda: ft.ones(2), axis_size=3)().shape == (3, 2)
        assert ft.vmap(lambda a: a * 2)(ft.ones((0, 3))).shape == (0, 3)
        assert ft.vmap(lambda a: a * 2)(np.ones((2, 3), np.float32)).shape == (2, 3)

    def test_nesting(self):
        a = rand(2, 3, 4)
        got = ft.vmap(ft.vmap(lambda v: ft.sum(v), in_axes=0), in_axes=1)(ft.asarray(a))
        assert_same(got, a.sum(2).T, rtol=1e-5, atol=1e-5)
        got = ft.vmap(ft.vmap(lambda u, v: u @ v, in_axes=(None, 0)), in_axes=(0, None))(
            ft.asarray(a[:, 0]), ft.asarray(a[0]))
        assert_same(got, a[:, 0] @ a[0].T, rtol=1e-5, atol=1e-5)

    @pytest.mark.parametrize("fn,ref", [
        (lambda v: ft.max(v, axis=-1, keepdims=True), lambda b: b.max(-1, keepdims=True)),
        (lambda v: ft.argmax(v), lambda b: b.reshape(b.shape[0], -1).argmax(1)),
        (lambda v: ft.cumsum(v, axis=0), lambda b: np.cumsum(b, axis=1)),
        (lambda v: ft.transpose(v), lambda b: b.transpose(0, 2, 1)),
        (lambda v: ft.concatenate([v, v], axis=-1), lambda b: np.concatenate([b, b], -1)),
        (lambda v: ft.split(v, 2, axis=1)[1], lambda b: np.split(b, 2, axis=2)[1]),
        (lambda v: ft.pad(v, 1), lambda b: np.pad(b, [(0, 0), (1, 1), (1, 1)])),
        (lambda v: ft.flip(v), lambda b: b[:, ::-1, ::-1]),
        (lambda v: ft.take(v, ft.tensor([2, 0]), axis=1), lambda b: b[:, :, [2, 0]]),
        (lambda v: ft.einsum("ij->j", v), lambda b: b.sum(1)),
        (lambda v: v[::-1, 1:], lambda b: b[:, ::-1, 1:]),
        (lambda v: ft.reshape(v, (-1,)), lambda b: b.reshape(b.shape[0], -1)),
    ])
    def test_vmap_of_ops_matches_numpy(self, fn, ref):
        b = rand(3, 2, 4)
        assert_same(ft.vmap(fn)(ft.asarray(b)), ref(b), rtol=1e-5, atol=1e-5)
        assert_same(ft.vmap(fn, in_axes=2)(ft.asarray(np.moveaxis(b, 0, 2))), ref(b),
                    rtol=1e-5, atol=1e-5)

    def test_errors(self):
        with pytest.raises(ValueError, match=r"(?s)vmap.*inconsistent.*size 3.*size 4"):
            ft.vmap(lambda x, y: x + y)(ft.ones((3, 2)), ft.ones((4, 2)))
        with pytest.raises(ValueError, match=r"vmap.*in_axes"):
            ft.vmap(lambda x, y: x + y, in_axes=(0,))(ft.ones((3, 2)), ft.ones((3, 2)))
        with pytest.raises(ValueError, match=r"vmap.*axis_size"):
            ft.vmap(lambda x: x, in_axes=None)(ft.ones(3))
        with pytest.raises(ValueError, match=r"vmap.*rank 0"):
            ft.vmap(lambda a: a)(ft.tensor(1.0))


class TestJit:
    def test_outputs_and_pytrees(self):
        out = ft.jit(lambda a: {"b": [a, (a * 2,)], "c": None, "n": NT(a, a)})(_XA)
        assert out["c"] is None and isinstance(out["n"], NT)
        assert_same(out["b"][1][0], 2 * np.asarray(_XA))
        assert ft.jit(lambda a: None)(_XA) is None
        assert_same(ft.jit(lambda a, b: a - b)(b=_XA, a=ft.ones(3)), 1 - np.asarray(_XA))
        assert_same(ft.jit(ft.sum)(_XA), np.float32(3.0))

    def test_static_argnums_and_argnames(self):
        f = lambda a, n=1: a * n if n > 1 else a  # noqa: E731
        assert_same(ft.jit(f, static_argnums=1)(_XA, 2), 2 * np.asarray(_XA))
        assert_same(ft.jit(f, static_argnums=(1,))(_XA, 3), 3 * np.asarray(_XA))
        assert_same(ft.jit(f, static_argnums=-1)(_XA, 2), 2 * np.asarray(_XA))
        assert_same(ft.jit(f, static_argnames="n")(_XA, n=3), 3 * np.asarray(_XA))
        assert_same(ft.jit(f, static_argnames=("n",))(_XA, 3), 3 * np.asarray(_XA))
        assert_same(ft.jit(f, static_argnames="n")(_XA), np.asarray(_XA))

    def test_static_argnums_passed_by_keyword(self):
        f = ft.jit(lambda a, n=1: a * n if n > 1 else a, static_argnums=(1,))
        assert_same(f(_XA, n=3), 3 * np.asarray(_XA))

    def test_one_trace_per_signature(self):
        calls = []

        def f(a, s):
            calls.append(1)
            return a * s

        g = ft.jit(f)
        for s in (2.0, 3.0, 4.0):
            g(_XA, s)
        g(_XA + 1, 5.0)
        assert len(calls) == 1
        g(ft.ones(4), 2.0)
        g(ft.ones(3, ft.float64), 2.0)
        assert len(calls) == 3

    def test_donate_argnums_some_arguments(self):
        f = ft.jit(lambda a, b: a + b, donate_argnums=(0,))
        assert_same(f(ft.ones(3), _XA), 1 + np.asarray(_XA))
        x = ft.ones(3)
        f = ft.jit(lambda a, b: (a * 2, b), donate_argnums=1)
        assert_same(f(x, ft.ones(3))[0], 2 * np.ones(3, np.float32))

    def test_donate_all_arguments(self):
        assert_same(ft.jit(lambda a: a + 1, donate_argnums=0)(ft.ones(3)), np.full(3, 2.0,
                                                                                    np.float32))

    def test_jit_of_a_jitted_function_and_decorator_form(self):
        @ft.jit
        def f(a):
            return ft.sin(a) * 2

        assert_same(ft.jit(f)(_XA), 2 * np.sin(np.asarray(_XA)), rtol=1e-6)
        assert f.__name__ == "f"

    def test_control_flow_errors_point_to_fixes(self):
        with pytest.raises(ft.ConcretizationTypeError) as e:
            ft.jit(lambda a: a if a.sum() > 0 else -a)(_XA)
        msg = str(e.value)
        assert "ft.cond" in msg and "static_argnums" in msg and "'a'" in msg
        with pytest.raises(ft.ConcretizationTypeError, match=r"item"):
            ft.jit(lambda a: a.sum().item())(_XA)
        with pytest.raises(TypeError, match=r"static"):
            ft.jit(lambda a, s: a)(_XA, "hi")
        with pytest.raises(TypeError, match=r"hashable"):
            ft.jit(lambda a, n: a, static_argnums=1)(_XA, [1])

    def test_make_graph_is_printable_ir(self):
        g = ft.make_graph(lambda a, b: ft.sin(a) @ b)(ft.ones((2, 3)), ft.ones((3,)))
        s = str(g)
        assert "sin" in s and "f32[2,3]" in s and "f32[2]" in s
        s = str(ft.make_graph(lambda p: p["a"] + 1.0)({"a": ft.ones(2)}))
        assert "add" in s
        s = str(ft.make_graph(lambda a, n: a * n, static_argnums=1)(ft.ones(2), 3))
        assert "mul" in s


class TestComposition:
    def test_transform_stack_vs_numpy(self):
        a = rand(2, 3)
        x = ft.asarray(a)
        assert_same(ft.jit(ft.vmap(ft.grad(lambda v: ft.sum(v ** 2))))(x), 2 * a)
        assert_same(ft.vmap(ft.jit(ft.grad(lambda v: ft.sum(v ** 2))))(x), 2 * a)
        assert_same(ft.grad(lambda v: ft.sum(ft.vmap(lambda r: ft.max(r))(v)))(x),
                    (a == a.max(1, keepdims=True)).astype(np.float32))
        assert_same(ft.grad(ft.grad(ft.jit(lambda v: v ** 3)))(2.0), np.float32(12.0))
        assert ft.vmap(ft.jacrev(lambda v: v ** 2))(x).shape == (2, 3, 3)
        assert ft.vmap(ft.hessian(lambda v: ft.sum(v ** 3)))(x).shape == (2, 3, 3)
        assert_same(ft.vmap(lambda v: ft.vjp(ft.sin, v)[1](ft.ones(3))[0])(x), np.cos(a),
                    rtol=1e-6)
        p, t = ft.jvp(ft.grad(lambda v: ft.sum(v ** 3)), (_XA,), (ft.ones(3),))
        assert_same(t, 6 * np.asarray(_XA))
        v, g = ft.jit(ft.value_and_grad(lambda v: ft.sum(v ** 2)))(x)
        assert_same(g, 2 * a)
        assert_same(ft.jit(ft.grad(lambda v, n: ft.sum(v ** n)), static_argnums=1)(x, 3),
                    3 * a ** 2, rtol=1e-5)
        assert_same(ft.jit(ft.grad(lambda s, v: ft.sum(v * s)))(2.0, x), np.float32(a.sum()),
                    rtol=1e-5)

    def test_jacfwd_of_jacrev_equals_hessian(self):
        f = lambda v: ft.sum(ft.sin(v) * v[::-1])  # noqa: E731
        a = ft.asarray(rand(4))
        assert_same(ft.jacfwd(ft.jacrev(f))(a), ft.hessian(f)(a), rtol=1e-5, atol=1e-6)
        assert_same(ft.jacrev(ft.jacfwd(f))(a), ft.hessian(f)(a), rtol=1e-5, atol=1e-6)

    def test_control_flow_under_transforms(self):
        x = ft.arange(4.0)
        assert_same(ft.cond(True, lambda a, b: a + b, lambda a, b: a - b, x, 1.0),
                    np.asarray(x) + 1)
        assert_same(ft.switch(5, [lambda a: a, lambda a: -a], x), -np.asarray(x))  # clamped
        c, ys = ft.scan(lambda c, v: (c + v, c), 0.0, x, reverse=True)
        assert_same(ys, np.array([6, 5, 3, 0], np.float32))
        c, ys = ft.scan(lambda c, _: (c * 2, c), 1.0, None, length=3)
        assert_same(ys, np.array([1, 2, 4], np.float32))
        assert int(ft.fori_loop(0, 5, lambda i, c: c + i, 0)) == 10
        assert int(ft.fori_loop(5, 0, lambda i, c: c + 1, 0)) == 0
        assert_same(ft.jit(lambda n: ft.fori_loop(0, n, lambda i, c: c + i, 0))(ft.tensor(4)),
                    np.int64(6))
        r = ft.while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, c[1] * 2), (0, 1.0))
        assert int(r[0]) == 5 and float(r[1]) == 32.0
        assert_same(ft.grad(lambda v: ft.cond(v > 0, lambda a: a ** 2, lambda a: -a, v))(3.0),
                    np.float32(6.0))
        assert_same(ft.vmap(lambda i, a: ft.switch(i, [lambda a: a, lambda a: -a,
                                                        lambda a: a * 10], a))(
            ft.tensor([0, 1, 2, 7]), x), np.array([0, -1, 20, 30], np.float32))
        g = ft.grad(lambda v: ft.scan(lambda c, w: (c * w, None), 1.0, v)[0])(ft.arange(1.0, 4.0))
        assert_same(g, np.array([6, 3, 2], np.float32))

    def test_stop_gradient_and_custom_vjp(self):
        x = ft.arange(4.0)
        assert_same(ft.grad(lambda v: ft.sum(ft.stop_gradient(v) * v))(x), np.asarray(x))
        t = ft.stop_gradient({"a": x, "b": [x]})
        assert_same(t["b"][0], x)

        @ft.custom_vjp
        def clip_grad(v):
            return v

        clip_grad.defvjp(lambda v: (v, None), lambda res, g: (ft.clip(g, -1, 1),))
        assert_same(ft.grad(lambda v: ft.sum(clip_grad(v) * 5))(x), np.ones(4, np.float32))
        assert_same(ft.jit(ft.grad(lambda v: ft.sum(clip_grad(v) * 5)))(x), np.ones(4, np.float32))
        assert_same(ft.vmap(ft.grad(lambda v: clip_grad(v) * 5))(x), np.ones(4, np.float32))
        assert_same(clip_grad(x), x)


_A4 = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
_I, _J = np.array([1, 0, 1]), np.array([3, 0, 2])
_IS, _JS = np.array([[1, 0, 1], [0, 0, 1]]), np.array([[3, 0, 2], [1, 1, 2]])


def _np_at(kind, a, i, j):
    a = a.copy()
    if kind == "set":
        a[i, :, j] = 0.0
    elif kind == "add":
        np.add.at(a, (i, slice(None), j), 1.0)
    elif kind == "mul":
        np.multiply.at(a, (slice(None), i), 2.0)
    else:
        np.minimum.at(a, (Ellipsis, j), 3.0)
    return a


MIXED_INDEX_CASES = [
    ("sep-adv", lambda a, i, j: a[i, :, j], None),
    ("adj-adv", lambda a, i, j: a[:, i, j], None),
    ("ellipsis", lambda a, i, j: a[..., i], None),
    ("adv-slices", lambda a, i, j: a[i, 1:, j, ::-1], None),
    ("newaxis", lambda a, i, j: a[None, i], None),
    ("int-slice-adv", lambda a, i, j: a[1, :, j], None),
    ("adv-int-adv", lambda a, i, j: a[i, :, 2, j], None),
    ("outer-adv", lambda a, i, j: a[i[:, None], :, j[None, :]], None),
    ("at-set", lambda a, i, j: a.at[i, :, j].set(0.0), "set"),
    ("at-add", lambda a, i, j: a.at[i, :, j].add(1.0), "add"),
    ("at-mul", lambda a, i, j: a.at[:, i].multiply(2.0), "mul"),
    ("at-min", lambda a, i, j: a.at[..., j].min(3.0), "min"),
]


class TestMixedAdvancedIndexingUnderTransforms:
    @pytest.mark.parametrize("fn,at", [c[1:] for c in MIXED_INDEX_CASES],
                             ids=[c[0] for c in MIXED_INDEX_CASES])
    def test_eager_jit_vmap(self, fn, at):
        def ref(a, i, j):
            return _np_at(at, a, i, j) if at else fn(a, i, j)

        args = (ft.asarray(_A4), ft.asarray(_I), ft.asarray(_J))
        assert_same(fn(*args), ref(_A4, _I, _J))
        assert_same(ft.jit(fn)(*args), ref(_A4, _I, _J))
        b = np.stack([_A4, _A4 + 1000, _A4 + 2000])
        assert_same(ft.vmap(fn, in_axes=(0, None, None))(ft.asarray(b), args[1], args[2]),
                    np.stack([ref(x, _I, _J) for x in b]))
        assert_same(ft.vmap(fn, in_axes=(None, 0, 0))(args[0], ft.asarray(_IS), ft.asarray(_JS)),
                    np.stack([ref(_A4, i, j) for i, j in zip(_IS, _JS)]))
        assert_same(ft.vmap(fn, in_axes=(1, 0, 0))(ft.asarray(np.moveaxis(b[:2], 0, 1)),
                                                   ft.asarray(_IS), ft.asarray(_JS)),
                    np.stack([ref(x, i, j) for x, i, j in zip(b[:2], _IS, _JS)]))


class TestMoreCompositions:
    @pytest.mark.parametrize("dtype", [ft.bfloat16, ft.float16, ft.float64],
                             ids=["bf16", "f16", "f64"])
    @pytest.mark.parametrize("make", [lambda: ft.optim.adam(1e-2),
                                      lambda: ft.optim.sgd(0.1, momentum=0.9),
                                      lambda: ft.optim.adamw(1e-2)], ids=["adam", "sgd", "adamw"])
    def test_optimizers_keep_param_dtype(self, dtype, make):
        opt = make()
        p = {"w": ft.ones(3, dtype)}
        s = opt.init(p)
        u, s = opt.update({"w": ft.ones(3, dtype)}, s, p)
        assert u["w"].dtype == dtype
        assert ft.optim.apply_updates(p, u)["w"].dtype == dtype

    def test_module_under_vmap_and_jit_with_keys(self):
        m = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Dropout(0.5), nn.Linear(8, 2))
        p = m.init(ft.random.key(0))
        x = ft.asarray(rand(5, 4))
        per_example = ft.vmap(lambda xi: m(p, xi[None])[0])(x)
        assert_same(per_example, m(p, x), rtol=1e-5, atol=1e-6)
        k = ft.random.key(3)
        f = ft.jit(lambda p, x, k: m(p, x, key=k, train=True))
        assert_same(f(p, x, k), m(p, x, key=k, train=True), rtol=1e-5, atol=1e-6)
        grads = ft.vmap(ft.grad(lambda p, xi: ft.sum(m(p, xi[None]))), in_axes=(None, 0))(p, x)
        assert grads["0"]["weight"].shape == (5, 8, 4)
        total = ft.grad(lambda p: ft.sum(m(p, x)))(p)
        assert_same(ft.sum(grads["3"]["bias"], axis=0), total["3"]["bias"], rtol=1e-5, atol=1e-5)
