"""PyTorch's ``torch.nn.functional`` as pure functions (NCHW/OIHW layouts, PyTorch semantics).

Every function is a composite of funtorch ops, so grad/vmap/jit need no rules of their own.
Where PyTorch mutates (``batch_norm``'s running statistics) the new values are returned;
where it draws random numbers (``dropout``) the caller passes an explicit ``key``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import lax, random
from .. import numpy as fnp
from ..core import dtypes
from ..core.array import to_numpy
from ..core.errors import ConcretizationTypeError
from ..core.trace import Tracer

__all__ = [
    "relu", "leaky_relu", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax",
    "one_hot", "linear", "conv1d", "conv2d", "max_pool2d", "avg_pool2d", "dropout",
    "batch_norm", "layer_norm", "embedding", "cross_entropy", "nll_loss", "mse_loss",
    "binary_cross_entropy_with_logits", "flatten",
]


def _arr(x):
    return fnp.asarray(x)


def _tuple(name, arg, value, n):
    """int -> n-tuple; a tuple must already have n entries (PyTorch's _pair/_single)."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"funtorch.nn.functional.{name}: {arg} must be an int or a tuple of "
                         f"{n} ints, got {value}")
    return value


def _dim(name, dim, axis, ndim):
    """PyTorch's ``dim`` or numpy's ``axis`` (one of them, required)."""
    if dim is not None and axis is not None and dim != axis:
        raise TypeError(f"funtorch.nn.functional.{name}: pass dim or axis, not both")
    d = dim if dim is not None else axis
    if d is None:
        raise TypeError(f"funtorch.nn.functional.{name}: pass dim= (the axis to normalise "
                        "over); PyTorch's implicit choice is deprecated and not supported")
    if not -ndim <= d < max(ndim, 1):
        raise ValueError(f"funtorch.nn.functional.{name}: dim {d} is out of range for an input "
                         f"of rank {ndim}")
    return d % max(ndim, 1)


def _check_rank(name, x, ranks, layout):
    if x.ndim not in ranks:
        expected = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(f"funtorch.nn.functional.{name}: expected a {expected} input "
                         f"({layout}), got shape {tuple(x.shape)}")


class IndexOutOfBoundsError(ValueError, IndexError):
    """A concrete class index / embedding index outside its range. Both a ValueError and
    an IndexError (what PyTorch raises), so either ``except`` catches it."""


def _known_values(x):
    """The numpy values of ``x`` when they are known now (eager arrays, or tracers of
    grad/jvp and of vmap over concrete data), else None (traced under jit: unknown until
    run). For elementwise range checks only: under vmap it is the whole batch."""
    while isinstance(x, Tracer):
        val = getattr(x, "val", None)           # BatchTracer: check every example at once
        if val is not None and getattr(x, "batch_dim", None) is not None:
            x = val
            continue
        try:
            return np.asarray(x.to_concrete("a range check"))
        except ConcretizationTypeError:
            return None
    return to_numpy(x)


def _check_positive(name, arg, values, minimum=1):
    if any(v < minimum for v in values):
        what = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"funtorch.nn.functional.{name}: {arg} must be {what}, got "
                         f"{values if len(values) > 1 else values[0]}")


def _reduce(name, loss, reduction):
    if reduction == "mean":
        return fnp.mean(loss)
    if reduction == "sum":
        return fnp.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"funtorch.nn.functional.{name}: reduction must be 'mean', 'sum' or "
                     f"'none', got {reduction!r}")


# ------------------------------------------------------------------------------ activations

def relu(input):
    """max(x, 0); the gradient at 0 is 0, as in PyTorch."""
    x = _arr(input)
    return fnp.where(x > 0, x, fnp.zeros_like(x))


def leaky_relu(input, negative_slope=0.01):
    x = _arr(input)
    return fnp.where(x > 0, x, x * negative_slope)


def gelu(input, approximate="none"):
    """Exact (erf) GELU, or PyTorch's tanh approximation with ``approximate='tanh'``."""
    x = _arr(input)
    if approximate == "none":
        return x * 0.5 * (1.0 + fnp.erf(x * (1.0 / math.sqrt(2.0))))
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + fnp.tanh(inner))
    raise ValueError(f"funtorch.nn.functional.gelu: approximate must be 'none' or 'tanh', got "
                     f"{approximate!r}")


def silu(input):
    x = _arr(input)
    return x * fnp.sigmoid(x)


def sigmoid(input):
    return fnp.sigmoid(input)


def tanh(input):
    return fnp.tanh(input)


def _shifted(x, d):
    """x minus its (gradient-stopped) max along ``d``: exp of it cannot overflow."""
    m = lax.stop_gradient(fnp.max(x, axis=d, keepdims=True))
    return x - fnp.where(fnp.isfinite(m), m, fnp.zeros_like(m))


def softmax(input, dim=None, *, axis=None, dtype=None):
    x = _arr(input) if dtype is None else fnp.astype(_arr(input), dtype)
    d = _dim("softmax", dim, axis, x.ndim)
    e = fnp.exp(_shifted(x, d))
    return e / fnp.sum(e, axis=d, keepdims=True)


def log_softmax(input, dim=None, *, axis=None, dtype=None):
    x = _arr(input) if dtype is None else fnp.astype(_arr(input), dtype)
    d = _dim("log_softmax", dim, axis, x.ndim)
    s = _shifted(x, d)
    return s - fnp.log(fnp.sum(fnp.exp(s), axis=d, keepdims=True))


def one_hot(tensor, num_classes=-1):
    """int64 one-hot along a new last axis.

    ``num_classes=-1`` (PyTorch's default) infers ``max + 1`` from the data, so it needs
    concrete values: under jit or vmap pass ``num_classes`` explicitly. With known values
    (eager) a label that is negative or ``>= num_classes`` raises, as in PyTorch; under jit
    the values are unknown when tracing, so, as ``jax.nn.one_hot``, such a label gives an
    all-zero row instead of an error.
    """
    t = _arr(tensor)
    if not dtypes.is_int(t.dtype):
        raise TypeError(f"funtorch.nn.functional.one_hot: expected an integer tensor, got "
                        f"{t.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"funtorch.nn.functional.one_hot: num_classes must be an int (or -1 "
                        f"to infer it from the data), got {num_classes!r}")
    num_classes = int(num_classes)
    if num_classes < -1:
        raise ValueError(f"funtorch.nn.functional.one_hot: num_classes must be non-negative, "
                         f"or -1 to infer it from the data (max + 1), got {num_classes}")
    if num_classes == -1:
        try:
            values = np.asarray(t.to_concrete("one_hot") if isinstance(t, Tracer)
                                else to_numpy(t))
        except ConcretizationTypeError:
            raise ConcretizationTypeError(
                t, "funtorch.nn.functional.one_hot with num_classes=-1 (it reads the data to "
                "count the classes, unknown under jit or vmap; pass num_classes= instead)"
            ) from None
        if values.size == 0:
            raise ValueError(f"funtorch.nn.functional.one_hot: cannot infer the number of "
                             f"classes from an empty tensor of shape {tuple(t.shape)}; pass "
                             f"num_classes=")
        num_classes = max(int(values.max()) + 1, 0)
    else:
        values = _known_values(t)
    if values is not None and values.size:
        lo, hi = values.min(), values.max()
        if lo < 0:
            raise IndexOutOfBoundsError(f"funtorch.nn.functional.one_hot: class values must "
                                        f"be non-negative, got {lo}")
        if hi >= num_classes:
            raise IndexOutOfBoundsError(f"funtorch.nn.functional.one_hot: class values must "
                                        f"be smaller than num_classes={num_classes}, got {hi}")
    classes = lax.iota(t.dtype, num_classes)
    return fnp.astype(fnp.expand_dims(t, -1) == classes, dtypes.int64)


# ------------------------------------------------------------------------------ linear / conv

def linear(input, weight, bias=None):
    """x @ weight.T + bias, with PyTorch's [out_features, in_features] weight."""
    x, w = _arr(input), _arr(weight)
    if x.ndim == 0 or w.ndim not in (1, 2):
        raise ValueError(f"funtorch.nn.functional.linear: expected an input of rank >= 1 and "
                         f"a 2-D weight [out_features, in_features] (or 1-D [in_features]), "
                         f"got input {tuple(x.shape)} and weight {tuple(w.shape)}")
    if x.shape[-1] != w.shape[-1]:
        raise ValueError(f"funtorch.nn.functional.linear: input's last dimension "
                         f"{x.shape[-1:]} does not match weight [out_features, in_features] = "
                         f"{tuple(w.shape)}")
    y = fnp.matmul(x, fnp.transpose(w))
    if bias is None:
        return y
    b_shape = tuple(np.shape(bias))
    try:
        ok = np.broadcast_shapes(b_shape, tuple(y.shape)) == tuple(y.shape)
    except ValueError:
        ok = False
    if not ok:
        expected = (w.shape[0],) if w.ndim == 2 else ()
        raise ValueError(f"funtorch.nn.functional.linear: bias of shape {b_shape} does not "
                         f"broadcast to the output shape {tuple(y.shape)} (expected "
                         f"[out_features] = {expected})")
    return y + bias


def _conv_padding(name, padding, kernel, dilation, stride):
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * len(kernel)
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"funtorch.nn.functional.{name}: padding='same' is not "
                                 "supported for strided convolutions (as in PyTorch)")
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
            return pads
        raise ValueError(f"funtorch.nn.functional.{name}: padding must be an int, a tuple, "
                         f"'same' or 'valid', got {padding!r}")
    return [(p, p) for p in _tuple(name, "padding", padding, len(kernel))]


def _conv(name, n, input, weight, bias, stride, padding, dilation, groups):
    x, w = _arr(input), _arr(weight)
    spatial = "L" if n == 1 else "HW"
    layout = f"N,C,{','.join(spatial)}"
    _check_rank(name, x, (n + 1, n + 2), f"[{layout}] or unbatched [C,{','.join(spatial)}]")
    if w.ndim != n + 2:
        raise ValueError(f"funtorch.nn.functional.{name}: weight must be {n + 2}-D "
                         f"[out_channels, in_channels/groups, {', '.join(spatial)}], got shape "
                         f"{tuple(w.shape)}")
    unbatched = x.ndim == n + 1
    if unbatched:
        x = fnp.expand_dims(x, 0)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"funtorch.nn.functional.{name}: groups must be a positive int, got "
                         f"{groups!r}")
    if w.shape[0] % groups:
        raise ValueError(f"funtorch.nn.functional.{name}: out_channels {w.shape[0]} of weight "
                         f"{tuple(w.shape)} is not divisible by groups={groups}")
    if x.shape[1] != w.shape[1] * groups:
        raise ValueError(f"funtorch.nn.functional.{name}: input of shape {tuple(x.shape)} has "
                         f"{x.shape[1]} channels, but weight {tuple(w.shape)} with groups="
                         f"{groups} expects {w.shape[1] * groups}")
    stride = _tuple(name, "stride", stride, n)
    dilation = _tuple(name, "dilation", dilation, n)
    _check_positive(name, "stride", stride)
    _check_positive(name, "dilation", dilation)
    if not isinstance(padding, str):
        _check_positive(name, "padding", _tuple(name, "padding", padding, n), minimum=0)
    pads = _conv_padding(name, padding, w.shape[2:], dilation, stride)
    padded = tuple(size + lo + hi for size, (lo, hi) in zip(x.shape[2:], pads))
    kernel = tuple((k - 1) * d + 1 for k, d in zip(w.shape[2:], dilation))
    if any(p < k for p, k in zip(padded, kernel)):
        dil = f" (dilation {dilation})" if any(d != 1 for d in dilation) else ""
        raise ValueError(f"funtorch.nn.functional.{name}: calculated padded input size per "
                         f"channel: ({' x '.join(map(str, padded))}). Kernel size{dil}: "
                         f"({' x '.join(map(str, kernel))}). Kernel size can't be greater than "
                         f"the actual input size: pad the input (padding=) or use a smaller "
                         f"kernel (input {tuple(x.shape)}, weight {tuple(w.shape)})")
    if bias is not None and tuple(np.shape(bias)) != (w.shape[0],):
        raise ValueError(f"funtorch.nn.functional.{name}: given weight of shape "
                         f"{tuple(w.shape)}, expected bias to be 1-D with {w.shape[0]} "
                         f"elements (out_channels), got shape {tuple(np.shape(bias))}")
    y = lax.conv_general_dilated(x, w, window_strides=stride, padding=pads,
                                 rhs_dilation=dilation, feature_group_count=groups)
    if bias is not None:
        y = y + fnp.reshape(_arr(bias), (-1,) + (1,) * n)
    return y[0] if unbatched else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation, as in PyTorch) of [N, C, L] with [O, C/groups, K]."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of NCHW input with an OIHW weight."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


# ------------------------------------------------------------------------------ pooling

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
    strided slices of x padded with -inf."""
    xp = lax.pad(x, np.array(-np.inf, x.dtype), [(lo, hi, 0) for lo, hi in pads])
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
    best = fnp.full_like(taps[0], -np.inf)
    for t, v in enumerate(taps):
        take = fnp.logical_or(v > best, fnp.isnan(v))
        best = fnp.where(take, v, best)
        idx = fnp.where(take, h[:, t // k[1], None] * W + w[:, t % k[1]], idx)
    return fnp.broadcast_to(idx, best.shape)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over HW windows; padding counts as -inf, so it is never the max.

    ``return_indices=True`` also returns PyTorch's int64 indices (see ``_max_indices``); the
    values and their gradient are those of ``return_indices=False``."""
    x, k, s, p, d, geo = _pool_args("max_pool2d", input, kernel_size, stride, padding,
                                    dilation, ceil_mode)
    if not dtypes.is_float(x.dtype):
        raise TypeError(f"funtorch.nn.functional.max_pool2d: expected a float input, got "
                        f"{x.dtype}")
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
    x, k, s, p, _, geo = _pool_args("avg_pool2d", input, kernel_size, stride, padding, 1,
                                    ceil_mode)
    lead = (1,) * (x.ndim - 2)
    y = lax.reduce_window_sum(x, lead + k, lead + s, _window_padding(x, p, geo))
    if divisor_override:
        return y / divisor_override
    dh, dw = (_avg_divisor(x.shape[-2 + i], k[i], s[i], p[i], geo[i][0], count_include_pad)
              for i in range(2))
    return y / fnp.asarray(np.outer(dh, dw).astype(y.dtype))


# ------------------------------------------------------------------------------ regularisation

def dropout(input, p=0.5, key=None, training=True):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p).

    The randomness comes from ``key`` (funtorch has no global generator), so the same key
    gives the same mask. Outside training it is the identity.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"funtorch.nn.functional.dropout: p must be in [0, 1], got {p}")
    x = _arr(input)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return fnp.zeros_like(x)
    if key is None:
        raise ValueError("funtorch.nn.functional.dropout: training-mode dropout needs a random "
                         "key: pass key=ft.random.key(seed) (split it per step), or "
                         "training=False")
    keep = random.bernoulli(key, 1.0 - p, x.shape)
    return fnp.where(keep, x / (1.0 - p), fnp.zeros_like(x))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over every axis but the channel axis 1.

    PyTorch's signature, but PyTorch updates the running statistics in place and funtorch
    cannot: this returns ``(output, new_running_mean, new_running_var)``. In training the
    batch statistics normalise and the running ones move towards them by ``momentum``
    (the variance unbiased, as in PyTorch); in evaluation the running ones normalise and come
    back unchanged. ``running_mean``/``running_var`` may be None (no tracking), which needs
    ``training=True``.
    """
    x = _arr(input)
    _check_rank("batch_norm", x, (2, 3, 4, 5), "[N,C], [N,C,L], [N,C,H,W] or [N,C,D,H,W]")
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    for arg, v in (("running_mean", running_mean), ("running_var", running_var),
                   ("weight", weight), ("bias", bias)):
        if v is not None and int(np.prod(np.shape(v))) != x.shape[1]:
            raise ValueError(f"funtorch.nn.functional.batch_norm: {arg} should contain "
                             f"{x.shape[1]} elements (one per channel of input "
                             f"{tuple(x.shape)}, channels along dim 1), got shape "
                             f"{tuple(np.shape(v))}")
    if training:
        n = x.size // x.shape[1]
        if n <= 1:
            raise ValueError(f"funtorch.nn.functional.batch_norm: expected more than 1 value "
                             f"per channel when training, got input of shape {tuple(x.shape)}")
        mean = fnp.mean(x, axis=axes)
        var = fnp.var(x, axis=axes)
        if running_mean is not None:
            m = momentum
            running_mean = (1 - m) * running_mean + m * lax.stop_gradient(mean)
            running_var = (1 - m) * running_var + m * lax.stop_gradient(var) * (n / (n - 1))
    elif running_mean is None or running_var is None:
        raise ValueError("funtorch.nn.functional.batch_norm: evaluation mode needs "
                         "running_mean and running_var (or pass training=True)")
    else:
        mean, var = running_mean, running_var
    y = (x - fnp.reshape(mean, shape)) * fnp.reshape(lax.rsqrt(var + eps), shape)
    if weight is not None:
        y = y * fnp.reshape(weight, shape)
    if bias is not None:
        y = y + fnp.reshape(bias, shape)
    return y, running_mean, running_var


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    x = _arr(input)
    normalized_shape = _tuple("layer_norm", "normalized_shape", normalized_shape,
                              1 if isinstance(normalized_shape, int) else len(normalized_shape))
    n = len(normalized_shape)
    if tuple(x.shape[x.ndim - n:]) != normalized_shape or x.ndim < n:
        raise ValueError(f"funtorch.nn.functional.layer_norm: normalized_shape "
                         f"{normalized_shape} does not match the trailing dimensions of input "
                         f"shape {tuple(x.shape)}")
    for arg, v in (("weight", weight), ("bias", bias)):
        if v is not None and tuple(np.shape(v)) != normalized_shape:
            raise ValueError(f"funtorch.nn.functional.layer_norm: expected {arg} to have the "
                             f"shape of normalized_shape {normalized_shape}, got "
                             f"{tuple(np.shape(v))}")
    axes = tuple(range(x.ndim - n, x.ndim))
    mean = fnp.mean(x, axis=axes, keepdims=True)
    var = fnp.var(x, axis=axes, keepdims=True)
    y = (x - mean) * lax.rsqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def embedding(input, weight, padding_idx=None):
    """Rows of ``weight`` [num_embeddings, dim] at the integer ``input``; the row at
    ``padding_idx`` gets no gradient, as in PyTorch.

    Indices outside ``[0, num_embeddings)`` raise a ValueError (also an IndexError, as in
    PyTorch) when their values are known (eager, grad, vmap of concrete data). Under jit
    they are unknown when tracing: nothing raises and they are clamped into range, as
    ``jnp.take``'s default."""
    idx, w = _arr(input), _arr(weight)
    if not dtypes.is_int(idx.dtype):
        raise TypeError(f"funtorch.nn.functional.embedding: indices must be integers, got "
                        f"{idx.dtype}")
    if w.ndim != 2:
        raise ValueError(f"funtorch.nn.functional.embedding: weight must be 2-D "
                         f"[num_embeddings, embedding_dim], got shape {tuple(w.shape)}")
    num = w.shape[0]
    if padding_idx is not None and not -num <= padding_idx < num:
        raise ValueError(f"funtorch.nn.functional.embedding: padding_idx {padding_idx} must "
                         f"be within num_embeddings: in [{-num}, {num})")
    values = _known_values(idx)
    if values is not None:
        bad = values[(values < 0) | (values >= num)]
        if bad.size:
            raise IndexOutOfBoundsError(
                f"funtorch.nn.functional.embedding: index {bad.flat[0]} is out of range for "
                f"weight {tuple(w.shape)}: indices must be in [0, {num - 1}] (num_embeddings "
                f"{num}; negative indices are not allowed, as in PyTorch)")
    out = fnp.take(w, idx, axis=0)
    if padding_idx is None:
        return out
    if padding_idx < 0:
        padding_idx += num
    pad = fnp.expand_dims(idx == padding_idx, -1)
    return fnp.where(pad, lax.stop_gradient(out), out)


# ------------------------------------------------------------------------------ losses

def _class_mask(name, input, target, ignore_index):
    """One-hot mask of ``target`` along the class axis 1 (0 for a 1-D input) plus the
    validity mask (target != ignore_index); ignored entries select no class."""
    x, t = _arr(input), _arr(target)
    cdim = 0 if x.ndim == 1 else 1
    expected = x.shape[:cdim] + x.shape[cdim + 1:]
    if tuple(t.shape) != expected:
        raise ValueError(f"funtorch.nn.functional.{name}: target of shape {tuple(t.shape)} does "
                         f"not match input {tuple(x.shape)} (expected class indices of shape "
                         f"{expected}, classes along dim {cdim})")
    if not dtypes.is_int(t.dtype):
        raise TypeError(f"funtorch.nn.functional.{name}: class-index targets must be integers, "
                        f"got {t.dtype} (probability targets must have the input's shape)")
    values = _known_values(t)
    if values is not None:
        n = x.shape[cdim]
        bad = values[(values != ignore_index) & ((values < 0) | (values >= n))]
        if bad.size:
            raise IndexOutOfBoundsError(
                f"funtorch.nn.functional.{name}: target {bad.flat[0]} is out of bounds for "
                f"{n} classes (input {tuple(x.shape)}, classes along dim {cdim}): class "
                f"indices must be in [0, {n - 1}], or equal ignore_index={ignore_index}")
    valid = t != ignore_index
    tc = fnp.expand_dims(t, cdim)
    classes = fnp.reshape(lax.iota(t.dtype, x.shape[cdim]),
                          (-1,) + (1,) * (x.ndim - cdim - 1))
    mask = fnp.logical_and(tc == classes, fnp.expand_dims(valid, cdim))
    return cdim, mask, valid


def _class_weight(weight, ndim, cdim):
    return fnp.reshape(_arr(weight), (-1,) + (1,) * (ndim - cdim - 1))


def _check_class_weight(name, weight, n_classes):
    if weight is not None and tuple(np.shape(weight)) != (n_classes,):
        raise ValueError(f"funtorch.nn.functional.{name}: weight must have one entry per "
                         f"class, shape ({n_classes},), got shape {tuple(np.shape(weight))}")


def _nll_parts(name, logp, target, weight, ignore_index):
    """Per-element -w[t] * logp[t] and w[t] (0 where ignored), and the class geometry."""
    cdim, mask, valid = _class_mask(name, logp, target, ignore_index)
    _check_class_weight(name, weight, logp.shape[cdim])
    zero = fnp.zeros_like(logp)
    picked = fnp.sum(fnp.where(mask, logp, zero), axis=cdim)
    if weight is None:
        w_t = fnp.astype(valid, logp.dtype)
    else:
        w_t = fnp.sum(fnp.where(mask, _class_weight(weight, logp.ndim, cdim) + zero, zero),
                      axis=cdim)
    return -w_t * picked, w_t, cdim, valid


def _check_reduction(name, reduction):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"funtorch.nn.functional.{name}: reduction must be 'mean', 'sum' or "
                         f"'none', got {reduction!r}")


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of class indices under log-probabilities ``input``; 'mean'
    divides by the total weight of the non-ignored targets, as in PyTorch.

    Class indices are checked when their values are known (eager, grad, vmap over concrete
    data): one outside ``[0, C)`` that is not ``ignore_index`` raises a ValueError (also an
    IndexError, what PyTorch raises). Under jit the values are unknown when tracing, so, as
    in JAX, there is no error: such an index selects no class, its loss term is 0, and
    without ``weight`` it still counts in the 'mean' denominator (with ``weight`` it has
    weight 0)."""
    _check_reduction("nll_loss", reduction)
    loss, w_t, _, _ = _nll_parts("nll_loss", _arr(input), target, weight, ignore_index)
    if reduction == "mean":
        return fnp.sum(loss) / fnp.sum(w_t)
    return _reduce("nll_loss", loss, reduction)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """log_softmax + nll_loss over the class axis 1 (0 for a 1-D input).

    ``target`` holds class indices (any int dtype; entries equal to ``ignore_index`` are
    skipped) or, with the input's shape, class probabilities. ``label_smoothing`` mixes the
    target with the uniform distribution, with PyTorch's normalisation under ``weight``.

    Class indices outside ``[0, C)`` (other than ``ignore_index``) raise a ValueError (also an
    IndexError, as in PyTorch) when their values are known: eagerly, under grad, or under
    vmap of concrete data. Under jit they are unknown when tracing and, JAX-style, nothing
    raises: such an index behaves as in ``nll_loss`` (no class picked; its term is 0, or only
    the label-smoothing part).
    """
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"funtorch.nn.functional.cross_entropy: label_smoothing must be in "
                         f"[0, 1], got {label_smoothing}")
    x, t = _arr(input), _arr(target)
    cdim = 0 if x.ndim == 1 else 1
    logp = log_softmax(x, dim=cdim)
    n_classes = x.shape[cdim]
    if dtypes.is_float(t.dtype):
        return _soft_cross_entropy(logp, t, weight, reduction, label_smoothing, cdim)
    loss, w_t, cdim, valid = _nll_parts("cross_entropy", logp, t, weight, ignore_index)
    if label_smoothing > 0:
        w = logp if weight is None else logp * _class_weight(weight, logp.ndim, cdim)
        smooth = fnp.where(valid, -fnp.sum(w, axis=cdim), fnp.zeros_like(loss))
        loss = (1 - label_smoothing) * loss + (label_smoothing / n_classes) * smooth
    if reduction == "mean":
        return fnp.sum(loss) / fnp.sum(w_t)
    return _reduce("cross_entropy", loss, reduction)


def _soft_cross_entropy(logp, t, weight, reduction, label_smoothing, cdim):
    if tuple(t.shape) != tuple(logp.shape):
        raise ValueError(f"funtorch.nn.functional.cross_entropy: probability targets must have "
                         f"the input's shape {tuple(logp.shape)}, got {tuple(t.shape)}")
    n_classes = logp.shape[cdim]
    _check_class_weight("cross_entropy", weight, n_classes)
    if label_smoothing > 0:
        t = t * (1 - label_smoothing) + label_smoothing / n_classes
    prod = logp * t
    if weight is not None:
        prod = prod * _class_weight(weight, logp.ndim, cdim)
    loss = -fnp.sum(prod, axis=cdim)
    if reduction == "mean":
        return fnp.sum(loss) / (logp.size // n_classes)
    return _reduce("cross_entropy", loss, reduction)


def mse_loss(input, target, reduction="mean"):
    d = _arr(input) - target
    return _reduce("mse_loss", d * d, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable expression; ``pos_weight`` scales the
    positive term, as in PyTorch."""
    x, t = _arr(input), _arr(target)
    if tuple(t.shape) != tuple(x.shape):
        raise ValueError(f"funtorch.nn.functional.binary_cross_entropy_with_logits: target "
                         f"size {tuple(t.shape)} must be the same as input size "
                         f"{tuple(x.shape)}")
    neg_log_sigmoid = fnp.log1p(fnp.exp(-fnp.abs(x))) + fnp.maximum(-x, 0.0)
    if pos_weight is None:
        loss = (1 - t) * x + neg_log_sigmoid
    else:
        loss = (1 - t) * x + ((pos_weight - 1) * t + 1) * neg_log_sigmoid
    if weight is not None:
        loss = loss * weight
    return _reduce("binary_cross_entropy_with_logits", loss, reduction)


# ------------------------------------------------------------------------------ shape

def flatten(input, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one (torch.flatten)."""
    x = _arr(input)
    if x.ndim == 0:
        return fnp.reshape(x, (1,))
    s, e = start_dim % x.ndim, end_dim % x.ndim
    if s > e:
        raise ValueError(f"funtorch.nn.functional.flatten: start_dim {start_dim} comes after "
                         f"end_dim {end_dim} for an input of rank {x.ndim}")
    merged = int(np.prod(x.shape[s:e + 1], dtype=np.int64))
    return fnp.reshape(x, x.shape[:s] + (merged,) + x.shape[e + 1:])
