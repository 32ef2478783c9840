"""Train/validation/test splits: by time for a series, by record for a corpus.

A series is cut into consecutive spans, never shuffled across the cut, so a model is
validated and tested on the future of what it trained on. Records (independent texts) are
shuffled with an explicit ``funtorch.random`` key before they are cut.
"""

from __future__ import annotations

import operator

import numpy as np

from .. import random

__all__ = ["split_by_time", "split_records"]


def _sizes(name, n, valid, test):
    def count(arg, v):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name}: {arg} must be a fraction in [0, 1) or a count, got {v!r}")
        if isinstance(v, (float, np.floating)):
            if not 0 <= v < 1:
                raise ValueError(f"{name}: {arg} as a fraction must be in [0, 1), got {v}")
            return int(round(v * n))
        v = operator.index(v)
        if v < 0:
            raise ValueError(f"{name}: {arg} must be non-negative, got {v}")
        return v

    n_valid, n_test = count("valid", valid), count("test", test)
    n_train = n - n_valid - n_test
    if n_train <= 0:
        raise ValueError(f"{name}: {n} items leave nothing to train on after {n_valid} "
                         f"validation and {n_test} test items")
    return n_train, n_valid, n_test


def split_by_time(series, valid=0.1, test=0.1, context=0):
    """``(train, valid, test)``: consecutive spans of ``series`` along axis 0, in order.

    ``valid`` and ``test`` are fractions of the length or counts. With ``context=k`` the
    validation and test spans also start with the ``k`` steps before them (inputs for the
    first forecasts), so ``windows(test, k, horizon)`` has targets only in the test span.
    """
    series = np.asarray(series)
    if series.ndim == 0:
        raise ValueError("split_by_time: series is a scalar; pass an array with time on axis 0")
    context = operator.index(context)
    if context < 0:
        raise ValueError(f"split_by_time: context must be non-negative, got {context}")
    n_train, n_valid, _ = _sizes("split_by_time", series.shape[0], valid, test)
    if context > n_train:
        raise ValueError(f"split_by_time: context {context} is longer than the training span "
                         f"({n_train} steps)")
    a, b = n_train, n_train + n_valid
    return series[:a], series[a - context:b], series[b - context:]


def split_records(n, key, valid=0.1, test=0.1):
    """``(train, valid, test)`` index arrays: a ``funtorch.random.permutation(key, n)`` of
    the records cut into three parts (sizes as in :func:`split_by_time`)."""
    n = operator.index(n)
    n_train, n_valid, _ = _sizes("split_records", n, valid, test)
    order = np.asarray(random.permutation(key, n)).astype(np.intp)
    return order[:n_train], order[n_train:n_train + n_valid], order[n_train + n_valid:]
