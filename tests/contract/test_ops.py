"""Ops against numpy: reductions (and half-precision accumulation), elementwise, shape,
linalg, Python-list operands."""

from __future__ import annotations

import numpy as np
import pytest

import funtorch as ft
import funtorch.nn.functional as F

from .common import assert_same, rand


def _lse_ref(a, axis=None, keepdims=False):
    a = np.asarray(a, np.float64)
    m = np.max(a, axis=axis, keepdims=True) if a.size else np.zeros([1] * a.ndim)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


_RED_ARRAYS = {
    "f32": (np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.37 - 4),
    "f64": (np.arange(24, dtype=np.float64).reshape(2, 3, 4) * 0.37 - 4),
    "f16": (np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.25 - 3).astype(np.float16),
    "i32": np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 7,
    "u8": np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
    "bool": np.arange(24).reshape(2, 3, 4) % 3 == 0,
}


class TestReductions:
    @pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "argmax", "argmin",
                                      "mean", "var", "std"])
    @pytest.mark.parametrize("kind", list(_RED_ARRAYS))
    @pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), (-1, 0), ()],
                             ids=["None", "0", "-1", "(0,2)", "(-1,0)", "()"])
    @pytest.mark.parametrize("keepdims", [False, True])
    def test_vs_numpy(self, name, kind, axis, keepdims):
        a = _RED_ARRAYS[kind]
        if name in ("argmax", "argmin") and isinstance(axis, tuple):
            # one axis only, as in numpy: a tuple is a TypeError in both
            with pytest.raises(TypeError):
                getattr(np, name)(a, axis=axis, keepdims=keepdims)
            with pytest.raises(TypeError):
                getattr(ft, name)(ft.asarray(a), axis=axis, keepdims=keepdims)
            return
        if name == "prod":
            a = a[:, :2, :2] if kind != "u8" else (a % 3).astype(a.dtype)
        fa = getattr(ft, name)(ft.asarray(a), axis=axis, keepdims=keepdims)
        with np.errstate(all="ignore"):
            want = np.asarray(getattr(np, name)(a, axis=axis, keepdims=keepdims))
        if name in ("mean", "var", "std") and a.dtype.kind in "iub":
            # ints become float32 (JAX's convention; numpy would give float64)
            assert fa.dtype == np.float32
            assert_same(fa, want, rtol=1e-5, atol=1e-5, check_dtype=False)
        else:
            tol = 2e-3 if a.dtype == np.float16 else 1e-5
            assert_same(fa, want, rtol=tol, atol=tol)

    @pytest.mark.parametrize("name", ["sum", "prod", "mean", "max", "min", "argmax", "var"])
    def test_0d_input(self, name):
        a = np.float32(2.5) * np.ones((), np.float32)
        for kw in ({}, {"axis": None}, {"keepdims": True}, {"axis": ()}):
            if name == "argmax" and kw.get("axis", 0) == ():
                continue
            assert_same(getattr(ft, name)(ft.asarray(a), **kw), getattr(np, name)(a, **kw))

    @pytest.mark.parametrize("name", ["sum", "prod", "cumsum"])
    @pytest.mark.parametrize("axis", [0, 1, None])
    def test_empty_inputs_with_identity(self, name, axis):
        a = np.zeros((0, 3), np.float32)
        assert_same(getattr(ft, name)(ft.asarray(a), axis=axis), getattr(np, name)(a, axis=axis))

    def test_empty_mean_is_nan_and_max_is_an_error(self):
        with np.errstate(all="ignore"):
            assert_same(ft.mean(ft.zeros((0, 3)), axis=0), np.full(3, np.nan, np.float32))
        with pytest.raises(ValueError, match=r"max.*(identity|zero-size|empty)"):
            ft.max(ft.zeros((0, 3)), axis=0)
        assert_same(ft.max(ft.zeros((0, 3)), axis=1), np.zeros(0, np.float32))

    @pytest.mark.parametrize("ddof", [0, 1])
    @pytest.mark.parametrize("axis", [None, 1, (0, 2)])
    def test_var_std_ddof(self, ddof, axis):
        a = _RED_ARRAYS["f32"]
        for name in ("var", "std"):
            assert_same(getattr(ft, name)(ft.asarray(a), axis=axis, ddof=ddof),
                        getattr(np, name)(a, axis=axis, ddof=ddof), rtol=1e-5, atol=1e-5)

    def test_dtype_argument(self):
        a = _RED_ARRAYS["i32"]
        assert ft.sum(ft.asarray(a), dtype=ft.float32).dtype == np.float32
        assert ft.mean(ft.asarray(_RED_ARRAYS["f32"]), dtype=ft.float64).dtype == np.float64
        assert ft.cumsum(ft.asarray(a), axis=0, dtype=ft.float32).dtype == np.float32

    @pytest.mark.parametrize("kind", ["f32", "i32", "u8", "bool"])
    @pytest.mark.parametrize("axis", [None, 0, 1, -1, -3])
    def test_cumsum(self, kind, axis):
        a = _RED_ARRAYS[kind]
        assert_same(ft.cumsum(ft.asarray(a), axis=axis), np.cumsum(a, axis=axis),
                    rtol=1e-5, atol=1e-5)

    def test_integer_accumulators_follow_numpy(self):
        a = np.array([200, 100], np.uint8)
        assert_same(ft.sum(ft.asarray(a)), np.sum(a))            # uint64 300, no wrap
        assert_same(ft.sum(ft.tensor([True, False, True])), np.int64(2))
        assert_same(ft.prod(ft.asarray(np.array([2, 3], np.int32))),
                    np.prod(np.array([2, 3], np.int32)))

    @pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), (-1, -2)])
    @pytest.mark.parametrize("keepdims", [False, True])
    def test_logsumexp(self, axis, keepdims):
        a = _RED_ARRAYS["f32"] * 30      # large values: must be stable
        got = ft.logsumexp(ft.asarray(a), axis=axis, keepdims=keepdims)
        assert got.dtype == np.float32
        assert_same(got, _lse_ref(a, axis, keepdims), rtol=1e-5, atol=1e-4, check_dtype=False)

    def test_logsumexp_infinities_and_ints(self):
        assert float(ft.logsumexp(ft.tensor([-np.inf, -np.inf]))) == -np.inf
        assert float(ft.logsumexp(ft.tensor([np.inf, 1.0]))) == np.inf
        assert ft.logsumexp(ft.tensor([1, 2])).dtype == np.float32

    def test_logsumexp_of_empty_is_minus_inf(self):
        assert_same(ft.logsumexp(ft.zeros((0, 3)), axis=0), np.full(3, -np.inf, np.float32))
        assert_same(ft.jit(lambda a: ft.logsumexp(a, axis=0, keepdims=True))(ft.zeros((0, 3))),
                    np.full((1, 3), -np.inf, np.float32))
        assert float(ft.logsumexp(ft.zeros((2, 0)))) == -np.inf
        assert_same(ft.grad(lambda a: ft.sum(ft.exp(ft.logsumexp(a, axis=0))))(ft.zeros((0, 3))),
                    np.zeros((0, 3), np.float32))

    def test_nan_propagation(self):
        a = np.array([1.0, np.nan, 2.0], np.float32)
        for name in ("max", "min", "argmax", "argmin", "sum", "mean"):
            assert_same(getattr(ft, name)(ft.asarray(a)), getattr(np, name)(a))
        assert_same(ft.maximum(ft.tensor([1.0, np.nan]), ft.tensor([np.nan, 0.0])),
                    np.maximum(np.array([1.0, np.nan], np.float32),
                               np.array([np.nan, 0.0], np.float32)))

    def test_arg_reductions_pick_first_of_ties(self):
        assert int(ft.argmax(ft.tensor([1, 3, 3, 0]))) == 1
        assert int(ft.argmin(ft.tensor([1, 0, 3, 0]))) == 1
        assert int(ft.argmax(ft.tensor([False, True, True]))) == 1
        assert ft.argmax(ft.ones((2, 3))).dtype == np.int64

    def test_bad_axes(self):
        with pytest.raises(ValueError, match=r"sum.*axis 2.*rank 2"):
            ft.sum(ft.ones((2, 3)), axis=2)
        with pytest.raises(ValueError, match=r"repeated axis"):
            ft.sum(ft.ones((2, 3)), axis=(0, -2))


# --------------------------------------------------------------------------- elementwise


_UNARY = ["exp", "log", "log1p", "expm1", "sqrt", "abs", "sign", "sin", "cos", "tanh"]


def _sigmoid_ref(a):
    return 1 / (1 + np.exp(-a))


class TestElementwise:
    @pytest.mark.parametrize("name", _UNARY + ["sigmoid"])
    @pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, ft.bfloat16],
                             ids=["f32", "f64", "f16", "bf16"])
    def test_float_unary_keep_dtype_and_match_numpy(self, name, dtype):
        a = np.linspace(-2, 2, 9).astype(np.float32)
        if name in ("log", "sqrt", "log1p"):
            a = np.abs(a) + 0.5
        x = ft.asarray(a.astype(dtype))
        got = getattr(ft, name)(x)
        assert got.dtype == np.dtype(dtype)
        ref = _sigmoid_ref(a.astype(np.float64)) if name == "sigmoid" else \
            getattr(np, name)(a.astype(np.float64))
        tol = {np.float32: 1e-6, np.float64: 1e-12}.get(dtype, 1e-2)
        np.testing.assert_allclose(np.asarray(got, np.float64), ref, rtol=tol * 10, atol=tol)

    @pytest.mark.parametrize("name", [n for n in _UNARY if n not in ("abs", "sign")]
                             + ["sigmoid"])
    @pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_],
                             ids=["i32", "i64", "u8", "bool"])
    def test_int_inputs_become_float32(self, name, dtype):
        a = np.array([0, 1, 2, 3]).astype(dtype)
        got = getattr(ft, name)(ft.asarray(a))
        assert got.dtype == np.float32
        with np.errstate(all="ignore"):
            ref = _sigmoid_ref(a.astype(np.float64)) if name == "sigmoid" else \
                getattr(np, name)(a.astype(np.float64))
        np.testing.assert_allclose(np.asarray(got, np.float64), ref, rtol=1e-6, atol=1e-6)

    @pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int8], ids=["i32", "i64", "i8"])
    def test_abs_sign_keep_int_dtype(self, dtype):
        a = np.array([-3, 0, 2]).astype(dtype)
        assert_same(ft.abs(ft.asarray(a)), np.abs(a))
        assert_same(ft.sign(ft.asarray(a)), np.sign(a))

    def test_special_values(self):
        f = np.array([-0.0, 0.0, np.nan, np.inf, -np.inf], np.float32)
        with np.errstate(all="ignore"):
            for name in ("sign", "abs", "exp", "tanh", "sqrt", "log"):
                assert_same(getattr(ft, name)(ft.asarray(f)), getattr(np, name)(f))
        big = np.array([100.0, -100.0, -1000.0], np.float32)
        assert_same(ft.sigmoid(ft.asarray(big)), np.array([1.0, 0.0, 0.0], np.float32))
        assert_same(ft.log1p(ft.tensor([1e-10])), np.array([1e-10], np.float32), rtol=1e-6)
        assert_same(ft.expm1(ft.tensor([1e-10])), np.array([1e-10], np.float32), rtol=1e-6)

    @pytest.mark.parametrize("kind", ["f32", "i32", "u8", "bool"])
    @pytest.mark.parametrize("name", ["maximum", "minimum", "equal", "not_equal", "less",
                                      "less_equal", "greater", "greater_equal"])
    def test_binary_vs_numpy(self, kind, name):
        a = {"f32": np.linspace(-2, 2, 6).astype(np.float32),
             "i32": np.arange(-3, 3, dtype=np.int32), "u8": np.arange(6, dtype=np.uint8),
             "bool": np.array([1, 0, 1, 1, 0, 0], bool)}[kind]
        b = a[::-1].copy()
        assert_same(getattr(ft, name)(ft.asarray(a), ft.asarray(b)), getattr(np, name)(a, b))
        assert_same(getattr(ft, name)(ft.asarray(a[:, None]), ft.asarray(b)),
                    getattr(np, name)(a[:, None], b))

    @pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor"])
    def test_logicals_accept_non_bool(self, name):
        a = np.array([0, 1, 2, 0], np.int32)
        b = np.array([0.0, 0.0, 1.5, 2.0], np.float32)
        assert_same(getattr(ft, name)(ft.asarray(a), ft.asarray(b)), getattr(np, name)(a, b))
        assert_same(ft.logical_not(ft.asarray(a)), np.logical_not(a))

    @pytest.mark.parametrize("lo,hi", [(0, 1), (-1.0, None), (None, 0.5), (0.5, 0.5)])
    def test_clip(self, lo, hi):
        a = np.linspace(-2, 2, 9).astype(np.float32)
        assert_same(ft.clip(ft.asarray(a), lo, hi), np.clip(a, lo, hi))

    def test_clip_with_array_bounds_and_keywords(self):
        a = np.linspace(-2, 2, 9).astype(np.float32)
        lo = np.linspace(-1, 0, 9).astype(np.float32)
        assert_same(ft.clip(ft.asarray(a), ft.asarray(lo), 1.0), np.clip(a, lo, 1.0))
        assert_same(ft.clip(ft.asarray(a), min=-1.0, max=1.0), np.clip(a, -1.0, 1.0))

    def test_where_broadcasting_and_dtypes(self):
        c = np.array([[True], [False]])
        x = np.arange(3, dtype=np.float32)
        assert_same(ft.where(ft.asarray(c), ft.asarray(x), 0), np.where(c, x, np.float32(0)))
        assert_same(ft.where(ft.asarray(c), 1.5, ft.asarray(x)), np.where(c, np.float32(1.5), x))
        assert ft.where(ft.tensor([1, 0]), 1.0, 2.0).dtype == np.float32
        assert_same(ft.where(ft.tensor([2, 0]), ft.tensor([1, 1]), ft.tensor([5, 5])),
                    np.array([1, 5]))
        h = ft.ones(2, ft.float16)
        assert ft.where(ft.tensor([True, False]), h, ft.ones(2)).dtype == np.float32

    def test_where_one_argument_form_explains(self):
        with pytest.raises(TypeError, match=r"nonzero"):
            ft.where(ft.tensor([True, False]))


# --------------------------------------------------------------------------- shape ops


def _lst(*arrs):
    return [ft.asarray(a) for a in arrs]


_X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
_XI = _X.astype(np.int32)

SHAPE_CASES = [
    ("reshape", (_X, (-1, 4)), {}), ("reshape", (_X, 24), {}), ("reshape", (_X, (4, 3, 2)), {}),
    ("reshape", (np.ones((0, 3), np.float32), (3, 0)), {}),
    ("reshape", (np.ones((0, 3), np.float32), (-1, 3)), {}),
    ("reshape", (np.ones((1, 1), np.float32), ()), {}),
    ("transpose", (_X,), {}), ("transpose", (_X, (-1, 0, 1)), {}),
    ("transpose", (_X,), {"axes": (2, 0, 1)}),
    ("swapaxes", (_X, -1, 0), {}), ("swapaxes", (_X, 1, 1), {}),
    ("moveaxis", (_X, 0, -1), {}), ("moveaxis", (_X, (0, 1), (-1, -2)), {}),
    ("moveaxis", (_X, [0], [2]), {}),
    ("squeeze", (np.ones((1, 3, 1), np.float32),), {}),
    ("squeeze", (np.ones((1, 3, 1), np.float32),), {"axis": (0, -1)}),
    ("squeeze", (np.ones((1, 3, 1), np.float32), -1), {}),
    ("squeeze", (np.ones((1,), np.float32),), {}),
    ("expand_dims", (_X, 0), {}), ("expand_dims", (_X, -1), {}),
    ("expand_dims", (_X, (0, -1)), {}), ("expand_dims", (_X, (1, 3)), {}),
    ("expand_dims", (np.float32(1) * np.ones((), np.float32), 0), {}),
    ("broadcast_to", (np.ones((1,), np.float32), 5), {}),
    ("broadcast_to", (np.arange(3, dtype=np.float32), (2, 0, 3)), {}),
    ("broadcast_to", (_X[:, :1], (5, 2, 3, 4)), {}),
    ("flip", (_X,), {}), ("flip", (_X,), {"axis": (0, -1)}), ("flip", (_X, 1), {}),
    ("flip", (_X,), {"axis": -2}),
    ("pad", (_X, 1), {}), ("pad", (_X, (1, 2)), {}), ("pad", (_X, ((1, 2),)), {}),
    ("pad", (_X, [(0, 0), (1, 0), (0, 2)]), {"constant_values": -1}),
    ("pad", (_XI, 2), {}), ("pad", (_X > 5, 1), {}),
    ("pad", (np.ones((0, 2), np.float32), 1), {}),
    ("take", (_X, np.array([0, 5, 23])), {}),
    ("take", (_X, np.array([[0, 2], [1, 1]])), {"axis": 1}),
    ("take", (_X, np.array([-1])), {"axis": -1}), ("take", (_X, 1), {"axis": 1}),
    ("take", (_X, np.array(2)), {"axis": 2}), ("take", (_X, np.array([], np.int64)), {"axis": 0}),
    ("take_along_axis", (_X, np.argsort(_X, axis=1)), {"axis": 1}),
    ("take_along_axis", (_X, np.zeros((2, 3, 1), np.int64)), {"axis": -1}),
    ("take_along_axis", (_X, np.zeros((1, 3, 1), np.int64)), {"axis": -1}),
    ("take_along_axis", (_X, np.zeros((2, 1, 4), np.int32)), {"axis": 1}),
    ("take_along_axis", (_X, np.array([3, 0])), {"axis": None}),
]


class TestShapeOps:
    @pytest.mark.parametrize("name,args,kw", SHAPE_CASES,
                             ids=[f"{c[0]}{k}" for k, c in enumerate(SHAPE_CASES)])
    def test_vs_numpy(self, name, args, kw):
        fargs = [ft.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
        assert_same(getattr(ft, name)(*fargs, **kw), getattr(np, name)(*args, **kw))

    @pytest.mark.parametrize("name,args,kw", [c for c in SHAPE_CASES if c[0] != "take"][:20],
                             ids=[f"{c[0]}{k}" for k, c in enumerate(
                                 [c for c in SHAPE_CASES if c[0] != "take"][:20])])
    def test_under_jit(self, name, args, kw):
        dyn = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]

        def f(*xs):
            full = list(args)
            for i, x in zip(dyn, xs):
                full[i] = x
            return getattr(ft, name)(*full, **kw)

        assert_same(ft.jit(f)(*[ft.asarray(args[i]) for i in dyn]),
                    getattr(np, name)(*args, **kw))

    @pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
    @pytest.mark.parametrize("container", [list, tuple])
    def test_concatenate_and_stack(self, axis, container):
        a, b = _X, _X + 100
        assert_same(ft.concatenate(container(_lst(a, b)), axis=axis),
                    np.concatenate([a, b], axis=axis))
        assert_same(ft.stack(container(_lst(a, b, a)), axis=axis), np.stack([a, b, a], axis=axis))
        assert_same(ft.stack(container(_lst(a)), axis=axis - (axis < 0)),
                    np.stack([a], axis=axis - (axis < 0)))

    def test_concatenate_stack_edge_forms(self):
        assert_same(ft.concatenate(_lst(_X, _X), axis=None), np.concatenate([_X, _X], axis=None))
        assert_same(ft.concatenate(_lst(_X, _XI)),                    # f32+i32: JAX's float32
                    np.concatenate([_X, _XI]).astype(np.float32))
        assert_same(ft.concatenate(_lst(_X, _X[:0])), np.concatenate([_X, _X[:0]]))
        assert_same(ft.concatenate(_lst(np.ones(3, np.uint8), np.ones(2, np.int32))),
                    np.concatenate([np.ones(3, np.uint8), np.ones(2, np.int32)]))
        assert_same(ft.stack(_lst(np.ones((), np.float32), np.zeros((), np.float32))),
                    np.array([1.0, 0.0], np.float32))
        assert_same(ft.stack([1.0, 2.0]), np.array([1.0, 2.0], np.float32))
        assert_same(ft.stack(_lst(np.zeros((0, 2), np.float32)) * 2, axis=1),
                    np.zeros((0, 2, 2), np.float32))

    @pytest.mark.parametrize("sections,axis", [
        (2, -1), (4, 2), ([1, 3], 2), ((1,), 0), ([], 0), ([4, 2], 2), ([2, 10], 2),
        (np.array([1, 2]), 1), (1, 1), (3, -2),
    ])
    def test_split(self, sections, axis):
        got = ft.split(ft.asarray(_X), sections, axis=axis)
        want = np.split(_X, sections, axis=axis)
        assert isinstance(got, (list, tuple)) and len(got) == len(want)
        for g, w in zip(got, want):
            assert_same(g, w)

    def test_split_unequal_is_a_clear_error(self):
        with pytest.raises(ValueError, match=r"split.*equal"):
            ft.split(ft.ones(5), 2)

    @pytest.mark.parametrize("name,args", [
        ("reshape", ((2, 3),)), ("transpose", ((1, 0),)), ("swapaxes", (0, 1)),
        ("moveaxis", (0, 1)), ("expand_dims", (1,)), ("flip", (0,)), ("broadcast_to", ((4, 6, 1),)),
    ])
    def test_shape_ops_are_differentiable_and_batchable(self, name, args):
        a = rand(6, 1) if name == "broadcast_to" else rand(3, 2)
        if name == "reshape":
            a = rand(6)
        f = lambda x: getattr(ft, name)(x, *args)  # noqa: E731
        g = ft.grad(lambda x: ft.sum(f(x) * f(x)))(ft.asarray(a))
        mult = 4 if name == "broadcast_to" else 1
        assert_same(g, 2 * mult * a, rtol=1e-5, atol=1e-5)
        batch = np.stack([a, 2 * a])
        assert_same(ft.vmap(f)(ft.asarray(batch)),
                    np.stack([np.asarray(f(ft.asarray(b))) for b in batch]))


# --------------------------------------------------------------------------- linalg


class TestLinalg:
    @pytest.mark.parametrize("sa,sb", [((), (3,)), ((2, 3), (3,)), ((3,), (3,)),
                                       ((2, 3), (3, 4)), ((2, 3, 4), (5, 4, 6)), ((0,), (0,))])
    def test_dot(self, sa, sb):
        a, b = rand(*sa), rand(*sb)
        assert_same(ft.dot(ft.asarray(a), ft.asarray(b)), np.dot(a, b), rtol=1e-5, atol=1e-5)

    def test_dot_with_python_scalar_and_ints(self):
        a = rand(2, 3)
        assert_same(ft.dot(ft.asarray(a), 2.0), a * np.float32(2))
        i = np.arange(6).reshape(2, 3)
        assert_same(ft.dot(ft.asarray(i), ft.asarray(i.T.copy())), np.dot(i, i.T))

    @pytest.mark.parametrize("sa,sb", [((3,), (4,)), ((2, 2), (3,)), ((0,), (2,)), ((), (3,))])
    def test_outer_flattens_like_numpy(self, sa, sb):
        a, b = rand(*sa), rand(*sb)
        assert_same(ft.outer(ft.asarray(a), ft.asarray(b)), np.outer(a, b))

    @pytest.mark.parametrize("spec,shapes", [
        ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]), ("ii", [(3, 3)]),
        ("ii->i", [(3, 3)]), ("...ij,...jk->...ik", [(5, 2, 3), (3, 4)]), ("ij->", [(2, 3)]),
        ("ijk->kji", [(2, 3, 4)]), ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
        ("i,j->ij", [(3,), (4,)]), ("ij,ij->i", [(2, 1), (2, 3)]),
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("...,...->...", [(2, 3), (3,)]),
        ("i,i", [(3,), (3,)]), ("ba", [(2, 3)]), ("ij->j", [(0, 3)]),
        ("i j , j k -> i k", [(2, 3), (3, 4)]),
    ])
    def test_einsum(self, spec, shapes):
        ops = [rand(*s) for s in shapes]
        assert_same(ft.einsum(spec, *[ft.asarray(o) for o in ops]), np.einsum(spec, *ops),
                    rtol=1e-5, atol=1e-5)

    def test_einsum_ints_grad_and_jit(self):
        i = np.arange(6, dtype=np.int32).reshape(2, 3)
        assert_same(ft.einsum("ij,j->i", ft.asarray(i), ft.ones(3, ft.int32)),
                    np.einsum("ij,j->i", i, np.ones(3, np.int32)))
        a, b = rand(2, 3), rand(3, 4)
        ga = ft.grad(lambda x: ft.sum(ft.einsum("ij,jk->ik", x, ft.asarray(b))))(ft.asarray(a))
        assert_same(ga, np.broadcast_to(b.sum(1), (2, 3)), rtol=1e-5, atol=1e-5)
        assert_same(ft.jit(lambda x, y: ft.einsum("ij,jk->ki", x, y))(a, b), (a @ b).T,
                    rtol=1e-5, atol=1e-5)

    def test_matmul_gradients_vs_numpy(self):
        a, b = rand(5, 2, 3), rand(3, 4)
        ga, gb = ft.grad(lambda x, y: ft.sum(x @ y), argnums=(0, 1))(a, b)
        assert_same(ga, np.broadcast_to(b.sum(1), a.shape), rtol=1e-5, atol=1e-5)
        assert_same(gb, np.broadcast_to(a.sum((0, 1))[:, None], b.shape), rtol=1e-5, atol=1e-5)

    def test_errors_name_op_and_shapes(self):
        with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(4, 5\)"):
            ft.ones((2, 3)) @ ft.ones((4, 5))
        with pytest.raises(ValueError, match=r"einsum"):
            ft.einsum("ij,jk->ik", ft.ones((2, 3)), ft.ones((4, 5)))
        with pytest.raises(ValueError, match=r"einsum.*2 operands"):
            ft.einsum("ij,jk->ik", ft.ones((2, 3)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
class TestLowPrecisionAccumulation:
    def test_float16_sum_accumulates_in_float32(self):
        assert float(ft.sum(ft.ones(5000, ft.float16))) == 5000.0
        assert float(ft.jit(ft.sum)(ft.ones(5000, ft.float16))) == 5000.0

    @pytest.mark.parametrize("n,v", [(1000, 100.0), (70000, 2.0)])
    def test_float16_mean_var_std(self, n, v):
        x = ft.full((n,), v, dtype=ft.float16)
        assert float(ft.mean(x)) == v
        assert float(ft.jit(ft.mean)(x)) == v
        assert float(ft.var(x)) == 0.0 and float(ft.std(x)) == 0.0
        assert float(F.mse_loss(x, ft.zeros(n, ft.float16))) == v * v

    @pytest.mark.parametrize("backend", ["numba", "interpret"])
    @pytest.mark.parametrize("dtype", [ft.float16, ft.bfloat16], ids=["f16", "bf16"])
    def test_half_reductions_under_jit_vmap_and_grad(self, dtype, backend, monkeypatch):
        """Accumulate in float32, round once: eagerly, compiled, batched, differentiated."""
        monkeypatch.setenv("FUNTORCH_CPU_BACKEND", backend)
        x = ft.full((4, 1000), 2.0, dtype=dtype)
        want = {"sum": 8000.0, "mean": 2.0, "var": 0.0, "std": 0.0}
        for name, v in want.items():
            fn = getattr(ft, name)
            for run in (fn, ft.jit(fn)):
                got = run(x)
                assert got.dtype == dtype and float(got) == v, (name, run)
            got = ft.vmap(fn)(x)
            assert got.dtype == dtype, name
            assert_same(got, np.full(4, v / 4 if name == "sum" else v, np.float32),
                        check_dtype=False)
        for run in (lambda f: f, ft.jit):
            g = run(ft.grad(lambda a: ft.mean(a * a).astype(ft.float32)))(x)
            assert g.dtype == dtype
            assert_same(g, np.full((4, 1000), 1e-3, np.float32), rtol=1e-2, check_dtype=False)

    def test_bfloat16_reductions(self):
        assert float(ft.sum(ft.ones(5000, ft.bfloat16))) == 4992.0
        assert float(ft.mean(ft.full((1000,), 2.0, dtype=ft.bfloat16))) == 2.0
        assert float(F.mse_loss(ft.full((1000,), 2.0, dtype=ft.bfloat16),
                                ft.zeros(1000, ft.bfloat16))) == 4.0


class TestPythonListOperands:
    def test_reductions_and_constructors_treat_float_lists_as_float32(self):
        assert ft.sum([1.0, 2.0]).dtype == np.float32
        assert ft.asarray([1.0, 2.0]).dtype == np.float32
        assert ft.concatenate([[1.0, 2.0], [3.0]]).dtype == np.float32
        assert ft.stack([[1.0, 2.0], [3.0, 4.0]]).dtype == np.float32

    @pytest.mark.parametrize("fn", [
        lambda a, b: ft.add(a, b), lambda a, b: ft.maximum(a, b),
        lambda a, b: ft.where([True, False], a, b), lambda a, b: ft.matmul(a, b),
        lambda a, b: ft.dot(a, b), lambda a, b: ft.outer(a, b),
        lambda a, b: ft.einsum("i,i->", a, b),
    ], ids=["add", "maximum", "where", "matmul", "dot", "outer", "einsum"])
    def test_binary_ops_treat_float_lists_as_float32(self, fn):
        assert fn([1.0, 2.0], [3.0, 4.0]).dtype == np.float32
        assert ft.jit(lambda a: fn(a, [3.0, 4.0]))(ft.ones(2)).dtype == np.float32
        assert ft.jit(lambda a: fn([a[0], 2.0], [3.0, 4.0]))(ft.ones(2)).dtype == np.float32
