"""Train a character language model on the fortune cookies, then generate text from it.

    python examples/char_lm.py --model lstm             # full corpus if installed (make data)
    python examples/char_lm.py --model transformer --steps 600
    python examples/char_lm.py --save lm.safetensors    # then --resume lm.safetensors
    python examples/char_lm.py --resume lm.safetensors --steps 0 --prompt "Love is"

Records are split into training and validation fortunes (by record, with a key); the
character vocabulary comes from the training text. Training draws ``--seq-len`` windows
(``ft.data.lm_batches``); every ``--eval-every`` steps the validation loss is reported in
nats and bits per character next to a unigram baseline (the training text's character
frequencies). Samples come from ``ft.nn.generation.generate``: the prompt and the sampled
characters run through one jit-compiled decoding loop (the LSTM's state, or the
Transformer's KV cache), with ``--temperature`` and ``--top-k``.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
from training import fit, plot_curves, resume_from

import funtorch as ft
import funtorch.nn as nn
import funtorch.nn.functional as F
from funtorch.nn.generation import generate, init_kv_cache, rnn_state, transformer_step

SEPARATOR = "\n\n"  # between fortunes in the training stream


class LSTMLM(nn.Module):
    def __init__(self, vocab, embed, hidden, layers):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def __call__(self, params, tokens):
        out, _ = self.lstm(params["lstm"], self.embed(params["embed"], tokens))
        return self.head(params["head"], out)

    def decode_state(self, params, batch, max_len):
        return rnn_state(self.lstm, batch)

    def step(self, params, tokens, hx):
        out, hx = self.lstm.step(params["lstm"], self.embed(params["embed"], tokens), hx)
        return self.head(params["head"], out), hx


class TransformerLM(nn.Module):
    """Decoder-only: token + learned position embeddings, causal encoder layers (pre-norm)."""

    def __init__(self, vocab, d_model, heads, layers, max_len):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model))
        self.head = nn.Linear(d_model, vocab)
        self.max_len = max_len

    def __call__(self, params, tokens):
        T = tokens.shape[1]
        x = self.embed(params["embed"], tokens) + params["pos"]["weight"][:T]
        mask = nn.Transformer.generate_square_subsequent_mask(T)
        x = self.encoder(params["encoder"], x, mask=mask, is_causal=True)
        return self.head(params["head"], x)

    def decode_state(self, params, batch, max_len):
        return init_kv_cache(self.encoder, batch, max_len)

    def step(self, params, tokens, cache):
        x = self.embed(params["embed"], tokens) + params["pos"]["weight"][cache["pos"]]
        y, cache = transformer_step(self.encoder, params["encoder"], x, cache)
        return self.head(params["head"], y), cache


def make_model(args, vocab):
    if args.model == "lstm":
        return LSTMLM(vocab, args.embed, args.hidden, args.layers)
    return TransformerLM(vocab, args.d_model, args.heads, args.layers, args.seq_len)


def unigram_nats(train_ids, valid_ids, vocab):
    counts = np.bincount(train_ids, minlength=vocab) + 1.0  # add-one: no zero probabilities
    logp = np.log(counts / counts.sum())
    return float(-logp[valid_ids].mean())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=["lstm", "transformer"], default="lstm")
    p.add_argument("--data-dir", default=None, help="fortunes folder (default: Debian's)")
    p.add_argument("--categories", nargs="*", default=None, help="fortune files to use")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--eval-batches", type=int, default=10)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--embed", type=int, default=32, help="LSTM: embedding size")
    p.add_argument("--hidden", type=int, default=256, help="LSTM: hidden size")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--d-model", type=int, default=128, help="Transformer: width")
    p.add_argument("--heads", type=int, default=4, help="Transformer: attention heads")
    p.add_argument("--prompt", default="The ")
    p.add_argument("--generate", type=int, default=300, help="characters to sample")
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default=None, help="checkpoint path (.safetensors); the "
                                                "tokenizer is written next to it as .json")
    p.add_argument("--resume", default=None, help="checkpoint to resume from")
    p.add_argument("--plot", default=None, help="write loss curves to this PNG")
    args = p.parse_args(argv)

    corpus = ft.data.fortunes(args.data_dir, args.categories)
    print(f"data: {corpus.source}: {len(corpus.texts)} fortunes in {len(corpus.categories)} "
          f"categories")
    key = ft.random.key(args.seed)
    split_key, init_key, data_key, sample_key = ft.random.split(key, 4)
    train_idx, valid_idx, _ = ft.data.split_records(len(corpus.texts), split_key, valid=0.05,
                                                    test=0)
    train_text = SEPARATOR.join(corpus.texts[i] for i in sorted(train_idx))
    valid_text = SEPARATOR.join(corpus.texts[i] for i in sorted(valid_idx))
    tok_path = os.path.splitext(args.resume)[0] + ".json" if args.resume else None
    if tok_path and os.path.exists(tok_path):
        tok = ft.data.load_tokenizer(tok_path)
    else:
        tok = ft.data.CharTokenizer.fit(train_text)
    train_ids = tok.encode(train_text, errors="replace")
    valid_ids = tok.encode(valid_text, errors="replace")
    print(f"characters: {len(train_ids):,} train / {len(valid_ids):,} validation; vocabulary "
          f"{tok.vocab_size} ({len(tok.chars)} characters + {', '.join(tok.specials)})")
    try:
        prompt_ids = tok.encode(args.prompt)
    except ValueError as e:
        p.error(f"--prompt {args.prompt!r}: {e}")
    if not len(prompt_ids):
        p.error("--prompt must have at least one character")
    valid_batches = list(ft.data.lm_batches(valid_ids, args.seq_len, min(
        args.batch_size, max(1, (len(valid_ids) - 1) // args.seq_len))))[:args.eval_batches]

    model = make_model(args, tok.vocab_size)
    print(model)
    optimizer = ft.optim.chain(ft.optim.clip_by_global_norm(1.0), ft.optim.adam(args.lr))
    params = model.init(init_key)
    state, start = {"params": params, "opt_state": optimizer.init(params)}, 0
    if args.resume:
        state, start = resume_from(args.resume, state)
    n_params = sum(int(np.prod(v.shape)) for v in ft.tree.leaves(state["params"]))
    print(f"model: {args.model}, {n_params:,} parameters; {args.steps} steps of "
          f"{args.batch_size} x {args.seq_len} characters")

    def loss_fn(params, x, y):
        logits = model(params, x)
        return F.cross_entropy(ft.reshape(logits, (-1, logits.shape[-1])), ft.reshape(y, (-1,)))

    @ft.jit
    def update(params, opt_state, x, y):
        loss, grads = ft.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return ft.optim.apply_updates(params, updates), opt_state, loss

    eval_loss = ft.jit(loss_fn)

    def step(state, batch):
        params, opt_state, loss = update(state["params"], state["opt_state"],
                                         ft.asarray(batch[0]), ft.asarray(batch[1]))
        return {"params": params, "opt_state": opt_state}, {"loss": loss}

    rounds = math.ceil(args.steps / args.eval_every) if args.steps > 0 else 0

    def batches(r):
        # a different offset and order each round, the same ones again on resume
        offset = (r * 37) % args.seq_len
        it = ft.data.lm_batches(train_ids[offset:], args.seq_len, args.batch_size,
                                ft.random.fold_in(data_key, r))
        n = min(args.eval_every, args.steps - r * args.eval_every)
        return _Take(it, n)

    def evaluate(state):
        nats = float(np.mean([float(eval_loss(state["params"], ft.asarray(x), ft.asarray(y)))
                              for x, y in valid_batches]))
        return {"valid loss": nats, "valid bits/char": nats / math.log(2)}

    wall, cpu = time.perf_counter(), time.process_time()
    state, history = fit(state, step, batches, epochs=rounds, start=start, evaluate=evaluate,
                         checkpoint=args.save, items=lambda x: x.size, unit="chars")
    print(f"training: {time.perf_counter() - wall:.0f} s wall, {time.process_time() - cpu:.0f} "
          f"s CPU (compilation included)")
    base = unigram_nats(train_ids, valid_ids, tok.vocab_size)
    final = evaluate(state)
    print(f"validation: {final['valid loss']:.4f} nats/char = {final['valid bits/char']:.3f} "
          f"bits/char (unigram baseline {base / math.log(2):.3f} bits/char)")
    if args.save:
        tok.save(os.path.splitext(args.save)[0] + ".json")
        print(f"checkpoint: {args.save} (tokenizer {os.path.splitext(args.save)[0]}.json)")
    if args.plot:
        plot_curves(args.plot, history, ["valid bits/char"])

    if args.generate > 0 and args.samples > 0:
        rows = sample(model, state["params"], prompt_ids, args, sample_key)
        for i, row in enumerate(rows):
            print(f"--- sample {i + 1} (temperature {args.temperature}, top-k {args.top_k})")
            print(args.prompt + tok.decode(row))
    return final


def sample(model, params, prompt_ids, args, key):
    """``args.samples`` continuations of the prompt, ``args.generate`` ids each, from the
    jitted decoding loop. The LSTM runs on in one call; the Transformer only knows
    ``--seq-len`` positions, so past them it starts again from the last half window."""
    ctx = np.tile(prompt_ids[None], (args.samples, 1))
    window = model.max_len if isinstance(model, TransformerLM) else None
    out = np.zeros((args.samples, 0), np.int32)
    while out.shape[1] < args.generate:
        if window is not None:
            ctx = ctx[:, -(window // 2):] if out.shape[1] else ctx[:, -(window - 1):]
            n = min(args.generate - out.shape[1], window - ctx.shape[1])
        else:
            n = args.generate
        key, k = ft.random.split(key)
        carry = model.decode_state(params, args.samples, ctx.shape[1] + n)
        new, _ = generate(model.step, params, carry, ft.asarray(ctx), k, n,
                          temperature=args.temperature, top_k=args.top_k)
        new = np.asarray(new)
        out = np.concatenate([out, new], axis=1)
        ctx = np.concatenate([ctx, new], axis=1)
    return out


class _Take:
    """The first ``n`` batches of a batch iterable (``len`` included)."""

    def __init__(self, it, n):
        self._it, self._n = it, min(n, len(it))

    def __len__(self):
        return self._n

    def __iter__(self):
        for i, b in enumerate(self._it):
            if i == self._n:
                return
            yield b


if __name__ == "__main__":
    main()
