"""batch_norm (running statistics returned, not mutated), layer_norm and rms_norm."""

from __future__ import annotations

import numpy as np

from ... import lax
from ... import numpy as fnp
from ._checks import _arr, _check_rank, _tuple


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over every axis but the channel axis 1.

    PyTorch's signature, but PyTorch updates the running statistics in place and funtorch
    cannot: this returns ``(output, new_running_mean, new_running_var)``. In training the
    batch statistics normalise and the running ones move towards them by ``momentum``
    (the variance unbiased, as in PyTorch); in evaluation the running ones normalise and come
    back unchanged. ``running_mean``/``running_var`` may be None (no tracking), which needs
    ``training=True``.
    """
    x = _arr(input)
    _check_rank("batch_norm", x, (2, 3, 4, 5), "[N,C], [N,C,L], [N,C,H,W] or [N,C,D,H,W]")
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    for arg, v in (("running_mean", running_mean), ("running_var", running_var),
                   ("weight", weight), ("bias", bias)):
        if v is not None and int(np.prod(np.shape(v))) != x.shape[1]:
            raise ValueError(f"funtorch.nn.functional.batch_norm: {arg} should contain "
                             f"{x.shape[1]} elements (one per channel of input "
                             f"{tuple(x.shape)}, channels along dim 1), got shape "
                             f"{tuple(np.shape(v))}")
    if training:
        n = x.size // x.shape[1]
        if n <= 1:
            raise ValueError(f"funtorch.nn.functional.batch_norm: expected more than 1 value "
                             f"per channel when training, got input of shape {tuple(x.shape)}")
        mean = fnp.mean(x, axis=axes)
        var = fnp.var(x, axis=axes)
        if running_mean is not None:
            m = momentum
            running_mean = (1 - m) * running_mean + m * lax.stop_gradient(mean)
            running_var = (1 - m) * running_var + m * lax.stop_gradient(var) * (n / (n - 1))
    elif running_mean is None or running_var is None:
        raise ValueError("funtorch.nn.functional.batch_norm: evaluation mode needs "
                         "running_mean and running_var (or pass training=True)")
    else:
        mean, var = running_mean, running_var
    y = (x - fnp.reshape(mean, shape)) * fnp.reshape(lax.rsqrt(var + eps), shape)
    if weight is not None:
        y = y * fnp.reshape(weight, shape)
    if bias is not None:
        y = y + fnp.reshape(bias, shape)
    return y, running_mean, running_var


def _norm_axes(name, x, normalized_shape, **affine):
    """The trailing axes ``normalized_shape`` names, checked against x and the affine
    tensors."""
    normalized_shape = _tuple(name, "normalized_shape", normalized_shape,
                              1 if isinstance(normalized_shape, int) else len(normalized_shape))
    n = len(normalized_shape)
    if tuple(x.shape[x.ndim - n:]) != normalized_shape or x.ndim < n:
        raise ValueError(f"funtorch.nn.functional.{name}: normalized_shape "
                         f"{normalized_shape} does not match the trailing dimensions of input "
                         f"shape {tuple(x.shape)}")
    for arg, v in affine.items():
        if v is not None and tuple(np.shape(v)) != normalized_shape:
            raise ValueError(f"funtorch.nn.functional.{name}: expected {arg} to have the "
                             f"shape of normalized_shape {normalized_shape}, got "
                             f"{tuple(np.shape(v))}")
    return tuple(range(x.ndim - n, x.ndim))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    x = _arr(input)
    axes = _norm_axes("layer_norm", x, normalized_shape, weight=weight, bias=bias)
    mean = fnp.mean(x, axis=axes, keepdims=True)
    var = fnp.var(x, axis=axes, keepdims=True)
    y = (x - mean) * lax.rsqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """``x * rsqrt(mean(x**2) + eps) * weight`` over the trailing dims; ``eps=None`` is the
    input dtype's machine epsilon (PyTorch's default)."""
    x = _arr(input)
    axes = _norm_axes("rms_norm", x, normalized_shape, weight=weight)
    if eps is None:
        eps = float(np.finfo(x.dtype).eps)
    y = x * lax.rsqrt(fnp.mean(x * x, axis=axes, keepdims=True) + eps)
    return y if weight is None else y * weight
