"""nn.functional's losses (cross_entropy, nll_loss, mse_loss,
binary_cross_entropy_with_logits) against PyTorch (an optional oracle); the helpers are
tests/test_functional.py's."""

import numpy as np
import pytest
from test_functional import RNG, _grads_vs_torch, close, rand, tt

import funtorch as ft
import funtorch.nn.functional as F

# ------------------------------------------------------------------------------ losses

CE_CASES = [
    dict(),
    dict(reduction="sum"),
    dict(reduction="none"),
    dict(ignore_index=1),
    dict(label_smoothing=0.1),
    dict(label_smoothing=0.2, reduction="sum"),
    dict(label_smoothing=0.2, reduction="none", ignore_index=0),
    dict(weight=True),
    dict(weight=True, ignore_index=2),
    dict(weight=True, label_smoothing=0.3),
    dict(weight=True, label_smoothing=0.3, ignore_index=3, reduction="none"),
]


def _ce_args(torch, kw, C):
    kw = dict(kw)
    w = np.abs(rand(C)) + 0.1
    if kw.pop("weight", False):
        return kw, ft.asarray(w), tt(torch, w)
    return kw, None, None


@pytest.mark.parametrize("kw", CE_CASES)
def test_cross_entropy_and_grads_match_torch(torch, kw):
    kw, w, tw = _ce_args(torch, kw, 4)
    x = rand(6, 4) * 2
    y = np.array([0, 1, 2, 3, 1, 2])
    _grads_vs_torch(torch, lambda x: F.cross_entropy(x, ft.asarray(y), weight=w, **kw),
                    lambda x: torch.nn.functional.cross_entropy(x, torch.tensor(y), weight=tw,
                                                                **kw), [x])


@pytest.mark.parametrize("kw", [dict(), dict(label_smoothing=0.1, weight=True),
                                dict(reduction="none", ignore_index=0)])
def test_cross_entropy_spatial_and_int32_targets(torch, kw):
    kw, w, tw = _ce_args(torch, kw, 3)
    x = rand(2, 3, 4, 5)
    y = RNG.integers(0, 3, (2, 4, 5))
    ours = F.cross_entropy(ft.asarray(x), ft.asarray(y.astype(np.int32)), weight=w, **kw)
    ref = torch.nn.functional.cross_entropy(tt(torch, x), torch.tensor(y), weight=tw, **kw)
    close(ours, ref.numpy())


def test_cross_entropy_unbatched(torch):
    x = rand(5)
    close(F.cross_entropy(ft.asarray(x), ft.asarray(np.array(3))),
          torch.nn.functional.cross_entropy(tt(torch, x), torch.tensor(3)).numpy())


@pytest.mark.parametrize("kw", [dict(), dict(label_smoothing=0.2), dict(weight=True),
                                dict(reduction="none"), dict(reduction="sum", weight=True)])
def test_cross_entropy_probability_targets(torch, kw):
    kw, w, tw = _ce_args(torch, kw, 4)
    x = rand(5, 4)
    p = np.asarray(F.softmax(ft.asarray(rand(5, 4)), dim=1))
    _grads_vs_torch(torch, lambda x: F.cross_entropy(x, ft.asarray(p), weight=w, **kw),
                    lambda x: torch.nn.functional.cross_entropy(x, tt(torch, p), weight=tw,
                                                                **kw), [x])


def test_cross_entropy_errors():
    x = ft.zeros((3, 4))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, ft.asarray([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match="target of shape"):
        F.cross_entropy(x, ft.asarray([0, 1]))


@pytest.mark.parametrize("kw", [dict(), dict(reduction="sum"), dict(ignore_index=0),
                                dict(weight=True, reduction="none")])
def test_nll_loss_matches_torch(torch, kw):
    kw, w, tw = _ce_args(torch, kw, 4)
    x = np.asarray(F.log_softmax(ft.asarray(rand(5, 4)), dim=1))
    y = np.array([0, 3, 2, 0, 1])
    close(F.nll_loss(ft.asarray(x), ft.asarray(y), weight=w, **kw),
          torch.nn.functional.nll_loss(tt(torch, x), torch.tensor(y), weight=tw, **kw).numpy())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(torch, reduction):
    a, b = rand(3, 4), rand(3, 4)
    close(F.mse_loss(ft.asarray(a), ft.asarray(b), reduction=reduction),
          torch.nn.functional.mse_loss(tt(torch, a), tt(torch, b), reduction=reduction).numpy())


@pytest.mark.parametrize("kw", [dict(), dict(reduction="none"), dict(pos_weight=True),
                                dict(weight=True, pos_weight=True, reduction="sum")])
def test_bce_with_logits_and_grads_match_torch(torch, kw):
    x = rand(4, 3) * 5
    y = (RNG.random((4, 3)) > 0.5).astype(np.float32)
    w, pw = np.abs(rand(4, 3)), np.abs(rand(3)) + 0.5
    ours_kw = dict(reduction=kw.get("reduction", "mean"))
    ref_kw = dict(ours_kw)
    if kw.get("weight"):
        ours_kw["weight"], ref_kw["weight"] = ft.asarray(w), tt(torch, w)
    if kw.get("pos_weight"):
        ours_kw["pos_weight"], ref_kw["pos_weight"] = ft.asarray(pw), tt(torch, pw)
    _grads_vs_torch(
        torch, lambda x: F.binary_cross_entropy_with_logits(x, ft.asarray(y), **ours_kw),
        lambda x: torch.nn.functional.binary_cross_entropy_with_logits(x, tt(torch, y),
                                                                       **ref_kw), [x])


def test_losses_jit_like_eager():
    x, y = ft.asarray(rand(6, 4)), ft.asarray(np.array([0, 1, 2, 3, 1, -100]))
    f = lambda x, y: F.cross_entropy(x, y, label_smoothing=0.1)  # noqa: E731
    close(ft.jit(f)(x, y), f(x, y), 1e-6, 1e-6)
