"""Losses: nll_loss, cross_entropy, mse_loss, l1_loss, smooth_l1_loss, huber_loss,
binary_cross_entropy(_with_logits), kl_div."""

from __future__ import annotations

import warnings

import numpy as np

from ... import lax
from ... import numpy as fnp
from ...core import dtypes
from ._checks import (
    IndexOutOfBoundsError,
    _arr,
    _known_values,
    _user_stacklevel,
    _warn_target_size,
)
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


def _pointwise(name, input, target, reduction, weight, loss_fn, weighted_mean=True):
    """An elementwise loss ``loss_fn(input, target)`` with PyTorch's optional elementwise
    ``weight``: then 'mean' is ``sum(weight * loss) / sum(weight)`` (as mse_loss), or
    the plain mean of ``weight * loss`` where PyTorch does that (huber_loss). A target of
    another shape broadcasts, with PyTorch's warning."""
    _check_reduction(name, reduction)
    x, t = _arr(input), _arr(target)
    _warn_target_size(name, x.shape, t.shape)
    try:
        loss = loss_fn(x, t)
    except ValueError:
        raise ValueError(f"funtorch.nn.functional.{name}: target of shape {tuple(t.shape)} "
                         f"does not match input {tuple(x.shape)}; pass a target of the input's "
                         "shape") from None
    if weight is None:
        return _reduce(name, loss, reduction)
    if tuple(np.shape(weight)) != tuple(x.shape):
        raise ValueError(f"funtorch.nn.functional.{name}: weight must have the input's shape "
                         f"{tuple(x.shape)}, got {tuple(np.shape(weight))}")
    loss = loss * weight
    if reduction == "mean" and weighted_mean:
        return fnp.sum(loss) / fnp.sum(weight)
    return _reduce(name, loss, reduction)


def l1_loss(input, target, reduction="mean", weight=None):
    """Absolute error ``|input - target|``; ``weight`` as in ``mse_loss``."""
    return _pointwise("l1_loss", input, target, reduction, weight,
                      lambda x, t: fnp.abs(x - t))


def _huber(x, t, delta):
    """0.5 d**2 inside |d| < delta, delta * (|d| - 0.5 delta) outside (d = x - t)."""
    d = fnp.abs(x - t)
    return fnp.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))


def _check_nonneg(name, arg, value):
    if value < 0:
        raise ValueError(f"funtorch.nn.functional.{name}: {arg} must be non-negative, got "
                         f"{value}")


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (PyTorch's
    SmoothL1Loss; ``beta=0`` is the L1 loss)."""
    _check_nonneg("smooth_l1_loss", "beta", beta)
    if beta == 0:
        return _pointwise("smooth_l1_loss", input, target, reduction, None,
                          lambda x, t: fnp.abs(x - t))
    return _pointwise("smooth_l1_loss", input, target, reduction, None,
                      lambda x, t: _huber(x, t, beta) / beta)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """``0.5 d**2`` where ``|d| < delta``, else ``delta * (|d| - 0.5 delta)``: smooth_l1_loss
    scaled by ``delta``, as PyTorch's HuberLoss. With ``weight``, 'mean' is the mean of
    ``weight * loss`` (PyTorch 2.13's huber_loss, unlike its mse_loss and l1_loss)."""
    if delta <= 0:
        raise ValueError(f"funtorch.nn.functional.huber_loss: delta must be positive, got "
                         f"{delta}")
    return _pointwise("huber_loss", input, target, reduction, weight,
                      lambda x, t: _huber(x, t, delta), weighted_mean=False)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """``-(t log p + (1 - t) log(1 - p))`` of probabilities ``input``; each log is clamped
    at -100, as in PyTorch, so p = 0 or 1 gives a finite loss. ``weight`` scales each
    element (broadcast against the input). Probabilities outside [0, 1] raise when their
    values are known (eagerly, under grad); under jit they are not checked. Prefer
    ``binary_cross_entropy_with_logits``."""
    _check_reduction("binary_cross_entropy", reduction)
    x, t = _arr(input), _arr(target)
    if tuple(t.shape) != tuple(x.shape):
        raise ValueError(f"funtorch.nn.functional.binary_cross_entropy: target of shape "
                         f"{tuple(t.shape)} must be the same as input {tuple(x.shape)}")
    values = _known_values(x)
    if values is not None and values.size and not ((values >= 0) & (values <= 1)).all():
        raise ValueError("funtorch.nn.functional.binary_cross_entropy: all elements of input "
                         "should be between 0 and 1 (probabilities); for logits use "
                         "binary_cross_entropy_with_logits")
    log_p = fnp.maximum(fnp.log(x), -100.0)
    log_1mp = fnp.maximum(fnp.log1p(-x), -100.0)
    loss = -(t * log_p + (1 - t) * log_1mp)
    if weight is not None:
        loss = loss * weight
    return _reduce("binary_cross_entropy", loss, reduction)


def kl_div(input, target, reduction="mean", log_target=False):
    """Kullback-Leibler divergence ``target * (log(target) - input)`` with ``input`` in
    log-space (``target`` too when ``log_target``); a zero target contributes 0.
    ``reduction='batchmean'`` divides the sum by the batch size (``input.shape[0]``), which
    is the mathematically correct KL; 'mean' divides by the element count, with PyTorch's
    warning saying so."""
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ValueError(f"funtorch.nn.functional.kl_div: reduction must be 'mean', "
                         f"'batchmean', 'sum' or 'none', got {reduction!r}")
    if reduction == "mean":
        warnings.warn("funtorch.nn.functional.kl_div: reduction: 'mean' divides the total "
                      "loss by both the batch size and the support size. 'batchmean' divides "
                      "only by the batch size, and aligns with the KL div math definition. "
                      "'mean' will be changed to behave the same as 'batchmean' in the next "
                      "major release.", UserWarning, stacklevel=_user_stacklevel())
    x, t = _arr(input), _arr(target)
    try:
        if log_target:
            loss = fnp.exp(t) * (t - x)
        else:   # xlogy(t, t) - t * x: 0 where t == 0 (nan where t < 0, as in PyTorch)
            zero = t == 0
            safe = fnp.where(zero, fnp.ones_like(t), t)
            loss = fnp.where(zero, fnp.zeros_like(t * x), t * (fnp.log(safe) - x))
    except ValueError:
        raise ValueError(f"funtorch.nn.functional.kl_div: target of shape {tuple(t.shape)} "
                         f"does not match input {tuple(x.shape)}") from None
    if reduction == "batchmean":
        return fnp.sum(loss) / (x.shape[0] if x.ndim else 1)
    return _reduce("kl_div", loss, reduction)
