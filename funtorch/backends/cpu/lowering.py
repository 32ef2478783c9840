"""The CPU lowering table: how each primitive becomes code.

Primitives are looked up by name, so families written later only need an entry here.
Four kinds of lowering:

- ``SCALAR``: elementwise primitives as one scalar Numba expression (fused into loops);
- ``REDUCERS``: reductions as an accumulator (fused as the sink of a loop nest);
- ``VIEWS``: strided views (broadcast, transpose, slice, ...), folded into the index
  expressions of whoever reads them (see ``fusion.Ref``);
- ``OPS``: everything that calls a library or hand-written kernel (BLAS matmul, im2col
  convolution, pooling). A primitive in none of the tables runs its eager impl, so every
  graph compiles.
"""

from __future__ import annotations

import numpy as np

# dtypes a generated Numba loop can hold; anything else (float16, bfloat16, float0) goes
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
    # x itself for 0 and NaN, as np.sign
    return f"({one} if {x[0]} > {zero} else ({minus} if {x[0]} < {zero} else {x[0]}))"


def _rsqrt(c, x, a, o, p):
    return f"({c.const(1, o.dtype)} / math.sqrt({x[0]}))"


def _logistic(c, x, a, o, p):
    one = c.const(1, o.dtype)
    e = f"math.exp(-abs({x[0]}))"
    return (f"({one} / ({one} + {e}) if {x[0]} >= {c.const(0, o.dtype)} "
            f"else {e} / ({one} + {e}))")


def _not(c, x, a, o, p):
    return f"(not {x[0]})" if o.dtype == np.bool_ else f"{c.ty(o.dtype)}(~{x[0]})"


def _integer_pow(c, x, a, o, p):
    y, t = p["y"], c.ty(o.dtype)
    if y == 0:
        return c.const(1, o.dtype)
    n = abs(y)
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
    return f"({t}(0) if {x[1]} == 0 else {t}({q} + {fix}))"


def _rem(c, x, a, o, p):
    t = c.ty(o.dtype)
    if _float(o.dtype):
        return f"{t}(np.fmod({x[0]}, {x[1]}))"
    # sign of the dividend, as np.fmod; 0 for a zero divisor
    return (f"({t}(0) if {x[1]} == 0 else {t}({x[0]} - {x[1]} * "
            f"({x[0]} // {x[1]} + (1 if ({x[0]} % {x[1]} != 0 and "
            f"(({x[0]} < 0) != ({x[1]} < 0))) else 0))))")


def _pow(c, x, a, o, p):
    return f"{c.ty(o.dtype)}({x[0]} ** {x[1]})"


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

class Reducer:
    """An accumulator: ``init`` before the inner loop, ``step`` per element, ``result``.

    Float32 sums accumulate in float64 and integer sums in 64 bits (wrapping back), so a
    fused reduction is at least as accurate as numpy's pairwise float32 sum.
    """

    def __init__(self, init, step, result, uses_index=False):
        self.init, self.step, self.result = init, step, result
        self.uses_index = uses_index


def _acc_dtype(dt):
    if dt.kind == "f":
        return np.dtype(np.float64)
    if dt.kind == "i":
        return np.dtype(np.int64)
    if dt.kind == "u":
        return np.dtype(np.uint64)
    return dt


def _sum_init(c, acc, a, o):
    if o.dtype == np.bool_:
        return [f"{acc} = False"]
    return [f"{acc} = {c.const(0, _acc_dtype(o.dtype))}"]


def _sum_step(c, acc, v, a, o, idx):
    if o.dtype == np.bool_:
        return [f"{acc} = {acc} or {v}"]
    return [f"{acc} += {v}"]


def _prod_init(c, acc, a, o):
    if o.dtype == np.bool_:
        return [f"{acc} = True"]
    return [f"{acc} = {c.const(1, _acc_dtype(o.dtype))}"]


def _prod_step(c, acc, v, a, o, idx):
    if o.dtype == np.bool_:
        return [f"{acc} = {acc} and {v}"]
    return [f"{acc} = {c.ty(_acc_dtype(o.dtype))}({acc} * {v})"]


def _cast_result(c, acc, a, o):
    return acc if o.dtype == np.bool_ else f"{c.ty(o.dtype)}({acc})"


def _extreme(dt, largest):
    if dt == np.bool_:
        return not largest
    if dt.kind == "f":
        return -np.inf if largest else np.inf
    info = np.iinfo(dt)
    return info.min if largest else info.max


def _minmax(largest):
    op = ">" if largest else "<"

    def init(c, acc, a, o):
        return [f"{acc} = {c.const(_extreme(o.dtype, largest), o.dtype)}"]

    def step(c, acc, v, a, o, idx):
        nan = f" or {v} != {v}" if o.dtype.kind == "f" else ""
        return [f"if {v} {op} {acc}{nan}:", f"    {acc} = {v}"]

    return Reducer(init, step, lambda c, acc, a, o: acc)


def _arg(largest):
    op = ">" if largest else "<"

    def init(c, acc, a, o):
        return [f"{acc}_i = -1", f"{acc} = {c.const(0, a.dtype)}"]

    def step(c, acc, v, a, o, idx):
        # first extremum wins; a NaN is the extremum (as np.argmax)
        nan = f" or ({v} != {v} and {acc} == {acc})" if a.dtype.kind == "f" else ""
        return [f"if {acc}_i < 0 or {v} {op} {acc}{nan}:",
                f"    {acc} = {v}", f"    {acc}_i = {idx}"]

    def result(c, acc, a, o):
        return f"{c.ty(o.dtype)}({acc}_i)"

    return Reducer(init, step, result, uses_index=True)


REDUCERS = {
    "reduce_sum": Reducer(_sum_init, _sum_step, _cast_result),
    "reduce_prod": Reducer(_prod_init, _prod_step, _cast_result),
    "reduce_max": _minmax(True),
    "reduce_min": _minmax(False),
    "argmax": _arg(True),
    "argmin": _arg(False),
}


def reduced_axes(eqn):
    p = eqn.params
    return tuple(p["axes"]) if "axes" in p else (p["axis"],)


# --------------------------------------------------------------------------- views

# Strided views: no data moves; readers index the root buffer (fusion.Ref).
VIEWS = frozenset(["broadcast_in_dim", "transpose", "squeeze", "reshape", "slice", "rev",
                   "stop_gradient"])


# --------------------------------------------------------------------------- library calls

# name -> builder(eqn) -> ``Op`` or None (None: use the eager impl)
OPS = {}


class Op:
    """A library call: ``fn(*inputs, *outputs)`` writes into preallocated outputs.
    ``blas``: it calls BLAS from parallel Numba threads, so the driver makes the BLAS
    library single-threaded around the call (``blas.enter``/``leave``)."""

    def __init__(self, fn, label, blas=False):
        self.fn = fn
        self.label = label
        self.blas = blas


def _dot_general(eqn):
    from .kernels import dot_general
    return dot_general(eqn)


OPS["dot_general"] = _dot_general


def _windowed(name):
    def build(eqn):
        from . import windowed
        return getattr(windowed, name)(eqn)
    return build


for _name in ("conv_general_dilated", "reduce_window_max", "reduce_window_sum",
              "select_and_scatter_add", "select_and_gather_add"):
    OPS[_name] = _windowed(_name)
