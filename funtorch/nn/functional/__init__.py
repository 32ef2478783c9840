"""PyTorch's ``torch.nn.functional`` as pure functions (NCHW/OIHW layouts, PyTorch semantics).

Every function is a composite of funtorch ops, so grad/vmap/jit need no rules of their own.
Where PyTorch mutates (``batch_norm``'s running statistics) the new values are returned;
where it draws random numbers (``dropout``) the caller passes an explicit ``key``.
One module per family, as PyTorch's docs group them; this package re-exports them.
"""

from __future__ import annotations

from ._checks import IndexOutOfBoundsError  # noqa: F401  (public, raised by several)
from .activation import gelu, leaky_relu, log_softmax, relu, sigmoid, silu, softmax, tanh
from .attention import multi_head_attention_forward, scaled_dot_product_attention
from .conv import conv1d, conv2d
from .dense import flatten, linear
from .loss import binary_cross_entropy_with_logits, cross_entropy, mse_loss, nll_loss
from .normalization import batch_norm, layer_norm, rms_norm
from .pooling import avg_pool2d, max_pool2d
from .regularization import dropout
from .sparse import embedding, one_hot

__all__ = [
    "relu", "leaky_relu", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax",
    "one_hot", "linear", "conv1d", "conv2d", "max_pool2d", "avg_pool2d", "dropout",
    "batch_norm", "layer_norm", "embedding", "cross_entropy", "nll_loss", "mse_loss",
    "binary_cross_entropy_with_logits", "flatten",
    # sequence models
    "scaled_dot_product_attention", "multi_head_attention_forward", "rms_norm",
]

# isort: split
# what PyTorch users reach for: more losses, adaptive pooling, transposed conv, resampling
from .conv import conv_transpose2d  # noqa: E402
from .groupnorm import group_norm  # noqa: E402
from .loss import (  # noqa: E402
    binary_cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    smooth_l1_loss,
)
from .pooling import adaptive_avg_pool2d, adaptive_max_pool2d  # noqa: E402
from .regularization import dropout2d  # noqa: E402
from .vision import interpolate  # noqa: E402

__all__ += [
    "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy", "kl_div",
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "dropout2d", "conv_transpose2d",
    "group_norm", "interpolate",
]
