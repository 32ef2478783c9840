"""Special functions written as composites of primitives (they need no rules of their own).

``erf_inv`` is M. Giles' polynomial approximation ("Approximating the erfinv function",
GPU Computing Gems, 2011) with the coefficients and evaluation order of XLA's ErfInv.

``xla_log``, ``xla_log1p`` and ``xla_erf`` are the approximations XLA's CPU backend
computes for ``jnp.log``, ``jnp.log1p`` and ``lax.erf`` (Cephes' logf, Cephes' log1p
rational, Eigen's erf), with its fused multiply-adds, so that the samplers of
``funtorch.random`` give JAX's values bit for bit. They are not numpy's (correctly
rounded) functions, which differ from them in the last bit now and then; the numpy-named
``ft.log`` etc. stay numpy's.
"""

from __future__ import annotations

import numpy as np

from ..core import dtypes
from ..core.trace import get_aval
from . import elementwise as ew
from ._util import check_float
from .shape import full_like

# float32: w = -log1p(-x^2), two branches split at w = 5
_F32_SMALL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
              0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_F32_LARGE = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
              0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)
# float64: three branches split at w = 6.25 and w = 16
_F64_SMALL = (-3.6444120640178196996e-21, -1.685059138182016589e-19,
              1.2858480715256400167e-18, 1.115787767802518096e-17, -1.333171662854620906e-16,
              2.0972767875968561637e-17, 6.6376381343583238325e-15,
              -4.0545662729752068639e-14, -8.1519341976054721522e-14,
              2.6335093153082322977e-12, -1.2975133253453532498e-11,
              -5.4154120542946279317e-11, 1.051212273321532285e-09, -4.1126339803469836976e-09,
              -2.9070369957882005086e-08, 4.2347877827932403518e-07,
              -1.3654692000834678645e-06, -1.3882523362786468719e-05, 0.0001867342080340571352,
              -0.00074070253416626697512, -0.0060336708714301490533, 0.24015818242558961693,
              1.6536545626831027356)
_F64_MEDIUM = (2.2137376921775787049e-09, 9.0756561938885390979e-08,
               -2.7517406297064545428e-07, 1.8239629214389227755e-08,
               1.5027403968909827627e-06, -4.013867526981545969e-06,
               2.9234449089955446044e-06, 1.2475304481671778723e-05,
               -4.7318229009055733981e-05, 6.8284851459573175448e-05,
               2.4031110387097893999e-05, -0.0003550375203628474796,
               0.00095328937973738049703, -0.0016882755560235047313,
               0.0024914420961078508066, -0.0037512085075692412107, 0.005370914553590063617,
               1.0052589676941592334, 3.0838856104922207635)
_F64_LARGE = (-2.7109920616438573243e-11, -2.5556418169965252055e-10,
              1.5076572693500548083e-09, -3.7894654401267369937e-09,
              7.6157012080783393804e-09, -1.4960026627149240478e-08,
              2.9147953450901080826e-08, -6.7711997758452339498e-08,
              2.2900482228026654717e-07, -9.9298272942317002539e-07,
              4.5260625972231537039e-06, -1.9681778105531670567e-05,
              7.5995277030017761139e-05, -0.00021503011930044477347,
              -0.00013871931833623122026, 1.0103004648645343977, 4.8499064014085844221)


def fma(a, b, c):
    """``a * b + c`` rounded once, as the fused multiply-adds XLA's CPU code uses; ``b``
    and ``c`` may be Python or numpy scalars (constants of ``a``'s dtype).

    float32: computed in float64, where the product of two float32 values is exact.
    float64: Dekker's exact product (a two-term sum) added to ``c`` with a compensated sum.
    """
    dt = get_aval(a).dtype
    wide = dtypes.float64
    a_w = a if dt == wide else ew.convert_element_type(a, wide)

    def lift(v):   # constants become float64 literals, not conversions of constants
        if isinstance(v, (float, int, np.generic)):
            return full_like(a_w, float(np.array(v, dt)))
        return v if dt == wide else ew.convert_element_type(v, wide)

    b, c = lift(b), lift(c)
    if dt != wide:
        return ew.convert_element_type(ew.add(ew.mul(a_w, b), c), dt)
    p = ew.mul(a, b)
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(b)
    err = ew.add(ew.add(ew.add(ew.sub(ew.mul(a_hi, b_hi), p), ew.mul(a_hi, b_lo)),
                        ew.mul(a_lo, b_hi)), ew.mul(a_lo, b_lo))      # p + err == a * b
    s = ew.add(p, c)
    bb = ew.sub(s, p)
    e = ew.add(ew.sub(p, ew.sub(s, bb)), ew.sub(c, bb))              # s + e == p + c
    return ew.add(s, ew.add(e, err))


def _split(x):
    """Veltkamp's split of a float64 into two halves of 26 bits: hi + lo == x."""
    t = ew.mul(full_like(x, 134217729.0), x)      # 2**27 + 1
    hi = ew.sub(t, ew.sub(t, x))
    return hi, ew.sub(x, hi)


def _polynomial(coefficients, w):
    """Horner's rule, highest degree first, as ``c + p * w`` per step, each step one
    fused multiply-add (XLA's evaluation)."""
    p = fma(w, coefficients[0], coefficients[1])
    for c in coefficients[2:]:
        p = fma(p, w, c)
    return p


def _erf_inv_core(x):
    w = ew.neg(xla_log1p(ew.neg(ew.mul(x, x))))
    f64 = get_aval(x).dtype == dtypes.float64
    cut = full_like(w, 6.25 if f64 else 5.0)
    small = ew.lt(w, cut)
    # only the branches for w >= cut use sqrt(w); elsewhere its input stays off 0, whose
    # infinite slope would turn the unused branch's zero cotangent into NaN
    sqrt_w = ew.sqrt(ew.select_n(small, w, cut))
    if f64:
        large = ew.select_n(ew.lt(w, full_like(w, 16.0)),
                            _polynomial(_F64_LARGE, ew.sub(sqrt_w, full_like(w, 5.0))),
                            _polynomial(_F64_MEDIUM, ew.sub(sqrt_w, full_like(w, 3.25))))
        p = ew.select_n(small, large, _polynomial(_F64_SMALL, ew.sub(w, full_like(w, 3.125))))
    else:
        p = ew.select_n(small, _polynomial(_F32_LARGE, ew.sub(sqrt_w, full_like(w, 3.0))),
                        _polynomial(_F32_SMALL, ew.sub(w, full_like(w, 2.5))))
    # erf_inv(+-1) = +-inf, where the polynomial is indeterminate
    edge = ew.mul(ew.sign(x), full_like(x, np.inf))
    return ew.select_n(ew.eq(ew.abs(x), full_like(x, 1.0)), ew.mul(p, x), edge)


def erf_inv(x):
    """The inverse error function on [-1, 1] (NaN outside)."""
    dtype = get_aval(x).dtype
    check_float("erf_inv", get_aval(x))
    if dtype in dtypes.HALVES:
        # too few bits for the intermediate terms: compute in float32, as XLA does
        return ew.convert_element_type(
            _erf_inv_core(ew.convert_element_type(x, dtypes.float32)), dtype)
    return _erf_inv_core(x)


# --------------------------------------------------------------------------- XLA's CPU math

def _const(x, v):
    return full_like(x, np.array(v, get_aval(x).dtype))


def _on_float32(fn, x):
    """16-bit floats compute in float32 and round once, as XLA's CPU code does."""
    dt = get_aval(x).dtype
    if dt in dtypes.HALVES:
        return ew.convert_element_type(fn(ew.convert_element_type(x, dtypes.float32)), dt)
    return fn(x)


# Cephes' logf polynomial (XLA's float32 log on CPU)
_LOGF = (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
         1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
         3.3333331174e-1)


def _log_f32(x):
    """Cephes' logf as XLA vectorises it: x = m * 2**e with m in [sqrt(1/2), sqrt(2)),
    log(x) = e * ln2 + log(m) by a degree-9 polynomial, ln2 in two parts."""
    u32, i32 = dtypes.uint32, dtypes.int32
    c = lambda v: _const(x, v)     # noqa: E731
    t = ew.max(x, c(np.array(0x00800000, np.uint32).view(np.float32)))   # no subnormals
    bits = ew.bitcast_convert_type(t, u32)
    exponent = ew.sub(ew.convert_element_type(
        ew.shift_right_logical(bits, full_like(bits, 23)), i32), full_like(bits, 0x7f, i32))
    m = ew.bitcast_convert_type(ew.bitwise_or(
        ew.bitwise_and(bits, full_like(bits, ~0x7f800000 & 0xffffffff)),
        full_like(bits, np.array(0.5, np.float32).view(np.uint32))), dtypes.float32)
    e = ew.add(c(1.0), ew.convert_element_type(exponent, dtypes.float32))
    low = ew.lt(m, c(0.707106781186547524))
    e = ew.sub(e, ew.select_n(low, c(0.0), c(1.0)))
    m = ew.add(ew.sub(m, c(1.0)), ew.select_n(low, c(0.0), m))
    m2 = ew.mul(m, m)
    m3 = ew.mul(m2, m)
    p = _LOGF
    y = fma(fma(m, p[0], p[1]), m, p[2])
    y1 = fma(fma(m, p[3], p[4]), m, p[5])
    y2 = fma(fma(m, p[6], p[7]), m, p[8])
    y = fma(fma(y, m3, y1), m3, y2)
    y = fma(y, m3, ew.mul(c(-2.12194440e-4), e))
    out = fma(e, 0.693359375, ew.add(fma(m2, -0.5, m), y))
    # log(0) = -inf (subnormals count as 0: XLA's CPU code flushes them), log(inf) = inf,
    # log(x < 0) = log(nan) = nan
    out = ew.select_n(ew.lt(x, c(np.finfo(np.float32).tiny)), out, c(-np.inf))
    out = ew.select_n(ew.eq(x, c(np.inf)), out, c(np.inf))
    return ew.select_n(ew.ge(x, c(0.0)), c(np.nan), out)


def xla_log(x):
    """Natural log as XLA's CPU backend computes it: Cephes' logf for float32 (and the
    16-bit floats, through float32), the C library's log for float64."""
    check_float("xla_log", get_aval(x))
    if get_aval(x).dtype == dtypes.float64:
        return ew.log(x)
    return _on_float32(_log_f32, x)


# Cephes' log1p rational approximation, numerator and denominator
_LOG1P_NUM = (4.5270000862445199635215e-5, 4.9854102823193375972212e-1,
              6.5787325942061044846969e0, 2.9911919328553073277375e1,
              6.0949667980987787057556e1, 5.7112963590585538103336e1,
              2.0039553499201281259648e1)
_LOG1P_DEN = (1.0, 1.5062909083469192043167e1, 8.3047565967967209469434e1,
              2.2176239823732856465394e2, 3.0909872225312059774938e2,
              2.1642788614495947685003e2, 6.0118660497603843919306e1)


def _log1p(x):
    c = lambda v: _const(x, v)     # noqa: E731
    x2 = ew.mul(x, x)
    ratio = ew.div(_polynomial(_LOG1P_NUM, x), _polynomial(_LOG1P_DEN, x))
    small = ew.add(x, fma(x2, -0.5, ew.mul(ew.mul(x, x2), ratio)))
    large = xla_log(ew.add(x, c(1.0)))
    return ew.select_n(ew.lt(ew.abs(x), c(0.41421356237309504880)), large, small)


def xla_log1p(x):
    """``log(1 + x)`` as XLA's CPU backend computes it: ``x - x**2/2 + x**3 P(x)/Q(x)``
    for ``|x| < sqrt(2) - 1``, else ``xla_log(1 + x)`` (16-bit floats through float32)."""
    check_float("xla_log1p", get_aval(x))
    return _on_float32(_log1p, x)


# Eigen's erf for float32: x * P(x**2) / Q(x**2), +-1 beyond erfinv(1 - 2**-24)
_ERF_NUM = (0.00022905065861350646, 0.0034082910107109506, 0.050955695062380861,
            0.18520832239976145, 1.128379143519084)
_ERF_DEN = (-1.1791602954361697e-7, 0.000023547966471313185, 0.0010179625278914885,
            0.014070470171167667, 0.11098505178285482, 0.49746925110067538, 1.0)


def _erf_f32(x):
    c = lambda v: _const(x, v)     # noqa: E731
    x2 = ew.mul(x, x)
    r = ew.div(ew.mul(x, _polynomial(_ERF_NUM, x2)), _polynomial(_ERF_DEN, x2))
    return ew.select_n(ew.ge(ew.abs(x), c(3.832506856900711)), r, ew.sign(x))


def xla_erf(x):
    """erf as XLA's CPU backend computes it: Eigen's rational approximation for float32
    (and the 16-bit floats, through float32); float64 is the C library's (``lax.erf``)."""
    check_float("xla_erf", get_aval(x))
    if get_aval(x).dtype == dtypes.float64:
        return ew.erf(x)
    return _on_float32(_erf_f32, x)
