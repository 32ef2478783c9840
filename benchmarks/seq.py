"""Sequence-model throughput: funtorch (jit) vs PyTorch (eager) vs JAX (jit), one process.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/seq.py \\
        [--workloads lstm gru transformer forecast generation scan] [--rounds 5]
        [--device cuda] [--simulate-tiny]

Workloads (issue 13):
  lstm         char LM: Embedding(V, 64) -> 2-layer LSTM(64 -> 256) -> Linear(256, V),
               batch 32, sequence 128, Adam 2e-3, gradient clipping at norm 1.0
  gru          the same with GRU
  transformer  decoder-only: 4 pre-LayerNorm layers, d_model 128, 4 heads, MLP 512, GELU,
               learned positions, causal, sequence 128, batch 32, AdamW 3e-4 (wd 0.1)
  forecast     1-layer LSTM(1 -> 64), windows of 48 steps -> the next 12 (Linear on the
               last state), batch 64, Adam 1e-3, MSE
  generation   ms per sampled token (batch 1, top-k 10) for the lstm and transformer LMs
  scan         per-iteration time of a small jitted scan body (carry [16])

The three frameworks start from the same weights (PyTorch's initialisation, moved through
state_dicts) and see the same batches; the losses of their first steps are printed side by
side. JAX runs hand-written ``lax.scan`` cells with PyTorch's gate layout. Rounds are
interleaved (one round of steps per framework in turn), so drift of the shared machine hits
all alike; reported are medians and ratios. ``--device cuda`` runs funtorch on its CUDA
backend and PyTorch/JAX on their GPUs where they have one; ``--simulate-tiny`` shrinks every
size for Numba's CUDA simulator (CI runs it), where the numbers mean nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

FULL = dict(V=65, E=64, H=256, L=2, B=32, T=128, D=128, heads=4, mlp=512, layers=4,
            fH=64, fB=64, win=48, horizon=12, gen_tokens=64, scan_len=2000, steps=10,
            rounds=5)
TINY = dict(V=7, E=4, H=6, L=2, B=2, T=8, D=8, heads=2, mlp=8, layers=1,
            fH=4, fB=2, win=3, horizon=2, gen_tokens=3, scan_len=5, steps=1, rounds=1)
LOSS_STEPS = 3            # first steps whose losses are compared across the frameworks
LOSS_TOL = 1e-4           # their largest allowed difference (float32 reassociation only)


# --------------------------------------------------------------------------- data

def lm_batches(cfg, n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s = rng.integers(0, cfg["V"], (cfg["B"], cfg["T"] + 1))
        out.append((s[:, :-1].astype(np.int64), s[:, 1:].astype(np.int64)))
    return out


def forecast_batches(cfg, n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(20000, dtype=np.float32)
    series = (np.sin(t * 0.07) + 0.5 * np.sin(t * 0.013) + 0.1 * rng.standard_normal(t.size)
              ).astype(np.float32)
    w, h = cfg["win"], cfg["horizon"]
    out = []
    for _ in range(n):
        i = rng.integers(0, series.size - w - h, cfg["fB"])
        x = np.stack([series[j:j + w] for j in i])[..., None]
        y = np.stack([series[j + w:j + w + h] for j in i])
        out.append((x, y))
    return out


# --------------------------------------------------------------------------- models

def torch_models(torch, cfg):
    tn = torch.nn

    class RNNLM(tn.Module):
        def __init__(self, kind):
            super().__init__()
            self.emb = tn.Embedding(cfg["V"], cfg["E"])
            self.rnn = getattr(tn, kind)(cfg["E"], cfg["H"], cfg["L"], batch_first=True)
            self.head = tn.Linear(cfg["H"], cfg["V"])

        def forward(self, x):
            return self.head(self.rnn(self.emb(x))[0])

    class GPT(tn.Module):
        def __init__(self):
            super().__init__()
            D = cfg["D"]
            self.emb = tn.Embedding(cfg["V"], D)
            self.pos = tn.Embedding(cfg["T"], D)
            layer = tn.TransformerEncoderLayer(D, cfg["heads"], cfg["mlp"], dropout=0.0,
                                               activation="gelu", batch_first=True,
                                               norm_first=True)
            self.encoder = tn.TransformerEncoder(layer, cfg["layers"], norm=tn.LayerNorm(D),
                                                 enable_nested_tensor=False)
            self.head = tn.Linear(D, cfg["V"])

        def forward(self, x):
            T = x.shape[1]
            h = self.emb(x) + self.pos(torch.arange(T, device=x.device))
            mask = tn.Transformer.generate_square_subsequent_mask(T, device=x.device)
            return self.head(self.encoder(h, mask=mask, is_causal=True))

    class Forecast(tn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = tn.LSTM(1, cfg["fH"], batch_first=True)
            self.head = tn.Linear(cfg["fH"], cfg["horizon"])

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

    return {"lstm": lambda: RNNLM("LSTM"), "gru": lambda: RNNLM("GRU"), "transformer": GPT,
            "forecast": Forecast}


def funtorch_models(ft, cfg):
    nn = ft.nn

    class RNNLM(nn.Module):
        def __init__(self, kind):
            super().__init__()
            self.emb = nn.Embedding(cfg["V"], cfg["E"])
            self.rnn = getattr(nn, kind)(cfg["E"], cfg["H"], cfg["L"], batch_first=True)
            self.head = nn.Linear(cfg["H"], cfg["V"])

        def __call__(self, params, x):
            return self.head(params["head"], self.rnn(params["rnn"],
                                                      self.emb(params["emb"], x))[0])

        def step(self, params, tokens, hx):
            out, hx = self.rnn.step(params["rnn"], self.emb(params["emb"], tokens), hx)
            return self.head(params["head"], out), hx

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            D = cfg["D"]
            self.emb = nn.Embedding(cfg["V"], D)
            self.pos = nn.Embedding(cfg["T"], D)
            layer = nn.TransformerEncoderLayer(D, cfg["heads"], cfg["mlp"], dropout=0.0,
                                               activation="gelu", batch_first=True,
                                               norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, cfg["layers"], norm=nn.LayerNorm(D))
            self.head = nn.Linear(D, cfg["V"])

        def __call__(self, params, x):
            T = x.shape[1]
            h = self.emb(params["emb"], x) + params["pos"]["weight"][:T]
            return self.head(params["head"], self.encoder(params["encoder"], h,
                                                          is_causal=True))

        def step(self, params, tokens, cache):
            x = self.emb(params["emb"], tokens) + params["pos"]["weight"][cache["pos"]]
            y, cache = nn.generation.transformer_step(self.encoder, params["encoder"], x, cache)
            return self.head(params["head"], y), cache

    class Forecast(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(1, cfg["fH"], batch_first=True)
            self.head = nn.Linear(cfg["fH"], cfg["horizon"])

        def __call__(self, params, x):
            return self.head(params["head"], self.rnn(params["rnn"], x)[0][:, -1])

    return {"lstm": lambda: RNNLM("LSTM"), "gru": lambda: RNNLM("GRU"), "transformer": GPT,
            "forecast": Forecast}


def jax_forward(jax, cfg, name):
    """Hand-written JAX models over the PyTorch state_dict names and layouts."""
    jnp, lax = jax.numpy, jax.lax

    def lstm_layer(p, sfx, x):                         # x [T, B, in], PyTorch's i, f, g, o
        xw = x @ p["weight_ih" + sfx].T + p["bias_ih" + sfx] + p["bias_hh" + sfx]
        whh = p["weight_hh" + sfx].T
        H = whh.shape[0]

        def step(carry, xw_t):
            h, c = carry
            i, f, g, o = jnp.split(xw_t + h @ whh, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h
        z = jnp.zeros((x.shape[1], H), x.dtype)
        (h, c), out = lax.scan(step, (z, z), xw)
        return out, (h, c)

    def gru_layer(p, sfx, x):                          # r, z, n; b_hn inside r * (...)
        xw = x @ p["weight_ih" + sfx].T + p["bias_ih" + sfx]
        whh, bhh = p["weight_hh" + sfx].T, p["bias_hh" + sfx]
        H = whh.shape[0]

        def step(h, xw_t):
            xr, xz, xn = jnp.split(xw_t, 3, axis=-1)
            hr, hz, hn = jnp.split(h @ whh + bhh, 3, axis=-1)
            r, z = jax.nn.sigmoid(xr + hr), jax.nn.sigmoid(xz + hz)
            h = (1 - z) * jnp.tanh(xn + r * hn) + z * h
            return h, h
        h, out = lax.scan(step, jnp.zeros((x.shape[1], H), x.dtype), xw)
        return out, h

    def rnn(p, prefix, x, kind, layers):               # batch-first in and out
        x = jnp.swapaxes(x, 0, 1)
        for i in range(layers):
            sub = {k[len(prefix):]: v for k, v in p.items() if k.startswith(prefix)}
            x, _ = (lstm_layer if kind == "LSTM" else gru_layer)(sub, f"_l{i}", x)
        return jnp.swapaxes(x, 0, 1)

    def linear(p, name, x):
        return x @ p[name + ".weight"].T + p[name + ".bias"]

    def layer_norm(p, name, x):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / jnp.sqrt(v + 1e-5) * p[name + ".weight"] + p[name + ".bias"]

    def gpt(p, x):
        B, T = x.shape
        D, nh = cfg["D"], cfg["heads"]
        h = p["emb.weight"][x] + p["pos.weight"][:T]
        causal = jnp.tril(jnp.ones((T, T), bool))
        for i in range(cfg["layers"]):
            pre = f"encoder.layers.{i}."
            a = layer_norm(p, pre + "norm1", h)
            qkv = a @ p[pre + "self_attn.in_proj_weight"].T + p[pre + "self_attn.in_proj_bias"]
            q, k, v = (t.reshape(B, T, nh, D // nh).transpose(0, 2, 1, 3)
                       for t in jnp.split(qkv, 3, axis=-1))
            s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(D // nh)
            w = jax.nn.softmax(jnp.where(causal, s, -jnp.inf), axis=-1)
            o = (w @ v).transpose(0, 2, 1, 3).reshape(B, T, D)
            h = h + linear(p, pre + "self_attn.out_proj", o)
            f = jax.nn.gelu(linear(p, pre + "linear1", layer_norm(p, pre + "norm2", h)),
                            approximate=False)
            h = h + linear(p, pre + "linear2", f)
        return linear(p, "head", layer_norm(p, "encoder.norm", h))

    if name in ("lstm", "gru"):
        kind = name.upper()
        return lambda p, x: linear(p, "head", rnn(p, "rnn.", p["emb.weight"][x], kind,
                                                  cfg["L"]))
    if name == "transformer":
        return gpt
    return lambda p, x: linear(p, "head", rnn(p, "rnn.", x, "LSTM", 1)[:, -1])


OPTIM = {"lstm": ("adam", 2e-3, 1.0, 0.0), "gru": ("adam", 2e-3, 1.0, 0.0),
         "transformer": ("adamw", 3e-4, None, 0.1), "forecast": ("adam", 1e-3, None, 0.0)}


# --------------------------------------------------------------------------- trainers

def make_torch_trainer(torch, cfg, name, device):
    torch.manual_seed(0)
    model = torch_models(torch, cfg)[name]().to(device)
    kind, lr, clip, wd = OPTIM[name]
    opt = (torch.optim.AdamW(model.parameters(), lr, weight_decay=wd) if kind == "adamw"
           else torch.optim.Adam(model.parameters(), lr))
    sd = {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
    lm = name != "forecast"

    def step(x, y):
        x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        opt.zero_grad()
        out = model(x)
        loss = (torch.nn.functional.cross_entropy(out.reshape(-1, cfg["V"]), y.reshape(-1))
                if lm else torch.nn.functional.mse_loss(out, y))
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return loss.item()
    return step, sd, model


def make_funtorch_trainer(ft, cfg, name, sd, device):
    F = ft.nn.functional
    model = funtorch_models(ft, cfg)[name]()
    params = model.load_state_dict(sd)
    kind, lr, clip, wd = OPTIM[name]
    opt = ft.optim.adamw(lr, weight_decay=wd) if kind == "adamw" else ft.optim.adam(lr)
    if clip:
        opt = ft.optim.chain(ft.optim.clip_by_global_norm(clip), opt)
    lm = name != "forecast"

    def loss_fn(p, x, y):
        out = model(p, x)
        if lm:
            return F.cross_entropy(ft.reshape(out, (-1, cfg["V"])), ft.reshape(y, (-1,)))
        return F.mse_loss(out, y)

    def train_step(p, s, x, y):
        loss, g = ft.value_and_grad(loss_fn)(p, x, y)
        u, s = opt.update(g, s, p)
        return ft.optim.apply_updates(p, u), s, loss

    train_step = ft.jit(train_step, donate_argnums=(0, 1))
    carry = [ft.device_put(params, device), ft.device_put(opt.init(params), device)]

    def step(x, y):
        x, y = ft.device_put(ft.asarray(x), device), ft.device_put(ft.asarray(y), device)
        carry[0], carry[1], loss = train_step(carry[0], carry[1], x, y)
        return float(loss)
    return step, model, carry


def make_jax_trainer(jax, cfg, name, sd):
    jnp = jax.numpy
    fwd = jax_forward(jax, cfg, name)
    params = {k: jnp.asarray(v) for k, v in sd.items()}
    kind, lr, clip, wd = OPTIM[name]
    lm = name != "forecast"

    def loss_fn(p, x, y):
        out = fwd(p, x)
        if lm:
            logp = jax.nn.log_softmax(out.reshape(-1, cfg["V"]))
            return -jnp.mean(jnp.take_along_axis(logp, y.reshape(-1, 1), axis=1))
        return jnp.mean((out - y) ** 2)

    def train_step(p, m, v, t, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        if clip:
            norm = jnp.sqrt(sum(jnp.sum(a * a) for a in jax.tree_util.tree_leaves(g)))
            coef = jnp.minimum(clip / (norm + 1e-6), 1.0)
            g = jax.tree_util.tree_map(lambda a: a * coef, g)
        t = t + 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        mh, vh = 1 - b1 ** t, 1 - b2 ** t
        p = jax.tree_util.tree_map(
            lambda p, m, v: p * (1 - lr * wd) - lr * (m / mh) / (jnp.sqrt(v / vh) + eps),
            p, m, v)
        return p, m, v, t, loss

    train_step = jax.jit(train_step, donate_argnums=(0, 1, 2))
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    carry = [params, zeros, jax.tree_util.tree_map(jnp.zeros_like, params), jnp.zeros(())]

    def step(x, y):
        out = train_step(*carry, x, y)
        carry[:] = out[:4]
        return float(out[4])
    return step


# --------------------------------------------------------------------------- runners

def run_training(name, fws, cfg, args, report):
    n = LOSS_STEPS + cfg["rounds"] * cfg["steps"] + 1
    data = forecast_batches(cfg, n) if name == "forecast" else lm_batches(cfg, n)
    unit = cfg["fB"] * cfg["win"] if name == "forecast" else cfg["B"] * cfg["T"]
    steps = {}
    t_step, sd, _ = make_torch_trainer(fws["torch"], cfg, name, args.torch_device) \
        if "torch" in fws else (None, None, None)
    if sd is None:       # no torch: the same initialisation through funtorch's own init
        ft = fws["funtorch"]
        m = funtorch_models(ft, cfg)[name]()
        sd = {k: np.asarray(v) for k, v in m.state_dict(m.init(ft.random.key(0))).items()}
    if t_step:
        steps["torch"] = t_step
    if "funtorch" in fws:
        steps["funtorch"] = make_funtorch_trainer(fws["funtorch"], cfg, name, sd,
                                                  args.ft_device)[0]
    if "jax" in fws:
        steps["jax"] = make_jax_trainer(fws["jax"], cfg, name, sd)
    first, losses, rates = {}, {}, {fw: [] for fw in steps}
    for fw, step in steps.items():
        t0 = time.perf_counter()
        losses[fw] = [step(*data[0])]
        first[fw] = time.perf_counter() - t0
        losses[fw] += [step(*b) for b in data[1:LOSS_STEPS]]
    batches = data[LOSS_STEPS:]
    for r in range(cfg["rounds"]):
        chunk = batches[r * cfg["steps"]:(r + 1) * cfg["steps"]]
        for fw, step in steps.items():
            t0 = time.perf_counter()
            for b in chunk:
                step(*b)
            rates[fw].append(len(chunk) * unit / (time.perf_counter() - t0))
    what = "time steps/s" if name == "forecast" else "tokens/s"
    report(name, what, {fw: float(np.median(v)) for fw, v in rates.items()}, first, losses)


def run_generation(fws, cfg, args, report):
    """ms per sampled token, batch 1, top-k 10, temperature 1."""
    N, V = cfg["gen_tokens"], cfg["V"]
    prompt = np.random.default_rng(0).integers(0, V, (1, 4))
    results = {}
    for name in ("lstm", "transformer"):
        ms = {}
        if "torch" in fws:
            torch = fws["torch"]
            _, sd, model = make_torch_trainer(torch, cfg, name, args.torch_device)
            model.eval()
            ms["torch"] = _time_torch_generation(torch, model, name, prompt, N, cfg, args)
        if "funtorch" in fws:
            ft = fws["funtorch"]
            m = funtorch_models(ft, cfg)[name]()
            params = ft.device_put(m.load_state_dict(sd) if "torch" in fws
                                   else m.init(ft.random.key(0)), args.ft_device)
            if name == "lstm":
                carry = ft.nn.generation.rnn_state(m.rnn, 1)
            else:
                carry = ft.nn.generation.init_kv_cache(m.encoder, 1, prompt.shape[1] + N)
            carry = ft.device_put(carry, args.ft_device)
            p = ft.device_put(ft.asarray(prompt), args.ft_device)

            def gen(k, ft=ft, m=m, params=params, carry=carry, p=p):
                toks, _ = ft.nn.generation.generate(m.step, params, carry, p,
                                                    ft.random.key(k), N, top_k=min(10, V))
                return np.asarray(toks)
            gen(0)
            ms["funtorch"] = _median_ms(gen, cfg["rounds"], N)
        if "jax" in fws and "torch" in fws:
            timer = (_time_jax_lstm_generation if name == "lstm"
                     else _time_jax_transformer_generation)
            ms["jax"] = timer(fws["jax"], cfg, sd, prompt, N)
        results[name] = ms
    for name, ms in results.items():
        report(f"generation-{name}", "ms/token", ms, {}, {}, lower_is_better=True)


def _median_ms(fn, rounds, n_tokens):
    ts = []
    for r in range(max(rounds, 1)):
        t0 = time.perf_counter()
        fn(r + 1)
        ts.append((time.perf_counter() - t0) * 1e3 / n_tokens)
    return float(np.median(ts))


def _sample_torch(torch, logits, k):
    v, _ = torch.topk(logits, k)
    logits = logits.masked_fill(logits < v[:, [-1]], -float("inf"))
    return torch.multinomial(torch.softmax(logits, -1), 1)


def _time_torch_generation(torch, model, name, prompt, N, cfg, args):
    """PyTorch eager: the LSTM carries its state; the Transformer (nn.TransformerEncoder has
    no KV cache) reruns its causal forward over the whole prefix for each token."""
    k = min(10, cfg["V"])

    @torch.no_grad()
    def gen(seed):
        torch.manual_seed(seed)
        x = torch.from_numpy(prompt).to(args.torch_device)
        if name == "lstm":
            out, hx = model.rnn(model.emb(x))
            logits = model.head(out[:, -1])
            for _ in range(N):
                tok = _sample_torch(torch, logits, k)
                out, hx = model.rnn(model.emb(tok), hx)
                logits = model.head(out[:, -1])
        else:
            seq = x
            for _ in range(N):
                tok = _sample_torch(torch, model(seq)[:, -1], k)
                seq = torch.cat([seq, tok], 1)
    gen(0)
    return _median_ms(gen, cfg["rounds"], N)


def _time_jax_lstm_generation(jax, cfg, sd, prompt, N):
    jnp = jax.numpy
    p = {k: jnp.asarray(v) for k, v in sd.items()}
    L, k_top = cfg["L"], min(10, cfg["V"])

    def cell(h, c, x, i):
        g = (x @ p[f"rnn.weight_ih_l{i}"].T + p[f"rnn.bias_ih_l{i}"]
             + h @ p[f"rnn.weight_hh_l{i}"].T + p[f"rnn.bias_hh_l{i}"])
        ii, f, gg, o = jnp.split(g, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(ii) * jnp.tanh(gg)
        return jax.nn.sigmoid(o) * jnp.tanh(c), c

    def step(state, tok):
        hs, cs = state
        x = p["emb.weight"][tok]
        new_h, new_c = [], []
        for i in range(L):
            x, c = cell(hs[i], cs[i], x, i)
            new_h.append(x)
            new_c.append(c)
        return (jnp.stack(new_h), jnp.stack(new_c)), x @ p["head.weight"].T + p["head.bias"]

    z = jnp.zeros((L, prompt.shape[0], cfg["H"]))
    gen = _jax_sampling_loop(jax, step, (z, z), prompt, N, k_top)
    return _median_ms(gen, cfg["rounds"], N)


def _jax_sampling_loop(jax, step, state, prompt, N, k_top):
    """The same loop as funtorch's ``generate``: scan the prompt, then sample top-k."""
    jnp, lax = jax.numpy, jax.lax

    @jax.jit
    def gen(prompt, key):
        st, _ = lax.scan(lambda s, t: (step(s, t)[0], None), state, prompt[:, :-1].T)

        def sample(carry, k):
            tok, st = carry
            st, logits = step(st, tok)
            kth = lax.top_k(logits, k_top)[0][:, -1:]
            nxt = jax.random.categorical(k, jnp.where(logits < kth, -jnp.inf, logits))
            return (nxt, st), nxt
        _, toks = lax.scan(sample, (prompt[:, -1], st), jax.random.split(key, N))
        return toks.T

    pj = jnp.asarray(prompt)
    np.asarray(gen(pj, jax.random.PRNGKey(0)))
    return lambda s: np.asarray(gen(pj, jax.random.PRNGKey(s)))


def _time_jax_transformer_generation(jax, cfg, sd, prompt, N):
    """Hand-written KV-cache decoding of the pre-LayerNorm GPT (the same weights)."""
    jnp = jax.numpy
    p = {k: jnp.asarray(v) for k, v in sd.items()}
    D, nh, M = cfg["D"], cfg["heads"], prompt.shape[1] + N
    hd = D // nh

    def ln(name, x):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / jnp.sqrt(v + 1e-5) * p[name + ".weight"] + p[name + ".bias"]

    def lin(name, x):
        return x @ p[name + ".weight"].T + p[name + ".bias"]

    def step(state, tok):
        pos, caches = state
        h = p["emb.weight"][tok] + p["pos.weight"][pos]                  # [B, D]
        new = []
        for i, (K, Vc) in enumerate(caches):
            pre = f"encoder.layers.{i}."
            a = ln(pre + "norm1", h)
            qkv = a @ p[pre + "self_attn.in_proj_weight"].T + p[pre + "self_attn.in_proj_bias"]
            q, k, v = (t.reshape(-1, nh, hd) for t in jnp.split(qkv, 3, axis=-1))
            K, Vc = K.at[:, :, pos].set(k), Vc.at[:, :, pos].set(v)
            s = jnp.einsum("bhd,bhmd->bhm", q, K) / np.sqrt(hd)
            w = jax.nn.softmax(jnp.where(jnp.arange(M) <= pos, s, -jnp.inf), axis=-1)
            o = jnp.einsum("bhm,bhmd->bhd", w, Vc).reshape(-1, D)
            h = h + lin(pre + "self_attn.out_proj", o)
            f = jax.nn.gelu(lin(pre + "linear1", ln(pre + "norm2", h)), approximate=False)
            h = h + lin(pre + "linear2", f)
            new.append((K, Vc))
        return (pos + 1, new), lin("head", ln("encoder.norm", h))

    z = jnp.zeros((prompt.shape[0], nh, M, hd))
    state = (jnp.zeros((), jnp.int32), [(z, z) for _ in range(cfg["layers"])])
    gen = _jax_sampling_loop(jax, step, state, prompt, N, min(10, cfg["V"]))
    return _median_ms(gen, cfg["rounds"], N)


def run_scan(fws, cfg, args, report):
    """Per-iteration time of ``c = c * 0.9 + x_t`` over ``scan_len`` steps, carry [16]."""
    n = cfg["scan_len"]
    xs = np.random.default_rng(0).standard_normal((n, 16)).astype(np.float32)
    us = {}
    if "funtorch" in fws:
        ft = fws["funtorch"]
        f = ft.jit(lambda c, xs: ft.scan(lambda c, x: (c * 0.9 + x, None), c, xs)[0])
        c0 = ft.device_put(ft.zeros(16), args.ft_device)
        x = ft.device_put(ft.asarray(xs), args.ft_device)
        np.asarray(f(c0, x))
        us["funtorch"] = _median_ms(lambda _: np.asarray(f(c0, x)), cfg["rounds"], n) * 1e3
    if "jax" in fws:
        jax = fws["jax"]
        g = jax.jit(lambda c, xs: jax.lax.scan(lambda c, x: (c * 0.9 + x, None), c, xs)[0])
        c0, x = jax.numpy.zeros(16), jax.numpy.asarray(xs)
        np.asarray(g(c0, x))
        us["jax"] = _median_ms(lambda _: np.asarray(g(c0, x)), cfg["rounds"], n) * 1e3
    if "torch" in fws:
        torch = fws["torch"]
        xt = torch.from_numpy(xs).to(args.torch_device)

        def loop(_):
            c = torch.zeros(16, device=args.torch_device)
            for i in range(n):
                c = c * 0.9 + xt[i]
            return c.cpu().numpy()
        us["torch"] = _median_ms(loop, cfg["rounds"], n) * 1e3
    report("scan", "us/iteration", us, {}, {}, lower_is_better=True)


# --------------------------------------------------------------------------- driver

def _report_factory(rows):
    def report(name, what, values, first, losses, lower_is_better=False):
        rows.append((name, what, values))
        print(f"\n{name} ({what}, median{'; lower is better' if lower_is_better else ''}):")
        for fw, v in values.items():
            ratios = "  ".join(
                f"{(values[o] / v if lower_is_better else v / values[o]):.2f}x {o}"
                for o in values if o != fw)
            extra = f"   first step {first[fw]:6.2f} s" if fw in first else ""
            print(f"  {fw:9s} {v:12.4g}{extra}   {ratios}")
        if losses:
            print("  first losses: " + "   ".join(
                f"{fw} " + " ".join(f"{v:.5f}" for v in ls) for fw, ls in losses.items()))
            ref = next(iter(losses.values()))
            diff = max(abs(a - b) for ls in losses.values() for a, b in zip(ls, ref))
            print(f"  max loss difference across frameworks: {diff:.2e}")
            rows.append((name, "loss_diff", diff))
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    all_w = ["lstm", "gru", "transformer", "forecast", "generation", "scan"]
    ap.add_argument("--workloads", nargs="+", default=all_w, choices=all_w)
    ap.add_argument("--frameworks", nargs="+", default=["funtorch", "torch", "jax"])
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None, help="training steps per round")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--torch-threads", type=int, default=None,
                    help="torch.set_num_threads (default: PyTorch's own choice)")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (a smoke test)")
    ap.add_argument("--simulate-tiny", action="store_true",
                    help="tiny sizes under Numba's CUDA simulator (for CI; implies --device "
                         "cuda; the timings mean nothing)")
    args = ap.parse_args(argv)
    cfg = dict(TINY if args.simulate_tiny or args.tiny else FULL)
    if args.rounds:
        cfg["rounds"] = args.rounds
    if args.steps:
        cfg["steps"] = args.steps
    if args.simulate_tiny:
        args.device = "cuda"
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"      # before anything imports numba.cuda
    fws = {}
    for fw in args.frameworks:
        try:
            fws[fw] = __import__(fw)
        except ImportError:
            print(f"({fw} not importable: skipped)")
    if "funtorch" in fws:
        __import__("funtorch.nn")
        if args.device == "cuda" and "cuda:0" not in fws["funtorch"].devices():
            sys.exit("benchmarks/seq.py --device cuda: funtorch sees no CUDA device (set "
                     "NUMBA_ENABLE_CUDASIM=1 for the simulator, or use --simulate-tiny)")
    if "torch" in fws and args.torch_threads:
        fws["torch"].set_num_threads(args.torch_threads)
    args.ft_device = "cuda:0" if args.device == "cuda" else "cpu"
    args.torch_device = "cpu"
    if args.device == "cuda" and "torch" in fws:
        if fws["torch"].cuda.is_available():
            args.torch_device = "cuda"
        else:
            print("(torch has no CUDA device: PyTorch runs on the CPU)")
    if "jax" in fws and (args.device == "cpu" or args.simulate_tiny):
        fws["jax"].config.update("jax_platforms", "cpu")
    print(f"devices: funtorch {args.ft_device}, torch {args.torch_device}; "
          f"{cfg['rounds']} rounds x {cfg['steps']} steps, interleaved")
    rows = []
    report = _report_factory(rows)
    for w in args.workloads:
        if w == "generation":
            run_generation(fws, cfg, args, report)
        elif w == "scan":
            run_scan(fws, cfg, args, report)
        else:
            run_training(w, fws, cfg, args, report)
    bad = [name for name, what, v in rows if what == "loss_diff" and not v <= LOSS_TOL]
    if bad:
        sys.exit(f"benchmarks/seq.py: the frameworks' first losses differ by more than "
                 f"{LOSS_TOL} on {bad}")
    return rows


if __name__ == "__main__":
    main()
