"""Losses: nll_loss, cross_entropy, mse_loss, binary_cross_entropy_with_logits."""

from __future__ import annotations

import numpy as np

from ... import lax
from ... import numpy as fnp
from ...core import dtypes
from ._checks import IndexOutOfBoundsError, _arr, _known_values, _warn_target_size
from .activation import log_softmax


def _reduce(name, loss, reduction):
    if reduction == "mean":
        return fnp.mean(loss)
    if reduction == "sum":
        return fnp.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"funtorch.nn.functional.{name}: reduction must be 'mean', 'sum' or "
                     f"'none', got {reduction!r}")


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
    target with the uniform distribution, with PyTorch's normalisation under ``weight``; a
    negative one is accepted and acts as 0, as in PyTorch (which checks only the upper
    bound).

    Class indices outside ``[0, C)`` (other than ``ignore_index``) raise a ValueError (also an
    IndexError, as in PyTorch) when their values are known: eagerly, under grad, or under
    vmap of concrete data. Under jit they are unknown when tracing and, JAX-style, nothing
    raises: such an index behaves as in ``nll_loss`` (no class picked; its term is 0, or only
    the label-smoothing part).
    """
    _check_reduction("cross_entropy", reduction)
    if label_smoothing > 1.0:
        raise ValueError(f"funtorch.nn.functional.cross_entropy: label_smoothing must be at "
                         f"most 1.0, got {label_smoothing}")
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


def mse_loss(input, target, reduction="mean", weight=None):
    """Squared error; ``weight`` (the input's shape) scales each element, and then 'mean' is
    ``sum(weight * d**2) / sum(weight)``, as in PyTorch 2.13. A target of another shape
    broadcasts, with PyTorch's warning."""
    x = _arr(input)
    _warn_target_size("mse_loss", x.shape, np.shape(target))
    try:
        d = x - target
    except ValueError:
        raise ValueError(f"funtorch.nn.functional.mse_loss: target of shape "
                         f"{tuple(np.shape(target))} does not match input {tuple(x.shape)}; "
                         "pass a target of the input's shape") from None
    if weight is None:
        return _reduce("mse_loss", d * d, reduction)
    _check_reduction("mse_loss", reduction)
    if tuple(np.shape(weight)) != tuple(x.shape):
        raise ValueError(f"funtorch.nn.functional.mse_loss: weight must have the input's shape "
                         f"{tuple(x.shape)}, got {tuple(np.shape(weight))}")
    loss = d * d * weight
    if reduction == "mean":
        return fnp.sum(loss) / fnp.sum(weight)
    return _reduce("mse_loss", loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable expression; ``pos_weight`` scales the
    positive term, as in PyTorch."""
    x, t = _arr(input), _arr(target)
    if tuple(t.shape) != tuple(x.shape):
        raise ValueError(f"funtorch.nn.functional.binary_cross_entropy_with_logits: target "
                         f"size {tuple(t.shape)} must be the same as input size "
                         f"{tuple(x.shape)}")
    # max(x, -x) == |x| with derivative 0 at x = 0, so the x = 0 gradient stays sigmoid(0) - t
    neg_log_sigmoid = fnp.log1p(fnp.exp(-fnp.maximum(x, -x))) + fnp.maximum(-x, 0.0)
    if pos_weight is None:
        loss = (1 - t) * x + neg_log_sigmoid
    else:
        loss = (1 - t) * x + ((pos_weight - 1) * t + 1) * neg_log_sigmoid
    if weight is not None:
        loss = loss * weight
    return _reduce("binary_cross_entropy_with_logits", loss, reduction)
