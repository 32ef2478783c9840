"""What the transformations share: input conversion, float/float0 tests, argnums and the
reverse-mode input check."""

from __future__ import annotations

import numpy as np

from ...core import dtypes
from ...core.trace import get_aval


def _asarray(x):
    from ...numpy import asarray
    return asarray(x)


def _is_float(x):
    return dtypes.is_float(get_aval(x).dtype)


def _is_float0(x):
    d = getattr(x, "dtype", None)   # arrays, tracers and numpy values; other leaves: False
    return isinstance(d, np.dtype) and d == dtypes.float0


def _float0_zeros(shape):
    """float0 values carry no data, so they are plain numpy arrays (as in JAX), never
    traced or staged."""
    return np.zeros(tuple(shape), dtypes.float0)


def _check_diff_inputs(name, flat, argnums, allow_int):
    """JAX's rule for reverse mode: integer/bool inputs are refused unless ``allow_int``,
    when their gradient is a float0 array of their shape."""
    for x in flat:
        d = get_aval(x).dtype
        if dtypes.is_float(d) or (allow_int and (dtypes.is_int(d) or dtypes.is_bool(d))):
            continue
        raise TypeError(
            f"funtorch.{name}: differentiated arguments must be floating point, got {d} "
            f"(shape {tuple(get_aval(x).shape)}, argnums={argnums}). Cast with "
            ".astype(ft.float32), choose other argnums, or pass allow_int=True to get "
            "float0 (data-free zero) gradients for integer and boolean inputs.")


def _argnums_tuple(argnums, nargs, name):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not -nargs <= i < nargs:
            raise ValueError(f"funtorch.{name}: argnums {argnums} out of range for a function "
                             f"called with {nargs} positional arguments")
    return tuple(i % nargs for i in nums)
