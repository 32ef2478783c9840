"""Optimizers: 50-step trajectories against torch.optim (optional oracle), schedules against
torch's schedulers, and the pytree/jit properties of optimizer state."""

import math

import numpy as np
import pytest

import funtorch as ft
import funtorch.nn as nn
import funtorch.nn.functional as F
from funtorch import optim
from funtorch.optim import schedules

RNG = np.random.default_rng(0)
STEPS = 50
P0 = {"w": RNG.standard_normal((3, 4)).astype(np.float32),
      "b": RNG.standard_normal(4).astype(np.float32)}
A = {"w": RNG.uniform(0.5, 2, (3, 4)).astype(np.float32),
     "b": RNG.uniform(0.5, 2, 4).astype(np.float32)}
C = {"w": RNG.standard_normal((3, 4)).astype(np.float32),
     "b": RNG.standard_normal(4).astype(np.float32)}


def close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def loss(params):
    """A separable quadratic with a quartic term: non-constant curvature, exact gradients."""
    return sum(ft.sum(A[k] * (params[k] - C[k]) ** 2 + 0.1 * (params[k] - C[k]) ** 4)
               for k in params)


def ours_trajectory(opt, steps=STEPS, jit=True):
    params = {k: ft.asarray(v) for k, v in P0.items()}
    state = opt.init(params)

    def step(params, state):
        grads = ft.grad(loss)(params)
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    step = ft.jit(step) if jit else step
    out = []
    for _ in range(steps):
        params, state = step(params, state)
        out.append({k: np.asarray(v) for k, v in params.items()})
    return out


def torch_trajectory(torch, make_opt, make_sched=None, clip=None, steps=STEPS):
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in P0.items()}
    opt = make_opt(list(tp.values()))
    sched = make_sched(opt) if make_sched else None
    out = []
    for _ in range(steps):
        opt.zero_grad()
        sum((torch.tensor(A[k]) * (tp[k] - torch.tensor(C[k])) ** 2
             + 0.1 * (tp[k] - torch.tensor(C[k])) ** 4).sum() for k in tp).backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(list(tp.values()), clip)
        opt.step()
        if sched:
            sched.step()
        out.append({k: v.detach().numpy().copy() for k, v in tp.items()})
    return out


def assert_same_trajectory(ours, ref, rtol=1e-5, atol=1e-6):
    for i, (a, b) in enumerate(zip(ours, ref)):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol,
                                       err_msg=f"step {i + 1}, param {k}")


SGD = [dict(), dict(weight_decay=0.05), dict(momentum=0.9), dict(momentum=0.9, dampening=0.3),
       dict(momentum=0.9, nesterov=True), dict(momentum=0.8, nesterov=True, weight_decay=0.05),
       dict(momentum=0.9, dampening=0.3, weight_decay=0.05)]


@pytest.mark.parametrize("kw", SGD)
def test_sgd_matches_torch(torch, kw):
    assert_same_trajectory(ours_trajectory(optim.sgd(0.05, **kw)),
                           torch_trajectory(torch, lambda p: torch.optim.SGD(p, 0.05, **kw)))


ADAM = [dict(), dict(amsgrad=True), dict(weight_decay=0.1), dict(weight_decay=0.1, amsgrad=True),
        dict(betas=(0.8, 0.99), eps=1e-6)]


@pytest.mark.parametrize("kw", ADAM)
def test_adam_matches_torch(torch, kw):
    assert_same_trajectory(ours_trajectory(optim.adam(0.05, **kw)),
                           torch_trajectory(torch, lambda p: torch.optim.Adam(p, 0.05, **kw)))


@pytest.mark.parametrize("kw", [dict(), dict(weight_decay=0.2), dict(amsgrad=True),
                                dict(weight_decay=0.0)])
def test_adamw_matches_torch(torch, kw):
    assert_same_trajectory(ours_trajectory(optim.adamw(0.05, **kw)),
                           torch_trajectory(torch, lambda p: torch.optim.AdamW(p, 0.05, **kw)))


RMSPROP = [dict(), dict(centered=True), dict(momentum=0.5), dict(momentum=0.5, centered=True),
           dict(weight_decay=0.1),
           # a larger eps: as centred RMSprop converges, sqrt(E[g^2] - E[g]^2) nears 0 and
           # amplifies float32 rounding of the gradients themselves
           dict(alpha=0.9, eps=1e-4, weight_decay=0.1, momentum=0.3, centered=True)]


@pytest.mark.parametrize("kw", RMSPROP)
def test_rmsprop_matches_torch(torch, kw):
    assert_same_trajectory(ours_trajectory(optim.rmsprop(0.01, **kw)),
                           torch_trajectory(torch, lambda p: torch.optim.RMSprop(p, 0.01, **kw)))


def test_clip_by_global_norm_matches_torch(torch):
    opt = optim.chain(optim.clip_by_global_norm(1.0), optim.sgd(0.05, momentum=0.9))
    assert_same_trajectory(ours_trajectory(opt),
                           torch_trajectory(torch, lambda p: torch.optim.SGD(p, 0.05,
                                                                              momentum=0.9),
                                            clip=1.0))


ADAGRAD = [dict(), dict(lr_decay=0.05), dict(weight_decay=0.1, initial_accumulator_value=0.5),
           dict(eps=1e-3, lr_decay=0.01, weight_decay=0.05)]


@pytest.mark.parametrize("kw", ADAGRAD)
def test_adagrad_matches_torch(torch, kw):
    assert_same_trajectory(ours_trajectory(optim.adagrad(0.1, **kw)),
                           torch_trajectory(torch, lambda p: torch.optim.Adagrad(p, 0.1, **kw)))


@pytest.mark.parametrize("kw", [dict(), dict(weight_decay=0.1), dict(betas=(0.8, 0.99),
                                                                      eps=1e-4)])
def test_adamax_matches_torch(torch, kw):
    assert_same_trajectory(ours_trajectory(optim.adamax(0.05, **kw)),
                           torch_trajectory(torch, lambda p: torch.optim.Adamax(p, 0.05, **kw)))


NADAM_RADAM = [dict(), dict(weight_decay=0.1), dict(weight_decay=0.1, decoupled_weight_decay=True),
               dict(betas=(0.8, 0.99), eps=1e-6)]


@pytest.mark.parametrize("kw", NADAM_RADAM + [dict(momentum_decay=0.01)])
def test_nadam_matches_torch(torch, kw):
    """torch adds NAdam's two terms to the param one after the other, the chain adds their
    sum: float32 rounding differs by an ulp per step, hence rtol 5e-5 over 50 steps (and
    lr 0.01: at 0.05 the L2-decayed trajectory is chaotic and amplifies any ulp)."""
    assert_same_trajectory(ours_trajectory(optim.nadam(0.01, **kw)),
                           torch_trajectory(torch, lambda p: torch.optim.NAdam(p, 0.01, **kw)),
                           rtol=5e-5)


@pytest.mark.parametrize("kw", NADAM_RADAM)
def test_radam_matches_torch(torch, kw):
    """50 steps cross RAdam's switch from momentum-only to rectified steps (step 6)."""
    assert_same_trajectory(ours_trajectory(optim.radam(0.05, **kw)),
                           torch_trajectory(torch, lambda p: torch.optim.RAdam(p, 0.05, **kw)))


def _lion_reference(lr, betas, weight_decay, steps=STEPS):
    """The Lion paper's Algorithm (lion-pytorch's update), in numpy float64."""
    b1, b2 = betas
    p = {k: v.astype(np.float64) for k, v in P0.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    out = []
    for _ in range(steps):
        for k in p:
            d = p[k] - C[k]
            g = 2 * A[k] * d + 0.4 * d ** 3
            p[k] = p[k] * (1 - lr * weight_decay) - lr * np.sign(b1 * m[k] + (1 - b1) * g)
            m[k] = b2 * m[k] + (1 - b2) * g
        out.append({k: v.copy() for k, v in p.items()})
    return out


@pytest.mark.parametrize("kw", [dict(), dict(weight_decay=0.5), dict(betas=(0.95, 0.98))])
def test_lion_matches_the_paper(kw):
    ref = _lion_reference(0.01, kw.get("betas", (0.9, 0.99)), kw.get("weight_decay", 0.0), 20)
    assert_same_trajectory(ours_trajectory(optim.lion(0.01, **kw), steps=20), ref, rtol=1e-5,
                           atol=1e-5)


def test_new_optimizers_bad_arguments():
    for make in (optim.adagrad, optim.adamax, optim.nadam, optim.radam, optim.lion):
        with pytest.raises(ValueError, match=f"funtorch.optim.{make.__name__}: lr must be "
                                             "non-negative"):
            make(-1.0)
    with pytest.raises(ValueError, match="nadam: betas must be in"):
        optim.nadam(betas=(1.0, 0.9))


# ------------------------------------------------------------------------------ schedules

def _torch_lrs(torch, make_sched, lr=0.1, steps=STEPS):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr)
    sched = make_sched(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(lrs)


def _ours_lrs(schedule, steps=STEPS):
    return np.array([float(schedule(ft.asarray(i, ft.int32))) for i in range(steps)])


def test_schedules_match_torch_schedulers(torch):
    S = torch.optim.lr_scheduler
    close(_ours_lrs(schedules.step_lr(0.1, 7, 0.5)),
          _torch_lrs(torch, lambda o: S.StepLR(o, 7, 0.5)))
    close(_ours_lrs(schedules.cosine_decay(0.1, STEPS, alpha=0.1)),
          _torch_lrs(torch, lambda o: S.CosineAnnealingLR(o, STEPS, eta_min=0.01)))
    close(_ours_lrs(schedules.linear_warmup(0.1, 10, start_factor=0.25)),
          _torch_lrs(torch, lambda o: S.LinearLR(o, 0.25, 1.0, total_iters=10)))
    close(_ours_lrs(schedules.constant(0.1)), np.full(STEPS, 0.1))


def test_join_and_jit():
    sched = schedules.join([schedules.linear_warmup(1.0, 4), schedules.cosine_decay(1.0, 10)],
                           [4])
    expected = [i / 4 for i in range(4)] + [0.5 * (1 + math.cos(math.pi * min(i, 10) / 10))
                                            for i in range(16)]
    close(_ours_lrs(sched, 20), expected)
    close(ft.jit(sched)(ft.asarray(6, ft.int32)), expected[6])
    assert float(sched(6)) == pytest.approx(expected[6])
    with pytest.raises(ValueError, match="boundaries"):
        schedules.join([schedules.constant(1.0)], [3])


def test_linear_warmup_factor_bounds(torch):
    """LinearLR's bounds ([0, 1]), except that a start factor of 0 (the default) is fine."""
    close(_ours_lrs(schedules.linear_warmup(0.1, 10, 0.0), 3), [0.0, 0.01, 0.02])
    for kw in (dict(start_factor=1.5), dict(start_factor=-0.1), dict(end_factor=1.2),
               dict(end_factor=-0.5)):
        with pytest.raises(ValueError, match=f"{next(iter(kw))} must be in \\[0, 1\\]"):
            schedules.linear_warmup(0.1, 10, **kw)


@pytest.mark.parametrize("name,make_ours,make_torch", [
    ("sgd+step_lr", lambda s: optim.sgd(s, momentum=0.9),
     lambda torch, p: torch.optim.SGD(p, 0.05, momentum=0.9)),
    ("adam+cosine", lambda s: optim.adam(s, amsgrad=True),
     lambda torch, p: torch.optim.Adam(p, 0.05, amsgrad=True)),
    ("adamw+warmup", lambda s: optim.adamw(s, weight_decay=0.1),
     lambda torch, p: torch.optim.AdamW(p, 0.05, weight_decay=0.1)),
])
def test_scheduled_trajectories_match_torch(torch, name, make_ours, make_torch):
    sched = {"sgd+step_lr": schedules.step_lr(0.05, 10, 0.5),
             "adam+cosine": schedules.cosine_decay(0.05, 40, alpha=0.1),
             "adamw+warmup": schedules.join([schedules.linear_warmup(0.05, 5, 0.2),
                                             schedules.constant(0.05)], [5])}[name]
    factors = [float(sched(ft.asarray(i, ft.int32))) / 0.05 for i in range(STEPS + 1)]
    ref = torch_trajectory(torch, lambda p: make_torch(torch, p),
                           lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda i: factors[i]))
    assert_same_trajectory(ours_trajectory(make_ours(sched)), ref)


@pytest.mark.parametrize("kw", [dict(), dict(pct_start=0.25, anneal_strategy="linear"),
                                dict(three_phase=True, div_factor=10.0, final_div_factor=100.0),
                                dict(pct_start=0.4, three_phase=True, anneal_strategy="linear")])
def test_one_cycle_matches_torch(torch, kw):
    S = torch.optim.lr_scheduler
    close(_ours_lrs(schedules.one_cycle(0.1, STEPS, **kw)),
          _torch_lrs(torch, lambda o: S.OneCycleLR(o, 0.1, total_steps=STEPS,
                                                   cycle_momentum=False, **kw)), rtol=1e-6)
    close(ft.jit(schedules.one_cycle(0.1, STEPS, **kw))(ft.asarray(7, ft.int32)),
          _ours_lrs(schedules.one_cycle(0.1, STEPS, **kw))[7])


def test_one_cycle_trajectory_matches_torch(torch):
    factors = [float(v) / 0.05 for v in _ours_lrs(schedules.one_cycle(0.05, STEPS), STEPS)]
    ref = torch_trajectory(torch, lambda p: torch.optim.SGD(p, 0.05, momentum=0.9),
                           lambda o: torch.optim.lr_scheduler.OneCycleLR(
                               o, 0.05, total_steps=STEPS, cycle_momentum=False))
    assert_same_trajectory(ours_trajectory(optim.sgd(schedules.one_cycle(0.05, STEPS),
                                                     momentum=0.9)), ref)
    assert factors[0] == pytest.approx(1 / 25)



def _torch_momenta(torch, make_sched, steps=STEPS):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], 0.1, momentum=0.9)
    sched = make_sched(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["momentum"])
        opt.step()
        sched.step()
    return np.array(out)


@pytest.mark.parametrize("kw", [dict(), dict(pct_start=0.25, anneal_strategy="linear"),
                                dict(three_phase=True, base_momentum=0.8, max_momentum=0.9),
                                dict(pct_start=0.4, three_phase=True, anneal_strategy="linear")])
def test_one_cycle_momentum_matches_torch(torch, kw):
    S = torch.optim.lr_scheduler
    ours = schedules.one_cycle_momentum(STEPS, **kw)
    close(_ours_lrs(ours), _torch_momenta(torch, lambda o: S.OneCycleLR(
        o, 0.1, total_steps=STEPS, **kw)), rtol=1e-12, atol=1e-12)
    close(ft.jit(ours)(ft.asarray(7, ft.int32)), _ours_lrs(ours)[7], rtol=1e-12)


@pytest.mark.parametrize("name", ["sgd", "sgd+nesterov", "adam", "adamw", "adam+amsgrad"])
def test_one_cycle_with_momentum_trajectory_matches_torch(torch, name):
    """OneCycleLR with cycle_momentum=True (its default): SGD applies the current momentum
    to its buffer, Adam the current beta1 to its first moment and its bias correction."""
    lr, mom = schedules.one_cycle(0.05, STEPS), schedules.one_cycle_momentum(STEPS)
    ours, make_torch = {
        "sgd": (optim.sgd(lr, momentum=mom),
                lambda p: torch.optim.SGD(p, 0.05, momentum=0.9)),
        "sgd+nesterov": (optim.sgd(lr, momentum=mom, nesterov=True, weight_decay=0.05),
                         lambda p: torch.optim.SGD(p, 0.05, momentum=0.9, nesterov=True,
                                                   weight_decay=0.05)),
        "adam": (optim.adam(lr, betas=(mom, 0.999)), lambda p: torch.optim.Adam(p, 0.05)),
        "adamw": (optim.adamw(lr, betas=(mom, 0.99), weight_decay=0.1),
                  lambda p: torch.optim.AdamW(p, 0.05, betas=(0.9, 0.99), weight_decay=0.1)),
        "adam+amsgrad": (optim.adam(lr, betas=(mom, 0.999), amsgrad=True),
                         lambda p: torch.optim.Adam(p, 0.05, amsgrad=True)),
    }[name]
    ref = torch_trajectory(torch, make_torch, lambda o: torch.optim.lr_scheduler.OneCycleLR(
        o, 0.05, total_steps=STEPS))
    assert_same_trajectory(ours_trajectory(ours), ref)          # jitted update
    assert_same_trajectory(ours_trajectory(ours, steps=5, jit=False), ref[:5])


def test_momentum_schedule_arguments():
    mom = schedules.one_cycle_momentum(10)
    for make in (lambda: optim.nadam(betas=(mom, 0.999)), lambda: optim.adam(betas=(0.9, mom)),
                 lambda: optim.radam(betas=(mom, 0.999))):
        with pytest.raises(TypeError, match="schedule"):
            make()
    with pytest.raises(TypeError, match="or a schedule step -> momentum"):
        optim.sgd(0.1, momentum="0.9")
    with pytest.raises(ValueError, match="max_momentum must be in"):
        schedules.one_cycle_momentum(10, max_momentum=1.0)
    with pytest.raises(ValueError, match="total_steps"):
        schedules.one_cycle_momentum(0)
    # a constant-valued schedule gives the constant's trajectory
    const = lambda step: ft.full_like(ft.asarray(step, ft.float64), 0.9)  # noqa: E731
    assert_same_trajectory(ours_trajectory(optim.sgd(0.05, momentum=const), steps=10),
                           ours_trajectory(optim.sgd(0.05, momentum=0.9), steps=10))
    assert_same_trajectory(ours_trajectory(optim.adam(0.05, betas=(const, 0.999)), steps=10),
                           ours_trajectory(optim.adam(0.05), steps=10))


METRICS = [1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.89, 0.95, 0.96, 0.97, 0.98, 0.99, 0.5, 0.6,
           0.7, 0.8, 0.9, 1.0, 1.1, 1.2]


@pytest.mark.parametrize("kw", [dict(patience=2), dict(patience=1, cooldown=2, factor=0.5),
                                dict(mode="max", patience=0, threshold=0.05,
                                     threshold_mode="abs", min_lr=0.02)])
def test_reduce_on_plateau_matches_torch(torch, kw):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], 0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    plateau = schedules.reduce_on_plateau(**kw)
    state, jstate = plateau.init(0.1), plateau.init(0.1)
    jupdate = ft.jit(plateau.update)
    for m in METRICS:
        sched.step(m)
        state = plateau.update(state, m)
        jstate = jupdate(jstate, ft.asarray(m))
        assert float(state.lr) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-6)
        assert int(state.num_bad_epochs) == sched.num_bad_epochs
        assert int(state.cooldown_counter) == sched.cooldown_counter
        assert float(jstate.lr) == float(state.lr)


def test_reduce_on_plateau_scales_an_optimizer_exactly(torch):
    """The documented pattern (lr=1.0, updates times state.lr) follows torch's Adam with
    ReduceLROnPlateau stepped on the loss."""
    plateau = schedules.reduce_on_plateau(patience=1, factor=0.5, threshold=0.5)
    opt = optim.adam(1.0)
    params = {k: ft.asarray(v) for k, v in P0.items()}
    state, pstate = opt.init(params), plateau.init(0.05)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in P0.items()}
    topt = torch.optim.Adam(list(tp.values()), 0.05)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, patience=1, factor=0.5,
                                                        threshold=0.5)
    for i in range(30):
        value, grads = ft.value_and_grad(loss)(params)
        updates, state = opt.update(grads, state, params)
        lr = pstate.lr
        params = optim.apply_updates(params, ft.tree.map(lambda u, lr=lr: lr * u, updates))
        pstate = plateau.update(pstate, value)
        topt.zero_grad()
        tl = sum((torch.tensor(A[k]) * (tp[k] - torch.tensor(C[k])) ** 2
                  + 0.1 * (tp[k] - torch.tensor(C[k])) ** 4).sum() for k in tp)
        tl.backward()
        topt.step()
        tsched.step(tl.item())
        for k in params:
            np.testing.assert_allclose(np.asarray(params[k]), tp[k].detach().numpy(),
                                       rtol=1e-5, atol=1e-6, err_msg=f"step {i + 1}")
    assert float(pstate.lr) < 0.05    # the plateau did cut the lr


# ------------------------------------------------------------------------------ state and errors

def test_state_is_a_jittable_checkpointable_pytree(tmp_path):
    opt = optim.chain(optim.clip_by_global_norm(1.0),
                      optim.adam(schedules.cosine_decay(1e-2, 100), amsgrad=True))
    params = {"w": ft.ones((2, 2)), "b": ft.zeros(2)}
    state = opt.init(params)
    counts = [leaf for leaf in ft.tree.leaves(state) if leaf.shape == ()]
    assert counts and all(c.dtype == np.int32 for c in counts)
    grads = {"w": ft.ones((2, 2)), "b": ft.ones(2)}
    jit_update = ft.jit(opt.update)
    u1, s1 = jit_update(grads, state, params)
    u2, s2 = jit_update(grads, s1, params)
    e1, es1 = opt.update(grads, state, params)
    e2, es2 = opt.update(grads, es1, params)
    for a, b in zip(ft.tree.leaves((u2, s2)), ft.tree.leaves((e2, es2))):
        close(a, b)
    assert ft.tree.structure(s2) == ft.tree.structure(state)
    ft.save(tmp_path / "opt.safetensors", s2)
    loaded = ft.load(tmp_path / "opt.safetensors", like=s2)
    for a, b in zip(ft.tree.leaves(loaded), ft.tree.leaves(s2)):
        close(a, b, 0, 0)


def test_plain_sgd_is_stateless_and_apply_updates_keeps_dtype():
    opt = optim.sgd(0.5)
    params = {"w": ft.ones(3, ft.float16)}
    updates, _ = opt.update({"w": ft.ones(3, ft.float16)}, opt.init(params))
    new = optim.apply_updates(params, updates)
    assert new["w"].dtype == np.float16
    close(new["w"], np.full(3, 0.5))


def test_optimizer_errors():
    with pytest.raises(ValueError, match="nesterov"):
        optim.sgd(0.1, nesterov=True)
    with pytest.raises(ValueError, match="lr"):
        optim.adam(-1.0)
    with pytest.raises(ValueError, match="betas"):
        optim.adamw(betas=(0.9, 1.0))
    opt = optim.adamw()
    params = {"w": ft.ones(2)}
    with pytest.raises(ValueError, match="params"):
        opt.update({"w": ft.ones(2)}, opt.init(params))


def test_small_model_adam_tracks_torch(torch):
    """The real use: a model's gradients through an optimizer, both libraries, 20 steps."""
    tmodel = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    params = model.load_state_dict({k: v.detach().numpy() for k, v in
                                    tmodel.state_dict().items()})
    x = RNG.standard_normal((16, 5)).astype(np.float32)
    y = RNG.integers(0, 3, 16)
    opt, topt = optim.adam(1e-2), torch.optim.Adam(tmodel.parameters(), 1e-2)
    state = opt.init(params)

    @ft.jit
    def step(params, state):
        grads = ft.grad(lambda p: F.cross_entropy(model(p, ft.asarray(x)), ft.asarray(y)))(params)
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    for _ in range(20):
        params, state = step(params, state)
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tmodel(torch.tensor(x)), torch.tensor(y)).backward()
        topt.step()
    for k, v in tmodel.state_dict().items():
        close(nn.state_dict(params)[k], v.numpy(), 1e-4, 1e-5)


# ------------------------------------------------------------------------------ numpy oracle
# torch.optim's documented algorithms in float64 numpy, so the update rules are checked where
# torch is not installed too (tolerance covers float32 vs float64).

def np_grad(p, k):
    d = p - C[k].astype(np.float64)
    return 2 * A[k] * d + 0.4 * d ** 3


def np_trajectory(rule, steps=STEPS):
    params = {k: v.astype(np.float64) for k, v in P0.items()}
    state = {k: {} for k in params}
    out = []
    for t in range(1, steps + 1):
        for k in params:
            params[k] = rule(params[k], np_grad(params[k], k), state[k], t)
        out.append(dict(params))
    return out


def np_sgd(lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    def rule(p, g, s, t):
        g = g + weight_decay * p
        if momentum:
            s["b"] = g if t == 1 else momentum * s["b"] + (1 - dampening) * g
            g = g + momentum * s["b"] if nesterov else s["b"]
        return p - lr * g
    return rule


def np_adam(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
            decoupled=False):
    b1, b2 = betas

    def rule(p, g, s, t):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
        v = s["v"]
        if amsgrad:
            v = s["vmax"] = np.maximum(s.get("vmax", 0), v)
        denom = np.sqrt(v) / np.sqrt(1 - b2 ** t) + eps
        return p - lr / (1 - b1 ** t) * s["m"] / denom
    return rule


def np_rmsprop(lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    def rule(p, g, s, t):
        g = g + weight_decay * p
        s["sq"] = alpha * s.get("sq", 0) + (1 - alpha) * g * g
        avg = s["sq"]
        if centered:
            s["ga"] = alpha * s.get("ga", 0) + (1 - alpha) * g
            avg = avg - s["ga"] ** 2
        step = g / (np.sqrt(avg) + eps)
        if momentum:
            s["b"] = momentum * s.get("b", 0) + step
            step = s["b"]
        return p - lr * step
    return rule


@pytest.mark.parametrize("ours,ref", [
    (optim.sgd(0.05, momentum=0.9, dampening=0.3, weight_decay=0.05),
     np_sgd(0.05, momentum=0.9, dampening=0.3, weight_decay=0.05)),
    (optim.sgd(0.05, momentum=0.8, nesterov=True), np_sgd(0.05, momentum=0.8, nesterov=True)),
    (optim.adam(0.05, weight_decay=0.1, amsgrad=True),
     np_adam(0.05, weight_decay=0.1, amsgrad=True)),
    (optim.adamw(0.05, weight_decay=0.2), np_adam(0.05, weight_decay=0.2, decoupled=True)),
    (optim.rmsprop(0.01, momentum=0.5, weight_decay=0.1),
     np_rmsprop(0.01, momentum=0.5, weight_decay=0.1)),
    (optim.rmsprop(0.01, centered=True, eps=1e-4), np_rmsprop(0.01, centered=True, eps=1e-4)),
])
def test_optimizers_match_numpy_reference(ours, ref):
    assert_same_trajectory(ours_trajectory(ours, jit=False), np_trajectory(ref), 1e-4, 1e-5)
