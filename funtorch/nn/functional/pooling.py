"""max_pool2d and avg_pool2d with PyTorch's window geometry (ceil_mode, padding, dilation),
and adaptive_avg_pool2d / adaptive_max_pool2d with its adaptive windows."""

from __future__ import annotations

import numpy as np

from ... import lax
from ... import numpy as fnp
from ...core import dtypes
from ...lax.windowed import lowest
from ._checks import _arr, _check_positive, _check_rank, _tuple


def _pool_geometry(name, size, k, s, p, d, ceil_mode):
    """PyTorch's output length and the right padding that produces exactly that many windows
    (negative when the last input elements are never covered)."""
    if p > (d * (k - 1) + 1) // 2:
        raise ValueError(f"funtorch.nn.functional.{name}: padding {p} should be at most half "
                         f"of the effective kernel size {d * (k - 1) + 1} (as in PyTorch)")
    span = size + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1  # the last window must start inside the input or the left padding
    if out < 1:
        raise ValueError(f"funtorch.nn.functional.{name}: input size {size} is too small for "
                         f"kernel {k} with padding {p} and dilation {d}")
    return out, (out - 1) * s + d * (k - 1) + 1 - size - p


def _pool_args(name, input, kernel_size, stride, padding, dilation, ceil_mode):
    x = _arr(input)
    _check_rank(name, x, (3, 4), "[N,C,H,W] or unbatched [C,H,W]")
    k = _tuple(name, "kernel_size", kernel_size, 2)
    s = k if stride is None or stride == () else _tuple(name, "stride", stride, 2)
    p = _tuple(name, "padding", padding, 2)
    d = _tuple(name, "dilation", dilation, 2)
    for arg, v in (("kernel_size", k), ("stride", s), ("dilation", d)):
        _check_positive(name, arg, v)
    _check_positive(name, "padding", p, minimum=0)
    geo = [_pool_geometry(name, x.shape[-2 + i], k[i], s[i], p[i], d[i], ceil_mode)
           for i in range(2)]
    return x, k, s, p, d, geo


def _window_padding(x, p, geo):
    """(lo, hi) per axis: PyTorch's padding on the left, and on the right whatever yields
    exactly its output size (negative crops input no window reaches)."""
    return ((0, 0),) * (x.ndim - 2) + tuple((p[i], geo[i][1]) for i in range(2))


def _window_taps(x, k, s, d, pads, geo):
    """The k[0]*k[1] taps of every window in row-major order, each shaped like the output:
    strided slices of x padded with -inf (the integer minimum for integers)."""
    xp = lax.pad(x, lowest(x.dtype), [(lo, hi, 0) for lo, hi in pads])
    lead = (0,) * (x.ndim - 2)
    taps = []
    for i in range(k[0]):
        for j in range(k[1]):
            start = lead + (i * d[0], j * d[1])
            limit = xp.shape[:-2] + (start[-2] + (geo[0][0] - 1) * s[0] + 1,
                                     start[-1] + (geo[1][0] - 1) * s[1] + 1)
            taps.append(lax.slice(xp, start, limit, (1,) * len(lead) + s))
    return taps


def _dilated_max(x, k, s, d, pads, geo):
    """Max pooling with dilated windows: the max over the k[0]*k[1] strided taps."""
    return fnp.max(fnp.stack(_window_taps(x, k, s, d, pads, geo)), axis=0)


def _max_indices(x, k, s, p, d, pads, geo):
    """PyTorch's max_pool2d indices (int64 ``h * W + w`` within each input plane), found the
    way its CPU kernel finds them, so ties and NaNs pick the same tap: walk the window's
    taps in row-major order from the first in-bounds one, taking a tap greater than the
    running max or NaN (the first max, the last NaN). Padding taps are -inf: never taken.
    Tap coordinates are static, so this is a fold of ``where``s over the taps."""
    H, W = x.shape[-2:]
    # (out, k) input row / column of every tap, and each window's first in-bounds one
    h, w = (np.arange(geo[a][0])[:, None] * s[a] - p[a] + np.arange(k[a]) * d[a]
            for a in range(2))
    first = [c[np.arange(len(c)), np.argmax((c >= 0) & (c < n), axis=1)]
             for c, n in ((h, H), (w, W))]
    idx = first[0][:, None] * W + first[1]
    taps = _window_taps(lax.stop_gradient(x), k, s, d, pads, geo)
    best = fnp.full_like(taps[0], lowest(x.dtype))
    for t, v in enumerate(taps):
        take = fnp.logical_or(v > best, fnp.isnan(v)) if dtypes.is_float(x.dtype) else v > best
        best = fnp.where(take, v, best)
        idx = fnp.where(take, h[:, t // k[1], None] * W + w[:, t % k[1]], idx)
    return fnp.broadcast_to(idx, best.shape)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over HW windows; padding counts as -inf, so it is never the max. Integer inputs
    (e.g. raw uint8 images) are pooled in their own dtype, as in PyTorch.

    ``return_indices=True`` also returns PyTorch's int64 indices (see ``_max_indices``); the
    values and their gradient are those of ``return_indices=False``."""
    x, k, s, p, d, geo = _pool_args("max_pool2d", input, kernel_size, stride, padding,
                                    dilation, ceil_mode)
    if dtypes.is_bool(x.dtype):
        raise TypeError("funtorch.nn.functional.max_pool2d: got a bool input (PyTorch has no "
                        "bool max_pool2d either); cast it to uint8 first")
    pads = _window_padding(x, p, geo)
    if d != (1, 1):
        y = _dilated_max(x, k, s, d, pads, geo)
    else:
        lead = (1,) * (x.ndim - 2)
        y = lax.reduce_window_max(x, lead + k, lead + s, pads)
    if return_indices:
        return y, _max_indices(x, k, s, p, d, pads, geo)
    return y


def _avg_divisor(size, k, s, p, out, count_include_pad):
    """Per-window element counts along one axis, PyTorch's way: windows include padding
    (when asked) but never the ceil_mode overhang past it."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, size + p)
    if not count_include_pad:
        start, end = np.maximum(start, 0), np.minimum(end, size)
    return end - start


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over HW windows. An int64 input stays int64, its means truncated toward zero,
    as PyTorch's (which has no avg_pool2d for the other integer types)."""
    x, k, s, p, _, geo = _pool_args("avg_pool2d", input, kernel_size, stride, padding, 1,
                                    ceil_mode)
    if not dtypes.is_float(x.dtype) and x.dtype != dtypes.int64:
        raise TypeError(f"funtorch.nn.functional.avg_pool2d: got {x.dtype} input; PyTorch "
                        f"averages floats and int64 only: cast to a float dtype (or int64 for "
                        f"truncated integer means)")
    if divisor_override == 0:
        raise ValueError("funtorch.nn.functional.avg_pool2d: divisor_override must be not "
                         "zero (None divides by the window size)")
    lead = (1,) * (x.ndim - 2)
    y = lax.reduce_window_sum(x, lead + k, lead + s, _window_padding(x, p, geo))
    if divisor_override is not None:
        divisor = np.array(divisor_override)
    else:
        divisor = np.outer(*(_avg_divisor(x.shape[-2 + i], k[i], s[i], p[i], geo[i][0],
                                          count_include_pad) for i in range(2)))
    divisor = fnp.asarray(divisor.astype(y.dtype))
    if dtypes.is_float(y.dtype):
        return y / divisor
    return lax.div(y, fnp.broadcast_to(divisor, y.shape))   # truncates toward zero, as C


def _adaptive_output(name, x, output_size):
    """PyTorch's output_size: an int or an (h, w) pair whose None entries keep the input's."""
    _check_rank(name, x, (3, 4), "[N,C,H,W] or unbatched [C,H,W]")
    if output_size is None or isinstance(output_size, (int, np.integer)):
        output_size = (output_size, output_size)
    out = tuple(x.shape[-2 + i] if o is None else o
                for i, o in enumerate(_tuple_or_none(name, output_size)))
    _check_positive(name, "output_size", out)
    if any(s == 0 for s in x.shape[-2:]):
        raise ValueError(f"funtorch.nn.functional.{name}: input of shape {tuple(x.shape)} has "
                         "an empty spatial dimension")
    return out


def _tuple_or_none(name, value):
    value = tuple(value)
    if len(value) != 2 or not all(v is None or isinstance(v, (int, np.integer)) for v in value):
        raise ValueError(f"funtorch.nn.functional.{name}: output_size must be an int or a pair "
                         f"of ints (or None), got {value}")
    return value


def _adaptive_reduce(x, out, reduce):
    """PyTorch's adaptive windows, one axis at a time (a max or a mean over a rectangle is
    the reduction over its rows of the reduction over its columns): output i along an
    axis of length n covers [floor(i n / out), ceil((i + 1) n / out))."""
    for a, o in zip((x.ndim - 2, x.ndim - 1), out):
        n = x.shape[a]
        if n % o == 0:   # equal windows: one reshape and one reduction
            x = reduce(fnp.reshape(x, x.shape[:a] + (o, n // o) + x.shape[a + 1:]), a + 1)
            continue
        parts = []
        for i in range(o):
            lo, hi = (i * n) // o, -((-(i + 1) * n) // o)
            start = (0,) * x.ndim
            start = start[:a] + (lo,) + start[a + 1:]
            limit = x.shape[:a] + (hi,) + x.shape[a + 1:]
            parts.append(fnp.expand_dims(reduce(lax.slice(x, start, limit), a), a))
        x = fnp.concatenate(parts, axis=a)
    return x


def adaptive_avg_pool2d(input, output_size):
    """Mean over the windows that split H and W into ``output_size`` nearly equal parts
    (PyTorch's; windows may overlap by one when the sizes do not divide)."""
    x = _arr(input)
    out = _adaptive_output("adaptive_avg_pool2d", x, output_size)
    if not dtypes.is_float(x.dtype):
        raise TypeError(f"funtorch.nn.functional.adaptive_avg_pool2d: got {x.dtype} input; "
                        "cast it to a float dtype first (as PyTorch requires)")
    return _adaptive_reduce(x, out, lambda v, axis: fnp.mean(v, axis=axis))


def _adaptive_windows(n, o):
    """Per output position along one axis: the window's input indices, padded to the
    longest window (pad entries repeat the first index), and which entries are real."""
    lo = (np.arange(o) * n) // o
    hi = -((-(np.arange(o) + 1) * n) // o)
    idx = lo[:, None] + np.arange(int((hi - lo).max()))
    valid = idx < hi[:, None]
    return np.where(valid, idx, lo[:, None]), valid


def _adaptive_max_indices(x, out):
    """PyTorch's adaptive_max_pool2d indices (int64 ``h * W + w`` within each plane), found
    as its CPU kernel finds them: the window's elements in row-major order, taking one
    greater than the running max or NaN (the first max, the last NaN). The windows are
    gathered padded to one size; padding entries are never taken."""
    (hs, hv), (ws, wv) = (_adaptive_windows(x.shape[-2 + a], out[a]) for a in range(2))
    W = x.shape[-1]
    taps = lax.stop_gradient(x)[..., hs[:, None, :, None], ws[None, :, None, :]]
    best = fnp.full(taps.shape[:-2], lowest(x.dtype), x.dtype)
    idx = fnp.zeros(best.shape, dtypes.int64)
    for i in range(hs.shape[1]):
        for j in range(ws.shape[1]):
            v = taps[..., i, j]
            take = v > best
            if dtypes.is_float(x.dtype):
                take = fnp.logical_or(take, fnp.isnan(v))
            take = fnp.logical_and(take, hv[:, None, i] & wv[None, :, j])
            best = fnp.where(take, v, best)
            idx = fnp.where(take, hs[:, None, i] * W + ws[None, :, j], idx)
    return idx


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max over PyTorch's adaptive windows (see ``adaptive_avg_pool2d``).
    ``return_indices=True`` also returns PyTorch's int64 indices (``h * W + w`` within each
    input plane); the values and their gradient are those of ``return_indices=False``."""
    x = _arr(input)
    out = _adaptive_output("adaptive_max_pool2d", x, output_size)
    if dtypes.is_bool(x.dtype):
        raise TypeError("funtorch.nn.functional.adaptive_max_pool2d: got a bool input; cast it "
                        "to uint8 first")
    y = _adaptive_reduce(x, out, lambda v, axis: fnp.max(v, axis=axis))
    if return_indices:
        return y, _adaptive_max_indices(x, out)
    return y
