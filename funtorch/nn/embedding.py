"""Embedding: a lookup table [num_embeddings, embedding_dim] indexed by integer ids."""

from __future__ import annotations

from . import functional as F
from . import init
from .module import Module

__all__ = ["Embedding"]


class Embedding(Module):
    """Rows start N(0, 1), as in PyTorch; the ``padding_idx`` row starts at zero and gets no
    gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None):
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within "
                                 f"num_embeddings ({num_embeddings})")
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx

    def reset_parameters(self, key):
        w = init.normal(key, (self.num_embeddings, self.embedding_dim))
        if self.padding_idx is not None:
            w = w.at[self.padding_idx].set(0.0)
        return {"weight": w}

    def __call__(self, params, x):
        return F.embedding(x, params["weight"], self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s
