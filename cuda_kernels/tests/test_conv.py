import numpy as np
import pytest

from cuda_kernels import _gemm, conv

from .util import BF16, conv2d_grads_ref, conv2d_ref, dev, host

# (x shape, w shape, stride, padding, dilation, groups)
CASES = [
    ((2, 3, 7, 6), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),  # 'same' 3x3, edge tiles
    ((1, 4, 9, 8), (6, 2, 3, 2), (2, 1), (1, 0), (1, 2), 2),  # stride, dilation, groups
    ((2, 5, 4, 4), (3, 5, 1, 1), (1, 1), (0, 0), (1, 1), 1),  # 1x1
]


@pytest.fixture(params=CASES, ids=["3x3-pad", "strided-dilated-groups", "1x1"])
def case(request, rng):
    xs, ws, stride, pad, dil, groups = request.param
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    y = conv2d_ref(x, w, stride, pad, dil, groups)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw = conv2d_grads_ref(x, w, dy, stride, pad, dil, groups)
    kw = dict(stride=stride, padding=pad, dilation=dil, groups=groups)
    return x, w, dy, y, dx, dw, kw


@pytest.mark.parametrize("algo", ["implicit", "im2col"])
def test_forward(case, algo):
    x, w, _, y, _, _, kw = case
    got = host(conv.conv2d_forward(dev(x), dev(w), algo=algo, tile=_gemm.SIM_TILE, **kw))
    np.testing.assert_allclose(got, y, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("algo", ["implicit", "im2col"])
def test_backward_data(case, algo):
    x, w, dy, _, dx, _, kw = case
    got = host(
        conv.conv2d_backward_data(dev(dy), dev(w), x.shape, algo=algo, tile=_gemm.SIM_TILE, **kw)
    )
    np.testing.assert_allclose(got, dx, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("algo,splits", [("implicit", 1), ("implicit", 3), ("im2col", None)])
def test_backward_weight(case, algo, splits):
    x, w, dy, _, _, dw, kw = case
    extra = dict(tile=_gemm.SIM_TILE, splits=splits) if algo == "implicit" else {}
    got = host(conv.conv2d_backward_weight(dev(dy), dev(x), w.shape, algo=algo, **extra, **kw))
    np.testing.assert_allclose(got, dw, rtol=1e-4, atol=1e-4)


def test_bfloat16_forward(rng):
    x = rng.standard_normal((1, 2, 5, 5)).astype(BF16)
    w = rng.standard_normal((3, 2, 3, 3)).astype(BF16)
    got = host(conv.conv2d_forward(dev(x), dev(w), padding=1, tile=_gemm.SIM_TILE))
    ref = conv2d_ref(x.astype(np.float32), w.astype(np.float32), (1, 1), (1, 1), (1, 1), 1)
    np.testing.assert_allclose(got.astype(np.float32), ref, rtol=3e-2, atol=3e-2)


def test_geometry_errors():
    with pytest.raises(ValueError, match="channels"):
        conv.ConvGeom.make((1, 3, 5, 5), (4, 2, 3, 3))
    with pytest.raises(ValueError, match="empty output"):
        conv.ConvGeom.make((1, 1, 2, 2), (1, 1, 3, 3))
    geom = conv.ConvGeom.make((1, 4, 28, 28), (8, 2, 3, 3), stride=2, padding=1, groups=2)
    assert (geom.p, geom.q, geom.cg, geom.og) == (14, 14, 2, 4)
