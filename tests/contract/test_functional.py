"""nn.functional against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import funtorch as ft
import funtorch.nn.functional as F

from .common import RNG, _t, assert_same, rand


def _vs_torch(torch, ffn, tfn, args, kw=None, rtol=1e-5, atol=1e-5, tkw=None):
    kw = kw or {}
    fa = ffn(*[ft.asarray(a) if isinstance(a, np.ndarray) else a for a in args],
             **{k: ft.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()})
    tk = dict(kw, **(tkw or {}))
    ta = tfn(*[_t(torch, a) if isinstance(a, np.ndarray) else a for a in args],
             **{k: _t(torch, v) if isinstance(v, np.ndarray) else v for k, v in tk.items()})
    assert_same(fa, ta.detach().numpy(), rtol=rtol, atol=atol)
    return fa


_V = rand(4, 7)
_X4 = rand(2, 3, 6, 7)
_X3 = rand(2, 3, 11)


class TestFunctionalVsTorch:
    @pytest.mark.parametrize("name,kw", [
        ("relu", {}), ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.2}),
        ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}), ("sigmoid", {}),
        ("tanh", {}), ("softmax", {"dim": 0}), ("softmax", {"dim": -1}),
        ("log_softmax", {"dim": 1}), ("log_softmax", {"dim": -2}),
    ])
    @pytest.mark.parametrize("shape", [(4, 7), (2, 3, 6, 7)])
    def test_activations(self, torch, name, kw, shape):
        a = rand(*shape) * 3
        tfn = getattr(torch.nn.functional, name) if hasattr(torch.nn.functional, name) \
            else getattr(torch, name)
        _vs_torch(torch, getattr(F, name), tfn, (a,), kw)

    @pytest.mark.parametrize("name", ["relu", "gelu", "silu", "sigmoid", "tanh", "softmax",
                                      "log_softmax", "leaky_relu"])
    @pytest.mark.parametrize("dtype", [np.float16, ft.bfloat16], ids=["f16", "bf16"])
    def test_activations_keep_low_precision(self, name, dtype):
        kw = {"dim": -1} if "softmax" in name else {}
        assert getattr(F, name)(ft.asarray(_V).astype(dtype), **kw).dtype == np.dtype(dtype)

    def test_softmax_positional_dim_and_large_logits(self, torch):
        _vs_torch(torch, F.softmax, torch.nn.functional.softmax, (_V * 1000, 1))
        _vs_torch(torch, F.log_softmax, torch.nn.functional.log_softmax, (_V * 1000, 1),
                  atol=1e-3)

    @pytest.mark.parametrize("labels,n", [([0, 2, 1], 4), ([0, 2, 1], -1), ([[0, 2], [1, 1]], 3),
                                          (3, 5)])
    def test_one_hot(self, torch, labels, n):
        lab = np.array(labels)
        fa = _vs_torch(torch, F.one_hot, torch.nn.functional.one_hot, (lab, n))
        assert fa.dtype == np.int64

    def test_one_hot_out_of_range_label_raises(self):
        with pytest.raises((ValueError, IndexError), match=r"one_hot.*5"):
            F.one_hot(ft.tensor([0, 5]), 3)

    @pytest.mark.parametrize("shape", [(7,), (4, 7), (2, 2, 7), (0, 7)])
    @pytest.mark.parametrize("bias", [True, False])
    def test_linear(self, torch, shape, bias):
        w, b = rand(3, 7), rand(3)
        args = (rand(*shape), w) + ((b,) if bias else ())
        _vs_torch(torch, F.linear, torch.nn.functional.linear, args)

    @pytest.mark.parametrize("kw", [
        {}, {"stride": 2}, {"stride": (1, 2)}, {"padding": 1}, {"padding": (2, 0)},
        {"padding": "same"}, {"padding": "valid"}, {"dilation": 2},
        {"dilation": (2, 1), "padding": "same"}, {"stride": 2, "padding": 1, "dilation": 2},
    ], ids=lambda k: str(k))
    def test_conv2d(self, torch, kw):
        _vs_torch(torch, F.conv2d, torch.nn.functional.conv2d, (_X4, rand(4, 3, 3, 3), rand(4)),
                  kw, rtol=1e-4, atol=1e-4)

    @pytest.mark.filterwarnings("ignore:Using padding='same'")
    def test_conv2d_groups_even_kernel_same_unbatched_f64(self, torch):
        tf = torch.nn.functional.conv2d
        _vs_torch(torch, F.conv2d, tf, (_X4, rand(6, 1, 3, 3)), {"groups": 3}, rtol=1e-4,
                  atol=1e-4)
        _vs_torch(torch, F.conv2d, tf, (_X4, rand(3, 3, 2, 4)), {"padding": "same"}, rtol=1e-4,
                  atol=1e-4)
        _vs_torch(torch, F.conv2d, tf, (_X4, rand(3, 3, 2, 4)),
                  {"padding": "same", "dilation": (2, 1)}, rtol=1e-4, atol=1e-4)
        _vs_torch(torch, F.conv2d, tf, (_X4[0], rand(4, 3, 3, 3), rand(4)), rtol=1e-4,
                  atol=1e-4)
        out = _vs_torch(torch, F.conv2d, tf, (_X4.astype(np.float64),
                                              rand(4, 3, 3, 3).astype(np.float64)))
        assert out.dtype == np.float64

    @pytest.mark.parametrize("kw", [
        {}, {"stride": 2}, {"padding": 2}, {"padding": "same"}, {"padding": (1,)},
        {"stride": (2,)}, {"dilation": 3, "padding": "same"}, {"padding": "valid"},
    ], ids=lambda k: str(k))
    def test_conv1d(self, torch, kw):
        _vs_torch(torch, F.conv1d, torch.nn.functional.conv1d, (_X3, rand(4, 3, 3)), kw,
                  rtol=1e-4, atol=1e-4)

    def test_conv1d_groups_and_unbatched(self, torch):
        tf = torch.nn.functional.conv1d
        _vs_torch(torch, F.conv1d, tf, (_X3, rand(3, 1, 2)), {"groups": 3}, rtol=1e-4, atol=1e-4)
        _vs_torch(torch, F.conv1d, tf, (_X3[0], rand(4, 3, 3), rand(4)), rtol=1e-4, atol=1e-4)

    def test_conv2d_kernel_larger_than_input_raises(self):
        with pytest.raises(ValueError, match=r"conv2d"):
            F.conv2d(ft.ones((1, 1, 2, 2)), ft.ones((2, 1, 3, 3)))

    @pytest.mark.parametrize("kw", [
        {"kernel_size": 2}, {"kernel_size": (2, 3)}, {"kernel_size": 3, "stride": 1},
        {"kernel_size": 3, "stride": 2, "padding": 1}, {"kernel_size": 2, "ceil_mode": True},
        {"kernel_size": 3, "dilation": 2},
        {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0)},
        {"kernel_size": 3, "stride": 2, "ceil_mode": True, "padding": 1},
    ], ids=lambda k: str(k))
    def test_max_pool2d(self, torch, kw):
        _vs_torch(torch, F.max_pool2d, torch.nn.functional.max_pool2d, (_X4,), kw)

    @pytest.mark.parametrize("kw", [
        {"kernel_size": 2}, {"kernel_size": (2, 3)}, {"kernel_size": 3, "stride": 2, "padding": 1},
        {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
        {"kernel_size": 2, "ceil_mode": True},
        {"kernel_size": 3, "stride": 2, "ceil_mode": True, "padding": 1},
        {"kernel_size": 3, "stride": 2, "ceil_mode": True, "padding": 1,
         "count_include_pad": False},
        {"kernel_size": 2, "divisor_override": 3},
    ], ids=lambda k: str(k))
    def test_avg_pool2d(self, torch, kw):
        _vs_torch(torch, F.avg_pool2d, torch.nn.functional.avg_pool2d, (_X4,), kw)

    def test_pools_positional_and_unbatched(self, torch):
        _vs_torch(torch, F.max_pool2d, torch.nn.functional.max_pool2d, (_X4[0], 2))
        _vs_torch(torch, F.avg_pool2d, torch.nn.functional.avg_pool2d, (_X4[0], 3, 1, 1))

    @pytest.mark.parametrize("shape", [(4, 3), (4, 3, 5), (2, 3, 4, 5)])
    def test_batch_norm_eval_and_train(self, torch, shape):
        x = rand(*shape)
        rm, rv = rand(3), np.abs(rand(3)) + 0.5
        w, b = rand(3), rand(3)
        out, m2, v2 = F.batch_norm(ft.asarray(x), ft.asarray(rm), ft.asarray(rv),
                                   ft.asarray(w), ft.asarray(b), training=False)
        ref = torch.nn.functional.batch_norm(_t(torch, x), _t(torch, rm), _t(torch, rv),
                                             _t(torch, w), _t(torch, b), training=False)
        assert_same(out, ref.numpy(), rtol=1e-5, atol=1e-5)
        assert_same(m2, rm)
        assert_same(v2, rv)
        trm, trv = _t(torch, rm.copy()), _t(torch, rv.copy())
        ref = torch.nn.functional.batch_norm(_t(torch, x), trm, trv, _t(torch, w), _t(torch, b),
                                             training=True, momentum=0.3, eps=1e-3)
        out, m2, v2 = F.batch_norm(ft.asarray(x), ft.asarray(rm), ft.asarray(rv), ft.asarray(w),
                                   ft.asarray(b), training=True, momentum=0.3, eps=1e-3)
        assert_same(out, ref.numpy(), rtol=1e-4, atol=1e-5)
        assert_same(m2, trm.numpy(), rtol=1e-5, atol=1e-6)
        assert_same(v2, trv.numpy(), rtol=1e-5, atol=1e-6)

    @pytest.mark.parametrize("ns,affine", [((7,), True), ((7,), False), ((6, 7), True),
                                           ([7], "weight")])
    def test_layer_norm(self, torch, ns, affine):
        w = rand(*tuple(ns)) if affine else None
        b = rand(*tuple(ns)) if affine is True else None
        _vs_torch(torch, F.layer_norm, torch.nn.functional.layer_norm, (_X4, ns, w, b),
                  rtol=1e-4, atol=1e-5)
        _vs_torch(torch, F.layer_norm, torch.nn.functional.layer_norm, (_X4, tuple(ns)),
                  {"eps": 1e-2}, rtol=1e-4, atol=1e-5)

    @pytest.mark.parametrize("idx", [np.array([[1, 2], [9, 0]]), np.array([1, 2, 0], np.int32),
                                     np.array(3)], ids=["2d", "int32", "0d"])
    def test_embedding(self, torch, idx):
        w = rand(10, 4)
        _vs_torch(torch, F.embedding, torch.nn.functional.embedding, (idx, w))
        _vs_torch(torch, F.embedding, torch.nn.functional.embedding, (idx, w), {"padding_idx": 0})

    @pytest.mark.parametrize("kw", [
        {}, {"reduction": "sum"}, {"reduction": "none"}, {"label_smoothing": 0.1},
        {"label_smoothing": 0.2, "reduction": "none"}, {"ignore_index": 1},
        {"ignore_index": 1, "label_smoothing": 0.1}, {"weight": np.arange(1, 5, dtype=np.float32)},
        {"weight": np.arange(1, 5, dtype=np.float32), "label_smoothing": 0.3},
        {"weight": np.arange(1, 5, dtype=np.float32), "ignore_index": 3, "reduction": "sum"},
    ], ids=lambda k: str({a: (b if not isinstance(b, np.ndarray) else "w") for a, b in k.items()}))
    @pytest.mark.parametrize("label_dtype", [np.int64, np.int32])
    def test_cross_entropy(self, torch, kw, label_dtype):
        logits = rand(5, 4)
        y = np.array([0, 3, 1, 1, 2]).astype(label_dtype)
        fa = F.cross_entropy(ft.asarray(logits), ft.asarray(y),
                             **{k: ft.asarray(v) if isinstance(v, np.ndarray) else v
                                for k, v in kw.items()})
        ta = torch.nn.functional.cross_entropy(
            _t(torch, logits), _t(torch, y.astype(np.int64)),
            **{k: _t(torch, v) if isinstance(v, np.ndarray) else v for k, v in kw.items()})
        assert_same(fa, ta.numpy(), rtol=1e-5, atol=1e-6)

    def test_cross_entropy_other_forms(self, torch):
        tf = torch.nn.functional.cross_entropy
        y4 = RNG.integers(0, 3, (2, 6, 7))
        _vs_torch(torch, F.cross_entropy, tf, (_X4, y4))
        _vs_torch(torch, F.cross_entropy, tf, (_X4, y4), {"reduction": "none"})
        _vs_torch(torch, F.cross_entropy, tf, (_X4, y4), {"label_smoothing": 0.15})
        _vs_torch(torch, F.cross_entropy, tf, (_V[0], np.array(2)))
        p = np.abs(_V) / np.abs(_V).sum(1, keepdims=True)
        _vs_torch(torch, F.cross_entropy, tf, (_V, p))
        _vs_torch(torch, F.cross_entropy, tf, (_V, p), {"label_smoothing": 0.2})
        _vs_torch(torch, F.cross_entropy, tf, (_V.astype(np.float64), np.array([0, 1, 2, 6])))
        # every target ignored: PyTorch returns nan for the mean
        _vs_torch(torch, F.cross_entropy, tf, (_V, np.full(4, -100)))

    def test_cross_entropy_out_of_range_label_raises(self):
        with pytest.raises((ValueError, IndexError), match=r"cross_entropy.*7"):
            F.cross_entropy(ft.ones((3, 4)), ft.tensor([0, 1, 7]))

    @pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none"},
                                    {"weight": np.arange(1, 5, dtype=np.float32)},
                                    {"ignore_index": 3}], ids=lambda k: str(list(k)))
    def test_nll_loss(self, torch, kw):
        lp = np.log(np.abs(_V[:, :4]) / np.abs(_V[:, :4]).sum(1, keepdims=True))
        _vs_torch(torch, F.nll_loss, torch.nn.functional.nll_loss, (lp, np.array([0, 3, 1, 1])),
                  kw)

    @pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
    def test_mse_and_bce_with_logits(self, torch, reduction):
        t = RNG.random((4, 7)).astype(np.float32)
        tf = torch.nn.functional
        _vs_torch(torch, F.mse_loss, tf.mse_loss, (_V, t), {"reduction": reduction})
        _vs_torch(torch, F.binary_cross_entropy_with_logits, tf.binary_cross_entropy_with_logits,
                  (_V * 50, t), {"reduction": reduction})
        _vs_torch(torch, F.binary_cross_entropy_with_logits, tf.binary_cross_entropy_with_logits,
                  (_V, t), {"reduction": reduction, "weight": np.full(7, 2.0, np.float32),
                            "pos_weight": np.arange(7, dtype=np.float32)})

    def test_losses_reject_bad_reduction(self):
        with pytest.raises(ValueError, match=r"mse_loss.*reduction.*'avg'"):
            F.mse_loss(ft.ones(3), ft.ones(3), reduction="avg")
        with pytest.raises(ValueError, match=r"cross_entropy.*reduction"):
            F.cross_entropy(ft.ones((2, 3)), ft.tensor([0, 1]), reduction="batchmean")

    def test_dropout(self):
        x = ft.ones((1000,))
        k = ft.random.key(0)
        y = F.dropout(x, 0.25, key=k)
        vals = np.unique(np.asarray(y))
        assert len(vals) == 2 and vals[0] == 0.0
        np.testing.assert_allclose(vals[1], 1 / 0.75, rtol=1e-6)
        assert 0.15 < float(ft.mean(y == 0)) < 0.35
        assert_same(F.dropout(x, p=0.25, key=k), y)                 # deterministic per key
        assert not np.array_equal(np.asarray(F.dropout(x, 0.25, key=ft.random.key(1))),
                                  np.asarray(y))
        assert_same(F.dropout(x, 0.5, training=False), x)
        assert_same(F.dropout(x, 0.0, key=k), x)
        assert_same(F.dropout(x, 1.0, key=k), np.zeros(1000, np.float32))
        assert F.dropout(ft.ones(8, ft.float16), 0.5, key=k).dtype == np.float16
        with pytest.raises(ValueError, match=r"dropout.*key"):
            F.dropout(x, 0.5)
        with pytest.raises(ValueError, match=r"dropout.*p"):
            F.dropout(x, 1.5, key=k)
        # under jit and vmap with explicit keys
        assert_same(ft.jit(lambda a, kk: F.dropout(a, 0.25, key=kk))(x, k), y)
        ys = ft.vmap(lambda kk: F.dropout(ft.ones(50), 0.5, key=kk))(ft.random.split(k, 3))
        assert ys.shape == (3, 50)

    def test_functional_errors_name_op_and_layout(self):
        with pytest.raises(ValueError, match=r"linear.*\(4, 5\)"):
            F.linear(ft.ones((2, 3)), ft.ones((4, 5)))
        with pytest.raises(ValueError, match=r"conv2d.*channels"):
            F.conv2d(ft.ones((1, 3, 5, 5)), ft.ones((2, 4, 3, 3)))
        with pytest.raises(ValueError, match=r"conv2d.*N,C,H,W"):
            F.conv2d(ft.ones((5, 5)), ft.ones((2, 4, 3, 3)))
        with pytest.raises(ValueError, match=r"layer_norm.*\(4,\)"):
            F.layer_norm(ft.ones((2, 3)), (4,))
        with pytest.raises(ValueError, match=r"cross_entropy.*\(2,\).*\(3, 4\)"):
            F.cross_entropy(ft.ones((3, 4)), ft.tensor([0, 1]))
        with pytest.raises(TypeError, match=r"softmax.*dim"):
            F.softmax(ft.ones((2, 3)))
        with pytest.raises(TypeError, match=r"embedding.*integer"):
            F.embedding(ft.tensor([1.0]), ft.ones((10, 3)))
