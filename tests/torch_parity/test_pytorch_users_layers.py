"""The loss modules and layers PyTorch users reach for (issue 16, item 7) against PyTorch:
forward values and VJPs for every option, the modules' call pattern, and jit vs eager."""

import numpy as np
import pytest

import funtorch as ft
import funtorch.nn as nn
import funtorch.nn.functional as F

from .common import close, grads_vs_torch, rand, rng, tt

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

RED = ["mean", "sum", "none"]


# ---------------------------------------------------------------------------------- losses

@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("name", ["l1_loss", "mse_loss"])
def test_l1_mse(torch, name, reduction):
    grads_vs_torch(torch, lambda x, t: getattr(F, name)(x, t, reduction=reduction),
                   lambda x, t: getattr(torch.nn.functional, name)(x, t, reduction=reduction),
                   [rand(3, 4), rand(3, 4, seed=1)])


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("beta", [1.0, 0.5, 0.0])
def test_smooth_l1(torch, beta, reduction):
    grads_vs_torch(torch, lambda x, t: F.smooth_l1_loss(x, t, reduction=reduction, beta=beta),
                   lambda x, t: torch.nn.functional.smooth_l1_loss(x, t, reduction=reduction,
                                                                   beta=beta),
                   [rand(4, 5) * 2, rand(4, 5, seed=1)])


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("delta", [1.0, 0.3, 2.5])
def test_huber(torch, delta, reduction):
    grads_vs_torch(torch, lambda x, t: F.huber_loss(x, t, reduction=reduction, delta=delta),
                   lambda x, t: torch.nn.functional.huber_loss(x, t, reduction=reduction,
                                                               delta=delta),
                   [rand(4, 5) * 2, rand(4, 5, seed=1)])


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "huber_loss"])
def test_elementwise_weight(torch, name, reduction):
    w = rng(3).uniform(0.1, 2, (3, 4)).astype(np.float32)
    grads_vs_torch(torch, lambda x, t: getattr(F, name)(x, t, reduction=reduction,
                                                        weight=ft.asarray(w)),
                   lambda x, t: getattr(torch.nn.functional, name)(x, t, reduction=reduction,
                                                                   weight=tt(torch, w)),
                   [rand(3, 4) * 2, rand(3, 4, seed=1)])


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(torch, reduction, weighted):
    p = rng(1).uniform(0.02, 0.98, (4, 3)).astype(np.float32)
    t = rng(2).uniform(0, 1, (4, 3)).astype(np.float32)
    w = rng(3).uniform(0.5, 2, (3,)).astype(np.float32) if weighted else None
    grads_vs_torch(torch, lambda p, t: F.binary_cross_entropy(
                       p, t, None if w is None else ft.asarray(w), reduction=reduction),
                   lambda p, t: torch.nn.functional.binary_cross_entropy(
                       p, t, None if w is None else tt(torch, w), reduction=reduction),
                   [p, t])


def test_binary_cross_entropy_clamps_log_at_minus_100(torch):
    p = np.array([0.0, 1.0, 0.5, 1.0], np.float32)
    t = np.array([1.0, 0.0, 1.0, 1.0], np.float32)
    ours = F.binary_cross_entropy(ft.asarray(p), ft.asarray(t), reduction="none")
    close(ours, torch.nn.functional.binary_cross_entropy(tt(torch, p), tt(torch, t),
                                                         reduction="none"))
    assert np.isfinite(np.asarray(ours)).all()


def test_binary_cross_entropy_rejects_logits():
    with pytest.raises(ValueError, match="between 0 and 1.*with_logits"):
        F.binary_cross_entropy(ft.asarray([1.5, 0.2]), ft.asarray([1.0, 0.0]))


@pytest.mark.parametrize("reduction", RED + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(torch, reduction, log_target):
    x = np.asarray(torch.log_softmax(torch.tensor(rand(3, 5)), 1))
    t = np.asarray(torch.softmax(torch.tensor(rand(3, 5, seed=1)), 1))
    if log_target:
        t = np.log(t + 0.1).astype(np.float32)
    grads_vs_torch(torch, lambda x, t: F.kl_div(x, t, reduction=reduction,
                                                log_target=log_target),
                   lambda x, t: torch.nn.functional.kl_div(x, t, reduction=reduction,
                                                           log_target=log_target),
                   [x, t])


def test_kl_div_mean_warns_as_torch(torch):
    x, t = ft.log(ft.full((2, 3), 1 / 3)), ft.full((2, 3), 1 / 3)
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(x, t)
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        nn.KLDivLoss()(x, t)


def test_kl_div_zero_target_contributes_zero(torch):
    """xlogy: a zero probability adds 0 to the loss and to the input's gradient."""
    x = np.log(np.array([0.2, 0.3, 0.5], np.float32))
    t = np.array([0.0, 0.4, 0.6], np.float32)
    grads_vs_torch(torch, lambda x: F.kl_div(x, ft.asarray(t), reduction="sum"),
                   lambda x: torch.nn.functional.kl_div(x, tt(torch, t), reduction="sum"), [x])


@pytest.mark.parametrize("reduction", RED)
def test_bce_with_logits_pos_weight(torch, reduction):
    pw = np.array([0.5, 2.0, 3.0], np.float32)
    t = (rng(2).uniform(0, 1, (4, 3)) > 0.5).astype(np.float32)
    grads_vs_torch(torch, lambda x: F.binary_cross_entropy_with_logits(
                       x, ft.asarray(t), reduction=reduction, pos_weight=ft.asarray(pw)),
                   lambda x: torch.nn.functional.binary_cross_entropy_with_logits(
                       x, tt(torch, t), reduction=reduction, pos_weight=tt(torch, pw)),
                   [rand(4, 3) * 3])


MODULES = [
    ("L1Loss", {}, "float"), ("MSELoss", {"reduction": "sum"}, "float"),
    ("SmoothL1Loss", {"beta": 0.5}, "float"), ("HuberLoss", {"delta": 0.7}, "float"),
    ("BCELoss", {}, "prob"), ("BCEWithLogitsLoss", {"pos_weight": [2.0, 0.5, 1.0]}, "prob"),
    ("KLDivLoss", {"reduction": "batchmean"}, "prob"),
    ("CrossEntropyLoss", {}, "index"),
    ("CrossEntropyLoss", {"weight": [1.0, 2.0, 0.5], "label_smoothing": 0.1,
                          "ignore_index": 1}, "index"),
    ("CrossEntropyLoss", {"reduction": "none"}, "soft"),
    ("NLLLoss", {"weight": [1.0, 2.0, 0.5]}, "index"),
]


@pytest.mark.parametrize("name,options,target", MODULES)
def test_loss_modules(torch, name, options, target):
    """``nn.XLoss(**options)(input, target)`` as in PyTorch, eager and under jit."""
    r = rng(5)
    x = r.uniform(0.05, 0.95, (4, 3)).astype(np.float32)
    if name in ("NLLLoss", "KLDivLoss"):
        x = np.log(x)
    t = {"float": r.standard_normal((4, 3)), "prob": r.uniform(0, 1, (4, 3)),
         "index": r.integers(0, 3, (4,)), "soft": r.dirichlet(np.ones(3), 4)}[target]
    t = t if target == "index" else t.astype(np.float32)
    ours_opts = {k: ft.asarray(np.float32(v)) if isinstance(v, list) else v
                 for k, v in options.items()}
    ref_opts = {k: torch.tensor(v) if isinstance(v, list) else v for k, v in options.items()}
    loss = getattr(nn, name)(**ours_opts)
    ref = getattr(torch.nn, name)(**ref_opts)(torch.tensor(x), torch.tensor(t))
    close(loss(ft.asarray(x), ft.asarray(t)), ref)
    close(ft.jit(loss)(ft.asarray(x), ft.asarray(t)), ref)
    g = ft.grad(lambda x: ft.sum(loss(x, ft.asarray(t))))(ft.asarray(x))
    tx = torch.tensor(x, requires_grad=True)
    getattr(torch.nn, name)(**ref_opts)(tx, torch.tensor(t)).sum().backward()
    close(g, tx.grad)


@pytest.mark.parametrize("name", ["l1_loss", "smooth_l1_loss", "huber_loss"])
def test_broadcasting_target_warns_as_torch(torch, name):
    x, t = rand(3, 1), rand(3, seed=1)
    with pytest.warns(UserWarning, match=r"Using a target size \(3,\) that is different to "
                                         r"the input size \(3, 1\)"):
        ours = getattr(F, name)(ft.asarray(x), ft.asarray(t))
    with pytest.warns(UserWarning, match="different to the input size"):
        ref = getattr(torch.nn.functional, name)(tt(torch, x), tt(torch, t))
    close(ours, ref)


def test_loss_module_repr_and_bad_reduction():
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    with pytest.raises(ValueError, match="HuberLoss: reduction must be one of"):
        nn.HuberLoss(reduction="avg")
    with pytest.raises(ValueError, match="huber_loss: delta must be positive"):
        F.huber_loss(ft.zeros(3), ft.zeros(3), delta=0.0)
    with pytest.raises(ValueError, match="smooth_l1_loss: beta must be non-negative"):
        F.smooth_l1_loss(ft.zeros(3), ft.zeros(3), beta=-1.0)
    with pytest.raises(ValueError, match="kl_div: reduction must be"):
        F.kl_div(ft.zeros(3), ft.zeros(3), reduction="avg")


# -------------------------------------------------------------------------------- pooling

@pytest.mark.parametrize("size,out", [((8, 8), 4), ((7, 9), (3, 4)), ((5, 6), (5, None)),
                                      ((4, 4), 1), ((3, 5), (6, 7))])
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_adaptive_pool(torch, size, out, kind):
    name = f"adaptive_{kind}_pool2d"
    grads_vs_torch(torch, lambda x: getattr(F, name)(x, out),
                   lambda x: getattr(torch.nn.functional, name)(x, out), [rand(2, 3, *size)])


@pytest.mark.parametrize("out", [(3, 4), (7, 9), 2, (10, 11), (4, None)])
def test_adaptive_max_pool_indices(torch, out):
    """PyTorch's indices, ties (first max) and NaNs (last NaN) included, eager and jitted;
    the values and gradient are those without indices."""
    x = rand(2, 3, 7, 9)
    x[0, 0, 1, 1:3] = np.nan
    x[0, 1, :3, :3] = 5.0
    x[1, 2] = 1.0
    ref_y, ref_i = torch.nn.functional.adaptive_max_pool2d(torch.tensor(x), out,
                                                           return_indices=True)
    for f in (F.adaptive_max_pool2d, ft.jit(F.adaptive_max_pool2d, static_argnums=(1, 2))):
        y, i = f(ft.asarray(x), out, True)
        close(y, ref_y)
        assert i.dtype == np.int64
        np.testing.assert_array_equal(np.asarray(i), ref_i.numpy())
    g = ft.grad(lambda x: ft.sum(F.adaptive_max_pool2d(x, out, return_indices=True)[0]))
    close(g(ft.asarray(x[1:])), ft.grad(lambda x: ft.sum(F.adaptive_max_pool2d(x, out)))(
        ft.asarray(x[1:])))
    m = nn.AdaptiveMaxPool2d(out, return_indices=True)
    np.testing.assert_array_equal(np.asarray(m({}, ft.asarray(x[0]))[1]), ref_i[0].numpy())


def test_adaptive_pool_unbatched_and_modules(torch):
    x = rand(3, 7, 5)
    for ours, ref in ((nn.AdaptiveAvgPool2d((2, 3)), torch.nn.AdaptiveAvgPool2d((2, 3))),
                      (nn.AdaptiveMaxPool2d(2), torch.nn.AdaptiveMaxPool2d(2))):
        close(ours({}, ft.asarray(x)), ref(tt(torch, x)))
        close(ft.jit(ours)({}, ft.asarray(x)), ref(tt(torch, x)))
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: expected a 3-D or 4-D"):
        F.adaptive_avg_pool2d(ft.zeros((4, 4)), 2)


# ------------------------------------------------------------------------ conv_transpose2d

CT = [dict(), dict(stride=2), dict(stride=2, padding=1, output_padding=1),
      dict(stride=(2, 3), padding=(1, 0), dilation=(1, 2), output_padding=(1, 0)),
      dict(groups=2), dict(stride=3, padding=2, groups=2, dilation=2, output_padding=2)]


@pytest.mark.parametrize("kw", CT)
@pytest.mark.parametrize("bias", [False, True])
def test_conv_transpose2d(torch, kw, bias):
    x, w = rand(2, 4, 5, 6), rand(4, 3, 3, 2, seed=1)
    arrays = [x, w] + ([rand(3 * kw.get("groups", 1), seed=2)] if bias else [])
    grads_vs_torch(torch, lambda *a: F.conv_transpose2d(*a, **kw) if bias
                   else F.conv_transpose2d(*a, **kw),
                   lambda *a: torch.nn.functional.conv_transpose2d(*a, **kw), arrays,
                   rtol=1e-4, atol=1e-4)


def test_conv_transpose2d_module(torch):
    m = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    params = m.init(ft.random.key(0))
    assert params["weight"].shape == (4, 3, 3, 3) and params["bias"].shape == (6,)
    bound = 1 / np.sqrt(3 * 9)      # PyTorch's fan_in: weight.size(1) * kH * kW
    assert np.abs(np.asarray(params["weight"])).max() <= bound
    assert np.abs(np.asarray(params["bias"])).max() <= bound
    ref = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    ref.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in params.items()})
    x = rand(2, 4, 5, 5)
    close(m(params, ft.asarray(x)), ref(tt(torch, x)), 1e-4, 1e-5)
    close(ft.jit(m)(params, ft.asarray(x)), ref(tt(torch, x)), 1e-4, 1e-5)
    close(m(params, ft.asarray(x[0])), ref(tt(torch, x[0])), 1e-4, 1e-5)    # unbatched
    assert repr(m) == repr(ref)


def test_conv_transpose2d_errors():
    x, w = ft.zeros((1, 4, 5, 5)), ft.zeros((4, 2, 3, 3))
    with pytest.raises(ValueError, match="output_padding .* must be smaller"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"has 3 channels, but weight .* expects 4"):
        F.conv_transpose2d(ft.zeros((1, 3, 5, 5)), w)


# ------------------------------------------------------------------ group norm, dropout2d

@pytest.mark.parametrize("shape,groups", [((2, 6, 4, 5), 3), ((3, 4, 7), 2), ((2, 4), 4),
                                          ((2, 6, 3, 3), 1)])
@pytest.mark.parametrize("affine", [False, True])
def test_group_norm(torch, shape, groups, affine):
    c = shape[1]
    arrays = [rand(*shape) * 3 + 1] + ([rand(c, seed=1), rand(c, seed=2)] if affine else [])
    grads_vs_torch(torch, lambda x, *wb: F.group_norm(x, groups, *wb),
                   lambda x, *wb: torch.nn.functional.group_norm(x, groups, *wb), arrays,
                   rtol=1e-4, atol=1e-4)


def test_group_norm_module(torch):
    m = nn.GroupNorm(2, 4)
    params = m.init(ft.random.key(0))
    x = rand(2, 4, 3, 3)
    ref = torch.nn.GroupNorm(2, 4)
    close(m(params, ft.asarray(x)), ref(tt(torch, x)), 1e-4, 1e-5)
    close(ft.jit(m)(params, ft.asarray(x)), ref(tt(torch, x)), 1e-4, 1e-5)
    assert repr(m) == repr(ref)
    assert sorted(m.state_dict(params)) == sorted(ref.state_dict())
    with pytest.raises(ValueError, match="divisible by num_groups"):
        nn.GroupNorm(3, 4)


def test_dropout2d_zeroes_whole_channels():
    x = ft.ones((8, 16, 4, 4))
    y = np.asarray(nn.Dropout2d(0.5)({}, x, key=ft.random.key(1), train=True))
    per_channel = y.reshape(8, 16, -1)
    assert ((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1)).all()
    frac = (per_channel[..., 0] == 0).mean()
    assert 0.3 < frac < 0.7
    np.testing.assert_array_equal(
        np.asarray(ft.jit(lambda x, k: F.dropout2d(x, 0.5, key=k))(x, ft.random.key(1))), y)
    np.testing.assert_array_equal(np.asarray(nn.Dropout2d()({}, x)), np.asarray(x))  # eval
    with pytest.raises(ValueError, match="dropout2d: training-mode dropout needs a random key"):
        F.dropout2d(x, 0.5)


# ------------------------------------------------------------------------------- upsample

INTERP = [dict(size=(7, 9)), dict(scale_factor=2), dict(scale_factor=(1.5, 0.5)),
          dict(size=(3, 4))]


@pytest.mark.parametrize("kw", INTERP)
@pytest.mark.parametrize("mode,align", [("nearest", None), ("bilinear", False),
                                        ("bilinear", True)])
def test_interpolate(torch, kw, mode, align):
    grads_vs_torch(torch, lambda x: F.interpolate(x, mode=mode, align_corners=align, **kw),
                   lambda x: torch.nn.functional.interpolate(x, mode=mode,
                                                             align_corners=align, **kw),
                   [rand(2, 3, 5, 6)], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kw", [dict(size=6), dict(size=3), dict(scale_factor=2.5)])
def test_interpolate_nearest_1d(torch, kw):
    grads_vs_torch(torch, lambda x: F.interpolate(x, **kw),
                   lambda x: torch.nn.functional.interpolate(x, **kw), [rand(2, 3, 4)])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_new_layers_keep_the_input_dtype(dtype):
    x = ft.asarray(rand(1, 4, 4, 4)).astype(getattr(ft, dtype))
    for y in (F.interpolate(x, scale_factor=2, mode="bilinear"), F.adaptive_avg_pool2d(x, 3),
              F.group_norm(x, 2), F.conv_transpose2d(x, ft.ones((4, 2, 2, 2), x.dtype))):
        assert y.dtype == x.dtype


def test_interpolate_nearest_uint8_images(torch):
    img = rng(4).integers(0, 256, (1, 3, 5, 7)).astype(np.uint8)
    ours = F.interpolate(ft.asarray(img), size=(9, 4))
    assert ours.dtype == np.uint8
    close(ours, torch.nn.functional.interpolate(torch.tensor(img), size=(9, 4)))
    with pytest.raises(TypeError, match="uint8 input for 'bilinear'"):
        F.interpolate(ft.asarray(img), size=(9, 4), mode="bilinear")


def test_upsample_module(torch):
    x = rand(1, 2, 3, 4)
    for kw in (dict(scale_factor=2), dict(size=(5, 5), mode="bilinear", align_corners=True)):
        ours, ref = nn.Upsample(**kw), torch.nn.Upsample(**kw)
        close(ours({}, ft.asarray(x)), ref(tt(torch, x)))
        close(ft.jit(ours)({}, ft.asarray(x)), ref(tt(torch, x)))
    assert repr(nn.Upsample(scale_factor=2)) == repr(torch.nn.Upsample(scale_factor=2))
    with pytest.raises(NotImplementedError, match="mode 'bicubic' is not supported"):
        F.interpolate(ft.zeros((1, 1, 2, 2)), scale_factor=2, mode="bicubic")


def test_new_layers_in_a_sequential_under_jit_and_grad():
    """A small decoder built of the new layers trains like any other module tree."""
    model = nn.Sequential(nn.ConvTranspose2d(4, 4, 2, stride=2), nn.GroupNorm(2, 4), nn.ReLU(),
                          nn.Upsample(scale_factor=2, mode="bilinear"),
                          nn.AdaptiveAvgPool2d(3), nn.Flatten(), nn.Linear(36, 3))
    params = model.init(ft.random.key(0))
    x, y = ft.asarray(rand(2, 4, 3, 3)), ft.asarray(np.array([0, 2]))
    loss = nn.CrossEntropyLoss()

    def f(p):
        return loss(model(p, x), y)

    eager = ft.value_and_grad(f)(params)
    jitted = ft.jit(ft.value_and_grad(f))(params)
    close(jitted[0], eager[0], 1e-5, 1e-6)
    for a, b in zip(ft.tree.leaves(jitted[1]), ft.tree.leaves(eager[1])):
        close(a, b, 1e-4, 1e-6)
