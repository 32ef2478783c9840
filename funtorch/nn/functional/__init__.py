"""PyTorch's ``torch.nn.functional`` as pure functions (NCHW/OIHW layouts, PyTorch semantics).

Every function is a composite of funtorch ops, so grad/vmap/jit need no rules of their own.
Where PyTorch mutates (``batch_norm``'s running statistics) the new values are returned;
where it draws random numbers (``dropout``) the caller passes an explicit ``key``.
One module per family, as PyTorch's docs group them; this package re-exports them.
"""

from __future__ import annotations

from ._checks import IndexOutOfBoundsError  # noqa: F401  (public, raised by several)
from .activation import gelu, leaky_relu, log_softmax, relu, sigmoid, silu, softmax, tanh
from .conv import conv1d, conv2d, conv_transpose2d
from .dense import flatten, linear
from .loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from .normalization import batch_norm, group_norm, layer_norm
from .pooling import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d
from .regularization import dropout, dropout2d
from .sparse import embedding, one_hot
from .vision import interpolate

__all__ = [
    "relu", "leaky_relu", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax",
    "one_hot", "linear", "conv1d", "conv2d", "max_pool2d", "avg_pool2d", "dropout",
    "batch_norm", "layer_norm", "embedding", "cross_entropy", "nll_loss", "mse_loss",
    "binary_cross_entropy_with_logits", "flatten",
    # PyTorch users' additions: losses, adaptive pooling, transposed conv, resampling
    "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy", "kl_div",
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "dropout2d", "conv_transpose2d",
    "group_norm", "interpolate",
]
