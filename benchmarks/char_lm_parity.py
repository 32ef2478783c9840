"""Parity: the character LSTM of examples/char_lm.py trained by funtorch and by PyTorch.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/char_lm_parity.py \\
        [--steps 300 --hidden 128 --batch-size 32 --seq-len 64]

Both sides start from the same weights (funtorch's initialisation, copied into PyTorch by
name: the layers share PyTorch's parameter names), see the same batches in the same order
(``ft.data.lm_batches`` with the example's keys) and use Adam with global-norm clipping at
1.0. Reports the validation loss (nats/char) of each every ``--eval-every`` steps and the
relative difference at the end (the issue's bar: within 2%).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))

import char_lm as ex  # noqa: E402  (examples/char_lm.py)

import funtorch as ft  # noqa: E402
import funtorch.nn.functional as F  # noqa: E402


def data(args):
    corpus = ft.data.fortunes(args.data_dir)
    split_key, init_key, data_key, _ = ft.random.split(ft.random.key(args.seed), 4)
    tr, va, _ = ft.data.split_records(len(corpus.texts), split_key, valid=0.05, test=0)
    train = ex.SEPARATOR.join(corpus.texts[i] for i in sorted(tr))
    valid = ex.SEPARATOR.join(corpus.texts[i] for i in sorted(va))
    tok = ft.data.CharTokenizer.fit(train)
    train_ids, valid_ids = tok.encode(train), tok.encode(valid, errors="replace")
    valid_batches = list(ft.data.lm_batches(valid_ids, args.seq_len, args.batch_size))[:10]

    def batches():
        step, r = 0, 0
        while True:
            offset = (r * 37) % args.seq_len
            for b in ft.data.lm_batches(train_ids[offset:], args.seq_len, args.batch_size,
                                        ft.random.fold_in(data_key, r)):
                yield b
                step += 1
                if step % args.eval_every == 0:
                    break
            r += 1

    return corpus.source, tok, init_key, batches, valid_batches


def funtorch_side(model, params, batches, valid_batches, args):
    opt = ft.optim.chain(ft.optim.clip_by_global_norm(1.0), ft.optim.adam(args.lr))
    opt_state = opt.init(params)

    def loss_fn(p, x, y):
        logits = model(p, x)
        return F.cross_entropy(ft.reshape(logits, (-1, logits.shape[-1])), ft.reshape(y, (-1,)))

    @ft.jit
    def update(p, s, x, y):
        loss, g = ft.value_and_grad(loss_fn)(p, x, y)
        u, s = opt.update(g, s, p)
        return ft.optim.apply_updates(p, u), s, loss

    evaluate = ft.jit(loss_fn)
    curve, it = [], batches()
    t = time.process_time()
    for step in range(1, args.steps + 1):
        x, y = next(it)
        params, opt_state, _ = update(params, opt_state, ft.asarray(x), ft.asarray(y))
        if step % args.eval_every == 0:
            curve.append(float(np.mean([float(evaluate(params, ft.asarray(x), ft.asarray(y)))
                                        for x, y in valid_batches])))
    return curve, time.process_time() - t


def torch_side(model, params, vocab, batches, valid_batches, args):
    import torch

    torch.set_num_threads(1)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(vocab, args.embed)
            self.lstm = torch.nn.LSTM(args.embed, args.hidden, batch_first=True)
            self.head = torch.nn.Linear(args.hidden, vocab)

        def forward(self, x):
            return self.head(self.lstm(self.embed(x))[0])

    net = Net()
    state = {k: torch.from_numpy(np.array(v)) for k, v in model.state_dict(params).items()}
    net.load_state_dict(state)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)

    def loss_of(x, y):
        logits = net(torch.from_numpy(np.asarray(x, np.int64)))
        return torch.nn.functional.cross_entropy(logits.reshape(-1, vocab),
                                                 torch.from_numpy(np.asarray(y, np.int64))
                                                 .reshape(-1))

    curve, it = [], batches()
    t = time.process_time()
    for step in range(1, args.steps + 1):
        x, y = next(it)
        opt.zero_grad()
        loss_of(x, y).backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        if step % args.eval_every == 0:
            with torch.no_grad():
                curve.append(float(np.mean([float(loss_of(x, y)) for x, y in valid_batches])))
    return curve, time.process_time() - t


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    source, tok, init_key, batches, valid_batches = data(args)
    print(f"data: {source}; vocabulary {tok.vocab_size}; {args.steps} steps of "
          f"{args.batch_size} x {args.seq_len}, LSTM {args.embed}->{args.hidden}, "
          f"Adam {args.lr}, clip 1.0")
    model = ex.LSTMLM(tok.vocab_size, args.embed, args.hidden, 1)
    params = model.init(init_key)
    ft_curve, ft_cpu = funtorch_side(model, params, batches, valid_batches, args)
    th_curve, th_cpu = torch_side(model, params, tok.vocab_size, batches, valid_batches, args)
    print("| step | funtorch valid loss | pytorch valid loss | difference |")
    print("|---|---|---|---|")
    for i, (a, b) in enumerate(zip(ft_curve, th_curve)):
        print(f"| {(i + 1) * args.eval_every} | {a:.4f} ({a / math.log(2):.3f} bits) | "
              f"{b:.4f} ({b / math.log(2):.3f} bits) | {100 * (a - b) / b:+.2f}% |")
    print(f"CPU time: funtorch {ft_cpu:.0f} s, pytorch {th_cpu:.0f} s (compilation included)")


if __name__ == "__main__":
    main()
