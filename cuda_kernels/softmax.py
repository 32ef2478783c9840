"""Row softmax / log-softmax, their gradients, and fused softmax-cross-entropy.

One block owns a row of the trailing axis. The forward pass keeps an online (max, sum of
exp) pair per thread, merges the pairs across the block, then writes the row: one read for
the statistics and one read+write for the output. Cross-entropy produces the per-row loss and
the logits gradient ``(softmax - onehot) * scale`` in the same launch, so the probabilities
never touch memory.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda, float32, types

from . import _block, _dtypes
from ._common import SIMULATOR, alloc, as_device, blocks_for, device_fn, jit_kernel

THREADS = 16 if SIMULATOR else 128  # per row


def _arr(dtype, ndim=2):
    return types.Array(_dtypes.storage_type(dtype), ndim, "C")


def _row_stats(threads, to32):
    """Device function: (max, sum exp(x - max)) of row ``row`` of ``X``, in every thread."""
    reduce = _block.block_reducer(_block.combine_logsumexp, threads, float32)

    def stats(X, row):
        m, s = float32(-math.inf), float32(0)
        c = cuda.threadIdx.x
        while c < X.shape[1]:
            m, s = _block.combine_logsumexp(m, s, to32(X[row, c]), float32(1))
            c += threads
        return reduce(m, s)

    return device_fn(stats)


def build_forward(dtype, log: bool, threads=THREADS):
    to32, cvt = _dtypes.to_f32(dtype), _dtypes.from_f32(dtype)
    stats = _row_stats(threads, to32)

    def softmax(X, Y):
        row = cuda.blockIdx.x
        while row < X.shape[0]:
            m, s = stats(X, row)
            log_s = math.log(s)
            c = cuda.threadIdx.x
            while c < X.shape[1]:
                z = to32(X[row, c]) - m
                Y[row, c] = cvt(z - log_s if log else math.exp(z) / s)
                c += threads
            row += cuda.gridDim.x

    return softmax, types.void(_arr(dtype), _arr(dtype))


def build_backward(dtype, log: bool, threads=THREADS):
    """softmax: dx = y * (dy - sum(dy * y)); log-softmax: dx = dy - exp(y) * sum(dy)."""
    to32, cvt = _dtypes.to_f32(dtype), _dtypes.from_f32(dtype)
    reduce = _block.block_reducer(_block.combine_sum, threads, float32)

    def softmax_backward(Y, DY, DX):
        row = cuda.blockIdx.x
        while row < Y.shape[0]:
            acc = float32(0)
            c = cuda.threadIdx.x
            while c < Y.shape[1]:
                acc += to32(DY[row, c]) if log else to32(DY[row, c]) * to32(Y[row, c])
                c += threads
            total, _ = reduce(acc, float32(0))
            c = cuda.threadIdx.x
            while c < Y.shape[1]:
                y, dy = to32(Y[row, c]), to32(DY[row, c])
                DX[row, c] = cvt(dy - math.exp(y) * total if log else y * (dy - total))
                c += threads
            row += cuda.gridDim.x

    return softmax_backward, types.void(_arr(dtype), _arr(dtype), _arr(dtype))


def build_cross_entropy(dtype, label_dtype, threads=THREADS):
    """loss[r] = logsumexp(x[r]) - x[r, label[r]]; grad[r] = (softmax(x[r]) - onehot) * scale.

    Labels outside [0, C) (e.g. PyTorch's ignore_index=-100) give zero loss and gradient.
    """
    to32, cvt = _dtypes.to_f32(dtype), _dtypes.from_f32(dtype)
    stats = _row_stats(threads, to32)

    def cross_entropy(X, labels, loss, grad, scale):
        row = cuda.blockIdx.x
        while row < X.shape[0]:
            m, s = stats(X, row)
            lse = m + math.log(s)
            label = labels[row]
            valid = 0 <= label < X.shape[1]
            if cuda.threadIdx.x == 0:
                loss[row] = lse - to32(X[row, label]) if valid else float32(0)
            c = cuda.threadIdx.x
            while c < X.shape[1]:
                g = float32(0)
                if valid:
                    g = math.exp(to32(X[row, c]) - lse) - (float32(1) if c == label else float32(0))
                grad[row, c] = cvt(g * scale)
                c += threads
            row += cuda.gridDim.x

    sig = types.void(
        _arr(dtype),
        types.Array(_dtypes.storage_type(label_dtype), 1, "C"),
        types.Array(float32, 1, "C"),
        _arr(dtype),
        float32,
    )
    return cross_entropy, sig


@functools.cache
def _kernel(kind, *key):
    builder = {
        "forward": build_forward,
        "backward": build_backward,
        "cross_entropy": build_cross_entropy,
    }[kind]
    return jit_kernel(*builder(*key), threads=THREADS)


def _rows(x):
    x = as_device(x)
    _dtypes.check_float(x.dtype)
    c = tuple(x.shape)[-1]
    return x, x.size // max(c, 1), c


def _launch(kernel, rows, stream, *args):
    kernel[blocks_for(rows, 1), THREADS, stream](*args)


def softmax(x, out=None, log=False, stream=0, pool=None):
    """Softmax (or log-softmax) over the last axis."""
    x, rows, c = _rows(x)
    if out is None:
        out = alloc(x.shape, x.dtype, pool)
    if rows and c:
        kern = _kernel("forward", np.dtype(x.dtype), bool(log))
        _launch(
            kern,
            rows,
            stream,
            _dtypes.raw(x).reshape(rows, c),
            _dtypes.raw(as_device(out)).reshape(rows, c),
        )
    return out


def log_softmax(x, out=None, stream=0, pool=None):
    return softmax(x, out, True, stream, pool)


def softmax_backward(y, dy, out=None, log=False, stream=0, pool=None):
    """Input gradient from the forward output ``y`` and its cotangent ``dy``."""
    y, rows, c = _rows(y)
    dy = as_device(dy)
    if out is None:
        out = alloc(y.shape, y.dtype, pool)
    if rows and c:
        kern = _kernel("backward", np.dtype(y.dtype), bool(log))
        _launch(
            kern, rows, stream, *(_dtypes.raw(as_device(a)).reshape(rows, c) for a in (y, dy, out))
        )
    return out


def softmax_cross_entropy(
    logits, labels, loss=None, grad=None, grad_scale=1.0, stream=0, pool=None
):
    """Per-row loss (float32) and ``grad = d(sum(loss) * grad_scale) / d logits``.

    For PyTorch's ``reduction="mean"`` pass ``grad_scale = 1 / number_of_valid_rows`` and take
    the mean of ``loss`` over valid rows. Returns ``(loss, grad)``.
    """
    logits, rows, c = _rows(logits)
    labels = as_device(labels)
    if labels.size != rows:
        raise ValueError(f"{labels.size} labels for {rows} rows")
    if np.dtype(labels.dtype) not in (np.dtype(np.int32), np.dtype(np.int64)):
        raise TypeError("labels must be int32 or int64")
    if loss is None:
        loss = alloc(tuple(logits.shape)[:-1], np.float32, pool)
    if grad is None:
        grad = alloc(logits.shape, logits.dtype, pool)
    if rows and c:
        kern = _kernel("cross_entropy", np.dtype(logits.dtype), np.dtype(labels.dtype))
        _launch(
            kern,
            rows,
            stream,
            _dtypes.raw(logits).reshape(rows, c),
            labels.reshape(rows),
            as_device(loss).reshape(rows),
            _dtypes.raw(as_device(grad)).reshape(rows, c),
            np.float32(grad_scale),
        )
    return loss, grad
