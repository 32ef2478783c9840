"""What a port from PyTorch trips over: loss shape warnings, parameter-free submodules,
dropout's train=, strict and non-strict load_state_dict."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import funtorch as ft
import funtorch.nn.functional as F
from funtorch import nn


def _mse_warnings(fn):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("default")          # Python's: once per call site
        fn()
    return [x for x in w if "target size" in str(x.message)]


def test_mse_loss_warns_on_broadcasting_target_once_per_call_site():
    x, t = ft.ones((3, 1)), ft.ones(3)

    def loop():
        for _ in range(3):
            F.mse_loss(x, t)                        # one call site, three calls

    w = _mse_warnings(loop)
    assert len(w) == 1 and w[0].category is UserWarning
    assert w[0].filename == __file__                # names the user's line, not funtorch's
    msg = str(w[0].message)
    assert ("Using a target size (3,) that is different to the input size (3, 1). This will "
            "likely lead to incorrect results due to broadcasting. Please ensure they have "
            "the same size.") in msg
    assert len(_mse_warnings(lambda: (F.mse_loss(x, t), F.mse_loss(x, t)))) == 1
    # under transformations the warning names the user's call too
    w = _mse_warnings(lambda: ft.jit(lambda a, b: F.mse_loss(a, b))(x, t))
    assert len(w) == 1 and w[0].filename == __file__
    w = _mse_warnings(lambda: ft.grad(lambda a: F.mse_loss(a, t))(x))
    assert len(w) == 1 and w[0].filename == __file__
    assert not _mse_warnings(lambda: F.mse_loss(x, ft.ones((3, 1))))


def test_mse_warning_text_is_pytorchs(torch):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        torch.nn.functional.mse_loss(torch.ones(3, 1), torch.ones(3))
        F.mse_loss(ft.ones((3, 1)), ft.ones(3))
    theirs, ours = (str(x.message) for x in w)
    tail = theirs.split("input size (torch.Size([3, 1])). ")[1]
    assert ours.endswith(tail) and theirs.startswith("Using a target size")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4, 2)
        self.drop = nn.Dropout(0.5)

    def __call__(self, params, x, *, key=None, train=False):
        x = self.flatten(params["flatten"], x)     # the documented pattern
        x = self.drop(params["drop"], x, key=key, train=train)
        return self.fc(params["fc"], x)


def test_parameter_free_submodules_have_empty_entries_and_state_dict_round_trips(tmp_path):
    model = Net()
    params = model.init(ft.random.key(0))
    assert params["flatten"] == {} and params["drop"] == {}
    x = ft.ones((3, 2, 2))
    assert model(params, x).shape == (3, 2)
    assert ft.grad(lambda p: ft.sum(model(p, x)))(params)["flatten"] == {}
    flat = model.state_dict(params)
    assert list(flat) == ["fc.weight", "fc.bias"]                 # as PyTorch's
    back = model.load_state_dict(flat)
    assert ft.tree.structure(back) == ft.tree.structure(params)
    assert model(back, x).shape == (3, 2)
    ft.save(tmp_path / "m.safetensors", params)
    assert model(ft.load(tmp_path / "m.safetensors"), x).shape == (3, 2)
    opt = ft.optim.adam(1e-3)
    ft.optim.apply_updates(params, opt.update(params, opt.init(params), params)[0])


def test_dropout_module_error_says_train():
    model = Net()
    params = model.init(ft.random.key(0))
    with pytest.raises(ValueError, match=r"dropout \(train=True\) needs a random key.*train=False"):
        model(params, ft.ones((3, 4)), train=True)
    with pytest.raises(ValueError, match="training=False"):   # the function's own keyword
        F.dropout(ft.ones(3), 0.5, training=True)


def test_load_state_dict_strict_is_a_runtime_error_and_non_strict_reports_keys():
    model = Net()
    flat = model.state_dict(model.init(ft.random.key(1)))
    partial = {"fc.weight": np.zeros((2, 4), np.float32), "head.bias": np.zeros(2)}
    with pytest.raises(RuntimeError, match=r'missing key\(s\) in state_dict: "fc.bias"; '
                                           r'unexpected key\(s\) in state_dict: "head.bias"'):
        model.load_state_dict(partial)
    params, keys = model.load_state_dict(partial, strict=False)
    assert keys.missing_keys == ["fc.bias"] and keys.unexpected_keys == ["head.bias"]
    np.testing.assert_array_equal(params["fc"]["weight"], np.zeros((2, 4)))
    np.testing.assert_array_equal(params["fc"]["bias"],
                                  model.init(ft.random.key(0))["fc"]["bias"])
    loaded, keys = model.load_state_dict(flat, strict=False)
    assert keys == ([], []) and ft.tree.structure(loaded) == ft.tree.structure(params)
    with pytest.raises(RuntimeError, match=r"size mismatch for fc.weight"):
        model.load_state_dict({**flat, "fc.weight": np.zeros((4, 2))}, strict=False)


def test_strict_load_matches_torch_keys(torch):
    tm = torch.nn.Linear(4, 2)
    with pytest.raises(RuntimeError) as theirs:
        tm.load_state_dict({"weight": torch.zeros(2, 4)})
    with pytest.raises(RuntimeError) as ours:
        nn.Linear(4, 2).load_state_dict({"weight": np.zeros((2, 4))})
    assert '"bias"' in str(theirs.value) and '"bias"' in str(ours.value)
    assert torch.nn.Linear(4, 2).load_state_dict({"weight": torch.zeros(2, 4)}, strict=False
                                                 ).missing_keys == \
        nn.Linear(4, 2).load_state_dict({"weight": np.zeros((2, 4))}, strict=False)[1].missing_keys
