"""Learning-rate schedules: functions ``step -> lr`` of the number of updates applied so far.

They are built from funtorch ops, so the optimizer can evaluate them on its traced step
count inside ``jit``; they also accept plain ints (for plotting). ``reduce_on_plateau`` is
the one schedule driven by a metric rather than the step: a pure ``init``/``update`` pair
whose state carries the current lr.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from .. import numpy as fnp
from ..core import dtypes

__all__ = ["constant", "step_lr", "cosine_decay", "linear_warmup", "join", "one_cycle",
           "one_cycle_momentum",
           "reduce_on_plateau", "PlateauState", "ReduceOnPlateau"]


def _step(step):
    return fnp.astype(fnp.asarray(step), dtypes.float32)


def constant(lr):
    return lambda step: fnp.full_like(_step(step), lr)


def step_lr(lr, step_size, gamma=0.1):
    """lr * gamma ** (step // step_size) (torch.optim.lr_scheduler.StepLR, per step)."""
    return lambda step: lr * fnp.power(gamma, _step(fnp.asarray(step) // step_size))


def cosine_decay(lr, decay_steps, alpha=0.0):
    """Half a cosine from lr down to alpha * lr over decay_steps, then flat
    (CosineAnnealingLR with T_max=decay_steps, eta_min=alpha*lr, for its first half-period)."""
    if decay_steps <= 0:
        raise ValueError(f"funtorch.optim.schedules.cosine_decay: decay_steps must be positive, "
                         f"got {decay_steps}")

    def schedule(step):
        t = fnp.minimum(_step(step), decay_steps) / decay_steps
        return lr * (alpha + (1 - alpha) * 0.5 * (1 + fnp.cos(math.pi * t)))

    return schedule


def linear_warmup(lr, warmup_steps, start_factor=0.0, end_factor=1.0):
    """Linear ramp of the factor from start_factor to end_factor over warmup_steps, then
    flat (torch.optim.lr_scheduler.LinearLR with total_iters=warmup_steps).

    Both factors must lie in [0, 1], LinearLR's bounds, except that start_factor may be 0
    (the default: warm up from lr 0). LinearLR refuses 0 only because its recursive update
    divides by the previous factor; this closed form does not."""
    if warmup_steps <= 0:
        raise ValueError(f"funtorch.optim.schedules.linear_warmup: warmup_steps must be "
                         f"positive, got {warmup_steps}")
    for name, factor in (("start_factor", start_factor), ("end_factor", end_factor)):
        if not 0.0 <= factor <= 1.0:
            raise ValueError(f"funtorch.optim.schedules.linear_warmup: {name} must be in "
                             f"[0, 1] (as LinearLR's), got {factor}")

    def schedule(step):
        t = fnp.minimum(_step(step), warmup_steps) / warmup_steps
        return lr * (start_factor + (end_factor - start_factor) * t)

    return schedule


def join(schedules, boundaries):
    """schedules[i] from boundaries[i-1] on, each seeing the step counted from its start."""
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(f"funtorch.optim.schedules.join: {len(schedules)} schedules need "
                         f"{len(schedules) - 1} boundaries, got {len(boundaries)}")

    def schedule(step):
        s = fnp.asarray(step)
        out = schedules[0](s)
        for boundary, sched in zip(boundaries, schedules[1:]):
            out = fnp.where(s < boundary, out, sched(s - boundary))
        return out

    return schedule


def _cycle(name, total_steps, pct_start, anneal_strategy, three_phase, start, peak, end,
           dtype=dtypes.float32):
    """OneCycleLR's phases, shared by the lr and the momentum: ``start -> peak`` over the
    first ``pct_start`` of ``total_steps``, then ``peak -> end`` (with ``three_phase``,
    ``peak -> start -> end``), annealed by a cosine or linearly."""
    if not isinstance(total_steps, int) or total_steps <= 0:
        raise ValueError(f"{name}: total_steps must be a positive int, got {total_steps!r}")
    if not 0.0 <= pct_start <= 1.0:
        raise ValueError(f"{name}: pct_start must be in [0, 1], got {pct_start}")
    if anneal_strategy not in ("cos", "linear"):
        raise ValueError(f"{name}: anneal_strategy must be 'cos' or 'linear', got "
                         f"{anneal_strategy!r}")
    if three_phase:
        phases = [(float(pct_start * total_steps) - 1, start, peak),
                  (float(2 * pct_start * total_steps) - 2, peak, start),
                  (total_steps - 1.0, start, end)]
    else:
        phases = [(float(pct_start * total_steps) - 1, start, peak),
                  (total_steps - 1.0, peak, end)]

    def anneal(lo, hi, pct):
        if anneal_strategy == "cos":
            return hi + (lo - hi) / 2.0 * (fnp.cos(math.pi * pct) + 1)
        return (hi - lo) * pct + lo

    def schedule(step):
        s = fnp.astype(fnp.asarray(step), dtypes.float64)
        out, start_step = None, 0.0
        for i, (end_step, lo, hi) in enumerate(phases):
            value = anneal(lo, hi, (s - start_step) / (end_step - start_step))
            # the first phase whose end is not passed (the last one takes the rest)
            out = value if out is None else fnp.where(s <= phases[i - 1][0], out, value)
            start_step = end_step
        return fnp.astype(out, dtype)

    return schedule


def one_cycle(max_lr, total_steps, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
              final_div_factor=1e4, three_phase=False):
    """PyTorch's OneCycleLR learning rate: from ``max_lr / div_factor`` up to ``max_lr`` over
    the first ``pct_start`` of ``total_steps``, then down to ``max_lr / div_factor /
    final_div_factor`` (with ``three_phase``, back to the start first), annealed by a
    cosine or linearly. OneCycleLR's momentum cycling (``cycle_momentum=True``, its
    default) is ``one_cycle_momentum``, passed as ``sgd``'s ``momentum`` or as the first
    of ``adam``/``adamw``'s ``betas``.

    Examples:
        >>> from funtorch import optim
        >>> from funtorch.optim import schedules
        >>> lr = schedules.one_cycle(0.1, total_steps=10)
        >>> [round(float(lr(step)), 4) for step in (0, 2, 9)]
        [0.004, 0.1, 0.0]
        >>> momentum = schedules.one_cycle_momentum(total_steps=10)
        >>> [round(float(momentum(step)), 4) for step in (0, 2, 9)]
        [0.95, 0.85, 0.95]
        >>> opt = optim.sgd(lr, momentum=momentum)   # OneCycleLR(cycle_momentum=True)
    """
    initial = max_lr / div_factor
    return _cycle("funtorch.optim.schedules.one_cycle", total_steps, pct_start,
                  anneal_strategy, three_phase, initial, max_lr, initial / final_div_factor)


def one_cycle_momentum(total_steps, pct_start=0.3, anneal_strategy="cos", base_momentum=0.85,
                       max_momentum=0.95, three_phase=False):
    """PyTorch's OneCycleLR momentum (``cycle_momentum=True``), the inverse of
    ``one_cycle``'s lr: from ``max_momentum`` down to ``base_momentum`` while the lr rises,
    then back up to ``max_momentum`` (with ``three_phase``, it stays there in the last
    phase). Pass it as ``sgd``'s ``momentum`` or ``adam``/``adamw``'s ``betas[0]``, with the
    same ``total_steps``, ``pct_start``, ``anneal_strategy`` and ``three_phase`` as the lr.

    Returns float64, as PyTorch's momentum is a Python float (Adam's bias correction
    ``1 - beta1 ** t`` is sensitive to it).

    Examples:
        >>> from funtorch.optim import schedules
        >>> momentum = schedules.one_cycle_momentum(total_steps=10, anneal_strategy="linear")
        >>> [round(float(momentum(step)), 4) for step in (0, 1, 2, 9)]
        [0.95, 0.9, 0.85, 0.95]
    """
    name = "funtorch.optim.schedules.one_cycle_momentum"
    for arg, v in (("base_momentum", base_momentum), ("max_momentum", max_momentum)):
        if not 0.0 <= v < 1.0:
            raise ValueError(f"{name}: {arg} must be in [0, 1), got {v}")
    return _cycle(name, total_steps, pct_start, anneal_strategy, three_phase, max_momentum,
                  base_momentum, max_momentum, dtype=dtypes.float64)


class PlateauState(NamedTuple):
    lr: Any                 # the current learning rate (float32 scalar)
    best: Any               # the best metric so far
    num_bad_epochs: Any     # evaluations since the last improvement
    cooldown_counter: Any   # evaluations left before bad ones count again


class ReduceOnPlateau(NamedTuple):
    init: Any
    update: Any


def reduce_on_plateau(mode="min", factor=0.1, patience=10, threshold=1e-4,
                      threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
    """PyTorch's ReduceLROnPlateau as a pure pair: ``state = plateau.init(lr)`` and, after
    each evaluation, ``state = plateau.update(state, metric)``; ``state.lr`` is the lr to
    use. More than ``patience`` evaluations in a row without improvement (by
    ``threshold``, relative or absolute per ``threshold_mode``, as in PyTorch) multiply
    the lr by ``factor`` (not below ``min_lr``; a change smaller than ``eps`` is
    skipped), after which ``cooldown`` evaluations are not counted.

    Written in funtorch ops, so ``update`` also runs under ``jit``. To use it, build the
    optimizer with ``lr=1.0`` and scale its updates, exact for every optimizer here
    (the updates are linear in lr)::

        opt, plateau = optim.adam(1.0), schedules.reduce_on_plateau(patience=2)
        pstate = plateau.init(1e-3)
        updates, opt_state = opt.update(grads, opt_state, params)
        params = optim.apply_updates(params, ft.tree.map(lambda u: pstate.lr * u, updates))
        ...
        pstate = plateau.update(pstate, val_loss)   # once per evaluation
    """
    name = "funtorch.optim.schedules.reduce_on_plateau"
    if mode not in ("min", "max"):
        raise ValueError(f"{name}: mode must be 'min' or 'max', got {mode!r}")
    if threshold_mode not in ("rel", "abs"):
        raise ValueError(f"{name}: threshold_mode must be 'rel' or 'abs', got "
                         f"{threshold_mode!r}")
    if not factor < 1.0:
        raise ValueError(f"{name}: factor should be < 1.0, got {factor}")

    def init(lr):
        worst = math.inf if mode == "min" else -math.inf
        return PlateauState(fnp.asarray(lr, dtypes.float32), fnp.asarray(worst, dtypes.float64),
                            fnp.zeros((), dtypes.int32), fnp.zeros((), dtypes.int32))

    def is_better(a, best):
        if mode == "min":
            return a < (best * (1.0 - threshold) if threshold_mode == "rel"
                        else best - threshold)
        return a > (best * (threshold + 1.0) if threshold_mode == "rel" else best + threshold)

    def update(state, metric):
        m = fnp.astype(fnp.asarray(metric), dtypes.float64)
        better = is_better(m, state.best)
        best = fnp.where(better, m, state.best)
        bad = fnp.where(better, 0, state.num_bad_epochs + 1)
        in_cooldown = state.cooldown_counter > 0
        cooldown_counter = fnp.where(in_cooldown, state.cooldown_counter - 1,
                                     state.cooldown_counter)
        bad = fnp.where(in_cooldown, 0, bad)
        reduce = bad > patience
        old = fnp.astype(state.lr, dtypes.float64)
        new = fnp.maximum(old * factor, min_lr)
        lr = fnp.where(reduce & (old - new > eps), new, old)
        return PlateauState(fnp.astype(lr, dtypes.float32), best,
                            fnp.astype(fnp.where(reduce, 0, bad), dtypes.int32),
                            fnp.astype(fnp.where(reduce, cooldown, cooldown_counter),
                                       dtypes.int32))

    return ReduceOnPlateau(init, update)
