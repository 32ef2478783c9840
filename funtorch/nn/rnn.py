"""Recurrent layers: RNN, LSTM, GRU and their cells, with PyTorch's arguments, parameter
names and layouts, gate order and equations.

Each layer and direction is one ``ft.scan`` over time, so grad, vmap and jit need nothing
special. The input projection of all time steps (``x @ W_ih.T + b_ih``) is one matmul
before the loop; the loop body does only ``h @ W_hh.T`` and the gate arithmetic.

Gate layouts (rows of ``weight_ih``/``weight_hh``, as in PyTorch):

- RNN: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, act tanh or relu;
- LSTM: ``i, f, g, o``; ``c' = f * c + i * g``, ``h' = o * tanh(c')`` (``h' @ W_hr.T``
  with ``proj_size``);
- GRU: ``r, z, n``; ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``,
  ``h' = (1 - z) * n + z * h``.

Variable-length batches: ``lengths`` (one int per sequence) gives what running PyTorch's
layer on ``pack_padded_sequence(x, lengths)`` and ``pad_packed_sequence(...,
total_length=T)`` gives: outputs past a sequence's end are zero, ``h_n`` (and ``c_n``) come
from its last valid step, and the reverse direction of a bidirectional layer starts at
each sequence's own last step.
"""

from __future__ import annotations

import math

from .. import lax, random
from .. import numpy as fnp
from . import functional as F
from . import init
from .functional._checks import _check_sizes
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# --------------------------------------------------------------------------- one time step

def _rnn_act(mode):
    return fnp.tanh if mode == "RNN_TANH" else F.relu


def _cell_step(mode, xw, h, c, w_hh_t, b_hh, w_hr_t):
    """One step given the projected input ``xw = x @ W_ih.T + b_ih`` ([B, G*H]).

    ``w_hh_t`` is ``W_hh.T`` ([H_out, G*H]); returns ``(h', c')`` (``c`` None except LSTM)."""
    hw = fnp.matmul(h, w_hh_t)
    if b_hh is not None:
        hw = hw + b_hh
    if mode == "LSTM":
        gates = xw + hw
        i, f, g, o = fnp.split(gates, 4, axis=-1)
        c = fnp.sigmoid(f) * c + fnp.sigmoid(i) * fnp.tanh(g)
        h = fnp.sigmoid(o) * fnp.tanh(c)
        if w_hr_t is not None:
            h = fnp.matmul(h, w_hr_t)
        return h, c
    if mode == "GRU":
        xr, xz, xn = fnp.split(xw, 3, axis=-1)
        hr, hz, hn = fnp.split(hw, 3, axis=-1)
        r = fnp.sigmoid(xr + hr)
        z = fnp.sigmoid(xz + hz)
        n = fnp.tanh(xn + r * hn)
        return (1.0 - z) * n + z * h, None
    return _rnn_act(mode)(xw + hw), None


def _project(x, w_ih, b_ih):
    xw = fnp.matmul(x, fnp.transpose(w_ih))
    return xw if b_ih is None else xw + b_ih


# --------------------------------------------------------------------------- multi-layer RNNs

class RNNBase(Module):
    """The shared machinery of RNN, LSTM and GRU (PyTorch's ``nn.RNNBase``).

    Called as ``output, h_n = rnn(params, x, hx=None, lengths=None, *, key=None,
    train=False)`` (LSTM: ``output, (h_n, c_n)``, ``hx=(h_0, c_0)``). ``x`` is
    ``[T, B, input_size]`` (``[B, T, input_size]`` with ``batch_first``) or unbatched
    ``[T, input_size]``; states are ``[num_layers * num_directions, B, H]`` (unbatched:
    no B), zeros when ``hx`` is None. ``lengths`` ([B] ints) masks padded steps as
    ``pack_padded_sequence`` would (see the module docstring). ``dropout`` between layers
    needs ``key`` and ``train=True``.
    """

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0):
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, 1, hidden_size=hidden_size, num_layers=num_layers)
        _check_sizes(name, 0, input_size=input_size, proj_size=proj_size)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or \
                not 0 <= dropout <= 1:
            raise ValueError(f"funtorch.nn.{name}: dropout should be a number in range [0, 1] "
                             f"representing the probability of an element being zeroed, got "
                             f"{dropout!r}")
        if proj_size and mode != "LSTM":
            raise ValueError(f"funtorch.nn.{name}: proj_size argument is only supported for "
                             "LSTM, not RNN or GRU")
        if proj_size >= hidden_size:
            raise ValueError(f"funtorch.nn.{name}: proj_size ({proj_size}) has to be smaller "
                             f"than hidden_size ({hidden_size})")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def _out_size(self):
        return self.proj_size or self.hidden_size

    def _weight_shapes(self):
        """PyTorch's parameter names and shapes, in its order (``_flat_weights_names``)."""
        gate = _GATES[self.mode] * self.hidden_size
        shapes = {}
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else self._out_size * self.num_directions
            for d in range(self.num_directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes["weight_ih" + sfx] = (gate, in_size)
                shapes["weight_hh" + sfx] = (gate, self._out_size)
                if self.bias:
                    shapes["bias_ih" + sfx] = (gate,)
                    shapes["bias_hh" + sfx] = (gate,)
                if self.proj_size:
                    shapes["weight_hr" + sfx] = (self.proj_size, self.hidden_size)
        return shapes

    def reset_parameters(self, key):
        """Every tensor U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as in PyTorch."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        shapes = self._weight_shapes()
        keys = random.split(key, len(shapes))
        return {name: init.uniform(k, shape, -stdv, stdv)
                for k, (name, shape) in zip(keys, shapes.items())}

    # ---------------------------------------------------------------- calling

    def _check_input(self, x):
        name = type(self).__name__
        if x.ndim not in (2, 3):
            raise ValueError(f"funtorch.nn.{name}: expected input of rank 2 (unbatched "
                             f"[T, input_size]) or 3 ([T, B, input_size], batch_first "
                             f"[B, T, input_size]), got shape {tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"funtorch.nn.{name}: input.size(-1) must be equal to input_size. "
                             f"Expected {self.input_size}, got {x.shape[-1]} (input shape "
                             f"{tuple(x.shape)})")

    def _initial(self, hx, batch, dtype, unbatched):
        """``(h0, c0)`` as [L*D, B, H_out] / [L*D, B, H] (c0 None except LSTM)."""
        name = type(self).__name__
        n = self.num_layers * self.num_directions
        h_shape, c_shape = (n, batch, self._out_size), (n, batch, self.hidden_size)
        if hx is None:
            h0 = fnp.zeros(h_shape, dtype)
            return h0, (fnp.zeros(c_shape, dtype) if self.mode == "LSTM" else None)
        if self.mode == "LSTM":
            if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"funtorch.nn.{name}: hx must be a pair (h_0, c_0), got "
                                f"{type(hx).__name__}")
            h0, c0 = (fnp.asarray(v) for v in hx)
        else:
            h0, c0 = fnp.asarray(hx), None
        if unbatched:
            h0 = fnp.expand_dims(h0, 1)
            c0 = None if c0 is None else fnp.expand_dims(c0, 1)
        for arg, v, shape in (("h_0", h0, h_shape), ("c_0", c0, c_shape)):
            if v is not None and tuple(v.shape) != shape:
                want = shape[:1] + shape[2:] if unbatched else shape
                got = v.shape[:1] + v.shape[2:] if unbatched else v.shape
                raise ValueError(f"funtorch.nn.{name}: expected {arg} of shape {want} "
                                 f"(num_layers * num_directions, batch, hidden), got "
                                 f"{tuple(got)}")
        return h0, c0

    def __call__(self, params, x, hx=None, lengths=None, *, key=None, train=False):
        x = fnp.asarray(x)
        self._check_input(x)
        unbatched = x.ndim == 2
        if unbatched:
            x = fnp.expand_dims(x, 1)
            if lengths is not None:
                raise ValueError(f"funtorch.nn.{type(self).__name__}: lengths needs a batched "
                                 "input")
        elif self.batch_first:
            x = fnp.swapaxes(x, 0, 1)
        T, B = x.shape[0], x.shape[1]
        h0, c0 = self._initial(hx, B, x.dtype, unbatched)
        mask = None
        if lengths is not None:
            lengths = fnp.asarray(lengths)
            if tuple(lengths.shape) != (B,):
                raise ValueError(f"funtorch.nn.{type(self).__name__}: lengths must have one "
                                 f"entry per sequence, shape ({B},), got {tuple(lengths.shape)}")
            mask = fnp.arange(T)[:, None] < lengths[None, :]           # [T, B]
        dropping = train and self.dropout > 0 and self.num_layers > 1
        if dropping and key is None:
            raise ValueError(f"funtorch.nn.{type(self).__name__}: dropout={self.dropout} "
                             "between layers in training needs a random key: pass key=")
        layer_keys = random.split(key, self.num_layers) if dropping else None
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            if layer and dropping:
                x = F.dropout(x, self.dropout, training=True, key=layer_keys[layer])
            outs = []
            for d in range(self.num_directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                i = layer * self.num_directions + d
                out, h, c = self._direction(params, sfx, x, h0[i],
                                            None if c0 is None else c0[i], mask, bool(d))
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = outs[0] if len(outs) == 1 else fnp.concatenate(outs, axis=-1)
        h_n = fnp.stack(h_n)
        c_n = fnp.stack(c_n) if self.mode == "LSTM" else None
        if unbatched:
            x, h_n = x[:, 0], h_n[:, 0]
            c_n = None if c_n is None else c_n[:, 0]
        elif self.batch_first:
            x = fnp.swapaxes(x, 0, 1)
        return x, ((h_n, c_n) if self.mode == "LSTM" else h_n)

    def step(self, params, x, hx=None):
        """One time step, for autoregressive decoding: ``x`` [B, input_size] (or
        [input_size]) -> ``(out, hx)``, ``out`` [B, H_out] the last layer's new state and
        ``hx`` as ``__call__`` returns it (``h_n`` or ``(h_n, c_n)``). The same numbers as
        ``self(params, x[None], hx)`` (time-major) without a loop; evaluation mode (no
        dropout); unidirectional layers only."""
        if self.bidirectional:
            raise ValueError(f"funtorch.nn.{type(self).__name__}.step: a bidirectional layer "
                             "needs the whole sequence; step runs unidirectional layers only")
        x = fnp.asarray(x)
        unbatched = x.ndim == 1
        if unbatched:
            x = x[None]
        if x.ndim != 2 or x.shape[-1] != self.input_size:
            raise ValueError(f"funtorch.nn.{type(self).__name__}.step: expected x of shape "
                             f"[B, {self.input_size}], got {tuple(x.shape)}")
        h0, c0 = self._initial(hx, x.shape[0], x.dtype, unbatched)
        hs, cs = [], []
        for layer in range(self.num_layers):
            sfx = f"_l{layer}"
            b_ih = params.get("bias_ih" + sfx) if self.bias else None
            b_hh = params.get("bias_hh" + sfx) if self.bias else None
            w_hr = params.get("weight_hr" + sfx) if self.proj_size else None
            xw = _project(x, self._param(params, "weight_ih" + sfx), b_ih)
            x, c = _cell_step(self.mode, xw, h0[layer], None if c0 is None else c0[layer],
                              fnp.transpose(self._param(params, "weight_hh" + sfx)), b_hh,
                              None if w_hr is None else fnp.transpose(w_hr))
            hs.append(x)
            cs.append(c)
        h_n = fnp.stack(hs)
        c_n = fnp.stack(cs) if self.mode == "LSTM" else None
        if unbatched:
            x, h_n = x[0], h_n[:, 0]
            c_n = None if c_n is None else c_n[:, 0]
        return x, ((h_n, c_n) if self.mode == "LSTM" else h_n)

    def _direction(self, params, sfx, x, h, c, mask, reverse):
        """One layer in one direction over time-major ``x`` [T, B, in]."""
        w_ih = self._param(params, "weight_ih" + sfx)
        w_hh_t = fnp.transpose(self._param(params, "weight_hh" + sfx))
        b_ih = params.get("bias_ih" + sfx) if self.bias else None
        b_hh = params.get("bias_hh" + sfx) if self.bias else None
        w_hr = params.get("weight_hr" + sfx) if self.proj_size else None
        w_hr_t = None if w_hr is None else fnp.transpose(w_hr)
        if self.mode != "GRU" and b_hh is not None:
            # both biases go into the projection (GRU's b_hn must stay inside r * (...))
            b_ih, b_hh = b_ih + b_hh, None
        xw = _project(x, w_ih, b_ih)                                   # [T, B, G*H]
        mode = self.mode
        lstm = mode == "LSTM"

        if mask is None:
            def step(carry, xw_t):
                h, c = carry if lstm else (carry, None)
                h, c = _cell_step(mode, xw_t, h, c, w_hh_t, b_hh, w_hr_t)
                return ((h, c) if lstm else h), h
            carry, out = lax.scan(step, (h, c) if lstm else h, xw, reverse=reverse)
        else:
            def step(carry, inp):
                xw_t, m = inp
                h, c = carry if lstm else (carry, None)
                h2, c2 = _cell_step(mode, xw_t, h, c, w_hh_t, b_hh, w_hr_t)
                m = m[:, None]
                h = fnp.where(m, h2, h)
                out = fnp.where(m, h2, fnp.zeros_like(h2))
                if lstm:
                    return (h, fnp.where(m, c2, c)), out
                return h, out
            carry, out = lax.scan(step, (h, c) if lstm else h, (xw, mask), reverse=reverse)
        h, c = carry if lstm else (carry, None)
        return out, h, c

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN, ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or relu)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"funtorch.nn.RNN: unknown nonlinearity {nonlinearity!r}; "
                             "choose 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional)


class LSTM(RNNBase):
    """Long short-term memory; ``output, (h_n, c_n) = lstm(params, x, (h_0, c_0))``."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size)


class GRU(RNNBase):
    """Gated recurrent unit, gates ``r, z, n`` (``b_hn`` inside ``r * (...)``)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional)


# --------------------------------------------------------------------------- cells

class RNNCellBase(Module):
    """One time step: ``h' = cell(params, x, hx=None)`` (LSTMCell: ``(h', c') = cell(params,
    x, (h, c))``); ``x`` is [B, input_size] or unbatched [input_size]."""

    def __init__(self, mode, input_size, hidden_size, bias=True):
        super().__init__()
        _check_sizes(type(self).__name__, 0, input_size=input_size, hidden_size=hidden_size)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias

    def reset_parameters(self, key):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        gate = _GATES[self.mode] * self.hidden_size
        shapes = {"weight_ih": (gate, self.input_size), "weight_hh": (gate, self.hidden_size)}
        if self.bias:
            shapes.update(bias_ih=(gate,), bias_hh=(gate,))
        keys = random.split(key, len(shapes))
        return {name: init.uniform(k, shape, -stdv, stdv)
                for k, (name, shape) in zip(keys, shapes.items())}

    def __call__(self, params, x, hx=None):
        name = type(self).__name__
        x = fnp.asarray(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"funtorch.nn.{name}: expected input [B, {self.input_size}] or "
                             f"[{self.input_size}], got shape {tuple(x.shape)}")
        unbatched = x.ndim == 1
        if unbatched:
            x = x[None]
        lstm = self.mode == "LSTM"
        shape = (x.shape[0], self.hidden_size)
        if hx is None:
            h = fnp.zeros(shape, x.dtype)
            c = fnp.zeros(shape, x.dtype) if lstm else None
        else:
            if lstm and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"funtorch.nn.{name}: hx must be a pair (h, c), got "
                                f"{type(hx).__name__}")
            h, c = (fnp.asarray(v) for v in hx) if lstm else (fnp.asarray(hx), None)
            if unbatched:
                h = h[None]
                c = None if c is None else c[None]
            for arg, v in (("hx", h), ("cx", c)):
                if v is not None and tuple(v.shape) != shape:
                    raise ValueError(f"funtorch.nn.{name}: expected {arg} of shape {shape} "
                                     f"(batch, hidden_size), got {tuple(v.shape)}")
        b_ih = params.get("bias_ih") if self.bias else None
        b_hh = params.get("bias_hh") if self.bias else None
        xw = _project(x, self._param(params, "weight_ih"), b_ih)
        w_hh_t = fnp.transpose(self._param(params, "weight_hh"))
        h, c = _cell_step(self.mode, xw, h, c, w_hh_t, b_hh, None)
        if unbatched:
            h = h[0]
            c = None if c is None else c[0]
        return (h, c) if lstm else h

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        return s


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"funtorch.nn.RNNCell: unknown nonlinearity {nonlinearity!r}; "
                             "choose 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, bias)

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity}"


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__("LSTM", input_size, hidden_size, bias)


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__("GRU", input_size, hidden_size, bias)
