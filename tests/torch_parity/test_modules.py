"""nn modules against PyTorch: repr, state_dict, forward, default initialisation."""

import collections
import math

import numpy as np
import pytest

import funtorch as ft
import funtorch.nn as nn

from .common import close, rand, rng

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")



def from_torch(m):
    return {k: v.detach().numpy() for k, v in m.state_dict().items()}


def _module_pairs(tn):
    return [
        (nn.Conv2d(2, 4, (2, 3), padding="same", dilation=2),
         tn.Conv2d(2, 4, (2, 3), padding="same", dilation=2), (1, 2, 6, 7)),
        (nn.Conv1d(2, 4, 4, padding="valid"), tn.Conv1d(2, 4, 4, padding="valid"), (2, 2, 9)),
        (nn.Conv1d(2, 4, 4, padding="same", bias=False),
         tn.Conv1d(2, 4, 4, padding="same", bias=False), (2, 2, 9)),
        (nn.Conv2d(4, 8, 3, groups=4, padding=(1, 2), stride=(2, 1)),
         tn.Conv2d(4, 8, 3, groups=4, padding=(1, 2), stride=(2, 1)), (1, 4, 7, 7)),
        (nn.Conv2d(3, 3, 3, groups=3, padding=1, bias=False),
         tn.Conv2d(3, 3, 3, groups=3, padding=1, bias=False), (2, 3, 5, 5)),
        (nn.MaxPool2d((2, 3), stride=1, padding=1, dilation=2, ceil_mode=True),
         tn.MaxPool2d((2, 3), stride=1, padding=1, dilation=2, ceil_mode=True), (1, 2, 7, 7)),
        (nn.MaxPool2d(3, 2, 1), tn.MaxPool2d(3, 2, 1), (1, 2, 7, 7)),
        (nn.AvgPool2d(3, ceil_mode=True, count_include_pad=False, divisor_override=2),
         tn.AvgPool2d(3, ceil_mode=True, count_include_pad=False, divisor_override=2),
         (1, 2, 7, 8)),
        (nn.AvgPool2d((2, 3), stride=(1, 2), padding=1),
         tn.AvgPool2d((2, 3), stride=(1, 2), padding=1), (1, 2, 6, 6)),
        (nn.BatchNorm2d(3, eps=1e-3, momentum=None, affine=False, track_running_stats=False),
         tn.BatchNorm2d(3, eps=1e-3, momentum=None, affine=False, track_running_stats=False),
         (2, 3, 4, 4)),
        (nn.BatchNorm1d(3, bias=False), tn.BatchNorm1d(3, bias=False), (4, 3, 2)),
        (nn.LayerNorm([2, 3], eps=1e-6, bias=False), tn.LayerNorm([2, 3], eps=1e-6, bias=False),
         (4, 2, 3)),
        (nn.LayerNorm(3, elementwise_affine=False), tn.LayerNorm(3, elementwise_affine=False),
         (2, 3)),
        (nn.Embedding(5, 3, padding_idx=2), tn.Embedding(5, 3, padding_idx=2), None),
        (nn.ReLU(inplace=True), tn.ReLU(inplace=True), (2, 3)),
        (nn.LeakyReLU(0.1, True), tn.LeakyReLU(0.1, True), (2, 3)),
        (nn.Dropout(0.1, inplace=True), tn.Dropout(0.1, inplace=True), (2, 3)),
        (nn.Softmax(-2), tn.Softmax(-2), (2, 3)),
        (nn.LogSoftmax(0), tn.LogSoftmax(0), (2, 3)),
        (nn.Flatten(2, 3), tn.Flatten(2, 3), (2, 3, 4, 5, 2)),
        (nn.Flatten(-2), tn.Flatten(-2), (2, 3, 4)),
        (nn.GELU(approximate="tanh"), tn.GELU(approximate="tanh"), (2, 3)),
        (nn.Linear(3, 4, bias=False), tn.Linear(3, 4, bias=False), (3,)),
        (nn.SiLU(), tn.SiLU(), (2, 3)),
        (nn.Sigmoid(), tn.Sigmoid(), (2, 3)),
        (nn.Tanh(), tn.Tanh(), (2, 3)),
        (nn.Linear(3, 4), tn.Linear(3, 4), (2, 3)),
        (nn.BatchNorm2d(2), tn.BatchNorm2d(2), (2, 2, 3, 3)),
        (nn.Conv2d(2, 2, 1), tn.Conv2d(2, 2, 1), (1, 2, 3, 3)),
    ]


def test_module_repr_state_dict_and_eval_forward(torch):
    tn = torch.nn
    torch.manual_seed(0)
    for ours, ref, shape in _module_pairs(tn):
        name = repr(ours)
        assert repr(ours) == repr(ref)
        params, state = ours.init(ft.random.key(0)), ours.init_state()
        flat, tflat = nn.state_dict(params, state), ref.state_dict()
        assert list(flat) == list(tflat), name
        for k, v in flat.items():
            assert tuple(v.shape) == tuple(tflat[k].shape), (name, k)
            assert np.dtype(v.dtype) == tflat[k].numpy().dtype, (name, k)
        with torch.no_grad():
            for p in ref.parameters():
                p.copy_(torch.randn(p.shape))
        ref.eval()
        loaded = ours.load_state_dict(from_torch(ref))
        params, state = loaded if state else (loaded, None)
        x = rng(1).integers(0, 5, (2, 4)) if shape is None else rand(*shape)
        kw = {} if state is None else dict(state=state)
        out = ours(params, ft.asarray(x), **kw)
        out = out[0] if state is not None else out
        close(out, ref(torch.tensor(x)), 1e-5, 1e-5)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2),
                                      nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8, 6), nn.LayerNorm(6),
                                  nn.Dropout(0.2), nn.Linear(6, 3))

    def __call__(self, params, x, *, state, train=False, key=None):
        x, s = self.features(params["features"], x, state=state["features"], train=train)
        return self.head(params["head"], x, train=train, key=key), {"features": s}


def _torch_block(tn):
    class Block(tn.Module):
        def __init__(self):
            super().__init__()
            self.features = tn.Sequential(tn.Conv2d(1, 2, 3, padding=1), tn.BatchNorm2d(2),
                                          tn.ReLU(), tn.MaxPool2d(2))
            self.head = tn.Sequential(tn.Flatten(), tn.Linear(8, 6), tn.LayerNorm(6),
                                      tn.Dropout(0.2), tn.Linear(6, 3))

        def forward(self, x):
            return self.head(self.features(x))

    return Block()


def test_nested_custom_module_repr_state_dict_and_training_forward(torch):
    torch.manual_seed(1)
    ref, ours = _torch_block(torch.nn), Block()
    assert repr(ours) == repr(ref)
    params, state = ours.init(ft.random.key(0)), ours.init_state()
    assert list(nn.state_dict(params, state)) == list(ref.state_dict())
    params, state = ours.load_state_dict(from_torch(ref))
    ref.head[3].p = 0.0  # dropout masks differ by design: compare training mode without it
    ours.head[3].p = 0.0
    for step in range(3):
        x = rand(4, 1, 4, 4, seed=step)
        out, state = ours(params, ft.asarray(x), state=state, train=True)
        close(out, ref(torch.tensor(x)), 1e-4, 1e-4)
    for k, v in from_torch(ref).items():
        close(nn.state_dict(params, state)[k], v, 1e-5, 1e-6)
    ref.eval()
    x = rand(2, 1, 4, 4, seed=9)
    close(ours(params, ft.asarray(x), state=state)[0], ref(torch.tensor(x)), 1e-4, 1e-4)
    # and back: funtorch's flat dict loads strictly into torch
    back = _torch_block(torch.nn)
    back.load_state_dict({k: torch.tensor(np.asarray(v))
                          for k, v in nn.state_dict(params, state).items()}, strict=True)
    back.eval()
    close(ours(params, ft.asarray(x), state=state)[0], back(torch.tensor(x)), 1e-4, 1e-4)


def test_state_dict_order_with_parameterless_stateful_child(torch):
    tn = torch.nn
    ours = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, affine=False), nn.Linear(4, 2))
    ref = tn.Sequential(tn.Linear(3, 4), tn.BatchNorm1d(4, affine=False), tn.Linear(4, 2))
    flat = nn.state_dict(ours.init(ft.random.key(0)), ours.init_state())
    assert list(flat) == list(ref.state_dict())


def test_batchnorm_module_momentum_none_on_3d_input(torch):
    ref, ours = torch.nn.BatchNorm1d(3, momentum=None), nn.BatchNorm1d(3, momentum=None)
    params, state = ours.load_state_dict(from_torch(ref))
    ref.train()
    for i in range(4):
        x = rand(4, 3, 5, seed=i) * (i + 1) + i
        out, state = ours(params, ft.asarray(x), state=state, train=True)
        close(out, ref(torch.tensor(x)), 1e-4, 1e-4)
    for k, v in from_torch(ref).items():
        close(state[k] if k in state else params[k], v, 1e-5, 1e-6)
    ref.eval()
    x = rand(4, 3, 5, seed=9)
    close(ours(params, ft.asarray(x), state=state)[0], ref(torch.tensor(x)), 1e-4, 1e-4)


def test_silu_accepts_inplace(torch):
    assert repr(nn.SiLU(inplace=True)) == repr(torch.nn.SiLU(inplace=True))


def test_load_state_dict_takes_torch_tensors_directly(torch):
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)).double()
    params, state = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).load_state_dict(
        ref.state_dict())
    assert params["0"]["weight"].dtype == np.float32  # cast to the model's dtype, as torch
    assert state["1"]["num_batches_tracked"].dtype == np.int64
    close(params["0"]["weight"], ref[0].weight.detach().float())


def test_empty_sequential_is_the_identity(torch):
    ours, ref = nn.Sequential(), torch.nn.Sequential()
    assert repr(ours) == repr(ref) and ours.init(ft.random.key(0)) == {}
    assert len(ours) == len(ref) == 0
    x = rand(2, 3)
    close(ours({}, ft.asarray(x)), ref(torch.tensor(x)))


def test_batchnorm_cumulative_average_continues_from_a_torch_checkpoint(torch):
    ref = torch.nn.BatchNorm2d(3, momentum=None).train()
    torch.manual_seed(0)
    for _ in range(3):
        ref(torch.randn(4, 3, 2, 2))
    ours = nn.BatchNorm2d(3, momentum=None)
    params, state = ours.load_state_dict(from_torch(ref))
    assert int(state["num_batches_tracked"]) == 3
    for i in range(2):
        x = rand(4, 3, 2, 2, seed=i)
        out, state = ours(params, ft.asarray(x), state=state, train=True)
        close(out, ref(torch.tensor(x)), 1e-4, 1e-4)
    for k in state:
        close(state[k], ref.state_dict()[k], 1e-5, 1e-6)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        ours(params, ft.ones((1, 3, 1, 1)), state=state, train=True)


def test_sequential_indexing_like_torch(torch):
    tn = torch.nn
    ours = nn.Sequential(collections.OrderedDict(
        [("conv", nn.Conv2d(1, 2, 3)), ("act", nn.ReLU()), ("fc", nn.Linear(2, 2))]))
    ref = tn.Sequential(collections.OrderedDict(
        [("conv", tn.Conv2d(1, 2, 3)), ("act", tn.ReLU()), ("fc", tn.Linear(2, 2))]))
    assert repr(ours) == repr(ref)
    assert repr(ours[-1]) == repr(ref[-1])
    assert repr(ours[1:]) == repr(ref[1:])
    assert len(ours) == len(ref)
    assert list(ours.init(ft.random.key(0))) == ["conv", "fc"]


INIT_CASES = [
    (lambda: nn.Linear(100, 200), 100),
    (lambda: nn.Linear(1, 300), 1),
    (lambda: nn.Conv2d(8, 16, 3, groups=2), 4 * 9),
    (lambda: nn.Conv1d(6, 12, 5, groups=3), 2 * 5),
    (lambda: nn.Conv2d(3, 64, (2, 5)), 3 * 10),
]


@pytest.mark.parametrize("make,fan_in", INIT_CASES)
def test_default_init_is_kaiming_uniform_like_torch(torch, make, fan_in):
    """kaiming_uniform(a=sqrt(5)) weights and U(+-1/sqrt(fan_in)) biases: within the bound,
    reaching near it, and with the uniform's spread (std = bound/sqrt(3)) and torch's."""
    m = make()
    params = m.init(ft.random.key(3))
    ref = getattr(torch.nn, type(m).__name__)
    torch.manual_seed(0)
    tm = ref(**{k: getattr(m, k) for k in ("in_features", "out_features")}) if isinstance(
        m, nn.Linear) else ref(m.in_channels, m.out_channels, m.kernel_size, groups=m.groups)
    bound = 1 / math.sqrt(fan_in)
    for name in ("weight", "bias"):
        a, t = np.asarray(params[name]), getattr(tm, name).detach().numpy()
        assert a.dtype == np.float32 and a.shape == t.shape
        assert np.abs(a).max() <= bound * (1 + 1e-6)
        assert np.abs(a).max() >= bound * 0.9
        assert abs(a.std() - bound / math.sqrt(3)) < 0.15 * bound / math.sqrt(3)
        assert abs(a.std() - t.std()) < 0.2 * t.std()
        assert abs(a.mean()) < 0.15 * bound


def test_other_default_inits_match_torch(torch):
    emb = np.asarray(nn.Embedding(100, 50, padding_idx=4).init(ft.random.key(0))["weight"])
    assert abs(emb.std() - 1) < 0.05 and abs(emb.mean()) < 0.05
    assert not emb[4].any()
    for ours, ref in [(nn.LayerNorm((3, 4)), torch.nn.LayerNorm((3, 4))),
                      (nn.BatchNorm2d(5), torch.nn.BatchNorm2d(5))]:
        flat = nn.state_dict(ours.init(ft.random.key(0)), ours.init_state())
        for k, v in ref.state_dict().items():
            close(flat[k], v)
            assert np.dtype(flat[k].dtype) == v.numpy().dtype


def test_zero_in_features_linear(torch):
    params = nn.Linear(0, 3).init(ft.random.key(0))
    ref = torch.nn.Linear(0, 3)
    assert params["weight"].shape == (3, 0)
    close(params["bias"], ref.bias)
