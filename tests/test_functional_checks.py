"""nn.functional's argument checks (PyTorch raises for these; funtorch raises a
ValueError naming the op, the values and the fix) and dtype rules."""

import numpy as np
import pytest
from test_functional import close, rand, tt

import funtorch as ft
import funtorch.nn.functional as F

# ------------------------------------------------------------------------------ argument checks
# PyTorch raises for these; funtorch raises a ValueError naming the op, the values and the fix.

def test_class_index_out_of_range_raises_when_concrete():
    x = ft.ones((3, 4))
    with pytest.raises(ValueError, match=r"cross_entropy: target 7 .*4 classes"):
        F.cross_entropy(x, ft.tensor([0, 1, 7]))
    with pytest.raises(IndexError, match=r"nll_loss: target -2 .*4 classes"):   # PyTorch's type
        F.nll_loss(x, ft.tensor([0, 1, -2]))
    with pytest.raises(ValueError, match=r"target 4 "):
        F.cross_entropy(x, ft.tensor([0, 1, 4]), label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"target 5 .*dim 0"):
        F.cross_entropy(ft.ones(4), ft.tensor(5))
    # ignore_index entries may lie outside [0, C)
    close(F.nll_loss(x, ft.tensor([0, 1, -100])), -1.0)
    close(F.cross_entropy(x, ft.tensor([0, 9, 1]), ignore_index=9), np.log(4.0))
    # concrete under grad and vmap too
    with pytest.raises(ValueError, match="out of bounds"):
        ft.grad(lambda a: F.cross_entropy(a, ft.tensor([0, 1, 7])))(x)
    with pytest.raises(ValueError, match="out of bounds"):
        ft.vmap(F.cross_entropy)(x, ft.tensor([0, 1, 7]))


def test_class_index_out_of_range_under_jit_follows_jax():
    """Traced labels are unknown when tracing: no error; the bad label picks no class."""
    x = ft.asarray(rand(3, 4))
    per = F.cross_entropy(x, ft.tensor([0, 1, 2]), reduction="none")
    out = ft.jit(lambda a, t: F.cross_entropy(a, t, reduction="none"))(x, ft.tensor([0, 1, 7]))
    close(out, np.concatenate([np.asarray(per)[:2], [0.0]]))


def test_loss_class_weight_shape():
    with pytest.raises(ValueError, match=r"cross_entropy: weight .*\(4,\), got shape \(3,\)"):
        F.cross_entropy(ft.ones((3, 4)), ft.tensor([0, 1, 2]), weight=ft.ones(3))
    with pytest.raises(ValueError, match=r"nll_loss: weight"):
        F.nll_loss(ft.ones((3, 4)), ft.tensor([0, 1, 2]), weight=ft.ones(5))
    with pytest.raises(ValueError, match=r"cross_entropy: weight"):
        F.cross_entropy(ft.ones((3, 4)), ft.ones((3, 4)) / 4, weight=ft.ones(5))


def test_one_hot_checks_class_values(torch):
    with pytest.raises(ValueError, match=r"one_hot: class values must be smaller than "
                                         r"num_classes=3, got 5"):
        F.one_hot(ft.tensor([0, 5]), 3)
    with pytest.raises(IndexError, match="non-negative, got -1"):
        F.one_hot(ft.tensor([0, -1]), 3)
    with pytest.raises(ValueError, match="non-negative"):
        F.one_hot(ft.tensor([0, -1]))
    with pytest.raises(ValueError, match="empty"):
        F.one_hot(ft.zeros((0,), ft.int64))
    with pytest.raises(ValueError, match="num_classes must be non-negative"):
        F.one_hot(ft.tensor([0]), -2)
    with pytest.raises(ValueError, match="num_classes=0"):
        F.one_hot(ft.tensor([0]), 0)
    assert F.one_hot(ft.zeros((0,), ft.int64), 3).shape == (0, 3)
    t = np.array([[0, 2], [1, 1]])
    close(F.one_hot(ft.asarray(t)), torch.nn.functional.one_hot(torch.tensor(t)).numpy())
    with pytest.raises(ValueError, match="smaller than num_classes"):
        ft.vmap(lambda a: F.one_hot(a, 3))(ft.tensor([0, 5]))
    with pytest.raises(ft.ConcretizationTypeError, match="num_classes="):
        ft.vmap(F.one_hot)(ft.tensor([0, 2]))
    # under jit the values are unknown: an all-zero row, as jax.nn.one_hot
    close(ft.jit(lambda a: F.one_hot(a, 3))(ft.tensor([0, 5])), [[1, 0, 0], [0, 0, 0]])


@pytest.mark.parametrize("x,w,kw,sizes", [
    ((1, 1, 2, 2), (2, 1, 3, 3), {}, r"\(2 x 2\)\. Kernel size: \(3 x 3\)"),
    ((1, 1, 4, 4), (2, 1, 3, 3), {"dilation": 2}, r"\(4 x 4\)\. Kernel size.*: \(5 x 5\)"),
    ((1, 1, 3, 9), (2, 1, 5, 3), {"padding": (0, 1)}, r"\(3 x 11\)\. Kernel size: \(5 x 3\)"),
    ((1, 2), (2, 1, 3), {}, r"\(2\)\. Kernel size: \(3\)"),
])
def test_conv_kernel_larger_than_padded_input(x, w, kw, sizes):
    conv = F.conv1d if len(w) == 3 else F.conv2d
    with pytest.raises(ValueError, match=conv.__name__ + r": calculated padded input size per "
                                         r"channel: " + sizes):
        conv(ft.ones(x), ft.ones(w), **kw)
    # padding that makes room is fine
    pad = (w[-1] - 1) * kw.get("dilation", 1)
    assert conv(ft.ones(x), ft.ones(w), padding=pad, dilation=kw.get("dilation", 1)).size > 0


def test_conv_argument_checks():
    x, w = ft.ones((1, 2, 5, 5)), ft.ones((4, 1, 3, 3))
    for kw, msg in [({"stride": 0}, "stride must be positive"),
                    ({"dilation": (1, 0)}, "dilation must be positive"),
                    ({"padding": -1}, "padding must be non-negative"),
                    ({"groups": 0}, "groups must be a positive int"),
                    ({"bias": ft.ones(3)}, r"bias to be 1-D with 4 elements"),]:
        with pytest.raises(ValueError, match=msg):
            F.conv2d(x, w, **({"groups": 2} | kw))
    with pytest.raises(ValueError, match="not divisible by groups=2"):
        F.conv2d(x, ft.ones((3, 1, 3, 3)), groups=2)


def test_pool_argument_checks():
    x = ft.ones((1, 1, 4, 4))
    with pytest.raises(ValueError, match="avg_pool2d: stride must be positive"):
        F.avg_pool2d(x, 2, 0)
    with pytest.raises(ValueError, match="max_pool2d: kernel_size must be positive"):
        F.max_pool2d(x, 0)
    with pytest.raises(ValueError, match="padding must be non-negative"):
        F.avg_pool2d(x, 2, padding=-1)


def test_linear_shape_checks(torch):
    x = ft.asarray(rand(2, 3))
    with pytest.raises(ValueError, match=r"linear: bias of shape \(5,\) .*\(2, 4\)"):
        F.linear(x, ft.ones((4, 3)), ft.ones(5))
    with pytest.raises(ValueError, match=r"linear: .*weight \(1, 4, 3\)"):
        F.linear(x, ft.ones((1, 4, 3)))
    with pytest.raises(ValueError, match=r"linear: .*input \(\)"):
        F.linear(ft.ones(()), ft.ones((4, 1)))
    # a 1-D weight is a dot product, as in PyTorch
    w = rand(3)
    close(F.linear(x, ft.asarray(w)), torch.nn.functional.linear(tt(torch, x), tt(torch, w)))


def test_norm_parameter_shape_checks():
    with pytest.raises(ValueError, match=r"layer_norm: expected weight .*\(3,\), got \(4,\)"):
        F.layer_norm(ft.ones((2, 3)), (3,), ft.ones(4))
    with pytest.raises(ValueError, match=r"layer_norm: expected bias"):
        F.layer_norm(ft.ones((2, 3)), (3,), None, ft.ones(1))
    x = ft.ones((2, 3, 4))
    with pytest.raises(ValueError, match="batch_norm: running_mean should contain 3 elements"):
        F.batch_norm(x, ft.zeros(2), ft.ones(3))
    with pytest.raises(ValueError, match="batch_norm: weight should contain 3 elements"):
        F.batch_norm(x, ft.zeros(3), ft.ones(3), ft.ones(4))
    with pytest.raises(ValueError, match="batch_norm: running_var"):
        F.batch_norm(x, ft.zeros(3), ft.ones(2), training=True)


def test_embedding_checks():
    w = ft.asarray(rand(4, 2))
    with pytest.raises(IndexError, match=r"embedding: index 5 is out of range .*\[0, 3\]"):
        F.embedding(ft.tensor([0, 5]), w)
    with pytest.raises(ValueError, match=r"embedding: index -1"):
        F.embedding(ft.tensor([0, -1]), w)
    with pytest.raises(ValueError, match="weight must be 2-D"):
        F.embedding(ft.tensor([0, 1]), ft.ones(4))
    with pytest.raises(ValueError, match="padding_idx -5"):
        F.embedding(ft.tensor([0, 1]), w, padding_idx=-5)
    close(F.embedding(ft.tensor([3]), w, padding_idx=-1), np.asarray(w)[3:])
    with pytest.raises(NotImplementedError, match="embedding: sparse=True"):
        F.embedding(ft.tensor([0, 1]), w, sparse=True)
    with pytest.raises(ValueError, match="norm_type must be positive"):
        F.embedding(ft.tensor([0, 1]), w, max_norm=1.0, norm_type=0)


@pytest.mark.parametrize("kw", [dict(max_norm=1.0), dict(max_norm=2.0, norm_type=1.0),
                                dict(max_norm=1.5, norm_type=float("inf")),
                                dict(scale_grad_by_freq=True),
                                dict(scale_grad_by_freq=True, padding_idx=2, max_norm=1.0)],
                         ids=str)
@pytest.mark.parametrize("jit", [False, True])
def test_embedding_max_norm_and_scale_grad_by_freq(torch, kw, jit):
    """The renormalised rows, and torch's gradient: the plain lookup's (renormalisation is
    in place, outside autograd), divided by each index's count with scale_grad_by_freq."""
    w, idx, ct = rand(5, 3) * 3, np.array([[1, 2, 1], [4, 2, 2]]), rand(2, 3, 3)
    f = lambda w: F.embedding(ft.asarray(idx), w, **kw)   # noqa: E731
    g = ft.grad(lambda w: (f(w) * ct).sum())
    if jit:
        f, g = ft.jit(f), ft.jit(g)
    tw = tt(torch, w, grad=True)
    ref = torch.nn.functional.embedding(torch.tensor(idx), tw, **kw)
    (ref * tt(torch, ct)).sum().backward()
    close(f(ft.asarray(w)), ref.detach(), 1e-6, 1e-6)
    close(g(ft.asarray(w)), tw.grad, 1e-6, 1e-6)


def test_mse_loss_weight_shape():
    with pytest.raises(ValueError, match=r"mse_loss: weight must have the input's shape"):
        F.mse_loss(ft.ones((2, 3)), ft.zeros((2, 3)), weight=ft.ones(3))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(ft.ones(2), ft.zeros(2), reduction="avg", weight=ft.ones(2))


def test_cross_entropy_label_smoothing_bounds(torch):
    x, y = rand(4, 3), np.array([0, 1, 2, 1])
    for t in (ft.asarray(y), F.softmax(ft.asarray(rand(4, 3)), 1)):
        close(F.cross_entropy(ft.asarray(x), t, label_smoothing=-0.1),   # acts as 0, as torch
              F.cross_entropy(ft.asarray(x), t))
    with pytest.raises(ValueError, match="label_smoothing must be at most 1.0"):
        F.cross_entropy(ft.asarray(x), ft.asarray(y), label_smoothing=1.5)


def test_pooling_dtype_rules():
    with pytest.raises(TypeError, match="avg_pool2d: got int32 input"):
        F.avg_pool2d(ft.zeros((1, 1, 4, 4), ft.int32), 2)
    with pytest.raises(TypeError, match="max_pool2d: got a bool input"):
        F.max_pool2d(ft.zeros((1, 1, 4, 4), ft.bool_), 2)
    x = ft.asarray(np.arange(-8, 8).reshape(1, 1, 4, 4))
    close(ft.jit(lambda x: F.avg_pool2d(x, 2))(x), [[[[-5, -3], [2, 4]]]])   # -5.5 -> -5
    y = ft.jit(lambda x: F.max_pool2d(x, 3, 1, 1, dilation=2))(x.astype(ft.uint8))
    assert y.dtype == np.uint8


def test_softmax_dtype_and_infinities():
    with pytest.raises(TypeError, match="softmax: expected a floating-point input, got int64"):
        F.softmax(ft.tensor([1, 2]), 0)
    with pytest.raises(TypeError, match="log_softmax: expected a floating-point input"):
        F.log_softmax(ft.tensor([1, 2]), 0)
    close(F.softmax(ft.tensor([1, 2]), 0, dtype=ft.float32), [0.26894142, 0.7310586])
    x = ft.asarray(np.array([[np.inf, 0, 1], [-np.inf, 0, 1], [-np.inf] * 3], np.float32))
    for f in (F.softmax, F.log_softmax):
        out = np.asarray(ft.jit(lambda x, f=f: f(x, 1))(x))
        assert np.isnan(out[0]).all() and np.isnan(out[2]).all()
        assert np.isfinite(out[1, 1:]).all()
        g = np.asarray(ft.jit(ft.grad(lambda x, f=f: (f(x, 1) * ft.arange(3.0)).sum()))(x))
        assert np.isfinite(g[1]).all() and np.isnan(g[0]).all()


def test_bce_with_logits_target_shape():
    with pytest.raises(ValueError, match=r"target size \(3,\) must be the same as input size"):
        F.binary_cross_entropy_with_logits(ft.ones((2, 3)), ft.ones(3))
