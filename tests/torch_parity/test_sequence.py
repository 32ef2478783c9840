"""Sequence models against PyTorch: RNN/LSTM/GRU (every constructor option, initial states,
pack_padded_sequence), the cells, scaled_dot_product_attention, MultiheadAttention, the
Transformer layers and stacks, RMSNorm; state_dicts both ways, forward values in eval mode
and gradients against torch autograd."""

import numpy as np
import pytest

import funtorch as ft
import funtorch.nn as nn
import funtorch.nn.functional as F

from .common import close, rand

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def from_torch(m):
    return {k: v.detach().numpy() for k, v in m.state_dict().items()}


def to_torch(torch, m, flat):
    m.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in flat.items()})
    return m


def np_(t):
    return t.detach().numpy()


# --------------------------------------------------------------------------- recurrent layers

RNN_CASES = [
    ("RNN", dict()),
    ("RNN", dict(num_layers=2, nonlinearity="relu", bias=False)),
    ("RNN", dict(bidirectional=True, batch_first=True)),
    ("LSTM", dict()),
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("LSTM", dict(proj_size=3, num_layers=2, batch_first=True)),
    ("LSTM", dict(proj_size=3, bidirectional=True, bias=False)),
    ("GRU", dict()),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True)),
    ("GRU", dict(bias=False, num_layers=3)),
]


def _rnn_pair(torch, name, kw):
    torch.manual_seed(0)
    t = getattr(torch.nn, name)(4, 6, **kw).eval()
    m = getattr(nn, name)(4, 6, **kw)
    return t, m, m.load_state_dict(from_torch(t))


def _hx(torch, name, kw, B, seed=3):
    D = 2 if kw.get("bidirectional") else 1
    n = kw.get("num_layers", 1) * D
    h = rand(n, B, kw.get("proj_size") or 6, seed=seed)
    if name == "LSTM":
        return (h, rand(n, B, 6, seed=seed + 1))
    return h


def _torch_hx(torch, hx):
    return tuple(torch.tensor(h) for h in hx) if isinstance(hx, tuple) else torch.tensor(hx)


def _states_close(ours, ref):
    if isinstance(ref, tuple):
        for a, b in zip(ours, ref):
            close(a, b)
    else:
        close(ours, ref)


@pytest.mark.parametrize("name,kw", RNN_CASES)
def test_rnn_forward_with_and_without_initial_state(torch, name, kw):
    t, m, params = _rnn_pair(torch, name, kw)
    assert list(nn.state_dict(params)) == list(t.state_dict())
    x = rand(5, 3, 4)                                   # [B, T, in] with batch_first
    out_t, h_t = t(torch.tensor(x))
    out, h = m(params, x)
    close(out, out_t)
    _states_close(h, h_t)
    hx = _hx(torch, name, kw, B=3 if not kw.get("batch_first") else 5)
    out_t, h_t = t(torch.tensor(x), _torch_hx(torch, hx))
    out, h = m(params, x, hx)
    close(out, out_t)
    _states_close(h, h_t)


@pytest.mark.parametrize("name,kw", RNN_CASES[::3])
def test_rnn_unbatched_and_state_dict_back(torch, name, kw):
    t, m, params = _rnn_pair(torch, name, kw)
    x = rand(5, 4)
    out_t, h_t = t(torch.tensor(x))
    out, h = m(params, x)
    close(out, out_t)
    _states_close(h, h_t)
    # funtorch's fresh parameters load into torch and agree
    fresh = m.init(ft.random.key(7))
    t2 = to_torch(torch, getattr(torch.nn, name)(4, 6, **kw).eval(), m.state_dict(fresh))
    close(m(fresh, x)[0], t2(torch.tensor(x))[0])


@pytest.mark.parametrize("name,kw", [RNN_CASES[2], RNN_CASES[4], RNN_CASES[5], RNN_CASES[8]])
def test_rnn_lengths_match_pack_padded_sequence(torch, name, kw):
    t, m, params = _rnn_pair(torch, name, kw)
    bf = kw.get("batch_first", False)
    T, B = 6, 4
    lengths = np.array([6, 2, 5, 1])
    x = rand(*((B, T, 4) if bf else (T, B, 4)))
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), torch.tensor(lengths),
                                                     batch_first=bf, enforce_sorted=False)
    hx = _hx(torch, name, kw, B)
    out_t, h_t = t(packed, _torch_hx(torch, hx))
    out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_t, batch_first=bf, total_length=T)
    out, h = m(params, x, hx, lengths=lengths)
    close(out, out_t)
    _states_close(h, h_t)
    # and under jit, lengths traced
    out_j, _ = ft.jit(lambda p, x, h, n: m(p, x, h, lengths=n))(params, x, hx, lengths)
    close(out_j, out_t)


@pytest.mark.parametrize("name,kw", [RNN_CASES[0], RNN_CASES[4], RNN_CASES[5], RNN_CASES[7]])
def test_rnn_gradients_match_torch(torch, name, kw):
    t, m, params = _rnn_pair(torch, name, kw)
    x = rand(3, 2, 4) if not kw.get("batch_first") else rand(2, 3, 4)
    ct = rand(*np_(t(torch.tensor(x))[0]).shape, seed=5)

    def loss(p, x):
        out, h = m(p, x)
        h = h[0] if isinstance(h, tuple) else h
        return (out * ct).sum() + (h * h).sum()

    gp, gx = ft.grad(loss, argnums=(0, 1))(params, x)
    xt = torch.tensor(x, requires_grad=True)
    out_t, h_t = t(xt)
    h_t = h_t[0] if isinstance(h_t, tuple) else h_t
    ((out_t * torch.tensor(ct)).sum() + (h_t * h_t).sum()).backward()
    close(gx, xt.grad, 1e-4, 1e-5)
    for k, v in t.named_parameters():
        close(gp[k], v.grad, 1e-4, 1e-5)


def test_rnn_step_is_one_time_step(torch):
    t, m, params = _rnn_pair(torch, "LSTM", dict(num_layers=2, proj_size=3))
    x, hx = rand(2, 4), _hx(torch, "LSTM", dict(num_layers=2, proj_size=3), 2)
    out_t, (h_t, c_t) = t(torch.tensor(x[None]), _torch_hx(torch, hx))
    out, (h, c) = m.step(params, x, hx)
    close(out, out_t[0])
    close(h, h_t)
    close(c, c_t)


def test_rnn_dropout_between_layers_needs_key_and_is_deterministic(torch):
    m = nn.GRU(4, 6, num_layers=2, dropout=0.5)
    p = m.init(ft.random.key(0))
    x = rand(5, 2, 4)
    with pytest.raises(ValueError, match="key"):
        m(p, x, train=True)
    a = m(p, x, train=True, key=ft.random.key(1))[0]
    b = m(p, x, train=True, key=ft.random.key(1))[0]
    c = m(p, x, train=True, key=ft.random.key(2))[0]
    close(a, b)
    assert not np.allclose(np.asarray(a), np.asarray(c))
    close(m(p, x)[0], m(p, x, key=ft.random.key(1))[0])       # eval: no dropout


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells(torch, name):
    torch.manual_seed(0)
    t = getattr(torch.nn, name)(4, 5)
    m = getattr(nn, name)(4, 5)
    params = m.load_state_dict(from_torch(t))
    assert list(params) == list(t.state_dict())
    x = rand(3, 4)
    close(m(params, x)[0] if name == "LSTMCell" else m(params, x),
          t(torch.tensor(x))[0] if name == "LSTMCell" else t(torch.tensor(x)))
    h = rand(3, 5, seed=2)
    hx = (h, rand(3, 5, seed=3)) if name == "LSTMCell" else h
    _states_close(m(params, x, hx), t(torch.tensor(x), _torch_hx(torch, hx)))
    # unbatched
    _states_close(m(params, x[0]), t(torch.tensor(x[0])))


def test_rnn_init_distribution_and_repr(torch):
    m = nn.LSTM(10, 20, num_layers=2, bidirectional=True, proj_size=5)
    t = torch.nn.LSTM(10, 20, num_layers=2, bidirectional=True, proj_size=5)
    p = m.init(ft.random.key(0))
    assert {k: tuple(v.shape) for k, v in p.items()} == \
        {k: tuple(v.shape) for k, v in t.state_dict().items()}
    w = np.concatenate([np.asarray(v).ravel() for v in p.values()])
    bound = 1 / np.sqrt(20)
    assert w.min() >= -bound and w.max() <= bound and w.std() > bound / 2
    assert repr(m) == repr(t)
    assert repr(nn.RNNCell(3, 4, nonlinearity="relu")) == \
        repr(torch.nn.RNNCell(3, 4, nonlinearity="relu"))
    assert repr(nn.RNN(3, 4, nonlinearity="relu", batch_first=True)) == \
        repr(torch.nn.RNN(3, 4, nonlinearity="relu", batch_first=True))
    assert repr(nn.GRUCell(3, 4, bias=False)) == repr(torch.nn.GRUCell(3, 4, bias=False))


def test_rnn_bad_input_errors():
    m = nn.LSTM(4, 6)
    p = m.init(ft.random.key(0))
    with pytest.raises(ValueError, match="input_size"):
        m(p, rand(3, 2, 5))
    with pytest.raises(ValueError, match="h_0"):
        m(p, rand(3, 2, 4), (rand(1, 3, 6), rand(1, 3, 6)))
    with pytest.raises(ValueError, match="lengths"):
        m(p, rand(3, 2, 4), lengths=np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(4, 6, proj_size=6)


# --------------------------------------------------------------------------- attention

SDPA_CASES = [dict(), dict(is_causal=True), dict(scale=0.3), dict(mask="bool"),
              dict(mask="float"), dict(mask="bool_dead_row")]


@pytest.mark.parametrize("kw", SDPA_CASES)
def test_sdpa(torch, kw):
    q, k, v = rand(2, 3, 5, 4), rand(2, 3, 7, 4, seed=1), rand(2, 3, 7, 6, seed=2)
    kw = dict(kw)
    mask = kw.pop("mask", None)
    if mask == "bool":
        kw["attn_mask"] = np.random.default_rng(0).random((5, 7)) > 0.3
    elif mask == "float":
        kw["attn_mask"] = rand(2, 1, 5, 7, seed=3)
    elif mask == "bool_dead_row":
        kw["attn_mask"] = np.ones((5, 7), bool)
        kw["attn_mask"][2] = False                     # every key masked: 0, as in torch
    tkw = {a: torch.tensor(b) if isinstance(b, np.ndarray) else b for a, b in kw.items()}
    ref = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(a) for a in (q, k, v)), **tkw)
    close(F.scaled_dot_product_attention(q, k, v, **kw), ref)
    # gradients (the fully masked row has a zero gradient in both)
    qt, kt, vt = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    ct = rand(*ref.shape, seed=9)
    (torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, **tkw)
     * torch.tensor(ct)).sum().backward()
    g = ft.grad(lambda q, k, v: (F.scaled_dot_product_attention(q, k, v, **kw) * ct).sum(),
                argnums=(0, 1, 2))(q, k, v)
    for a, b in zip(g, (qt, kt, vt)):
        close(a, b.grad, 1e-4, 1e-5)


def test_sdpa_gqa_and_dropout(torch):
    q, k, v = rand(1, 4, 3, 2), rand(1, 2, 5, 2, seed=1), rand(1, 2, 5, 2, seed=2)
    ref = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(a) for a in (q, k, v)), enable_gqa=True)
    close(F.scaled_dot_product_attention(q, k, v, enable_gqa=True), ref)
    with pytest.raises(ValueError, match="dropout_key"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    a = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5, dropout_key=ft.random.key(0))
    b = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5, dropout_key=ft.random.key(0))
    close(a, b)


MHA_CASES = [dict(), dict(batch_first=True), dict(kdim=3, vdim=5), dict(bias=False),
             dict(add_bias_kv=True, add_zero_attn=True)]


@pytest.mark.parametrize("kw", MHA_CASES)
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_multihead_attention(torch, kw, need_weights, average):
    torch.manual_seed(0)
    t = torch.nn.MultiheadAttention(8, 2, **kw).eval()
    m = nn.MultiheadAttention(8, 2, **kw)
    params = m.load_state_dict(from_torch(t))
    assert list(nn.state_dict(params)) == list(t.state_dict())
    q, k, v = rand(4, 3, 8), rand(6, 3, kw.get("kdim", 8), seed=1), \
        rand(6, 3, kw.get("vdim", 8), seed=2)
    if kw.get("batch_first"):
        q, k, v = (a.swapaxes(0, 1).copy() for a in (q, k, v))
    kpm = np.zeros((3, 6), bool)
    kpm[1, 4:] = True
    attn_mask = rand(4, 6, seed=4)
    out_t, w_t = t(*(torch.tensor(a) for a in (q, k, v)), key_padding_mask=torch.tensor(kpm),
                   attn_mask=torch.tensor(attn_mask), need_weights=need_weights,
                   average_attn_weights=average)
    out, w = m(params, q, k, v, key_padding_mask=kpm, attn_mask=attn_mask,
               need_weights=need_weights, average_attn_weights=average)
    close(out, out_t)
    assert (w is None) == (w_t is None)
    if w is not None:
        close(w, w_t)
    # round trip: funtorch's initialisation loads into torch
    fresh = m.init(ft.random.key(3))
    t2 = to_torch(torch, torch.nn.MultiheadAttention(8, 2, **kw).eval(), m.state_dict(fresh))
    close(m(fresh, q, k, v)[0], t2(*(torch.tensor(a) for a in (q, k, v)))[0])


def test_multihead_attention_masks_unbatched_and_grad(torch):
    torch.manual_seed(0)
    t = torch.nn.MultiheadAttention(8, 4).eval()
    m = nn.MultiheadAttention(8, 4)
    params = m.load_state_dict(from_torch(t))
    x = rand(5, 8)
    causal = np.triu(np.ones((5, 5), bool), 1)       # bool: True = not allowed
    out_t, w_t = t(*(torch.tensor(x),) * 3, attn_mask=torch.tensor(causal))
    out, w = m(params, x, x, x, attn_mask=causal)
    close(out, out_t)
    close(w, w_t)
    out_c, _ = m(params, x, x, x, is_causal=True, need_weights=False)
    close(out_c, out_t)
    m3 = rand(4 * 2, 5, 5, seed=6)                     # per-head 3-D float mask
    x3 = rand(5, 2, 8, seed=7)
    close(m(params, x3, x3, x3, attn_mask=m3)[0],
          t(*(torch.tensor(x3),) * 3, attn_mask=torch.tensor(m3))[0])
    # gradient w.r.t. parameters and input
    xt = torch.tensor(x3, requires_grad=True)
    t(xt, xt, xt, need_weights=False)[0].pow(2).sum().backward()
    gp, gx = ft.grad(lambda p, x: (m(p, x, x, x, need_weights=False)[0] ** 2).sum(),
                     argnums=(0, 1))(params, x3)
    close(gx, xt.grad, 1e-4, 1e-5)
    for k, v in nn.state_dict(gp).items():
        close(v, dict(t.named_parameters())[k].grad, 1e-4, 1e-5)


def test_mha_init_and_repr(torch):
    m = nn.MultiheadAttention(16, 4, add_bias_kv=True)
    p = m.init(ft.random.key(0))
    assert np.all(np.asarray(p["in_proj_bias"]) == 0)
    assert np.all(np.asarray(p["out_proj"]["bias"]) == 0)
    bound = np.sqrt(6 / (16 + 48))                      # xavier_uniform on [3E, E]
    w = np.asarray(p["in_proj_weight"])
    assert w.shape == (48, 16) and np.abs(w).max() <= bound and w.std() > bound / 3
    assert "out_proj" in repr(m)


# --------------------------------------------------------------------------- transformers

LAYER_CASES = [dict(), dict(norm_first=True, activation="gelu", batch_first=True),
               dict(bias=False, layer_norm_eps=1e-6)]


def _seq(shape_tm, batch_first, seed):
    x = rand(*shape_tm, seed=seed)
    return x.swapaxes(0, 1).copy() if batch_first else x


@pytest.mark.parametrize("kw", LAYER_CASES)
def test_transformer_encoder_layer_and_stack(torch, kw):
    torch.manual_seed(0)
    bf = kw.get("batch_first", False)
    t = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 16, **kw), 2,
                                    norm=torch.nn.LayerNorm(8), enable_nested_tensor=False)
    t.eval()
    m = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, **kw), 2,
                              norm=nn.LayerNorm(8))
    params = m.load_state_dict(from_torch(t))
    assert list(nn.state_dict(params)) == list(t.state_dict())
    x = _seq((5, 3, 8), bf, 1)
    mask = np.asarray(nn.Transformer.generate_square_subsequent_mask(5))
    close(mask, torch.nn.Transformer.generate_square_subsequent_mask(5))
    kpm = np.zeros((3, 5), bool)
    kpm[0, 3:] = True
    ref = t(torch.tensor(x), mask=torch.tensor(mask), src_key_padding_mask=torch.tensor(kpm))
    close(m(params, x, mask, kpm), ref)
    close(m.layers[0](params["layers"]["0"], x),
          t.layers[0](torch.tensor(x)))
    # and back
    fresh = m.init(ft.random.key(4))
    t2 = to_torch(torch, t, m.state_dict(fresh))
    close(m(fresh, x, mask), t2(torch.tensor(x), mask=torch.tensor(mask)))


@pytest.mark.parametrize("kw", LAYER_CASES[:2])
def test_transformer_decoder_and_full_model(torch, kw):
    torch.manual_seed(0)
    bf = kw.get("batch_first", False)
    t = torch.nn.Transformer(8, 2, 2, 1, 16, **kw).eval()
    m = nn.Transformer(8, 2, 2, 1, 16, **kw)
    params = m.load_state_dict(from_torch(t))
    assert list(nn.state_dict(params)) == list(t.state_dict())
    src, tgt = _seq((6, 2, 8), bf, 1), _seq((4, 2, 8), bf, 2)
    tgt_mask = np.asarray(nn.Transformer.generate_square_subsequent_mask(4))
    mkpm = np.zeros((2, 6), bool)
    mkpm[1, 4:] = True
    ref = t(torch.tensor(src), torch.tensor(tgt), tgt_mask=torch.tensor(tgt_mask),
            memory_key_padding_mask=torch.tensor(mkpm))
    close(m(params, src, tgt, tgt_mask=tgt_mask, memory_key_padding_mask=mkpm), ref)
    # gradients through the whole model
    srct = torch.tensor(src, requires_grad=True)
    t(srct, torch.tensor(tgt), tgt_mask=torch.tensor(tgt_mask)).pow(2).sum().backward()
    gp, gx = ft.grad(lambda p, s: (m(p, s, tgt, tgt_mask=tgt_mask) ** 2).sum(),
                     argnums=(0, 1))(params, src)
    close(gx, srct.grad, 1e-4, 1e-4)
    named = dict(t.named_parameters())
    for k, v in nn.state_dict(gp).items():
        close(v, named[k].grad, 1e-4, 1e-4)


def test_transformer_defaults_init_and_dropout(torch):
    m = nn.Transformer(16, 2, 1, 1, 32)
    t = torch.nn.Transformer(16, 2, 1, 1, 32)
    assert repr(m) == repr(t)
    d = nn.TransformerEncoderLayer(16, 2)
    assert (d.linear1.out_features, d.dropout.p, d.norm_first, d.batch_first) == \
        (2048, 0.1, False, False)
    p = m.init(ft.random.key(0))
    w = np.asarray(p["encoder"]["layers"]["0"]["linear1"]["weight"])
    assert np.abs(w).max() <= np.sqrt(6 / (16 + 32))    # xavier_uniform on every matrix
    src, tgt = rand(3, 2, 16), rand(2, 2, 16, seed=1)
    with pytest.raises(ValueError, match="key"):
        m(p, src, tgt, train=True)
    a = m(p, src, tgt, train=True, key=ft.random.key(1))
    b = m(p, src, tgt, train=True, key=ft.random.key(1))
    close(a, b)
    assert not np.allclose(np.asarray(a), np.asarray(m(p, src, tgt)))


# --------------------------------------------------------------------------- small layers

def test_rmsnorm_identity_containers(torch):
    x = rand(3, 4, 5)
    for kw in (dict(), dict(eps=1e-3), dict(elementwise_affine=False)):
        t = torch.nn.RMSNorm([4, 5], **kw)
        m = nn.RMSNorm([4, 5], **kw)
        p = m.init(ft.random.key(0))
        if p:
            p = {"weight": rand(4, 5, seed=2)}
            to_torch(torch, t, p)
        close(m(p, x), t(torch.tensor(x)))
        assert repr(m) == repr(t)
    assert nn.Identity(3, foo=1)({}, x) is x
    layers = nn.ModuleList([nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)])
    layers.append(nn.Linear(1, 1))
    d = nn.ModuleDict({"a": nn.Linear(2, 2)})
    d["b"] = nn.Linear(2, 1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers, self.heads = layers, d

    tl = torch.nn.ModuleList([torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1),
                              torch.nn.Linear(1, 1)])
    td = torch.nn.ModuleDict({"a": torch.nn.Linear(2, 2), "b": torch.nn.Linear(2, 1)})
    tnet = torch.nn.Module()
    tnet.layers, tnet.heads = tl, td
    p = Net().init(ft.random.key(0))
    assert list(nn.state_dict(p)) == list(tnet.state_dict())
    assert len(layers) == 4 and isinstance(layers[1], nn.ReLU) and list(d) == ["a", "b"]
    assert repr(layers[:2]).startswith("ModuleList(")
    with pytest.raises(TypeError, match="not callable"):
        layers({}, x)
