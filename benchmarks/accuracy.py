"""Accuracy parity: the MNIST CNN trained by funtorch and by PyTorch on the same data.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/accuracy.py [--seeds 3]

Both train Conv(1->32,3) ReLU Conv(32->64,3) ReLU MaxPool2 Linear(9216->128) ReLU
Linear(128->10) with Adam 1e-3, batch 128, 3 epochs on the bundled MNIST sample (4000
train / 1000 test), PyTorch's default initialisation on each side, and report test
accuracy per seed and the mean difference.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))


def funtorch_run(seed, epochs, batch):
    import mnist as ex  # examples/mnist.py

    import funtorch as ft
    train_x, train_y = ft.data.mnist_sample("train")
    test_x, test_y = ft.data.mnist_sample("test")
    model = ex.make_model("cnn")
    opt = ft.optim.adam(1e-3)
    k_init, k_data = ft.random.split(ft.random.key(seed))
    params = model.init(k_init)
    state = opt.init(params)
    step, predict = ex.build_steps(model, opt)
    for epoch in range(epochs):
        for xb, yb in ft.data.batches(train_x, train_y, batch_size=batch,
                                      key=ft.random.fold_in(k_data, epoch)):
            params, state, _, _ = step(params, state, ft.asarray(ex.preprocess(np.asarray(xb))),
                                       ft.asarray(np.asarray(yb)))
    acc, _ = ex.evaluate(predict, params, test_x, test_y, 1000, "cpu")
    return acc


def torch_run(seed, epochs, batch):
    import mnist as ex
    import torch

    import funtorch as ft
    torch.manual_seed(seed)
    train_x, train_y = ft.data.mnist_sample("train")
    test_x, test_y = ft.data.mnist_sample("test")
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(9216, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.from_numpy(ex.preprocess(train_x))
    y = torch.from_numpy(train_y)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - batch + 1, batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
    with torch.no_grad():
        pred = net(torch.from_numpy(ex.preprocess(test_x))).argmax(1).numpy()
    return float((pred == test_y).mean())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    a = p.parse_args()
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("PyTorch is not installed: reporting funtorch only")
    rows = []
    for s in range(a.seeds):
        f = funtorch_run(s, a.epochs, a.batch)
        t = torch_run(s, a.epochs, a.batch) if have_torch else float("nan")
        rows.append((s, f, t))
        print(f"seed {s}: funtorch {f:.4f}  pytorch {t:.4f}", flush=True)
    f_mean = np.mean([r[1] for r in rows])
    t_mean = np.mean([r[2] for r in rows])
    print(f"mean test accuracy: funtorch {f_mean:.4f}, pytorch {t_mean:.4f}, "
          f"difference {100 * (f_mean - t_mean):+.2f} points")


if __name__ == "__main__":
    main()
