"""The examples' shared training loop (examples/training.py): epochs, evaluation,
checkpoint and resume, curves."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import funtorch as ft

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples"))
import training  # noqa: E402  (examples/training.py)


def problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5], np.float32)
    opt = ft.optim.sgd(0.1)
    params = {"w": ft.zeros(3)}

    @ft.jit
    def update(params, opt_state, x, y):
        loss, g = ft.value_and_grad(lambda p: ft.mean((x @ p["w"] - y) ** 2))(params)
        u, opt_state = opt.update(g, opt_state, params)
        return ft.optim.apply_updates(params, u), opt_state, loss

    def step(state, batch):
        p, s, loss = update(state["params"], state["opt_state"], *map(ft.asarray, batch))
        return {"params": p, "opt_state": s}, {"loss": loss}

    def batches(epoch):
        return ft.data.batches(x, y, batch_size=16, key=ft.random.fold_in(ft.random.key(1),
                                                                           epoch))

    def evaluate(state):
        return {"valid mse": float(np.mean((x @ np.asarray(state["params"]["w"]) - y) ** 2))}

    return {"params": params, "opt_state": opt.init(params)}, step, batches, evaluate


def test_fit_logs_evaluates_and_resumes_exactly(tmp_path):
    state, step, batches, evaluate = problem()
    lines = []
    full, hist = training.fit(state, step, batches, epochs=3, evaluate=evaluate,
                              log=lines.append)
    assert len(hist["loss"]) == 12 and hist["step"][-1] == 12
    assert [r["valid mse"] for r in hist["epochs"]] == sorted(
        [r["valid mse"] for r in hist["epochs"]], reverse=True)
    assert lines[0].startswith("epoch 1: train loss ") and "valid mse" in lines[0]
    ckpt = tmp_path / "c.safetensors"
    training.fit(state, step, batches, epochs=1, checkpoint=ckpt, log=lines.append)
    resumed, hist2 = training.fit(state, step, batches, epochs=3, resume=ckpt,
                                  log=lines.append)
    assert len(hist2["epochs"]) == 2 and lines[-1].startswith("epoch 3:")
    np.testing.assert_array_equal(np.asarray(resumed["params"]["w"]),
                                  np.asarray(full["params"]["w"]))


def test_plot_curves(tmp_path):
    pytest.importorskip("matplotlib")
    state, step, batches, evaluate = problem()
    _, hist = training.fit(state, step, batches, epochs=2, evaluate=evaluate, log=print)
    training.plot_curves(tmp_path / "c.png", hist, ["valid mse"])
    assert (tmp_path / "c.png").stat().st_size > 1000
