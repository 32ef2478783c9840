"""The optimizers: torch.optim's update rules as chains of transformations.

Each matches ``torch.optim``'s single-tensor implementation step for step (same order of
weight decay, momentum, bias correction and eps), so trajectories agree to float32
rounding. ``lr`` may be a number or a schedule ``step -> lr`` (``funtorch.optim.schedules``).

Examples:
    One step of Adam on ``f(w) = sum(w ** 2)``:

    >>> import funtorch as ft
    >>> from funtorch import optim
    >>> params = {"w": ft.asarray([1.0, -2.0])}
    >>> opt = optim.adam(lr=0.1)
    >>> state = opt.init(params)
    >>> grads = ft.grad(lambda p: ft.sum(p["w"] ** 2))(params)
    >>> updates, state = opt.update(grads, state, params)
    >>> [round(w, 4) for w in optim.apply_updates(params, updates)["w"].tolist()]
    [0.9, -1.9]
"""

from __future__ import annotations

import numbers

from .transform import (
    add_decayed_weights,
    chain,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_adamax,
    scale_by_learning_rate,
    scale_by_lion,
    scale_by_nadam,
    scale_by_radam,
    scale_by_rms,
    trace,
)

__all__ = ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adamax", "nadam", "radam", "lion"]


_SCHEDULABLE = ("lr", "momentum", "beta1")


def _check(name, **values):
    for arg, v in values.items():
        if callable(v):
            continue
        if not isinstance(v, numbers.Real) and not hasattr(v, "dtype"):   # arrays pass
            raise TypeError(f"funtorch.optim.{name}: {arg} must be a real number"
                            f"{f' or a schedule step -> {arg}' if arg in _SCHEDULABLE else ''}"
                            f", got "
                            f"{type(v).__name__} {v!r:.60}")
        if v < 0:
            raise ValueError(f"funtorch.optim.{name}: {arg} must be non-negative, got {v}")


def sgd(lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """Stochastic gradient descent with PyTorch's momentum (first step b = g). ``momentum``,
    like ``lr``, may be a schedule ``step -> momentum`` (``schedules.one_cycle_momentum``)."""
    _check("sgd", lr=lr, momentum=momentum, weight_decay=weight_decay)
    if nesterov and ((not callable(momentum) and momentum <= 0) or dampening != 0):
        raise ValueError("funtorch.optim.sgd: nesterov momentum requires a momentum and zero "
                         "dampening")
    parts = []
    if weight_decay:
        parts.append(add_decayed_weights(weight_decay))
    if momentum:
        parts.append(trace(momentum, dampening, nesterov))
    parts.append(scale_by_learning_rate(lr))
    return chain(*parts)


def _check_adam(name, lr, betas, eps, weight_decay, scheduled_beta1=False):
    _check(name, lr=lr, eps=eps, weight_decay=weight_decay)
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"funtorch.optim.{name}: betas must be a pair (beta1, beta2), got "
                         f"{betas!r}")
    for arg, b in (("beta1", betas[0]), ("beta2", betas[1])):
        if callable(b) and not (scheduled_beta1 and arg == "beta1"):
            raise TypeError(f"funtorch.optim.{name}: {arg} must be a real number, got a "
                            f"schedule (only adam's and adamw's beta1 may be one)")
    _check(name, beta1=betas[0], beta2=betas[1])
    if not all(0.0 <= b < 1.0 for b in betas if not callable(b)):
        raise ValueError(f"funtorch.optim.{name}: betas must be in [0, 1), got {betas}")


def adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
    """Adam; ``weight_decay`` is L2 added to the gradient (PyTorch's Adam). For decoupled
    decay use ``adamw``. ``betas[0]``, like ``lr``, may be a schedule ``step -> beta1``
    (``schedules.one_cycle_momentum``)."""
    _check_adam("adam", lr, betas, eps, weight_decay, scheduled_beta1=True)
    parts = [add_decayed_weights(weight_decay)] if weight_decay else []
    parts += [scale_by_adam(*betas, eps=eps, amsgrad=amsgrad), scale_by_learning_rate(lr)]
    return chain(*parts)


def adamw(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
    """Adam with decoupled weight decay: p -= lr * (adam_direction + weight_decay * p).
    ``betas[0]``, like ``lr``, may be a schedule ``step -> beta1``."""
    _check_adam("adamw", lr, betas, eps, weight_decay, scheduled_beta1=True)
    parts = [scale_by_adam(*betas, eps=eps, amsgrad=amsgrad)]
    if weight_decay:
        parts.append(add_decayed_weights(weight_decay))
    parts.append(scale_by_learning_rate(lr))
    return chain(*parts)


def rmsprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    """RMSprop as in PyTorch: eps outside the square root, optional centring and momentum."""
    _check("rmsprop", lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
           momentum=momentum)
    parts = [add_decayed_weights(weight_decay)] if weight_decay else []
    parts.append(scale_by_rms(alpha, eps, centered))
    if momentum:
        parts.append(trace(momentum))
    parts.append(scale_by_learning_rate(lr))
    return chain(*parts)


def adagrad(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    """Adagrad as in PyTorch: L2 ``weight_decay`` on the gradient, the step size
    ``lr / (1 + (t - 1) * lr_decay)`` at step t."""
    _check("adagrad", lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
           initial_accumulator_value=initial_accumulator_value, eps=eps)
    parts = [add_decayed_weights(weight_decay)] if weight_decay else []
    parts.append(scale_by_adagrad(initial_accumulator_value, eps))
    if lr_decay:
        rate = lr if callable(lr) else (lambda step: lr)
        parts.append(scale_by_learning_rate(lambda step: rate(step) / (1 + step * lr_decay)))
    else:
        parts.append(scale_by_learning_rate(lr))
    return chain(*parts)


def adamax(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """Adamax (Adam with the infinity norm) as in PyTorch; ``weight_decay`` is L2."""
    _check_adam("adamax", lr, betas, eps, weight_decay)
    parts = [add_decayed_weights(weight_decay)] if weight_decay else []
    parts += [scale_by_adamax(*betas, eps=eps), scale_by_learning_rate(lr)]
    return chain(*parts)


def _decayed(direction, weight_decay, decoupled, lr):
    """L2 decay before the direction, or (decoupled) ``p -= lr * weight_decay * p`` after."""
    if not weight_decay:
        return chain(direction, scale_by_learning_rate(lr))
    if decoupled:
        return chain(direction, add_decayed_weights(weight_decay), scale_by_learning_rate(lr))
    return chain(add_decayed_weights(weight_decay), direction, scale_by_learning_rate(lr))


def nadam(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
          decoupled_weight_decay=False):
    """NAdam (Adam with Nesterov momentum) with PyTorch's momentum schedule."""
    _check_adam("nadam", lr, betas, eps, weight_decay)
    _check("nadam", momentum_decay=momentum_decay)
    return _decayed(scale_by_nadam(*betas, eps=eps, momentum_decay=momentum_decay),
                    weight_decay, decoupled_weight_decay, lr)


def radam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
          decoupled_weight_decay=False):
    """RAdam (rectified Adam) as in PyTorch."""
    _check_adam("radam", lr, betas, eps, weight_decay)
    return _decayed(scale_by_radam(*betas, eps=eps), weight_decay, decoupled_weight_decay, lr)


def lion(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
    """Lion (Chen et al. 2023): the sign of an interpolated momentum, with decoupled
    weight decay ``p -= lr * weight_decay * p`` (PyTorch has no Lion; these are the
    paper's update and the lion-pytorch defaults). Use a 3-10x smaller lr than AdamW."""
    _check_adam("lion", lr, betas, 0.0, weight_decay)
    return _decayed(scale_by_lion(*betas), weight_decay, True, lr)
