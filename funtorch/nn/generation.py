"""Autoregressive generation: sampling and a jitted decoding loop for RNNs and Transformers.

A model is decoded through a *step function* ``step(params, tokens, carry) -> (logits,
carry)``: ``tokens`` [B] ints in, next-token ``logits`` [B, V] out, ``carry`` any pytree
(the RNN's state, or a Transformer's KV cache). ``generate`` feeds the prompt through it,
then samples and feeds back each new token, all inside one ``jit``-compiled program (two
``ft.scan`` loops), so nothing is traced again per token, nor on the next call with the same
shapes. For a character-level LSTM::

    emb, lstm, head = nn.Embedding(V, 64), nn.LSTM(64, 256, 2), nn.Linear(256, V)

    def step(params, tokens, hx):
        out, hx = lstm.step(params['lstm'], emb(params['emb'], tokens), hx)
        return head(params['head'], out), hx

    hx = rnn_state(lstm, batch_size)       # zeros: the carry keeps one structure
    tokens, hx = generate(step, params, hx, prompt, key, 200, temperature=0.8, top_k=10)

For a decoder-only Transformer built from ``nn.TransformerEncoderLayer`` (causal
self-attention; any ``norm_first``/activation), ``transformer_step`` runs the stack on one
new position against a KV cache made by ``init_kv_cache``::

    def step(params, tokens, cache):
        x = emb(params['emb'], tokens) + params['pos'][cache['pos']]
        y, cache = transformer_step(encoder, params['encoder'], x, cache)
        return head(params['head'], y), cache

    cache = init_kv_cache(encoder, batch_size, max_len)
    tokens, cache = generate(step, params, cache, prompt, key, 100, top_k=20)

The cache's ``max_len`` must cover the prompt plus the generated tokens (writes past it
are dropped, as out-of-range scatters are under jit). ``benchmarks/seq.py`` and
``tests/test_sequence_models.py`` hold complete examples of both.
"""

from __future__ import annotations

import math

import numpy as np

from .. import lax, random
from .. import numpy as fnp
from ..core import dtypes
from ..transforms.jit import jit
from . import functional as F
from .transformer import TransformerEncoder, TransformerEncoderLayer

__all__ = ["sample_logits", "generate", "init_kv_cache", "transformer_step", "rnn_state"]


def sample_logits(key, logits, temperature=1.0, top_k=None):
    """Token ids [...] drawn from ``logits`` [..., V]: only the ``top_k`` largest logits
    stay candidates (ties with the k-th kept), divided by ``temperature``; a Python
    ``temperature`` of 0 picks the argmax."""
    logits = fnp.asarray(logits)
    if top_k is not None:
        if not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= logits.shape[-1]:
            raise ValueError(f"funtorch.nn.generation.sample_logits: top_k must be an int in "
                             f"[1, {logits.shape[-1]}] (the vocabulary size), got {top_k!r}")
        kth = fnp.sort(logits, axis=-1)[..., -int(top_k)][..., None]
        logits = fnp.where(logits < kth, fnp.full((), -np.inf, logits.dtype), logits)
    if isinstance(temperature, (int, float)) and temperature == 0:
        return fnp.argmax(logits, axis=-1)
    return random.categorical(key, logits / temperature)


def _generate(params, carry, prompt, key, temperature, *, step, max_new_tokens, top_k, greedy):
    def feed(carry, tok):
        _, carry = step(params, tok, carry)
        return carry, None

    # the prompt's last token is fed by the sampling loop, which then yields its successor
    carry, _ = lax.scan(feed, carry, fnp.swapaxes(prompt[:, :-1], 0, 1))

    def sample(state, k):
        tok, carry = state
        logits, carry = step(params, tok, carry)
        nxt = sample_logits(k, logits, 0 if greedy else temperature, top_k)
        nxt = fnp.astype(nxt, prompt.dtype)
        return (nxt, carry), nxt

    keys = random.split(key, max_new_tokens)
    (_, carry), toks = lax.scan(sample, (prompt[:, -1], carry), keys)
    return fnp.swapaxes(toks, 0, 1), carry


_generate_jit = jit(_generate, static_argnames=("step", "max_new_tokens", "top_k", "greedy"))


def generate(step, params, carry, prompt, key, max_new_tokens, *, temperature=1.0,
             top_k=None):
    """Sample ``max_new_tokens`` tokens after ``prompt`` [B, P] (P >= 1, integer ids).

    ``step(params, tokens [B], carry) -> (logits [B, V], carry)`` must keep the carry's
    structure and types. Returns ``(tokens [B, max_new_tokens], carry)``. Compiled once per
    ``step`` (a module-level function, not a fresh lambda per call), shapes,
    ``max_new_tokens`` and ``top_k``; ``temperature`` and ``key`` are traced, so changing
    them costs nothing (a Python 0 means greedy decoding, compiled separately).
    """
    prompt = fnp.asarray(prompt)
    if prompt.ndim != 2 or prompt.shape[1] < 1 or not dtypes.is_int(prompt.dtype):
        raise ValueError(f"funtorch.nn.generation.generate: prompt must be integer token ids "
                         f"of shape [batch, length >= 1], got {prompt.dtype} "
                         f"{tuple(prompt.shape)}")
    if not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 1:
        raise ValueError(f"funtorch.nn.generation.generate: max_new_tokens must be a positive "
                         f"int, got {max_new_tokens!r}")
    greedy = isinstance(temperature, (int, float)) and temperature == 0
    temp = fnp.asarray(1.0 if greedy else temperature, dtypes.float32)
    return _generate_jit(params, carry, prompt, key, temp, step=step,
                         max_new_tokens=int(max_new_tokens), top_k=top_k, greedy=greedy)


# --------------------------------------------------------------------------- RNN state

def rnn_state(rnn, batch_size, dtype=dtypes.float32):
    """Zero initial state of an ``nn.RNN``/``nn.GRU`` (``h_0``) or ``nn.LSTM``
    (``(h_0, c_0)``), for a ``generate`` carry that keeps one structure from the start."""
    n = rnn.num_layers * rnn.num_directions
    h = fnp.zeros((n, batch_size, rnn.proj_size or rnn.hidden_size), dtype)
    if rnn.mode == "LSTM":
        return h, fnp.zeros((n, batch_size, rnn.hidden_size), dtype)
    return h


# --------------------------------------------------------------------------- KV cache

def _layers(encoder):
    if isinstance(encoder, TransformerEncoderLayer):
        return [encoder], None
    if isinstance(encoder, TransformerEncoder):
        return list(encoder.layers), encoder.norm
    raise TypeError(f"funtorch.nn.generation: expected an nn.TransformerEncoder or "
                    f"nn.TransformerEncoderLayer, got {type(encoder).__name__}")


def init_kv_cache(encoder, batch_size, max_len, dtype=dtypes.float32):
    """An empty KV cache for ``transformer_step``: ``{'pos': int32 0, 'layers': [{'k', 'v'}
    per layer]}`` with keys and values [B, heads, max_len, head_dim]. ``max_len`` bounds
    prompt plus generated tokens."""
    layers, _ = _layers(encoder)
    cache = []
    for layer in layers:
        a = layer.self_attn
        shape = (batch_size, a.num_heads, max_len, a.head_dim)
        cache.append({"k": fnp.zeros(shape, dtype), "v": fnp.zeros(shape, dtype)})
    return {"pos": fnp.zeros((), dtypes.int32), "layers": cache}


def _cached_attention(attn, p, x, kv, pos):
    """Self-attention of one new position ``x`` [B, E] over the cached ones and itself."""
    B, E = x.shape
    H, hd = attn.num_heads, attn.head_dim
    if "in_proj_weight" in p:
        w_q, w_k, w_v = fnp.split(p["in_proj_weight"], 3, axis=0)
    else:
        w_q, w_k, w_v = p["q_proj_weight"], p["k_proj_weight"], p["v_proj_weight"]
    b = p.get("in_proj_bias")
    b_q, b_k, b_v = fnp.split(b, 3, axis=0) if b is not None else (None, None, None)
    q = fnp.reshape(F.linear(x, w_q, b_q), (B, H, 1, hd))
    k = fnp.reshape(F.linear(x, w_k, b_k), (B, H, hd))
    v = fnp.reshape(F.linear(x, w_v, b_v), (B, H, hd))
    K = kv["k"].at[:, :, pos].set(k)
    V = kv["v"].at[:, :, pos].set(v)
    scores = fnp.matmul(q * math.sqrt(1.0 / hd), fnp.swapaxes(K, -1, -2))   # [B, H, 1, M]
    valid = fnp.arange(K.shape[2]) <= pos
    scores = fnp.where(valid, scores, fnp.full((), -np.inf, scores.dtype))
    out = fnp.reshape(fnp.matmul(F.softmax(scores, -1), V), (B, E))
    out_proj = p["out_proj"]
    return F.linear(out, out_proj["weight"], out_proj.get("bias")), {"k": K, "v": V}


def transformer_step(encoder, params, x, cache):
    """Run a causal ``nn.TransformerEncoder`` (or one ``TransformerEncoderLayer``) on the
    next position: ``x`` [B, d_model] -> ``(y [B, d_model], cache)``, the same numbers as
    the full sequence under the causal mask gives at that position (evaluation mode).
    ``cache`` from ``init_kv_cache``; ``cache['pos']`` is the position being written."""
    layers, norm = _layers(encoder)
    if not isinstance(encoder, TransformerEncoderLayer):
        lp = encoder.layers.params(params.get("layers"))
    else:
        lp = [params]
    pos = cache["pos"]
    x = fnp.asarray(x)
    new = []
    for layer, p, kv in zip(layers, lp, cache["layers"]):
        box = {}

        def sa(h, layer=layer, p=p, kv=kv, box=box):
            out, box["kv"] = _cached_attention(layer.self_attn, p["self_attn"], h, kv, pos)
            return out

        x = layer._blocks(p, x, sa)
        new.append(box["kv"])
    if norm is not None:
        x = norm(params.get("norm", {}), x)
    return x, {"pos": pos + 1, "layers": new}
