"""Targeted tests for convolution, pooling and contraction beyond the generic op-table
checks: gradients against independent references (an explicit Jacobian, PyTorch),
tie-breaking in max pooling, transformations of the derivative rules, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import funtorch as ft
from funtorch import lax

from op_table_linalg import _conv_ref

CONV_CASES = [  # strides, padding, lhs_dilation, rhs_dilation, groups
    ((1, 1), ((0, 0), (0, 0)), (1, 1), (1, 1), 1),
    ((2, 1), ((1, 2), (0, 1)), (1, 1), (1, 2), 2),
    ((1, 2), ((-1, 1), (2, 0)), (2, 1), (1, 1), 1),
    ((2, 2), ((1, 1), (1, 1)), (1, 2), (2, 1), 2),
]


def _conv_operands(rng, groups, nsp=2):
    x = rng.standard_normal((2, 2 * groups, *([5] * nsp)))
    w = rng.standard_normal((2 * groups, 2, *([2] * nsp)))
    return x, w


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_vjp_matches_explicit_jacobian(case):
    """The transposes must be the adjoint of the reference conv (built from unit vectors)."""
    strides, pads, lhs_d, rhs_d, groups = case
    rng = np.random.default_rng(0)
    x, w = _conv_operands(rng, groups)

    def ref(a, b):
        return _conv_ref(a, b, strides, pads, lhs_d, rhs_d, groups)

    out = ref(x, w)
    ct = rng.standard_normal(out.shape)

    def jac_t(fn, arg):
        cols = []
        for k in range(arg.size):
            e = np.zeros(arg.size)
            e[k] = 1
            cols.append(fn(e.reshape(arg.shape)).ravel())
        return (np.stack(cols) @ ct.ravel()).reshape(arg.shape)

    want_x = jac_t(lambda e: ref(e, w), x)
    want_w = jac_t(lambda e: ref(x, e), w)
    _, vjp = ft.vjp(lambda a, b: lax.conv_general_dilated(a, b, strides, pads, lhs_d, rhs_d,
                                                          groups), ft.asarray(x), ft.asarray(w))
    got_x, got_w = vjp(ft.asarray(ct))
    np.testing.assert_allclose(np.asarray(got_x), want_x, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(got_w), want_w, rtol=1e-10, atol=1e-10)


def test_conv_second_order_and_jit():
    """Forward-over-reverse (Hessian-vector products) and jit(grad) agree with eager."""
    rng = np.random.default_rng(1)
    x, w = (ft.asarray(a) for a in _conv_operands(rng, 2))

    def loss(w):
        y = lax.conv_general_dilated(x, w, (2, 1), ((1, 0), (1, 1)), None, (1, 2), 2)
        return ft.sum(ft.tanh(y) ** 2)

    v = ft.asarray(rng.standard_normal(w.shape))
    _, hvp = ft.jvp(ft.grad(loss), (w,), (v,))
    eps = 1e-6
    fd = (np.asarray(ft.grad(loss)(w + eps * v)) - np.asarray(ft.grad(loss)(w - eps * v))) / (
        2 * eps)
    np.testing.assert_allclose(np.asarray(hvp), fd, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(ft.jit(ft.grad(loss))(w)),
                               np.asarray(ft.grad(loss)(w)), rtol=1e-12)


def test_conv_low_precision_keeps_dtype():
    rng = np.random.default_rng(2)
    x, w = _conv_operands(rng, 1)
    for dt in (ft.float16, ft.bfloat16):
        y = lax.conv(ft.asarray(x, dt), ft.asarray(w, dt), (1, 1), "SAME")
        assert y.dtype == dt and y.shape == (2, 2, 5, 5)
        np.testing.assert_allclose(np.asarray(y, np.float32),
                                   _conv_ref(x, w, (1, 1), ((0, 1), (0, 1)), (1, 1), (1, 1), 1),
                                   rtol=0.05, atol=0.1)


def test_conv_batching_both_operands():
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((3, 2, 4, 6))
    ws = rng.standard_normal((3, 4, 2, 3))

    def f(x, w):
        return lax.conv_general_dilated(x, w, (2,), ((1, 1),), None, None, 2)

    got = ft.vmap(ft.grad(lambda x, w: ft.sum(f(x, w) ** 2), argnums=(0, 1)))(
        ft.asarray(xs), ft.asarray(ws))
    for b in range(3):
        want = ft.grad(lambda x, w: ft.sum(f(x, w) ** 2), argnums=(0, 1))(
            ft.asarray(xs[b]), ft.asarray(ws[b]))
        for g, wnt in zip(got, want):
            np.testing.assert_allclose(np.asarray(g)[b], np.asarray(wnt), rtol=1e-10)


def test_max_pool_ties_pick_first_and_transforms():
    # integer-valued input: plenty of ties inside each window
    x = np.array([[[[1., 1., 0., 2.], [1., 0., 2., 2.], [3., 3., 1., 1.], [3., 3., 1., 0.]]]])

    def pool(a):
        return lax.reduce_window_max(a, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    g = np.asarray(ft.grad(lambda a: ft.sum(pool(a)))(ft.asarray(x)))
    want = np.zeros_like(x)
    want[0, 0, 0, 0] = want[0, 0, 0, 3] = want[0, 0, 2, 0] = want[0, 0, 2, 2] = 1
    np.testing.assert_array_equal(g, want)
    # vmap and jit of the gradient (batching and lowering of select_and_scatter_add)
    xs = np.random.default_rng(4).standard_normal((3, 1, 2, 5, 5))

    def loss(a):
        return ft.sum(lax.reduce_window_max(a, (1, 1, 3, 3), (1, 1, 2, 2), "SAME") ** 2)

    got = ft.vmap(ft.jit(ft.grad(loss)))(ft.asarray(xs))
    for b in range(3):
        np.testing.assert_allclose(np.asarray(got)[b], np.asarray(ft.grad(loss)(
            ft.asarray(xs[b]))), rtol=1e-12)


def test_max_pool_nan_and_inf_cotangents():
    x = np.array([[1., np.nan, 0., 2.]])
    y = lax.reduce_window_max(ft.asarray(x), (1, 2), (1, 2), "VALID")
    assert np.isnan(np.asarray(y)[0, 0]) and np.asarray(y)[0, 1] == 2
    _, vjp = ft.vjp(lambda a: lax.reduce_window_max(a, (1, 2), (1, 2), "VALID"), ft.asarray(x))
    (g,) = vjp(ft.asarray(np.array([[np.inf, 1.]])))
    np.testing.assert_array_equal(np.asarray(g), [[0., np.inf, 0., 1.]])


# --------------------------------------------------------------------------- PyTorch


@pytest.mark.parametrize("case", CONV_CASES[:2] + CONV_CASES[3:])
def test_conv2d_matches_torch(case):
    torch = pytest.importorskip("torch")
    strides, pads, _, rhs_d, groups = case
    if any(lo != hi for lo, hi in pads):
        pads = tuple((lo, lo) for lo, _ in pads)
    rng = np.random.default_rng(5)
    x, w = _conv_operands(rng, groups)
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, stride=strides, padding=[p[0] for p in pads],
                                    dilation=rhs_d, groups=groups)
    ct = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(ct))
    y, vjp = ft.vjp(lambda a, b: lax.conv_general_dilated(a, b, strides, pads, None, rhs_d,
                                                          groups), ft.asarray(x), ft.asarray(w))
    gx, gw = vjp(ft.asarray(ct))
    np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(gx), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(gw), tw.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_conv1d_and_transposed_conv_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 4, 7))
    w = rng.standard_normal((6, 2, 3))
    ty = torch.nn.functional.conv1d(torch.tensor(x), torch.tensor(w), stride=2, padding=1,
                                    groups=2)
    y = lax.conv(ft.asarray(x), ft.asarray(w), (2,), ((1, 1),), feature_group_count=2)
    np.testing.assert_allclose(np.asarray(y), ty.numpy(), rtol=1e-10)
    # conv_transpose1d(stride 2, padding 1) == lhs-dilated conv with the flipped kernel
    wt = rng.standard_normal((4, 3, 3))   # torch layout (in, out, k)
    ty = torch.nn.functional.conv_transpose1d(torch.tensor(x), torch.tensor(wt), stride=2,
                                              padding=1)
    k = np.flip(wt, -1).transpose(1, 0, 2)
    y = lax.conv(ft.asarray(x), ft.asarray(np.ascontiguousarray(k)), (1,), ((1, 1),),
                 lhs_dilation=(2,))
    np.testing.assert_allclose(np.asarray(y), ty.numpy(), rtol=1e-10)


@pytest.mark.parametrize("kernel,stride,padding", [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0)])
def test_max_pool2d_matches_torch(kernel, stride, padding):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.integers(0, 3, (2, 3, 6, 7)).astype(np.float64)   # many ties
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.max_pool2d(tx, kernel, stride, padding)
    ct = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(ct))

    def pool(a):
        return lax.reduce_window_max(a, (1, 1, kernel, kernel), (1, 1, stride, stride),
                                     ((0, 0), (0, 0), (padding, padding), (padding, padding)))

    y, vjp = ft.vjp(pool, ft.asarray(x))
    np.testing.assert_array_equal(np.asarray(y), ty.detach().numpy())
    np.testing.assert_allclose(np.asarray(vjp(ft.asarray(ct))[0]), tx.grad.numpy(),
                               rtol=1e-12, atol=1e-12)


MAX_POOL_INDEX_CASES = [  # kernel, stride, padding, dilation, ceil_mode
    (2, None, 0, 1, False),
    (3, 2, 1, 1, False),
    (3, 2, 1, 1, True),
    ((2, 3), (1, 2), (1, 0), 1, True),
    (3, 1, 1, 2, False),
    ((3, 2), 2, (1, 1), (2, 3), True),
]


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode", MAX_POOL_INDEX_CASES)
def test_max_pool2d_return_indices_matches_torch(torch, kernel, stride, padding, dilation,
                                                 ceil_mode):
    F = ft.nn.functional
    rng = np.random.default_rng(11)
    x = rng.integers(0, 3, (2, 3, 7, 8)).astype(np.float32)   # many ties
    x[0, 0, 1:4, 2:5] = -np.inf                               # windows of -inf only,
    x[0, 1, :3, :3] = -np.inf                                 # and -inf next to padding
    x[1, 2, 0, :3] = np.nan                                   # windows with several NaNs
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
              ceil_mode=ceil_mode)
    tx = torch.tensor(x, requires_grad=True)
    ty, ti = torch.nn.functional.max_pool2d(tx, return_indices=True, **kw)
    y, idx = F.max_pool2d(ft.asarray(x), return_indices=True, **kw)
    assert np.asarray(idx).dtype == np.int64
    np.testing.assert_array_equal(np.asarray(idx), ti.numpy())
    np.testing.assert_array_equal(np.asarray(y), ty.detach().numpy())
    # jit, unbatched (C, H, W) input, vmap over the batch, the module
    jy, jidx = ft.jit(lambda a: F.max_pool2d(a, return_indices=True, **kw))(ft.asarray(x))
    np.testing.assert_array_equal(np.asarray(jidx), ti.numpy())
    np.testing.assert_array_equal(np.asarray(jy), ty.detach().numpy())
    _, uidx = F.max_pool2d(ft.asarray(x[1]), return_indices=True, **kw)
    np.testing.assert_array_equal(np.asarray(uidx), ti.numpy()[1])
    _, vidx = ft.vmap(lambda a: F.max_pool2d(a, return_indices=True, **kw))(ft.asarray(x))
    np.testing.assert_array_equal(np.asarray(vidx), ti.numpy())
    pool = ft.nn.MaxPool2d(kernel, stride, padding, dilation, return_indices=True,
                           ceil_mode=ceil_mode)
    _, midx = pool(pool.init(ft.random.key(0)), ft.asarray(x))
    np.testing.assert_array_equal(np.asarray(midx), ti.numpy())


def test_max_pool2d_return_indices_gradient(torch):
    """The gradient flows through the values (as with return_indices=False) under jit and
    vmap; the indices are an integer side output."""
    F = ft.nn.functional
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 6, 7))
    ct = rng.standard_normal((2, 3, 3, 4))
    tx = torch.tensor(x, requires_grad=True)
    ty, _ = torch.nn.functional.max_pool2d(tx, 3, 2, 1, return_indices=True)
    ty.backward(torch.tensor(ct))

    def loss(a, c):
        y, idx = F.max_pool2d(a, 3, 2, 1, return_indices=True)
        return ft.sum(y * c) + 0 * ft.sum(idx)

    g = ft.jit(ft.grad(loss))(ft.asarray(x), ft.asarray(ct))
    np.testing.assert_allclose(np.asarray(g), tx.grad.numpy(), rtol=1e-12)
    gv = ft.vmap(ft.grad(loss))(ft.asarray(x), ft.asarray(ct))
    np.testing.assert_allclose(np.asarray(gv), tx.grad.numpy(), rtol=1e-12)


def test_avg_pool2d_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 7, 6))
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.avg_pool2d(tx, 3, 2, 1)   # count_include_pad=True
    ct = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(ct))

    def pool(a):
        s = lax.reduce_window_sum(a, (1, 1, 3, 3), (1, 1, 2, 2),
                                  ((0, 0), (0, 0), (1, 1), (1, 1)))
        return s / 9.0

    y, vjp = ft.vjp(pool, ft.asarray(x))
    np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(vjp(ft.asarray(ct))[0]), tx.grad.numpy(),
                               rtol=1e-12)


# --------------------------------------------------------------------------- contraction


def test_dot_general_preferred_element_type():
    a = np.arange(6, dtype=np.int8).reshape(2, 3) * 40
    b = np.ones((3, 2), np.int8) * 3
    y = lax.dot_general(ft.asarray(a), ft.asarray(b), (((1,), (0,)), ((), ())), ft.int32)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(y), a.astype(np.int32) @ b.astype(np.int32))
    h = np.random.default_rng(9).standard_normal((2, 3)).astype(np.float16)

    def f(x):
        return ft.sum(lax.dot_general(x, x, (((1,), (1,)), ((), ())), ft.float32))

    g = ft.grad(f)(ft.asarray(h))
    assert g.dtype == np.float16
    np.testing.assert_allclose(np.asarray(g, np.float32),
                               2 * h.astype(np.float32).sum(0, keepdims=True).repeat(2, 0),
                               rtol=1e-2)


@pytest.mark.parametrize("spec,shapes", [
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    ("bij,bjk", [(2, 3, 4), (2, 4, 5)]),
    ("ij,jk,kl,lm->im", [(2, 3), (3, 4), (4, 5), (5, 2)]),
    ("i,i", [(3,), (1,)]),
    ("abc->", [(2, 3, 4)]),
    ("Ab,bA->A", [(2, 3), (3, 2)]),
])
def test_einsum_vs_numpy(spec, shapes):
    rng = np.random.default_rng(10)
    ops = [rng.standard_normal(s) for s in shapes]
    np.testing.assert_allclose(np.asarray(ft.einsum(spec, *[ft.asarray(o) for o in ops])),
                               np.einsum(spec, *ops), rtol=1e-12)


def test_matmul_uses_no_broadcast_copy():
    """A matrix times a batch of matrices is one dot_general, with no broadcast."""
    a = ft.ones((3, 4))
    b = ft.ones((5, 4, 2))
    graph = str(ft.make_graph(ft.matmul)(a, b))
    assert "broadcast_in_dim" not in graph and graph.count("dot_general") == 1


# --------------------------------------------------------------------------- errors


def test_clear_errors():
    x = ft.ones((2, 3, 5, 5))
    with pytest.raises(TypeError, match=r"conv_general_dilated.*feature_group_count=1.*f32\["):
        lax.conv(x, ft.ones((4, 2, 3, 3)), (1, 1), "VALID")
    with pytest.raises(TypeError, match="dot_general: contracting dimensions differ"):
        lax.dot_general(ft.ones((2, 3)), ft.ones((4, 2)), (((1,), (0,)), ((), ())))
    with pytest.raises(ValueError, match=r"matmul: operands disagree.*\(2, 2, 3\), \(4, 3"):
        ft.matmul(ft.ones((2, 2, 3)), ft.ones((4, 3, 5)))
    with pytest.raises(ValueError, match="matmul: contracted dimensions differ"):
        ft.ones((2, 3)) @ ft.ones((4, 5))
    with pytest.raises(ValueError, match="einsum: the axes of 'ii' repeating label 'i'"):
        ft.einsum("ii->i", ft.ones((2, 3)))
    with pytest.raises(TypeError, match="reduce_window_max: window_dimensions"):
        lax.reduce_window_max(x, (2, 2), (2, 2), "VALID")
    with pytest.raises(ValueError, match="'SAME', 'VALID'"):
        lax.reduce_window_sum(x, (1, 1, 2, 2), (1, 1, 2, 2), "FULL")
