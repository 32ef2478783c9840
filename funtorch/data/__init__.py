"""Datasets (MNIST, Fashion-MNIST, a bundled MNIST sample; the fortune corpora, the CO2 and
sunspot series), tokenizers, splits and minibatch iteration (``batches``, ``lm_batches``).

Data stays in numpy until a batch is taken, so loading never depends on the array library
or a device; shuffling uses an explicit ``funtorch.random`` key, so an epoch's order is
reproducible from the key alone.
"""

from __future__ import annotations

import operator

import numpy as np

from .fortunes import Corpus, fortunes
from .idx import read_idx, write_idx
from .mnist import DownloadError, fashion_mnist, load_dataset, mnist, mnist_sample
from .series import TimeSeries, co2, sunspots, windows
from .splits import split_by_time, split_records
from .tokenizers import BPETokenizer, ByteTokenizer, CharTokenizer, load_tokenizer

__all__ = [
    "batches", "mnist", "fashion_mnist", "mnist_sample", "load_dataset", "read_idx",
    "write_idx", "DownloadError",
    "fortunes", "Corpus", "co2", "sunspots", "TimeSeries", "windows", "lm_batches",
    "split_by_time", "split_records", "ByteTokenizer", "CharTokenizer", "BPETokenizer",
    "load_tokenizer",
]


def batches(*arrays, batch_size, key=None, drop_last=True, shard=None):
    """Minibatches over the leading axis: an iterable of tuples, one slice per array.

    With ``key``, the order is ``funtorch.random.permutation(key, n)``; pass a fresh key
    (e.g. ``fold_in(key, epoch)``) each epoch. ``drop_last`` keeps every batch the same
    shape, which spares ``jit`` a retrace for the short final batch. ``len()`` gives the
    number of batches. Arguments are checked here, not at the first ``next()``.

    ``shard=(index, count)`` (e.g. ``(ft.distributed.process_index(),
    ft.distributed.process_count())``): ``batch_size`` is the global batch and this
    process gets part ``index`` of ``count`` equal, disjoint parts of every global batch
    (``batch_size // count`` rows), all processes drawing from the same order (the same
    ``key``), so an epoch covers the data once across them. A short final batch
    (``drop_last=False``) is split as evenly as it goes.
    """
    if not arrays:
        raise TypeError("batches: pass at least one array, e.g. batches(x, y, batch_size=32)")
    if isinstance(batch_size, bool):
        raise TypeError(f"batches: batch_size must be a positive int, got {batch_size!r}")
    try:
        batch_size = operator.index(batch_size)
    except TypeError:
        raise TypeError(
            f"batches: batch_size must be a positive int, got {type(batch_size).__name__} "
            f"{batch_size!r}"
        ) from None
    if batch_size <= 0:
        raise ValueError(f"batches: batch_size must be positive, got {batch_size}")
    arrays = tuple(a if hasattr(a, "shape") else np.asarray(a) for a in arrays)
    for i, a in enumerate(arrays):
        if len(a.shape) == 0:
            raise ValueError(f"batches: array {i} is a scalar; every array needs a leading axis")
    lengths = [a.shape[0] for a in arrays]
    if len(set(lengths)) > 1:
        shapes = ", ".join(f"{tuple(a.shape)}" for a in arrays)
        raise ValueError(
            f"batches: arrays must share their leading length, got shapes {shapes}"
        )
    n = lengths[0]
    shard = _check_shard(shard, batch_size)
    order = None if key is None else _permutation(key, n)
    return _Batches(arrays, n, batch_size, order, drop_last, shard)


def _check_shard(shard, batch_size):
    if shard is None:
        return (0, 1)
    try:
        index, count = (operator.index(v) for v in shard)
    except (TypeError, ValueError):
        raise TypeError(f"batches: shard must be a pair (index, count) of ints, got "
                        f"{shard!r}") from None
    if not 0 <= index < count:
        raise ValueError(f"batches: shard index {index} is not in [0, {count})")
    if batch_size % count:
        raise ValueError(f"batches: the global batch_size {batch_size} must divide evenly "
                         f"among the {count} processes of shard={tuple(shard)}; use a "
                         f"multiple of {count}")
    return (index, count)


def lm_batches(tokens, seq_len, batch_size, key=None, drop_last=True):
    """Language-model minibatches ``(inputs, targets)`` of shape ``[batch_size, seq_len]``.

    ``tokens`` (a 1-D int array, e.g. a tokenized corpus) is cut into consecutive
    sequences of ``seq_len + 1`` tokens that overlap by one; ``inputs`` is a sequence
    without its last token and ``targets`` the same sequence shifted by one. With ``key``
    the sequences come in ``funtorch.random.permutation`` order; ``len()`` gives the
    number of batches, as for :func:`batches`.
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 1 or not np.issubdtype(tokens.dtype, np.integer):
        raise TypeError(f"lm_batches: tokens must be a 1-D array of int ids, got shape "
                        f"{tokens.shape} dtype {tokens.dtype}")
    for name, v in (("seq_len", seq_len), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
            raise ValueError(f"lm_batches: {name} must be a positive int, got {v!r}")
    n_seq = (len(tokens) - 1) // seq_len
    if n_seq < 1 or (drop_last and n_seq < batch_size):
        raise ValueError(
            f"lm_batches: {len(tokens)} tokens make {max(n_seq, 0)} sequences of "
            f"seq_len {seq_len} (+1 for the shifted target), fewer than one batch of "
            f"{batch_size}; use a shorter seq_len or batch_size, or more text"
        )
    seqs = np.lib.stride_tricks.sliding_window_view(tokens, seq_len + 1)[::seq_len][:n_seq]
    return batches(seqs[:, :-1], seqs[:, 1:], batch_size=batch_size, key=key,
                   drop_last=drop_last)


def _permutation(key, n):
    from funtorch import random as _random  # lazy: random may import the array core

    permutation = getattr(_random, "permutation", None)
    if permutation is None:
        raise NotImplementedError("batches(key=...) needs funtorch.random.permutation")
    try:
        order = np.asarray(permutation(key, n))
    except TypeError as e:
        raise TypeError(f"batches: key must be a random key such as ft.random.key(seed) "
                        f"({e})") from None
    if order.shape != (n,):
        raise ValueError(
            f"batches: funtorch.random.permutation(key, {n}) gave shape {order.shape}, "
            f"expected ({n},)"
        )
    return order.astype(np.intp, copy=False)


class _Batches:
    """Re-iterable, so the same object can be looped over twice with the same order."""

    def __init__(self, arrays, n, batch_size, order, drop_last, shard=(0, 1)):
        self._arrays, self._n, self._bs = arrays, n, batch_size
        self._order, self._drop_last = order, drop_last
        self._shard = shard

    def __len__(self):
        full, rest = divmod(self._n, self._bs)
        return full + (1 if rest and not self._drop_last else 0)

    def __iter__(self):
        for b in range(len(self)):
            lo, hi = b * self._bs, min((b + 1) * self._bs, self._n)
            i, count = self._shard
            if count > 1:   # this process' part of the global batch
                lo, hi = lo + (hi - lo) * i // count, lo + (hi - lo) * (i + 1) // count
            index = slice(lo, hi) if self._order is None else self._order[lo:hi]
            yield tuple(a[index] for a in self._arrays)
