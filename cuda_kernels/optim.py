"""Fused optimizer steps over flat float32 buffers: every parameter element is updated by one
thread that reads and writes its optimizer state once.

The arithmetic follows PyTorch's default (foreach) implementations operation by operation in
float32, with the scalar schedule (bias corrections, step size) computed in float64 on the
host like PyTorch does:

* Adam/AdamW: ``m = lerp(m, g, 1 - beta1)``; ``v = v * beta2 + (1 - beta2) * g * g``;
  ``denom = sqrt(v) / sqrt(1 - beta2**t) + eps``; ``p += -(lr / (1 - beta1**t)) * m / denom``.
  ``weight_decay`` adds ``wd * p`` to the gradient (Adam) or scales ``p`` by ``1 - lr * wd``
  first (``decoupled_weight_decay=True``, AdamW). ``amsgrad`` keeps the running max of v.
* SGD: ``d = g + wd * p``; with momentum ``buf = buf * mu + (1 - dampening) * d`` (``buf = d``
  on the first step); nesterov uses ``d + mu * buf``; ``p += -lr * d``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda, float32, int32, types

from ._common import THREADS_1D, as_device, blocks_for, jit_kernel

_VEC = types.Array(float32, 1, "C")


def build_adam(decoupled: bool, amsgrad: bool, maximize: bool):
    def adam(p, g, m, v, vmax, w1, beta2, w2, step_size, bc2_sqrt, eps, wd, decay):
        i = cuda.grid(1)
        while i < p.size:
            grad = -g[i] if maximize else g[i]
            param = p[i]
            if decoupled:
                param = param * decay
            elif wd != 0:
                grad = grad + wd * param
            mi = m[i]
            mi = mi + w1 * (grad - mi)
            vi = v[i] * beta2
            vi = vi + w2 * grad * grad
            m[i] = mi
            v[i] = vi
            if amsgrad:
                vi = max(vmax[i], vi)
                vmax[i] = vi
            denom = math.sqrt(vi) / bc2_sqrt + eps
            p[i] = param + step_size * (mi / denom)
            i += cuda.gridsize(1)

    return adam, types.void(*([_VEC] * 5), *([float32] * 8))


def build_sgd(momentum: bool, nesterov: bool, maximize: bool):
    def sgd(p, g, buf, lr, mu, damp, wd, first):
        i = cuda.grid(1)
        while i < p.size:
            d = -g[i] if maximize else g[i]
            param = p[i]
            if wd != 0:
                d = d + wd * param
            if momentum:
                b = d
                if first == 0:
                    b = buf[i] * mu
                    b = b + damp * d
                buf[i] = b
                d = d + mu * b if nesterov else b
            p[i] = param + lr * d
            i += cuda.gridsize(1)

    return sgd, types.void(*([_VEC] * 3), *([float32] * 4), int32)


@functools.cache
def _kernel(kind, *flags):
    return jit_kernel(*(build_adam if kind == "adam" else build_sgd)(*flags))


def _launch(kernel, n, stream, *args):
    if n:
        kernel[blocks_for(n), THREADS_1D, stream](*args)


def _flat(x):
    x = as_device(x)
    if np.dtype(x.dtype) != np.float32:
        raise TypeError("optimizer buffers must be float32")
    return x.reshape(x.size)


def adam_step(
    param,
    grad,
    exp_avg,
    exp_avg_sq,
    step,
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    decoupled_weight_decay=False,
    amsgrad=False,
    max_exp_avg_sq=None,
    maximize=False,
    stream=0,
):
    """One in-place Adam/AdamW update; ``step`` counts from 1 (PyTorch's state["step"])."""
    beta1, beta2 = betas
    bc1 = 1.0 - beta1**step
    bc2_sqrt = math.sqrt(1.0 - beta2**step)
    if amsgrad and max_exp_avg_sq is None:
        raise ValueError("amsgrad needs max_exp_avg_sq")
    p, g, m, v = (_flat(a) for a in (param, grad, exp_avg, exp_avg_sq))
    vmax = _flat(max_exp_avg_sq) if amsgrad else v
    scalars = (
        1.0 - beta1,
        beta2,
        1.0 - beta2,
        -lr / bc1,
        bc2_sqrt,
        eps,
        weight_decay,
        1.0 - lr * weight_decay,
    )
    kern = _kernel("adam", bool(decoupled_weight_decay), bool(amsgrad), bool(maximize))
    _launch(kern, p.size, stream, p, g, m, v, vmax, *(np.float32(s) for s in scalars))


def sgd_step(
    param,
    grad,
    momentum_buffer=None,
    lr=1e-3,
    momentum=0.0,
    dampening=0.0,
    weight_decay=0.0,
    nesterov=False,
    maximize=False,
    first_step=False,
    stream=0,
):
    """One in-place SGD update; pass ``first_step=True`` while the momentum buffer is empty."""
    if momentum and momentum_buffer is None:
        raise ValueError("momentum needs a momentum_buffer")
    p, g = _flat(param), _flat(grad)
    buf = _flat(momentum_buffer) if momentum else g
    kern = _kernel("sgd", bool(momentum), bool(nesterov), bool(maximize))
    scalars = (-lr, momentum, 1.0 - dampening, weight_decay)
    _launch(
        kern,
        p.size,
        stream,
        p,
        g,
        buf,
        *(np.float32(s) for s in scalars),
        np.int32(bool(first_step)),
    )
