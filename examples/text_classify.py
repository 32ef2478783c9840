"""Classify a fortune's category from its text: an LSTM or Transformer encoder over words,
against a bag-of-words logistic regression (both trained with funtorch).

    python examples/text_classify.py                          # 6 categories of the full corpus
    python examples/text_classify.py --model transformer
    python examples/text_classify.py --categories computers law love science sports startrek

Fortunes are split by record (80/10/10, with a key). Words (lower-cased runs of letters,
digits and apostrophes, and single punctuation marks) seen at least twice in the training
split form the vocabulary; each text is its first ``--max-len`` word ids, padded with 0. The
encoder masks the padding: the LSTM gets each text's length (``lengths=``, what
``pack_padded_sequence`` does in PyTorch) and the Transformer a key padding mask and a mean
over real positions. Reports test accuracy, per-class precision/recall and the confusion
matrix for both models. Without the full corpus (``make data``) the bundled sample's three
categories are used.
"""

from __future__ import annotations

import argparse
import collections
import re

import numpy as np
from training import (
    confusion_matrix,
    fit,
    plot_curves,
    print_confusion,
    print_precision_recall,
    resume_from,
)

import funtorch as ft
import funtorch.nn as nn
import funtorch.nn.functional as F

CATEGORIES = ["computers", "food", "law", "love", "science", "startrek"]
PAD, UNK = 0, 1
WORD = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")


def words(text):
    return WORD.findall(text.lower())


def build_vocab(texts, min_count, max_words):
    counts = collections.Counter(w for t in texts for w in words(t))
    kept = [w for w, n in counts.most_common(max_words) if n >= min_count]
    return {w: i + 2 for i, w in enumerate(kept)}  # 0 <pad>, 1 <unk>


def encode(texts, vocab, max_len):
    ids = np.zeros((len(texts), max_len), np.int32)
    lengths = np.zeros(len(texts), np.int32)
    for i, t in enumerate(texts):
        seq = [vocab.get(w, UNK) for w in words(t)][:max_len] or [UNK]
        ids[i, :len(seq)] = seq
        lengths[i] = len(seq)
    return ids, lengths


class LSTMClassifier(nn.Module):
    def __init__(self, vocab, embed, hidden, classes):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, classes)

    def __call__(self, params, ids, lengths):
        _, (h, _) = self.lstm(params["lstm"], self.embed(params["embed"], ids), lengths=lengths)
        return self.head(params["head"], ft.concatenate([h[0], h[1]], axis=-1))


class TransformerClassifier(nn.Module):
    def __init__(self, vocab, d_model, heads, layers, classes, max_len):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model, padding_idx=PAD)
        self.pos = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model))
        self.head = nn.Linear(d_model, classes)

    def __call__(self, params, ids, lengths):
        T = ids.shape[1]
        x = self.embed(params["embed"], ids) + params["pos"]["weight"][:T]
        real = ft.arange(T)[None, :] < lengths[:, None]  # [B, T]
        x = self.encoder(params["encoder"], x, src_key_padding_mask=~real)
        w = real.astype(x.dtype)[:, :, None]
        pooled = ft.sum(x * w, axis=1) / ft.sum(w, axis=1)
        return self.head(params["head"], pooled)


def bag_of_words(ids, vocab_size):
    """log(1 + count) of each word id per text ([N, V]; padding not counted)."""
    x = np.zeros((len(ids), vocab_size), np.float32)
    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    np.add.at(x, (rows, ids.ravel()), 1.0)
    x[:, PAD] = 0.0
    return np.log1p(x)


def train_logistic_regression(x, y, classes, steps, lr, weight_decay):
    """Full-batch AdamW on a linear softmax classifier; returns a predict function."""
    model = nn.Linear(x.shape[1], classes)
    opt = ft.optim.adamw(lr, weight_decay=weight_decay)
    params = model.init(ft.random.key(0))
    state = opt.init(params)
    xa, ya = ft.asarray(x), ft.asarray(y)

    @ft.jit
    def step(params, state):
        loss, g = ft.value_and_grad(lambda p: F.cross_entropy(model(p, xa), ya))(params)
        u, state = opt.update(g, state, params)
        return ft.optim.apply_updates(params, u), state, loss

    for _ in range(steps):
        params, state, loss = step(params, state)
    predict = ft.jit(lambda p, x: ft.argmax(model(p, x), axis=1))
    return lambda x: np.asarray(predict(params, ft.asarray(x))), float(loss)


def report(title, labels, preds, names):
    m = confusion_matrix(labels, preds, len(names))
    print(f"== {title}: test accuracy {np.mean(labels == preds):.4f}")
    print_precision_recall(m, names)
    print_confusion(m, names)
    return float(np.mean(labels == preds))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=["lstm", "transformer"], default="lstm")
    p.add_argument("--data-dir", default=None, help="fortunes folder (default: Debian's)")
    p.add_argument("--categories", nargs="+", default=None,
                   help=f"fortune files to tell apart (default: {' '.join(CATEGORIES)})")
    p.add_argument("--max-len", type=int, default=64, help="words per text")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--embed", type=int, default=64)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2, help="Transformer layers")
    p.add_argument("--heads", type=int, default=4, help="Transformer heads")
    p.add_argument("--baseline-steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default=None, help="checkpoint path (.safetensors)")
    p.add_argument("--resume", default=None, help="checkpoint to resume from")
    p.add_argument("--plot", default=None, help="write loss/accuracy curves to this PNG")
    args = p.parse_args(argv)

    corpus = ft.data.fortunes(args.data_dir)
    categories = args.categories
    if categories is None:
        categories = CATEGORIES if set(CATEGORIES) <= set(corpus.categories) \
            else list(corpus.categories)
    if categories != list(corpus.categories):
        try:
            corpus = ft.data.fortunes(args.data_dir, categories)
        except ValueError as e:
            p.error(str(e))
    names = list(corpus.categories)
    if len(names) < 2:
        p.error("--categories: name at least two categories to tell apart")
    print(f"data: {corpus.source}")
    print("categories: " + ", ".join(f"{n} ({c})" for n, c in
                                     zip(names, np.bincount(corpus.labels, minlength=len(names)))))

    split_key, init_key, data_key = ft.random.split(ft.random.key(args.seed), 3)
    parts = ft.data.split_records(len(corpus.texts), split_key, valid=0.1, test=0.1)
    texts = [[corpus.texts[i] for i in idx] for idx in parts]
    labels = [corpus.labels[idx] for idx in parts]
    vocab = build_vocab(texts[0], min_count=2, max_words=20000)
    V = len(vocab) + 2
    (tr_x, tr_n), (va_x, va_n), (te_x, te_n) = (encode(t, vocab, args.max_len) for t in texts)
    print(f"records: {len(tr_x)} train / {len(va_x)} validation / {len(te_x)} test; "
          f"vocabulary {V} words; up to {args.max_len} words per text")

    # the baseline: bag-of-words logistic regression, weight decay picked on validation
    bow = [bag_of_words(x, V) for x in (tr_x, va_x, te_x)]
    best = None
    for wd in (1e-4, 1e-2, 1e-1):
        predict, _ = train_logistic_regression(bow[0], labels[0], len(names),
                                               args.baseline_steps, 1e-2, wd)
        acc = float(np.mean(predict(bow[1]) == labels[1]))
        if best is None or acc > best[0]:
            best = (acc, wd, predict)
    print(f"baseline: bag-of-words logistic regression, weight decay {best[1]} (validation "
          f"accuracy {best[0]:.4f})")
    baseline_preds = best[2](bow[2])

    if args.model == "lstm":
        model = LSTMClassifier(V, args.embed, args.hidden, len(names))
    else:
        model = TransformerClassifier(V, args.embed, args.heads, args.layers, len(names),
                                      args.max_len)
    print(model)
    optimizer = ft.optim.chain(ft.optim.clip_by_global_norm(1.0), ft.optim.adam(args.lr))
    params = model.init(init_key)
    state, start = {"params": params, "opt_state": optimizer.init(params)}, 0
    if args.resume:
        state, start = resume_from(args.resume, state)

    def loss_fn(params, x, n, y):
        logits = model(params, x, n)
        return F.cross_entropy(logits, y), logits

    @ft.jit
    def update(params, opt_state, x, n, y):
        (loss, logits), grads = ft.value_and_grad(loss_fn, has_aux=True)(params, x, n, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        acc = ft.mean((ft.argmax(logits, axis=1) == y).astype(ft.float32))
        return ft.optim.apply_updates(params, updates), opt_state, loss, acc

    @ft.jit
    def predict(params, x, n):
        return ft.argmax(model(params, x, n), axis=1)

    def predict_all(params, x, n, batch=256):
        return np.concatenate([np.asarray(predict(params, ft.asarray(x[i:i + batch]),
                                                  ft.asarray(n[i:i + batch])))
                               for i in range(0, len(x), batch)])

    def step(state, batch):
        x, n, y = (ft.asarray(b) for b in batch)
        params, opt_state, loss, acc = update(state["params"], state["opt_state"], x, n, y)
        return {"params": params, "opt_state": opt_state}, {"loss": loss, "acc": acc}

    def batches(epoch):
        return ft.data.batches(tr_x, tr_n, labels[0], batch_size=args.batch_size,
                               key=ft.random.fold_in(data_key, epoch))

    def evaluate(state):
        return {"valid acc": float(np.mean(predict_all(state["params"], va_x, va_n)
                                           == labels[1]))}

    state, history = fit(state, step, batches, epochs=args.epochs, start=start,
                         evaluate=evaluate, checkpoint=args.save, unit="texts")
    preds = predict_all(state["params"], te_x, te_n)
    acc = report(f"{args.model} encoder", labels[2], preds, names)
    base = report("bag-of-words logistic regression", labels[2], baseline_preds, names)
    print(f"test accuracy: {args.model} {acc:.4f}, bag-of-words baseline {base:.4f}, "
          f"majority class {np.mean(labels[2] == np.bincount(labels[0]).argmax()):.4f}")
    if args.save:
        print(f"checkpoint: {args.save}")
    if args.plot:
        plot_curves(args.plot, history, ["train acc", "valid acc"])
    return {"model": acc, "baseline": base}


if __name__ == "__main__":
    main()
