"""MNIST training throughput: funtorch (jit) vs PyTorch (eager) vs JAX (jit).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/mnist.py \\
        [--models mlp cnn] [--jax-python /tmp/jaxenv/bin/python]

Workloads (batch 128, Adam 1e-3, cross-entropy): mlp 784-512-512-10 ReLU; cnn
Conv(1->32,3) ReLU Conv(32->64,3) ReLU MaxPool2 Linear(9216->128) ReLU Linear(128->10).
Each framework trains in its own worker process; the workers take turns (one round of
steps each, interleaved), so they never compete for the cores and slow drift of the
machine hits all alike. Reported: median images/s over rounds, ratios, the first step
(trace + compile) and test accuracy after training. Frameworks that are not importable
are skipped; JAX may live in another interpreter (``--jax-python``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

BATCH = 128


# --------------------------------------------------------------------------- workers

def _model(nn, model_name):
    """The workload from funtorch.nn or torch.nn: the two share these layers' names and
    signatures."""
    if model_name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512),
                             nn.ReLU(), nn.Linear(512, 10))
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def _funtorch(model_name):
    import funtorch as ft
    import funtorch.nn as nn
    import funtorch.nn.functional as F
    model = _model(nn, model_name)
    opt = ft.optim.adam(1e-3)
    params = model.init(ft.random.key(0))
    state = opt.init(params)

    def loss_fn(p, x, y):
        return F.cross_entropy(model(p, x), y)

    def step(p, s, x, y):
        loss, g = ft.value_and_grad(loss_fn)(p, x, y)
        u, s = opt.update(g, s, p)
        return ft.optim.apply_updates(p, u), s, loss

    step = ft.jit(step, donate_argnums=(0, 1))
    predict = ft.jit(lambda p, x: ft.argmax(model(p, x), axis=1))
    carry = [params, state]

    def train(x, y):
        carry[0], carry[1], loss = step(carry[0], carry[1], ft.asarray(x), ft.asarray(y))
        return float(loss)

    return train, lambda x: np.asarray(predict(carry[0], ft.asarray(x)))


def _torch(model_name):
    import torch
    from torch import nn
    torch.manual_seed(0)
    model = _model(nn, model_name)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def train(x, y):
        opt.zero_grad()
        loss = loss_fn(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        opt.step()
        return float(loss)

    def predict(x):
        with torch.no_grad():
            return model(torch.from_numpy(x)).argmax(1).numpy()

    return train, predict


def _jax(model_name):
    import jax
    import jax.numpy as jnp
    key = jax.random.PRNGKey(0)

    def dense(k, n_in, n_out):
        b = 1 / np.sqrt(n_in)
        k1, k2 = jax.random.split(k)
        return (jax.random.uniform(k1, (n_in, n_out), minval=-b, maxval=b),
                jax.random.uniform(k2, (n_out,), minval=-b, maxval=b))

    def conv(k, c_in, c_out):
        b = 1 / np.sqrt(c_in * 9)
        k1, k2 = jax.random.split(k)
        return (jax.random.uniform(k1, (c_out, c_in, 3, 3), minval=-b, maxval=b),
                jax.random.uniform(k2, (c_out,), minval=-b, maxval=b))

    ks = jax.random.split(key, 4)
    if model_name == "mlp":
        params = [dense(ks[0], 784, 512), dense(ks[1], 512, 512), dense(ks[2], 512, 10)]
    else:
        params = [conv(ks[0], 1, 32), conv(ks[1], 32, 64), dense(ks[2], 9216, 128),
                  dense(ks[3], 128, 10)]

    def forward(p, x):
        if model_name == "mlp":
            h = x.reshape(x.shape[0], -1)
            for w, b in p[:-1]:
                h = jax.nn.relu(h @ w + b)
            return h @ p[-1][0] + p[-1][1]
        h = x
        for w, b in p[:2]:
            h = jax.lax.conv_general_dilated(h, w, (1, 1), "VALID")
            h = jax.nn.relu(h + b[None, :, None, None])
        h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        h = h.reshape(h.shape[0], -1)
        h = jax.nn.relu(h @ p[2][0] + p[2][1])
        return h @ p[3][0] + p[3][1]

    def loss_fn(p, x, y):
        logp = jax.nn.log_softmax(forward(p, x))
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def adam(p, g, m, v, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        mh, vh = 1 - b1 ** t, 1 - b2 ** t
        p = jax.tree_util.tree_map(
            lambda p, m, v: p - lr * (m / mh) / (jnp.sqrt(v / vh) + eps), p, m, v)
        return p, m, v

    def step(p, m, v, t, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        p, m, v = adam(p, g, m, v, t + 1)
        return p, m, v, t + 1, loss

    step = jax.jit(step, donate_argnums=(0, 1, 2))
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    carry = [params, zeros, jax.tree_util.tree_map(jnp.zeros_like, params), jnp.zeros(())]
    predict = jax.jit(lambda p, x: jnp.argmax(forward(p, x), axis=1))

    def train(x, y):
        out = step(*carry, x, y.astype(np.int32))
        carry[:] = out[:4]
        return float(out[4])

    return train, lambda x: np.asarray(predict(carry[0], x))


FRAMEWORKS = {"funtorch": _funtorch, "torch": _torch, "jax": _jax}


def worker(framework, model_name, data_path):
    d = np.load(data_path)
    xtr, ytr, xte, yte = d["xtr"], d["ytr"], d["xte"], d["yte"]
    train, predict = FRAMEWORKS[framework](model_name)
    nb = len(xtr) // BATCH
    i = [0]

    def batch():
        k = i[0] % nb
        i[0] += 1
        return xtr[k * BATCH:(k + 1) * BATCH], ytr[k * BATCH:(k + 1) * BATCH]

    t = time.perf_counter()
    train(*batch())
    print(json.dumps({"first": time.perf_counter() - t}), flush=True)
    for line in sys.stdin:
        cmd, *arg = line.split()
        if cmd == "steps":
            n = int(arg[0])
            batches = [batch() for _ in range(n)]
            t = time.perf_counter()
            for b in batches:
                loss = train(*b)
            print(json.dumps({"time": time.perf_counter() - t, "loss": loss}), flush=True)
        elif cmd == "eval":
            pred = np.concatenate([predict(xte[k:k + 1000]) for k in range(0, len(xte), 1000)])
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(json.dumps({"acc": float(np.mean(pred == yte)), "rss_mb": rss}), flush=True)
        else:
            return


# --------------------------------------------------------------------------- driver

def _data(path):
    import funtorch as ft
    try:
        (xtr, ytr), (xte, yte) = ft.data.mnist("train", download=False), ft.data.mnist(
            "test", download=False)
        source = "MNIST"
    except Exception:
        (xtr, ytr), (xte, yte) = ft.data.mnist_sample("train"), ft.data.mnist_sample("test")
        source = "the bundled MNIST sample"
    norm = lambda x: ((np.asarray(x, np.float32) / 255 - 0.1307) / 0.3081)[:, None]  # noqa
    np.savez(path, xtr=norm(xtr), ytr=np.asarray(ytr, np.int64), xte=norm(xte),
             yte=np.asarray(yte, np.int64))
    return source, len(xtr)


def _importable(python, module):
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["mlp", "cnn"], choices=["mlp", "cnn"])
    ap.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20, help="training steps per round")
    ap.add_argument("--jax-python", default=None, help="interpreter that can import jax")
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(*args.worker)

    tmp = tempfile.mkdtemp()
    data = os.path.join(tmp, "mnist.npz")
    source, n_train = _data(data)
    print(f"data: {source} ({n_train} training images); batch {BATCH}; "
          f"{args.rounds} rounds x {args.steps} steps per framework, interleaved")
    pythons = {}
    for fw in args.frameworks:
        py = args.jax_python if fw == "jax" and args.jax_python else sys.executable
        if _importable(py, fw):
            pythons[fw] = py
        else:
            print(f"({fw} not importable by {py}: skipped)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
         os.environ.get("PYTHONPATH", "")]))
    for model_name in args.models:
        procs, first = {}, {}
        for fw, py in pythons.items():
            p = subprocess.Popen([py, os.path.abspath(__file__), "--worker", fw, model_name,
                                  data], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True, env=env)
            first[fw] = json.loads(p.stdout.readline())["first"]
            procs[fw] = p

        def ask(fw, cmd, procs=procs):
            procs[fw].stdin.write(cmd + "\n")
            procs[fw].stdin.flush()
            return json.loads(procs[fw].stdout.readline())

        for fw in procs:     # one untimed round each: warm caches and allocators
            ask(fw, f"steps {max(2, args.steps // 4)}")
        rates = {fw: [] for fw in procs}
        for _ in range(args.rounds):
            for fw in procs:
                rates[fw].append(args.steps * BATCH / ask(fw, f"steps {args.steps}")["time"])
        evals = {fw: ask(fw, "eval") for fw in procs}
        for p in procs.values():
            p.stdin.close()
            p.wait()
        print(f"\n{model_name}:")
        base = {k: np.median(v) for k, v in rates.items()}
        for fw in procs:
            ratios = "  ".join(f"{base[fw] / base[o]:.2f}x {o}" for o in procs if o != fw)
            print(f"  {fw:9s} {base[fw]:9.0f} img/s   first step {first[fw]:6.2f} s   "
                  f"test acc {evals[fw]['acc']:.3f}   peak RSS {evals[fw]['rss_mb']:.0f} MB"
                  f"   {ratios}")


if __name__ == "__main__":
    main()
