"""float32 ``tanh`` and ``logistic`` for the generated kernels: computed in float64 and
rounded once, with an ``exp`` of plain arithmetic that LLVM vectorizes.

libm's ``tanhf``/``expf`` are scalar calls (20 and 5 ns an element here), so a loop that
calls them runs one element at a time: an RNN cell's gate arithmetic (three sigmoids and
two tanh per element) cost more than its GEMM. ``exp64`` is Cody-Waite range reduction
(``x = k ln2 + r``, ``|r| <= ln2 / 2``) and the degree-11 Taylor polynomial of ``exp(r)``
(relative error < 1e-14), scaled by ``2^k`` built in the exponent bits: only multiplies,
adds, a floor and a bit cast, so the loops around it vectorize (no fast-math flags: each
operation is IEEE). Rounded to float32 that is the correctly rounded ``tanh`` and
``logistic`` (checked against float64 numpy on every float32 magnitude, NaN, infinities and
signed zeros in ``tests/test_cpu_backend.py``), where ``tanhf`` was off by up to 2 ulp.

The kernels import these (``codegen.Names.helper``) with this module's source hash in
their text, so a change here recompiles them.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

f32, f64, i64 = np.float32, np.float64, np.int64

# names a scalar expression may call (``Ctx.helper``), all imported from here
FUNCTIONS = ("tanh32", "sigmoid32")


@intrinsic
def _f64_from_bits(typingctx, x):
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


@njit(inline="always", error_model="numpy", _nrt=False)
def exp64(x):
    """exp(x) for float64 ``x`` in [-700, 700] (NaN gives NaN)."""
    xc = x if x > f64(-700.0) else f64(-700.0)       # k from a finite value (NaN too)
    xc = xc if xc < f64(700.0) else f64(700.0)
    k = math.floor(xc * f64(1.4426950408889634) + f64(0.5))
    r = (x - k * f64(6.93147180369123816490e-01)) - k * f64(1.90821492927058770002e-10)
    p = f64(1.0 / 39916800.0)
    p = p * r + f64(1.0 / 3628800.0)
    p = p * r + f64(1.0 / 362880.0)
    p = p * r + f64(1.0 / 40320.0)
    p = p * r + f64(1.0 / 5040.0)
    p = p * r + f64(1.0 / 720.0)
    p = p * r + f64(1.0 / 120.0)
    p = p * r + f64(1.0 / 24.0)
    p = p * r + f64(1.0 / 6.0)
    p = p * r + f64(0.5)
    p = p * r + f64(1.0)
    p = p * r + f64(1.0)
    return p * _f64_from_bits((i64(k) + i64(1023)) << i64(52))


@njit(inline="always", error_model="numpy", _nrt=False)
def tanh32(x):
    """float32 tanh: ``(1 - e) / (1 + e)``, ``e = exp(-2|x|)`` (|x| capped at 20, where
    tanh is 1 in float32), with x's sign; below 0.004 the series ``x - x^3/3 + 2x^5/15``
    (no cancellation; -0.0 stays -0.0); NaN stays NaN."""
    v = f64(x)
    ax = abs(v)
    e = exp64(f64(-2.0) * (ax if ax < f64(20.0) else f64(20.0)))
    t = math.copysign((f64(1.0) - e) / (f64(1.0) + e), v)
    v2 = v * v
    s = v * (f64(1.0) - v2 * (f64(1.0) / f64(3.0) - v2 * (f64(2.0) / f64(15.0))))
    return f32(s if ax < f64(0.004) else (t if ax == ax else v))


@njit(inline="always", error_model="numpy", _nrt=False)
def sigmoid32(x):
    """float32 logistic: ``1 / (1 + e)`` for x >= 0, ``e / (1 + e)`` below, ``e =
    exp(-|x|)`` (|x| capped at 120, where it is 0 or 1 in float32); NaN stays NaN."""
    v = f64(x)
    ax = abs(v)
    e = exp64(-(ax if ax < f64(120.0) else f64(120.0)))
    s = (f64(1.0) if v >= f64(0.0) else e) / (f64(1.0) + e)
    return f32(s if v == v else v)
