"""benchmarks/gpu_kernels.py cannot run here for real, so run its code paths at toy sizes
under the simulator (--simulate-tiny) and check that every section and check succeeds."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_kernels.py"


@pytest.mark.skipif(not SCRIPT.exists(), reason="benchmarks/ not in this checkout")
def test_simulate_tiny_run(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--simulate-tiny", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=dict(os.environ, NUMBA_ENABLE_CUDASIM="1"),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert not results["errors"]
    assert all(r["ok"] for r in results["correctness"].values())
    assert len(results["matmul"]) == 2 and len(results["conv"]) == 8
    assert set(results["launch"]) == {"fused_elementwise", "reduce_sum", "softmax", "matmul_1x1"}
    assert "| resnet_3x3 | backward_weight |" in (tmp_path / "results.md").read_text()
