"""The training loop the examples share: epochs of jitted steps with a tqdm progress bar,
an evaluation after each epoch, a checkpoint per epoch and resuming from one, and curves.

    state, history = fit({"params": params, "opt_state": opt_state}, step, batches,
                         epochs=3, evaluate=evaluate, checkpoint="ckpt.safetensors")

``step(state, batch) -> (state, metrics)`` is the model's compiled update; ``metrics`` maps
names to scalars and has a ``"loss"``. ``batches(epoch)`` gives the epoch's batches (derive
any shuffling key from ``epoch``, so a resumed run sees the same data). ``evaluate(state)``
returns a dict of held-out metrics. The checkpoint is ``{**state, "epoch": n}`` written with
``ft.save`` after every epoch; ``resume=`` reads it back with ``ft.load``.

It lives beside the examples, not in the library: it is one way to write a loop (the
library's own API stays pure functions), and it needs tqdm and matplotlib.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

import funtorch as ft


def progress(iterable, total, desc, unit="batch"):
    """A tqdm bar on a terminal (or with FT_PROGRESS=1), else the iterable itself."""
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=False,
                disable=not sys.stderr.isatty() and os.environ.get("FT_PROGRESS") != "1")


def resume_from(path, state):
    """``(state, epoch)`` read from the checkpoint at ``path``, shaped like ``state``."""
    ckpt = ft.load(path, like={**state, "epoch": 0})
    epoch = ckpt.pop("epoch")
    print(f"resumed from {path} at epoch {epoch}")
    return ckpt, epoch


def fit(state, step, batches, *, epochs, start=0, evaluate=None, checkpoint=None,
        resume=None, items=len, unit="examples", log=print, until=None):
    """Train ``state`` for ``epochs`` epochs; returns ``(state, history)``.

    Epochs run from ``start`` (or the checkpoint's epoch with ``resume``) to ``epochs``.
    ``until(state)``, if given, is asked after every step: when it returns True the epoch
    ends there (evaluated and checkpointed as usual) and training stops; with it,
    ``epochs=None`` means no limit but ``until`` (a time budget, say).
    ``history`` has ``"step"`` and ``"loss"`` per step and ``"epochs"``, one dict per epoch
    with the mean training metrics (``"train loss"``, ...), the ``evaluate`` metrics and
    ``"seconds"``. ``items(batch)`` counts a batch's examples for the throughput
    (``len`` of the batch's first array by default).
    """
    if resume:
        state, start = resume_from(resume, state)
    history = {"step": [], "loss": [], "epochs": []}
    step_no, epoch, stop = 0, start, False
    while not stop and (epochs is None or epoch < epochs):
        it = batches(epoch)
        bar = progress(it, len(it), f"epoch {epoch + 1}" + (f"/{epochs}" if epochs else ""))
        t0, cpu0, seen, sums, count, smooth = time.perf_counter(), time.process_time(), 0, {}, \
            0, None
        for batch in bar:
            state, metrics = step(state, batch)
            metrics = {k: float(v) for k, v in metrics.items()}
            loss = metrics["loss"]
            smooth = loss if smooth is None else 0.95 * smooth + 0.05 * loss
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
            seen += items(batch[0])
            step_no += 1
            history["step"].append(step_no)
            history["loss"].append(loss)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{smooth:.3f}",
                                rate=f"{seen / (time.perf_counter() - t0):.0f}/s")
            if until is not None and until(state):
                stop = True
                break
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        record = {f"train {k}": v / max(count, 1) for k, v in sums.items()}
        if evaluate is not None:
            record.update(evaluate(state))
        record["seconds"] = seconds
        history["epochs"].append(record)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in record.items() if k != "seconds")
        log(f"epoch {epoch + 1}: {shown}, {seen / seconds:.0f} {unit}/s ({seconds:.1f} s, "
            f"{cpu:.1f} s CPU)")
        if checkpoint:
            ft.save(checkpoint, {**state, "epoch": epoch + 1})
        epoch += 1
    return state, history


def confusion_matrix(labels, preds, k):
    """``m[i, j]``: how many examples of class ``i`` were predicted as ``j``."""
    m = np.zeros((k, k), np.int64)
    np.add.at(m, (np.asarray(labels), np.asarray(preds)), 1)
    return m


def print_confusion(m, names=None):
    names = [str(j) for j in range(m.shape[1])] if names is None else list(names)
    w = max(5, *(len(n) for n in names))
    print("confusion matrix (rows: true label, columns: predicted)")
    print(" " * (w + 1) + " ".join(f"{n[:w]:>{w}}" for n in names))
    for name, row in zip(names, m):
        print(f"{name[:w]:>{w}} " + " ".join(f"{v:>{w}d}" for v in row))


def print_precision_recall(m, names):
    """Per-class precision and recall from a confusion matrix, and their macro averages."""
    tp = np.diag(m).astype(float)
    precision = tp / np.maximum(m.sum(0), 1)
    recall = tp / np.maximum(m.sum(1), 1)
    w = max(9, *(len(n) for n in names))
    print(f"{'class':>{w}} precision recall support")
    for n, pr, rc, sup in zip(names, precision, recall, m.sum(1)):
        print(f"{n:>{w}} {pr:9.3f} {rc:6.3f} {sup:7d}")
    print(f"{'macro avg':>{w}} {precision.mean():9.3f} {recall.mean():6.3f} {m.sum():7d}")


def plot_curves(path, history, metrics=()):
    """Training loss per step and the named per-epoch ``metrics`` to a PNG at ``path``."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed; skipping --plot (pip install matplotlib)")
        return
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(history["step"], history["loss"])
    a1.set_xlabel("step")
    a1.set_ylabel("training loss")
    epochs = range(1, len(history["epochs"]) + 1)
    for name in metrics:
        a2.plot(epochs, [r.get(name, float("nan")) for r in history["epochs"]], "o-",
                label=name)
    a2.set_xlabel("epoch")
    a2.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"saved curves to {path}")
