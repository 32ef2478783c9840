"""Scalar math for generated kernels, imported by them as ``math``.

On a GPU the names are the ``math`` functions Numba lowers to libdevice, plus libdevice's
float-typed rounding (``floorf``/``floor`` ...), since Numba's ``math.floor`` returns an
integer. The simulator runs kernels as Python, where ``math.log(0)`` or ``math.exp(1e4)``
raise instead of returning -inf/inf, so there they are numpy's quiet IEEE versions.
"""

import math as _math

import numpy as _np

from cuda_kernels._common import SIMULATOR

if SIMULATOR:
    def _quiet(fn):
        def call(*xs):
            with _np.errstate(all="ignore"):
                return fn(*xs)
        return call

    exp, log, log1p, expm1 = (_quiet(f) for f in (_np.exp, _np.log, _np.log1p, _np.expm1))
    sqrt, sin, cos, tanh = (_quiet(f) for f in (_np.sqrt, _np.sin, _np.cos, _np.tanh))
    atan2, fmod, isfinite = (_quiet(f) for f in (_np.arctan2, _np.fmod, _np.isfinite))
    floor = floorf = _np.floor
    ceil = ceilf = _np.ceil
    rint = rintf = _np.rint

    def erf(x):
        return type(x)(_math.erf(x)) if _np.isfinite(x) else type(x)(_np.sign(x))
else:
    from math import atan2, cos, erf, exp, expm1, fmod, isfinite, log, log1p, sin, sqrt, tanh  # noqa: F401

    from numba.cuda.libdevice import ceil, ceilf, floor, floorf, rint, rintf  # noqa: F401
