"""nn.functional activations, linear, dropout, embedding and losses against PyTorch."""


import numpy as np
import pytest

import funtorch as ft
import funtorch.nn.functional as F

from .common import close, grads_vs_torch, rand, rng, tt

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# ------------------------------------------------------------------------------ activations

@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2, -3])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_dims(torch, name, dim):
    grads_vs_torch(torch, lambda x: getattr(F, name)(x, dim),
                   lambda x: getattr(torch.nn.functional, name)(x, dim), [rand(2, 3, 4) * 3])


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_dtype_argument_and_float64(torch, name):
    x = rand(3, 4) * 3
    ours = getattr(F, name)(ft.asarray(x), 1, dtype=ft.float64)
    ref = getattr(torch.nn.functional, name)(tt(torch, x), 1, dtype=torch.float64)
    assert ours.dtype == np.float64
    close(ours, ref, 1e-12, 1e-12)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_masked_rows(torch, name):
    """-inf entries (attention masks) and fully masked rows, as torch: 0 / -inf and NaN."""
    x = np.array([[-np.inf, 0.0, 1.0], [-np.inf, -np.inf, -np.inf], [3.0, 3.0, -np.inf]],
                 np.float32)
    close(getattr(F, name)(ft.asarray(x), 1), getattr(torch, name)(tt(torch, x), 1))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_row_with_positive_inf(torch, name):
    x = np.array([[np.inf, 0.0, 1.0]], np.float32)
    close(getattr(F, name)(ft.asarray(x), 1), getattr(torch, name)(tt(torch, x), 1))


@pytest.mark.parametrize("name,dim", [("softmax", 0), ("softmax", -1), ("log_softmax", 0),
                                      ("log_softmax", -1)])
def test_softmax_of_a_scalar(torch, name, dim):
    x = np.float32(2.0)
    close(getattr(F, name)(ft.asarray(x), dim), getattr(torch, name)(tt(torch, x), dim))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu(torch, approximate, dtype):
    tol = 1e-5 if dtype == np.float32 else 1e-12
    grads_vs_torch(torch, lambda x: F.gelu(x, approximate=approximate),
                   lambda x: torch.nn.functional.gelu(x, approximate=approximate),
                   [(rand(4, 5) * 3).astype(dtype)], tol, tol)


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2, 1.5, -0.5])
def test_leaky_relu_slopes_and_gradient_at_zero(torch, slope):
    x = np.concatenate([rand(8) * 3, [0.0, -0.0]]).astype(np.float32)
    grads_vs_torch(torch, lambda x: F.leaky_relu(x, slope),
                   lambda x: torch.nn.functional.leaky_relu(x, slope), [x])


@pytest.mark.parametrize("name", ["relu", "silu", "sigmoid", "tanh"])
def test_pointwise_activations_float64(torch, name):
    x = np.concatenate([rand(7) * 4, [0.0]]).astype(np.float64)
    grads_vs_torch(torch, getattr(F, name), getattr(torch.nn.functional, name), [x],
                   1e-12, 1e-12)


def test_relu_on_integers(torch):
    x = np.array([-2, 0, 3], np.int64)
    out = F.relu(ft.asarray(x))
    assert out.dtype == np.int64
    close(out, torch.relu(torch.tensor(x)))


# ------------------------------------------------------------------------------ linear

@pytest.mark.parametrize("xs,ws,bias", [((2, 3, 4), (5, 4), True), ((4,), (5, 4), True),
                                        ((3, 4), (4,), False), ((2, 2, 3, 4), (1, 4), True)])
def test_linear_shapes(torch, xs, ws, bias):
    arrays = [rand(*xs), rand(*ws, seed=1)] + ([rand(ws[0], seed=2)] if bias else [])
    grads_vs_torch(torch, F.linear, torch.nn.functional.linear, arrays)


# ------------------------------------------------------------------------------ dropout

@pytest.mark.parametrize("p,training", [(0.0, True), (1.0, True), (0.5, False), (1.0, False)])
def test_dropout_degenerate_cases_match_torch(torch, p, training):
    x = rand(3, 4)
    grads_vs_torch(torch, lambda x: F.dropout(x, p, key=ft.random.key(0), training=training),
                   lambda x: torch.nn.functional.dropout(x, p, training=training), [x])


def test_dropout_mask_statistics():
    """Masks come from the key (they differ from torch's by design); the keep rate and the
    1/(1-p) scaling are torch's."""
    x = ft.ones((200, 200))
    y = np.asarray(F.dropout(x, 0.3, key=ft.random.key(1)))
    kept = np.unique(y[y != 0])
    np.testing.assert_allclose(kept, [1 / 0.7], rtol=1e-6)
    assert abs((y == 0).mean() - 0.3) < 0.02


# ------------------------------------------------------------------------------ embedding

@pytest.mark.parametrize("padding_idx", [None, 1, -1])
def test_embedding_repeated_indices_and_padding_gradient(torch, padding_idx):
    idx = np.array([[1, 1, 2], [4, 1, 0], [4, 4, 4]])
    W = rand(5, 3)

    def ours(w):
        return F.embedding(ft.asarray(idx), w, padding_idx=padding_idx)

    grads_vs_torch(torch, ours, lambda w: torch.nn.functional.embedding(
        torch.tensor(idx), w, padding_idx=padding_idx), [W])
    if padding_idx is not None:
        g = ft.grad(lambda w: (ours(w) ** 2).sum())(ft.asarray(W))
        assert not np.asarray(g)[padding_idx].any()


def test_embedding_max_norm(torch):
    W, idx = rand(5, 3) * 3, np.array([1, 2, 1, 4])
    close(F.embedding(ft.asarray(idx), ft.asarray(W), max_norm=1.0),
          torch.nn.functional.embedding(torch.tensor(idx), tt(torch, W), max_norm=1.0))


def test_embedding_scalar_index(torch):
    W = rand(5, 3)
    close(F.embedding(ft.asarray(np.array(3)), ft.asarray(W)),
          torch.nn.functional.embedding(torch.tensor(3), tt(torch, W)))


# ------------------------------------------------------------------------------ losses

def _w(torch, C, seed=7):
    w = np.abs(rand(C, seed=seed)) + 0.1
    return ft.asarray(w), tt(torch, w)


CE_KW = [dict(), dict(reduction="sum"), dict(reduction="none"), dict(weight=True),
         dict(ignore_index=2), dict(label_smoothing=0.3),
         dict(weight=True, label_smoothing=0.2),
         dict(weight=True, ignore_index=1, label_smoothing=0.2),
         dict(weight=True, ignore_index=0, label_smoothing=0.1, reduction="sum"),
         dict(weight=True, label_smoothing=0.2, reduction="none", ignore_index=1)]


def _split_kw(torch, kw, C):
    kw = dict(kw)
    if kw.pop("weight", False):
        w, tw = _w(torch, C)
        return dict(kw, weight=w), dict(kw, weight=tw)
    return kw, kw


@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 5), (2, 3, 4, 5), (3,)], ids=str)
@pytest.mark.parametrize("kw", CE_KW, ids=str)
def test_cross_entropy_class_indices(torch, shape, kw):
    ours_kw, ref_kw = _split_kw(torch, kw, 3)
    tshape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    y = rng(3).integers(0, 3, tshape)
    if y.ndim:
        y.flat[0] = kw.get("ignore_index", -100)  # an ignored (or a -100) entry
        y.flat[-1] = 1
        if "ignore_index" not in kw:
            y.flat[0] = 0
    grads_vs_torch(torch, lambda x: F.cross_entropy(x, ft.asarray(y), **ours_kw),
                   lambda x: torch.nn.functional.cross_entropy(x, torch.tensor(y), **ref_kw),
                   [rand(*shape) * 2])


@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 5), (2, 3, 4, 5), (3,)], ids=str)
@pytest.mark.parametrize("kw", [dict(), dict(reduction="sum"), dict(reduction="none"),
                                dict(weight=True), dict(label_smoothing=0.3),
                                dict(weight=True, label_smoothing=0.2, reduction="sum")],
                         ids=str)
def test_cross_entropy_probability_targets(torch, shape, kw):
    """Soft labels (class probabilities, the input's shape), gradients w.r.t. the logits
    and the targets."""
    ours_kw, ref_kw = _split_kw(torch, kw, 3)
    cdim = 1 if len(shape) > 1 else 0
    p = rng(4).random(shape).astype(np.float32)
    p /= p.sum(axis=cdim, keepdims=True)
    grads_vs_torch(torch, lambda x, t: F.cross_entropy(x, t, **ours_kw),
                   lambda x, t: torch.nn.functional.cross_entropy(x, t, **ref_kw),
                   [rand(*shape) * 2, p])


@pytest.mark.parametrize("kw", [dict(), dict(label_smoothing=0.2),
                                dict(reduction="none", label_smoothing=0.1)], ids=str)
def test_segmentation_ignore_index_255(torch, kw):
    """ignore_index outside [0, C) (255, the segmentation convention) with class weights."""
    x, y = rand(2, 3, 4, 4), rng(2).integers(0, 3, (2, 4, 4))
    y[0, :2] = 255
    w = np.array([1.0, 2.0, 0.5], np.float32)
    grads_vs_torch(torch, lambda x: F.cross_entropy(x, ft.asarray(y), ft.asarray(w),
                                                    ignore_index=255, **kw),
                   lambda x: torch.nn.functional.cross_entropy(
                       x, torch.tensor(y), tt(torch, w), ignore_index=255, **kw), [x])
    grads_vs_torch(torch, lambda x: F.nll_loss(x, ft.asarray(y), ignore_index=255),
                   lambda x: torch.nn.functional.nll_loss(x, torch.tensor(y), ignore_index=255),
                   [x])


def test_cross_entropy_every_target_ignored_is_nan(torch):
    x, y = rand(2, 3), np.array([-100, -100])
    close(F.cross_entropy(ft.asarray(x), ft.asarray(y)),
          torch.nn.functional.cross_entropy(tt(torch, x), torch.tensor(y)))


@pytest.mark.parametrize("shape", [(5, 4), (2, 4, 3), (2, 4, 3, 2), (4,)], ids=str)
@pytest.mark.parametrize("kw", [dict(), dict(reduction="sum"), dict(reduction="none"),
                                dict(weight=True), dict(weight=True, ignore_index=2),
                                dict(weight=True, reduction="none", ignore_index=0)], ids=str)
def test_nll_loss_argument_space(torch, shape, kw):
    ours_kw, ref_kw = _split_kw(torch, kw, 4)
    tshape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    y = rng(5).integers(0, 4, tshape)
    if y.ndim:
        y.flat[0] = 2
    lp = np.asarray(F.log_softmax(ft.asarray(rand(*shape)), 1 if len(shape) > 1 else 0))
    grads_vs_torch(torch, lambda x: F.nll_loss(x, ft.asarray(y), **ours_kw),
                   lambda x: torch.nn.functional.nll_loss(x, torch.tensor(y), **ref_kw), [lp])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mse_loss_grads_both_arguments(torch, reduction, dtype):
    tol = 1e-5 if dtype == np.float32 else 1e-12
    grads_vs_torch(torch, lambda a, b: F.mse_loss(a, b, reduction=reduction),
                   lambda a, b: torch.nn.functional.mse_loss(a, b, reduction=reduction),
                   [rand(3, 4).astype(dtype), rand(3, 4, seed=1).astype(dtype)], tol, tol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight,pos_weight", [(None, None), ((3, 1), None), (None, (4,)),
                                               ((2, 3, 4), (4,)), ((4,), (3, 4))], ids=str)
def test_bce_with_logits_broadcast_weights(torch, reduction, weight, pos_weight):
    x, t = rand(2, 3, 4) * 4, rng(6).random((2, 3, 4)).astype(np.float32)
    w = None if weight is None else np.abs(rand(*weight, seed=8))
    pw = None if pos_weight is None else np.abs(rand(*pos_weight, seed=9)) + 0.5

    def ours(x, t):
        return F.binary_cross_entropy_with_logits(
            x, t, weight=None if w is None else ft.asarray(w), reduction=reduction,
            pos_weight=None if pw is None else ft.asarray(pw))

    def ref(x, t):
        return torch.nn.functional.binary_cross_entropy_with_logits(
            x, t, weight=None if w is None else tt(torch, w), reduction=reduction,
            pos_weight=None if pw is None else tt(torch, pw))

    grads_vs_torch(torch, ours, ref, [x, t])


@pytest.mark.parametrize("pos_weight", [None, 3.0])
def test_bce_with_logits_extreme_logits(torch, pos_weight):
    x = np.array([-200.0, -30.0, 0.0, 30.0, 200.0], np.float32)
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0], np.float32)
    pw = None if pos_weight is None else np.array([pos_weight], np.float32)
    grads_vs_torch(
        torch,
        lambda x: F.binary_cross_entropy_with_logits(
            x, ft.asarray(t), reduction="none",
            pos_weight=None if pw is None else ft.asarray(pw)),
        lambda x: torch.nn.functional.binary_cross_entropy_with_logits(
            x, tt(torch, t), reduction="none",
            pos_weight=None if pw is None else tt(torch, pw)), [x])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_weight(torch, reduction):
    a, b, w = rand(3, 4), rand(3, 4, seed=1), np.abs(rand(3, 4, seed=2))
    close(F.mse_loss(ft.asarray(a), ft.asarray(b), reduction=reduction, weight=ft.asarray(w)),
          torch.nn.functional.mse_loss(tt(torch, a), tt(torch, b), reduction=reduction,
                                       weight=tt(torch, w)))


def test_one_hot_scalar_and_inferred_classes(torch):
    close(F.one_hot(ft.asarray(np.array(2)), 4), torch.nn.functional.one_hot(torch.tensor(2), 4))
    y = np.array([[0, 3], [1, 1]])
    close(F.one_hot(ft.asarray(y)), torch.nn.functional.one_hot(torch.tensor(y)))
