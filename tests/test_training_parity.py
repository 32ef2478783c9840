"""Audit of the training stack as users compose it: whole jitted training steps over every
layer (compiled CPU backend vs the reference interpreter vs eager vs PyTorch),
checkpoint/resume, optimizer chains and schedules inside jit, re-jitting on new batch
sizes, and a quick MNIST epoch. The transforms over models are in
tests/test_model_transforms_parity.py."""

from __future__ import annotations

import time

import numpy as np
import pytest

import funtorch as ft
import funtorch.nn as nn
import funtorch.nn.functional as F

RNG = np.random.default_rng(0)


# ----------------------------------------------------------------------------- helpers

def _np(x):
    return np.asarray(x)


def _copy(tree):
    """Fresh arrays (steps donate their inputs)."""
    return ft.tree.map(lambda a: ft.tensor(np.array(a)), tree)


def _assert_trees(a, b, rtol, atol, what=""):
    la, lb = ft.tree.leaves(a), ft.tree.leaves(b)
    assert ft.tree.structure(a) == ft.tree.structure(b), what
    for x, y in zip(la, lb):
        np.testing.assert_allclose(_np(x).astype(np.float64), _np(y).astype(np.float64),
                                   rtol=rtol, atol=atol, err_msg=what)


def _interpreted(monkeypatch, fn, **kw):
    """A fresh jit of ``fn`` whose graphs compile with the reference interpreter (the
    variable is read when a graph is compiled; a fresh jit traces fresh graphs)."""
    import funtorch.backends.cpu.backend as backends

    monkeypatch.setenv("FUNTORCH_CPU_BACKEND", "interpret")
    real = backends.interpret
    used = []
    monkeypatch.setattr(backends, "interpret", lambda g: used.append(g) or real(g))
    jf = ft.jit(fn, **kw)

    def call(*args):
        out = jf(*args)
        assert used, "the interpreter backend was not used"
        return out

    return call


class Net(nn.Module):
    """Custom Module using every layer: nested Sequential, convs, pools, norms, embedding,
    dropout and every activation. Layers feeding a BatchNorm have no bias: its gradient is
    zero up to rounding, which Adam would amplify to +-lr noise."""

    def __init__(self, p=0.0):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.GELU(),
            nn.Sequential(nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=2), nn.SiLU()),
            nn.MaxPool2d(2), nn.AvgPool2d(2, stride=1), nn.Flatten())
        self.emb = nn.Embedding(10, 6)
        self.conv1d = nn.Conv1d(6, 4, 3, stride=2, padding=1)
        self.sig = nn.Sigmoid()
        self.head = nn.Sequential(
            nn.Linear(8, 12), nn.LayerNorm(12), nn.Tanh(), nn.Dropout(p),
            nn.Linear(12, 8, bias=False), nn.BatchNorm1d(8), nn.LeakyReLU(0.1), nn.Linear(8, 5))
        self.soft = nn.Softmax(dim=1)
        self.logsoft = nn.LogSoftmax(dim=1)

    def __call__(self, params, x, tok, *, key=None, train=False, state=None):
        f, s1 = self.features(params["features"], x, train=train, state=state["features"])
        e = self.emb(params["emb"], tok)                       # [N, L, 6]
        e = self.conv1d(params["conv1d"], ft.transpose(e, (0, 2, 1)))
        e = self.sig(None, e.mean(axis=2))                      # [N, 4]
        h = ft.concatenate([f, e], axis=1)
        h, s2 = self.head(params["head"], h, key=key, train=train, state=state["head"])
        h = h + self.soft(None, h)
        return self.logsoft(None, h), {"features": s1, "head": s2}


def _torch_net(torch):
    tn = torch.nn

    class TNet(tn.Module):
        def __init__(self):
            super().__init__()
            self.features = tn.Sequential(
                tn.Conv2d(1, 4, 3, padding=1, bias=False), tn.BatchNorm2d(4), tn.GELU(),
                tn.Sequential(tn.Conv2d(4, 4, 3, stride=2, padding=1, groups=2), tn.SiLU()),
                tn.MaxPool2d(2), tn.AvgPool2d(2, stride=1), tn.Flatten())
            self.emb = tn.Embedding(10, 6)
            self.conv1d = tn.Conv1d(6, 4, 3, stride=2, padding=1)
            self.sig = tn.Sigmoid()
            self.head = tn.Sequential(
                tn.Linear(8, 12), tn.LayerNorm(12), tn.Tanh(), tn.Dropout(0.0),
                tn.Linear(12, 8, bias=False), tn.BatchNorm1d(8), tn.LeakyReLU(0.1), tn.Linear(8, 5))
            self.soft = tn.Softmax(dim=1)
            self.logsoft = tn.LogSoftmax(dim=1)

        def forward(self, x, tok):
            f = self.features(x)
            e = self.conv1d(self.emb(tok).transpose(1, 2))
            e = self.sig(e.mean(dim=2))
            h = self.head(torch.cat([f, e], dim=1))
            return self.logsoft(h + self.soft(h))

    return TNet()


def _data(n=6, seed=0):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, 1, 8, 8)).astype(np.float32)
    tok = r.integers(0, 10, (n, 7)).astype(np.int64)
    y = r.integers(0, 5, (n,)).astype(np.int64)
    return x, tok, y


def _make_step(model, opt):
    def loss_fn(params, state, x, tok, y, key):
        out, state = model(params, x, tok, key=key, train=True, state=state)
        return F.nll_loss(out, y), state

    def step(params, opt_state, state, x, tok, y, key):
        (loss, state), g = ft.value_and_grad(loss_fn, has_aux=True)(params, state, x, tok, y,
                                                                    key)
        upd, opt_state = opt.update(g, opt_state, params)
        return ft.optim.apply_updates(params, upd), opt_state, state, loss

    return step


def _train(step, model, params, opt, steps=5, batches=None, seed=0):
    params = _copy(params)
    opt_state = opt.init(params)
    state = model.init_state()
    key = ft.random.key(seed)
    losses = []
    for i in range(steps):
        x, tok, y = batches[i]
        key, sub = ft.random.split(key)
        params, opt_state, state, loss = step(params, opt_state, state, ft.tensor(x),
                                              ft.tensor(tok), ft.tensor(y), sub)
        losses.append(float(loss))
    return params, state, np.array(losses)


OPTS = {
    "sgd_momentum": (lambda: ft.optim.sgd(0.1, momentum=0.9),
                     lambda torch, ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
    "adam": (lambda: ft.optim.adam(1e-2),
             lambda torch, ps: torch.optim.Adam(ps, lr=1e-2)),
    "sgd_nesterov_wd": (lambda: ft.optim.sgd(0.05, momentum=0.9, nesterov=True,
                                             weight_decay=1e-2),
                        lambda torch, ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9,
                                                          nesterov=True, weight_decay=1e-2)),
    "adamw_amsgrad": (lambda: ft.optim.adamw(1e-2, weight_decay=0.1, amsgrad=True),
                      lambda torch, ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1,
                                                          amsgrad=True)),
}


# ------------------------------------------------------------------- whole training steps

@pytest.mark.parametrize("p", [0.0, 0.3])
def test_step_compiled_vs_interpreter_vs_eager(monkeypatch, p):
    model = Net(p)
    params = model.init(ft.random.key(1))
    opt = ft.optim.adam(1e-2)
    data = [_data(seed=i) for i in range(5)]
    step = _make_step(model, opt)
    eager = _train(step, model, params, opt, batches=data)
    compiled = _train(ft.jit(step, donate_argnums=(0, 1)), model, params, opt, batches=data)
    interp = _train(_interpreted(monkeypatch, step, donate_argnums=(0, 1)), model, params,
                    opt, batches=data)
    for name, run in (("compiled", compiled), ("interpreter", interp)):
        np.testing.assert_allclose(run[2], eager[2], rtol=1e-5, atol=1e-6, err_msg=name)
        # Adam divides by sqrt(v): in the first steps a float32 rounding difference in a
        # tiny gradient moves the update by up to ~lr * rel_err, hence atol 1e-4 here
        _assert_trees(run[0], eager[0], 1e-4, 1e-4, name + " params")
        _assert_trees(run[1], eager[1], 1e-4, 1e-5, name + " state")


@pytest.mark.parametrize("opt_name", list(OPTS))
def test_step_vs_torch(torch, opt_name):
    make_ft, make_torch = OPTS[opt_name]
    model = Net(0.0)
    params = model.init(ft.random.key(2))
    tmodel = _torch_net(torch)
    flat = model.state_dict(params, model.init_state())
    tmodel.load_state_dict({k: torch.tensor(np.array(v)) for k, v in flat.items()})
    tmodel.train()
    topt = make_torch(torch, tmodel.parameters())
    data = [_data(seed=10 + i) for i in range(5)]
    opt = make_ft()
    fparams, fstate, flosses = _train(ft.jit(_make_step(model, opt), donate_argnums=(0, 1)),
                                      model, params, opt, batches=data)
    tlosses = []
    for x, tok, y in data:
        topt.zero_grad()
        loss = torch.nn.functional.nll_loss(tmodel(torch.tensor(x), torch.tensor(tok)),
                                            torch.tensor(y))
        loss.backward()
        topt.step()
        tlosses.append(loss.item())
    np.testing.assert_allclose(flosses, tlosses, rtol=1e-4, atol=1e-5)
    got = model.state_dict(fparams, fstate)
    want = tmodel.state_dict()
    assert list(got) == list(want)
    for k in want:
        np.testing.assert_allclose(_np(got[k]), want[k].numpy(), rtol=2e-3, atol=2e-4,
                                   err_msg=k)


# ------------------------------------------------------------------- an MLP as a param tree

def _mlp_loss(params, x, y):
    h = ft.tanh(x @ params["w1"].T + params["b1"])
    return F.cross_entropy(h @ params["w2"].T + params["b2"], y)


def _mlp_params(seed):
    r = np.random.default_rng(seed)
    return {"w1": ft.tensor(r.standard_normal((8, 5)).astype(np.float32) * 0.3),
            "b1": ft.tensor(r.standard_normal(8).astype(np.float32) * 0.1),
            "w2": ft.tensor(r.standard_normal((3, 8)).astype(np.float32) * 0.3),
            "b2": ft.tensor(r.standard_normal(3).astype(np.float32) * 0.1)}


def test_checkpoint_resume_is_bit_exact(tmp_path):
    model = Net(0.3)
    params0 = model.init(ft.random.key(9))
    opt = ft.optim.adam(1e-2)
    step = ft.jit(_make_step(model, opt), donate_argnums=(0, 1))
    data = [_data(seed=20 + i) for i in range(6)]

    def run(params, opt_state, state, key, lo, hi):
        for i in range(lo, hi):
            x, tok, y = data[i]
            key, sub = ft.random.split(key)
            params, opt_state, state, _ = step(params, opt_state, state, ft.tensor(x),
                                               ft.tensor(tok), ft.tensor(y), sub)
        return params, opt_state, state, key

    p = _copy(params0)
    full = run(p, opt.init(p), model.init_state(), ft.random.key(0), 0, 6)
    p = _copy(params0)
    mid = run(p, opt.init(p), model.init_state(), ft.random.key(0), 0, 3)
    path = tmp_path / "ckpt.safetensors"
    ft.save(path, {"params": mid[0], "opt": mid[1], "state": mid[2], "key": mid[3]})
    ck = ft.load(path)
    resumed = run(ck["params"], ck["opt"], ck["state"], ck["key"], 3, 6)
    for a, b in zip(ft.tree.leaves(full), ft.tree.leaves(resumed)):
        np.testing.assert_array_equal(_np(a), _np(b))


def _torch_copies(torch, params):
    """The leaves of ``params`` as torch leaf tensors that require grad, in dict order."""
    return [torch.tensor(_np(params[k]), requires_grad=True) for k in params]


def _mlp_vs_torch(torch, params, opt, tparams, topt, steps, seed, *, scale=1, clip=None,
                  sched=None, single_trace=False):
    """Trains the ``_mlp_loss`` MLP for ``steps`` batches (batch ``i`` drawn from seed
    ``seed + i``, inputs times ``scale``) with ``opt`` in a jitted step and with ``topt``
    over ``tparams`` in torch (gradient-norm clipping to ``clip`` before each torch step,
    ``sched.step()`` after it), then compares the final parameters."""
    names = list(params)

    @ft.jit
    def step(params, state, x, y):
        g = ft.grad(_mlp_loss)(params, x, y)
        upd, state = opt.update(g, state, params)
        return ft.optim.apply_updates(params, upd), state

    state = opt.init(params)
    for i in range(steps):
        r = np.random.default_rng(seed + i)
        x = r.standard_normal((8, 5)).astype(np.float32) * scale
        y = r.integers(0, 3, 8)
        params, state = step(params, state, ft.tensor(x), ft.tensor(y))
        topt.zero_grad()
        p = dict(zip(names, tparams))
        h = torch.tanh(torch.tensor(x) @ p["w1"].T + p["b1"])
        torch.nn.functional.cross_entropy(h @ p["w2"].T + p["b2"], torch.tensor(y)).backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(tparams, clip)
        topt.step()
        if sched is not None:
            sched.step()
    if single_trace:
        assert step.cache_size == 1
    for k, t in zip(names, tparams):
        np.testing.assert_allclose(_np(params[k]), t.detach().numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=k)


def test_chain_clip_adam_vs_torch(torch):
    params = _mlp_params(10)
    opt = ft.optim.chain(ft.optim.clip_by_global_norm(0.5), ft.optim.adam(1e-2))
    tparams = _torch_copies(torch, params)
    topt = torch.optim.Adam(tparams, lr=1e-2)
    _mlp_vs_torch(torch, params, opt, tparams, topt, 5, 30, scale=3, clip=0.5)


def test_lr_schedule_inside_jit_vs_torch(torch):
    params = _mlp_params(11)
    opt = ft.optim.sgd(ft.optim.schedules.step_lr(0.1, step_size=2, gamma=0.5), momentum=0.9)
    tparams = _torch_copies(torch, params)
    topt = torch.optim.SGD(tparams, lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(topt, step_size=2, gamma=0.5)
    _mlp_vs_torch(torch, params, opt, tparams, topt, 6, 40, sched=sched, single_trace=True)


# ----------------------------------------------------------------------------- re-jitting

def test_new_batch_size_retraces_once_and_partial_batch():
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    params = model.init(ft.random.key(12))
    opt = ft.optim.sgd(0.1)

    def step(params, opt_state, x, y):
        loss, g = ft.value_and_grad(lambda p: F.cross_entropy(model(p, x), y))(params)
        upd, opt_state = opt.update(g, opt_state, params)
        return ft.optim.apply_updates(params, upd), opt_state, loss

    jstep = ft.jit(step, donate_argnums=(0, 1))
    x = RNG.standard_normal((23, 5)).astype(np.float32)
    y = RNG.integers(0, 3, 23)
    p, s = _copy(params), opt.init(params)
    pe, se = _copy(params), opt.init(params)
    sizes = []
    for xb, yb in ft.data.batches(x, y, batch_size=8, drop_last=False):
        p, s, loss = jstep(p, s, ft.tensor(xb), ft.tensor(yb))
        pe, se, le = step(pe, se, ft.tensor(xb), ft.tensor(yb))
        np.testing.assert_allclose(float(loss), float(le), rtol=1e-5)
        sizes.append((xb.shape[0], jstep.cache_size))
    assert sizes == [(8, 1), (8, 1), (7, 2)]
    _assert_trees(p, pe, 1e-5, 1e-6)
    for xb, yb in ft.data.batches(x, y, batch_size=8, drop_last=False):
        p, s, _ = jstep(p, s, ft.tensor(xb), ft.tensor(yb))
    assert jstep.cache_size == 2


# ------------------------------------------------------------------------------ MNIST epoch

def test_mnist_sample_epoch_reaches_80_percent():
    t0 = time.perf_counter()
    images, labels = ft.data.mnist_sample("train")
    x = (images.astype(np.float32) / 255.0).reshape(len(images), -1)
    model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    params = model.init(ft.random.key(0))
    opt = ft.optim.adam(3e-3)
    opt_state = opt.init(params)

    @ft.jit
    def step(params, opt_state, xb, yb):
        loss, g = ft.value_and_grad(lambda p: F.cross_entropy(model(p, xb), yb))(params)
        upd, opt_state = opt.update(g, opt_state, params)
        return ft.optim.apply_updates(params, upd), opt_state, loss

    key = ft.random.key(1)
    for epoch in range(3):
        for xb, yb in ft.data.batches(x, labels, batch_size=64,
                                      key=ft.random.fold_in(key, epoch)):
            params, opt_state, _ = step(params, opt_state, ft.tensor(xb), ft.tensor(yb))
    acc = float((_np(model(params, ft.tensor(x))).argmax(1) == labels).mean())
    assert acc > 0.8, acc
    assert time.perf_counter() - t0 < 10


def test_bn_eval_after_training_vs_torch(torch):
    model = Net(0.0)
    params = model.init(ft.random.key(13))
    tmodel = _torch_net(torch)
    tmodel.load_state_dict({k: torch.tensor(np.array(v)) for k, v in
                            model.state_dict(params, model.init_state()).items()})
    opt = ft.optim.sgd(0.1)
    data = [_data(seed=50 + i) for i in range(3)]
    fparams, fstate, _ = _train(ft.jit(_make_step(model, opt), donate_argnums=(0, 1)), model,
                                params, opt, steps=3, batches=data)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1)
    tmodel.train()
    for x, tok, y in data:
        topt.zero_grad()
        torch.nn.functional.nll_loss(tmodel(torch.tensor(x), torch.tensor(tok)),
                                     torch.tensor(y)).backward()
        topt.step()
    tmodel.eval()
    x, tok, _ = _data(seed=99)
    out, st = ft.jit(lambda p, s, x, t: model(p, x, t, state=s))(fparams, fstate,
                                                                 ft.tensor(x), ft.tensor(tok))
    with torch.no_grad():
        want = tmodel(torch.tensor(x), torch.tensor(tok)).numpy()
    np.testing.assert_allclose(_np(out), want, rtol=1e-3, atol=1e-4)
    _assert_trees(st, fstate, 0, 0)


def test_cosine_warmup_schedules_inside_jit_vs_torch(torch):
    params = _mlp_params(14)
    sched = ft.optim.schedules.join(
        [ft.optim.schedules.linear_warmup(1e-2, 3, start_factor=0.25),
         ft.optim.schedules.cosine_decay(1e-2, 4, alpha=0.1)], [3])
    opt = ft.optim.adam(sched)
    tparams = _torch_copies(torch, params)
    topt = torch.optim.Adam(tparams, lr=1e-2)
    tsched = torch.optim.lr_scheduler.SequentialLR(
        topt, [torch.optim.lr_scheduler.LinearLR(topt, start_factor=0.25, total_iters=3),
               torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=4, eta_min=1e-3)],
        milestones=[3])
    _mlp_vs_torch(torch, params, opt, tparams, topt, 7, 60, sched=tsched, single_trace=True)


def test_donated_params_not_silently_mutated():
    """JAX deletes donated arrays; funtorch marks them used up: reading one raises."""
    model = nn.Linear(3, 2)
    params = model.init(ft.random.key(0))
    params0 = params                      # e.g. kept to reset or compare later
    before = ft.tree.map(lambda a: np.array(a), params0)
    step = ft.jit(lambda p: ft.tree.map(lambda w: w - 0.5, p), donate_argnums=(0,))
    out = step(params)
    for leaf in ft.tree.leaves(params0):
        with pytest.raises(RuntimeError, match="was donated to a jitted call"):
            np.array(leaf)
        assert repr(leaf) == "Array(<donated>)"
    for a, b in zip(ft.tree.leaves(out), ft.tree.leaves(before)):
        np.testing.assert_array_equal(np.asarray(a), b - 0.5)
    with pytest.raises(RuntimeError, match="was donated"):   # the cached fast path too
        step(params0)
    step(out)
    with pytest.raises(RuntimeError, match="was donated"):
        out["weight"] + 1


@pytest.mark.parametrize("case", ["conv2d_same_dilated_pools", "conv2d_groups_rect",
                                  "conv1d_same_gelu_tanh"])
def test_layer_options_grad_vs_torch(torch, case):
    def build(M):
        if case == "conv2d_same_dilated_pools":
            return (M.Sequential(M.Conv2d(2, 4, 3, padding="same", dilation=2),
                                 M.MaxPool2d(3, stride=2, padding=1),
                                 M.AvgPool2d(3, stride=2, padding=1), M.Flatten(),
                                 M.Linear(16, 3)), (2, 2, 8, 8))
        if case == "conv2d_groups_rect":
            return (M.Sequential(M.Conv2d(2, 4, (3, 2), stride=(2, 1), padding=(1, 0),
                                          groups=2), M.ReLU(),
                                 M.AvgPool2d(2, padding=1, count_include_pad=False),
                                 M.Flatten()), (2, 2, 8, 8))
        return (M.Sequential(M.Conv1d(3, 4, 3, padding="same", dilation=2),
                             M.GELU(approximate="tanh"), M.Flatten(), M.Linear(32, 2)),
                (2, 3, 8))

    (m, shape), (tm, _) = build(nn), build(torch.nn)
    p = m.init(ft.random.key(0))
    tm.load_state_dict({k: torch.tensor(np.array(v)) for k, v in nn.state_dict(p).items()})
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    gp, gx = ft.jit(ft.grad(lambda p, x: (m(p, x) ** 2).sum(), argnums=(0, 1)))(
        p, ft.tensor(x))
    tx = torch.tensor(x, requires_grad=True)
    (tm(tx) ** 2).sum().backward()
    np.testing.assert_allclose(_np(gx), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    flat = nn.state_dict(gp)
    for k, v in tm.named_parameters():
        np.testing.assert_allclose(_np(flat[k]), v.grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=k)
