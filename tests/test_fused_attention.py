"""The CPU's fused attention kernels (backends/cpu/attention_kernels.py) against the eager
impls of lax.dot_product_attention and its gradient: blocks of queries (L above the block
size), causal with L != S, operands read through strides, both float types, the parallel
and the serial (loop body) kernels; and that the maskless SDPA paths reach the kernels."""

from __future__ import annotations

import numpy as np
import pytest

import funtorch as ft
from funtorch import lax

F = ft.nn.functional


def _loss(q, k, v, scale, causal):
    o, lse = lax.dot_product_attention(q, k, v, scale, causal)
    return ft.sum(o * ft.cos(o)) + ft.sum(ft.sin(lse))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal", [False, True])
# serial (few scores) and parallel (B * H * L * S >= attention_kernels.PARALLEL_SCORES)
@pytest.mark.parametrize("shape", [(2, 5, 7, 1, 3, 4), (3, 130, 70, 2, 8, 5),
                                   (9, 70, 129, 2, 4, 6)])
def test_kernels_vs_eager(dtype, causal, shape):
    B, L, S, H, E, Fv = shape
    rng = np.random.default_rng(0)
    # q, k, v as transposed views ([L, B, H, E] storage): read through their strides
    q, k, v = (ft.swapaxes(ft.asarray(rng.standard_normal((n, B, H, d)).astype(dtype)), 0, 1)
               for n, d in ((L, E), (S, E), (S, Fv)))
    f = ft.value_and_grad(_loss, argnums=(0, 1, 2))
    want = f(q, k, v, 0.6, causal)
    got = ft.jit(f, static_argnums=(3, 4))(q, k, v, 0.6, causal)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for a, b in zip(ft.tree.leaves(got), ft.tree.leaves(want)):
        a, b = np.asarray(a), np.asarray(b)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, np.abs(b).max()))


def test_kernels_in_a_scan_body():
    """A loop body's table runs the serial kernels; same results as eager."""
    rng = np.random.default_rng(1)
    q = ft.asarray(rng.standard_normal((3, 4, 70, 2, 8)).astype(np.float32))

    def f(q):
        def body(c, x):
            o, _ = lax.dot_product_attention(x, x, x, 0.3, True)
            return c + ft.sum(o), o
        return ft.scan(body, ft.zeros(()), q)

    for a, b in zip(ft.tree.leaves(ft.jit(ft.grad(lambda q: f(q)[0]))(q)),
                    ft.tree.leaves(ft.grad(lambda q: f(q)[0])(q))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=2e-5)


def _plan(f, *args):
    return ft.jit(f).lower(*args).compile().plan_text()


def test_sdpa_and_causal_mha_use_the_fused_kernels():
    rng = np.random.default_rng(2)
    x = ft.asarray(rng.standard_normal((2, 3, 6, 4)).astype(np.float32))
    plan = _plan(ft.grad(lambda x: ft.sum(F.scaled_dot_product_attention(
        x, x, x, is_causal=True))), x)
    assert "fused attention gradient" in plan and "fused attention\n" in plan + "\n"
    # a mask or dropout keeps the composite
    m = ft.asarray(np.tril(np.ones((6, 6), bool)))
    assert "fused attention" not in _plan(
        lambda x: F.scaled_dot_product_attention(x, x, x, attn_mask=m), x)
    mha = ft.nn.MultiheadAttention(8, 2, batch_first=True)
    p = mha.init(ft.random.key(0))
    y = ft.asarray(rng.standard_normal((2, 5, 8)).astype(np.float32))
    causal = ft.nn.Transformer.generate_square_subsequent_mask(5) != 0

    def run(p, y, fused):
        return mha(p, y, y, y, need_weights=False, attn_mask=None if fused else causal,
                   is_causal=fused)[0]

    assert "fused attention" in _plan(lambda p, y: run(p, y, True), p, y)
    np.testing.assert_allclose(np.asarray(ft.jit(run, static_argnums=2)(p, y, True)),
                               np.asarray(run(p, y, False)), rtol=1e-5, atol=1e-6)
