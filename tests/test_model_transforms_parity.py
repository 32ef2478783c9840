"""Audit of the training stack (tests/test_training_parity.py, whose helpers this uses),
continued: transforms over models (ensembles by vmap, per-example grads, HVPs, batch-norm
grads, jit closing over a model, scan RNNs), against PyTorch where it is installed."""

from __future__ import annotations

import numpy as np
import pytest
from test_training_parity import OPTS, RNG, _assert_trees, _mlp_loss, _mlp_params, _np

import funtorch as ft
import funtorch.nn as nn
import funtorch.nn.functional as F


def test_vmap_ensemble_of_param_trees():
    model = nn.Sequential(nn.Linear(5, 8), nn.GELU(), nn.Linear(8, 3))
    trees = [model.init(ft.random.key(i)) for i in range(4)]
    stacked = ft.tree.map(lambda *xs: ft.stack(xs), *trees)
    x = ft.tensor(RNG.standard_normal((6, 5)).astype(np.float32))
    out = ft.jit(ft.vmap(model, in_axes=(0, None)))(stacked, x)
    want = np.stack([_np(model(t, x)) for t in trees])
    np.testing.assert_allclose(_np(out), want, rtol=1e-5, atol=1e-6)
    g = ft.vmap(ft.grad(lambda p, x: model(p, x).sum()), in_axes=(0, None))(stacked, x)
    for i, t in enumerate(trees):
        gi = ft.grad(lambda p, x: model(p, x).sum())(t, x)
        _assert_trees(ft.tree.map(lambda a, i=i: a[i], g), gi, 1e-5, 1e-6)


def test_per_example_grads_conv_net():
    model = nn.Sequential(nn.Conv2d(1, 3, 3, stride=2, padding=1), nn.ReLU(),
                          nn.AvgPool2d(2), nn.Flatten(), nn.Linear(12, 4))
    params = model.init(ft.random.key(3))
    x = ft.tensor(RNG.standard_normal((5, 1, 8, 8)).astype(np.float32))
    y = ft.tensor(RNG.integers(0, 4, 5))

    def loss(p, xi, yi):
        return F.cross_entropy(model(p, xi[None]), yi[None])

    per = ft.jit(ft.vmap(ft.grad(loss), in_axes=(None, 0, 0)))(params, x, y)
    for i in range(5):
        _assert_trees(ft.tree.map(lambda a, i=i: a[i], per),
                      ft.grad(loss)(params, x[i], y[i]), 1e-4, 1e-6)


def test_hvp_vs_torch(torch):
    params = _mlp_params(4)
    x = RNG.standard_normal((7, 5)).astype(np.float32)
    y = RNG.integers(0, 3, 7)
    v = _mlp_params(5)
    f = lambda p: _mlp_loss(p, ft.tensor(x), ft.tensor(y))  # noqa: E731
    _, hv = ft.jit(lambda p, v: ft.jvp(ft.grad(f), (p,), (v,)))(params, v)
    names = list(params)

    def tf(*ps):
        p = dict(zip(names, ps))
        h = torch.tanh(torch.tensor(x) @ p["w1"].T + p["b1"])
        return torch.nn.functional.cross_entropy(h @ p["w2"].T + p["b2"], torch.tensor(y))

    _, thv = torch.autograd.functional.hvp(
        tf, tuple(torch.tensor(_np(params[k])) for k in names),
        tuple(torch.tensor(_np(v[k])) for k in names))
    for k, t in zip(names, thv):
        np.testing.assert_allclose(_np(hv[k]), t.numpy(), rtol=1e-4, atol=1e-6, err_msg=k)


def test_grad_batchnorm_train_vs_torch(torch):
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))
    params = model.init(ft.random.key(6))
    x = RNG.standard_normal((8, 4)).astype(np.float32)
    y = RNG.standard_normal((8, 2)).astype(np.float32)

    def loss(p, s):
        out, s = model(p, ft.tensor(x), train=True, state=s)
        return F.mse_loss(out, ft.tensor(y)), s

    (val, new_state), g = ft.jit(ft.value_and_grad(loss, has_aux=True))(params,
                                                                        model.init_state())
    tm = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6),
                             torch.nn.ReLU(), torch.nn.Linear(6, 2))
    tm.load_state_dict({k: torch.tensor(np.array(v)) for k, v in
                        model.state_dict(params, model.init_state()).items()})
    tl = torch.nn.functional.mse_loss(tm(torch.tensor(x)), torch.tensor(y))
    tl.backward()
    np.testing.assert_allclose(float(val), tl.item(), rtol=1e-5)
    flat_g = nn.state_dict(g)
    for k, prm in tm.named_parameters():
        np.testing.assert_allclose(_np(flat_g[k]), prm.grad.numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=k)
    flat_s = model.state_dict(params, new_state)
    for k in ("1.running_mean", "1.running_var", "1.num_batches_tracked"):
        np.testing.assert_allclose(_np(flat_s[k]), tm.state_dict()[k].numpy(), rtol=1e-5,
                                   atol=1e-7, err_msg=k)


def test_jit_closing_over_model_and_params():
    model = nn.Sequential(nn.Linear(5, 7), nn.SiLU(), nn.Linear(7, 2))
    params = model.init(ft.random.key(7))
    x = ft.tensor(RNG.standard_normal((3, 5)).astype(np.float32))
    f = ft.jit(lambda x: model(params, x))
    np.testing.assert_allclose(_np(f(x)), _np(model(params, x)), rtol=1e-6, atol=1e-6)
    g = ft.jit(ft.grad(lambda x: model(params, x).sum()))(x)
    np.testing.assert_allclose(_np(g), _np(ft.grad(lambda x: model(params, x).sum())(x)),
                               rtol=1e-5, atol=1e-6)


def test_grad_through_scan_rnn_vs_torch(torch):
    r = np.random.default_rng(8)
    W = r.standard_normal((4, 3)).astype(np.float32) * 0.5
    U = r.standard_normal((4, 4)).astype(np.float32) * 0.5
    xs = r.standard_normal((6, 2, 3)).astype(np.float32)   # [T, N, D]

    def loss(W, U, xs):
        def cell(h, x):
            h = ft.tanh(x @ W.T + h @ U.T)
            return h, h.sum()
        h, s = ft.scan(cell, ft.zeros((2, 4)), xs)
        return (h ** 2).sum() + s.sum()

    val, (gW, gU) = ft.jit(ft.value_and_grad(loss, argnums=(0, 1)))(
        ft.tensor(W), ft.tensor(U), ft.tensor(xs))
    tW, tU = torch.tensor(W, requires_grad=True), torch.tensor(U, requires_grad=True)
    h, tot = torch.zeros(2, 4), 0.0
    for t in range(6):
        h = torch.tanh(torch.tensor(xs[t]) @ tW.T + h @ tU.T)
        tot = tot + h.sum()
    tl = (h ** 2).sum() + tot
    tl.backward()
    np.testing.assert_allclose(float(val), tl.item(), rtol=1e-5)
    np.testing.assert_allclose(_np(gW), tW.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_np(gU), tU.grad.numpy(), rtol=1e-4, atol=1e-5)



def test_vmap_in_axes_with_none_node_in_argument():
    f = lambda a, b, x: a * x.sum() + b[0]  # noqa: E731
    a, x = ft.ones((3, 2)), ft.ones((6, 5))
    out = ft.vmap(f, in_axes=(0, 0, None))(a, (a, None), x)
    np.testing.assert_allclose(_np(out), np.full((3, 2), 31.0))


@pytest.mark.parametrize("opt_name", ["sgd_momentum", "adam"])
def test_vmap_of_whole_training_step_over_ensemble(opt_name):
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    opt = OPTS[opt_name][0]()
    trees = [model.init(ft.random.key(20 + i)) for i in range(3)]

    def step(params, opt_state, x, y):
        g = ft.grad(lambda p: F.cross_entropy(model(p, x), y))(params)
        upd, opt_state = opt.update(g, opt_state, params)
        return ft.optim.apply_updates(params, upd), opt_state

    x = ft.tensor(RNG.standard_normal((6, 5)).astype(np.float32))
    y = ft.tensor(RNG.integers(0, 3, 6))
    stacked = ft.tree.map(lambda *xs: ft.stack(xs), *trees)
    vstep = ft.jit(ft.vmap(step, in_axes=(0, 0, None, None)))
    sp, ss = vstep(stacked, ft.vmap(opt.init)(stacked), x, y)
    sp, ss = vstep(sp, ss, x, y)
    for i, t in enumerate(trees):
        p, s = t, opt.init(t)
        for _ in range(2):
            p, s = step(p, s, x, y)
        _assert_trees(ft.tree.map(lambda a, i=i: a[i], sp), p, 1e-5, 1e-6)
