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

import numpy as np
from training import confusion_matrix, fit, plot_curves, print_confusion, resume_from

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
    gradients (and loss and count) averaged over the processes in one allreduce."""
    def loss_fn(params, x, y):
        logits = model(params, x)
        return F.cross_entropy(logits, y), logits

    def step(params, opt_state, x, y):
        (loss, logits), grads = ft.value_and_grad(loss_fn, has_aux=True)(params, x, y)
        correct = ft.sum(ft.argmax(logits, axis=1) == y)
        if axis_name is not None:   # one float32 bucket: gradients, loss and count
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


def to_device(x, device):
    return ft.asarray(x) if device == "cpu" else ft.device_put(x, device)


def evaluate(predict, params, images, labels, batch_size, device):
    preds = []
    for start in range(0, len(images), batch_size):
        xb = to_device(preprocess(images[start:start + batch_size]), device)
        preds.append(np.asarray(predict(params, xb)))
    preds = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    return float((preds == labels).mean()) if len(labels) else float("nan"), preds


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
        if rank != 0:   # rank 0 alone prints, evaluates, plots and writes checkpoints
            sys.stdout = open(os.devnull, "w")
            args.save = args.plot = None

    device = args.device
    if device.startswith("cuda") and "cuda" not in ft.devices():
        p.error("--device cuda: no CUDA device is available here (ft.devices() = "
                f"{ft.devices()}); run on a machine with an NVIDIA GPU or use --device cpu")

    name = "fashion_mnist" if args.dataset == "fashion" else "mnist"
    try:   # MNIST falls back to the bundled sample; Fashion-MNIST is found or an error
        train_x, train_y, source = ft.data.load_dataset(name, "train", root=args.data_dir,
                                                        download=not args.no_download)
        test_x, test_y, _ = ft.data.load_dataset(name, "test", root=args.data_dir,
                                                 download=not args.no_download)
    except (FileNotFoundError, ft.data.DownloadError) as e:
        p.exit(1, f"{p.prog}: {e}\n")
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
    state, start_epoch = {"params": params, "opt_state": opt_state}, 0
    if args.resume:
        state, start_epoch = resume_from(args.resume, state)
    if device != "cpu":
        state = ft.device_put(state, device)
    n_params = sum(int(np.prod(v.shape)) for v in ft.tree.leaves(state["params"]))
    print(f"model: {args.model}, {n_params:,} parameters; optimizer: {args.optimizer} "
          f"lr={args.lr}; batch {args.batch_size}; device {device}")

    if nproc > 1:
        print(f"distributed: {nproc} processes, {args.batch_size // nproc} images each per "
              "step")
    train_step, predict = build_steps(model, optimizer, "dp" if args.distributed else None)
    last = {}

    def step(state, batch):
        x = to_device(preprocess(np.asarray(batch[0])), device)
        y = to_device(np.asarray(batch[1]), device)
        params, opt_state, loss, correct = train_step(state["params"], state["opt_state"], x, y)
        return {"params": params, "opt_state": opt_state}, {"loss": loss,
                                                             "acc": float(correct) / len(y)}

    def batches(epoch):
        return ft.data.batches(train_x, train_y, batch_size=args.batch_size,
                               key=ft.random.fold_in(data_key, epoch), shard=(rank, nproc))

    def test_metrics(state):
        if rank != 0:
            return {}
        last["acc"], last["preds"] = evaluate(predict, state["params"], test_x, test_y, 1000,
                                              device)
        return {"test acc": last["acc"]}

    state, history = fit(state, step, batches, epochs=args.epochs, start=start_epoch,
                         evaluate=test_metrics, checkpoint=args.save, unit="images",
                         items=lambda x: len(x) * nproc)
    if history["epochs"] and last:
        print_confusion(confusion_matrix(test_y, last["preds"], 10))
        print(f"final test accuracy: {last['acc']:.4f}")
    if args.save:
        print(f"checkpoint: {args.save}")
    if args.plot:
        plot_curves(args.plot, history, ["train acc", "test acc"])
    return history


if __name__ == "__main__":
    main()
