"""Elementwise ops with numpy names: broadcasting, promotion, weak Python scalars."""

from __future__ import annotations

import numpy as np

from .. import lax
from ..core import dtypes
from ..core.trace import get_aval
from ._core import asarray, elementwise, is_array, promote_broadcast, to_float


def add(x, y):
    return elementwise("add", _bool_or(lax.add), x, y)


def subtract(x, y):
    return elementwise("subtract", _no_bool_sub, x, y)


def _strict_bool(x):
    """A bool array (not a weakly typed Python bool, for which -True is -1 as in Python)."""
    return x.dtype == dtypes.bool_ and not get_aval(x).weak_type


def _no_bool_sub(a, b):
    if _strict_bool(a) and _strict_bool(b):
        raise TypeError("funtorch.subtract: boolean subtract (the `-` operator) is not "
                        "supported; use ft.logical_xor (`^`) or cast to an integer dtype")
    return lax.sub(a, b)


def multiply(x, y):
    return elementwise("multiply", _bool_and(lax.mul), x, y)


def _bool_or(fn):
    return lambda a, b: lax.bitwise_or(a, b) if a.dtype == dtypes.bool_ else fn(a, b)


def _bool_and(fn):
    return lambda a, b: lax.bitwise_and(a, b) if a.dtype == dtypes.bool_ else fn(a, b)


def _promote_inexact(name, x, y):
    """Promote (JAX's lattice), then integers and bools become the default float: so
    int32 with float16 is float16, as in JAX."""
    x, y = promote_broadcast(name, x, y)
    if not dtypes.is_float(x.dtype):
        x = lax.convert_element_type(x, dtypes.default_float)
        y = lax.convert_element_type(y, dtypes.default_float)
    return x, y


def true_divide(x, y):
    return lax.div(*_promote_inexact("divide", x, y))


divide = true_divide


def _bool_to_int8(x, y):
    """numpy's integer ops on two bools (shifts, floor_divide, remainder, fmod) give int8."""
    if x.dtype == dtypes.bool_:
        return lax.convert_element_type(x, dtypes.int8), lax.convert_element_type(y, dtypes.int8)
    return x, y


def _int_operands(name, x, y):
    return _bool_to_int8(*promote_broadcast(name, x, y))


def _widen(x, y):
    """float16/bfloat16 compute in float32 and round once, as numpy's half loops."""
    if x.dtype in dtypes.HALVES:
        return (lax.convert_element_type(x, dtypes.float32),
                lax.convert_element_type(y, dtypes.float32))
    return x, y


def _float_divmod(x, y, want_div):
    """numpy's float floor division and remainder (npy_divmod, npy_floor_divide,
    npy_remainder), step for step: ``mod = fmod(x, y)``, ``div = (x - mod) / y`` (an
    almost integral value), both moved one step where ``mod``'s sign differs from ``y``'s,
    ``div`` snapped to the nearest integer; a zero ``mod`` has ``y``'s sign, a zero ``div``
    that of ``x / y``; ``y == 0`` gives ``x / y`` and ``fmod(x, 0)``. So 1 // 0.1 is 9
    (not floor(10.000000000000002)), 1 // -inf is -1, inf // 1 is NaN."""
    zero, one = lax.full_like(x, 0), lax.full_like(x, 1)
    mod = lax.rem(x, y)
    fix = lax.bitwise_and(lax.ne(mod, zero), lax.ne(lax.lt(y, zero), lax.lt(mod, zero)))
    if not want_div:
        mod = lax.select_n(fix, mod, lax.add(mod, y))
        # a zero gets y's sign; x + 0 is x except that -0 + 0 is +0: -((-mod) + 0) keeps
        # a nonzero mod (and its tangent) and makes a zero -0
        return lax.select_n(lax.lt(y, zero), lax.add(mod, zero),
                            lax.neg(lax.add(lax.neg(mod), zero)))
    div = lax.div(lax.sub(x, mod), y)
    div = lax.select_n(fix, div, lax.sub(div, one))
    fl = lax.floor(div)
    fl = lax.select_n(lax.gt(lax.sub(div, fl), lax.full_like(x, 0.5)), fl, lax.add(fl, one))
    q = lax.div(x, y)
    fl = lax.select_n(lax.eq(div, zero), fl, lax.mul(zero, q))   # copysign(0, x / y)
    return lax.select_n(lax.eq(y, zero), fl, q)


def floor_divide(x, y):
    x, y = _int_operands("floor_divide", x, y)
    if dtypes.is_float(x.dtype):
        # piecewise constant: no tangent (x / y where y == 0 would carry one)
        x, y, dt = lax.stop_gradient(x), lax.stop_gradient(y), x.dtype
        return lax.convert_element_type(_float_divmod(*_widen(x, y), True), dt)
    q = lax.div(x, y)
    return lax.select_n(_rounds_wrong_way(lax.rem(x, y), y), q, lax.sub(q, lax.full_like(q, 1)))


def _rounds_wrong_way(r, y):
    """Where truncating division differs from flooring: a nonzero remainder whose sign
    differs from the divisor's."""
    zero = lax.full_like(r, 0)
    return lax.bitwise_and(lax.ne(r, zero), lax.ne(lax.lt(r, zero), lax.lt(y, zero)))


def remainder(x, y):
    """Python/numpy modulo: the result has the sign of the divisor (zeros too)."""
    x, y = _int_operands("remainder", x, y)
    if dtypes.is_float(x.dtype):
        dt = x.dtype
        return lax.convert_element_type(_float_divmod(*_widen(x, y), False), dt)
    r = lax.rem(x, y)
    return lax.select_n(_rounds_wrong_way(r, y), r, lax.add(r, y))


mod = remainder


def divmod(x, y):  # noqa: A001
    """``(floor_divide(x, y), remainder(x, y))``, as np.divmod and Python's divmod."""
    return floor_divide(x, y), remainder(x, y)


def fmod(x, y):
    return lax.rem(*_int_operands("fmod", x, y))


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
    x = asarray(x)
    if _strict_bool(x):
        raise TypeError("funtorch.negative: boolean negative (the unary `-` operator) is not "
                        "supported; use ft.logical_not (`~`) to invert a mask")
    return lax.neg(x)


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


def _log_base(name, inv_ln_base):
    def op(x):
        x = to_float(name, x)
        x = x if is_array(x) else asarray(x)
        if x.dtype == dtypes.float64:
            return lax.mul(lax.log(x), lax.full_like(x, inv_ln_base))
        # float32 and the halves through float64: log(x) / ln(base) rounded once, so
        # log2 of a power of two is exact (log2(float32 8) == 3, as numpy)
        w = lax.convert_element_type(x, dtypes.float64)
        return lax.convert_element_type(
            lax.mul(lax.log(w), lax.full_like(w, inv_ln_base)), x.dtype)

    return _named(name, op, f"Elementwise ``{name}`` in the input's float dtype (numpy "
                            "semantics; ints become float32).")


log2 = _log_base("log2", 1.0 / np.log(2.0))
log10 = _log_base("log10", 1.0 / np.log(10.0))


def exp2(x):
    """``2 ** x`` in x's float dtype: exact at integers, as numpy."""
    x = to_float("exp2", x)
    x = x if is_array(x) else asarray(x)
    return lax.pow(lax.full_like(x, 2), x)


def tan(x):
    x = to_float("tan", x)
    return lax.div(lax.sin(x), lax.cos(x))


def arctan2(y, x):
    return lax.atan2(*_promote_inexact("arctan2", y, x))


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
    """numpy's clip; either bound may be None. A Python int bound past the end of an
    integer dtype's range on its own side clips nothing (numpy 2: clip(int8, -200, 200)
    is the identity); one past the other end raises OverflowError, as numpy."""
    x = asarray(x) if not is_array(x) else x
    if dtypes.is_int(x.dtype):
        ii = dtypes.iinfo(x.dtype)
        if _python_int(min) and min < ii.min:
            min = None  # noqa: A001
        if _python_int(max) and max > ii.max:
            max = None  # noqa: A001
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


def _python_int(v):
    return isinstance(v, int) and not isinstance(v, (bool, np.generic))


def _compare(name, fn, below, above):
    """``below``/``above``: the result against a Python int smaller/larger than every
    value of an integer array's dtype (the array on the left). numpy 2 compares such ints
    by value (NEP 50), where casting them to the dtype would overflow."""
    flipped = {"less": "greater", "greater": "less", "less_equal": "greater_equal",
               "greater_equal": "less_equal"}.get(name, name)

    def op(x, y):
        for arr, v, table in ((x, y, (below, above)), (y, x, _COMPARE_OUT[flipped])):
            if _python_int(v) and is_array(arr) and dtypes.is_int(arr.dtype):
                ii = dtypes.iinfo(arr.dtype)
                if v < ii.min or v > ii.max:
                    return lax.full_like(arr, table[v > ii.max], dtype=dtypes.bool_)
        return elementwise(name, fn, x, y)

    return _named(name, op)


# name -> (array OP int below the dtype's range, array OP int above it)
_COMPARE_OUT = {"equal": (False, False), "not_equal": (True, True), "less": (False, True),
                "less_equal": (False, True), "greater": (True, False),
                "greater_equal": (True, False)}
equal = _compare("equal", lax.eq, *_COMPARE_OUT["equal"])
not_equal = _compare("not_equal", lax.ne, *_COMPARE_OUT["not_equal"])
less = _compare("less", lax.lt, *_COMPARE_OUT["less"])
less_equal = _compare("less_equal", lax.le, *_COMPARE_OUT["less_equal"])
greater = _compare("greater", lax.gt, *_COMPARE_OUT["greater"])
greater_equal = _compare("greater_equal", lax.ge, *_COMPARE_OUT["greater_equal"])


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
left_shift = _int_or_bool("left_shift", lambda x, y: lax.shift_left(*_bool_to_int8(x, y)))


def _right_shift(x, y):
    x, y = _bool_to_int8(x, y)
    if dtypes.is_unsigned(x.dtype):
        return lax.shift_right_logical(x, y)
    # signed: arithmetic (the sign fills in, also past the bit width), as numpy
    return lax.shift_right_arithmetic(x, y)


right_shift = _int_or_bool("right_shift", _right_shift)


def invert(x):
    x = asarray(x)
    if dtypes.is_float(x.dtype):
        raise TypeError(f"funtorch.invert: needs integer or bool operands, got {x.dtype}")
    return lax.bitwise_not(x)


bitwise_not = invert


def isfinite(x):
    x = asarray(x)
    return lax.is_finite(x) if dtypes.is_float(x.dtype) else lax.full_like(x, True, "bool")


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
