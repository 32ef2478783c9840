"""Loss modules: PyTorch's ``nn.*Loss`` classes, called as ``loss(input, target)``.

They hold their options (``reduction``, ``weight``, ...) and call the matching
``funtorch.nn.functional`` function. A loss has no parameters, so unlike the layers it
takes no ``params`` argument: ``nn.CrossEntropyLoss()(logits, labels)`` as in PyTorch.

Examples:
    >>> import funtorch as ft
    >>> import funtorch.nn as nn
    >>> loss = nn.CrossEntropyLoss(label_smoothing=0.1)
    >>> logits, labels = ft.asarray([[2.0, 0.5, -1.0]]), ft.asarray([0])
    >>> loss(logits, labels)
    Array(0.3913..., dtype=float32)
    >>> nn.MSELoss(reduction="sum")(ft.asarray([1.0, 2.0]), ft.asarray([0.0, 0.0]))
    Array(5., dtype=float32)
"""

from __future__ import annotations

from . import functional as F
from .module import Module

__all__ = ["L1Loss", "MSELoss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
           "SmoothL1Loss", "HuberLoss", "KLDivLoss"]

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    """Keeps the options named in ``_options`` (in ``__init__``'s order) and passes them to
    ``_fn(input, target, **options)``; the repr shows those that are not at their default,
    as PyTorch's shows none."""

    _fn = None
    _reductions = _REDUCTIONS

    def __init__(self, reduction="mean", **options):
        super().__init__()
        if reduction not in self._reductions:
            raise ValueError(f"funtorch.nn.{type(self).__name__}: reduction must be one of "
                             f"{', '.join(map(repr, self._reductions))}, got {reduction!r}")
        self.reduction = reduction
        self._options = dict(options, reduction=reduction)
        for name, value in options.items():
            setattr(self, name, value)

    def __call__(self, input, target):
        return type(self)._fn(input, target, **self._options)


class L1Loss(_Loss):
    """Mean absolute error (``F.l1_loss``)."""
    _fn = F.l1_loss

    def __init__(self, reduction="mean"):
        super().__init__(reduction)


class MSELoss(_Loss):
    """Mean squared error (``F.mse_loss``)."""
    _fn = F.mse_loss

    def __init__(self, reduction="mean"):
        super().__init__(reduction)


class CrossEntropyLoss(_Loss):
    """log_softmax + NLL over the class axis 1 (``F.cross_entropy``): targets are class
    indices or class probabilities."""
    _fn = F.cross_entropy

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction, weight=weight, ignore_index=ignore_index,
                         label_smoothing=label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of class indices under log-probabilities (``F.nll_loss``)."""
    _fn = F.nll_loss

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(reduction, weight=weight, ignore_index=ignore_index)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities (``F.binary_cross_entropy``)."""
    _fn = F.binary_cross_entropy

    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction, weight=weight)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy, stable (``F.binary_cross_entropy_with_logits``)."""
    _fn = F.binary_cross_entropy_with_logits

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction, weight=weight, pos_weight=pos_weight)


class SmoothL1Loss(_Loss):
    """Quadratic below ``beta``, linear above (``F.smooth_l1_loss``)."""
    _fn = F.smooth_l1_loss

    def __init__(self, reduction="mean", beta=1.0):
        super().__init__(reduction, beta=beta)


class HuberLoss(_Loss):
    """Quadratic below ``delta``, linear above (``F.huber_loss``)."""
    _fn = F.huber_loss

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction, delta=delta)


class KLDivLoss(_Loss):
    """KL divergence with a log-space input (``F.kl_div``); prefer
    ``reduction='batchmean'``."""
    _fn = F.kl_div
    _reductions = _REDUCTIONS + ("batchmean",)

    def __init__(self, reduction="mean", log_target=False):
        super().__init__(reduction, log_target=log_target)
