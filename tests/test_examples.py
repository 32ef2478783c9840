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


def run_fails(*args, timeout=600):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    p = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=timeout)
    assert p.returncode != 0, p.stdout[-3000:]
    return p.stderr


def number_after(out, text):
    return float(out.split(text)[1].split()[0].rstrip(","))


def test_char_lm_lstm_toy_save_resume_generate(tmp_path):
    ckpt = tmp_path / "lm.safetensors"
    toy = ["examples/char_lm.py", "--data-dir", str(tmp_path / "nodata"), "--hidden", "16",
           "--embed", "8", "--seq-len", "16", "--batch-size", "8", "--eval-every", "3",
           "--eval-batches", "2", "--generate", "20", "--samples", "1"]
    out = run(*toy, "--steps", "6", "--save", str(ckpt))
    assert "bundled fortunes-min sample" in out and "epoch 2:" in out
    bits, unigram = number_after(out, "nats/char ="), number_after(out, "unigram baseline")
    assert 0 < bits < 8 and 4 < unigram < 7
    sample = out.split("--- sample 1")[1].splitlines()[1]
    assert sample.startswith("The ") and len(sample) > 4
    assert ckpt.exists() and (tmp_path / "lm.json").exists()
    out2 = run(*toy, "--steps", "6", "--resume", str(ckpt), "--prompt", "Love")
    assert "resumed from" in out2 and "epoch 1:" not in out2 and "epoch 2:" not in out2
    assert number_after(out2, "nats/char =") == bits  # same checkpoint, same validation
    assert out2.split("--- sample 1")[1].splitlines()[1].startswith("Love")
    err = run_fails(*toy, "--steps", "0", "--resume", str(ckpt), "--prompt", "snow \u2603")
    assert "--prompt" in err and "not in the vocabulary" in err and "U+2603" in err


def test_char_lm_transformer_toy(tmp_path):
    out = run("examples/char_lm.py", "--model", "transformer", "--data-dir",
              str(tmp_path / "nodata"), "--d-model", "16", "--heads", "2", "--layers", "1",
              "--seq-len", "16", "--batch-size", "8", "--steps", "3", "--eval-every", "3",
              "--eval-batches", "2", "--generate", "30", "--samples", "2")  # > seq-len
    assert "TransformerLM(" in out and "bits/char" in out
    assert "--- sample 2" in out and "--- sample 3" not in out


def test_char_lm_bad_categories(tmp_path):
    err = run_fails("examples/char_lm.py", "--data-dir", str(tmp_path / "nodata"),
                    "--categories", "nope")
    assert "unknown categories ['nope']" in err and "riddles" in err


def test_char_lm_empty_or_too_short_corpus(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "blank").write_text("%\n\n%\n")
    err = run_fails("examples/char_lm.py", "--data-dir", str(tmp_path / "empty"))
    assert "error: fortunes: no records in categories ['blank']" in err
    (tmp_path / "short").mkdir()
    (tmp_path / "short" / "s").write_text("one short fortune\n%\nanother\n%\nthird\n")
    err = run_fails("examples/char_lm.py", "--data-dir", str(tmp_path / "short"), "--prompt",
                    "o")
    assert "error: the text is too short" in err and "make no batch of 32 streams" in err


def test_forecast_series_shorter_than_a_window():
    err = run_fails("examples/forecast.py", "--test-years", "0")
    assert "shorter than one window" in err and "--input-len" in err
    err = run_fails("examples/forecast.py", "--input-len", "2000")
    assert "context 2000 is longer than the training span" in err


def test_text_classify_toy(tmp_path):
    png = tmp_path / "c.png"
    out = run("examples/text_classify.py", "--data-dir", str(tmp_path / "nodata"),
              "--epochs", "1", "--baseline-steps", "30", "--embed", "8", "--hidden", "8",
              "--max-len", "16", "--plot", str(png))
    assert "categories: fortunes (431), literature (262), riddles (128)" in out
    assert out.count("confusion matrix") == 2 and "macro avg" in out
    model, base = number_after(out, "test accuracy: lstm"), \
        number_after(out, "bag-of-words baseline")
    assert 0 < model <= 1 and 0.6 < base <= 1  # bag of words separates these three well
    err = run_fails("examples/text_classify.py", "--data-dir", str(tmp_path / "nodata"),
                    "--categories", "fortunes", "sports")
    assert "unknown categories ['sports']" in err


def test_forecast_toy(tmp_path):
    png = tmp_path / "f.png"
    out = run("examples/forecast.py", "--epochs", "1", "--limit", "128", "--hidden", "8",
              "--plot", str(png))
    assert "59 interpolated" in out and "test targets from 1998-01-10" in out
    lstm, naive = number_after(out, "LSTM            MAE"), number_after(out, "seasonal-naive  MAE")
    assert 0 < lstm < 10 and naive == pytest.approx(0.823, abs=0.001)
    try:
        import matplotlib  # noqa: F401
        assert png.exists()
    except ImportError:
        assert "matplotlib is not installed" in out
