"""Scalar math for generated kernels: libdevice on a GPU, IEEE-style numpy in the simulator.

Python's ``math`` raises on ``log(0)``, ``sqrt(-1)`` or ``exp(1000)`` where a GPU returns
-inf, NaN or inf; the simulator runs kernels as Python, so it gets numpy's float32 versions.
"""

import math

import numpy as np

from ._common import SIMULATOR

if SIMULATOR:
    exp, log, tanh, sqrt = np.exp, np.log, np.tanh, np.sqrt
    log1p, expm1, sin, cos, pow = np.log1p, np.expm1, np.sin, np.cos, np.power

    def erf(x):
        return np.float32(math.erf(x))

else:
    from math import cos, erf, exp, expm1, log, log1p, pow, sin, sqrt, tanh  # noqa: F401
