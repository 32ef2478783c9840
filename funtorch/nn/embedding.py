"""Embedding: a lookup table [num_embeddings, embedding_dim] indexed by integer ids."""

from __future__ import annotations

from . import functional as F
from . import init
from .functional._checks import _check_sizes
from .functional.sparse import _check_dense
from .module import Module

__all__ = ["Embedding"]


class Embedding(Module):
    """Rows start N(0, 1), as in PyTorch; the ``padding_idx`` row starts at zero and gets no
    gradient. ``max_norm`` renormalises the looked-up rows in the output only (see
    ``F.embedding``: PyTorch's in-place update of the weight has no functional
    counterpart)."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False):
        super().__init__()
        _check_sizes("Embedding", 0, num_embeddings=num_embeddings,
                     embedding_dim=embedding_dim)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within "
                                 f"num_embeddings ({num_embeddings})")
            padding_idx %= num_embeddings
        _check_dense("Embedding", sparse)
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse

    def reset_parameters(self, key):
        w = init.normal(key, (self.num_embeddings, self.embedding_dim))
        if self.padding_idx is not None:
            w = w.at[self.padding_idx].set(0.0)
        return {"weight": w}

    def __call__(self, params, x):
        return F.embedding(x, self._param(params, "weight"), self.padding_idx, self.max_norm,
                           self.norm_type, self.scale_grad_by_freq)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        return s
