"""Learning-rate schedules: functions ``step -> lr`` of the number of updates applied so far.

They are built from funtorch ops, so the optimizer can evaluate them on its traced step
count inside ``jit``; they also accept plain ints (for plotting).
"""

from __future__ import annotations

import math

from .. import numpy as fnp
from ..core import dtypes

__all__ = ["constant", "step_lr", "cosine_decay", "linear_warmup", "join"]


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
