"""Compile every kernel the CUDA backend generates for a set of graphs to PTX.

Runs without a GPU (NVVM only) but needs the real ``numba.cuda``, so not under
``NUMBA_ENABLE_CUDASIM=1``; the test suite runs it in a subprocess::

    python benchmarks/ptx_check.py [--cc 8.0 9.0] [--only mnist ops]

A user-level tool (it builds models with the public API), so it lives beside the GPU
benchmarks rather than inside the backend it checks.

Graphs: the MNIST MLP and CNN training steps at batch 128 (Adam, parameters donated), and
small graphs reaching every kind of generated kernel (each reduction strategy and dtype,
float16/bfloat16 loads and stores,
sort, gather/scatter, cumsum, pad, concatenate, windowed ops, threefry, direct conv and
dot_general, view copies). Prints JSON ``{graph: {"kernels": n, "failed": {label: error}}}``
and exits non-zero if any kernel fails to compile.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from numba import cuda
from numba.cuda import config

import funtorch as ft
import funtorch.nn as nn
from funtorch.backends.cuda.program import compile


def mnist_graphs():
    models = {
        "mlp": nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512),
                             nn.ReLU(), nn.Linear(512, 10)),
        "cnn": nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(),
                             nn.Linear(128, 10)),
    }
    for name, model in models.items():
        opt = ft.optim.adam(1e-3)

        def step(params, state, x, y, model=model, opt=opt):
            loss, grads = ft.value_and_grad(
                lambda p: nn.functional.cross_entropy(model(p, x), y))(params)
            updates, state = opt.update(grads, state, params)
            return ft.optim.apply_updates(params, updates), state, loss

        params = model.init(ft.random.key(0))
        state = opt.init(params)
        closed = ft.make_graph(step)(params, state, ft.zeros((128, 1, 28, 28)),
                                     ft.zeros((128,), ft.int64))
        n_donated = len(ft.tree.leaves((params, state)))
        donated = [False] * len(closed.consts) + [True] * n_donated + [False, False]
        yield f"mnist_{name}", closed.graph, donated


def op_graphs():
    f32, f64 = np.zeros((6, 40), np.float32), np.zeros((6, 40), np.float64)
    i64 = np.arange(12, dtype=np.int64).reshape(3, 4)
    img = np.zeros((2, 3, 9, 9), np.float32)
    cases = {
        "elementwise": (lambda x: (ft.floor(x) + ft.ceil(x) * ft.round(x) - ft.fmod(x, 1.5),
                                   ft.isfinite(x), ft.erf(x) ** 2.5, ft.sigmoid(x).T,
                                   ft.arctan2(x, x + 1)), f32),
        "integers": (lambda a: (a // 3, a % 3, a << 2, ft.right_shift(a, 1), a ^ 5, -a,
                                ft.abs(a), a > 2, a ** (a % 4 - 1), a ** 7,
                                ft.left_shift(a > 2, a > 5), ft.right_shift(a > 2, a > 5)),
                     i64),
        "conversions": (lambda x: (x.astype(ft.float16), x.astype(ft.uint32), ft.sign(x),
                                   x.astype(ft.bfloat16)), f64),
        "reductions_f32": (lambda x: (ft.sum(x), ft.max(x, 0), ft.argmax(x, 1), ft.argmin(x, 0),
                                      ft.min(x, 1), ft.prod(x, 1),
                                      ft.nn.functional.softmax(x, axis=-1)), f32),
        "reductions_f64": (lambda x: (ft.sum(x, 1), ft.argmax(x, 1), ft.mean(x)), f64),
        "reductions_int": (lambda a: (ft.sum(a, 0), ft.prod(a), ft.max(a, 1),
                                      ft.any(a > 3, 0)), i64),
        "sort_cumsum": (lambda x: (ft.sort(x, axis=1), ft.argsort(x, axis=0),
                                   ft.cumsum(x, axis=1)), f32),
        "indexing": (lambda x, a: (x[a % 6], ft.take_along_axis(x, a % 40, axis=1),
                                   x.at[a % 6].add(1.0), x.at[a % 6].set(2.0),
                                   x.at[a % 6].max(0.5), x.at[a % 6].multiply(3.0)),
                     f32, np.arange(24, dtype=np.int64).reshape(6, 4)),
        "shape": (lambda x: (ft.pad(x, ((1, 2), (0, 3)), constant_values=1.5),
                             ft.concatenate([x, x[:, :5]], axis=1), ft.flip(x, 0),
                             x.T.reshape(-1), ft.arange(7.0), ft.zeros((2, 3)) + 1.0), f32),
        "windowed": (lambda x: ft.grad(lambda v: ft.sum(
            ft.nn.functional.max_pool2d(v, 3, 2, 1) ** 2) + ft.sum(
            ft.nn.functional.avg_pool2d(v, 2)))(x), img),
        "conv_direct": (lambda x, w: ft.lax.conv_general_dilated(
            x, w, (1, 1), ((1, 0), (2, 1)), lhs_dilation=(2, 2), feature_group_count=3),
            img, np.zeros((6, 1, 3, 3), np.float32)),
        "dot_direct": (lambda a, b: (a @ b.T, ft.matmul(a.astype(ft.float64),
                                                        b.astype(ft.float64).T)), i64, i64),
        "random": (lambda k: ft.random.normal(k, (5, 7)),
                   np.asarray(ft.random.key(0))),
        "halves": (lambda h, b: (ft.exp(h) * 2, h @ h.T + 1, ft.sum(b, 1), b.astype(ft.float32),
                                 (h * 3).astype(ft.int32), h.astype(ft.bfloat16)),
                   f32.astype(np.float16), f32.astype(ft.bfloat16)),
    }
    for name, (fn, *args) in cases.items():
        closed = ft.make_graph(fn)(*[ft.asarray(a) for a in args])
        yield name, closed.graph, None


def collect(graph, donated):
    specs = []

    def build(spec):
        specs.append(spec)
        return lambda *args: None

    compile(graph, donated, build=build)
    return specs


def compile_all(specs, ccs):
    failed, seen = {}, set()
    for spec in specs:
        if spec.text in seen:
            continue
        seen.add(spec.text)
        for cc in ccs:
            try:
                cuda.compile_ptx(spec.pyfunc(), spec.signature.args, cc=cc,
                                 launch_bounds=spec.block)
            except Exception as e:
                failed[f"{spec.label} (sm_{cc[0]}{cc[1]})"] = f"{type(e).__name__}: {e}"[:500]
    return len(seen), failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cc", nargs="+", default=["8.0", "9.0"])
    parser.add_argument("--only", nargs="+", choices=["mnist", "ops"], default=["mnist", "ops"])
    args = parser.parse_args(argv)
    if config.ENABLE_CUDASIM:
        parser.error("run with the real numba.cuda (NUMBA_ENABLE_CUDASIM unset or 0)")
    ccs = [tuple(int(p) for p in c.split(".")) for c in args.cc]
    sources = {"mnist": mnist_graphs, "ops": op_graphs}
    report = {}
    for group in args.only:
        for name, graph, donated in sources[group]():
            n, failed = compile_all(collect(graph, donated), ccs)
            report[name] = {"kernels": n, "failed": failed}
            print(f"{name}: {n} kernels, {len(failed)} failed", file=sys.stderr, flush=True)
    print(json.dumps(report, indent=1))
    return 1 if any(r["failed"] for r in report.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
