"""Compile every kernel at its real-GPU configuration to PTX and report local-memory use.

Runs without a GPU (NVVM only) but needs the real ``numba.cuda``, so it must not run with
``NUMBA_ENABLE_CUDASIM=1``; the test suite calls it in a subprocess::

    python -m cuda_kernels.ptx_check [--cc 8.0 9.0] [--only matmul conv] [--ptxas]

It prints JSON ``{kernel: {cc: report}}`` where a report counts the bytes of ``.local``
declarations and the ``ld.local``/``st.local`` instructions in the PTX. A register-blocked GEMM
whose accumulators fell out of registers shows up here as local memory. With ``--ptxas`` (and
a ``ptxas`` on PATH) it also records ptxas's register count and spill bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

F32, F16 = np.dtype(np.float32), np.dtype(np.float16)

_LOCAL_DECL = re.compile(r"\.local\s+\.align\s+\d+\s+\.b8\s+\S+\[(\d+)\]")

def kernel_specs(only=None):
    """name -> (pyfunc, signature, threads per block) for the configurations GPUs run."""
    from . import _dtypes, _gemm, conv, matmul

    specs = {}

    def add(group, name, built, threads=None):
        if only is None or group in only:
            specs[f"{group}.{name}"] = (*built, threads)

    t128, t64 = _gemm.TILE_128, _gemm.TILE_64
    for ta, tb in [(False, False), (False, True), (True, False)]:
        tag = "nn" if not (ta or tb) else "nt" if tb else "tn"
        add("matmul", f"f32_{tag}", matmul.build(t128, F32, F32, F32, ta, tb), t128.threads)
    add("matmul", "f16_nn", matmul.build(t128, F16, F16, F16, False, False), t128.threads)
    bf16 = _dtypes.BFLOAT16
    add("matmul", "bf16_nn", matmul.build(t128, bf16, bf16, bf16, False, False), t128.threads)
    add(
        "matmul", "f32_nn_splitk", matmul.build(t64, F32, F32, F32, False, False, True), t64.threads
    )
    add("matmul", "sum_splits", _gemm.build_sum_splits(F32), 256)

    resnet = conv.ConvGeom.make((64, 64, 56, 56), (64, 64, 3, 3), 1, 1)
    mnist = conv.ConvGeom.make((128, 1, 28, 28), (32, 1, 3, 3))
    add("conv", "forward_resnet", conv.build_forward(resnet, t64, F32), t64.threads)
    add("conv", "backward_data_resnet", conv.build_backward_data(resnet, t64, F32), t64.threads)
    add(
        "conv",
        "backward_weight_resnet",
        conv.build_backward_weight(resnet, t64, F32, True),
        t64.threads,
    )
    tile = _gemm.TILE_32
    add("conv", "forward_mnist", conv.build_forward(mnist, tile, F32), tile.threads)
    for name, built in zip(
        ("im2col", "col2im", "swap01"), conv.build_fallback(resnet, F32), strict=True
    ):
        add("conv_fallback", name, built)

    return specs


def local_memory(ptx: str) -> dict:
    return {
        "local_bytes": sum(int(n) for n in _LOCAL_DECL.findall(ptx)),
        "ld_local": len(re.findall(r"\bld\.local\b", ptx)),
        "st_local": len(re.findall(r"\bst\.local\b", ptx)),
    }


def ptxas_report(ptx: str, cc) -> dict | None:
    """Registers and spills from ptxas -v; the PTX ISA version is lowered to what ptxas knows."""
    exe = shutil.which("ptxas")
    if exe is None:
        return None
    arch = f"sm_{cc[0]}{cc[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "k.ptx")
        for _ in range(2):
            with open(path, "w") as f:
                f.write(ptx)
            proc = subprocess.run(
                [exe, "-v", f"-arch={arch}", path, "-o", os.devnull], capture_output=True, text=True
            )
            known = re.search(r"current version is '([\d.]+)'", proc.stderr)
            if proc.returncode == 0 or not known:
                break
            ptx = re.sub(r"^\.version\s+[\d.]+", f".version {known.group(1)}", ptx, flags=re.M)
    if proc.returncode:
        return {"error": proc.stderr.strip()[-500:]}
    text = proc.stderr

    def grab(pattern):
        m = re.search(pattern, text)
        return int(m.group(1)) if m else 0

    return {
        "registers": grab(r"Used (\d+) registers"),
        "spill_stores": grab(r"(\d+) bytes spill stores"),
        "spill_loads": grab(r"(\d+) bytes spill loads"),
        "stack": grab(r"(\d+) bytes stack frame"),
    }


def check(ccs=((8, 0), (9, 0)), only=None, use_ptxas=False) -> dict:
    from numba import cuda

    results = {}
    for name, (fn, sig, threads) in kernel_specs(only).items():
        entry = {}
        for cc in ccs:
            key = f"{cc[0]}.{cc[1]}"
            try:
                ptx, _ = cuda.compile_ptx(fn, sig, cc=cc, launch_bounds=threads)
            except Exception as e:  # report every kernel, not just the first failure
                entry[key] = {"error": f"{type(e).__name__}: {e}"[:2000]}
                continue
            entry[key] = local_memory(ptx)
            if use_ptxas:
                entry[key]["ptxas"] = ptxas_report(ptx, cc)
        results[name] = entry
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cc", nargs="+", default=["8.0", "9.0"])
    parser.add_argument("--only", nargs="+", help="kernel groups, e.g. matmul conv")
    parser.add_argument("--ptxas", action="store_true", help="also run ptxas -v if available")
    args = parser.parse_args(argv)
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        print("ptx_check needs the real numba.cuda: unset NUMBA_ENABLE_CUDASIM", file=sys.stderr)
        return 2
    ccs = [tuple(int(p) for p in c.split(".")) for c in args.cc]
    results = check(ccs, set(args.only) if args.only else None, args.ptxas)
    json.dump(results, sys.stdout, indent=1, sort_keys=True)
    print()
    failed = any("error" in r for e in results.values() for r in e.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
