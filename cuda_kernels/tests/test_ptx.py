"""Every kernel compiles to PTX for sm_80 and sm_90 at its real GPU configuration, and the
register-blocked GEMMs (matmul, conv) keep their accumulators out of local memory.

PTX compilation needs the real numba.cuda (not the simulator this suite runs under), so the
check runs in a subprocess; it needs NVVM but no GPU."""

import json
import os
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def report():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run(
        [sys.executable, "-m", "cuda_kernels.ptx_check", "--ptxas"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    assert proc.stdout, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_every_kernel_compiles_for_sm80_and_sm90(report):
    groups = {name.split(".")[0] for name in report}
    assert groups >= {"matmul", "conv", "conv_fallback"}
    for name, per_cc in report.items():
        assert set(per_cc) == {"8.0", "9.0"}, name
        for cc, r in per_cc.items():
            assert "error" not in r, f"{name} sm_{cc}: {r.get('error')}"


def test_gemm_kernels_have_no_local_memory_or_spills(report):
    gemms = {k: v for k, v in report.items() if k.split(".")[0] in ("matmul", "conv")}
    assert len(gemms) >= 8
    for name, per_cc in gemms.items():
        for cc, r in per_cc.items():
            assert (r["local_bytes"], r["ld_local"], r["st_local"]) == (0, 0, 0), (name, cc, r)
            ptxas = r.get("ptxas")
            if ptxas and "error" not in ptxas:  # only where a ptxas binary is installed
                assert ptxas["spill_stores"] == ptxas["spill_loads"] == 0, (name, cc, ptxas)
