"""nn.functional against PyTorch (an optional oracle) and against its own documented rules:
activations, linear and conv, pooling, dropout, normalisation, numpy loop oracles. The
losses are in tests/test_functional_losses.py, argument checks in
tests/test_functional_checks.py (both use the helpers here)."""

import numpy as np
import pytest

import funtorch as ft
import funtorch.nn.functional as F

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def close(a, b, rtol=1e-5, atol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def tt(torch, a, grad=False):
    return torch.tensor(np.asarray(a), requires_grad=grad)


# ------------------------------------------------------------------------------ activations

def test_relu_gradient_at_zero_is_zero():
    x = ft.asarray(np.array([-1.0, 0.0, 2.0], np.float32))
    close(F.relu(x), [0, 0, 2])
    close(ft.grad(lambda x: F.relu(x).sum())(x), [0, 0, 1])


@pytest.mark.parametrize("name,kwargs", [
    ("relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("gelu", {}),
    ("gelu", {"approximate": "tanh"}), ("silu", {}), ("sigmoid", {}), ("tanh", {}),
    ("softmax", {"dim": 1}), ("softmax", {"dim": 0}), ("log_softmax", {"dim": -1}),
])
def test_activations_match_torch(torch, name, kwargs):
    x = rand(3, 5) * 3
    ours = getattr(F, name)(ft.asarray(x), **kwargs)
    ref = getattr(torch.nn.functional, name)(tt(torch, x), **kwargs)
    close(ours, ref.numpy())


def test_softmax_accepts_axis_and_requires_a_dim():
    x = ft.asarray(rand(2, 3))
    close(F.softmax(x, axis=0), F.softmax(x, dim=0))
    with pytest.raises(TypeError, match="dim="):
        F.softmax(x)


def test_log_softmax_is_stable_for_large_logits():
    x = ft.asarray(np.array([[1000.0, 0.0, -1000.0]], np.float32))
    out = np.asarray(F.log_softmax(x, dim=1))
    assert np.isfinite(out[0, :2]).all() and out[0, 0] == 0.0


def test_one_hot(torch):
    t = np.array([0, 2, 1, 2])
    close(F.one_hot(ft.asarray(t), 4), torch.nn.functional.one_hot(torch.tensor(t), 4).numpy())
    assert F.one_hot(ft.asarray(t)).shape == (4, 3)
    assert F.one_hot(ft.asarray(t)).dtype == np.int64
    with pytest.raises(ft.ConcretizationTypeError, match="num_classes"):
        ft.jit(F.one_hot)(ft.asarray(t))


def test_flatten():
    x = ft.zeros((2, 3, 4, 5))
    assert F.flatten(x).shape == (120,)
    assert F.flatten(x, 1).shape == (2, 60)
    assert F.flatten(x, 1, 2).shape == (2, 12, 5)


# ------------------------------------------------------------------------------ linear / conv

@pytest.mark.parametrize("bias", [True, False])
def test_linear(torch, bias):
    x, w, b = rand(4, 3), rand(5, 3), rand(5)
    ours = F.linear(ft.asarray(x), ft.asarray(w), ft.asarray(b) if bias else None)
    ref = torch.nn.functional.linear(tt(torch, x), tt(torch, w), tt(torch, b) if bias else None)
    close(ours, ref.detach().numpy())


CONV2D_CASES = [
    dict(),
    dict(stride=2),
    dict(padding=1),
    dict(padding=(2, 1), stride=(1, 2)),
    dict(padding="same"),
    dict(padding="same", dilation=2),
    dict(padding="valid"),
    dict(dilation=(2, 1), padding=1),
    dict(groups=2),
    dict(groups=4, stride=2, padding=1),
]


def _grads_vs_torch(torch, ours_fn, ref_fn, arrays, rtol=1e-4, atol=1e-4):
    """Forward values and d(sum(out * cotangent))/d(every input) against torch autograd."""
    out = ours_fn(*[ft.asarray(a) for a in arrays])
    ct = rand(*out.shape)
    grads = ft.grad(lambda *xs: (ours_fn(*xs) * ct).sum(), argnums=tuple(range(len(arrays))))(
        *[ft.asarray(a) for a in arrays])
    ts = [tt(torch, a, grad=True) for a in arrays]
    ref = ref_fn(*ts)
    (ref * tt(torch, ct)).sum().backward()
    close(out, ref.detach().numpy(), rtol, atol)
    for g, t in zip(grads, ts):
        close(g, t.grad.numpy(), rtol, atol)


@pytest.mark.parametrize("kw", CONV2D_CASES)
def test_conv2d_and_grads_match_torch(torch, kw):
    groups = kw.get("groups", 1)
    x, w, b = rand(2, 4, 7, 6), rand(4, 4 // groups, 3, 3), rand(4)
    _grads_vs_torch(torch, lambda x, w, b: F.conv2d(x, w, b, **kw),
                    lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **kw), [x, w, b])


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(padding="same"),
                                dict(dilation=2, groups=2)])
def test_conv1d_and_grads_match_torch(torch, kw):
    groups = kw.get("groups", 1)
    x, w = rand(2, 4, 9), rand(6, 4 // groups, 3)
    _grads_vs_torch(torch, lambda x, w: F.conv1d(x, w, **kw),
                    lambda x, w: torch.nn.functional.conv1d(x, w, **kw), [x, w])


def test_conv2d_unbatched_input(torch):
    x, w = rand(3, 5, 5), rand(2, 3, 3, 3)
    close(F.conv2d(ft.asarray(x), ft.asarray(w)),
          torch.nn.functional.conv2d(tt(torch, x), tt(torch, w)).numpy())


def test_conv_errors_name_the_layout():
    with pytest.raises(ValueError, match=r"N,C,H,W"):
        F.conv2d(ft.zeros((5, 5)), ft.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="channels"):
        F.conv2d(ft.zeros((1, 3, 5, 5)), ft.zeros((2, 2, 3, 3)))
    with pytest.raises(ValueError, match="strided"):
        F.conv2d(ft.zeros((1, 1, 5, 5)), ft.zeros((1, 1, 3, 3)), stride=2, padding="same")


# ------------------------------------------------------------------------------ pooling

POOL_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1)),
    dict(kernel_size=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=3, ceil_mode=True),
]


@pytest.mark.parametrize("kw", POOL_CASES + [dict(kernel_size=2, dilation=2),
                                             dict(kernel_size=3, stride=2, padding=1,
                                                  dilation=(1, 2), ceil_mode=True)])
def test_max_pool2d_and_grads_match_torch(torch, kw):
    x = rand(2, 3, 7, 8)
    _grads_vs_torch(torch, lambda x: F.max_pool2d(x, **kw),
                    lambda x: torch.nn.functional.max_pool2d(x, **kw), [x])


@pytest.mark.parametrize("kw", POOL_CASES + [
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=2, divisor_override=3)])
def test_avg_pool2d_and_grads_match_torch(torch, kw):
    x = rand(2, 3, 7, 8)
    _grads_vs_torch(torch, lambda x: F.avg_pool2d(x, **kw),
                    lambda x: torch.nn.functional.avg_pool2d(x, **kw), [x])


def test_pooling_unbatched_and_errors(torch):
    x = rand(3, 6, 6)
    close(F.max_pool2d(ft.asarray(x), 2), torch.nn.functional.max_pool2d(tt(torch, x), 2))
    with pytest.raises(ValueError, match="half"):
        F.max_pool2d(ft.zeros((1, 1, 6, 6)), 2, padding=2)
    with pytest.raises(ValueError, match="N,C,H,W"):
        F.avg_pool2d(ft.zeros((6, 6)), 2)


# ------------------------------------------------------------------------------ dropout

def test_dropout_is_deterministic_per_key_and_scales():
    x = ft.ones((1000,))
    key = ft.random.key(3)
    a, b = F.dropout(x, 0.25, key=key), F.dropout(x, 0.25, key=key)
    close(a, b, 0, 0)
    vals = np.unique(np.asarray(a))
    close(vals, [0.0, 1 / 0.75])
    assert 0.15 < (np.asarray(a) == 0).mean() < 0.35
    assert not np.array_equal(np.asarray(a), np.asarray(F.dropout(x, 0.25, key=ft.random.key(4))))
    close(F.dropout(x, 0.5, training=False), x, 0, 0)
    close(F.dropout(x, 0.5, False), x, 0, 0)               # PyTorch's positional training
    close(F.dropout(x, 0.0, key=key), x, 0, 0)
    close(F.dropout(x, 1.0, key=key), np.zeros(1000), 0, 0)
    with pytest.raises(ValueError, match="key"):
        F.dropout(x, 0.5)


def test_dropout_gradient_is_the_mask():
    x = ft.asarray(rand(50))
    key = ft.random.key(0)
    g = ft.grad(lambda x: F.dropout(x, 0.5, key=key).sum())(x)
    close(g, (np.asarray(F.dropout(x, 0.5, key=key)) != 0) * 2.0)


# ------------------------------------------------------------------------------ normalisation

@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 4)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch(torch, shape, training):
    x, w, b = rand(*shape), rand(3), rand(3)
    rm, rv = rand(3), np.abs(rand(3)) + 0.5
    out, nm, nv = F.batch_norm(ft.asarray(x), ft.asarray(rm), ft.asarray(rv), ft.asarray(w),
                               ft.asarray(b), training=training, momentum=0.2)
    trm, trv = tt(torch, rm), tt(torch, rv)
    ref = torch.nn.functional.batch_norm(tt(torch, x), trm, trv, tt(torch, w), tt(torch, b),
                                         training=training, momentum=0.2)
    close(out, ref.numpy())
    close(nm, trm.numpy())
    close(nv, trv.numpy())


def test_batch_norm_without_running_stats(torch):
    x = rand(5, 3)
    out, m, v = F.batch_norm(ft.asarray(x), None, None, training=True)
    assert m is None and v is None
    close(out, torch.nn.functional.batch_norm(tt(torch, x), None, None, training=True).numpy())
    with pytest.raises(ValueError, match="running_mean"):
        F.batch_norm(ft.asarray(x), None, None)
    with pytest.raises(ValueError, match="more than 1 value"):
        F.batch_norm(ft.zeros((1, 3)), None, None, training=True)


@pytest.mark.parametrize("shape", [(4,), (3, 4)])
def test_layer_norm_and_grads_match_torch(torch, shape):
    x, w, b = rand(2, 3, 4), rand(*shape), rand(*shape)
    _grads_vs_torch(torch, lambda x, w, b: F.layer_norm(x, shape, w, b),
                    lambda x, w, b: torch.nn.functional.layer_norm(x, shape, w, b), [x, w, b])


def test_layer_norm_shape_error():
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(ft.zeros((2, 3)), (4,))


def test_embedding_matches_torch_and_padding_row_gets_no_grad(torch):
    w = rand(5, 3)
    idx = np.array([[0, 2, 4], [2, 2, 1]])
    ours = F.embedding(ft.asarray(idx), ft.asarray(w), padding_idx=2)
    tw = tt(torch, w, grad=True)
    ref = torch.nn.functional.embedding(torch.tensor(idx), tw, padding_idx=2)
    close(ours, ref.detach().numpy())
    ct = rand(2, 3, 3)
    (ref * tt(torch, ct)).sum().backward()
    g = ft.grad(lambda w: (F.embedding(ft.asarray(idx), w, padding_idx=2) * ct).sum())(
        ft.asarray(w))
    close(g, tw.grad.numpy())
    assert not np.asarray(g)[2].any()


# ------------------------------------------------------------------------------ numpy oracles
# Independent loop implementations of PyTorch's documented rules, so conv, pooling and
# cross-entropy are checked where torch is not installed too.

def np_conv2d(x, w, stride, pad, dil, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    oh = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow), np.float64)
    for oc in range(o):
        g = oc // (o // groups)
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * cg:(g + 1) * cg,
                           i * dil[0]:i * dil[0] + (oh - 1) * stride[0] + 1:stride[0],
                           j * dil[1]:j * dil[1] + (ow - 1) * stride[1] + 1:stride[1]]
                out[:, oc] += np.einsum("nchw,c->nhw", patch, w[oc, :, i, j])
    return out


@pytest.mark.parametrize("stride,pad,dil,groups", [((1, 1), (0, 0), (1, 1), 1),
                                                   ((2, 1), (1, 2), (1, 1), 1),
                                                   ((1, 2), (1, 1), (2, 1), 2)])
def test_conv2d_matches_numpy_loops(stride, pad, dil, groups):
    x, w = rand(2, 4, 7, 8), rand(6, 4 // groups, 3, 2)
    close(F.conv2d(ft.asarray(x), ft.asarray(w), None, stride, pad, dil, groups),
          np_conv2d(x, w, stride, pad, dil, groups), 1e-4, 1e-4)


def np_pool_out(size, k, s, p, d, ceil_mode):
    span = size + 2 * p - d * (k - 1) - 1
    out = -(-span // s) + 1 if ceil_mode else span // s + 1
    return out - 1 if ceil_mode and (out - 1) * s >= size + p else out


def np_pool(x, k, s, p, d, ceil_mode, mode, count_include_pad=True):
    h, w = x.shape[-2:]
    oh, ow = (np_pool_out(n, k, s, p, d_, ceil_mode) for n, d_ in ((h, d), (w, d)))
    out = np.zeros(x.shape[:-2] + (oh, ow), np.float64)
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * s - p, j * s - p
            rows = [r for r in range(h0, h0 + (k - 1) * d + 1, d) if 0 <= r < h]
            cols = [c for c in range(w0, w0 + (k - 1) * d + 1, d) if 0 <= c < w]
            window = x[..., rows, :][..., cols]
            if mode == "max":
                out[..., i, j] = window.max(axis=(-2, -1))
            else:
                hend, wend = min(h0 + k, h + p), min(w0 + k, w + p)
                div = ((hend - h0) * (wend - w0) if count_include_pad
                       else len(rows) * len(cols))
                out[..., i, j] = window.sum(axis=(-2, -1)) / div
    return out


@pytest.mark.parametrize("k,s,p,d,ceil_mode", [(2, 2, 0, 1, False), (3, 2, 1, 1, True),
                                               (3, 3, 1, 1, True), (2, 1, 1, 2, False),
                                               (3, 2, 1, 2, True)])
def test_pooling_matches_numpy_loops(k, s, p, d, ceil_mode):
    x = rand(2, 2, 7, 8)
    close(F.max_pool2d(ft.asarray(x), k, s, p, d, ceil_mode),
          np_pool(x, k, s, p, d, ceil_mode, "max"))
    if d == 1:
        for include in (True, False):
            close(F.avg_pool2d(ft.asarray(x), k, s, p, ceil_mode, include),
                  np_pool(x, k, s, p, 1, ceil_mode, "avg", include))


@pytest.mark.parametrize("smoothing,weighted,ignore", [(0.0, False, -100), (0.2, False, 1),
                                                       (0.1, True, 2)])
def test_cross_entropy_matches_numpy(smoothing, weighted, ignore):
    x = rand(6, 4).astype(np.float64)
    y = np.array([0, 1, 2, 3, 1, 2])
    w = np.abs(rand(4)) + 0.1 if weighted else np.ones(4)
    logp = x - x.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    valid = y != ignore
    w_t = np.where(valid, w[y], 0.0)
    nll = -w_t * logp[np.arange(6), y]
    smooth = np.where(valid, -(logp * w).sum(1), 0.0)
    per = (1 - smoothing) * nll + smoothing / 4 * smooth
    ours = F.cross_entropy(ft.asarray(x.astype(np.float32)), ft.asarray(y),
                           weight=ft.asarray(w.astype(np.float32)) if weighted else None,
                           ignore_index=ignore, label_smoothing=smoothing, reduction="none")
    close(ours, per)
    mean = F.cross_entropy(ft.asarray(x.astype(np.float32)), ft.asarray(y),
                           weight=ft.asarray(w.astype(np.float32)) if weighted else None,
                           ignore_index=ignore, label_smoothing=smoothing)
    close(mean, per.sum() / w_t.sum())
