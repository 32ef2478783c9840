"""Transformer layers with PyTorch's structure, names and defaults: TransformerEncoderLayer,
TransformerEncoder, TransformerDecoderLayer, TransformerDecoder and Transformer
(``dim_feedforward=2048``, ``dropout=0.1``, relu, post-norm, ``batch_first=False``).

Masks follow ``nn.MultiheadAttention``: boolean True (or -inf) means *not allowed*.
``is_causal=True`` with no mask applies the causal mask (PyTorch treats it as a hint about
the mask given). Dropout in training needs ``key``: each layer splits it for its dropouts.
"""

from __future__ import annotations

import copy

import numpy as np

from .. import numpy as fnp
from .. import random
from .. import tree as tree_util
from . import functional as F
from . import init
from .attention import MultiheadAttention
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm

__all__ = ["TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer",
           "TransformerDecoder", "Transformer", "generate_square_subsequent_mask"]


def generate_square_subsequent_mask(sz, dtype=np.float32):
    """[sz, sz] float mask: 0 on and below the diagonal, -inf above (PyTorch's)."""
    return fnp.where(fnp.arange(sz)[None, :] <= fnp.arange(sz)[:, None],
                     fnp.zeros((), dtype), fnp.full((), -np.inf, dtype))


def _activation(activation):
    if isinstance(activation, str):
        if activation == "relu":
            return F.relu
        if activation == "gelu":
            return F.gelu
        raise ValueError(f"funtorch.nn.Transformer: activation should be relu/gelu, not "
                         f"{activation!r}")
    if not callable(activation):
        raise TypeError(f"funtorch.nn.Transformer: activation must be 'relu', 'gelu' or a "
                        f"callable, got {activation!r}")
    return activation


def _keys(key, n, active):
    """n keys for the dropouts of a layer, or Nones when no dropout runs."""
    if not active:
        return [None] * n
    if key is None:
        raise ValueError("funtorch.nn.Transformer: dropout in training needs a random key: "
                         "pass key= (split it per step), or train=False")
    return list(random.split(key, n))


class _Layer(Module):
    """What the encoder and decoder layers share: the feed-forward block, dropouts, norms."""

    def _setup(self, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
               batch_first, norm_first, bias, n_norms):
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = norm_first
        for i in range(1, n_norms + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        for i in range(1, n_norms + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.activation = _activation(activation)
        self.batch_first = batch_first

    def _act(self, x):
        a = self.activation
        return a({}, x) if isinstance(a, Module) else a(x)

    def _drop(self, x, p, key):
        return x if key is None else F.dropout(x, p, True, key=key)

    def _attn(self, mod, params, x, mem, mask, kpm, is_causal, key):
        out, _ = mod(params, x, mem, mem, key_padding_mask=kpm, need_weights=False,
                     attn_mask=mask, is_causal=is_causal and mask is None,
                     dropout_key=key, train=key is not None)
        return out

    def _ff(self, params, x, k_mid, k_out):
        p = self.dropout.p
        h = self._drop(self._act(self.linear1(params["linear1"], x)), p, k_mid)
        return self._drop(self.linear2(params["linear2"], h), p, k_out)

    def _norm(self, i, params, x):
        return getattr(self, f"norm{i}")(params.get(f"norm{i}", {}), x)


class TransformerEncoderLayer(_Layer):
    """Self-attention then feed-forward, each with a residual; post-norm by default.

    ``y = layer(params, src, src_mask=None, src_key_padding_mask=None, is_causal=False, *,
    key=None, train=False)``."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first)
        self._setup(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                    batch_first, norm_first, bias, 2)

    def __call__(self, params, src, src_mask=None, src_key_padding_mask=None, is_causal=False,
                 *, key=None, train=False):
        p = self.dropout.p
        k_att, k_mid, k1, k2 = _keys(key, 4, train and p > 0)

        def sa(x):
            x = self._attn(self.self_attn, params["self_attn"], x, x, src_mask,
                           src_key_padding_mask, is_causal, k_att)
            return self._drop(x, p, k1)

        return self._blocks(params, fnp.asarray(src), sa, k_mid, k2)

    def _blocks(self, params, x, sa, k_mid=None, k2=None):
        """The residual structure around a self-attention ``sa`` (also used by the cached
        decoding step in ``nn.generation``)."""
        if self.norm_first:
            x = x + sa(self._norm(1, params, x))
            x = x + self._ff(params, self._norm(2, params, x), k_mid, k2)
        else:
            x = self._norm(1, params, x + sa(x))
            x = self._norm(2, params, x + self._ff(params, x, k_mid, k2))
        return x


class TransformerDecoderLayer(_Layer):
    """Self-attention, cross-attention over ``memory``, then feed-forward.

    ``y = layer(params, tgt, memory, tgt_mask=None, memory_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, tgt_is_causal=False,
    memory_is_causal=False, *, key=None, train=False)``."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first)
        self._setup(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                    batch_first, norm_first, bias, 3)

    def __call__(self, params, tgt, memory, tgt_mask=None, memory_mask=None,
                 tgt_key_padding_mask=None, memory_key_padding_mask=None, tgt_is_causal=False,
                 memory_is_causal=False, *, key=None, train=False):
        p = self.dropout.p
        k_sa, k_mha, k_mid, k1, k2, k3 = _keys(key, 6, train and p > 0)
        memory = fnp.asarray(memory)

        def sa(x):
            x = self._attn(self.self_attn, params["self_attn"], x, x, tgt_mask,
                           tgt_key_padding_mask, tgt_is_causal, k_sa)
            return self._drop(x, p, k1)

        def mha(x):
            x = self._attn(self.multihead_attn, params["multihead_attn"], x, memory,
                           memory_mask, memory_key_padding_mask, memory_is_causal, k_mha)
            return self._drop(x, p, k2)

        x = fnp.asarray(tgt)
        if self.norm_first:
            x = x + sa(self._norm(1, params, x))
            x = x + mha(self._norm(2, params, x))
            x = x + self._ff(params, self._norm(3, params, x), k_mid, k3)
        else:
            x = self._norm(1, params, x + sa(x))
            x = self._norm(2, params, x + mha(x))
            x = self._norm(3, params, x + self._ff(params, x, k_mid, k3))
        return x


class _Stack(Module):
    def __init__(self, layer, num_layers, norm):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def _run(self, params, x, call, key):
        keys = list(random.split(key, self.num_layers)) if key is not None else \
            [None] * self.num_layers
        for layer, p, k in zip(self.layers, self.layers.params(params.get("layers")), keys):
            x = call(layer, p, x, k)
        if self.norm is not None:
            x = self.norm(params.get("norm", {}), x)
        return x


class TransformerEncoder(_Stack):
    """``num_layers`` copies of ``encoder_layer`` (own parameters each), then ``norm``.

    ``y = encoder(params, src, mask=None, src_key_padding_mask=None, is_causal=None, *,
    key=None, train=False)``. Outputs at padded positions are computed like any other;
    PyTorch's nested-tensor fast path (eval mode, ``enable_nested_tensor``) returns zeros
    there instead, so compare the unpadded positions (the flag is accepted and ignored)."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
                 mask_check=True):
        super().__init__(encoder_layer, num_layers, norm)
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def __call__(self, params, src, mask=None, src_key_padding_mask=None, is_causal=None, *,
                 key=None, train=False):
        def call(layer, p, x, k):
            return layer(p, x, mask, src_key_padding_mask, bool(is_causal), key=k, train=train)
        return self._run(params, fnp.asarray(src), call, key)


class TransformerDecoder(_Stack):
    """``num_layers`` copies of ``decoder_layer`` (own parameters each), then ``norm``.

    ``y = decoder(params, tgt, memory, tgt_mask=None, memory_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, tgt_is_causal=None,
    memory_is_causal=False, *, key=None, train=False)``."""

    def __call__(self, params, tgt, memory, tgt_mask=None, memory_mask=None,
                 tgt_key_padding_mask=None, memory_key_padding_mask=None, tgt_is_causal=None,
                 memory_is_causal=False, *, key=None, train=False):
        def call(layer, p, x, k):
            return layer(p, x, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                         memory_key_padding_mask, bool(tgt_is_causal), memory_is_causal,
                         key=k, train=train)
        return self._run(params, fnp.asarray(tgt), call, key)


class Transformer(Module):
    """Encoder-decoder Transformer with PyTorch's defaults (d_model 512, 8 heads, 6 + 6
    layers, feed-forward 2048, dropout 0.1, relu, post-norm, final LayerNorms) and its
    initialisation: every parameter with more than one dimension xavier_uniform.

    ``out = model(params, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False, *, key=None,
    train=False)``."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                 dim_feedforward=2048, dropout=0.1, activation="relu", custom_encoder=None,
                 custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False,
                 bias=True):
        super().__init__()
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout,
                                            activation, layer_norm_eps, batch_first,
                                            norm_first, bias)
            self.encoder = TransformerEncoder(layer, num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout,
                                            activation, layer_norm_eps, batch_first,
                                            norm_first, bias)
            self.decoder = TransformerDecoder(layer, num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def init(self, key):
        k_tree, k_xavier = random.split(key)
        params = super().init(k_tree)
        leaves, treedef = tree_util.flatten(params)
        keys = random.split(k_xavier, len(leaves))
        leaves = [init.xavier_uniform(k, p.shape) if p.ndim > 1 else p
                  for k, p in zip(keys, leaves)]
        return tree_util.unflatten(treedef, leaves)

    @staticmethod
    def generate_square_subsequent_mask(sz, dtype=np.float32):
        return generate_square_subsequent_mask(sz, dtype)

    def __call__(self, params, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                 src_key_padding_mask=None, tgt_key_padding_mask=None,
                 memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                 memory_is_causal=False, *, key=None, train=False):
        src, tgt = fnp.asarray(src), fnp.asarray(tgt)
        b = 0 if self.batch_first else 1
        if src.ndim == 3 and src.shape[b] != tgt.shape[b]:
            raise ValueError("funtorch.nn.Transformer: the batch number of src and tgt must be "
                             f"equal, got src {tuple(src.shape)} and tgt {tuple(tgt.shape)}")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ValueError("funtorch.nn.Transformer: the feature number of src and tgt must "
                             f"be equal to d_model ({self.d_model}), got src "
                             f"{tuple(src.shape)} and tgt {tuple(tgt.shape)}")
        k_enc, k_dec = random.split(key) if key is not None else (None, None)
        memory = self.encoder(params["encoder"], src, src_mask, src_key_padding_mask,
                              src_is_causal, key=k_enc, train=train)
        return self.decoder(params["decoder"], tgt, memory, tgt_mask, memory_mask,
                            tgt_key_padding_mask, memory_key_padding_mask, tgt_is_causal,
                            memory_is_causal, key=k_dec, train=train)
