"""funtorch on an NVIDIA GPU in one run (< 5 min): kernel correctness, then MNIST training
throughput of the CUDA backend against PyTorch eager on the same GPU.

    python benchmarks/gpu.py [--out DIR]      # results.json + .md in DIR ($OUT, ./gpu_results)
    python benchmarks/gpu.py --simulate-tiny  # the same code paths at toy sizes, Numba's simulator

1. device: the GPU's name and the library versions;
2. kernels: ``benchmarks/gpu_kernels.py``'s correctness checks of every ``cuda_kernels`` kernel;
3. mnist: for the MLP (784-512-512-10 ReLU) and the CNN (Conv(1->32,3) ReLU Conv(32->64,3) ReLU
   MaxPool2 Linear(9216->128) ReLU Linear(128->10)), batch 128, Adam 1e-3, cross-entropy (as
   benchmarks/mnist.py): funtorch's jitted, donated training step on the GPU (images/s, step
   time, kernel launches per step, first call = trace + compile) with and without CUDA graph
   capture, and PyTorch eager on the same GPU (images/s, kernels per step).

Every section is isolated: a failure is recorded in the results and the run goes on. The
results files are rewritten after every section, so a run cut off by a time limit keeps what
it measured (``benchmarks/gpu_kernels.py`` drives both scripts).
"""

from __future__ import annotations

import platform
import sys
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))                    # run from a checkout
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_kernels  # noqa: E402  (the shared driver; imports nothing from numba at load)

REAL = dict(batch=128, image=28, mlp_hidden=512, conv=(32, 64), dense=128, rounds=5,
            steps=30, warmup=5)
TINY = dict(batch=4, image=6, mlp_hidden=16, conv=(4, 6), dense=8, rounds=1, steps=1,
            warmup=0)
TARGETS = {"mlp": 0.5, "cnn": 0.7}   # throughput vs PyTorch eager (issue 7)


# --------------------------------------------------------------------------- models

def _model(nn, kind, cfg):
    """The MLP or the CNN built from ``nn``: funtorch.nn and torch.nn have the same layers."""
    side, (c1, c2) = cfg["image"], cfg["conv"]
    if kind == "mlp":
        h = cfg["mlp_hidden"]
        return nn.Sequential(nn.Flatten(), nn.Linear(side * side, h), nn.ReLU(), nn.Linear(h, h),
                             nn.ReLU(), nn.Linear(h, 10))
    flat = c2 * ((side - 4) // 2) ** 2
    return nn.Sequential(nn.Conv2d(1, c1, 3), nn.ReLU(), nn.Conv2d(c1, c2, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(flat, cfg["dense"]), nn.ReLU(),
                         nn.Linear(cfg["dense"], 10))


def _batches(cfg, n):
    """n batches of MNIST-sample images (random images at toy sizes), normalised NCHW."""
    import funtorch as ft
    b, side = cfg["batch"], cfg["image"]
    if side == 28:
        x, y = ft.data.mnist_sample("train")
        x = ((np.asarray(x, np.float32) / 255 - 0.1307) / 0.3081)[:, None]
        y = np.asarray(y, np.int64)
    else:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((b * n, 1, side, side)).astype(np.float32)
        y = rng.integers(0, 10, b * n)
    k = len(x) // b
    return [(x[i % k * b:(i % k + 1) * b], y[i % k * b:(i % k + 1) * b]) for i in range(n)]


def _rate(cfg, seconds):
    return cfg["steps"] * cfg["batch"] / seconds


# --------------------------------------------------------------------------- funtorch

def funtorch_training(kind, cfg, capture):
    from numba import cuda

    import funtorch as ft
    from funtorch.backends import compile_graph
    from funtorch.backends.cuda import graphs

    model, opt = _model(ft.nn, kind, cfg), ft.optim.adam(1e-3)

    def step(params, state, x, y):
        loss, grads = ft.value_and_grad(
            lambda p: ft.nn.functional.cross_entropy(model(p, x), y))(params)
        updates, state = opt.update(grads, state, params)
        return ft.optim.apply_updates(params, updates), state, loss

    params = model.init(ft.random.key(0))
    state = opt.init(params)
    jstep = ft.jit(step, donate_argnums=(0, 1))
    data = [(ft.device_put(x, "cuda"), ft.device_put(y, "cuda"))
            for x, y in _batches(cfg, cfg["steps"])]
    carry = [ft.device_put(params, "cuda"), ft.device_put(state, "cuda")]
    graphs.enable(capture)
    before = graphs.stats()
    try:
        t0 = time.perf_counter()
        carry[0], carry[1], loss = jstep(*carry, *data[0])
        cuda.synchronize()
        first = time.perf_counter() - t0
        for x, y in data[:cfg["warmup"]]:
            carry[0], carry[1], loss = jstep(*carry, x, y)
        cuda.synchronize()
        times = []
        for _ in range(cfg["rounds"]):
            t0 = time.perf_counter()
            for x, y in data:
                carry[0], carry[1], loss = jstep(*carry, x, y)
            cuda.synchronize()
            times.append(time.perf_counter() - t0)
    finally:
        graphs.enable(False)
    graph = ft.make_graph(step)(*carry, *data[0]).graph
    program = compile_graph(graph, "cuda:0")
    sec = float(np.median(times))
    out = {"images_per_s": _rate(cfg, sec), "step_ms": 1e3 * sec / cfg["steps"],
           "first_step_s": first, "launches_per_step": program.num_launches,
           "loss": float(loss), "plan": program.describe().splitlines()}
    if capture:   # whether the steps really were graph replays
        out["graphs"] = {k: v - before[k] for k, v in graphs.stats().items()}
    return out


# --------------------------------------------------------------------------- PyTorch

def torch_training(kind, cfg, simulate):
    import torch
    device = "cuda" if torch.cuda.is_available() and not simulate else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False   # float32 means float32, as ours
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    model = _model(torch.nn, kind, cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    data = [(torch.as_tensor(x, device=device), torch.as_tensor(y, device=device))
            for x, y in _batches(cfg, cfg["steps"])]

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    t0 = time.perf_counter()
    step(*data[0])
    sync()
    first = time.perf_counter() - t0
    for x, y in data[:cfg["warmup"]]:
        step(x, y)
    sync()
    times = []
    for _ in range(cfg["rounds"]):
        t0 = time.perf_counter()
        for x, y in data:
            loss = step(x, y)
        sync()
        times.append(time.perf_counter() - t0)
    sec = float(np.median(times))
    out = {"device": device, "images_per_s": _rate(cfg, sec),
           "step_ms": 1e3 * sec / cfg["steps"], "first_step_s": first, "loss": loss.item()}
    if device == "cuda":
        try:
            from torch.profiler import ProfilerActivity, profile
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                step(*data[0])
                sync()
            out["kernels_per_step"] = sum(
                1 for e in prof.events() if e.device_type.name == "CUDA")
        except Exception as e:  # profiling is a nicety
            out["kernels_per_step"] = f"n/a ({type(e).__name__})"
    return out


# --------------------------------------------------------------------------- sections

def section_device(cfg, simulate):
    import numba
    from numba import cuda
    info = {"python": platform.python_version(), "numba": numba.__version__,
            "simulator": simulate}
    try:
        import numba_cuda
        info["numba_cuda"] = numba_cuda.__version__
    except ImportError:
        pass
    try:
        import torch
        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    if simulate:
        info["gpu"] = "Numba CUDA simulator"
    else:
        dev = cuda.get_current_device()
        info["gpu"] = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
        info["compute_capability"] = ".".join(map(str, dev.compute_capability))
    print(f"GPU: {info['gpu']}", flush=True)
    return info


def section_kernels(cfg, simulate):
    kcfg = gpu_kernels.TINY if simulate else gpu_kernels.REAL
    return gpu_kernels.section_correctness(kcfg, gpu_kernels.reference(simulate), simulate)


def section_mnist(cfg, simulate):
    results = {}
    for kind in ("mlp", "cnn"):
        row = results[kind] = {}
        runs = (("funtorch", lambda k=kind: funtorch_training(k, cfg, False)),
                ("funtorch_graphs", lambda k=kind: funtorch_training(k, cfg, True)),
                ("torch", lambda k=kind: torch_training(k, cfg, simulate)))
        for name, run in runs:
            t0 = time.perf_counter()
            try:
                row[name] = run()
            except Exception as e:
                row[name] = {"error": f"{type(e).__name__}: {e}",
                             "traceback": traceback.format_exc()[-3000:]}
            shown = {k: v for k, v in row[name].items() if k not in ("plan", "traceback")}
            print(f"  {kind} {name} ({time.perf_counter() - t0:.1f}s): {shown}", flush=True)
    return results


SECTIONS = {"device": section_device, "kernels": section_kernels, "mnist": section_mnist}


# --------------------------------------------------------------------------- report

def _ratio(a, b):
    try:
        return f"{a['images_per_s'] / b['images_per_s']:.2f}"
    except (KeyError, TypeError, ZeroDivisionError):
        return "-"


def markdown(results) -> str:
    dev = results.get("device", {})
    out = [f"# funtorch CUDA backend on {dev.get('gpu', '?')}", ""]
    kern = results.get("kernels")
    if isinstance(kern, dict):
        bad = [k for k, v in kern.items() if not v.get("ok")]
        out += [f"## cuda_kernels correctness: {len(kern) - len(bad)}/{len(kern)} ok"
                + (f" (failing: {', '.join(bad)})" if bad else ""), ""]
    mnist = results.get("mnist")
    if isinstance(mnist, dict):
        batch = results.get("config", {}).get("batch", "?")
        out += [f"## MNIST training (batch {batch}, Adam, cross-entropy; float32, TF32 off)", "",
                "| model | funtorch img/s | step ms | launches/step | first call s "
                "| with graph capture img/s | PyTorch eager img/s | PyTorch kernels/step "
                "| ratio | ratio (graphs) | target |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        for kind, row in mnist.items():
            f, g, t = row.get("funtorch", {}), row.get("funtorch_graphs", {}), row.get("torch", {})

            def cell(d, k, fmt="{:.0f}"):
                if "error" in d:
                    return "error"
                v = d.get(k)
                return fmt.format(v) if isinstance(v, (int, float)) else str(v or "-")

            out.append(f"| {kind} | {cell(f, 'images_per_s')} | {cell(f, 'step_ms', '{:.2f}')} "
                       f"| {cell(f, 'launches_per_step')} | {cell(f, 'first_step_s', '{:.1f}')} "
                       f"| {cell(g, 'images_per_s')} | {cell(t, 'images_per_s')} "
                       f"| {cell(t, 'kernels_per_step')} | {_ratio(f, t)} | {_ratio(g, t)} "
                       f"| >= {TARGETS[kind]} |")
        out.append("")
        for kind, row in mnist.items():
            g = row.get("funtorch_graphs", {}).get("graphs")
            if g:
                out.append(f"- {kind} graph capture: {g['recordings']} recorded, "
                           f"{g['replays']} replays, {g['failures']} failed captures")
            for name, d in row.items():
                if "error" in d:
                    out.append(f"- {kind} {name}: `{d['error']}`")
        if dev.get("simulator"):
            out.append("- simulator: graph capture is off, PyTorch runs on the CPU")
        out.append("")
    out += gpu_kernels.section_errors(results)
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    args = gpu_kernels.command_line(__doc__, SECTIONS, argv)
    cfg = TINY if args.simulate_tiny else REAL
    results = gpu_kernels.run_sections(SECTIONS, lambda fn: fn(cfg, args.simulate_tiny),
                                       {"config": cfg, "errors": {}}, args, markdown)
    kern = results.get("kernels", {})
    mnist = results.get("mnist", {})
    bad = bool(results["errors"]) or any(not v.get("ok") for v in kern.values()) or any(
        "error" in d for row in mnist.values() for name, d in row.items() if name != "torch")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
