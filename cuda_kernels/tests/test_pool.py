import numpy as np
import pytest

from cuda_kernels import pool

from .util import dev, host

CASES = [((2, 3, 7, 6), 3, 2, 1), ((1, 2, 5, 5), 2, 1, 0), ((1, 1, 6, 7), (3, 2), (2, 3), (1, 1))]


def _windows(shape, kernel, stride, padding):
    kh, kw, sh, sw, ph, pw = pool.PoolGeom(kernel, stride, padding)
    h, w = shape[2:]
    for p in range((h + 2 * ph - kh) // sh + 1):
        for q in range((w + 2 * pw - kw) // sw + 1):
            h0, w0 = p * sh - ph, q * sw - pw
            yield p, q, max(h0, 0), min(h0 + kh, h), max(w0, 0), min(w0 + kw, w), kh * kw


def _max_ref(x, dy, *geom):
    n, c, h, w = x.shape
    y, idx, dx = np.zeros(dy.shape, np.float32), np.zeros(dy.shape, np.int32), np.zeros_like(x)
    for p, q, h0, h1, w0, w1, _ in _windows(x.shape, *geom):
        win = x[:, :, h0:h1, w0:w1].reshape(n, c, -1)
        a = win.argmax(-1)
        y[:, :, p, q] = win.max(-1)
        idx[:, :, p, q] = (h0 + a // (w1 - w0)) * w + w0 + a % (w1 - w0)
        for i in range(n):
            for j in range(c):
                f = idx[i, j, p, q]
                dx[i, j, f // w, f % w] += dy[i, j, p, q]
    return y, idx, dx


def _avg_ref(x, dy, include_pad, *geom):
    y, dx = np.zeros(dy.shape, np.float32), np.zeros_like(x)
    for p, q, h0, h1, w0, w1, full in _windows(x.shape, *geom):
        count = full if include_pad else (h1 - h0) * (w1 - w0)
        y[:, :, p, q] = x[:, :, h0:h1, w0:w1].sum((2, 3)) / count
        dx[:, :, h0:h1, w0:w1] += dy[:, :, p : p + 1, q : q + 1] / count
    return y, dx


def _out_shape(shape, kernel, stride, padding):
    return shape[:2] + pool.PoolGeom(kernel, stride, padding).out_hw(*shape[2:])


@pytest.mark.parametrize("shape,kernel,stride,padding", CASES)
def test_max_pool(rng, shape, kernel, stride, padding):
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal(_out_shape(shape, kernel, stride, padding)).astype(np.float32)
    y_ref, idx_ref, dx_ref = _max_ref(x, dy, kernel, stride, padding)
    y, idx = pool.max_pool2d(dev(x), kernel, stride, padding)
    np.testing.assert_array_equal(host(y), y_ref)
    np.testing.assert_array_equal(host(idx), idx_ref)
    dx = pool.max_pool2d_backward(dev(dy), idx, shape, kernel, stride, padding)
    np.testing.assert_allclose(host(dx), dx_ref, atol=1e-6)


@pytest.mark.parametrize("include_pad", [True, False])
@pytest.mark.parametrize("shape,kernel,stride,padding", CASES)
def test_avg_pool(rng, shape, kernel, stride, padding, include_pad):
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal(_out_shape(shape, kernel, stride, padding)).astype(np.float32)
    y_ref, dx_ref = _avg_ref(x, dy, include_pad, kernel, stride, padding)
    y = pool.avg_pool2d(dev(x), kernel, stride, padding, include_pad)
    np.testing.assert_allclose(host(y), y_ref, rtol=1e-6, atol=1e-6)
    dx = pool.avg_pool2d_backward(dev(dy), shape, kernel, stride, padding, include_pad)
    np.testing.assert_allclose(host(dx), dx_ref, rtol=1e-6, atol=1e-6)


def test_nan_wins_max_pool():
    x = np.zeros((1, 1, 2, 2), np.float32)
    x[0, 0, 1, 0] = np.nan
    y, idx = pool.max_pool2d(dev(x), 2)
    assert np.isnan(host(y)).all() and host(idx).item() == 2


def test_padding_limit():
    with pytest.raises(ValueError, match="half"):
        pool.PoolGeom(2, 1, 2)
