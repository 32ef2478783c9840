"""Arrays: constructors, weak typing, the Array API, operators, indexing, devices."""

from __future__ import annotations

import importlib
import math
import operator

import numpy as np
import pytest

import funtorch as ft

from .common import ALL_DTYPES, FLOATS, INTS, RNG, assert_same, ids, rand


class TestConstructors:
    @pytest.mark.parametrize("data,dtype", [
        (1.5, np.float32), (3, np.int64), (True, np.bool_), ([1, 2.5], np.float32),
        ([[1, 2], [3, 4]], np.int64), ([True, False], np.bool_), ([], np.float32),
        (np.ones(2), np.float64), (np.ones(2, np.int32), np.int32),
        (np.ones(2, np.uint8), np.uint8), (np.float64(2.0), np.float64),
    ])
    def test_tensor_default_dtypes(self, data, dtype):
        x = ft.tensor(data)
        assert isinstance(x, ft.Array)
        assert x.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(data, dtype=dtype))

    @pytest.mark.parametrize("dtype", ALL_DTYPES, ids=ids(ALL_DTYPES))
    def test_tensor_dtype_argument(self, dtype):
        assert ft.tensor([1, 0, 1], dtype=dtype).dtype == dtype
        assert ft.asarray([1, 0, 1], dtype=dtype).dtype == dtype

    def test_tensor_copies_but_dtype_strings_work(self):
        a = np.zeros(3, np.float32)
        x = ft.tensor(a)
        a[0] = 9.0
        assert np.asarray(x)[0] == 0.0
        assert ft.tensor([1, 2], dtype="float16").dtype == np.float16

    def test_asarray_of_array_and_python(self):
        x = ft.arange(3.0)
        assert ft.asarray(x).dtype == np.float32
        assert ft.asarray(2.0).dtype == np.float32
        assert ft.asarray(2).dtype == np.int64
        assert ft.asarray(np.float16(1)).dtype == np.float16

    @pytest.mark.parametrize("fn", ["zeros", "ones"])
    @pytest.mark.parametrize("shape", [(), 3, (0,), (2, 0, 3), (1, 2)])
    def test_zeros_ones(self, fn, shape):
        x = getattr(ft, fn)(shape)
        ref = getattr(np, fn)(shape, np.float32)
        assert_same(x, ref)
        assert getattr(ft, fn)(shape, dtype=ft.int32).dtype == np.int32
        assert getattr(ft, fn)(shape, ft.bfloat16).dtype == ft.bfloat16

    @pytest.mark.parametrize("fill,dtype", [(3, np.int64), (3.0, np.float32), (True, np.bool_)])
    def test_full_infers_python_scalar_dtype(self, fill, dtype):
        assert_same(ft.full((2, 3), fill), np.full((2, 3), fill, dtype))
        assert ft.full((2,), fill, dtype=ft.float16).dtype == np.float16
        assert ft.full(4, fill).shape == (4,)

    @pytest.mark.parametrize("args,kw", [
        ((5,), {}), ((2, 7), {}), ((7, 2, -2), {}), ((0, 1, 0.25), {}), ((0,), {}),
        ((3,), {"dtype": np.float32}), ((1.5, 4), {}), ((-3, 3, 2), {}), ((5, 1), {}),
    ])
    def test_arange(self, args, kw):
        ref = np.arange(*args, **kw)
        if ref.dtype == np.float64 and "dtype" not in kw:
            ref = ref.astype(np.float32)     # Python floats are float32
        assert_same(ft.arange(*args, **kw), ref)

    @pytest.mark.parametrize("args,kw", [
        ((0, 1, 5), {}), ((0, 1, 4), {"endpoint": False}), ((2, 3, 1), {}), ((1, 0, 3), {}),
        ((0, 10, 0), {}), ((0, 1, 3), {"dtype": np.float64}),
    ])
    def test_linspace(self, args, kw):
        ref = np.linspace(*args, **kw)
        if "dtype" not in kw:
            ref = ref.astype(np.float32)
        assert_same(ft.linspace(*args, **kw), ref, rtol=1e-6)

    @pytest.mark.parametrize("args,kw", [((3,), {}), ((2, 3), {}), ((3,), {"k": 1}),
                                         ((3, 4), {"k": -2}), ((0,), {}),
                                         ((2,), {"dtype": np.int32})])
    def test_eye(self, args, kw):
        ref = np.eye(*args, **kw)
        if "dtype" not in kw:
            ref = ref.astype(np.float32)
        assert_same(ft.eye(*args, **kw), ref)

    @pytest.mark.parametrize("dtype", ALL_DTYPES, ids=ids(ALL_DTYPES))
    def test_like_constructors_keep_dtype_and_shape(self, dtype):
        x = ft.ones((2, 0, 3), dtype)
        for fn in (ft.zeros_like, ft.ones_like):
            y = fn(x)
            assert y.shape == (2, 0, 3) and y.dtype == dtype
        assert ft.zeros_like(ft.ones((2,), dtype), dtype=ft.float32).dtype == np.float32
        assert ft.ones_like(np.ones(2, np.float16)).dtype == np.float16

    def test_dtypes_are_numpy_dtypes(self):
        import ml_dtypes
        for name, ref in [("float32", np.float32), ("float64", np.float64),
                          ("float16", np.float16), ("bfloat16", ml_dtypes.bfloat16),
                          ("int32", np.int32), ("int64", np.int64), ("uint8", np.uint8),
                          ("uint32", np.uint32), ("bool_", np.bool_)]:
            d = getattr(ft, name)
            assert np.dtype(d) == np.dtype(ref)
            assert ft.zeros(1, d).dtype == np.dtype(ref)


# --------------------------------------------------------------------------- promotion


BINOPS = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "truediv": operator.truediv, "floordiv": operator.floordiv, "mod": operator.mod,
    "pow": operator.pow,
}


def _weak_expected(dtype, scalar, opname):
    """JAX's weak typing: the array's dtype wins unless the scalar is of a higher kind."""
    d = np.dtype(dtype)
    if opname == "truediv" and d.kind in "iub":
        return np.dtype(np.float32)
    if isinstance(scalar, bool):
        return d
    if isinstance(scalar, int):
        return np.dtype(np.int64) if d == np.bool_ else d
    # float scalar
    return d if d.kind == "f" or d == ft.bfloat16 else np.dtype(np.float32)


class TestWeakTyping:
    @pytest.mark.parametrize("dtype", FLOATS + INTS, ids=ids(FLOATS + INTS))
    @pytest.mark.parametrize("scalar", [2, 2.5, True], ids=["int", "float", "bool"])
    @pytest.mark.parametrize("opname", [o for o in BINOPS if o != "pow"])
    def test_python_scalar_never_widens_eager(self, dtype, scalar, opname):
        x = ft.ones((3,), dtype) * 3
        op = BINOPS[opname]
        want = _weak_expected(dtype, scalar, opname)
        assert op(x, scalar).dtype == want
        assert op(scalar, x).dtype == want

    @pytest.mark.parametrize("dtype", FLOATS, ids=ids(FLOATS))
    @pytest.mark.parametrize("scalar", [2, 0.5])
    def test_float_pow_scalar_keeps_dtype(self, dtype, scalar):
        x = ft.ones((3,), dtype) * 3
        assert (x ** scalar).dtype == dtype
        assert (scalar ** x).dtype == dtype

    @pytest.mark.parametrize("dtype", INTS, ids=ids(INTS))
    def test_int_array_to_python_int_power(self, dtype):
        x = ft.arange(4).astype(dtype)
        assert_same(x ** 2, np.arange(4).astype(dtype) ** 2)
        assert_same(ft.power(x, 3), np.arange(4).astype(dtype) ** 3)

    def test_int_scalar_to_int_array_power(self):
        x = ft.arange(4)
        assert_same(2 ** x, 2 ** np.arange(4))
        assert_same(x ** ft.tensor([1, 2, 3, 0]), np.arange(4) ** np.array([1, 2, 3, 0]))

    @pytest.mark.parametrize("backend", ["numba", "interpret"])
    def test_int_power_negative_exponent_eager_and_jit(self, backend, monkeypatch):
        """numpy raises on negative integer exponents; funtorch returns trunc(1 / x**-y)
        (0 for x == 0), since a compiled graph cannot check values; the same compiled."""
        monkeypatch.setenv("FUNTORCH_CPU_BACKEND", backend)
        x = ft.tensor([2, -1, -1, 1, 0, 3, -3, 5])
        y = ft.tensor([-1, -1, -2, -5, -1, 2, 3, 0])
        want = np.array([0, -1, 1, 1, 0, 9, -27, 1])
        assert_same(x ** y, want)
        assert_same(ft.jit(lambda a, b: a ** b)(x, y), want)
        for dt in (ft.int32, ft.uint8, ft.int8):
            a = np.arange(6).astype(dt)
            assert_same(ft.jit(lambda b: 3 ** b)(ft.asarray(a)), np.power(np.asarray(3, dt), a))
        assert_same(ft.vmap(lambda b: 2 ** b)(ft.arange(4)), 2 ** np.arange(4))

    @pytest.mark.parametrize("a,b", [
        (ft.float16, ft.float32), (ft.bfloat16, ft.float32), (ft.float32, ft.float64),
        (ft.int32, ft.int64), (ft.uint8, ft.int32), (ft.uint8, ft.uint32),
        (ft.bool_, ft.int32), (ft.bool_, ft.float16), (ft.uint8, ft.uint8),
    ], ids=lambda d: str(np.dtype(d)))
    def test_same_kind_promotion_follows_numpy(self, a, b):
        want = np.result_type(np.dtype(a), np.dtype(b))
        x, y = ft.ones(2, a), ft.ones(2, b)
        assert (x + y).dtype == want
        assert (y * x).dtype == want
        assert ft.maximum(x, y).dtype == want
        assert ft.where(ft.ones(2, ft.bool_), x, y).dtype == want

    @pytest.mark.parametrize("dtype", [ft.float16, ft.bfloat16, ft.int32, ft.uint8],
                             ids=ids([ft.float16, ft.bfloat16, ft.int32, ft.uint8]))
    @pytest.mark.parametrize("fn", [
        lambda a: ft.maximum(a, 0), lambda a: ft.minimum(1, a), lambda a: ft.clip(a, 0, 2),
        lambda a: ft.where(a > 1, a, 0), lambda a: ft.full_like(a, 3),
        lambda a: ft.pad(a, 1, constant_values=7), lambda a: a.at[0].set(5),
        lambda a: a.at[1:].add(1), lambda a: -a, lambda a: abs(a),
    ], ids=["maximum", "minimum_r", "clip", "where", "full_like", "pad", "at_set", "at_add",
            "neg", "abs"])
    def test_python_scalars_in_functions_keep_dtype(self, dtype, fn):
        x = ft.arange(1, 4).astype(dtype)
        assert fn(x).dtype == dtype
        assert ft.jit(fn)(x).dtype == dtype

    @pytest.mark.parametrize("dtype", [ft.float16, ft.bfloat16], ids=["f16", "bf16"])
    def test_python_scalar_closure_under_transforms_keeps_low_precision(self, dtype):
        x = ft.ones((2, 3), dtype)
        assert ft.jit(lambda a: a * 2.5 + 1)(x).dtype == dtype
        assert ft.vmap(lambda a: a * 2.5)(x).dtype == dtype
        assert ft.grad(lambda a: ft.sum(a * 2.5).astype(ft.float32))(x).dtype == dtype
        assert ft.vmap(lambda a, s: a * s, in_axes=(0, None))(x, 2.5).dtype == dtype

    @pytest.mark.parametrize("dtype,scalar", [
        (ft.float32, 2), (ft.float16, 2.0), (ft.bfloat16, 2.0), (ft.int32, 2),
        (ft.uint8, 2), (ft.int64, 2.0),
    ], ids=["f32*int", "f16*float", "bf16*float", "i32*int", "u8*int", "i64*float"])
    def test_python_scalar_jit_argument_is_weak(self, dtype, scalar):
        x = ft.ones((3,), dtype)
        eager = (x * scalar).dtype
        assert ft.jit(lambda a, s: a * s)(x, scalar).dtype == eager

    def test_python_float_output_of_jit_and_vmap_is_float32(self):
        assert ft.jit(lambda a: (a, 2.5))(ft.ones(2))[1].dtype == np.float32
        assert ft.vmap(lambda a: 1.0)(ft.ones(4)).dtype == np.float32
        assert ft.vmap(lambda a: (a, 2))(ft.ones(4))[1].dtype == np.int64
        assert ft.jit(ft.vmap(lambda a: 1.0))(ft.ones(4)).dtype == np.float32
        assert ft.lax.broadcast_in_dim(1.0, (2,), ()).dtype == np.float32   # eager lax

    def test_python_int_and_bool_outputs_of_jit(self):
        assert ft.jit(lambda a: 3)(ft.ones(2)).dtype == np.int64
        assert ft.jit(lambda a: True)(ft.ones(2)).dtype == np.bool_
        assert ft.cond(True, lambda: 1.0, lambda: 2.0).dtype == np.float32
        assert ft.scan(lambda c, x: (c, 1.0), 0.0, ft.ones(3))[1].dtype == np.float32

    def test_mixed_numpy_operands(self):
        x = ft.ones(2)
        assert isinstance(np.ones(2, np.float32) + x, ft.Array)
        assert (np.float32(2) * x).dtype == np.float32
        assert (x + np.ones(2)).dtype == np.float64      # numpy arrays are not weak
        assert isinstance(np.ones((2, 2), np.float32) @ x, ft.Array)

    def test_out_of_range_python_int_is_an_error(self):
        with pytest.raises(OverflowError):
            ft.ones(2, ft.uint8) + 300


# --------------------------------------------------------------------------- Array API


class TestArrayAPI:
    def test_attributes(self):
        a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
        x = ft.asarray(a)
        assert x.shape == (2, 3, 4) and isinstance(x.shape, tuple)
        assert x.dtype == np.float32 and isinstance(x.dtype, np.dtype)
        assert x.ndim == 3 and x.size == 24
        assert_same(x.T, a.T)
        assert x.device == "cpu" or str(x.device) == "cpu"
        assert_same(x.numpy(), a)
        assert isinstance(x.numpy(), np.ndarray)
        assert_same(np.asarray(x), a)
        assert np.asarray(x, dtype=np.float64).dtype == np.float64
        assert np.array(x).dtype == np.float32
        assert len(x) == 2
        assert [r.shape for r in x] == [(3, 4), (3, 4)]

    @pytest.mark.parametrize("shape", [(), (0,), (3,), (1, 1)])
    def test_edge_shapes_attributes(self, shape):
        x = ft.zeros(shape)
        assert x.shape == shape and x.ndim == len(shape) and x.size == math.prod(shape)
        assert x.T.shape == shape[::-1]

    def test_numpy_copy_does_not_alias(self):
        x = ft.zeros((2, 2))
        n = x.numpy()
        if n.flags.writeable:
            n[0, 0] = 5.0
        assert float(x[0, 0]) == 0.0

    @pytest.mark.parametrize("value,pytype", [(2.5, float), (3, int), (True, bool)])
    def test_item_and_python_conversions(self, value, pytype):
        x = ft.tensor(value)
        assert type(x.item()) is pytype and x.item() == value
        assert ft.ones((1, 1, 1)).item() == 1.0
        assert float(ft.tensor(1.5)) == 1.5 and int(ft.tensor(3)) == 3
        assert bool(ft.tensor(1.0)) is True
        assert [10, 11, 12][ft.tensor(1)] == 11           # __index__
        with pytest.raises((ValueError, TypeError), match=r"\(2,\)|size"):
            ft.ones(2).item()

    @pytest.mark.parametrize("dtype", ALL_DTYPES, ids=ids(ALL_DTYPES))
    def test_astype_round_trip(self, dtype):
        a = np.array([0.0, 1.0, 2.0, 3.0], np.float32)
        x = ft.asarray(a).astype(dtype)
        assert x.dtype == dtype
        assert_same(x, a.astype(dtype))
        assert ft.asarray(a).astype(str(np.dtype(dtype))).dtype == dtype

    @pytest.mark.parametrize("args", [((3, 2),), (3, 2), ((-1,),), (-1,), ((6, 1, 1),),
                                      ([2, -1],)])
    def test_reshape_forms(self, args):
        a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
        assert_same(ft.asarray(a).reshape(*args), a.reshape(*args))

    @pytest.mark.parametrize("args", [(), ((2, 0, 1),), (2, 0, 1), ((-1, 0, 1),)])
    def test_transpose_forms(self, args):
        a = np.arange(24.0, dtype=np.float32).reshape(2, 3, 4)
        assert_same(ft.asarray(a).transpose(*args), a.transpose(*args))

    @pytest.mark.parametrize("method", ["sum", "mean", "max", "min", "argmax"])
    @pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), (-1, -3)])
    @pytest.mark.parametrize("keepdims", [False, True])
    def test_reduction_methods(self, method, axis, keepdims):
        a = rand(2, 3, 4)
        x = ft.asarray(a)
        if method == "argmax" and isinstance(axis, tuple):
            # numpy's argmax takes one axis; a tuple is a TypeError there and here
            with pytest.raises(TypeError):
                a.argmax(axis=axis, keepdims=keepdims)
            with pytest.raises(TypeError):
                x.argmax(axis=axis, keepdims=keepdims)
            return
        got = getattr(x, method)(axis=axis, keepdims=keepdims)
        want = getattr(a, method)(axis=axis, keepdims=keepdims)
        assert_same(got, np.asarray(want), rtol=1e-5, atol=1e-5)
        if axis is not None and not isinstance(axis, tuple):
            assert_same(getattr(x, method)(axis), np.asarray(getattr(a, method)(axis)),
                        rtol=1e-5, atol=1e-5)

    def test_immutable_and_unhashable(self):
        x = ft.ones(3)
        with pytest.raises(TypeError, match=r"\.at\["):
            x[0] = 2.0
        with pytest.raises(TypeError):
            hash(x)

    def test_repr_mentions_dtype_and_values(self):
        r = repr(ft.tensor([1.5, 2.0]))
        assert "1.5" in r and "float32" in r
        assert "bfloat16" in repr(ft.ones(2, ft.bfloat16))


# --------------------------------------------------------------------------- operators


OPERATORS = [
    ("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
    ("truediv", operator.truediv), ("floordiv", operator.floordiv), ("mod", operator.mod),
    ("lt", operator.lt), ("le", operator.le), ("gt", operator.gt), ("ge", operator.ge),
    ("eq", operator.eq), ("ne", operator.ne), ("max", np.maximum),
]


class TestOperators:
    @pytest.mark.parametrize("name,op", OPERATORS, ids=[n for n, _ in OPERATORS])
    @pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64],
                             ids=["f32", "f64", "i32", "i64"])
    def test_binary_operators_vs_numpy_with_broadcasting(self, name, op, dtype):
        a = (RNG.integers(-5, 6, (3, 1, 4)) + 0.5 * (dtype in (np.float32, np.float64)))
        b = RNG.integers(1, 6, (2, 1)) * (1 if RNG.random() < 2 else -1)
        a, b = a.astype(dtype), b.astype(dtype)
        if op is np.maximum:
            got = ft.maximum(ft.asarray(a), ft.asarray(b))
        else:
            got = op(ft.asarray(a), ft.asarray(b))
        want = op(a, b)
        if name == "truediv" and np.dtype(dtype).kind == "i":
            want = want.astype(np.float32) if dtype == np.int32 else want
            assert_same(got, want, check_dtype=False)
        else:
            assert_same(got, want)

    @pytest.mark.parametrize("scalar", [3, -2.5])
    @pytest.mark.parametrize("name,op", OPERATORS[:-1], ids=[n for n, _ in OPERATORS[:-1]])
    def test_python_scalar_on_either_side_values(self, name, op, scalar):
        a = np.array([-3.5, -1.0, 0.5, 2.0, 7.25], np.float32)
        x = ft.asarray(a)
        with np.errstate(all="ignore"):
            assert_same(op(x, scalar), op(a, np.float32(scalar)), check_dtype=False)
            assert_same(op(scalar, x), op(np.float32(scalar), a), check_dtype=False)

    def test_unary_and_bitwise_operators(self):
        a = np.array([6, -3, 0, 5])
        x = ft.asarray(a)
        assert_same(-x, -a)
        assert_same(+x, a)
        assert_same(abs(x), abs(a))
        assert_same(~x, ~a)
        assert_same(x & 5, a & 5)
        assert_same(5 | x, 5 | a)
        assert_same(x ^ 3, a ^ 3)
        assert_same(x << 1, a << 1)
        assert_same(x >> 1, a >> 1)
        m = np.array([True, False, True])
        y = ft.asarray(m)
        assert_same(~y, ~m)
        assert_same(y & True, m & True)
        assert_same(True | y, True | m)
        assert_same(y ^ y, m ^ m)

    def test_integer_semantics_of_division_and_modulo(self):
        a = np.array([-7, -5, 5, 7])
        x = ft.asarray(a)
        assert_same(x // 3, a // 3)
        assert_same(x % 3, a % 3)
        assert_same(x % -3, a % -3)
        assert_same(-7 // ft.tensor([2, -2]), -7 // np.array([2, -2]))
        f = np.array([-5.5, 5.5], np.float32)
        assert_same(ft.asarray(f) % 3, f % np.float32(3))
        assert_same(ft.asarray(f) // 2, f // np.float32(2))
        assert_same(ft.tensor([1.0, -1.0, 0.0]) / 0, np.array([np.inf, -np.inf, np.nan],
                                                               np.float32))

    def test_divmod(self):
        q, r = divmod(ft.tensor([7, -7]), 3)
        assert_same(q, np.array([2, -3]))
        assert_same(r, np.array([1, 2]))
        q, r = divmod(-7, ft.tensor([2, -2]))
        assert_same(q, np.array([-4, 3]))
        assert_same(r, np.array([1, -1]))
        f = np.array([-5.5, 5.5], np.float32)
        for got in (ft.divmod(ft.asarray(f), 2.0), ft.jit(ft.divmod)(ft.asarray(f), 2.0)):
            for g, w in zip(got, np.divmod(f, np.float32(2))):
                assert_same(g, w)

    @pytest.mark.parametrize("sa,sb", [
        ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
        ((5, 1, 2, 3), (4, 3, 2)), ((2, 0), (0, 3)), ((0, 3), (3, 2)), ((1, 2, 3), (5, 3, 1)),
    ])
    def test_matmul_operator_shapes(self, sa, sb):
        a, b = rand(*sa), rand(*sb)
        assert_same(ft.asarray(a) @ ft.asarray(b), a @ b, rtol=1e-5, atol=1e-5)
        assert_same(ft.matmul(a, b), a @ b, rtol=1e-5, atol=1e-5)

    @pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float16, ft.bfloat16],
                             ids=["i32", "i64", "f16", "bf16"])
    def test_matmul_keeps_dtype(self, dtype):
        a = np.arange(6).reshape(2, 3).astype(dtype)
        got = ft.asarray(a) @ ft.asarray(a.T.copy())
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(np.asarray(got, np.float64),
                                   a.astype(np.float64) @ a.T.astype(np.float64))

    def test_numpy_functions_accept_arrays(self):
        x = ft.arange(4.0)
        assert float(np.sum(x)) == 6.0
        assert float(np.max(x)) == 3.0
        assert np.isnan(x).sum() == 0
        assert float(np.mean(x)) == 1.5 and int(np.argmax(x)) == 3
        assert_same(np.cumsum(x), np.arange(4.0, dtype=np.float32).cumsum())
        assert_same(np.clip(x, 1, 2), np.clip(np.arange(4.0, dtype=np.float32), 1, 2))
        assert isinstance(np.exp(x), np.ndarray)        # ufuncs run on a host copy
        with pytest.raises(TypeError, match="out"):
            np.sum(x, out=np.zeros((), np.float32))    # arrays are immutable
        # numpy's operators still defer to the funtorch Array on the right
        assert isinstance(np.ones(4, np.float32) * x, ft.Array)
        assert isinstance(np.ones(4) < x, ft.Array)
        with pytest.raises(ft.ConcretizationTypeError):
            ft.jit(np.isnan)(x)


# --------------------------------------------------------------------------- indexing


_A24 = np.arange(24, dtype=np.float32).reshape(2, 3, 4)

INDICES = [
    0, -1, (0, 1), (slice(None), 1), (Ellipsis, 0), (None, 0), (0, None, Ellipsis, None),
    slice(None, None, -1), (slice(1, None), slice(None, None, 2)), (slice(5, 10),),
    (slice(-100, 100),), (1, -1, -1), (np.int64(1),), (None,), (Ellipsis,), (),
    np.array([1, 0, 1]), [1, 0], (np.array([0, 1]), np.array([2, 0])),
    (slice(None), np.array([[0, 1], [2, 2]])), (0, slice(None), np.array([3, 0])),
    (np.array([0, 1]), slice(None), np.array([1, 2])), (np.array([[0], [1]]), np.array([0, 2])),
    np.array(1), (np.array([], np.int64),), (Ellipsis, np.array([-1, -4])),
    (slice(None), [True, False, True]), _A24 > 5, (slice(None), (_A24 > 5)[0]),
]


class TestIndexing:
    @pytest.mark.parametrize("idx", INDICES, ids=[f"i{k}" for k in range(len(INDICES))])
    def test_getitem_matches_numpy(self, idx):
        x = ft.asarray(_A24)
        fidx = ft.asarray(idx) if isinstance(idx, np.ndarray) else idx
        if isinstance(idx, tuple):
            fidx = tuple(ft.asarray(i) if isinstance(i, np.ndarray) else i for i in idx)
        assert_same(x[fidx], _A24[idx])

    @pytest.mark.parametrize("idx", [0, (slice(None), 1), (Ellipsis, -1), np.array([1, 0]),
                                     (np.array([0, 1]), np.array([2, 0]))],
                             ids=["int", "slice", "ellipsis", "array", "pair"])
    def test_getitem_under_jit_and_vmap(self, idx):
        x = ft.asarray(_A24)
        fidx = ft.asarray(idx) if isinstance(idx, np.ndarray) else idx
        assert_same(ft.jit(lambda a: a[fidx])(x), _A24[idx])
        batch = np.stack([_A24, _A24 + 1])
        assert_same(ft.vmap(lambda a: a[fidx])(ft.asarray(batch)),
                    np.stack([b[idx] for b in batch]))

    def test_traced_integer_index(self):
        x = ft.asarray(_A24)
        assert_same(ft.jit(lambda a, i: a[i, -1])(x, ft.tensor(1)), _A24[1, -1])
        assert_same(ft.vmap(lambda a, i: a[i])(ft.arange(12.0).reshape(4, 3),
                                               ft.tensor([0, 1, 2, 0])),
                    np.array([0.0, 4.0, 8.0, 9.0], np.float32))

    def test_boolean_mask_under_jit_is_a_clear_error(self):
        with pytest.raises(ft.NonConcreteBooleanIndexError, match=r"(?i)mask|boolean") as e:
            ft.jit(lambda a: a[a > 1])(ft.arange(3.0))
        assert "where" in str(e.value)

    @pytest.mark.parametrize("op", ["set", "add", "multiply", "min", "max"])
    @pytest.mark.parametrize("idx,val", [
        (0, 5.0), (-1, 5.0), ((slice(None), slice(1, None)), 5.0),
        ((np.array([0, 0, 1]),), 2.0), ((Ellipsis, 1), np.arange(6.0).reshape(2, 3)),
        (_A24 > 10, 1.0), ((slice(None, None, -1),), 1.0),
        ((np.array([0, 1]), slice(None), np.array([1, 3])), 3.0), ((None, 0), 3.0),
    ], ids=[f"i{k}" for k in range(9)])
    def test_at_matches_numpy_ufunc_at(self, op, idx, val):
        ref = _A24.copy()
        v = np.asarray(val, np.float32)
        if op == "set":
            ref[idx] = v
        else:
            {"add": np.add, "multiply": np.multiply, "min": np.minimum,
             "max": np.maximum}[op].at(ref, idx, v)
        x = ft.asarray(_A24)
        fidx = ft.asarray(idx) if isinstance(idx, np.ndarray) else idx
        if isinstance(idx, tuple):
            fidx = tuple(ft.asarray(i) if isinstance(i, np.ndarray) else i for i in idx)
        got = getattr(x.at[fidx], op)(val)
        assert_same(got, ref)
        np.testing.assert_array_equal(np.asarray(x), _A24)     # x itself is unchanged

    def test_at_keeps_dtype_and_broadcasts(self):
        xi = ft.arange(6).reshape(2, 3).astype(ft.int32)
        assert xi.at[0].set(2.7).dtype == np.int32
        assert ft.ones((2, 3)).at[0].set(np.float64(1.5)).dtype == np.float32
        assert ft.ones((2, 3), ft.bfloat16).at[:, 1].add(1.0).dtype == ft.bfloat16
        assert_same(ft.zeros((2, 3)).at[:, 0].set(ft.tensor([1.0, 2.0])),
                    np.array([[1, 0, 0], [2, 0, 0]], np.float32))
        assert_same(ft.asarray(_A24).at[0, 1].get(), _A24[0, 1])

    def test_at_under_jit_vmap_grad(self):
        x = ft.arange(4.0)
        assert_same(ft.jit(lambda a, i: a.at[i].set(-1.0))(x, ft.tensor(2)),
                    np.array([0, 1, -1, 3], np.float32))
        assert_same(ft.vmap(lambda a, i: a.at[i].set(0.0))(ft.ones((2, 3)), ft.tensor([0, 2])),
                    np.array([[0, 1, 1], [1, 1, 0]], np.float32))
        g = ft.grad(lambda a: ft.sum(a.at[1].set(10.0) * a))(x)
        assert_same(g, np.array([0.0, 10.0, 4.0, 6.0], np.float32))
        g = ft.grad(lambda v: ft.sum(ft.zeros(4).at[ft.tensor([0, 0, 3])].add(v)))(ft.ones(3))
        assert_same(g, np.ones(3, np.float32))

    def test_at_wrong_value_shape_is_clear(self):
        with pytest.raises(ValueError, match=r"\(5,\).*\(2, 4\)|\(2, 4\).*\(5,\)"):
            ft.asarray(_A24).at[:, 0].set(ft.ones(5))

    @pytest.mark.parametrize("idx,err", [(5, IndexError), ((0, 0, 0, 0), IndexError),
                                         (1.5, IndexError)])
    def test_bad_indices(self, idx, err):
        with pytest.raises(err):
            ft.asarray(_A24)[idx]


# =========================================================================== devices


class TestDevices:
    def test_devices_lists_cpu_first(self):
        devs = ft.devices()
        assert str(devs[0]) == "cpu"
        assert all(str(d) in ("cpu", "cuda:0") or str(d).startswith("cuda:") for d in devs)

    def test_device_put_cpu_and_trees(self):
        x = ft.device_put(ft.ones(2), "cpu")
        assert str(x.device) == "cpu"
        y = ft.device_put(np.ones(2), "cpu")
        assert isinstance(y, ft.Array) and y.dtype == np.float64     # numpy keeps its dtype
        t = ft.device_put({"a": ft.ones(2), "b": [np.ones(1, np.float32)]}, "cpu")
        assert isinstance(t["b"][0], ft.Array)
        assert str(ft.jit(lambda a: a * 2)(x).device) == "cpu"
        assert str(ft.device_put(ft.ones(2), ft.devices()[0]).device) == "cpu"

    @pytest.mark.parametrize("dev", ["cuda", "cuda:0"])
    def test_cuda_without_a_gpu_is_a_clear_error(self, dev, monkeypatch):
        # the suite runs with the CUDA simulator on, so pretend there is no device rather
        # than skip (a skip here would never run in CI)
        cuda = importlib.import_module("funtorch.core.devices").backend("cuda")
        monkeypatch.setattr(cuda, "devices", lambda: [])
        assert not any(str(d).startswith("cuda") for d in ft.devices())
        with pytest.raises(RuntimeError, match=r"(?i)cuda.*(no|not).*(available|device)") as e:
            ft.device_put(ft.ones(2), dev)
        assert "cpu" in str(e.value)

    def test_unknown_device_is_a_clear_error(self):
        with pytest.raises(ValueError, match=r"tpu"):
            ft.device_put(ft.ones(2), "tpu")
