"""Numerics of the CUDA backend's generated kernels (reductions, softmax, cross-entropy,
pooling, optimizer updates) on Numba's simulated GPU. These assertions come from the tests
of ``cuda_kernels``' hand-written reduce/softmax/pool/optim/fused kernels, which the
backend never launched and which are gone: the backend's own fused loops and windowed
kernels are what has to satisfy them (one kernel library, no kernel twice)."""

from __future__ import annotations

# first: sets NUMBA_ENABLE_CUDASIM before anything imports numba.cuda
from cuda_sim import cuda, fast_thread_switching, kernel_cache  # noqa: F401

# isort: split

import ml_dtypes
import numpy as np
import pytest

import funtorch as ft
import funtorch.nn.functional as F

BF16 = np.dtype(ml_dtypes.bfloat16)


def host(x):
    return np.asarray(ft.device_put(x, "cpu"))


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    x = np.random.default_rng(7).standard_normal((3, 37, 5)).astype(np.float32)
    x[0, :, 0] = 1.0       # ties: the first index must win
    x[1, 4, 2] = np.nan    # NaN propagates through max/min and wins arg*
    return x


@pytest.mark.parametrize("op", ["sum", "max", "min", "argmax", "argmin"])
def test_reductions_single_axis(data, op):
    fn = ft.jit(lambda x: [getattr(ft, op)(x, axis=a) for a in range(3)])
    for a, got in enumerate(fn(cuda(data))):
        ref = getattr(np, op)(data, axis=a)
        assert host(got).dtype == ref.dtype
        np.testing.assert_allclose(host(got), ref, rtol=1e-5, atol=1e-5, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float16, BF16])
def test_half_precision_sum_accumulates_in_float32(dtype):
    x = np.linspace(-2, 3, 4 * 70).reshape(4, 70).astype(dtype)
    got = host(ft.sum(cuda(x), axis=1))
    assert got.dtype == np.dtype(dtype)
    ref = x.astype(np.float32).sum(1).astype(dtype)
    # within an ulp of the float32 sum rounded once (accumulating in the half type is 2-4
    # ulps off)
    ulp = np.abs(np.spacing(ref.astype(np.float32))) * (8 if dtype == BF16 else 1)
    assert np.all(np.abs(got.astype(np.float32) - ref.astype(np.float32)) <= ulp * 2 + 1e-6)


@pytest.fixture(scope="module")
def logits():
    x = (np.random.default_rng(3).standard_normal((6, 37)) * 4).astype(np.float32)
    x[1, :] = -np.inf
    x[1, 5] = 2.0          # a row with a single finite logit
    return x


def test_softmax_and_log_softmax(logits):
    d = cuda(logits)
    np.testing.assert_allclose(host(F.softmax(d, -1)), _softmax(logits), atol=1e-6)
    with np.errstate(divide="ignore"):
        ref = np.log(_softmax(logits))
    np.testing.assert_allclose(host(F.log_softmax(d, -1)), ref, rtol=1e-5, atol=1e-5)


def test_softmax_backward(logits):
    x = logits[2:]
    y = _softmax(x)
    dy = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    _, vjp = ft.vjp(lambda v: F.softmax(v, -1), cuda(x))
    ref = y * (dy - (dy * y).sum(-1, keepdims=True))
    np.testing.assert_allclose(host(vjp(cuda(dy))[0]), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("label_dtype", [np.int32, np.int64])
def test_cross_entropy_loss_and_grad(logits, label_dtype):
    x = np.where(np.isinf(logits), -30.0, logits).astype(np.float32)
    labels = np.array([3, 5, 0, -100, 36, 12], label_dtype)   # -100: ignored row
    loss, grad = ft.jit(ft.value_and_grad(
        lambda v, t: F.cross_entropy(v, t, reduction="sum")))(cuda(x), cuda(labels))
    valid = labels >= 0
    lse = np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1)) + x.max(-1)
    ref_loss = np.where(valid, lse - x[np.arange(6), np.clip(labels, 0, None)], 0).sum()
    onehot = np.zeros_like(x)
    onehot[np.arange(6)[valid], labels[valid]] = 1
    np.testing.assert_allclose(host(loss), ref_loss, rtol=1e-5)
    np.testing.assert_allclose(host(grad), (_softmax(x) - onehot) * valid[:, None], atol=1e-6)


POOLS = [((2, 3, 7, 6), 3, 2, 1), ((1, 2, 5, 5), 2, 1, 0), ((1, 1, 6, 7), (3, 2), (2, 3), (1, 1))]


@pytest.mark.parametrize("shape,kernel,stride,padding", POOLS)
def test_pooling_forward_and_backward_match_the_host(shape, kernel, stride, padding):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)

    def f(v):
        return (F.max_pool2d(v, kernel, stride, padding)
                + 2 * F.avg_pool2d(v, kernel, stride, padding, count_include_pad=False)).sum()

    g = ft.jit(ft.value_and_grad(f))
    (val_d, grad_d), (val_h, grad_h) = g(cuda(x)), g(x)
    np.testing.assert_allclose(host(val_d), np.asarray(val_h), rtol=1e-5)
    np.testing.assert_allclose(host(grad_d), np.asarray(grad_h), atol=1e-6)


def test_nan_wins_max_pool():
    x = np.zeros((1, 1, 2, 2), np.float32)
    x[0, 0, 1, 0] = np.nan
    assert np.isnan(host(F.max_pool2d(cuda(x), 2))).all()


def test_adam_matches_pytorch_formula():
    rng = np.random.default_rng(5)
    p, g = (rng.standard_normal(37).astype(np.float32) for _ in range(2))
    opt = ft.optim.adam(1e-2, weight_decay=0.1)
    state = opt.init(cuda(p))
    m = v = np.zeros_like(p)
    q, dp = p.copy(), cuda(p)
    step = ft.jit(lambda g, s, p: opt.update(g, s, p))
    for t in (1, 2):
        u, state = step(cuda(g), state, dp)
        dp = ft.optim.apply_updates(dp, u)
        gg = g + 0.1 * q
        m = 0.9 * m + 0.1 * gg
        v = 0.999 * v + 0.001 * gg * gg
        q = q - 1e-2 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(host(dp), q, rtol=1e-5, atol=1e-6)
