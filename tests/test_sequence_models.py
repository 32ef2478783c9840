"""Sequence models under the transformations (vmap vs a loop, jit vs eager, grad with
lengths), and autoregressive generation: sampling, agreement with the full-sequence forward,
and no retrace per token. PyTorch parity is in tests/torch_parity/test_sequence.py."""

import numpy as np
import pytest
from helpers import close

import funtorch as ft
import funtorch.nn as nn
from funtorch.nn import generation as G


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _models():
    enc_layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                           norm_first=True, activation="gelu")
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    return [
        ("lstm", nn.LSTM(8, 6, num_layers=2, batch_first=True, proj_size=3),
         lambda m, p, x: m(p, x)[0]),
        ("gru_bi", nn.GRU(8, 5, bidirectional=True, batch_first=True),
         lambda m, p, x: m(p, x, lengths=np.array([4, 2]))[0]),
        ("rnn", nn.RNN(8, 4, batch_first=True), lambda m, p, x: m(p, x)[1]),
        ("encoder_layer", enc_layer, lambda m, p, x: m(p, x, is_causal=True)),
        ("mha", mha, lambda m, p, x: m(p, x, x, x)[1]),
    ]


@pytest.mark.parametrize("name,model,call", _models(), ids=[m[0] for m in _models()])
def test_vmap_matches_loop_and_jit_matches_eager(name, model, call):
    params = model.init(ft.random.key(0))
    xs = rand(3, 2, 4, 8)                                       # 3 examples of [B=2, T=4, 8]
    f = lambda x: call(model, params, x)                         # noqa: E731
    eager = [np.asarray(f(x)) for x in xs]
    close(ft.vmap(f)(xs), np.stack(eager), rtol=1e-5, atol=1e-6)
    close(ft.jit(f)(xs[0]), eager[0], rtol=1e-5, atol=1e-6)
    g = ft.jit(ft.grad(lambda p, x: (call(model, p, x) ** 2).sum()))(params, xs[0])
    g_eager = ft.grad(lambda p, x: (call(model, p, x) ** 2).sum())(params, xs[0])
    for a, b in zip(ft.tree.leaves(g), ft.tree.leaves(g_eager)):
        close(a, b, rtol=1e-4, atol=1e-5)


def test_lengths_gradient_ignores_padding():
    m = nn.LSTM(3, 4, batch_first=True)
    p = m.init(ft.random.key(0))
    x = rand(2, 5, 3)
    lengths = np.array([5, 2])
    gx = ft.grad(lambda x: (m(p, x, lengths=lengths)[0] ** 2).sum()
                 + (m(p, x, lengths=lengths)[1][0] ** 2).sum())(x)
    assert np.all(np.asarray(gx)[1, 2:] == 0) and np.any(np.asarray(gx)[1, :2] != 0)


# --------------------------------------------------------------------------- generation

V = 7


def _lstm_lm():
    emb, lstm, head = nn.Embedding(V, 5), nn.LSTM(5, 8, num_layers=2), nn.Linear(8, V)
    k = ft.random.split(ft.random.key(0), 3)
    params = {"emb": emb.init(k[0]), "lstm": lstm.init(k[1]), "head": head.init(k[2])}
    traces = []

    def step(params, tokens, hx):
        traces.append(1)
        out, hx = lstm.step(params["lstm"], emb(params["emb"], tokens), hx)
        return head(params["head"], out), hx

    def full(params, seq):                                      # [B, T] -> logits [B, T, V]
        out, _ = lstm(params["lstm"], ft.swapaxes(emb(params["emb"], seq), 0, 1))
        return ft.swapaxes(head(params["head"], out), 0, 1)

    return step, full, params, G.rnn_state(lstm, 2), traces


def _transformer_lm():
    E, T = 8, 16
    emb, head = nn.Embedding(V, E), nn.Linear(E, V)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(E, 2, 16, dropout=0.0,
                                                           batch_first=True), 2,
                                norm=nn.LayerNorm(E))
    k = ft.random.split(ft.random.key(1), 4)
    params = {"emb": emb.init(k[0]), "pos": ft.random.normal(k[1], (T, E)),
              "enc": enc.init(k[2]), "head": head.init(k[3])}
    traces = []

    def step(params, tokens, cache):
        traces.append(1)
        x = emb(params["emb"], tokens) + params["pos"][cache["pos"]]
        y, cache = G.transformer_step(enc, params["enc"], x, cache)
        return head(params["head"], y), cache

    def full(params, seq):
        L = seq.shape[1]
        x = emb(params["emb"], seq) + params["pos"][:L]
        mask = nn.Transformer.generate_square_subsequent_mask(L)
        return head(params["head"], enc(params["enc"], x, mask))

    return step, full, params, G.init_kv_cache(enc, 2, T), traces


@pytest.mark.parametrize("family", [_lstm_lm, _transformer_lm], ids=["lstm", "transformer"])
def test_generate_greedy_matches_full_forward_and_never_retraces(family):
    step, full, params, carry, traces = family()
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    toks, _ = G.generate(step, params, carry, prompt, ft.random.key(0), 6, temperature=0)
    seq = np.concatenate([prompt, np.asarray(toks)], axis=1)
    greedy = np.argmax(np.asarray(full(params, seq)), axis=-1)
    np.testing.assert_array_equal(greedy[:, 2:-1], np.asarray(toks))
    # sampling: traced once per compile (prompt loop + sampling loop), however many tokens
    n0 = len(traces)
    a, _ = G.generate(step, params, carry, prompt, ft.random.key(1), 9, top_k=3)
    per_compile = len(traces) - n0
    assert per_compile <= 3
    b, _ = G.generate(step, params, carry, prompt, ft.random.key(2), 9, top_k=3,
                      temperature=0.5)
    c, _ = G.generate(step, params, carry, prompt, ft.random.key(1), 9, top_k=3)
    assert len(traces) - n0 == per_compile                      # new key/temperature: cached
    np.testing.assert_array_equal(np.asarray(a), np.asarray(c))
    assert np.asarray(a).shape == (2, 9) and np.asarray(a).dtype == prompt.dtype


def test_sample_logits_top_k_and_temperature():
    logits = np.log(np.array([[0.1, 0.2, 0.3, 0.4]] * 2000, np.float32))
    draws = np.asarray(G.sample_logits(ft.random.key(0), logits, top_k=2))
    assert set(np.unique(draws)) == {2, 3}
    frac = (draws == 3).mean()                                  # 0.4 / 0.7 ~ 0.571
    assert abs(frac - 4 / 7) < 0.04
    cold = np.asarray(G.sample_logits(ft.random.key(0), logits, temperature=0.05))
    assert (cold == 3).mean() > 0.98
    np.testing.assert_array_equal(np.asarray(G.sample_logits(None, logits, temperature=0)), 3)
    with pytest.raises(ValueError, match="top_k"):
        G.sample_logits(ft.random.key(0), logits, top_k=5)
    with pytest.raises(ValueError, match="prompt"):
        G.generate(lambda p, t, c: (t, c), {}, None, np.zeros((3,), np.int64),
                   ft.random.key(0), 2)


# --------------------------------------------------------------------------- benchmarks/seq.py

def _run_benchmark(*args, **env):
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.run([sys.executable, os.path.join(root, "benchmarks", "seq.py"), *args],
                       capture_output=True, text=True, timeout=900,
                       env=dict(os.environ, PYTHONPATH=root, **env))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout


def test_seq_benchmark_tiny_losses_agree_across_frameworks():
    """Same initial weights and batches: funtorch, PyTorch and JAX report the same first
    losses (the script exits non-zero when they differ), and every workload runs."""
    frameworks = ["funtorch"] + [m for m in ("torch", "jax")
                                 if __import__("importlib").util.find_spec(m)]
    out = _run_benchmark("--tiny", "--frameworks", *frameworks, "--workloads", "lstm", "gru",
                         "transformer", "generation")
    if len(frameworks) > 1:
        assert out.count("max loss difference") == 3
    for name in ("lstm", "gru", "transformer", "generation-lstm", "generation-transformer"):
        assert f"\n{name} (" in out


def test_seq_benchmark_simulated_cuda():
    out = _run_benchmark("--simulate-tiny", "--frameworks", "funtorch", "torch",
                         "--workloads", "forecast", "scan", NUMBA_ENABLE_CUDASIM="1")
    assert "devices: funtorch cuda:0" in out and "\nforecast (" in out and "\nscan (" in out
