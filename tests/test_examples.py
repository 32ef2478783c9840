"""The examples run end to end (tiny settings) and checkpoints resume."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, timeout=600):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    p = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=timeout)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout


def test_simple_net():
    out = run("examples/simple_net.py")
    assert "SimpleNet(" in out and "(fc1): Linear(in_features=10, out_features=5" in out
    losses = [float(line.split()[-1]) for line in out.splitlines() if line.startswith("step")]
    assert len(losses) == 5 and losses[-1] < losses[0]


@pytest.mark.slow
def test_mnist_mlp_save_resume_plot(tmp_path):
    ckpt = tmp_path / "ckpt.safetensors"
    png = tmp_path / "curve.png"
    out = run("examples/mnist.py", "--model", "mlp", "--epochs", "1", "--limit", "512",
              "--no-download", "--data-dir", str(tmp_path / "nodata"), "--save", str(ckpt),
              "--plot", str(png))
    assert "bundled MNIST sample" in out or "sample" in out
    assert "epoch 1:" in out and "confusion matrix" in out and ckpt.exists()
    try:
        import matplotlib  # noqa: F401
        assert png.exists()
    except ImportError:
        assert "matplotlib is not installed" in out
    acc1 = float(out.split("final test accuracy:")[1].split()[0])
    assert acc1 > 0.5
    out2 = run("examples/mnist.py", "--model", "mlp", "--epochs", "2", "--limit", "512",
               "--no-download", "--data-dir", str(tmp_path / "nodata"), "--resume", str(ckpt))
    assert "resumed from" in out2 and "epoch 2:" in out2 and "epoch 1:" not in out2
