"""Attention: scaled_dot_product_attention and multi_head_attention_forward, PyTorch's
semantics (masks, causal hint, scale, dropout with an explicit key).

Mask conventions differ between the two, as in PyTorch: in ``scaled_dot_product_attention``
a boolean ``attn_mask`` is True where attention is *allowed*; in multi-head attention a
boolean ``attn_mask``/``key_padding_mask`` is True where it is *not* allowed. Float masks
are added to the scores in both.
"""

from __future__ import annotations

import math

import numpy as np

from ... import lax
from ... import numpy as fnp
from ...core import dtypes
from .activation import softmax
from .dense import linear
from .regularization import dropout as _dropout


def _causal(L, S):
    """[L, S] booleans, True on and below the diagonal (``ones(L, S).tril()``)."""
    return fnp.arange(S)[None, :] <= fnp.arange(L)[:, None]


def _safe_softmax(scores):
    """softmax over the last axis, 0 (not NaN) on rows where every score is -inf: what
    PyTorch's scaled_dot_product_attention gives for fully masked rows."""
    m = lax.stop_gradient(fnp.max(scores, axis=-1, keepdims=True))
    dead = m == -np.inf
    e = fnp.exp(scores - fnp.where(dead, fnp.zeros_like(m), m))
    s = fnp.sum(e, axis=-1, keepdims=True)
    return fnp.where(dead, fnp.zeros_like(e), e / fnp.where(dead, fnp.ones_like(s), s))


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False, *,
                                 dropout_key=None):
    """softmax(q @ k^T * scale + bias) @ v over ``[..., L, E]`` queries and ``[..., S, E]``
    keys/values (``[..., S, Ev]``).

    ``attn_mask``: boolean (True = may attend) or float (added), broadcasting to
    ``[..., L, S]``; ``is_causal`` masks keys after each query (``tril``); ``scale`` defaults
    to ``1/sqrt(E)``; ``enable_gqa`` repeats key/value heads (dim -3) to the query's count.
    ``dropout_p > 0`` drops attention weights, always (as PyTorch does; pass 0 in
    evaluation), using ``dropout_key`` (the keyword ``key`` is the key tensor here). Rows
    with every key masked give 0, as PyTorch's implementation does.
    """
    name = "funtorch.nn.functional.scaled_dot_product_attention"
    q, k, v = fnp.asarray(query), fnp.asarray(key), fnp.asarray(value)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2 or q.shape[-1] != k.shape[-1] or \
            k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{name}: expected query [..., L, E], key [..., S, E] and value "
                         f"[..., S, Ev], got {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)}")
    if enable_gqa and k.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        if q.shape[-3] % k.shape[-3]:
            raise ValueError(f"{name}: with enable_gqa the query heads ({q.shape[-3]}) must be "
                             f"a multiple of the key/value heads ({k.shape[-3]})")
        rep = q.shape[-3] // k.shape[-3]
        k = fnp.repeat(k, rep, axis=-3)
        v = fnp.repeat(v, rep, axis=-3)
    L, S = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    if attn_mask is None and dropout_p == 0.0:
        fused = _fused(q, k, v, scale, is_causal)
        if fused is not None:
            return fused
    scores = fnp.matmul(q, fnp.swapaxes(k, -1, -2)) * scale
    neg_inf = fnp.full((), -np.inf, scores.dtype)
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{name}: pass attn_mask or is_causal=True, not both")
        scores = fnp.where(_causal(L, S), scores, neg_inf)
    if attn_mask is not None:
        mask = fnp.asarray(attn_mask)
        if mask.dtype == dtypes.bool_:
            scores = fnp.where(mask, scores, neg_inf)
        else:
            scores = scores + mask
    w = _safe_softmax(scores)
    if dropout_p > 0.0:
        if dropout_key is None:
            raise ValueError(f"{name}: dropout_p={dropout_p} needs a random key: pass "
                             "dropout_key=ft.random.key(seed), or dropout_p=0.0 in evaluation")
        w = _dropout(w, dropout_p, True, key=dropout_key)
    return fnp.matmul(w, v)


def _fused(q, k, v, scale, is_causal):
    """``lax.dot_product_attention`` over the leading dims flattened, where it applies (no
    mask but the causal one, float operands of one dtype and leading shape); else None."""
    if not (q.dtype == k.dtype == v.dtype and dtypes.is_float(q.dtype)
            and q.shape[:-2] == k.shape[:-2] == v.shape[:-2]
            and q.shape[-2] > 0 and k.shape[-2] > 0):
        return None
    lead = q.shape[:-2]
    flat = [fnp.reshape(t, (-1, t.shape[-2], 1, t.shape[-1])) for t in (q, k, v)]
    out, _ = lax.dot_product_attention(*flat, scale, is_causal)
    return fnp.reshape(out, (*lead, out.shape[1], out.shape[3]))


def _fused_mha(q, k, v, num_heads, w, b, out_proj_weight, out_proj_bias, is_causal,
               batch_first):
    """Multi-head attention with no mask but the causal one, no dropout, no weights
    returned: the projections in the inputs' layout, their heads a free reshape into
    ``lax.dot_product_attention``'s ``[N, L, H, hd]`` (a strided view when time-major)."""
    def heads(t):
        t = fnp.reshape(t, (*t.shape[:2], num_heads, t.shape[2] // num_heads))
        return t if batch_first else fnp.swapaxes(t, 0, 1)

    q, k, v = (heads(linear(t, wt, bt)) for t, wt, bt in zip((q, k, v), w, b))
    out, _ = lax.dot_product_attention(q, k, v, 1.0 / math.sqrt(q.shape[-1]), is_causal)
    out = fnp.reshape(out, (*out.shape[:2], -1))
    out = out if batch_first else fnp.swapaxes(out, 0, 1)
    return linear(out, out_proj_weight, out_proj_bias)


def _in_projections(in_proj_weight, in_proj_bias, q_proj_weight, k_proj_weight,
                    v_proj_weight):
    """The (q, k, v) weights and biases: the packed [3E, E] split, or the separate ones."""
    if in_proj_weight is not None:
        w = fnp.split(fnp.asarray(in_proj_weight), 3, axis=0)
    else:
        w = (q_proj_weight, k_proj_weight, v_proj_weight)
    b = (None, None, None)
    if in_proj_bias is not None:
        b = fnp.split(fnp.asarray(in_proj_bias), 3, axis=0)
    return w, b


def _float_mask(name, mask, dtype):
    """PyTorch's ``_canonical_mask``: a boolean mask becomes 0 / -inf (True = -inf)."""
    if mask is None:
        return None
    mask = fnp.asarray(mask)
    if mask.dtype == dtypes.bool_:
        return fnp.where(mask, fnp.full((), -np.inf, dtype), fnp.zeros((), dtype))
    if not dtypes.is_float(mask.dtype):
        raise TypeError(f"funtorch.nn.functional.multi_head_attention_forward: only bool and "
                        f"floating types of {name} are supported, got {mask.dtype}")
    return fnp.astype(mask, dtype)


def multi_head_attention_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight,
                                 out_proj_bias, training=True, key_padding_mask=None,
                                 need_weights=True, attn_mask=None, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None,
                                 average_attn_weights=True, is_causal=False, *,
                                 dropout_key=None, batch_first=False):
    """PyTorch's ``F.multi_head_attention_forward`` on time-major ``[L, N, E]`` (or unbatched
    ``[L, E]``) inputs; returns ``(attn_output, attn_weights or None)``.

    ``in_proj_weight`` is the packed ``[3E, E]`` (or pass ``q/k/v_proj_weight`` with
    ``in_proj_weight=None`` for kdim/vdim != E). Boolean masks are True where attention is
    not allowed; ``attn_mask`` is ``[L, S]`` or ``[N * num_heads, L, S]``,
    ``key_padding_mask`` ``[N, S]``. ``is_causal`` with no ``attn_mask`` applies the causal
    mask. Dropout on the weights needs ``training`` and ``dropout_key``. ``batch_first``
    (funtorch's; what ``nn.MultiheadAttention(batch_first=True)`` passes): batched inputs
    and output are ``[N, L, E]``.
    """
    q, k, v = fnp.asarray(query), fnp.asarray(key), fnp.asarray(value)
    batch, seq = (0, 1) if batch_first else (1, 0)
    if (attn_mask is None and key_padding_mask is None and bias_k is None
            and not add_zero_attn and not need_weights and (dropout_p == 0.0 or not training)
            and q.ndim == k.ndim == v.ndim == 3 and k.shape[:2] == v.shape[:2]
            and k.shape[batch] == q.shape[batch] and q.shape[seq] > 0 and k.shape[seq] > 0
            and q.shape[2] % num_heads == 0
            and q.dtype == k.dtype == v.dtype and dtypes.is_float(q.dtype)):
        w, b = _in_projections(in_proj_weight, in_proj_bias, q_proj_weight, k_proj_weight,
                               v_proj_weight)
        return _fused_mha(q, k, v, num_heads, w, b, out_proj_weight, out_proj_bias,
                          is_causal, batch_first), None
    if batch_first and q.ndim == 3:
        q, k, v = (fnp.swapaxes(t, 0, 1) for t in (q, k, v))
        out, w = multi_head_attention_forward(
            q, k, v, num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
            dropout_p, out_proj_weight, out_proj_bias, training, key_padding_mask,
            need_weights, attn_mask, q_proj_weight, k_proj_weight, v_proj_weight,
            average_attn_weights, is_causal, dropout_key=dropout_key)
        return fnp.swapaxes(out, 0, 1), w
    name = "funtorch.nn.functional.multi_head_attention_forward"
    batched = q.ndim == 3
    if q.ndim not in (2, 3) or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ValueError(f"{name}: expected query, key and value all [L, N, E] (or all "
                         f"unbatched [L, E]), got {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)}")
    if not batched:
        q, k, v = q[:, None], k[:, None], v[:, None]
        if key_padding_mask is not None:
            key_padding_mask = fnp.asarray(key_padding_mask)[None]
    L, N, E = q.shape
    S = k.shape[0]
    if E % num_heads:
        raise ValueError(f"{name}: embed_dim {E} not divisible by num_heads {num_heads}")
    if k.shape[:2] != v.shape[:2] or k.shape[1] != N:
        raise ValueError(f"{name}: key {tuple(k.shape)} and value {tuple(v.shape)} must share "
                         f"their first two dims, and the batch of query {tuple(q.shape)}")
    hd = E // num_heads
    dtype = q.dtype
    key_padding_mask = _float_mask("key_padding_mask", key_padding_mask, dtype)
    if is_causal and attn_mask is None:
        attn_mask = ~_causal(L, S)
    attn_mask = _float_mask("attn_mask", attn_mask, dtype)

    # input projections
    (w_q, w_k, w_v), (b_q, b_k, b_v) = _in_projections(
        in_proj_weight, in_proj_bias, q_proj_weight, k_proj_weight, v_proj_weight)
    q = linear(q, w_q, b_q)
    k = linear(k, w_k, b_k)
    v = linear(v, w_v, b_v)

    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (L, S):
                raise ValueError(f"{name}: the shape of the 2D attn_mask is "
                                 f"{tuple(attn_mask.shape)}, but should be {(L, S)}")
            attn_mask = attn_mask[None]
        elif tuple(attn_mask.shape) != (N * num_heads, L, S):
            raise ValueError(f"{name}: the shape of the 3D attn_mask is "
                             f"{tuple(attn_mask.shape)}, but should be "
                             f"{(N * num_heads, L, S)}")
    if key_padding_mask is not None and tuple(key_padding_mask.shape) != (N, S):
        raise ValueError(f"{name}: expected key_padding_mask of shape {(N, S)}, got "
                         f"{tuple(key_padding_mask.shape)}")

    def pad_masks(attn_mask, key_padding_mask):
        pad = lambda m: None if m is None else fnp.pad(m, [(0, 0)] * (m.ndim - 1) + [(0, 1)])
        return pad(attn_mask), pad(key_padding_mask)

    if bias_k is not None:
        k = fnp.concatenate([k, fnp.broadcast_to(fnp.asarray(bias_k), (1, N, E))], axis=0)
        v = fnp.concatenate([v, fnp.broadcast_to(fnp.asarray(bias_v), (1, N, E))], axis=0)
        attn_mask, key_padding_mask = pad_masks(attn_mask, key_padding_mask)

    # heads: [L, N, E] -> [N * H, L, hd]
    def heads(t):
        return fnp.swapaxes(fnp.reshape(t, (t.shape[0], N * num_heads, hd)), 0, 1)
    q, k, v = heads(q), heads(k), heads(v)
    if add_zero_attn:
        z = fnp.zeros((N * num_heads, 1, hd), dtype)
        k = fnp.concatenate([k, z], axis=1)
        v = fnp.concatenate([v, z], axis=1)
        attn_mask, key_padding_mask = pad_masks(attn_mask, key_padding_mask)
    S = k.shape[1]
    if key_padding_mask is not None:
        kpm = fnp.reshape(fnp.broadcast_to(key_padding_mask[:, None, None, :],
                                           (N, num_heads, 1, S)), (N * num_heads, 1, S))
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0
    if dropout_p > 0.0 and dropout_key is None:
        raise ValueError(f"{name}: dropout_p={dropout_p} in training needs a random key: pass "
                         "dropout_key= (or training=False)")

    if need_weights:
        scores = fnp.matmul(q * math.sqrt(1.0 / hd), fnp.swapaxes(k, -1, -2))
        if attn_mask is not None:
            scores = scores + attn_mask
        w = softmax(scores, -1)
        if dropout_p > 0.0:
            w = _dropout(w, dropout_p, True, key=dropout_key)
        out = fnp.matmul(w, v)                                          # [N*H, L, hd]
    else:
        out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p,
                                           dropout_key=dropout_key)
        w = None
    out = fnp.reshape(fnp.swapaxes(out, 0, 1), (L, N, E))
    out = linear(out, out_proj_weight, out_proj_bias)
    if w is not None:
        w = fnp.reshape(w, (N, num_heads, L, S))
        if average_attn_weights:
            w = fnp.mean(w, axis=1)
    if not batched:
        out = out[:, 0]
        w = None if w is None else w[0]
    return out, w
