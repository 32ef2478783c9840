import numpy as np
import pytest

from cuda_kernels import softmax

from .util import BF16, dev, host


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def logits():
    x = (np.random.default_rng(3).standard_normal((2, 3, 37)) * 4).astype(np.float32)
    x[0, 1, :] = -np.inf
    x[0, 1, 5] = 2.0  # a row with a single finite logit
    return x


def test_softmax_and_log_softmax(logits):
    np.testing.assert_allclose(host(softmax.softmax(dev(logits))), _softmax(logits), atol=1e-6)
    got = host(softmax.log_softmax(dev(logits)))
    with np.errstate(divide="ignore"):
        ref = np.log(_softmax(logits))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("log", [False, True])
def test_backward(rng, logits, log):
    x = logits[1]
    y = _softmax(x)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    fwd = np.log(y) if log else y
    got = host(softmax.softmax_backward(dev(fwd.astype(np.float32)), dev(dy), log=log))
    ref = dy - y * dy.sum(-1, keepdims=True) if log else y * (dy - (dy * y).sum(-1, keepdims=True))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("label_dtype", [np.int32, np.int64])
def test_cross_entropy_loss_and_grad(logits, label_dtype):
    x = logits.reshape(6, 37)
    labels = np.array([3, 5, 0, -100, 36, 12], label_dtype)  # -100: ignored row
    loss, grad = softmax.softmax_cross_entropy(dev(x), dev(labels), grad_scale=0.2)
    lse = np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1)) + x.max(-1)
    valid = labels >= 0
    ref_loss = np.where(valid, lse - x[np.arange(6), np.clip(labels, 0, None)], 0)
    onehot = np.zeros_like(x)
    onehot[np.arange(6)[valid], labels[valid]] = 1
    ref_grad = (_softmax(x) - onehot) * 0.2 * valid[:, None]
    np.testing.assert_allclose(host(loss), ref_loss, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(host(grad), ref_grad, atol=1e-6)


def test_bfloat16_rows():
    x = np.linspace(-3, 3, 2 * 33).reshape(2, 33).astype(BF16)
    got = host(softmax.softmax(dev(x))).astype(np.float32)
    np.testing.assert_allclose(got, _softmax(x.astype(np.float32)), rtol=2e-2, atol=1e-3)
