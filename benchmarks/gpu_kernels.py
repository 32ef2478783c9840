"""Correctness and speed of the CUDA kernels on an NVIDIA GPU, in one run (< 4 min): the
``cuda_kernels`` GEMM and convolutions, and the backend's generated kernels through funtorch.

    python benchmarks/gpu_kernels.py [--out DIR] [--only correctness matmul conv launch]
    python benchmarks/gpu_kernels.py --simulate-tiny   # same code paths, Numba's simulator

1. correctness of every kernel at real sizes against PyTorch (else CuPy/numpy on the host);
2. matmul 1024..8192 against cuBLAS SGEMM with TF32 off;
3. conv2d forward / backward-data / backward-weight at the MNIST CNN's and a ResNet 3x3 layer's
   shapes against cuDNN (TF32 off);
4. host launch overhead per kernel.

Results go to ``--out`` (default ``$OUT`` or ./gpu_results) as results.json and results.md,
rewritten after every section, so a run cut off by a time limit keeps what it measured. Every
section (and every correctness check) is isolated: a failure is recorded, the run goes on.
"""

from __future__ import annotations

import math
import platform
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

# the driver; benchmarks/gpu.py runs its sections through these names here too
from gpu_driver import command_line, run_sections, section_errors  # noqa: E402

ALL_PASSES = ("forward", "backward_data", "backward_weight")
# conv layers: name, padding, passes to time, (x shape, w shape) on a real GPU and in the
# simulator
CONV_LAYERS = (
    ("mnist_conv1", 0, ("forward", "backward_weight"),
     ((128, 1, 28, 28), (32, 1, 3, 3)), ((2, 1, 6, 6), (4, 1, 3, 3))),
    ("mnist_conv2", 0, ALL_PASSES,
     ((128, 32, 26, 26), (64, 32, 3, 3)), ((2, 4, 4, 4), (8, 4, 3, 3))),
    ("resnet_3x3", 1, ALL_PASSES,
     ((64, 64, 56, 56), (64, 64, 3, 3)), ((1, 8, 5, 5), (8, 8, 3, 3))),
)
# Sizes for a real GPU and for --simulate-tiny (the simulator runs ~1e5 thread-steps/s).
SIZES = {
    "matmul": ([1024, 2048, 4096, 8192], [16, 24]),
    "conv": tuple([(name, *shapes[i], pad, passes) for name, pad, passes, *shapes in CONV_LAYERS]
                  for i in (0, 1)),  # [(name, x shape, w shape, padding, passes)]
    "check_mm": (1024, 20),
    "check_rows": ((1024, 1000), (3, 37)),
    "check_pool": ((32, 64, 56, 56), (1, 2, 7, 7)),
    "min_time": (0.2, 0.0),
    "launches": (500, 3),
}
REAL, TINY = ({key: sizes[i] for key, sizes in SIZES.items()} for i in (0, 1))
TOL = {"float32": 1e-4, "float16": 1e-2, "bfloat16": 3e-2}


# --- reference implementations --------------------------------------------------------------


class NumpyRef:
    """Host oracle (float64 where it matters); used when neither PyTorch nor CuPy is usable."""

    name = "numpy"

    def matmul(self, a, b):
        return a.astype(np.float64) @ b.astype(np.float64)

    def conv(self, x, w, padding):
        from cuda_kernels.tests.util import conv2d_grads_ref, conv2d_ref

        p = (padding, padding)
        y = conv2d_ref(x, w, (1, 1), p, (1, 1), 1)
        dy = np.random.default_rng(0).standard_normal(y.shape).astype(np.float32)
        dx, dw = conv2d_grads_ref(x, w, dy, (1, 1), p, (1, 1), 1)
        return y, dy, dx, dw

    def softmax(self, x):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)


class TorchRef(NumpyRef):
    """PyTorch on the same GPU, TF32 disabled so float32 means float32."""

    name = "torch"

    def __init__(self, torch):
        self.torch = torch
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    def t(self, x):
        return self.torch.as_tensor(np.ascontiguousarray(x), device="cuda")

    def matmul(self, a, b):
        return (self.t(a).float() @ self.t(b).float()).cpu().numpy()

    def conv(self, x, w, padding):
        F = self.torch.nn.functional
        xt, wt = self.t(x).requires_grad_(), self.t(w).requires_grad_()
        y = F.conv2d(xt, wt, padding=padding)
        dy = self.torch.randn_like(y)
        dx, dw = self.torch.autograd.grad(y, (xt, wt), dy)
        return tuple(v.detach().cpu().numpy() for v in (y, dy, dx, dw))

    def softmax(self, x):
        return self.torch.softmax(self.t(x), -1).cpu().numpy()


def reference(simulate: bool):
    if not simulate:
        try:
            import torch

            if torch.cuda.is_available():
                return TorchRef(torch)
        except ImportError:
            pass
    return NumpyRef()


def rel_err(got, ref) -> float:
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        raise AssertionError(f"shape {got.shape} != {ref.shape}")
    both_nan = np.isnan(got) & np.isnan(ref)
    diff = np.where(both_nan, 0.0, np.abs(got - ref))
    return float(diff.max() / (np.abs(ref).max() + 1e-12)) if diff.size else 0.0


# --- timing -----------------------------------------------------------------------------------


def sync():
    from numba import cuda

    cuda.synchronize()
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
        sys.modules["torch"].cuda.synchronize()


def time_call(fn, min_time: float, max_iters: int = 200) -> float:
    """Seconds per call, back to back, after a warm-up call (which also compiles)."""
    fn()
    sync()
    iters, start = 0, time.perf_counter()
    while True:
        fn()
        iters += 1
        if iters >= max_iters or time.perf_counter() - start >= min_time:
            break
    sync()
    return (time.perf_counter() - start) / iters


# --- sections ---------------------------------------------------------------------------------


def section_device(cfg, ref, simulate):
    import numba
    from numba import cuda

    info = {
        "python": platform.python_version(),
        "numba": numba.__version__,
        "reference": ref.name,
        "simulator": simulate,
    }
    try:
        import numba_cuda

        info["numba_cuda"] = numba_cuda.__version__
    except ImportError:
        pass
    if simulate:
        info["gpu"] = "Numba CUDA simulator"
    else:
        dev = cuda.get_current_device()
        name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
        info.update(
            gpu=name,
            compute_capability=".".join(map(str, dev.compute_capability)),
            sms=dev.MULTIPROCESSOR_COUNT,
        )
    if ref.name == "torch":
        info["torch"] = ref.torch.__version__
    print(f"GPU: {info['gpu']}", flush=True)
    return info


def _checks(cfg, ref):
    """(name, thunk -> (error, tolerance)) for every kernel."""
    import ml_dtypes
    from numba import cuda

    import funtorch as ft
    import funtorch.nn.functional as F
    from cuda_kernels import conv, matmul

    rng = np.random.default_rng(0)
    dev, host = cuda.to_device, (lambda a: a.copy_to_host())
    n = cfg["check_mm"]
    checks = []

    def mm_case(ta, tb, dtype):
        def run():
            a = rng.standard_normal((n, n + 8)).astype(dtype)
            b = rng.standard_normal((n + 8, n - 8)).astype(dtype)
            sa = np.ascontiguousarray(a.T) if ta else a
            sb = np.ascontiguousarray(b.T) if tb else b
            got = host(matmul.matmul(dev(sa), dev(sb), trans_a=ta, trans_b=tb))
            r = ref.matmul(a.astype(np.float32), b.astype(np.float32))
            return rel_err(got.astype(np.float32), r), TOL[np.dtype(dtype).name]

        return run

    for ta, tb in [(False, False), (False, True), (True, False)]:
        checks.append(
            (f"matmul_{'t' if ta else 'n'}{'t' if tb else 'n'}_f32", mm_case(ta, tb, np.float32))
        )
    checks.append(("matmul_nn_f16", mm_case(False, False, np.float16)))
    checks.append(("matmul_nn_bf16", mm_case(False, False, ml_dtypes.bfloat16)))

    def batched():
        a = rng.standard_normal((8, n // 4, 64)).astype(np.float32)
        b = rng.standard_normal((1, 64, n // 2)).astype(np.float32)
        got = host(matmul.batched_matmul(dev(a), dev(b)))
        return rel_err(got, np.stack([ref.matmul(x, b[0]) for x in a])), TOL["float32"]

    checks.append(("batched_matmul", batched))

    for name, xs, ws, pad, _ in cfg["conv"]:

        def conv_case(xs=xs, ws=ws, pad=pad, algo="implicit"):
            x = rng.standard_normal(xs).astype(np.float32)
            w = (rng.standard_normal(ws) / math.sqrt(ws[1] * 9)).astype(np.float32)
            y, dy, dx, dw = ref.conv(x, w, pad)
            dxd, dwd, dyd = dev(x), dev(w), dev(dy.astype(np.float32))
            errs = [
                rel_err(host(conv.conv2d_forward(dxd, dwd, padding=pad, algo=algo)), y),
                rel_err(host(conv.conv2d_backward_data(dyd, dwd, xs, padding=pad, algo=algo)), dx),
                rel_err(
                    host(conv.conv2d_backward_weight(dyd, dxd, ws, padding=pad, algo=algo)), dw
                ),
            ]
            return max(errs), TOL["float32"]

        checks.append((f"conv_{name}_fwd_bwd", conv_case))
        if name == "mnist_conv2":
            checks.append((f"conv_{name}_im2col", lambda c=conv_case: c(algo="im2col")))

    rows = cfg["check_rows"]

    # the backend's generated kernels (fused loops, reductions, windowed ops) through funtorch
    def on(x):
        return ft.device_put(x, "cuda")

    def back(x):
        return np.asarray(ft.device_put(x, "cpu"))

    def reductions():
        x = rng.standard_normal(rows).astype(np.float32)
        outs = ft.jit(lambda d: (ft.sum(d, 1), ft.sum(d, 0), ft.max(d, 1), ft.argmax(d, 1),
                                 ft.argmin(d, 0)))(on(x))
        s1, s0, mx, amax, amin = (back(o) for o in outs)
        errs = [
            rel_err(s1, x.astype(np.float64).sum(1)),
            rel_err(s0, x.astype(np.float64).sum(0)),
            rel_err(mx, x.max(1)),
            float(np.any(amax != x.argmax(1))),
            float(np.any(amin != x.argmin(0))),
        ]
        return max(errs), TOL["float32"]

    def softmaxes():
        x = (rng.standard_normal(rows) * 3).astype(np.float32)
        labels = rng.integers(0, rows[1], rows[0])
        p = ref.softmax(x)
        dy = rng.standard_normal(rows).astype(np.float32)
        sm, lsm = ft.jit(lambda d: (F.softmax(d, -1), F.log_softmax(d, -1)))(on(x))
        _, vjp = ft.vjp(lambda d: F.softmax(d, -1), on(x))
        loss, grad = ft.jit(ft.value_and_grad(lambda d, t: F.cross_entropy(d, t)))(
            on(x), on(labels))
        onehot = np.eye(rows[1], dtype=np.float64)[labels]
        errs = [
            rel_err(back(sm), p),
            rel_err(back(lsm), np.log(p)),
            rel_err(back(vjp(on(dy))[0]), p * (dy - (dy * p).sum(-1, keepdims=True))),
            rel_err(back(loss), -np.log(p[np.arange(rows[0]), labels]).mean()),
            rel_err(back(grad), (p - onehot) / rows[0]),
        ]
        return max(errs), TOL["float32"]

    def pools():
        x = rng.standard_normal(cfg["check_pool"]).astype(np.float32)
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
        win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), (2, 3))[:, :, ::2, ::2]
        y_ref = win.max((-1, -2))
        dy = rng.standard_normal(y_ref.shape).astype(np.float32)
        (y, ya), vjp = ft.vjp(lambda d: (F.max_pool2d(d, 3, 2, 1), F.avg_pool2d(d, 3, 2, 1)),
                              on(x))
        dx = back(vjp((on(dy), on(np.zeros_like(dy))))[0])
        dxa = back(vjp((on(np.zeros_like(dy)), on(dy)))[0])
        # max pool backward puts each dy on its window's maximum: <x, dx> == <y, dy> (no ties)
        errs = [
            rel_err(back(y), y_ref),
            rel_err(np.vdot(x.astype(np.float64), dx), np.vdot(y_ref.astype(np.float64), dy)),
            rel_err(back(ya), np.where(np.isinf(win), 0, win).sum((-1, -2)) / 9),
            # avg backward is the adjoint of avg forward: <A x, dy> == <x, A^T dy>
            rel_err(np.vdot(x.astype(np.float64), dxa), np.vdot(back(ya).astype(np.float64), dy)),
        ]
        return max(errs), TOL["float32"]

    def optimizers():
        p = rng.standard_normal(10_000 if rows[0] > 100 else 50).astype(np.float32)
        g = rng.standard_normal(p.shape).astype(np.float32)
        opt = ft.optim.adamw(1e-2, weight_decay=0.01)
        u, _ = ft.jit(opt.update)(on(g), opt.init(on(p)), on(p))
        m, v = 0.1 * g, 0.001 * g * g
        ref_p = p * (1 - 1e-4) - 1e-2 / 0.1 * m / (np.sqrt(v) / math.sqrt(0.001) + 1e-8)
        sgd = ft.optim.sgd(0.1, momentum=0.9, nesterov=True)
        us, _ = ft.jit(sgd.update)(on(g), sgd.init(on(p)), on(p))
        ref_s = p - 0.1 * (g + 0.9 * g)
        return max(rel_err(p + back(u), ref_p), rel_err(p + back(us), ref_s)), 1e-5

    def fused_gelu():
        x = rng.standard_normal(rows).astype(np.float32)
        b = rng.standard_normal(rows[1:]).astype(np.float32)
        got = back(ft.jit(lambda x, b: F.gelu(x + b))(on(x), on(b)))
        y = (x + b).astype(np.float64)
        erf = np.vectorize(math.erf)
        return rel_err(got, 0.5 * y * (1 + erf(y / math.sqrt(2)))), TOL["float32"]

    checks += [
        ("reductions", reductions),
        ("softmax_cross_entropy", softmaxes),
        ("pooling", pools),
        ("optimizers", optimizers),
        ("fused_gelu", fused_gelu),
    ]
    return checks


def section_correctness(cfg, ref, simulate):
    results = {}
    for name, run in _checks(cfg, ref):
        t0 = time.perf_counter()
        try:
            err, tol = run()
            results[name] = {
                "rel_err": err,
                "tol": tol,
                "ok": bool(err <= tol),
                "seconds": round(time.perf_counter() - t0, 2),
            }
        except Exception as e:  # keep checking the other kernels
            results[name] = {
                "ok": False,
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc()[-2000:],
            }
        status = "ok" if results[name]["ok"] else "FAIL"
        print(f"  check {name}: {status} {results[name].get('rel_err', '')}", flush=True)
    return results


def _isolated(cases, measure):
    """The rows of ``measure(case)`` for every ``(label, case)``, each run on its own: a
    failure becomes an error row instead of ending the section."""
    rows = []
    for label, case in cases:
        try:
            case_rows = measure(case)
        except Exception as e:
            traceback.print_exc()
            case_rows = [{"case": label, "error": f"{type(e).__name__}: {e}"}]
        for row in case_rows:
            print(f"  {label}: {row}", flush=True)
        rows += case_rows
    return rows


def _matmul_rows(n, cfg, ref):
    from numba import cuda

    from cuda_kernels import matmul

    rng = np.random.default_rng(n)
    a = cuda.to_device(rng.standard_normal((n, n)).astype(np.float32))
    b = cuda.to_device(rng.standard_normal((n, n)).astype(np.float32))
    out = cuda.device_array((n, n), np.float32)
    ours = time_call(lambda: matmul.matmul(a, b, out=out), cfg["min_time"])
    row = {"n": n, "ours_ms": ours * 1e3, "ours_tflops": 2 * n**3 / ours / 1e12}
    if ref.name == "torch":
        ta, tb = ref.torch.as_tensor(a, device="cuda"), ref.torch.as_tensor(b, device="cuda")
        tc = ref.torch.empty((n, n), device="cuda")
        base = time_call(lambda: ref.torch.mm(ta, tb, out=tc), cfg["min_time"])
        row.update(cublas_ms=base * 1e3, cublas_tflops=2 * n**3 / base / 1e12, ratio=base / ours)
    return [row]


def section_matmul(cfg, ref, simulate):
    cases = [(f"matmul {n}", n) for n in cfg["matmul"]]
    return _isolated(cases, lambda n: _matmul_rows(n, cfg, ref))


def _conv_rows(layer, cfg, ref):
    from numba import cuda

    from cuda_kernels import conv

    name, xs, ws, pad, passes = layer
    rng = np.random.default_rng(1)
    x = cuda.to_device(rng.standard_normal(xs).astype(np.float32))
    w = cuda.to_device(rng.standard_normal(ws).astype(np.float32))
    geom = conv.ConvGeom.make(xs, ws, padding=pad)
    ys = (xs[0], ws[0], geom.p, geom.q)
    dy = cuda.to_device(rng.standard_normal(ys).astype(np.float32))
    flops = 2 * math.prod(ys) * ws[1] * ws[2] * ws[3]
    y, dx, dw = (cuda.device_array(s, np.float32) for s in (ys, xs, ws))
    ours = {
        "forward": lambda: conv.conv2d_forward(x, w, y, padding=pad),
        "backward_data": lambda: conv.conv2d_backward_data(dy, w, xs, dx, padding=pad),
        "backward_weight": lambda: conv.conv2d_backward_weight(dy, x, ws, dw, padding=pad),
    }
    base = {}
    if ref.name == "torch":
        torch = ref.torch
        tx, tw, tdy = (torch.as_tensor(v, device="cuda") for v in (x, w, dy))

        def backward(mask):
            args = (None, [1, 1], [pad, pad], [1, 1], False, [0, 0], 1, mask)
            return lambda: torch.ops.aten.convolution_backward(tdy, tx, tw, *args)

        base = {
            "forward": lambda: torch.nn.functional.conv2d(tx, tw, padding=pad),
            "backward_data": backward([True, False, False]),
            "backward_weight": backward([False, True, False]),
        }
    rows = []
    for p in passes:
        t = time_call(ours[p], cfg["min_time"])
        row = {"layer": name, "pass": p, "ours_ms": t * 1e3, "ours_tflops": flops / t / 1e12}
        if p in base:
            tb = time_call(base[p], cfg["min_time"])
            row.update(cudnn_ms=tb * 1e3, cudnn_tflops=flops / tb / 1e12, ratio=tb / t)
        rows.append(row)
    return rows


def section_conv(cfg, ref, simulate):
    cases = [(f"conv {layer[0]}", layer) for layer in cfg["conv"]]
    return _isolated(cases, lambda layer: _conv_rows(layer, cfg, ref))


def section_launch(cfg, ref, simulate):
    """Host time per launch of a minimal problem, back to back (dispatch + driver)."""
    from numba import cuda

    import funtorch as ft
    import funtorch.nn.functional as F
    from cuda_kernels import matmul

    one = cuda.to_device(np.ones((1, 1), np.float32))
    out = cuda.device_array((1, 1), np.float32)
    x = ft.device_put(np.ones((1, 1), np.float32), "cuda")
    exp, total, softmax = (ft.jit(f) for f in (ft.exp, ft.sum, lambda v: F.softmax(v, -1)))
    cases = {   # generated kernels through a jitted call (dispatch included)
        "fused_elementwise": lambda: exp(x),
        "reduce_sum": lambda: total(x),
        "softmax": lambda: softmax(x),
        "matmul_1x1": lambda: matmul.matmul(one, one, out=out),
    }
    rows = {}
    for name, fn in cases.items():
        fn()
        sync()
        start = time.perf_counter()
        for _ in range(cfg["launches"]):
            fn()
        sync()
        rows[name] = (time.perf_counter() - start) / cfg["launches"] * 1e6
        print(f"  launch {name}: {rows[name]:.1f} us", flush=True)
    return rows


SECTIONS = {
    "device": section_device,
    "correctness": section_correctness,
    "matmul": section_matmul,
    "conv": section_conv,
    "launch": section_launch,
}


# --- report -----------------------------------------------------------------------------------


def _fmt(v):
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _table(title, rows, columns):
    """Markdown table; an error row shows its case and message instead of numbers."""
    out = [
        f"## {title}",
        "",
        "| " + " | ".join(h for h, _ in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for r in rows:
        if "error" in r:
            cells = [str(r.get("case", "?")), f"error: {r['error']}"] + [""] * (len(columns) - 2)
        else:
            cells = [_fmt(r.get(k, "-")) for _, k in columns]
        out.append("| " + " | ".join(cells) + " |")
    return out + [""]


def markdown(results) -> str:
    out = [f"# cuda_kernels on {results.get('device', {}).get('gpu', '?')}", ""]
    if isinstance(results.get("correctness"), dict):
        rows = [
            dict(v, kernel=k, ok="yes" if v["ok"] else "NO", case=k)
            for k, v in results["correctness"].items()
        ]
        cols = [("kernel", "kernel"), ("ok", "ok"), ("rel err", "rel_err"), ("tol", "tol")]
        out += _table("Correctness", rows, cols)
    if isinstance(results.get("matmul"), list):
        cols = [("n", "n"), ("ours ms", "ours_ms"), ("ours TFLOP/s", "ours_tflops"),
                ("cuBLAS ms", "cublas_ms"), ("cuBLAS TFLOP/s", "cublas_tflops"),
                ("ours/cuBLAS", "ratio")]
        out += _table("Matmul (float32, TF32 off)", results["matmul"], cols)
    if isinstance(results.get("conv"), list):
        cols = [("layer", "layer"), ("pass", "pass"), ("ours ms", "ours_ms"),
                ("ours TFLOP/s", "ours_tflops"), ("cuDNN ms", "cudnn_ms"),
                ("ours/cuDNN", "ratio")]
        out += _table("Conv2d (float32, TF32 off)", results["conv"], cols)
    if isinstance(results.get("launch"), dict):
        rows = [{"kernel": k, "us": v} for k, v in results["launch"].items()]
        out += _table(
            "Launch overhead (host us per call)", rows, [("kernel", "kernel"), ("us", "us")]
        )
    out += section_errors(results)
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    args = command_line(__doc__, SECTIONS, argv)
    cfg = TINY if args.simulate_tiny else REAL
    ref = reference(args.simulate_tiny)
    results = run_sections(
        SECTIONS, lambda fn: fn(cfg, ref, args.simulate_tiny), {"errors": {}}, args, markdown
    )
    bad = results["errors"] or any(not v["ok"] for v in results.get("correctness", {}).values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
