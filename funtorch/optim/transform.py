"""Gradient transformations: optax's shape (``init`` / ``update``), PyTorch's arithmetic.

A transformation is a pair of pure functions: ``init(params) -> state`` and
``update(grads, state, params=None) -> (updates, new_state)``; ``apply_updates`` adds the
updates to the params. States are namedtuples of arrays (the step count is an int32
array, not a Python int), so an optimizer step jits once and checkpoints with ``ft.save``.
Optimizers are ``chain``s of the pieces here, ordered so each matches the corresponding
line of ``torch.optim``'s update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .. import numpy as fnp
from .. import tree
from ..core import dtypes

__all__ = [
    "GradientTransformation", "EmptyState", "apply_updates", "chain", "global_norm",
    "clip_by_global_norm", "add_decayed_weights", "trace", "scale_by_adam", "scale_by_rms",
    "scale_by_learning_rate", "TraceState", "ScaleByAdamState", "ScaleByRmsState",
    "ScheduleState", "scale_by_adagrad", "scale_by_adamax", "scale_by_nadam", "scale_by_radam",
    "scale_by_lion", "ScaleByAdagradState", "ScaleByAdamaxState", "ScaleByNadamState",
    "ScaleByLionState",
]


class GradientTransformation(NamedTuple):
    init: Callable[[Any], Any]
    update: Callable[..., Any]


class EmptyState(NamedTuple):
    pass


class TraceState(NamedTuple):
    count: Any
    momentum_buffer: Any


class ScaleByAdamState(NamedTuple):
    count: Any
    exp_avg: Any
    exp_avg_sq: Any
    max_exp_avg_sq: Any  # None unless amsgrad


class ScaleByRmsState(NamedTuple):
    square_avg: Any
    grad_avg: Any  # None unless centered


class ScheduleState(NamedTuple):
    count: Any


class ScaleByAdagradState(NamedTuple):
    sum: Any


class ScaleByAdamaxState(NamedTuple):
    count: Any
    exp_avg: Any
    exp_inf: Any


class ScaleByNadamState(NamedTuple):
    count: Any
    mu_product: Any   # a float32 scalar, as PyTorch keeps it
    exp_avg: Any
    exp_avg_sq: Any


class ScaleByLionState(NamedTuple):
    exp_avg: Any


def _zeros(params):
    return tree.map(fnp.zeros_like, params)


def _count():
    return fnp.zeros((), dtypes.int32)


def _mismatch(name, e, what):
    """A tree/shape mismatch inside an optimizer, re-raised naming the op and the fix."""
    if str(e).startswith("funtorch.optim"):
        return e
    return ValueError(f"funtorch.optim.{name}: {what} ({e}); pass trees with the same "
                      "structure and leaf shapes as the params given to init")


def apply_updates(params, updates):
    """params + updates, leaf by leaf, keeping each parameter's dtype."""
    try:
        return tree.map(lambda p, u: fnp.astype(p + u, p.dtype), params, updates)
    except ValueError as e:
        raise _mismatch("apply_updates", e, "updates do not match params") from None


def chain(*transforms):
    """Apply transformations in order, each to the previous one's updates."""

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(updates, state, params=None):
        new_state = []
        try:
            for t, s in zip(transforms, state):
                updates, s = t.update(updates, s, params)
                new_state.append(s)
        except ValueError as e:
            raise _mismatch("update", e, "grads/params do not match the optimizer state "
                            "from init") from None
        return updates, tuple(new_state)

    return GradientTransformation(init, update)


def global_norm(updates):
    """sqrt of the sum of squares of every leaf (the 2-norm of all of them together)."""
    return fnp.sqrt(sum(fnp.sum(fnp.square(g)) for g in tree.leaves(updates)))


def clip_by_global_norm(max_norm):
    """Scale all updates by min(1, max_norm / (norm + 1e-6)), as
    ``torch.nn.utils.clip_grad_norm_`` does."""
    if not callable(max_norm) and not hasattr(max_norm, "dtype") and max_norm < 0:
        raise ValueError(f"funtorch.optim.clip_by_global_norm: max_norm must be "
                         f"non-negative, got {max_norm}")

    def update(updates, state, params=None):
        norm = global_norm(updates)
        coef = fnp.minimum(max_norm / (norm + 1e-6), 1.0)
        return tree.map(lambda g: g * fnp.astype(coef, g.dtype), updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


def _need_params(name, params):
    if params is None:
        raise ValueError(f"funtorch.optim.{name}: this optimizer needs the current params: "
                         "call update(grads, state, params)")


def add_decayed_weights(weight_decay):
    """g + weight_decay * p: L2 regularisation before the optimizer's own scaling, or,
    placed after it (AdamW), decoupled weight decay."""

    def update(updates, state, params=None):
        _need_params("add_decayed_weights", params)
        return tree.map(lambda g, p: g + weight_decay * p, updates, params), state

    return GradientTransformation(lambda params: EmptyState(), update)


def trace(momentum, dampening=0.0, nesterov=False):
    """PyTorch's momentum buffer: b = g on the first step, then b = momentum * b +
    (1 - dampening) * g; the update is b, or g + momentum * b with ``nesterov``.
    ``momentum`` may be a schedule ``step -> momentum`` of the updates applied so far (as
    PyTorch's SGD under OneCycleLR, the current value is applied to the buffer)."""

    def init(params):
        return TraceState(_count(), _zeros(params))

    def update(updates, state, params=None):
        first = state.count == 0
        if callable(momentum):
            mom = fnp.asarray(momentum(state.count))
            mu = lambda like: _as(mom, like)  # noqa: E731
        else:
            mu = lambda like: momentum  # noqa: E731
        buf = tree.map(lambda g, b: fnp.where(first, g, mu(b) * b + (1 - dampening) * g),
                       updates, state.momentum_buffer)
        out = tree.map(lambda g, b: g + mu(b) * b, updates, buf) if nesterov else buf
        return out, TraceState(state.count + 1, buf)

    return GradientTransformation(init, update)


def scale_by_adam(b1=0.9, b2=0.999, eps=1e-8, amsgrad=False):
    """Adam's direction m_hat / (sqrt(v_hat) + eps), with PyTorch's placement of eps and
    AMSGrad's running max taken over the uncorrected second moment. ``b1`` may be a schedule
    ``step -> b1`` of the updates applied so far; as in PyTorch (OneCycleLR's momentum
    cycling), the current value enters both the first moment and ``1 - b1 ** t``."""

    def init(params):
        return ScaleByAdamState(_count(), _zeros(params), _zeros(params),
                                _zeros(params) if amsgrad else None)

    def update(updates, state, params=None):
        count = state.count + 1
        # bias corrections in float64, as PyTorch computes them in Python floats: in float32,
        # 1 - 0.999 is off by 1e-5 relative, which shows in the trajectory
        t = fnp.astype(count, dtypes.float64)
        if callable(b1):
            beta1 = fnp.astype(fnp.asarray(b1(state.count)), dtypes.float64)
            bc1 = 1 - fnp.power(beta1, t)
            m = tree.map(lambda g, m: m + _as(1 - beta1, m) * (g - m), updates,
                         state.exp_avg)
        else:
            bc1 = 1 - fnp.power(b1, t)
            m = tree.map(lambda g, m: m + (1 - b1) * (g - m), updates, state.exp_avg)
        bc2_sqrt = fnp.sqrt(1 - fnp.power(b2, t))
        v = tree.map(lambda g, v: v * b2 + (1 - b2) * g * g, updates, state.exp_avg_sq)
        vmax = tree.map(fnp.maximum, state.max_exp_avg_sq, v) if amsgrad else None

        def direction(m, v):
            denom = fnp.sqrt(v) / fnp.astype(bc2_sqrt, v.dtype) + eps
            return (m / denom) / fnp.astype(bc1, m.dtype)

        out = tree.map(direction, m, vmax if amsgrad else v)
        return out, ScaleByAdamState(count, m, v, vmax)

    return GradientTransformation(init, update)


def scale_by_rms(alpha=0.99, eps=1e-8, centered=False):
    """RMSprop's g / (sqrt(s - c**2) + eps) with s, c running averages of g**2 (and g)."""

    def init(params):
        return ScaleByRmsState(_zeros(params), _zeros(params) if centered else None)

    def update(updates, state, params=None):
        sq = tree.map(lambda g, s: s * alpha + (1 - alpha) * g * g, updates, state.square_avg)
        if centered:
            ga = tree.map(lambda g, a: a + (1 - alpha) * (g - a), updates, state.grad_avg)
            avg = tree.map(lambda s, a: fnp.sqrt(s - a * a), sq, ga)
        else:
            ga = None
            avg = tree.map(fnp.sqrt, sq)
        out = tree.map(lambda g, a: g / (a + eps), updates, avg)
        return out, ScaleByRmsState(sq, ga)

    return GradientTransformation(init, update)


def scale_by_learning_rate(lr):
    """-lr * updates; ``lr`` is a number or a schedule ``step -> lr`` evaluated at the
    number of updates applied so far (0 on the first step, as PyTorch's schedulers)."""
    if not callable(lr):
        return GradientTransformation(
            lambda params: EmptyState(),
            lambda updates, state, params=None: (tree.map(lambda g: -lr * g, updates), state))

    def update(updates, state, params=None):
        rate = fnp.asarray(lr(state.count))
        return (tree.map(lambda g: fnp.astype(-rate, g.dtype) * g, updates),
                ScheduleState(state.count + 1))

    return GradientTransformation(lambda params: ScheduleState(_count()), update)


def _step_f64(count):
    """The step number as float64: PyTorch computes its per-step scalars in Python floats."""
    return fnp.astype(count, dtypes.float64)


def _as(x, like):
    return fnp.astype(x, like.dtype)


def scale_by_adagrad(initial_accumulator_value=0.0, eps=1e-10):
    """Adagrad's g / (sqrt(s) + eps), with s the running sum of g**2 (PyTorch's Adagrad)."""

    def init(params):
        return ScaleByAdagradState(tree.map(
            lambda p: fnp.full_like(p, initial_accumulator_value), params))

    def update(updates, state, params=None):
        s = tree.map(lambda g, s: s + g * g, updates, state.sum)
        return tree.map(lambda g, s: g / (fnp.sqrt(s) + eps), updates, s), ScaleByAdagradState(s)

    return GradientTransformation(init, update)


def scale_by_adamax(b1=0.9, b2=0.999, eps=1e-8):
    """Adamax's ``m / u / (1 - b1**t)``, with ``u = max(b2 * u, abs(g) + eps)`` the
    exponentially weighted infinity norm (PyTorch's Adamax: eps inside the max)."""

    def init(params):
        return ScaleByAdamaxState(_count(), _zeros(params), _zeros(params))

    def update(updates, state, params=None):
        count = state.count + 1
        bc1 = 1 - fnp.power(b1, _step_f64(count))
        m = tree.map(lambda g, m: m + (1 - b1) * (g - m), updates, state.exp_avg)
        u = tree.map(lambda g, u: fnp.maximum(u * b2, fnp.abs(g) + eps), updates,
                     state.exp_inf)
        out = tree.map(lambda m, u: (m / u) / _as(bc1, m), m, u)
        return out, ScaleByAdamaxState(count, m, u)

    return GradientTransformation(init, update)


def scale_by_nadam(b1=0.9, b2=0.999, eps=1e-8, momentum_decay=4e-3):
    """NAdam's direction with PyTorch's momentum schedule mu_t = b1 (1 - 0.5 *
    0.96 ** (t momentum_decay)): ``(1 - mu_t) / (1 - prod mu) * g / d + mu_{t+1} /
    (1 - prod mu * mu_{t+1}) * m / d`` with d = sqrt(v / (1 - b2**t)) + eps."""

    def init(params):
        return ScaleByNadamState(_count(), fnp.ones((), dtypes.float32), _zeros(params),
                                 _zeros(params))

    def update(updates, state, params=None):
        count = state.count + 1
        t = _step_f64(count)
        bc2 = 1 - fnp.power(b2, t)
        mu = b1 * (1.0 - 0.5 * fnp.power(0.96, t * momentum_decay))
        mu_next = b1 * (1.0 - 0.5 * fnp.power(0.96, (t + 1) * momentum_decay))
        mu_product = state.mu_product * fnp.astype(mu, dtypes.float32)
        mp = fnp.astype(mu_product, dtypes.float64)
        c_grad = (1.0 - mu) / (1.0 - mp)
        c_avg = mu_next / (1.0 - mp * mu_next)
        m = tree.map(lambda g, m: m + (1 - b1) * (g - m), updates, state.exp_avg)
        v = tree.map(lambda g, v: v * b2 + (1 - b2) * g * g, updates, state.exp_avg_sq)

        def direction(g, m, v):
            denom = fnp.sqrt(v / _as(bc2, v)) + eps
            return (g / denom) * _as(c_grad, g) + (m / denom) * _as(c_avg, m)

        out = tree.map(direction, updates, m, v)
        return out, ScaleByNadamState(count, mu_product, m, v)

    return GradientTransformation(init, update)


def scale_by_radam(b1=0.9, b2=0.999, eps=1e-8):
    """RAdam's rectified Adam direction (PyTorch's RAdam): while the variance estimate is
    unreliable (rho_t <= 5) the bias-corrected momentum alone, afterwards the Adam step
    times the rectification term."""

    def init(params):
        return ScaleByAdamState(_count(), _zeros(params), _zeros(params), None)

    def update(updates, state, params=None):
        count = state.count + 1
        t = _step_f64(count)
        bc1 = 1 - fnp.power(b1, t)
        bc2 = 1 - fnp.power(b2, t)
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * fnp.power(b2, t) / bc2
        rectify = rho_t > 5.0
        safe_rho = fnp.where(rectify, rho_t, fnp.full_like(rho_t, 6.0))
        rect = fnp.sqrt((safe_rho - 4) * (safe_rho - 2) * rho_inf
                        / ((rho_inf - 4) * (rho_inf - 2) * safe_rho))
        m = tree.map(lambda g, m: m + (1 - b1) * (g - m), updates, state.exp_avg)
        v = tree.map(lambda g, v: v * b2 + (1 - b2) * g * g, updates, state.exp_avg_sq)

        def direction(m, v):
            corrected = m / _as(bc1, m)
            adaptive = _as(fnp.sqrt(bc2), v) / (fnp.sqrt(v) + eps)
            return fnp.where(rectify, corrected * adaptive * _as(rect, m), corrected)

        out = tree.map(direction, m, v)
        return out, ScaleByAdamState(count, m, v, None)

    return GradientTransformation(init, update)


def scale_by_lion(b1=0.9, b2=0.99):
    """Lion's sign(b1 m + (1 - b1) g), then m = b2 m + (1 - b2) g (Chen et al. 2023,
    as optax's ``scale_by_lion``)."""

    def init(params):
        return ScaleByLionState(_zeros(params))

    def update(updates, state, params=None):
        out = tree.map(lambda g, m: fnp.sign(m + (1 - b1) * (g - m)), updates, state.exp_avg)
        m = tree.map(lambda g, m: m + (1 - b2) * (g - m), updates, state.exp_avg)
        return out, ScaleByLionState(m)

    return GradientTransformation(init, update)
