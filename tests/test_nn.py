"""nn modules, init and state dicts; PyTorch (optional) is the oracle for outputs, reprs and
state dict names."""

import math
from collections import OrderedDict

import numpy as np
import pytest

import funtorch as ft
import funtorch.nn as nn
import funtorch.nn.functional as F

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def close(a, b, rtol=1e-5, atol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def from_torch(tmodel):
    return {k: v.detach().numpy() for k, v in tmodel.state_dict().items()}


def to_torch(torch, flat):
    return {k: torch.tensor(np.asarray(v)) for k, v in flat.items()}


class SimpleNet(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden_size, output_size)

    def __call__(self, params, x):
        x = self.relu(params.get("relu"), self.fc1(params["fc1"], x))
        return self.fc2(params["fc2"], x)


# ------------------------------------------------------------------------------ Module basics

def test_simple_net_params_repr_and_call():
    model = SimpleNet(10, 5, 2)
    params = model.init(ft.random.key(0))
    assert list(params) == ["fc1", "relu", "fc2"] and params["relu"] == {}
    assert params["fc1"]["weight"].shape == (5, 10) and params["fc2"]["bias"].shape == (2,)
    assert repr(model) == (
        "SimpleNet(\n"
        "  (fc1): Linear(in_features=10, out_features=5, bias=True)\n"
        "  (relu): ReLU()\n"
        "  (fc2): Linear(in_features=5, out_features=2, bias=True)\n"
        ")")
    x = ft.asarray(rand(3, 10))
    assert model(params, x).shape == (3, 2)
    grads = ft.grad(lambda p: (model(p, x) ** 2).sum())(params)
    assert ft.tree.structure(grads) == ft.tree.structure(params)


def test_simple_net_matches_torch(torch):
    class TorchSimpleNet(torch.nn.Module):
        def __init__(self, i, h, o):
            super().__init__()
            self.fc1 = torch.nn.Linear(i, h)
            self.relu = torch.nn.ReLU()
            self.fc2 = torch.nn.Linear(h, o)

        def forward(self, x):
            return self.fc2(self.relu(self.fc1(x)))

    tmodel, model = TorchSimpleNet(10, 5, 2), SimpleNet(10, 5, 2)
    assert repr(model) == repr(tmodel).replace("TorchSimpleNet", "SimpleNet")
    params = model.load_state_dict(from_torch(tmodel))
    x = rand(4, 10)
    close(model(params, ft.asarray(x)), tmodel(torch.tensor(x)).detach().numpy())


def test_user_module_inside_sequential_and_init_is_deterministic():
    model = nn.Sequential(SimpleNet(4, 3, 2), nn.Tanh())
    p1, p2 = model.init(ft.random.key(1)), model.init(ft.random.key(1))
    assert list(p1) == ["0"] and list(p1["0"]) == ["fc1", "relu", "fc2"]
    for a, b in zip(ft.tree.leaves(p1), ft.tree.leaves(p2)):
        close(a, b, 0, 0)
    other = model.init(ft.random.key(2))
    assert not np.allclose(np.asarray(other["0"]["fc1"]["weight"]),
                           np.asarray(p1["0"]["fc1"]["weight"]))
    assert model(p1, ft.zeros((5, 4)), train=True, key=ft.random.key(0)).shape == (5, 2)


def test_sequential_containers():
    model = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3)), ("act", nn.ReLU()),
                                       ("flat", nn.Flatten())]))
    params = model.init(ft.random.key(0))
    assert list(params) == ["conv"]      # a Sequential: state_dict names only
    assert len(model) == 3 and isinstance(model[1], nn.ReLU)
    assert [type(m).__name__ for m in model] == ["Conv2d", "ReLU", "Flatten"]
    head = model[:2]
    assert list(head.init(ft.random.key(0))) == ["conv"]
    assert model(params, ft.zeros((2, 1, 5, 5))).shape == (2, 18)
    with pytest.raises(TypeError, match="not an nn.Module"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_parameter_free_model_and_base_call():
    assert nn.Sequential(nn.ReLU(), nn.Flatten()).init(ft.random.key(0)) == {}
    assert nn.ReLU().init(ft.random.key(0)) == {}
    with pytest.raises(NotImplementedError, match="__call__"):
        nn.Module()({}, 1)


# ---------------------------------------------------------------- reprs and layers vs torch

def _layer_pairs(torch):
    tn = torch.nn
    return [
        (nn.Linear(6, 4), tn.Linear(6, 4), (3, 6)),
        (nn.Linear(6, 4, bias=False), tn.Linear(6, 4, bias=False), (2, 5, 6)),
        (nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2),
         tn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2), (2, 4, 9)),
        (nn.Conv2d(3, 4, 3), tn.Conv2d(3, 4, 3), (2, 3, 7, 7)),
        (nn.Conv2d(2, 4, (3, 2), stride=2, padding=1, dilation=(1, 2), bias=False),
         tn.Conv2d(2, 4, (3, 2), stride=2, padding=1, dilation=(1, 2), bias=False), (1, 2, 8, 8)),
        (nn.Conv2d(2, 2, 3, padding="same"), tn.Conv2d(2, 2, 3, padding="same"), (1, 2, 5, 5)),
        (nn.MaxPool2d(2), tn.MaxPool2d(2), (2, 3, 6, 7)),
        (nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
         tn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), (1, 2, 8, 8)),
        (nn.AvgPool2d(2), tn.AvgPool2d(2), (2, 3, 6, 6)),
        (nn.AvgPool2d(3, 2, 1, count_include_pad=False),
         tn.AvgPool2d(3, 2, 1, count_include_pad=False), (1, 1, 7, 7)),
        (nn.Flatten(), tn.Flatten(), (2, 3, 4)),
        (nn.Flatten(0, 1), tn.Flatten(0, 1), (2, 3, 4)),
        (nn.ReLU(), tn.ReLU(), (3, 4)),
        (nn.LeakyReLU(0.2), tn.LeakyReLU(0.2), (3, 4)),
        (nn.GELU(), tn.GELU(), (3, 4)),
        (nn.GELU("tanh"), tn.GELU("tanh"), (3, 4)),
        (nn.SiLU(), tn.SiLU(), (3, 4)),
        (nn.Sigmoid(), tn.Sigmoid(), (3, 4)),
        (nn.Tanh(), tn.Tanh(), (3, 4)),
        (nn.Softmax(dim=1), tn.Softmax(dim=1), (3, 4)),
        (nn.LogSoftmax(dim=-1), tn.LogSoftmax(dim=-1), (3, 4)),
        (nn.Dropout(0.3), tn.Dropout(0.3), (3, 4)),
        (nn.LayerNorm(4), tn.LayerNorm(4), (3, 4)),
        (nn.LayerNorm((3, 4), elementwise_affine=False),
         tn.LayerNorm((3, 4), elementwise_affine=False), (2, 3, 4)),
        (nn.BatchNorm1d(3), tn.BatchNorm1d(3), (5, 3)),
        (nn.BatchNorm1d(3, affine=False), tn.BatchNorm1d(3, affine=False), (4, 3, 2)),
        (nn.BatchNorm2d(3, momentum=None), tn.BatchNorm2d(3, momentum=None), (2, 3, 4, 4)),
        (nn.Embedding(7, 3), tn.Embedding(7, 3), None),
        (nn.Embedding(7, 3, padding_idx=-1), tn.Embedding(7, 3, padding_idx=-1), None),
    ]


def test_every_layer_matches_torch_repr_and_eval_output(torch):
    for ours, ref, shape in _layer_pairs(torch):
        assert repr(ours) == repr(ref)
        ref.eval()
        with torch.no_grad():
            for p in ref.parameters():  # non-trivial affine parameters and statistics
                p.copy_(torch.randn(p.shape))
            for b in ref.buffers():
                if b.is_floating_point():
                    b.copy_(torch.rand(b.shape) + 0.5)
        loaded = ours.load_state_dict(from_torch(ref))
        params, state = loaded if ours.init_state() else (loaded, None)
        x = RNG.integers(0, 7, (2, 5)) if shape is None else rand(*shape)
        out = ours(params, ft.asarray(x)) if state is None else ours(params, ft.asarray(x),
                                                                     state=state)[0]
        np.testing.assert_allclose(np.asarray(out), ref(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-5, atol=1e-5, err_msg=repr(ours))


def test_cnn_repr_matches_torch(torch):
    tn = torch.nn
    ours = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
                         nn.Sequential(nn.Linear(9216, 128), nn.BatchNorm1d(128)),
                         nn.Linear(128, 10), nn.LogSoftmax(dim=1))
    ref = tn.Sequential(tn.Conv2d(1, 32, 3), tn.ReLU(), tn.Conv2d(32, 64, 3), tn.ReLU(),
                        tn.MaxPool2d(2), tn.Dropout(0.25), tn.Flatten(),
                        tn.Sequential(tn.Linear(9216, 128), tn.BatchNorm1d(128)),
                        tn.Linear(128, 10), tn.LogSoftmax(dim=1))
    assert repr(ours) == repr(ref)


# ------------------------------------------------------------------------------ BatchNorm state

@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_train_and_eval_track_torch(torch, momentum):
    tn = torch.nn
    ref = tn.Sequential(tn.Conv2d(2, 3, 3), tn.BatchNorm2d(3, momentum=momentum), tn.ReLU(),
                        tn.Flatten(), tn.Linear(12, 2), tn.BatchNorm1d(2, momentum=momentum))
    ours = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3, momentum=momentum), nn.ReLU(),
                         nn.Flatten(), nn.Linear(12, 2), nn.BatchNorm1d(2, momentum=momentum))
    params, state = ours.load_state_dict(from_torch(ref))
    assert list(state) == ["1", "5"]
    assert list(state["1"]) == ["running_mean", "running_var", "num_batches_tracked"]
    assert state["1"]["num_batches_tracked"].dtype == np.int64
    ref.train()
    for _ in range(3):
        x = rand(4, 2, 4, 4)
        out, state = ours(params, ft.asarray(x), state=state, train=True)
        close(out, ref(torch.tensor(x)).detach().numpy(), 1e-4, 1e-4)
    for k, v in from_torch(ref).items():
        if "running" in k or "num_batches" in k:
            close(nn.state_dict(params, state)[k], v)
    ref.eval()
    x = rand(3, 2, 4, 4)
    out, same = ours(params, ft.asarray(x), state=state)
    close(out, ref(torch.tensor(x)).detach().numpy(), 1e-4, 1e-4)
    assert all(a is b for a, b in zip(ft.tree.leaves(same), ft.tree.leaves(state)))


def test_batchnorm_grads_have_params_structure_and_jit():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    params, state = model.init(ft.random.key(0)), model.init_state()
    assert list(params) == ["0", "1", "3"] and list(state) == ["1"]
    x, y = ft.asarray(rand(8, 3)), ft.asarray(RNG.integers(0, 2, 8))

    def loss_fn(params, state, x, y):
        logits, state = model(params, x, state=state, train=True)
        return F.cross_entropy(logits, y), state

    (loss, new_state), grads = ft.value_and_grad(loss_fn, has_aux=True)(params, state, x, y)
    assert ft.tree.structure(grads) == ft.tree.structure(params)
    assert int(new_state["1"]["num_batches_tracked"]) == 1
    (jloss, jstate), jgrads = ft.jit(ft.value_and_grad(loss_fn, has_aux=True))(params, state,
                                                                                 x, y)
    close(jloss, loss)
    for a, b in zip(ft.tree.leaves(jgrads) + ft.tree.leaves(jstate),
                    ft.tree.leaves(grads) + ft.tree.leaves(new_state)):
        close(a, b)


def test_batchnorm_running_stats_follow_pytorch_rules():
    """Without torch: momentum updates with the unbiased variance; momentum=None averages."""
    xs = [rand(5, 3) for _ in range(3)]
    for momentum in (0.3, None):
        bn = nn.BatchNorm1d(3, momentum=momentum)
        params, state = bn.init(ft.random.key(0)), bn.init_state()
        mean, var = np.zeros(3), np.ones(3)
        for t, x in enumerate(xs, 1):
            out, state = bn(params, ft.asarray(x), state=state, train=True)
            close(out, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), 1e-4, 1e-4)
            m = 1 / t if momentum is None else momentum
            mean = (1 - m) * mean + m * x.mean(0)
            var = (1 - m) * var + m * x.var(0, ddof=1)
        close(state["running_mean"], mean)
        close(state["running_var"], var)
        assert int(state["num_batches_tracked"]) == 3
        x = rand(2, 3)
        close(bn(params, ft.asarray(x), state=state)[0], (x - mean) / np.sqrt(var + 1e-5),
              1e-4, 1e-4)


def test_batchnorm_errors_and_untracked():
    bn = nn.BatchNorm2d(3)
    with pytest.raises(TypeError, match="init_state"):
        bn(bn.init(ft.random.key(0)), ft.zeros((2, 3, 2, 2)), train=True)
    with pytest.raises(ValueError, match="expected 4D input"):
        bn({}, ft.zeros((2, 3)), state=bn.init_state())
    with pytest.raises(TypeError, match="init_state"):
        nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))(
            {"0": nn.Linear(2, 2).init(ft.random.key(0))}, ft.zeros((3, 2)))
    free = nn.BatchNorm1d(3, track_running_stats=False)
    assert free.init_state() == {}
    out = free(free.init(ft.random.key(0)), ft.asarray(rand(4, 3)))
    close(np.asarray(out).mean(0), np.zeros(3), 0, 1e-5)


# ------------------------------------------------------------------------------ Dropout layer

def test_dropout_layer_keys_and_modes():
    model = nn.Sequential(nn.Linear(4, 64), nn.Dropout(0.5), nn.Linear(64, 2))
    params = model.init(ft.random.key(0))
    x = ft.asarray(rand(3, 4))
    a = model(params, x, key=ft.random.key(1), train=True)
    b = model(params, x, key=ft.random.key(1), train=True)
    c = model(params, x, key=ft.random.key(2), train=True)
    close(a, b, 0, 0)
    assert not np.allclose(np.asarray(a), np.asarray(c))
    close(model(params, x), model(params, x, key=ft.random.key(1)), 0, 0)
    with pytest.raises(ValueError, match="key"):
        model(params, x, train=True)


# ------------------------------------------------------------------------------ init

def test_default_init_bounds():
    key = ft.random.key(0)
    p = nn.Linear(400, 300).init(key)
    w, b = np.asarray(p["weight"]), np.asarray(p["bias"])
    bound = 1 / math.sqrt(400)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.9 * bound
    c = nn.Conv2d(8, 16, 3, groups=2).init(key)
    bound = 1 / math.sqrt(4 * 9)
    assert c["weight"].shape == (16, 4, 3, 3)
    assert np.abs(np.asarray(c["weight"])).max() <= bound
    assert np.abs(np.asarray(c["bias"])).max() <= bound
    e = np.asarray(nn.Embedding(1000, 50, padding_idx=3).init(key)["weight"])
    assert abs(e.std() - 1) < 0.02 and abs(e.mean()) < 0.02 and not e[3].any()
    bn = nn.BatchNorm2d(5).init(key)
    close(bn["weight"], np.ones(5), 0, 0)
    close(bn["bias"], np.zeros(5), 0, 0)
    ln = nn.LayerNorm((2, 3), bias=False).init(key)
    assert list(ln) == ["weight"] and ln["weight"].shape == (2, 3)


@pytest.mark.parametrize("fn,kwargs,std", [
    (nn.init.kaiming_uniform, {}, math.sqrt(2) / math.sqrt(200)),
    (nn.init.kaiming_uniform, {"a": math.sqrt(5)}, 1 / math.sqrt(3 * 200)),
    (nn.init.kaiming_uniform, {"mode": "fan_out", "nonlinearity": "relu"},
     math.sqrt(2) / math.sqrt(100 * 4)),
    (nn.init.kaiming_normal, {"nonlinearity": "relu"}, math.sqrt(2) / math.sqrt(200)),
    (nn.init.xavier_uniform, {}, math.sqrt(2 / (200 + 400))),
    (nn.init.xavier_normal, {"gain": 2.0}, 2 * math.sqrt(2 / (200 + 400))),
    (nn.init.normal, {"std": 0.5}, 0.5),
    (nn.init.uniform, {"a": -2.0, "b": 2.0}, 4 / math.sqrt(12)),
])
def test_init_distributions(fn, kwargs, std):
    w = np.asarray(fn(ft.random.key(7), (100, 50, 2, 2), **kwargs))
    assert w.shape == (100, 50, 2, 2) and w.dtype == np.float32
    assert abs(w.std() - std) < 0.03 * std
    assert abs(w.mean()) < 0.03 * std
    if fn in (nn.init.kaiming_uniform, nn.init.xavier_uniform):
        assert np.abs(w).max() <= math.sqrt(3) * std * (1 + 1e-6)


def test_init_constants_gain_and_errors(torch):
    close(nn.init.zeros(None, (2, 3)), np.zeros((2, 3)), 0, 0)
    close(nn.init.ones(None, 4), np.ones(4), 0, 0)
    for nl, param in [("linear", None), ("relu", None), ("tanh", None), ("leaky_relu", 0.2),
                      ("leaky_relu", None), ("selu", None), ("conv2d", None)]:
        assert math.isclose(nn.init.calculate_gain(nl, param),
                            torch.nn.init.calculate_gain(nl, param))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.kaiming_uniform(ft.random.key(0), (5,))


# ------------------------------------------------------------------------------ state dicts

def _cnn(lib):
    return lib.Sequential(lib.Conv2d(1, 4, 3, padding=1), lib.BatchNorm2d(4), lib.ReLU(),
                          lib.MaxPool2d(2), lib.Flatten(), lib.Linear(36, 5))


def test_state_dict_round_trip_with_torch(torch):
    ref, ours = _cnn(torch.nn), _cnn(nn)
    params, state = ours.init(ft.random.key(3)), ours.init_state()
    flat = nn.state_dict(params, state)
    assert list(flat) == list(ref.state_dict())
    ref.load_state_dict(to_torch(torch, flat))
    ref.eval()
    x = rand(2, 1, 6, 6)
    close(ours(params, ft.asarray(x), state=state)[0], ref(torch.tensor(x)).detach().numpy())

    ref2 = _cnn(torch.nn)
    params2, state2 = ours.load_state_dict(from_torch(ref2))
    ref2.eval()
    close(ours(params2, ft.asarray(x), state=state2)[0], ref2(torch.tensor(x)).detach().numpy())
    nested = nn.load_state_dict(from_torch(ref2))
    assert list(nested) == ["0", "1", "5"]
    assert set(nested["1"]) == {"weight", "bias", "running_mean", "running_var",
                                "num_batches_tracked"}


def test_state_dict_nesting_and_strict_loading():
    model = SimpleNet(3, 2, 1)
    params = model.init(ft.random.key(0))
    flat = nn.state_dict(params)
    assert list(flat) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    back = nn.load_state_dict(flat)   # no model: parameter-free children are not named
    assert ft.tree.structure(back) == ft.tree.structure({k: v for k, v in params.items() if v})
    assert ft.tree.structure(model.load_state_dict(flat)) == ft.tree.structure(params)
    assert model.load_state_dict({k: np.asarray(v, np.float64) for k, v in flat.items()})[
        "fc1"]["weight"].dtype == np.float32
    with pytest.raises(RuntimeError, match=r'missing key\(s\) in state_dict: "fc2.bias"'):
        model.load_state_dict({k: v for k, v in flat.items() if k != "fc2.bias"})
    with pytest.raises(RuntimeError, match=r'unexpected key\(s\) in state_dict: "fc3.weight"'):
        model.load_state_dict({**flat, "fc3.weight": np.zeros(1)})
    with pytest.raises(ValueError, match="fc1.weight"):
        model.load_state_dict({**flat, "fc1.weight": np.zeros((3, 2), np.float32)})
    with pytest.raises(RuntimeError, match="fc1.weight"):   # PyTorch's type, too
        model.load_state_dict({**flat, "fc1.weight": np.zeros((3, 2), np.float32)})
    with pytest.raises(ValueError, match="prefix"):
        nn.load_state_dict({"a": np.zeros(1), "a.b": np.zeros(1)})


class NoSuperInit(nn.Module):
    """Skips super().__init__(): the child registry still exists from construction."""

    def __init__(self):
        self.fc1 = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4, affine=False)
        self.fc2 = nn.Linear(4, 2)

    def __call__(self, params, x, *, state, train=False):
        x, s = self.bn({}, self.fc1(params["fc1"], x), state=state["bn"], train=train)
        return self.fc2(params["fc2"], x), {"bn": s}


def test_module_without_super_init_and_state_dict_in_module_order(torch):
    model = NoSuperInit()
    assert [n for n, _ in model.named_children()] == ["fc1", "bn", "fc2"]
    params, state = model.init(ft.random.key(0)), model.init_state()
    tn = torch.nn
    ref = tn.ModuleDict({"fc1": tn.Linear(3, 4), "bn": tn.BatchNorm1d(4, affine=False),
                         "fc2": tn.Linear(4, 2)})
    # params name 'bn' (an empty dict), so the trees alone place it, as the model does
    assert list(model.state_dict(params, state)) == list(ref.state_dict())
    assert list(nn.state_dict(params, state, model=model)) == list(ref.state_dict())
    assert list(nn.state_dict(params, state)) == list(ref.state_dict())
    fc1 = {k: v for k, v in model.state_dict(params).items() if k.startswith("fc1.")}
    with pytest.raises(KeyError, match=r'missing key\(s\) in state_dict: "bn.running_mean", '
                                       r'.*"fc2.bias"'):
        model.load_state_dict(fc1)
    out, _ = model(params, ft.ones((2, 3)), state=state)
    assert out.shape == (2, 2)


def test_zero_size_layers_initialise():
    for m, shapes in [(nn.Linear(0, 3), {"weight": (3, 0), "bias": (3,)}),
                      (nn.Conv2d(0, 4, 3), {"weight": (4, 0, 3, 3), "bias": (4,)}),
                      (nn.Conv2d(4, 0, 3), {"weight": (0, 4, 3, 3), "bias": (0,)})]:
        params = m.init(ft.random.key(0))
        assert {k: tuple(v.shape) for k, v in params.items()} == shapes
        assert not np.asarray(params["bias"]).any()   # U(-0, 0), as torch
    assert nn.init.kaiming_normal(ft.random.key(0), (3, 0)).shape == (3, 0)
    close(nn.init.uniform(ft.random.key(0), (2,), 0.5, 0.5), [0.5, 0.5])


def test_inplace_activation_reprs(torch):
    for ours, ref in [(nn.SiLU(True), torch.nn.SiLU(True)), (nn.SiLU(), torch.nn.SiLU()),
                      (nn.ReLU(inplace=True), torch.nn.ReLU(inplace=True)),
                      (nn.LeakyReLU(0.2, True), torch.nn.LeakyReLU(0.2, True)),
                      (nn.LeakyReLU(), torch.nn.LeakyReLU()),
                      (nn.Dropout(0.3, True), torch.nn.Dropout(0.3, True))]:
        assert repr(ours) == repr(ref)
    x = ft.asarray(rand(2, 3))
    close(nn.SiLU(inplace=True)({}, x), F.silu(x))


def test_embedding_module_options(torch):
    kw = dict(max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True, padding_idx=0)
    ours, ref = nn.Embedding(5, 3, **kw), torch.nn.Embedding(5, 3, **kw)
    assert repr(ours) == repr(ref)
    w = from_torch(ref)["weight"] * 3
    idx = np.array([[1, 2, 1], [0, 4, 1]])
    out = ours({"weight": ft.asarray(w)}, ft.asarray(idx))
    close(out, torch.nn.functional.embedding(torch.tensor(idx), torch.tensor(w), **kw))
    with pytest.raises(NotImplementedError, match="sparse"):
        nn.Embedding(5, 3, sparse=True)


# ---------------------------------------------------------------- a jitted training step

def test_jit_training_step_matches_eager():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Dropout(0.2), nn.Linear(8, 3))
    params = model.init(ft.random.key(0))
    opt = ft.optim.adam(1e-2)
    opt_state = opt.init(params)
    x, y = ft.asarray(rand(4, 1, 6, 6)), ft.asarray(RNG.integers(0, 3, 4))

    def step(params, opt_state, key, x, y):
        loss, grads = ft.value_and_grad(
            lambda p: F.cross_entropy(model(p, x, key=key, train=True), y))(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return ft.optim.apply_updates(params, updates), opt_state, loss

    jstep = ft.jit(step)
    p_e, s_e, p_j, s_j = params, opt_state, params, opt_state
    for i in range(3):
        key = ft.random.key(i)
        p_e, s_e, loss_e = step(p_e, s_e, key, x, y)
        p_j, s_j, loss_j = jstep(p_j, s_j, key, x, y)
        close(loss_j, loss_e, 1e-5, 1e-6)
    for a, b in zip(ft.tree.leaves((p_j, s_j)), ft.tree.leaves((p_e, s_e))):
        close(a, b, 1e-5, 1e-6)
    assert float(loss_j) < float(F.cross_entropy(model(params, x), y)) + 1.0
