"""Scalar Numba expressions and reduction accumulators: the shared half of both
backends' lowering tables.

Numba compiles the same scalar Python for the CPU and the GPU, so an elementwise
primitive is lowered once, here, as an expression builder
``SCALAR[name](ctx, operand_names, in_avals, out_aval, params) -> source``; a backend
copies the table and replaces the few entries its target lacks (CUDA has no numpy
ufuncs). Reductions are ``Reducer``s. The fusion analysis (``fusion.Partition``) fuses by
the primitives' kinds (``elementwise``, ``reduction``, declared where lax defines them), so
every backend's tables cover every primitive of those kinds (tests/test_op_table_coverage.py).
"""

from __future__ import annotations

import numpy as np

# through the eager impl.
LOOP_DTYPES = frozenset(np.dtype(t) for t in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
    np.uint64, np.float32, np.float64))


class Ctx:
    """What an expression builder may ask of the code generator."""

    def ty(self, dtype) -> str:          # the name of the numpy scalar type, e.g. 'f32'
        raise NotImplementedError

    def const(self, value, dtype) -> str:  # the name of a typed module-level constant
        raise NotImplementedError

    def helper(self, name) -> str:       # the name of a ``HELPERS`` function in the source
        raise NotImplementedError

    def reassoc(self, op) -> str:
        """The name of a function computing ``a op b`` ('+' or '*') that the compiler may
        reassociate with other calls of it, and with nothing else: a float reduction's
        accumulation, whose order is the one freedom compiled code has (LLVM then keeps
        partial sums in vector lanes). Only for backends whose reducers ask for it."""
        raise NotImplementedError


# Scalar functions an expression may call (``Ctx.helper``): name -> (the dtypes whose type
# names it uses, its source). Plain Python, defined in each kernel source that calls one
# (so it is part of the source's cache key), as an ``njit`` function on the CPU and an
# inlined device function on CUDA.
HELPERS = {
    # b ** e wrapping modulo 2**64 (exponentiation by squaring; e >= 0): the low bits are
    # those of the power in any narrower integer type, so a cast back wraps as numpy's
    # power does, whatever the exponent (Numba's ``**`` goes through math.pow past 2**16)
    "ipow": ((np.uint64,), """\
def {name}(b, e):
    b = u64(b)
    e = u64(e)
    r = u64(1)
    while e != u64(0):
        if e & u64(1):
            r = u64(r * b)
        b = u64(b * b)
        e = u64(e >> u64(1))
    return r"""),
}


def _float(dt):
    return np.dtype(dt).kind == "f"


def _unsigned(dt):
    return np.dtype(dt).kind == "u"


# --------------------------------------------------------------------------- elementwise

def _call(fn):
    return lambda c, x, a, o, p: f"{fn}({x[0]})"


def _cast(template):
    """Arithmetic in Numba widens small ints (and int + float); cast back to the lax type."""
    def build(c, x, a, o, p):
        return f"{c.ty(o.dtype)}({template.format(*x)})"
    return build


def _neg(c, x, a, o, p):
    return f"{c.ty(o.dtype)}(-{x[0]})"


def _abs(c, x, a, o, p):
    return f"{c.ty(o.dtype)}(abs({x[0]}))" if not _unsigned(o.dtype) else x[0]


def _sign(c, x, a, o, p):
    one, zero = c.const(1, o.dtype), c.const(0, o.dtype)
    if _unsigned(o.dtype):
        return f"({one} if {x[0]} > {zero} else {zero})"
    minus = c.const(-1, o.dtype)
    # +0 for zeros (-0.0 too) and x itself for NaN, as np.sign
    rest = f"({zero} if {x[0]} == {zero} else {x[0]})" if _float(o.dtype) else zero
    return f"({one} if {x[0]} > {zero} else ({minus} if {x[0]} < {zero} else {rest}))"


def _rsqrt(c, x, a, o, p):
    return f"({c.const(1, o.dtype)} / math.sqrt({x[0]}))"


def _logistic(c, x, a, o, p):
    one = c.const(1, o.dtype)
    e = f"math.exp(-abs({x[0]}))"
    return (f"({one} / ({one} + {e}) if {x[0]} >= {c.const(0, o.dtype)} "
            f"else {e} / ({one} + {e}))")


def _not(c, x, a, o, p):
    return f"(not {x[0]})" if o.dtype == np.bool_ else f"{c.ty(o.dtype)}(~{x[0]})"


def _ipow(c, base, exp, t):
    """``base ** exp`` (``exp >= 0``) in integer type ``t``, wrapping as numpy's power."""
    return f"{t}({c.helper('ipow')}({base}, {exp}))"


def _int_inverse_power(c, base, odd, o):
    """trunc(1 / base ** n) for an integer n > 0 (``odd``: source of n's oddness): 1 for
    base 1, +-1 for base -1, else 0 (0 ** -n too), as the eager impls and ft.power."""
    t = c.ty(o.dtype)
    if _unsigned(o.dtype):
        return f"({t}(1) if {base} == 1 else {t}(0))"
    return (f"({t}(1) if {base} == 1 else ({t}(1 - 2 * ({odd})) if {base} == -1 "
            f"else {t}(0)))")


def _integer_pow(c, x, a, o, p):
    y, t = p["y"], c.ty(o.dtype)
    if y == 0:
        return c.const(1, o.dtype)
    n = abs(y)
    if not _float(o.dtype):
        if y < 0:
            return _int_inverse_power(c, x[0], str(n & 1), o)
        if n <= 4:    # Numba multiplies in 64 bits: the cast back wraps
            return f"{t}({' * '.join([x[0]] * n)})"
        return _ipow(c, x[0], str(n), t)
    out = f"{t}({' * '.join([x[0]] * n) if n <= 4 else f'{x[0]} ** {n}'})"
    return f"{t}({c.const(1, o.dtype)} / {out})" if y < 0 else out


def _div(c, x, a, o, p):
    t = c.ty(o.dtype)
    if _float(o.dtype):
        return f"({x[0]} / {x[1]})"
    # C semantics (round toward zero), 0 for a zero divisor: as the eager impl
    q = f"{x[0]} // {x[1]}"
    if _unsigned(o.dtype):
        return f"({t}(0) if {x[1]} == 0 else {t}({q}))"
    fix = f"(1 if ({x[0]} % {x[1]} != 0 and (({x[0]} < 0) != ({x[1]} < 0))) else 0)"
    # x / -1 is -x, wrapping for INT_MIN (Numba's int64 INT_MIN // -1 is 0)
    return (f"({t}(0) if {x[1]} == 0 else ({t}(-{x[0]}) if {x[1]} == -1 else "
            f"{t}({q} + {fix})))")


def _rem(c, x, a, o, p):
    t = c.ty(o.dtype)
    if _float(o.dtype):
        return f"{t}(np.fmod({x[0]}, {x[1]}))"
    # sign of the dividend, as np.fmod; 0 for a zero divisor and for -1 (INT_MIN % -1
    # would otherwise go through Numba's int64 INT_MIN // -1, which is 0)
    zero = f"{x[1]} == 0" if _unsigned(o.dtype) else f"({x[1]} == 0 or {x[1]} == -1)"
    return (f"({t}(0) if {zero} else {t}({x[0]} - {x[1]} * "
            f"({x[0]} // {x[1]} + (1 if ({x[0]} % {x[1]} != 0 and "
            f"(({x[0]} < 0) != ({x[1]} < 0))) else 0))))")


def _pow(c, x, a, o, p):
    t = c.ty(o.dtype)
    if _float(o.dtype):
        return f"{t}({x[0]} ** {x[1]})"
    # integers wrap as numpy's power, for any exponent (by squaring: Numba's integer **
    # goes through math.pow past exponents of 2**16)
    if _unsigned(o.dtype):
        return _ipow(c, x[0], x[1], t)
    # signed: a negative exponent gives trunc(1 / x**-y), 0 for x == 0, as the eager impl
    # (Numba and the CUDA simulator would raise or return INT_MIN)
    neg = _int_inverse_power(c, x[0], f"{x[1]} & 1", o)
    return f"({_ipow(c, x[0], x[1], t)} if {x[1]} >= 0 else {neg})"


def _max(c, x, a, o, p):
    if _float(o.dtype):   # NaN-propagating, as np.maximum
        return f"({x[0]} if ({x[0]} > {x[1]} or {x[0]} != {x[0]}) else {x[1]})"
    return f"({x[0]} if {x[0]} > {x[1]} else {x[1]})"


def _min(c, x, a, o, p):
    if _float(o.dtype):
        return f"({x[0]} if ({x[0]} < {x[1]} or {x[0]} != {x[0]}) else {x[1]})"
    return f"({x[0]} if {x[0]} < {x[1]} else {x[1]})"


def _bitop(op):
    def build(c, x, a, o, p):
        if o.dtype == np.bool_:
            return f"({x[0]} {op} {x[1]})"
        return f"{c.ty(o.dtype)}({x[0]} {op} {x[1]})"
    return build


def _shift_left(c, x, a, o, p):
    t, bits = c.ty(o.dtype), 8 * o.dtype.itemsize
    return f"({t}({x[0]} << {x[1]}) if (0 <= {x[1]} < {bits}) else {t}(0))"


def _shift_right_logical(c, x, a, o, p):
    t, bits = c.ty(o.dtype), 8 * o.dtype.itemsize
    u = c.ty(np.dtype(f"u{o.dtype.itemsize}"))
    return f"({t}({u}({x[0]}) >> {u}({x[1]})) if (0 <= {x[1]} < {bits}) else {t}(0))"


def _cmp(op):
    return lambda c, x, a, o, p: f"({x[0]} {op} {x[1]})"


def _select_n(c, x, a, o, p):
    which, cases = x[0], x[1:]
    if len(cases) == 1:
        return cases[0]
    if a[0].dtype == np.bool_:
        return f"({cases[1]} if {which} else {cases[0]})"
    expr = cases[-1]
    for i in range(len(cases) - 2, -1, -1):
        expr = f"({cases[i]} if {which} == {i} else {expr})"
    return expr


def _convert(c, x, a, o, p):
    if o.dtype == np.bool_:
        return f"({x[0]} != 0)"
    if _float(a[0].dtype) and o.dtype == np.uint32:
        # NaN, inf and out-of-range values are implementation-defined in C (and numpy);
        # rather than saturate, give what numpy's vectorized x86 cast loop gives, so
        # compiled code agrees with the eager impl (up to numpy's scalar tail, its last
        # size % 4 elements, which wraps modulo 2**32 from int64): from -2**31 - 1 to
        # 2**32 truncated and wrapped (-2.5 -> 2**32 - 2), below that 2**31, else 0
        # (NaN too, as numpy's tail; its loop gives 2**31)
        return (f"({c.ty(np.uint32)}({c.ty(np.int64)}({x[0]})) if "
                f"(-2147483649.0 < {x[0]} < 4294967296.0) else "
                f"({c.ty(np.uint32)}(2147483648) if {x[0]} < 0 else {c.ty(np.uint32)}(0)))")
    return f"{c.ty(o.dtype)}({x[0]})"


def _is_finite(c, x, a, o, p):
    return "True" if a[0].dtype.kind in "biu" else f"np.isfinite({x[0]})"


SCALAR = {
    "neg": _neg,
    "exp": _call("math.exp"), "log": _call("math.log"), "log1p": _call("math.log1p"),
    "expm1": _call("math.expm1"), "sqrt": _call("math.sqrt"), "rsqrt": _rsqrt,
    "sin": _call("math.sin"), "cos": _call("math.cos"), "tanh": _call("math.tanh"),
    "erf": _call("math.erf"), "floor": _call("np.floor"), "ceil": _call("np.ceil"),
    "round": _call("np.rint"), "abs": _abs, "sign": _sign, "logistic": _logistic,
    "is_finite": _is_finite, "not": _not, "integer_pow": _integer_pow,
    "add": _cast("{} + {}"), "sub": _cast("{} - {}"), "mul": _cast("{} * {}"),
    "div": _div, "rem": _rem, "pow": _pow, "max": _max, "min": _min,
    "atan2": _cast("math.atan2({}, {})"),
    "and": _bitop("&"), "or": _bitop("|"), "xor": _bitop("^"),
    "shift_left": _shift_left, "shift_right_logical": _shift_right_logical,
    "eq": _cmp("=="), "ne": _cmp("!="), "lt": _cmp("<"), "le": _cmp("<="),
    "gt": _cmp(">"), "ge": _cmp(">="),
    "select_n": _select_n, "convert_element_type": _convert,
}



# --------------------------------------------------------------------------- reductions


def reduced_axes(eqn):
    p = eqn.params
    return tuple(p["axes"]) if "axes" in p else (p["axis"],)


class Reducer:
    """An accumulator: ``init`` lines before the reduced loop, ``step`` lines per element
    (``idx`` names the reduced index), the ``result`` expression. ``combine`` names the
    ``cuda_kernels._block`` combiner that merges partial results across a thread block
    (the CUDA backend's per-block reductions; None where they cannot merge)."""

    def __init__(self, init, step, result, uses_index=False, combine=None):
        self.init, self.step, self.result = init, step, result
        self.uses_index, self.combine = uses_index, combine


def acc_dtype(dt):
    """Float sums and products accumulate in float64 and integer ones in 64 bits (wrapping
    back), so a fused reduction is at least as accurate as numpy's pairwise float32 sum."""
    return {"f": np.dtype(np.float64), "i": np.dtype(np.int64),
            "u": np.dtype(np.uint64)}.get(dt.kind, dt)


def cast_result(c, acc, a, o):
    return acc if o.dtype == np.bool_ else f"{c.ty(o.dtype)}({acc})"


def extreme(dt, largest):
    """The identity of max (``largest``) or min over ``dt``."""
    if dt == np.bool_:
        return not largest
    if dt.kind == "f":
        return -np.inf if largest else np.inf
    info = np.iinfo(dt)
    return info.min if largest else info.max


def sum_reducer(acc=None, combine=None, reassoc=False):
    """``acc``: the accumulator dtype, else ``acc_dtype`` of the output's. ``reassoc``:
    float sums accumulate through ``Ctx.reassoc`` (in any order; each other op of the
    kernel keeps its IEEE result)."""
    def init(c, name, a, o):
        if o.dtype == np.bool_:
            return [f"{name} = False"]
        return [f"{name} = {c.const(0, acc_dtype(o.dtype) if acc is None else acc)}"]

    def step(c, name, v, a, o, idx):
        if o.dtype == np.bool_:
            return [f"{name} = {name} or {v}"]
        if reassoc and _float(o.dtype):
            return [f"{name} = {c.reassoc('+')}({name}, {v})"]
        return [f"{name} += {v}"]

    return Reducer(init, step, cast_result, combine=combine)


def prod_reducer(reassoc=False):
    """``reassoc``: as ``sum_reducer``'s."""
    def init(c, name, a, o):
        if o.dtype == np.bool_:
            return [f"{name} = True"]
        return [f"{name} = {c.const(1, acc_dtype(o.dtype))}"]

    def step(c, name, v, a, o, idx):
        if o.dtype == np.bool_:
            return [f"{name} = {name} and {v}"]
        t = c.ty(acc_dtype(o.dtype))
        if reassoc and _float(o.dtype):
            return [f"{name} = {t}({c.reassoc('*')}({name}, {v}))"]
        return [f"{name} = {t}({name} * {v})"]

    return Reducer(init, step, cast_result)


def minmax_reducer(largest, combine=None):
    op = ">" if largest else "<"

    def init(c, name, a, o):
        return [f"{name} = {c.const(extreme(o.dtype, largest), o.dtype)}"]

    def step(c, name, v, a, o, idx):
        nan = f" or {v} != {v}" if o.dtype.kind == "f" else ""   # NaN wins, as np.max
        return [f"if {v} {op} {name}{nan}:", f"    {name} = {v}"]

    return Reducer(init, step, lambda c, name, a, o: name, combine=combine)


def index_result(c, name, a, o):
    """An arg-reduction's result: the index it kept."""
    return f"{c.ty(o.dtype)}({name}_i)"
