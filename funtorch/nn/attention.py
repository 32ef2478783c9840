"""MultiheadAttention: PyTorch's layer, its packed ``in_proj_weight`` [3E, E] layout and
initialisation."""

from __future__ import annotations

from .. import numpy as fnp
from .. import random
from . import functional as F
from . import init
from .functional._checks import _check_sizes
from .linear import Linear
from .module import Module

__all__ = ["MultiheadAttention"]


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear under PyTorch's name for ``out_proj`` (so reprs match torch's)."""


class MultiheadAttention(Module):
    """Multi-head attention, ``attn_output, attn_weights = mha(params, query, key, value,
    key_padding_mask=None, need_weights=True, attn_mask=None, average_attn_weights=True,
    is_causal=False, *, dropout_key=None, train=False)``.

    Inputs are ``[L, N, E]`` (``[N, L, E]`` with ``batch_first``) or unbatched ``[L, E]``.
    Boolean masks are True where attention is *not* allowed (PyTorch's convention here);
    float masks are added to the scores. Parameters: ``in_proj_weight`` [3E, E] (or
    ``q_proj_weight``/``k_proj_weight``/``v_proj_weight`` when ``kdim``/``vdim`` differ from
    E), ``in_proj_bias`` [3E], ``bias_k``/``bias_v`` [1, 1, E] with ``add_bias_kv``, and
    ``out_proj`` (a Linear). Attention dropout in training draws from ``dropout_key`` (the
    keyword ``key`` is the key tensor).
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False):
        super().__init__()
        _check_sizes("MultiheadAttention", 1, embed_dim=embed_dim, num_heads=num_heads)
        if embed_dim % num_heads:
            raise ValueError(f"funtorch.nn.MultiheadAttention: embed_dim ({embed_dim}) must be "
                             f"divisible by num_heads ({num_heads})")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        self.bias = bias
        self.add_bias_kv = add_bias_kv
        self.add_zero_attn = add_zero_attn
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias)

    def reset_parameters(self, key):
        """xavier_uniform projections, zero biases, xavier_normal bias_k/bias_v (PyTorch)."""
        E = self.embed_dim
        kq, kk, kv, kbk, kbv = random.split(key, 5)
        params = {}
        if self._qkv_same_embed_dim:
            params["in_proj_weight"] = init.xavier_uniform(kq, (3 * E, E))
        else:
            params["q_proj_weight"] = init.xavier_uniform(kq, (E, E))
            params["k_proj_weight"] = init.xavier_uniform(kk, (E, self.kdim))
            params["v_proj_weight"] = init.xavier_uniform(kv, (E, self.vdim))
        if self.bias:
            params["in_proj_bias"] = fnp.zeros((3 * E,))
        if self.add_bias_kv:
            params["bias_k"] = init.xavier_normal(kbk, (1, 1, E))
            params["bias_v"] = init.xavier_normal(kbv, (1, 1, E))
        return params

    def init(self, key):
        params = super().init(key)
        if self.bias:
            params["out_proj"]["bias"] = fnp.zeros((self.embed_dim,))
        return params

    def __call__(self, params, query, key, value, key_padding_mask=None, need_weights=True,
                 attn_mask=None, average_attn_weights=True, is_causal=False, *,
                 dropout_key=None, train=False):
        out_proj = self._param(params, "out_proj")
        out, w = F.multi_head_attention_forward(
            query, key, value, self.num_heads, params.get("in_proj_weight"),
            params.get("in_proj_bias"), params.get("bias_k"), params.get("bias_v"),
            self.add_zero_attn, self.dropout, out_proj["weight"], out_proj.get("bias"),
            training=train, key_padding_mask=key_padding_mask, need_weights=need_weights,
            attn_mask=attn_mask, q_proj_weight=params.get("q_proj_weight"),
            k_proj_weight=params.get("k_proj_weight"), v_proj_weight=params.get("v_proj_weight"),
            average_attn_weights=average_attn_weights, is_causal=is_causal,
            dropout_key=dropout_key, batch_first=self.batch_first)
        return out, w
