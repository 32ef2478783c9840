import numpy as np
import pytest

from cuda_kernels import optim

from .util import dev, host

f32 = np.float32


def _adam_ref(p, g, m, v, vmax, step, lr, betas, eps, wd, decoupled, amsgrad, maximize):
    """PyTorch's foreach Adam, op by op in float32 with float64 scalar schedule."""
    b1, b2 = betas
    g = -g if maximize else g
    if decoupled:
        p = p * f32(1 - lr * wd)
    elif wd:
        g = g + f32(wd) * p
    m = m + f32(1 - b1) * (g - m)
    v = v * f32(b2)
    v = v + f32(1 - b2) * g * g
    if amsgrad:
        vmax = np.maximum(vmax, v)
    denom = np.sqrt(vmax if amsgrad else v) / f32((1 - b2**step) ** 0.5) + f32(eps)
    p = p + f32(-lr / (1 - b1**step)) * (m / denom)
    return p, m, v, vmax


@pytest.mark.parametrize(
    "decoupled,amsgrad,maximize,wd",
    [
        (False, False, False, 0.0),
        (False, False, False, 0.1),
        (True, False, False, 0.01),
        (False, True, True, 0.0),
    ],
)
def test_adam_matches_pytorch_formula(rng, decoupled, amsgrad, maximize, wd):
    n = 70
    p, m = rng.standard_normal(n).astype(f32), np.zeros(n, f32)
    v, vmax = np.zeros(n, f32), np.zeros(n, f32)
    dp, dm, dv, dvmax = dev(p), dev(m), dev(v), dev(vmax)
    kw = dict(
        lr=1e-2,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=wd,
        decoupled_weight_decay=decoupled,
        amsgrad=amsgrad,
        maximize=maximize,
    )
    for step in (1, 2, 3):
        g = rng.standard_normal(n).astype(f32)
        optim.adam_step(dp, dev(g), dm, dv, step, max_exp_avg_sq=dvmax if amsgrad else None, **kw)
        p, m, v, vmax = _adam_ref(
            p,
            g,
            m,
            v,
            vmax,
            step,
            kw["lr"],
            kw["betas"],
            kw["eps"],
            wd,
            decoupled,
            amsgrad,
            maximize,
        )
    np.testing.assert_allclose(host(dp), p, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(host(dm), m, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(host(dv), v, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "momentum,nesterov,dampening,wd,maximize",
    [(0.0, False, 0.0, 0.0, False), (0.9, False, 0.1, 1e-3, False), (0.9, True, 0.0, 0.0, True)],
)
def test_sgd_matches_pytorch_formula(rng, momentum, nesterov, dampening, wd, maximize):
    n, lr = 33, 0.05
    p = rng.standard_normal(n).astype(f32)
    buf = np.zeros(n, f32)
    dp, dbuf = dev(p), dev(buf)
    for step in range(3):
        g = rng.standard_normal(n).astype(f32)
        optim.sgd_step(
            dp,
            dev(g),
            dbuf if momentum else None,
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=wd,
            nesterov=nesterov,
            maximize=maximize,
            first_step=step == 0,
        )
        d = -g if maximize else g
        if wd:
            d = d + f32(wd) * p
        if momentum:
            buf = d if step == 0 else buf * f32(momentum) + f32(1 - dampening) * d
            d = d + f32(momentum) * buf if nesterov else buf
        p = p + f32(-lr) * d
    np.testing.assert_allclose(host(dp), p, rtol=1e-6, atol=1e-7)


def test_argument_checks():
    x = dev(np.zeros(4, f32))
    with pytest.raises(ValueError, match="max_exp_avg_sq"):
        optim.adam_step(x, x, x, x, 1, amsgrad=True)
    with pytest.raises(ValueError, match="momentum_buffer"):
        optim.sgd_step(x, x, momentum=0.9)
    with pytest.raises(TypeError):
        optim.sgd_step(dev(np.zeros(4, np.float16)), x)
