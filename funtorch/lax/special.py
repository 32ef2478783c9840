"""Special functions written as composites of primitives (they need no rules of their own).

``erf_inv`` is M. Giles' polynomial approximation ("Approximating the erfinv function",
GPU Computing Gems, 2011) with the coefficients and evaluation order of XLA's ErfInv, so
that ``funtorch.random.normal`` reproduces JAX's samples to float32 rounding (XLA's own
log1p differs from numpy's by an ulp now and then, so not always bit for bit).
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


def _polynomial(coefficients, w):
    """Horner's rule, highest degree first, as ``c + p * w`` per step.

    In float32 each step is rounded once, like the fused multiply-add XLA emits
    (computed in float64, where the product of two float32 values is exact).
    """
    p = full_like(w, coefficients[0])
    if get_aval(w).dtype == dtypes.float64:
        for c in coefficients[1:]:
            p = ew.add(full_like(w, c), ew.mul(p, w))
        return p
    w64 = ew.convert_element_type(w, dtypes.float64)
    for c in coefficients[1:]:
        step = ew.mul(ew.convert_element_type(p, dtypes.float64), w64)
        p = ew.convert_element_type(ew.add(full_like(w64, np.float32(c)), step), w.dtype)
    return p


def _erf_inv_core(x):
    w = ew.neg(ew.log1p(ew.neg(ew.mul(x, x))))
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
