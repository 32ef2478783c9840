"""Optimizers, schedules and gradient clipping against PyTorch trajectories."""


import numpy as np
import pytest

import funtorch as ft
from funtorch import optim
from funtorch.optim import schedules

from .common import close, rng

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")



SHAPES = {"s": (), "v": (5,), "m": (3, 4), "t": (2, 3, 2)}
STEPS = 20


def _start(dtype, seed):
    r = rng(seed)
    return {k: r.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def ours_trajectory(opt, dtype=np.float32, jit=False):
    p = {k: ft.asarray(v) for k, v in _start(dtype, 1).items()}
    target = {k: ft.asarray(v) for k, v in _start(dtype, 2).items()}

    def loss(p):
        return sum(((p[k] - target[k]) ** 2 * (1 + i)).sum()
                   + 0.1 * ((p[k] - target[k]) ** 4).sum() for i, k in enumerate(sorted(p)))

    def step(p, state):
        updates, state = opt.update(ft.grad(loss)(p), state, p)
        return optim.apply_updates(p, updates), state

    step = ft.jit(step) if jit else step
    state, out = opt.init(p), []
    for _ in range(STEPS):
        p, state = step(p, state)
        out.append({k: np.asarray(v) for k, v in p.items()})
    return out


def torch_trajectory(torch, make, dtype=np.float32, sched=None, clip=None):
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in _start(dtype, 1).items()}
    target = {k: torch.tensor(v) for k, v in _start(dtype, 2).items()}
    opt = make(list(tp.values()))
    sc = sched(opt) if sched else None
    out = []
    for _ in range(STEPS):
        opt.zero_grad()
        sum(((tp[k] - target[k]) ** 2 * (1 + i)).sum() + 0.1 * ((tp[k] - target[k]) ** 4).sum()
            for i, k in enumerate(sorted(tp))).backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(list(tp.values()), clip)
        opt.step()
        if sc:
            sc.step()
        out.append({k: v.detach().numpy().copy() for k, v in tp.items()})
    return out


def same_trajectory(ours, ref, rtol=1e-5, atol=1e-6):
    assert len(ours) == len(ref) == STEPS
    for i, (a, b) in enumerate(zip(ours, ref)):
        for k in a:
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
            np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol,
                                       err_msg=f"step {i + 1}, param {k}")


OPTIMIZERS = [
    ("sgd", dict(lr=0.01, momentum=0.9, dampening=0.5, weight_decay=0.1)),
    ("sgd", dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("sgd", dict(lr=0.02)),
    ("adam", dict()),
    ("adam", dict(lr=0.05, weight_decay=0.1, amsgrad=True, betas=(0.5, 0.9))),
    ("adam", dict(lr=0.05, eps=1e-3)),
    ("adamw", dict()),
    ("adamw", dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
    ("rmsprop", dict()),
    ("rmsprop", dict(lr=0.01, alpha=0.9, eps=1e-3, weight_decay=0.1, momentum=0.5,
                     centered=True)),
    ("rmsprop", dict(lr=0.01, centered=True, eps=1e-4)),
]
TORCH_NAMES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw", OPTIMIZERS, ids=str)
def test_optimizer_trajectories(torch, name, kw, dtype):
    ref_cls = getattr(torch.optim, TORCH_NAMES[name])
    tol = (1e-5, 1e-6) if dtype == np.float32 else (1e-9, 1e-11)
    same_trajectory(ours_trajectory(getattr(optim, name)(**kw), dtype),
                    torch_trajectory(torch, lambda p: ref_cls(p, **kw), dtype), *tol)


@pytest.mark.parametrize("case", ["step", "cosine", "linear", "linear_down"])
def test_schedules_against_real_torch_schedulers(torch, case):
    S, O = torch.optim.lr_scheduler, torch.optim
    ours, make, sched = {
        "step": (optim.sgd(schedules.step_lr(0.02, 5, 0.5), momentum=0.9),
                 lambda p: O.SGD(p, 0.02, momentum=0.9), lambda o: S.StepLR(o, 5, 0.5)),
        "cosine": (optim.adam(schedules.cosine_decay(0.05, STEPS, 0.1)),
                   lambda p: O.Adam(p, 0.05), lambda o: S.CosineAnnealingLR(o, STEPS, 0.005)),
        "linear": (optim.adamw(schedules.linear_warmup(0.05, 8, 0.1)),
                   lambda p: O.AdamW(p, 0.05), lambda o: S.LinearLR(o, 0.1, 1.0, 8)),
        "linear_down": (optim.sgd(schedules.linear_warmup(0.05, 8, 1.0, 0.2)),
                        lambda p: O.SGD(p, 0.05), lambda o: S.LinearLR(o, 1.0, 0.2, 8)),
    }[case]
    same_trajectory(ours_trajectory(ours), torch_trajectory(torch, make, sched=sched))


@pytest.mark.parametrize("name,kw", [("adam", dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
                                     ("rmsprop", dict(lr=0.01, centered=True, momentum=0.5,
                                                      eps=1e-4)),
                                     ("sgd", dict(lr=0.01, momentum=0.9, nesterov=True))],
                         ids=str)
def test_jitted_optimizer_steps_match_torch(torch, name, kw):
    ref_cls = getattr(torch.optim, TORCH_NAMES[name])
    same_trajectory(ours_trajectory(getattr(optim, name)(**kw), jit=True),
                    torch_trajectory(torch, lambda p: ref_cls(p, **kw)))


def test_clip_then_scheduled_adamw_matches_torch(torch):
    ours = optim.chain(optim.clip_by_global_norm(0.5),
                       optim.adamw(schedules.cosine_decay(0.05, STEPS, 0.1), amsgrad=True))
    same_trajectory(
        ours_trajectory(ours, jit=True),
        torch_trajectory(torch, lambda p: torch.optim.AdamW(p, 0.05, amsgrad=True),
                         sched=lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
                             o, STEPS, 0.005), clip=0.5))


@pytest.mark.parametrize("max_norm,scale", [(1.0, 1.0), (100.0, 1.0), (1.0, 0.0), (0.5, 1e-3),
                                            (1e-3, 10.0)])
def test_clip_by_global_norm_matches_clip_grad_norm(torch, max_norm, scale):
    g = {k: v * scale for k, v in _start(np.float32, 3).items()}
    updates, _ = optim.clip_by_global_norm(max_norm).update(
        {k: ft.asarray(v) for k, v in g.items()}, optim.clip_by_global_norm(max_norm).init(g))
    ps = []
    for v in g.values():
        p = torch.zeros(v.shape, requires_grad=True)
        p.grad = torch.tensor(v)
        ps.append(p)
    total = torch.nn.utils.clip_grad_norm_(ps, max_norm)
    close(optim.global_norm({k: ft.asarray(v) for k, v in g.items()}), total, 1e-6, 1e-7)
    for k, p in zip(g, ps):
        close(updates[k], p.grad, 1e-6, 1e-7)
