"""Dropout and Dropout2d: random zeroing in training, identity in evaluation."""

from __future__ import annotations

from . import functional as F
from .activation import _Inplace

__all__ = ["Dropout", "Dropout2d"]


class Dropout(_Inplace):
    """Needs ``key=`` when called with ``train=True`` (Sequential passes each layer its own)."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__(inplace)
        if isinstance(p, (str, bytes)) or p is None or not 0.0 <= p <= 1.0:
            raise ValueError(f"funtorch.nn.Dropout: p must be a number in [0, 1], got {p!r}")
        self.p = p

    def __call__(self, params, x, *, key=None, train=False):
        if train and key is None and 0.0 < self.p < 1.0:
            raise ValueError(f"funtorch.nn.{type(self).__name__}: training-mode dropout "
                             "(train=True) needs a random key: "
                             "call model(params, x, key=ft.random.key(seed), train=True) "
                             "(split the key per step), or pass train=False to evaluate")
        return F.dropout(x, self.p, key=key, training=train)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Zeroes whole channels (``F.dropout2d``); needs ``key=`` with ``train=True``."""

    def __call__(self, params, x, *, key=None, train=False):
        return F.dropout2d(x, self.p, key=key, training=train)
