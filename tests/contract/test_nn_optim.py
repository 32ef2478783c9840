"""nn modules and optimizers against PyTorch."""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest

import funtorch as ft
import funtorch.nn as nn

from .common import RNG, _t, assert_same, rand

MODULE_CASES = [
    ("Linear", lambda m: m.Linear(3, 4), (2, 3)),
    ("Linear-nobias", lambda m: m.Linear(3, 4, bias=False), (5, 3)),
    ("Conv2d-same", lambda m: m.Conv2d(3, 8, (3, 5), padding="same", bias=False), (2, 3, 7, 8)),
    ("Conv2d-groups", lambda m: m.Conv2d(4, 8, 3, stride=2, padding=1, dilation=2, groups=2),
     (1, 4, 9, 9)),
    ("Conv2d-tuplepad", lambda m: m.Conv2d(4, 8, 3, padding=(1, 0)), (1, 4, 6, 6)),
    ("Conv1d", lambda m: m.Conv1d(2, 3, 4, stride=2, padding="valid"), (2, 2, 9)),
    ("Conv1d-same", lambda m: m.Conv1d(2, 3, 4, padding="same", dilation=2, bias=False),
     (2, 2, 9)),
    ("MaxPool2d", lambda m: m.MaxPool2d(2), (1, 2, 6, 7)),
    ("MaxPool2d-full", lambda m: m.MaxPool2d((2, 3), stride=1, padding=1, ceil_mode=True),
     (1, 2, 6, 7)),
    ("AvgPool2d", lambda m: m.AvgPool2d(3, stride=2, padding=1, count_include_pad=False,
                                        ceil_mode=True), (1, 2, 6, 7)),
    ("Flatten", lambda m: m.Flatten(), (2, 3, 4)),
    ("Flatten-args", lambda m: m.Flatten(0, -2), (2, 3, 4)),
    ("ReLU", lambda m: m.ReLU(), (2, 3)),
    ("GELU", lambda m: m.GELU(), (2, 3)),
    ("GELU-tanh", lambda m: m.GELU(approximate="tanh"), (2, 3)),
    ("Sigmoid", lambda m: m.Sigmoid(), (2, 3)),
    ("Tanh", lambda m: m.Tanh(), (2, 3)),
    ("Softmax", lambda m: m.Softmax(dim=1), (2, 3)),
    ("LogSoftmax", lambda m: m.LogSoftmax(dim=-1), (2, 3)),
    ("Dropout", lambda m: m.Dropout(0.2), (2, 3)),
    ("Dropout-default", lambda m: m.Dropout(), (2, 3)),
    ("BatchNorm1d", lambda m: m.BatchNorm1d(5), (4, 5)),
    ("BatchNorm1d-3d", lambda m: m.BatchNorm1d(5, eps=1e-3, momentum=0.2), (4, 5, 3)),
    ("BatchNorm2d-noaffine", lambda m: m.BatchNorm2d(5, affine=False), (2, 5, 3, 3)),
    ("LayerNorm", lambda m: m.LayerNorm(6), (2, 6)),
    ("LayerNorm-tuple", lambda m: m.LayerNorm((5, 6), eps=1e-6, elementwise_affine=False),
     (2, 5, 6)),
    ("LayerNorm-nobias", lambda m: m.LayerNorm([6], bias=False), (3, 6)),
    ("Embedding", lambda m: m.Embedding(10, 3), None),
    ("Embedding-pad", lambda m: m.Embedding(10, 3, padding_idx=0), None),
    ("Sequential-nested", lambda m: m.Sequential(m.Linear(2, 3), m.ReLU(),
                                                 m.Sequential(m.Linear(3, 1), m.Sigmoid())),
     (4, 2)),
    ("Sequential-odict", lambda m: m.Sequential(collections.OrderedDict(
        [("fc", m.Linear(2, 3)), ("act", m.Tanh())])), (4, 2)),
]


class TestModulesVsTorch:
    @pytest.mark.parametrize("name,make,shape", MODULE_CASES, ids=[c[0] for c in MODULE_CASES])
    def test_repr_params_and_eval_output(self, torch, name, make, shape):
        fm, tm = make(nn), make(torch.nn)
        assert repr(fm) == repr(tm)
        params = fm.init(ft.random.key(0))
        flat = nn.state_dict(params)
        assert {k: tuple(v.shape) for k, v in flat.items()} == \
            {k: tuple(v.shape) for k, v in tm.named_parameters()}
        assert all(v.dtype == np.float32 for v in ft.tree.leaves(params))
        # load torch's weights (params + buffers) and compare eval-mode outputs
        tsd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
        loaded = fm.load_state_dict(tsd)
        state = fm.init_state()
        if state:
            loaded, state = loaded
            assert set(nn.state_dict(loaded, state)) == set(tsd)
        tm.eval()
        x = RNG.integers(0, 10, (2, 3)) if shape is None else rand(*shape)
        kw = {"state": state} if state else {}
        out = fm(loaded, ft.asarray(x), **kw)
        if state:
            out, new_state = out
            assert ft.tree.structure(new_state) == ft.tree.structure(state)
        want = tm(_t(torch, x)).detach().numpy()
        assert_same(out, want, rtol=1e-4, atol=1e-5)

    def test_sequential_param_names_and_container_protocol(self, torch):
        m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5),
                          nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
        p = m.init(ft.random.key(0))
        assert list(p) == ["0", "1", "5"]     # parameter-free layers have no entry
        assert set(p["0"]) == {"weight", "bias"}
        s = m.init_state()
        assert list(s) == ["1"] and set(s["1"]) == {"running_mean", "running_var",
                                                    "num_batches_tracked"}
        assert s["1"]["num_batches_tracked"].dtype == np.int64
        assert len(m) == 6 and isinstance(m[0], nn.Conv2d) and isinstance(m[-1], nn.Linear)
        assert [type(c).__name__ for c in m][:3] == ["Conv2d", "BatchNorm2d", "ReLU"]
        tm = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4),
                                 torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Flatten(),
                                 torch.nn.Linear(4 * 6 * 6, 10))
        assert repr(m[1:3]) == repr(tm[1:3])
        assert list(nn.state_dict(p, s)) == list(tm.state_dict())

    def test_train_mode_keys_state_and_grads(self):
        m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5),
                          nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
        p, s = m.init(ft.random.key(0)), m.init_state()
        x = ft.asarray(rand(2, 1, 8, 8))
        out, s2 = m(p, x, state=s, train=True, key=ft.random.key(1))
        assert out.shape == (2, 10)
        assert int(s2["1"]["num_batches_tracked"]) == 1
        assert not np.allclose(np.asarray(s2["1"]["running_mean"]), 0)

        def loss(p, s):
            o, s = m(p, x, state=s, train=True, key=ft.random.key(1))
            return ft.mean(o ** 2), s

        (v, s3), g = ft.value_and_grad(loss, has_aux=True)(p, s)
        assert ft.tree.structure(g) == ft.tree.structure(p)
        (v2, _), g2 = ft.jit(ft.value_and_grad(loss, has_aux=True))(p, s)
        assert_same(v2, v, rtol=1e-5)
        with pytest.raises(ValueError, match=r"dropout.*key"):
            m(p, x, state=s, train=True)
        with pytest.raises(TypeError, match=r"BatchNorm2d.*state"):
            m(p, x)

    def test_user_module(self, torch):
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(3, 4)
                self.act = nn.ReLU()
                self.fc2 = nn.Linear(4, 2)

            def __call__(self, params, x):
                return self.fc2(params["fc2"], self.act(None, self.fc1(params["fc1"], x)))

        class TNet(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = torch.nn.Linear(3, 4)
                self.act = torch.nn.ReLU()
                self.fc2 = torch.nn.Linear(4, 2)

        net = Net()
        assert repr(net).replace("Net(", "TNet(", 1) == repr(TNet())
        p = net.init(ft.random.key(0))
        assert list(p) == ["fc1", "act", "fc2"] and p["act"] == {}
        assert list(nn.state_dict(p)) == list(TNet().state_dict())
        assert net(p, ft.ones((5, 3))).shape == (5, 2)
        seq = nn.Sequential(net, nn.ReLU())
        assert seq(seq.init(ft.random.key(0)), ft.ones((5, 3))).shape == (5, 2)
        for a, b in zip(ft.tree.leaves(net.init(ft.random.key(0))), ft.tree.leaves(p)):
            assert_same(a, b)
        assert not np.array_equal(np.asarray(net.init(ft.random.key(1))["fc1"]["weight"]),
                                  np.asarray(p["fc1"]["weight"]))

    @pytest.mark.parametrize("make,fan_in", [(lambda: nn.Linear(100, 50), 100),
                                             (lambda: nn.Conv2d(4, 8, 3), 36),
                                             (lambda: nn.Conv1d(6, 2, 5), 30)])
    def test_default_init_follows_pytorch_bounds(self, make, fan_in):
        p = make().init(ft.random.key(0))
        bound = 1 / math.sqrt(fan_in)
        for v in (p["weight"], p["bias"]):
            a = np.asarray(v)
            assert np.abs(a).max() <= bound + 1e-7
            assert np.abs(a).max() > 0.8 * bound           # uses the whole range
        e = np.asarray(nn.Embedding(1000, 10).init(ft.random.key(0))["weight"])
        assert abs(e.std() - 1) < 0.05                        # N(0, 1)
        assert_same(nn.Embedding(10, 3, padding_idx=2).init(ft.random.key(0))["weight"][2],
                    np.zeros(3, np.float32))
        bn = nn.BatchNorm1d(3).init(ft.random.key(0))
        assert_same(bn["weight"], np.ones(3, np.float32))
        assert_same(bn["bias"], np.zeros(3, np.float32))

    def test_state_dict_round_trip_with_torch(self, torch):
        tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4),
                                 torch.nn.Linear(4, 2))
        m = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2))
        p = m.init(ft.random.key(0))
        flat = nn.state_dict(p)
        tm.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in flat.items()})
        x = rand(5, 3)
        assert_same(m(p, ft.asarray(x)), tm(_t(torch, x)).detach().numpy(), rtol=1e-5, atol=1e-6)
        back = nn.load_state_dict(flat)
        assert ft.tree.structure(back) == ft.tree.structure(p)
        with pytest.raises(ValueError, match=r"weight.*\(4, 4\).*\(4, 3\)|\(4, 3\).*\(4, 4\)"):
            nn.Linear(3, 4).load_state_dict({"weight": np.ones((4, 4)), "bias": np.ones(4)})
        with pytest.raises(KeyError, match=r"missing.*bias"):
            nn.Linear(3, 4).load_state_dict({"weight": np.ones((4, 3))})


# =========================================================================== optimizers


def _torch_trajectory(torch, make_t, make_f, steps=6):
    w0 = np.array([[1.0, -2.0, 3.0], [0.5, 0.0, -1.5]], np.float32)
    tw = torch.tensor(w0, requires_grad=True)
    topt = make_t([tw])
    opt = make_f()
    p = {"w": ft.asarray(w0)}
    s = opt.init(p)
    for i in range(steps):
        g = (np.sin(np.arange(6).reshape(2, 3) + i) * (i + 1)).astype(np.float32)
        tw.grad = torch.tensor(g)
        topt.step()
        u, s = opt.update({"w": ft.asarray(g)}, s, p)
        p = ft.optim.apply_updates(p, u)
    return np.asarray(p["w"]), tw.detach().numpy()


class TestOptimizers:
    @pytest.mark.parametrize("name,tkw,fkw", [
        ("sgd", {"lr": 0.1}, {}),
        ("sgd", {"lr": 0.1, "momentum": 0.9}, {"momentum": 0.9}),
        ("sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.05},
         {"momentum": 0.9, "dampening": 0.3, "weight_decay": 0.05}),
        ("sgd", {"lr": 0.1, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01},
         {"momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
        ("adam", {"lr": 1e-3}, {}),
        ("adam", {"lr": 0.1, "betas": (0.8, 0.95), "weight_decay": 0.05, "amsgrad": True},
         {"betas": (0.8, 0.95), "weight_decay": 0.05, "amsgrad": True}),
        ("adam", {"lr": 0.05, "eps": 1e-3}, {"eps": 1e-3}),
        ("adamw", {"lr": 0.1}, {}),
        ("adamw", {"lr": 0.1, "amsgrad": True, "weight_decay": 0.3},
         {"amsgrad": True, "weight_decay": 0.3}),
    ])
    def test_trajectories_match_torch(self, torch, name, tkw, fkw):
        tcls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam,
                "adamw": torch.optim.AdamW}[name]
        fn = getattr(ft.optim, name)
        if name == "adam" and "lr" not in fkw and tkw["lr"] == 1e-3:
            make_f = fn                                          # default lr=1e-3
        else:
            make_f = lambda: fn(tkw["lr"], **fkw)  # noqa: E731
        got, want = _torch_trajectory(torch, lambda ps: tcls(ps, **tkw), make_f)
        assert_same(got, want, rtol=1e-5, atol=1e-6)

    def test_defaults_match_torch(self, torch):
        got, want = _torch_trajectory(torch, lambda ps: torch.optim.AdamW(ps, lr=0.1),
                                      lambda: ft.optim.adamw(lr=0.1))
        assert_same(got, want, rtol=1e-5, atol=1e-6)
        got, want = _torch_trajectory(torch, lambda ps: torch.optim.Adam(ps),
                                      lambda: ft.optim.adam())
        assert_same(got, want, rtol=1e-5, atol=1e-6)

    def test_schedule_as_lr(self, torch):
        def make_t(ps):
            opt = torch.optim.SGD(ps, lr=0.1)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 / (1 + step))

            class Both:
                def step(self):
                    opt.step()
                    sched.step()

            return Both()

        got, want = _torch_trajectory(torch, make_t,
                                      lambda: ft.optim.sgd(lambda step: 0.1 / (1 + step)))
        assert_same(got, want, rtol=1e-5, atol=1e-6)

    @pytest.mark.parametrize("make", [
        lambda: ft.optim.sgd(0.1), lambda: ft.optim.sgd(0.1, momentum=0.9, nesterov=True),
        lambda: ft.optim.adam(), lambda: ft.optim.adamw(1e-2),
        lambda: ft.optim.chain(ft.optim.clip_by_global_norm(1.0), ft.optim.adam(1e-3)),
    ], ids=["sgd", "nesterov", "adam", "adamw", "chain"])
    def test_api_shape_with_pytrees_jit_and_none_leaves(self, make):
        opt = make()
        p = {"w": ft.ones((2, 2)), "b": [ft.zeros(2), None]}
        g = ft.tree.map(lambda a: a * 0.5, p)
        s = opt.init(p)
        u, s = opt.update(g, s, p)
        assert ft.tree.structure(u) == ft.tree.structure(p)
        u2, s2 = ft.jit(opt.update)(g, s, p)
        u3, _ = opt.update(g, s, p)
        for a, b in zip(ft.tree.leaves(u2), ft.tree.leaves(u3)):
            assert_same(a, b, rtol=1e-6)
        new = ft.optim.apply_updates(p, u)
        assert ft.tree.structure(new) == ft.tree.structure(p)
        assert ft.tree.structure(s2) == ft.tree.structure(s)

    def test_apply_updates_keeps_param_dtype_and_clip(self, torch):
        new = ft.optim.apply_updates({"w": ft.ones(2, ft.float16)}, {"w": ft.ones(2)})
        assert new["w"].dtype == np.float16
        clip = ft.optim.clip_by_global_norm(0.1)
        g = {"a": ft.ones(4) * 3, "b": ft.ones(2)}
        u, _ = clip.update(g, clip.init(g))
        ta, tb = torch.ones(4) * 3, torch.ones(2)
        ta.grad, tb.grad = ta.clone(), tb.clone()
        torch.nn.utils.clip_grad_norm_([ta, tb], 0.1)
        assert_same(u["a"], ta.grad.numpy(), rtol=1e-5)
        assert_same(u["b"], tb.grad.numpy(), rtol=1e-5)

    def test_adamw_without_params_is_a_clear_error(self):
        opt = ft.optim.adamw(1e-2)
        p = {"w": ft.ones(2)}
        with pytest.raises(ValueError, match=r"params"):
            opt.update(p, opt.init(p))
        with pytest.raises(ValueError):
            ft.optim.apply_updates({"a": ft.ones(2)}, {"b": ft.ones(2)})
