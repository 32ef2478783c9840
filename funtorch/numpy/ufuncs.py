"""Elementwise ops with numpy names: broadcasting, promotion, weak Python scalars."""

from __future__ import annotations

import numpy as np

from .. import lax
from ..core import dtypes
from ._core import asarray, elementwise, is_array, promote_broadcast, to_float


def add(x, y):
    return elementwise("add", _bool_or(lax.add), x, y)


def subtract(x, y):
    return elementwise("subtract", lax.sub, x, y)


def multiply(x, y):
    return elementwise("multiply", _bool_and(lax.mul), x, y)


def _bool_or(fn):
    return lambda a, b: lax.bitwise_or(a, b) if a.dtype == dtypes.bool_ else fn(a, b)


def _bool_and(fn):
    return lambda a, b: lax.bitwise_and(a, b) if a.dtype == dtypes.bool_ else fn(a, b)


def true_divide(x, y):
    x, y = promote_broadcast("divide", x, y)
    if not dtypes.is_float(x.dtype):
        x = lax.convert_element_type(x, dtypes.default_float)
        y = lax.convert_element_type(y, dtypes.default_float)
    return lax.div(x, y)


divide = true_divide


def floor_divide(x, y):
    x, y = promote_broadcast("floor_divide", x, y)
    if dtypes.is_float(x.dtype):
        return lax.floor(lax.div(x, y))
    q = lax.div(x, y)
    return lax.select_n(_rounds_wrong_way(lax.rem(x, y), y), q, lax.sub(q, lax.full_like(q, 1)))


def _rounds_wrong_way(r, y):
    """Where truncating division differs from flooring: a nonzero remainder whose sign
    differs from the divisor's."""
    zero = lax.full_like(r, 0)
    return lax.bitwise_and(lax.ne(r, zero), lax.ne(lax.lt(r, zero), lax.lt(y, zero)))


def remainder(x, y):
    """Python/numpy modulo: the result has the sign of the divisor."""
    x, y = promote_broadcast("remainder", x, y)
    r = lax.rem(x, y)
    return lax.select_n(_rounds_wrong_way(r, y), r, lax.add(r, y))


mod = remainder


def divmod(x, y):  # noqa: A001
    """``(floor_divide(x, y), remainder(x, y))``, as np.divmod and Python's divmod."""
    return floor_divide(x, y), remainder(x, y)


def fmod(x, y):
    return elementwise("fmod", lax.rem, x, y)


def power(x, y):
    """numpy's power. Integer operands give integers (wrapping on overflow, as numpy);
    a negative integer exponent gives trunc(1 / x**-y) (1 for x == 1, +-1 for x == -1, else
    0) where numpy raises, since under jit the exponent's values are unknown (JAX too
    returns integers there)."""
    if isinstance(y, (int, np.integer)) and not isinstance(y, bool) and is_array(x):
        return lax.integer_pow(x, int(y))
    x, y = promote_broadcast("power", x, y)
    if x.dtype == dtypes.bool_:
        raise TypeError("funtorch.power: bool operands; cast them to an integer or float "
                        "dtype first")
    return lax.pow(x, y)


pow = power  # noqa: A001


def negative(x):
    return lax.neg(asarray(x))


def positive(x):
    return asarray(x)


def _named(name, op, doc=None):
    """``op`` under its numpy name, for the ops a factory below makes per lax primitive."""
    op.__name__ = name
    op.__doc__ = doc
    return op


def _float_unary(name, fn):
    return _named(name, lambda x: fn(to_float(name, x)),
                  f"Elementwise ``{name}`` (numpy semantics; ints become float32).")


exp = _float_unary("exp", lax.exp)
log = _float_unary("log", lax.log)
log1p = _float_unary("log1p", lax.log1p)
expm1 = _float_unary("expm1", lax.expm1)
sqrt = _float_unary("sqrt", lax.sqrt)
sin = _float_unary("sin", lax.sin)
cos = _float_unary("cos", lax.cos)
tanh = _float_unary("tanh", lax.tanh)
sigmoid = _float_unary("sigmoid", lax.logistic)
erf = _float_unary("erf", lax.erf)
rsqrt = _float_unary("rsqrt", lax.rsqrt)


def log2(x):
    return multiply(log(x), 1.0 / np.log(2.0))


def log10(x):
    return multiply(log(x), 1.0 / np.log(10.0))


def exp2(x):
    return exp(multiply(to_float("exp2", x), float(np.log(2.0))))


def tan(x):
    x = to_float("tan", x)
    return lax.div(lax.sin(x), lax.cos(x))


def arctan2(y, x):
    y, x = promote_broadcast("arctan2", to_float("arctan2", y), to_float("arctan2", x))
    return lax.atan2(y, x)


def square(x):
    return lax.integer_pow(asarray(x), 2)


def reciprocal(x):
    return true_divide(1.0, x)


def abs(x):  # noqa: A001
    x = asarray(x)
    return x if x.dtype == dtypes.bool_ or dtypes.is_unsigned(x.dtype) else lax.abs(x)


absolute = abs


def sign(x):
    return lax.sign(asarray(x))


def floor(x):
    x = asarray(x)
    return lax.floor(x) if dtypes.is_float(x.dtype) else x


def ceil(x):
    x = asarray(x)
    return lax.ceil(x) if dtypes.is_float(x.dtype) else x


def round(x, decimals=0):  # noqa: A001
    x = asarray(x)
    if not dtypes.is_float(x.dtype):
        return x
    if decimals == 0:
        return lax.round(x)
    s = 10.0 ** decimals
    return true_divide(lax.round(multiply(x, s)), s)


def trunc(x):
    x = asarray(x)
    if not dtypes.is_float(x.dtype):
        return x
    return lax.select_n(lax.lt(x, lax.full_like(x, 0)), lax.floor(x), lax.ceil(x))


def maximum(x, y):
    return elementwise("maximum", lax.max, x, y)


def minimum(x, y):
    return elementwise("minimum", lax.min, x, y)


def clip(x, min=None, max=None):  # noqa: A002
    """numpy's clip; either bound may be None."""
    x = asarray(x) if not is_array(x) else x
    if min is not None:
        x = maximum(x, min)
    if max is not None:
        x = minimum(x, max)
    return x


def where(condition, x=None, y=None):
    if x is None or y is None:
        raise TypeError("funtorch.where: the one-argument form (nonzero) has a data-dependent "
                        "shape; use ft.nonzero outside jit, or pass x and y")
    c = asarray(condition) if not is_array(condition) else condition
    if c.dtype != dtypes.bool_:
        c = not_equal(c, 0)
    x, y = promote_broadcast("where", x, y)
    from ._core import broadcast_shapes, broadcast_to_shape
    shape = broadcast_shapes("where", c.shape, x.shape)
    c, x, y = (broadcast_to_shape(v, shape) for v in (c, x, y))
    return lax.select_n(c, y, x)


def _compare(name, fn):
    return _named(name, lambda x, y: elementwise(name, fn, x, y))


equal = _compare("equal", lax.eq)
not_equal = _compare("not_equal", lax.ne)
less = _compare("less", lax.lt)
less_equal = _compare("less_equal", lax.le)
greater = _compare("greater", lax.gt)
greater_equal = _compare("greater_equal", lax.ge)


def _to_bool(x):
    x = asarray(x) if not is_array(x) else x
    return x if x.dtype == dtypes.bool_ else not_equal(x, 0)


def logical_and(x, y):
    return lax.bitwise_and(*promote_broadcast("logical_and", _to_bool(x), _to_bool(y)))


def logical_or(x, y):
    return lax.bitwise_or(*promote_broadcast("logical_or", _to_bool(x), _to_bool(y)))


def logical_xor(x, y):
    return lax.bitwise_xor(*promote_broadcast("logical_xor", _to_bool(x), _to_bool(y)))


def logical_not(x):
    return lax.bitwise_not(_to_bool(x))


def _int_or_bool(name, fn):
    def op(x, y):
        x, y = promote_broadcast(name, x, y)
        if dtypes.is_float(x.dtype):
            raise TypeError(f"funtorch.{name}: needs integer or bool operands, got {x.dtype}")
        return fn(x, y)

    return _named(name, op)


bitwise_and = _int_or_bool("bitwise_and", lax.bitwise_and)
bitwise_or = _int_or_bool("bitwise_or", lax.bitwise_or)
bitwise_xor = _int_or_bool("bitwise_xor", lax.bitwise_xor)
left_shift = _int_or_bool("left_shift", lax.shift_left)


def right_shift(x, y):
    x, y = promote_broadcast("right_shift", x, y)
    if dtypes.is_unsigned(x.dtype):
        return lax.shift_right_logical(x, y)
    # arithmetic shift for signed ints: floor division by 2**y
    return floor_divide(x, lax.shift_left(lax.full_like(y, 1), y))


def invert(x):
    x = asarray(x)
    if dtypes.is_float(x.dtype):
        raise TypeError(f"funtorch.invert: needs integer or bool operands, got {x.dtype}")
    return lax.bitwise_not(x)


bitwise_not = invert


def isfinite(x):
    x = asarray(x)
    return lax.is_finite(x) if dtypes.is_float(x.dtype) else lax.full(x.shape, True, "bool")


def isnan(x):
    x = asarray(x)
    return not_equal(x, x)


def isinf(x):
    x = asarray(x)
    return logical_and(logical_not(isfinite(x)), logical_not(isnan(x)))


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    x = asarray(x)
    if not dtypes.is_float(x.dtype):
        return x
    fi = dtypes.finfo(x.dtype)
    x = where(isnan(x), nan, x)
    x = where(equal(x, np.inf), fi.max if posinf is None else posinf, x)
    return where(equal(x, -np.inf), fi.min if neginf is None else neginf, x)


def astype(x, dtype):
    return lax.convert_element_type(asarray(x), dtype)


def stop_gradient(x):
    from .. import tree
    return tree.map(lambda v: lax.stop_gradient(asarray(v))
                    if dtypes.is_float(asarray(v).dtype) else v, x)
