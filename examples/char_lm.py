"""Train a character language model on the fortune cookies, then generate text from it.

    python examples/char_lm.py --model lstm             # full corpus if installed (make data)
    python examples/char_lm.py --model transformer --steps 600
    python examples/char_lm.py --cpu-minutes 10         # a longer CPU-time budget
    python examples/char_lm.py --save lm.safetensors    # then --resume lm.safetensors
    python examples/char_lm.py --resume lm.safetensors --steps 0 --prompt "Love is"

Records are split into training and validation fortunes (by record, with a key); the
character vocabulary comes from the training text. Training reads the text as
``--batch-size`` contiguous streams, ``--seq-len`` characters at a time (truncated
backpropagation through time: the LSTM's state carries over from one batch to the next,
so it sees context longer than a window). By default it trains until the process has used
``--cpu-minutes`` of CPU time (start-up and compilation included) and the learning rate
follows that budget: a linear warm-up over the first ``--warmup`` of it, then half a
cosine down to ``--min-lr`` times ``--lr``; ``--steps N`` fixes the number of steps
instead (the same schedule over N steps, reproducible on any machine). Every
``--eval-every`` steps the loss on the first ``--eval-batches`` batches of the validation
streams is reported, and at the end the loss on all of the validation text, in nats and
bits per character next to a unigram baseline (the training text's character
frequencies). Samples come from ``ft.nn.generation.generate``: the prompt and the sampled
characters run through one jit-compiled decoding loop (the LSTM's state, or the
Transformer's KV cache), with ``--temperature`` and ``--top-k``.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numba
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

    def __call__(self, params, tokens, carry=None):
        """``(logits, carry)``: ``carry`` is the LSTM's ``(h, c)`` after the last token,
        to start the next window of the same streams from (zeros when None)."""
        out, carry = self.lstm(params["lstm"], self.embed(params["embed"], tokens), carry)
        return self.head(params["head"], out), carry

    def initial_carry(self, batch):
        return rnn_state(self.lstm, batch)

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

    def __call__(self, params, tokens, carry=None):
        """``(logits, None)``: each window stands alone (no state across windows)."""
        T = tokens.shape[1]
        x = self.embed(params["embed"], tokens) + params["pos"]["weight"][:T]
        mask = nn.Transformer.generate_square_subsequent_mask(T)
        x = self.encoder(params["encoder"], x, mask=mask, is_causal=True)
        return self.head(params["head"], x), None

    def initial_carry(self, batch):
        return None

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


class Streams:
    """Batches for truncated backpropagation through time: ``ids`` cut into ``batch_size``
    contiguous rows, read ``seq_len`` tokens at a time, so row ``b`` of batch ``i + 1``
    continues row ``b`` of batch ``i``. ``batch(g)`` is the ``g``-th batch of an endless
    sequence of passes over the text; each pass starts at an offset below ``seq_len`` drawn
    from ``key`` (pass 0 at offset 0 without one), so windows fall in new places. Returns
    ``(inputs, targets, fresh)``, ``fresh`` True at a pass's first batch (the state must
    start from zeros: the row jumps to another place in the text)."""

    def __init__(self, ids, seq_len, batch_size, key=None):
        self.ids, self.seq_len, self.batch_size, self.key = ids, seq_len, batch_size, key
        self.row = (len(ids) - 1 - (seq_len - 1 if key is not None else 0)) // batch_size
        self.per_pass = self.row // seq_len
        if self.per_pass < 1:
            raise ValueError(f"{len(ids)} tokens make no batch of {batch_size} streams x "
                             f"{seq_len} tokens (+1 for the shifted target); use a smaller "
                             f"--batch-size or --seq-len, or more text")

    def batch(self, g):
        rnd, i = divmod(g, self.per_pass)
        off = 0 if self.key is None else int(ft.random.randint(
            ft.random.fold_in(self.key, rnd), (), 0, self.seq_len))
        n, T = self.row * self.batch_size, self.seq_len
        x = self.ids[off:off + n].reshape(self.batch_size, self.row)
        y = self.ids[off + 1:off + 1 + n].reshape(self.batch_size, self.row)
        return x[:, i * T:(i + 1) * T], y[:, i * T:(i + 1) * T], i == 0


def learning_rate(progress, lr, warmup, min_lr):
    """The learning rate ``progress`` (0 to 1) of the way through training: a linear
    warm-up from 0 over the first ``warmup``, then half a cosine from ``lr`` down to
    ``min_lr * lr``."""
    if progress < warmup:
        return lr * progress / warmup
    t = min(1.0, (progress - warmup) / (1.0 - warmup))
    return lr * (min_lr + (1.0 - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t)))


def unigram_nats(train_ids, valid_ids, vocab):
    counts = np.bincount(train_ids, minlength=vocab) + 1.0  # add-one: no zero probabilities
    logp = np.log(counts / counts.sum())
    return float(-logp[valid_ids].mean())


def parser():
    """The command line (benchmarks/char_lm_parity.py reads its defaults from it)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=["lstm", "transformer"], default="lstm")
    p.add_argument("--data-dir", default=None, help="fortunes folder (default: Debian's)")
    p.add_argument("--categories", nargs="*", default=None, help="fortune files to use")
    p.add_argument("--steps", type=int, default=None,
                   help="train this many steps (default: until --cpu-minutes)")
    p.add_argument("--cpu-minutes", type=float, default=4.5,
                   help="without --steps: train until the process has used this much CPU "
                        "time (start-up and compilation included), then evaluate")
    p.add_argument("--threads", type=int, default=1,
                   help="threads of funtorch's compiled CPU kernels (default 1: the budget is "
                        "CPU time, and at these sizes one thread trains the most characters "
                        "per CPU second; 2 threads cost ~1.8x the CPU time per step)")
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--eval-batches", type=int, default=10)
    p.add_argument("--seq-len", type=int, default=None,
                   help="characters per window (default: LSTM 32, Transformer 64)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="streams per batch (default: LSTM 32, Transformer 64)")
    p.add_argument("--lr", type=float, default=None,
                   help="peak learning rate of Adam (default: LSTM 1e-2, Transformer 4e-3)")
    p.add_argument("--warmup", type=float, default=0.02,
                   help="fraction of training with a linear learning-rate warm-up")
    p.add_argument("--min-lr", type=float, default=0.05,
                   help="final learning rate as a fraction of --lr (cosine decay)")
    p.add_argument("--embed", type=int, default=32, help="LSTM: embedding size")
    p.add_argument("--hidden", type=int, default=192, help="LSTM: hidden size")
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
    return p


# the defaults that depend on --model: chosen for the most learning per CPU-second
# (BENCHMARKS.md: many short updates on short windows, the LSTM state carried across them)
MODEL_DEFAULTS = {"lstm": {"seq_len": 32, "batch_size": 32, "lr": 1e-2},
                  "transformer": {"seq_len": 64, "batch_size": 64, "lr": 4e-3}}


def parse_args(argv=None):
    """``(parser, args)`` with the per-model defaults filled in."""
    p = parser()
    args = p.parse_args(argv)
    for name, value in MODEL_DEFAULTS[args.model].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return p, args


def main(argv=None):
    p, args = parse_args(argv)
    if not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:
        p.error(f"--threads must be between 1 and {numba.config.NUMBA_NUM_THREADS}")
    numba.set_num_threads(args.threads)

    try:
        corpus = ft.data.fortunes(args.data_dir, args.categories)
    except ValueError as e:  # an empty corpus, unknown categories
        p.error(str(e))
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
    if args.steps is not None and args.steps < 0:
        p.error(f"--steps must be >= 0, got {args.steps}")
    if args.cpu_minutes <= 0 or not 0 <= args.warmup < 1 or not 0 <= args.min_lr <= 1:
        p.error("--cpu-minutes must be positive, --warmup in [0, 1), --min-lr in [0, 1]")
    try:
        train_streams = Streams(train_ids, args.seq_len, args.batch_size, data_key)
        valid_streams = Streams(valid_ids, args.seq_len, min(
            args.batch_size, max(1, (len(valid_ids) - 1) // args.seq_len)))
    except ValueError as e:
        p.error(f"the text is too short: {e}")

    model = make_model(args, tok.vocab_size)
    print(model)
    optimizer = ft.optim.chain(ft.optim.clip_by_global_norm(1.0), ft.optim.scale_by_adam())
    params = model.init(init_key)
    # progress: the fraction of the step or CPU budget spent, so a resumed run goes on with
    # the same learning-rate schedule
    state = {"params": params, "opt_state": optimizer.init(params),
             "progress": np.zeros((), np.float32)}
    start = 0
    if args.resume:
        state, start = resume_from(args.resume, state)
    n_params = sum(int(np.prod(v.shape)) for v in ft.tree.leaves(state["params"]))
    budget = (f"{args.steps} steps" if args.steps is not None else
              f"until {args.cpu_minutes:g} CPU-minutes")
    print(f"model: {args.model}, {n_params:,} parameters; {budget} of {args.batch_size} "
          f"streams x {args.seq_len} characters; Adam, lr {args.lr:g} (warm-up "
          f"{args.warmup:g}, cosine to {args.min_lr:g}x), clip 1.0")

    def loss_fn(params, x, y, carry):
        logits, carry = model(params, x, carry)
        loss = F.cross_entropy(ft.reshape(logits, (-1, logits.shape[-1])), ft.reshape(y, (-1,)))
        return loss, carry

    @ft.jit
    def update(params, opt_state, x, y, carry, lr):
        (loss, carry), grads = ft.value_and_grad(loss_fn, has_aux=True)(params, x, y, carry)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        updates = ft.tree.map(lambda u: -lr * u, updates)
        return ft.optim.apply_updates(params, updates), opt_state, loss, carry

    eval_loss = ft.jit(loss_fn)
    cpu0 = time.process_time()
    progress0 = float(state["progress"]) if start else cpu0 / (60 * args.cpu_minutes)
    run = {"step": start * args.eval_every, "carry": None}

    def progress():
        if args.steps is not None:
            return run["step"] / max(args.steps, 1)
        return progress0 + (time.process_time() - cpu0) / (60 * args.cpu_minutes)

    def step(state, batch):
        x, y, fresh = batch
        if fresh or run["carry"] is None:  # a new pass over the text (or a resumed run)
            run["carry"] = model.initial_carry(args.batch_size)
        lr = learning_rate(progress(), args.lr, args.warmup, args.min_lr)
        params, opt_state, loss, run["carry"] = update(
            state["params"], state["opt_state"], ft.asarray(x), ft.asarray(y), run["carry"],
            ft.asarray(np.float32(lr)))
        run["step"] += 1
        return {"params": params, "opt_state": opt_state,
                "progress": np.asarray(progress(), np.float32)}, {"loss": loss}

    if args.steps is not None:
        rounds = math.ceil(args.steps / args.eval_every) if args.steps > 0 else 0
        until = None
    else:
        rounds, until = None, lambda state: progress() >= 1.0

    def batches(r):
        n = args.eval_every
        if args.steps is not None:
            n = min(n, args.steps - r * args.eval_every)
        return _Batches(train_streams, r * args.eval_every, n)

    def evaluate(state, n=args.eval_batches):
        carry, total = model.initial_carry(valid_streams.batch_size), 0.0
        n = min(n, valid_streams.per_pass)
        for i in range(n):
            x, y, _ = valid_streams.batch(i)
            loss, carry = eval_loss(state["params"], ft.asarray(x), ft.asarray(y), carry)
            total += float(loss)
        nats = total / n
        return {"valid loss": nats, "valid bits/char": nats / math.log(2)}

    wall = time.perf_counter()
    state, history = fit(state, step, batches, epochs=rounds, start=start, evaluate=evaluate,
                         checkpoint=args.save, items=lambda x: x.size, unit="chars",
                         until=until)
    print(f"training: {run['step']} steps, {time.perf_counter() - wall:.0f} s wall, "
          f"{time.process_time() - cpu0:.0f} s CPU (compilation included)")
    base = unigram_nats(train_ids, valid_ids, tok.vocab_size)
    final = evaluate(state, valid_streams.per_pass)
    n_valid = valid_streams.per_pass * valid_streams.batch_size * args.seq_len
    print(f"validation ({n_valid:,} characters): {final['valid loss']:.4f} nats/char = "
          f"{final['valid bits/char']:.3f} bits/char (unigram baseline "
          f"{base / math.log(2):.3f} bits/char); process CPU time {time.process_time():.0f} s")
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


class _Batches:
    """Batches ``first .. first + n - 1`` of a :class:`Streams` (``len`` included)."""

    def __init__(self, streams, first, n):
        self._streams, self._first, self._n = streams, first, max(n, 0)

    def __len__(self):
        return self._n

    def __iter__(self):
        for g in range(self._first, self._first + self._n):
            yield self._streams.batch(g)


if __name__ == "__main__":
    main()
