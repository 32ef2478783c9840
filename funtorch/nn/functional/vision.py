"""interpolate: PyTorch's resampling of the spatial axes ('nearest', 'bilinear').

The source coordinates of every output row and column are static (they depend on shapes
only), so resampling is a gather along each axis with numpy-computed indices and, for
'bilinear', a blend of two gathers with numpy-computed weights. Coordinates follow
PyTorch's CPU kernels in float32, so the chosen pixels and weights match bit for bit.
"""

from __future__ import annotations

import numpy as np

from ... import numpy as fnp
from ...core import dtypes
from ._checks import _arr

_MODES = {"nearest": 1, "bilinear": 2}


def _output_sizes(x, nsp, size, scale_factor, recompute_scale_factor):
    """Output sizes and PyTorch's per-axis scale (input/output as used by the kernels)."""
    name = "interpolate"
    if (size is None) == (scale_factor is None):
        raise ValueError(f"funtorch.nn.functional.{name}: pass exactly one of size and "
                         "scale_factor")
    in_sizes = x.shape[-nsp:]
    if size is not None:
        sizes = (size,) * nsp if isinstance(size, (int, np.integer)) else tuple(size)
        if len(sizes) != nsp or any(int(s) < 1 for s in sizes):
            raise ValueError(f"funtorch.nn.functional.{name}: size must be a positive int or "
                             f"{nsp} of them for input {tuple(x.shape)}, got {size!r}")
        sizes = tuple(int(s) for s in sizes)
        return sizes, [None] * nsp
    factors = ((scale_factor,) * nsp if isinstance(scale_factor, (int, float, np.number))
               else tuple(scale_factor))
    if len(factors) != nsp or any(f <= 0 for f in factors):
        raise ValueError(f"funtorch.nn.functional.{name}: scale_factor must be a positive "
                         f"number or {nsp} of them for input {tuple(x.shape)}, got "
                         f"{scale_factor!r}")
    sizes = tuple(int(np.floor(n * float(f))) for n, f in zip(in_sizes, factors))
    if any(s < 1 for s in sizes):
        raise ValueError(f"funtorch.nn.functional.{name}: scale_factor {scale_factor} gives an "
                         f"empty output {sizes} for input {tuple(x.shape)}")
    # PyTorch passes the user's scale to the kernel (1/scale) unless asked to recompute it
    scales = [None if recompute_scale_factor else float(f) for f in factors]
    return sizes, scales


def _scale(n_in, n_out, align_corners, scale):
    """PyTorch's area_pixel_compute_scale, in float32."""
    if align_corners:
        return np.float32((n_in - 1) / (n_out - 1)) if n_out > 1 else np.float32(0)
    return np.float32(1.0 / scale) if scale is not None else np.float32(n_in / n_out)


def _nearest_index(n_in, n_out, scale):
    s = _scale(n_in, n_out, False, scale)
    src = np.floor(np.arange(n_out, dtype=np.float32) * s).astype(np.int64)
    return np.minimum(src, n_in - 1)


def _linear_taps(n_in, n_out, align_corners, scale):
    """Left/right source indices and the right tap's weight for each output position."""
    s = _scale(n_in, n_out, align_corners, scale)
    dst = np.arange(n_out, dtype=np.float32)
    if align_corners:
        src = dst * s
    else:
        src = np.maximum(s * (dst + np.float32(0.5)) - np.float32(0.5), np.float32(0))
    lo = np.minimum(src.astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    lam = (src - lo.astype(np.float32)).astype(np.float32)
    return lo, hi, lam


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial axes of an [N, C, H, W] input ('nearest' or 'bilinear'; also
    [N, C, L] with 'nearest'), with PyTorch's coordinate conventions: 'nearest' picks
    ``floor(dst * scale)``; 'bilinear' maps pixel centres (``align_corners=False``, the
    default) or corner pixels (``align_corners=True``) onto each other.

    Examples:
        >>> import funtorch as ft
        >>> import funtorch.nn.functional as F
        >>> x = ft.arange(4.0).reshape((1, 1, 2, 2))
        >>> print(F.interpolate(x, scale_factor=2)[0, 0])
        [[0. 0. 1. 1.]
         [0. 0. 1. 1.]
         [2. 2. 3. 3.]
         [2. 2. 3. 3.]]
        >>> print(F.interpolate(x, size=(3, 3), mode="bilinear", align_corners=True)[0, 0])
        [[0.  0.5 1. ]
         [1.  1.5 2. ]
         [2.  2.5 3. ]]
    """
    name = "interpolate"
    x = _arr(input)
    if mode not in _MODES:
        raise NotImplementedError(f"funtorch.nn.functional.{name}: mode {mode!r} is not "
                                  f"supported; use one of {sorted(_MODES)}")
    if antialias:
        raise NotImplementedError(f"funtorch.nn.functional.{name}: antialias=True is not "
                                  "supported")
    if mode == "nearest" and align_corners is not None:
        raise ValueError(f"funtorch.nn.functional.{name}: align_corners can only be set with "
                         "the interpolating modes ('bilinear'), as in PyTorch")
    nsp = x.ndim - 2
    if mode == "bilinear" and x.ndim != 4:
        raise ValueError(f"funtorch.nn.functional.{name}: 'bilinear' needs a 4-D [N,C,H,W] "
                         f"input, got shape {tuple(x.shape)}")
    if nsp not in (1, 2):
        raise ValueError(f"funtorch.nn.functional.{name}: expected a 3-D [N,C,L] or 4-D "
                         f"[N,C,H,W] input, got shape {tuple(x.shape)}")
    if mode != "nearest" and not dtypes.is_float(x.dtype):
        raise TypeError(f"funtorch.nn.functional.{name}: got {x.dtype} input for "
                        f"{mode!r}; cast it to a float dtype first ('nearest' takes any dtype, "
                        "e.g. uint8 images)")
    sizes, scales = _output_sizes(x, nsp, size, scale_factor, recompute_scale_factor)
    for a, n_out, scale in zip(range(2, x.ndim), sizes, scales):
        n_in = x.shape[a]
        if mode == "nearest":
            x = fnp.take(x, fnp.asarray(_nearest_index(n_in, n_out, scale)), axis=a)
            continue
        lo, hi, lam = _linear_taps(n_in, n_out, bool(align_corners), scale)
        shape = (-1,) + (1,) * (x.ndim - a - 1)
        w = fnp.reshape(fnp.asarray(lam.astype(x.dtype)), shape)
        left = fnp.take(x, fnp.asarray(lo), axis=a)
        right = fnp.take(x, fnp.asarray(hi), axis=a)
        x = left * (1 - w) + right * w
    return x
