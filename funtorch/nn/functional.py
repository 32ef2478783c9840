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
from ..core.errors import ConcretizationTypeError

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
    """int64 one-hot along a new last axis; under jit pass ``num_classes`` explicitly."""
    t = _arr(tensor)
    if not dtypes.is_int(t.dtype):
        raise TypeError(f"funtorch.nn.functional.one_hot: expected an integer tensor, got "
                        f"{t.dtype}")
    if num_classes == -1:
        try:
            num_classes = int(fnp.max(t)) + 1
        except ConcretizationTypeError:
            raise ConcretizationTypeError(
                t, "funtorch.nn.functional.one_hot with num_classes=-1 (it reads the data to "
                "count the classes; pass num_classes= instead)") from None
    classes = lax.iota(t.dtype, num_classes)
    return fnp.astype(fnp.expand_dims(t, -1) == classes, dtypes.int64)


# ------------------------------------------------------------------------------ linear / conv

def linear(input, weight, bias=None):
    """x @ weight.T + bias, with PyTorch's [out_features, in_features] weight."""
    x, w = _arr(input), _arr(weight)
    if x.shape[-1:] != w.shape[1:]:
        raise ValueError(f"funtorch.nn.functional.linear: input's last dimension "
                         f"{x.shape[-1:]} does not match weight [out_features, in_features] = "
                         f"{tuple(w.shape)}")
    y = fnp.matmul(x, fnp.transpose(w))
    return y if bias is None else y + bias


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
    if x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
        raise ValueError(f"funtorch.nn.functional.{name}: input of shape {tuple(x.shape)} has "
                         f"{x.shape[1]} channels, but weight {tuple(w.shape)} with groups="
                         f"{groups} expects {w.shape[1] * groups}")
    stride = _tuple(name, "stride", stride, n)
    dilation = _tuple(name, "dilation", dilation, n)
    pads = _conv_padding(name, padding, w.shape[2:], dilation, stride)
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
    geo = [_pool_geometry(name, x.shape[-2 + i], k[i], s[i], p[i], d[i], ceil_mode)
           for i in range(2)]
    return x, k, s, p, d, geo


def _window_padding(x, p, geo):
    """(lo, hi) per axis: PyTorch's padding on the left, and on the right whatever yields
    exactly its output size (negative crops input no window reaches)."""
    return ((0, 0),) * (x.ndim - 2) + tuple((p[i], geo[i][1]) for i in range(2))


def _dilated_max(x, k, s, d, pads, geo):
    """Max pooling with dilated windows: the max over the k[0]*k[1] strided taps."""
    xp = lax.pad(x, np.array(-np.inf, x.dtype), [(lo, hi, 0) for lo, hi in pads])
    lead = (0,) * (x.ndim - 2)
    taps = []
    for i in range(k[0]):
        for j in range(k[1]):
            start = lead + (i * d[0], j * d[1])
            limit = xp.shape[:-2] + (start[-2] + (geo[0][0] - 1) * s[0] + 1,
                                     start[-1] + (geo[1][0] - 1) * s[1] + 1)
            taps.append(lax.slice(xp, start, limit, (1,) * len(lead) + s))
    return fnp.max(fnp.stack(taps), axis=0)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over HW windows; padding counts as -inf, so it is never the max."""
    if return_indices:
        raise NotImplementedError("funtorch.nn.functional.max_pool2d: return_indices=True is "
                                  "not supported")
    x, k, s, p, d, geo = _pool_args("max_pool2d", input, kernel_size, stride, padding,
                                    dilation, ceil_mode)
    if not dtypes.is_float(x.dtype):
        raise TypeError(f"funtorch.nn.functional.max_pool2d: expected a float input, got "
                        f"{x.dtype}")
    pads = _window_padding(x, p, geo)
    if d != (1, 1):
        return _dilated_max(x, k, s, d, pads, geo)
    lead = (1,) * (x.ndim - 2)
    return lax.reduce_window_max(x, lead + k, lead + s, pads)


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
    ``padding_idx`` gets no gradient, as in PyTorch."""
    idx, w = _arr(input), _arr(weight)
    if not dtypes.is_int(idx.dtype):
        raise TypeError(f"funtorch.nn.functional.embedding: indices must be integers, got "
                        f"{idx.dtype}")
    out = fnp.take(w, idx, axis=0)
    if padding_idx is None:
        return out
    if padding_idx < 0:
        padding_idx += w.shape[0]
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
    valid = t != ignore_index
    tc = fnp.expand_dims(t, cdim)
    classes = fnp.reshape(lax.iota(t.dtype, x.shape[cdim]),
                          (-1,) + (1,) * (x.ndim - cdim - 1))
    mask = fnp.logical_and(tc == classes, fnp.expand_dims(valid, cdim))
    return cdim, mask, valid


def _class_weight(weight, ndim, cdim):
    return fnp.reshape(_arr(weight), (-1,) + (1,) * (ndim - cdim - 1))


def _nll_parts(name, logp, target, weight, ignore_index):
    """Per-element -w[t] * logp[t] and w[t] (0 where ignored), and the class geometry."""
    cdim, mask, valid = _class_mask(name, logp, target, ignore_index)
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
    divides by the total weight of the non-ignored targets, as in PyTorch."""
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
