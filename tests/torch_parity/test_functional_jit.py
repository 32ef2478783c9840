"""nn.functional under jit, and per-example gradients against torch.func."""


import numpy as np
import pytest

import funtorch as ft
import funtorch.nn.functional as F

from .common import close, rand, rng, tt

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")



def _jit_cases(torch):
    TF = torch.nn.functional
    y = rng(3).integers(0, 3, (2, 4, 5))
    w = np.abs(rand(3, seed=4)) + 0.1
    p = rng(4).random((2, 3, 4, 5)).astype(np.float32)
    p /= p.sum(1, keepdims=True)
    mp = dict(kernel_size=(2, 3), stride=2, padding=1, dilation=2, ceil_mode=True)
    ap = dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), ceil_mode=True,
              count_include_pad=False)
    return {
        "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), groups=2),
                   lambda x, w, b: TF.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), groups=2),
                   [rand(2, 4, 9, 11), rand(8, 2, 3, 3, seed=1), rand(8, seed=2)]),
        "conv1d_same": (lambda x, w: F.conv1d(x, w, padding="same", dilation=3),
                        lambda x, w: TF.conv1d(x, w, padding="same", dilation=3),
                        [rand(2, 4, 11), rand(6, 4, 4, seed=1)]),
        "max_pool2d": (lambda x: F.max_pool2d(x, **mp), lambda x: TF.max_pool2d(x, **mp),
                       [rand(2, 3, 8, 9)]),
        "avg_pool2d": (lambda x: F.avg_pool2d(x, **ap), lambda x: TF.avg_pool2d(x, **ap),
                       [rand(2, 3, 8, 9)]),
        "cross_entropy": (
            lambda x: F.cross_entropy(x, ft.asarray(y), weight=ft.asarray(w), ignore_index=1,
                                      label_smoothing=0.2),
            lambda x: TF.cross_entropy(x, torch.tensor(y), weight=torch.tensor(w),
                                       ignore_index=1, label_smoothing=0.2),
            [rand(2, 3, 4, 5)]),
        "soft_cross_entropy": (
            lambda x, t: F.cross_entropy(x, t, weight=ft.asarray(w), label_smoothing=0.2),
            lambda x, t: TF.cross_entropy(x, t, weight=torch.tensor(w), label_smoothing=0.2),
            [rand(2, 3, 4, 5), p]),
        "batch_norm": (lambda x, a, b: F.batch_norm(x, None, None, a, b, training=True)[0],
                       lambda x, a, b: TF.batch_norm(x, None, None, a, b, training=True),
                       [rand(2, 3, 4, 5), rand(3, seed=1), rand(3, seed=2)]),
        "layer_norm": (lambda x, a, b: F.layer_norm(x, (4, 5), a, b),
                       lambda x, a, b: TF.layer_norm(x, (4, 5), a, b),
                       [rand(2, 3, 4, 5), rand(4, 5, seed=1), rand(4, 5, seed=2)]),
    }


@pytest.mark.parametrize("case", ["conv2d", "conv1d_same", "max_pool2d", "avg_pool2d",
                                  "cross_entropy", "soft_cross_entropy", "batch_norm",
                                  "layer_norm"])
def test_jitted_functional_matches_torch(torch, case):
    ours, ref, arrays = _jit_cases(torch)[case]
    xs = [ft.asarray(a) for a in arrays]
    out = ft.jit(ours)(*xs)
    ct = rand(*out.shape, seed=1)
    grads = ft.jit(ft.grad(lambda *xs: (ours(*xs) * ct).sum(),
                           argnums=tuple(range(len(xs)))))(*xs)
    ts = [tt(torch, a, grad=True) for a in arrays]
    r = ref(*ts)
    (r * tt(torch, ct)).sum().backward()
    close(out, r, 1e-4, 1e-4)
    for g, t in zip(grads, ts):
        close(g, t.grad, 1e-4, 1e-4)


def test_per_example_gradients_match_torch_func(torch):
    """ft.vmap(ft.grad(...)) over a conv/pool/loss pipeline against torch.func."""
    tvmap, tgrad = torch.func.vmap, torch.func.grad

    def make(Fn):
        def loss(w, x, y):
            h = Fn.conv2d(x[None], w, padding=1, stride=2)
            h = Fn.max_pool2d(Fn.relu(h), 2, ceil_mode=True)
            h = Fn.avg_pool2d(h, 2, padding=1, count_include_pad=False)
            return Fn.cross_entropy(h.reshape(1, -1)[:, :4], y[None], label_smoothing=0.1)
        return loss

    w, x, y = rand(4, 3, 3, 3), rand(5, 3, 8, 8, seed=1), rng(2).integers(0, 4, 5)
    ours = ft.vmap(ft.grad(make(F)), in_axes=(None, 0, 0))(
        ft.asarray(w), ft.asarray(x), ft.asarray(y))
    ref = tvmap(tgrad(make(torch.nn.functional)), in_dims=(None, 0, 0))(
        tt(torch, w), tt(torch, x), torch.tensor(y))
    close(ours, ref, 1e-4, 1e-4)
    W, idx = rand(6, 3), rng(3).integers(0, 6, (5, 4))
    ours = ft.vmap(ft.grad(lambda w, i: (F.embedding(i, w, padding_idx=2) ** 2).sum()),
                   in_axes=(None, 0))(ft.asarray(W), ft.asarray(idx))
    ref = tvmap(tgrad(lambda w, i: (torch.nn.functional.embedding(i, w, padding_idx=2) ** 2)
                      .sum()), in_dims=(None, 0))(tt(torch, W), torch.tensor(idx))
    close(ours, ref, 1e-5, 1e-5)
