"""nn.functional convolution and pooling against PyTorch."""


import numpy as np
import pytest

import funtorch as ft
import funtorch.nn.functional as F

from .common import close, grads_vs_torch, rand, rng, tt

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# ------------------------------------------------------------------------------ convolution

CONV2D_KW = [
    dict(), dict(stride=2), dict(stride=(2, 1), padding=(1, 2)), dict(padding="valid"),
    dict(padding="same"), dict(padding="same", dilation=2), dict(padding="same", dilation=(1, 3)),
    dict(padding=(2, 0), stride=2, dilation=(2, 1)), dict(groups=2, padding=1),
    dict(groups=4), dict(stride=3, dilation=2),
]


@pytest.mark.parametrize("kernel", [(3, 3), (2, 2), (4, 3), (1, 1), (2, 5)])
@pytest.mark.parametrize("kw", CONV2D_KW, ids=str)
def test_conv2d_argument_space(torch, kernel, kw):
    g = kw.get("groups", 1)
    x, w, b = rand(2, 4, 9, 11), rand(8, 4 // g, *kernel, seed=1), rand(8, seed=2)
    grads_vs_torch(torch, lambda x, w, b: F.conv2d(x, w, b, **kw),
                   lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **kw), [x, w, b])


@pytest.mark.parametrize("multiplier", [1, 2])
def test_conv2d_depthwise(torch, multiplier):
    x, w = rand(2, 3, 7, 6), rand(3 * multiplier, 1, 3, 3, seed=1)
    grads_vs_torch(torch, lambda x, w: F.conv2d(x, w, groups=3, padding=1, stride=(1, 2)),
                   lambda x, w: torch.nn.functional.conv2d(x, w, groups=3, padding=1,
                                                           stride=(1, 2)), [x, w])


@pytest.mark.parametrize("k", [2, 4, 5])
@pytest.mark.parametrize("kw", [dict(padding="same"), dict(padding="same", dilation=3),
                                dict(padding=2, stride=2, groups=2), dict(padding="valid"),
                                dict(padding=(1,), stride=(3,), dilation=(2,))], ids=str)
def test_conv1d_argument_space(torch, k, kw):
    x, w = rand(2, 4, 11), rand(6, 4 // kw.get("groups", 1), k, seed=1)
    grads_vs_torch(torch, lambda x, w: F.conv1d(x, w, **kw),
                   lambda x, w: torch.nn.functional.conv1d(x, w, **kw), [x, w])


def test_conv_unbatched_same_padding_with_bias(torch):
    grads_vs_torch(torch, lambda x, w, b: F.conv1d(x, w, b, padding="same"),
                   lambda x, w, b: torch.nn.functional.conv1d(x, w, b, padding="same"),
                   [rand(4, 7), rand(3, 4, 4, seed=1), rand(3, seed=2)])
    grads_vs_torch(torch, lambda x, w: F.conv2d(x, w, padding="same", dilation=2),
                   lambda x, w: torch.nn.functional.conv2d(x, w, padding="same", dilation=2),
                   [rand(2, 6, 5), rand(3, 2, 2, 3, seed=1)])


def test_conv_float64_keeps_dtype(torch):
    x, w = rand(1, 2, 6, 6).astype(np.float64), rand(3, 2, 3, 3, seed=1).astype(np.float64)
    grads_vs_torch(torch, lambda x, w: F.conv2d(x, w, padding=1),
                   lambda x, w: torch.nn.functional.conv2d(x, w, padding=1), [x, w],
                   rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------------------ pooling

POOL_KW = [
    dict(kernel_size=3, stride=1, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), ceil_mode=True),
    dict(kernel_size=4, stride=3, padding=2, ceil_mode=True),
    dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=5, stride=2, padding=2),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=[2, 3]),
]
POOL_SHAPES = [(2, 3, 7, 8), (1, 2, 5, 5), (3, 6, 6)]


@pytest.mark.parametrize("shape", POOL_SHAPES, ids=str)
@pytest.mark.parametrize("kw", POOL_KW, ids=str)
def test_max_pool2d_argument_space(torch, shape, kw):
    grads_vs_torch(torch, lambda x: F.max_pool2d(x, **kw),
                   lambda x: torch.nn.functional.max_pool2d(x, **kw), [rand(*shape)])


@pytest.mark.parametrize("kw", [dict(kernel_size=2, dilation=2),
                                dict(kernel_size=3, stride=1, padding=1, dilation=(2, 1)),
                                dict(kernel_size=(2, 3), stride=2, padding=1, dilation=2,
                                     ceil_mode=True)], ids=str)
def test_max_pool2d_dilation(torch, kw):
    grads_vs_torch(torch, lambda x: F.max_pool2d(x, **kw),
                   lambda x: torch.nn.functional.max_pool2d(x, **kw), [rand(2, 3, 8, 9)])


@pytest.mark.parametrize("shape", POOL_SHAPES, ids=str)
@pytest.mark.parametrize("kw", POOL_KW, ids=str)
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("divisor_override", [None, 5])
def test_avg_pool2d_argument_space(torch, shape, kw, count_include_pad, divisor_override):
    kw = dict(kw, count_include_pad=count_include_pad, divisor_override=divisor_override)
    grads_vs_torch(torch, lambda x: F.avg_pool2d(x, **kw),
                   lambda x: torch.nn.functional.avg_pool2d(x, **kw), [rand(*shape)])


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64])
def test_max_pool2d_integer_input(torch, dtype):
    x = rng(0).integers(0, 200, (1, 2, 5, 5)).astype(dtype)
    out = F.max_pool2d(ft.asarray(x), 2, padding=1)
    assert out.dtype == dtype
    close(out, torch.nn.functional.max_pool2d(torch.tensor(x), 2, padding=1))


def test_avg_pool2d_integer_input(torch):
    x = np.arange(32).reshape(1, 2, 4, 4)
    out = F.avg_pool2d(ft.asarray(x), 2)
    assert out.dtype == np.int64
    close(out, torch.nn.functional.avg_pool2d(torch.tensor(x), 2))


def test_avg_pool2d_zero_divisor_override_is_an_error(torch):
    with pytest.raises(RuntimeError):
        torch.nn.functional.avg_pool2d(torch.ones(1, 1, 4, 4), 2, divisor_override=0)
    with pytest.raises(ValueError, match="divisor"):
        F.avg_pool2d(ft.ones((1, 1, 4, 4)), 2, divisor_override=0)


def test_max_pool2d_propagates_nan_and_ignores_padding(torch):
    x = -np.abs(rand(1, 1, 4, 4)) - 5
    x[0, 0, 1, 2] = np.nan
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    close(F.max_pool2d(ft.asarray(x), **kw), torch.nn.functional.max_pool2d(tt(torch, x), **kw))
