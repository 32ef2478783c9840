"""BatchNorm1d/2d (running statistics in the state tree), LayerNorm and RMSNorm."""

from __future__ import annotations

from .. import numpy as fnp
from ..core import dtypes
from . import functional as F
from .functional._checks import _check_sizes
from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "RMSNorm"]


class _BatchNorm(Module):
    """Normalise each channel (axis 1) by batch statistics in training and by running
    statistics in evaluation.

    With ``track_running_stats`` (the default) the running statistics are state, not
    parameters: ``init_state()`` gives ``{'running_mean', 'running_var',
    'num_batches_tracked'}``, and the layer is called as
    ``out, new_state = bn(params, x, state=state, train=...)``. ``momentum=None`` gives
    PyTorch's cumulative average (factor 1/num_batches_tracked).
    """

    _ranks = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, *, bias=True):
        super().__init__()
        _check_sizes(type(self).__name__, 1, num_features=num_features)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.bias = bias
        self.track_running_stats = track_running_stats

    def reset_parameters(self, key):
        if not self.affine:
            return {}
        params = {"weight": fnp.ones((self.num_features,))}
        if self.bias:
            params["bias"] = fnp.zeros((self.num_features,))
        return params

    def reset_state(self):
        if not self.track_running_stats:
            return {}
        return {"running_mean": fnp.zeros((self.num_features,)),
                "running_var": fnp.ones((self.num_features,)),
                "num_batches_tracked": fnp.zeros((), dtypes.int64)}

    def __call__(self, params, x, *, train=False, state=None):
        name = type(self).__name__
        if x.ndim not in self._ranks:
            expected = " or ".join(f"{r}D" for r in self._ranks)
            raise ValueError(f"{name}: expected {expected} input (got {x.ndim}D input of shape "
                             f"{tuple(x.shape)})")
        params = params or {}
        w, b = params.get("weight"), params.get("bias")
        if not self.track_running_stats:
            if state is not None:
                raise TypeError(f"{name}(track_running_stats=False) has no state; call it "
                                "without state=")
            return F.batch_norm(x, None, None, w, b, True, 0.0, self.eps)[0]
        if state is None:
            raise TypeError(f"{name} keeps running statistics in a state tree: pass "
                            "state=model.init_state() and take (out, new_state) back")
        if not train:
            out, _, _ = F.batch_norm(x, state["running_mean"], state["running_var"], w, b,
                                     False, 0.0, self.eps)
            return out, state
        count = state["num_batches_tracked"] + 1
        factor = (1.0 / fnp.astype(count, x.dtype) if self.momentum is None
                  else self.momentum)
        out, mean, var = F.batch_norm(x, state["running_mean"], state["running_var"], w, b,
                                      True, factor, self.eps)
        return out, {"running_mean": mean, "running_var": var, "num_batches_tracked": count}

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.affine and self.bias}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Over [N, C] or [N, C, L]."""
    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Over [N, C, H, W]."""
    _ranks = (4,)


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` dims, with per-element affine."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self.bias = bias

    def reset_parameters(self, key):
        if not self.elementwise_affine:
            return {}
        params = {"weight": fnp.ones(self.normalized_shape)}
        if self.bias:
            params["bias"] = fnp.zeros(self.normalized_shape)
        return params

    def __call__(self, params, x):
        params = params or {}
        return F.layer_norm(x, self.normalized_shape, params.get("weight"), params.get("bias"),
                            self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, "
                f"bias={self.elementwise_affine and self.bias}")


class RMSNorm(Module):
    """``x / sqrt(mean(x**2) + eps) * weight`` over the trailing ``normalized_shape`` dims;
    ``eps=None`` is the input dtype's machine epsilon, as in PyTorch."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine

    def reset_parameters(self, key):
        return {"weight": fnp.ones(self.normalized_shape)} if self.elementwise_affine else {}

    def __call__(self, params, x):
        return F.rms_norm(x, self.normalized_shape, (params or {}).get("weight"), self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
