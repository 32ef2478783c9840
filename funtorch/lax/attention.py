"""Fused scaled dot-product attention: ``dot_product_attention`` and the two primitives its
derivatives are made of (FlashAttention's decomposition of the gradient, JAX's
``jax.nn.dot_product_attention`` semantics without masks other than causal).

Over ``q [B, L, H, E]``, ``k [B, S, H, E]``, ``v [B, S, H, F]`` (JAX's layout: batch, sequence,
heads, features; so the heads of a ``[B, L, H * E]`` projection are a free reshape) with
``scale`` and ``causal`` (key ``j`` visible to query ``i`` iff ``j <= i``, PyTorch's
``tril``), per batch entry and head (``lse`` is ``[B, H, L]``):

    s = scale * q @ k^T (masked to -inf),  lse = logsumexp(s, -1),  p = exp(s - lse)
    dot_product_attention(q, k, v)                      -> (o = p @ v, lse)
    dot_product_attention_jvp(q, k, v, lse, tq, tk, tv) -> (to, tlse), linear in tq, tk, tv:
        ds = scale * (tq @ k^T + q @ tk^T),  tlse = rowsum(p * ds),
        to = (p * (ds - tlse)) @ v + p @ tv
    dot_product_attention_vjp(q, k, v, lse, go, glse)    -> (dq, dk, dv), linear in go, glse,
        the transpose of the JVP:  dv = p^T @ go,  dp = go @ v^T,
        ds = scale * p * (dp - rowsum(p * dp) + glse),  dq = ds @ k,  dk = ds^T @ q

``p`` is recomputed from ``lse`` in both, so nothing of size ``[B, L, S]`` is kept between
the forward and the backward pass; a backend with a fused kernel (the CPU's) never
materialises it at all. Each primitive's decomposition (the formulas above in other
primitives) is its reference, what backends without a kernel compile, and, for the two
derivative primitives, what their own derivatives are taken of. The JVP and VJP primitives
are each other's transpose.
"""

from __future__ import annotations

import numpy as np

from ..core import dtypes
from ..core.abstract import ShapedArray
from ..core.trace import Primitive, bind, decompositions, get_aval
from ..transforms import ad, batching
from ..transforms.ad import Zero, instantiate
from ._util import fmt
from .elementwise import add, div, exp, le, log, mul, select_n, stop_gradient, sub
from .linalg import dot_general
from .reductions import reduce_max, reduce_sum
from .shape import broadcast_in_dim, broadcasted_iota, full, reshape, transpose

attention_p = Primitive("dot_product_attention", kind="library", multiple_results=True)
attention_jvp_p = Primitive("dot_product_attention_jvp", kind="library",
                            multiple_results=True)
attention_vjp_p = Primitive("dot_product_attention_vjp", kind="library",
                            multiple_results=True)

def _check(name, q, k, v):
    ok = (q.ndim == k.ndim == v.ndim == 4 and q.shape[0] == k.shape[0] == v.shape[0]
          and q.shape[2] == k.shape[2] == v.shape[2] and q.shape[3] == k.shape[3]
          and k.shape[1] == v.shape[1] and k.shape[1] > 0
          and q.dtype == k.dtype == v.dtype and dtypes.is_float(q.dtype))
    if not ok:
        raise TypeError(f"funtorch.lax.{name}: expected float query [B, L, H, E], key "
                        f"[B, S, H, E] and value [B, S, H, F] of one dtype with S > 0, got "
                        f"{fmt(q, k, v)}")


# --------------------------------------------------------------------------- numpy (eager)

def _heads_np(*xs):
    return [np.swapaxes(x, 1, 2) for x in xs]       # [B, L, H, E] -> [B, H, L, E]


def _probs_np(q, k, lse, scale, causal):
    s = np.matmul(q, np.swapaxes(k, -1, -2)) * np.asarray(scale, q.dtype)
    if causal:
        L, S = s.shape[-2:]
        s = np.where(np.arange(S)[None, :] <= np.arange(L)[:, None], s, -np.inf)
    if lse is None:
        return s
    return np.exp(s - lse[..., None])


def _attention_impl(q, k, v, *, scale, causal):
    dt = q.dtype
    q, k, v = _heads_np(q, k, v)
    s = _probs_np(q, k, None, scale, causal)
    m = s.max(-1, keepdims=True)
    e = np.exp(s - m)
    tot = e.sum(-1, keepdims=True)
    o = np.matmul(e / tot, v)
    return [np.ascontiguousarray(_heads_np(o)[0], dt), (m + np.log(tot))[..., 0].astype(dt)]


def _jvp_impl(q, k, v, lse, tq, tk, tv, *, scale, causal):
    dt = q.dtype
    q, k, v, tq, tk, tv = _heads_np(q, k, v, tq, tk, tv)
    p = _probs_np(q, k, lse, scale, causal)
    sc = np.asarray(scale, dt)
    ds = (np.matmul(tq, np.swapaxes(k, -1, -2)) + np.matmul(q, np.swapaxes(tk, -1, -2))) * sc
    tlse = (p * ds).sum(-1)
    to = np.matmul(p * (ds - tlse[..., None]), v) + np.matmul(p, tv)
    return [np.ascontiguousarray(_heads_np(to)[0], dt), tlse.astype(dt)]


def _vjp_impl(q, k, v, lse, go, glse, *, scale, causal):
    dt = q.dtype
    q, k, v, go = _heads_np(q, k, v, go)
    p = _probs_np(q, k, lse, scale, causal)
    dv = np.matmul(np.swapaxes(p, -1, -2), go)
    dp = np.matmul(go, np.swapaxes(v, -1, -2))
    ds = p * (dp - (p * dp).sum(-1, keepdims=True) + glse[..., None]) * np.asarray(scale, dt)
    dq = np.matmul(ds, k)
    dk = np.matmul(np.swapaxes(ds, -1, -2), q)
    return [np.ascontiguousarray(x, dt) for x in _heads_np(dq, dk, dv)]


# --------------------------------------------------------------------------- shapes

def _attention_shape(q, k, v, *, scale, causal):
    _check("dot_product_attention", q, k, v)
    B, L, H, _ = q.shape
    return [ShapedArray((B, L, H, v.shape[3]), q.dtype), ShapedArray((B, H, L), q.dtype)]


def _lse_shape(q):
    return (q.shape[0], q.shape[2], q.shape[1])


def _jvp_shape(q, k, v, lse, tq, tk, tv, *, scale, causal):
    _check("dot_product_attention_jvp", q, k, v)
    if (lse.shape, tq.shape, tk.shape, tv.shape) != (_lse_shape(q), q.shape, k.shape, v.shape):
        raise TypeError(f"funtorch.lax.dot_product_attention_jvp: lse and the tangents must "
                        f"match the primals, got {fmt(q, k, v, lse, tq, tk, tv)}")
    return [ShapedArray(q.shape[:3] + v.shape[3:], q.dtype), ShapedArray(lse.shape, q.dtype)]


def _vjp_shape(q, k, v, lse, go, glse, *, scale, causal):
    _check("dot_product_attention_vjp", q, k, v)
    if (lse.shape, go.shape, glse.shape) != (_lse_shape(q), q.shape[:3] + v.shape[3:],
                                             _lse_shape(q)):
        raise TypeError(f"funtorch.lax.dot_product_attention_vjp: lse and the cotangents "
                        f"must match the outputs, got {fmt(q, k, v, lse, go, glse)}")
    return [ShapedArray(q.shape, q.dtype), ShapedArray(k.shape, q.dtype),
            ShapedArray(v.shape, q.dtype)]


# --------------------------------------------------------------------------- decompositions

def _qk(q, k):
    return dot_general(q, k, (((3,), (3,)), ((0, 2), (0, 2))))          # [B, H, L, S]


def _pv(p, v):
    """[B, H, L, S] @ [B, S, H, F] -> [B, L, H, F]."""
    return transpose(dot_general(p, v, (((3,), (1,)), ((0, 1), (0, 2)))), (0, 2, 1, 3))


def _ptg(p, g):
    """[B, H, L, S]^T @ [B, L, H, F] -> [B, S, H, F]."""
    return transpose(dot_general(p, g, (((2,), (1,)), ((0, 1), (0, 2)))), (0, 2, 1, 3))


def _scores(q, k, scale, causal):
    s = _scaled(_qk(q, k), scale)
    shape = get_aval(s).shape
    if causal:
        L, S = shape[2:]
        keep = le(broadcasted_iota(np.int32, (L, S), 1), broadcasted_iota(np.int32, (L, S), 0))
        s = select_n(broadcast_in_dim(keep, shape, (2, 3)),
                     full(shape, -np.inf, get_aval(s).dtype), s)
    return s


def _scaled(x, scale):
    a = get_aval(x)
    return mul(x, full(a.shape, scale, a.dtype))


def _rows(x, shape):
    return broadcast_in_dim(x, shape, (0, 1, 2))


def _probs(q, k, lse, scale, causal):
    s = _scores(q, k, scale, causal)
    return exp(sub(s, _rows(lse, get_aval(s).shape)))


def _attention_composite(q, k, v, *, scale, causal):
    s = _scores(q, k, scale, causal)
    shape = get_aval(s).shape
    m = stop_gradient(reduce_max(s, (3,)))
    e = exp(sub(s, _rows(m, shape)))
    tot = reduce_sum(e, (3,))
    return [_pv(div(e, _rows(tot, shape)), v), add(m, log(tot))]


def _jvp_composite(q, k, v, lse, tq, tk, tv, *, scale, causal):
    p = _probs(q, k, lse, scale, causal)
    shape = get_aval(p).shape
    ds = _scaled(add(_qk(tq, k), _qk(q, tk)), scale)
    tlse = reduce_sum(mul(p, ds), (3,))
    to = add(_pv(mul(p, sub(ds, _rows(tlse, shape))), v), _pv(p, tv))
    return [to, tlse]


def _vjp_composite(q, k, v, lse, go, glse, *, scale, causal):
    p = _probs(q, k, lse, scale, causal)
    shape = get_aval(p).shape
    dv = _ptg(p, go)
    dp = _qk(go, v)
    c = reduce_sum(mul(p, dp), (3,))
    ds = _scaled(mul(p, add(sub(dp, _rows(c, shape)), _rows(glse, shape))), scale)
    return [_pv(ds, k), _ptg(ds, q), dv]


# --------------------------------------------------------------------------- rules

def _attention_jvp(primals, tangents, *, scale, causal):
    q, k, v = primals
    o, lse = bind(attention_p, q, k, v, scale=scale, causal=causal)
    if all(type(t) is Zero for t in tangents):
        return [o, lse], [Zero.from_value(o), Zero.from_value(lse)]
    to, tlse = bind(attention_jvp_p, q, k, v, lse, *map(instantiate, tangents), scale=scale,
                    causal=causal)
    return [o, lse], [to, tlse]


def _jvp_transpose(cts, q, k, v, lse, tq, tk, tv, *, scale, causal):
    go, glse = map(instantiate, cts)
    return [None] * 4 + bind(attention_vjp_p, q, k, v, lse, go, glse, scale=scale,
                             causal=causal)


def _vjp_transpose(cts, q, k, v, lse, go, glse, *, scale, causal):
    return [None] * 4 + bind(attention_jvp_p, q, k, v, lse, *map(instantiate, cts),
                             scale=scale, causal=causal)


def _jvp_by_decomposition(composite):
    """Derivatives of the derivative primitives (second order): their decomposition's."""
    def rule(primals, tangents, **params):
        return ad.jvp_flat(lambda *xs: composite(*xs, **params), primals, tangents)
    return rule


def _batch(prim):
    """The vmapped axis folds into B: every operand has B first."""
    def rule(vals, dims, **params):
        size = batching.batch_size_of(vals, dims)
        flat = []
        for x, d in zip(vals, dims):
            x = batching.bdim_at_front(x, d, size)
            shape = get_aval(x).shape
            flat.append(reshape(x, (size * shape[1], *shape[2:])))
        outs = bind(prim, *flat, **params)
        return ([reshape(o, (size, get_aval(o).shape[0] // size, *get_aval(o).shape[1:]))
                 for o in outs], [0] * len(outs))
    return rule


for _p, _impl, _shape, _composite in (
        (attention_p, _attention_impl, _attention_shape, _attention_composite),
        (attention_jvp_p, _jvp_impl, _jvp_shape, _jvp_composite),
        (attention_vjp_p, _vjp_impl, _vjp_shape, _vjp_composite)):
    _p.def_impl(_impl)
    _p.def_abstract_eval(_shape)
    decompositions[_p] = _composite
    batching.batching_rules[_p] = _batch(_p)

ad.jvp_rules[attention_p] = _attention_jvp
ad.jvp_rules[attention_jvp_p] = _jvp_by_decomposition(_jvp_composite)
ad.jvp_rules[attention_vjp_p] = _jvp_by_decomposition(_vjp_composite)
ad.transpose_rules[attention_jvp_p] = _jvp_transpose
ad.transpose_rules[attention_vjp_p] = _vjp_transpose


def dot_product_attention(q, k, v, scale, causal=False):
    """``(softmax(scale * q @ k^T) @ v, logsumexp(scale * q @ k^T))`` per batch entry and
    head over ``q [B, L, H, E]``, ``k [B, S, H, E]``, ``v [B, S, H, F]`` (S > 0): out
    ``[B, L, H, F]``, lse ``[B, H, L]``; ``causal`` hides keys ``j > i`` from query ``i``.
    Fused: no ``[B, H, L, S]`` array is kept for the gradient."""
    return bind(attention_p, q, k, v, scale=float(scale), causal=bool(causal))
