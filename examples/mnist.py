"""Train an MLP or a CNN on MNIST / Fashion-MNIST with a jit-compiled step.

    python examples/mnist.py --model cnn                 # full data if present, else sample
    python examples/mnist.py --model mlp --dataset fashion --epochs 1
    python examples/mnist.py --save ckpt.safetensors     # then --resume ckpt.safetensors
    mpiexec -n 2 python examples/mnist.py --distributed  # data-parallel over MPI processes

Everything is a pure function: the model maps (params, images) to logits, the step maps
(params, opt_state, batch) to new ones and is compiled once by ``ft.jit``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import funtorch as ft
import funtorch.nn as nn
import funtorch.nn.functional as F


def make_model(kind):
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512),
                             nn.ReLU(), nn.Linear(512, 10))
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def make_optimizer(name, lr):
    if name == "sgd":
        return ft.optim.sgd(lr, momentum=0.9)
    if name == "adamw":
        return ft.optim.adamw(lr)
    return ft.optim.adam(lr)


def preprocess(images):
    """uint8 [N,28,28] -> float32 [N,1,28,28], normalised with MNIST's mean/std."""
    x = images.astype(np.float32) / 255.0
    return ((x - 0.1307) / 0.3081)[:, None, :, :]


def build_steps(model, optimizer, axis_name=None):
    """``axis_name``: the step runs on each process' part of the global batch, its
    gradients averaged over the processes (one bucketed allreduce)."""
    def loss_fn(params, x, y):
        logits = model(params, x)
        return F.cross_entropy(logits, y), logits

    def step(params, opt_state, x, y):
        (loss, logits), grads = ft.value_and_grad(loss_fn, has_aux=True)(params, x, y)
        correct = ft.sum(ft.argmax(logits, axis=1) == y)
        if axis_name is not None:
            # one allreduce: the gradients, loss and count share a float32 bucket
            grads, loss, correct = ft.distributed.pmean_tree(
                (grads, loss, correct.astype(np.float32)), axis_name)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = ft.optim.apply_updates(params, updates)
        return params, opt_state, loss, correct

    train_step = ft.jit(step if axis_name is None else ft.distributed.spmd(step, axis_name))

    @ft.jit
    def predict(params, x):
        return ft.argmax(model(params, x), axis=1)

    return train_step, predict


def evaluate(predict, params, images, labels, batch_size, device):
    preds = []
    for start in range(0, len(images), batch_size):
        xb = ft.device_put(preprocess(images[start:start + batch_size]), device) \
            if device != "cpu" else ft.asarray(preprocess(images[start:start + batch_size]))
        preds.append(np.asarray(predict(params, xb)))
    preds = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    return float((preds == labels).mean()) if len(labels) else float("nan"), preds


def confusion_matrix(labels, preds, k=10):
    m = np.zeros((k, k), np.int64)
    np.add.at(m, (labels, preds), 1)
    return m


def print_confusion(m):
    print("confusion matrix (rows: true label, columns: predicted)")
    print("      " + " ".join(f"{j:>5d}" for j in range(m.shape[1])))
    for i, row in enumerate(m):
        print(f"{i:>5d} " + " ".join(f"{v:>5d}" for v in row))


def plot_curves(path, history):
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
    a2.plot(range(1, len(history["test_acc"]) + 1), history["test_acc"], "o-", label="test")
    a2.plot(range(1, len(history["train_acc"]) + 1), history["train_acc"], "s-", label="train")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy")
    a2.legend()
    fig.tight_layout()
    fig.savefig(path)
    print(f"saved curves to {path}")


def progress(iterable, total, desc):
    try:
        from tqdm import tqdm
        return tqdm(iterable, total=total, desc=desc, unit="batch", leave=False,
                    disable=not sys.stderr.isatty() and os.environ.get("FT_PROGRESS") != "1")
    except ImportError:
        return iterable


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=["mlp", "cnn"], default="cnn")
    p.add_argument("--dataset", choices=["mnist", "fashion"], default="mnist")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default="adam")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--no-download", action="store_true")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default=None, help="checkpoint path (.safetensors)")
    p.add_argument("--resume", default=None, help="checkpoint to resume from")
    p.add_argument("--plot", default=None, help="write loss/accuracy curves to this PNG")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over the MPI processes (mpiexec -n N ...); "
                        "--batch-size is the global batch")
    args = p.parse_args(argv)
    rank, nproc = 0, 1
    if args.distributed:
        ft.distributed.initialize()
        rank, nproc = ft.distributed.process_index(), ft.distributed.process_count()
        if rank != 0:   # rank 0 alone prints, plots and writes checkpoints
            sys.stdout = open(os.devnull, "w")
            args.save = args.plot = None

    device = args.device
    if device.startswith("cuda") and not any(d.startswith("cuda") for d in ft.devices()):
        p.error("--device cuda: no CUDA device is available here (ft.devices() = "
                f"{ft.devices()}); run on a machine with an NVIDIA GPU or use --device cpu")

    name = "fashion_mnist" if args.dataset == "fashion" else "mnist"
    train_x, train_y, source = ft.data.load_dataset(name, "train", root=args.data_dir,
                                                    download=not args.no_download)
    test_x, test_y, _ = ft.data.load_dataset(name, "test", root=args.data_dir,
                                             download=not args.no_download)
    if args.limit:
        train_x, train_y = train_x[:args.limit], train_y[:args.limit]
    print(f"data: {source}: {len(train_x)} train / {len(test_x)} test images")

    model = make_model(args.model)
    print(model)
    optimizer = make_optimizer(args.optimizer, args.lr)
    key = ft.random.key(args.seed)
    init_key, data_key = ft.random.split(key)
    params = model.init(init_key)
    opt_state = optimizer.init(params)
    start_epoch = 0
    if args.resume:
        ckpt = ft.load(args.resume, like={"params": params, "opt_state": opt_state, "epoch": 0})
        params, opt_state, start_epoch = ckpt["params"], ckpt["opt_state"], ckpt["epoch"]
        print(f"resumed from {args.resume} at epoch {start_epoch}")
    if device != "cpu":
        params = ft.device_put(params, device)
        opt_state = ft.device_put(opt_state, device)
    n_params = sum(int(np.prod(v.shape)) for v in ft.tree.leaves(params))
    print(f"model: {args.model}, {n_params:,} parameters; optimizer: {args.optimizer} "
          f"lr={args.lr}; batch {args.batch_size}; device {device}")

    if nproc > 1:
        print(f"distributed: {nproc} processes, {args.batch_size // nproc} images each per "
              "step")
    train_step, predict = build_steps(model, optimizer, "dp" if args.distributed else None)
    history = {"step": [], "loss": [], "train_acc": [], "test_acc": []}
    step = 0
    for epoch in range(start_epoch, args.epochs):
        it = ft.data.batches(train_x, train_y, batch_size=args.batch_size,
                             key=ft.random.fold_in(data_key, epoch), shard=(rank, nproc))
        t0, seen, correct, run_loss = time.perf_counter(), 0, 0, None
        bar = progress(it, len(it), f"epoch {epoch + 1}/{args.epochs}")
        for xb, yb in bar:
            x = ft.asarray(preprocess(np.asarray(xb)))
            y = ft.asarray(np.asarray(yb))
            if device != "cpu":
                x, y = ft.device_put(x, device), ft.device_put(y, device)
            params, opt_state, loss, c = train_step(params, opt_state, x, y)
            loss = float(loss)
            run_loss = loss if run_loss is None else 0.95 * run_loss + 0.05 * loss
            seen += len(xb) * nproc
            correct += round(float(c) * nproc)
            step += 1
            history["step"].append(step)
            history["loss"].append(loss)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{run_loss:.3f}",
                                img_s=f"{seen / (time.perf_counter() - t0):.0f}")
        dt = time.perf_counter() - t0
        if rank != 0:
            continue
        test_acc, preds = evaluate(predict, params, test_x, test_y, 1000, device)
        history["train_acc"].append(correct / max(seen, 1))
        history["test_acc"].append(test_acc)
        print(f"epoch {epoch + 1}: loss {run_loss:.4f}, train acc {correct / max(seen, 1):.4f}, "
              f"test acc {test_acc:.4f}, {seen / dt:.0f} images/s ({dt:.1f} s)")
        if args.save:
            ft.save(args.save, {"params": params, "opt_state": opt_state, "epoch": epoch + 1})
    if args.epochs > start_epoch and rank == 0:
        print_confusion(confusion_matrix(test_y, preds))
        print(f"final test accuracy: {history['test_acc'][-1]:.4f}")
    if args.save:
        print(f"checkpoint: {args.save}")
    if args.plot:
        plot_curves(args.plot, history)
    return history


if __name__ == "__main__":
    main()
