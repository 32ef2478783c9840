"""Time series bundled with the package, and windows over a series for forecasting.

``co2()`` is the weekly Mauna Loa CO2 record (1958-2001, public domain) and ``sunspots()``
the monthly sunspot numbers (1749-2009, NOAA NGDC, public domain); ``series/README.md``
gives their provenance. Both come back as a :class:`TimeSeries` of numpy arrays.
"""

from __future__ import annotations

import csv
import importlib.resources
import operator
from typing import NamedTuple

import numpy as np

__all__ = ["TimeSeries", "co2", "sunspots", "windows"]


class TimeSeries(NamedTuple):
    """``dates, values, observed = ft.data.co2()``: ``observed[i]`` is False where
    ``values[i]`` was filled in rather than measured."""

    dates: np.ndarray  # datetime64
    values: np.ndarray  # float32, no NaNs
    observed: np.ndarray  # bool


def co2():
    """Weekly Mauna Loa CO2 in ppm, 2,284 weeks from 1958-03-29 to 2001-12-29.

    The 59 weeks without a measurement are filled by linear interpolation in time between
    the nearest measured weeks on either side (the series' first and last weeks are
    measured), and ``observed`` is False there, so a metric can leave them out.
    """
    dates, values = _read_csv("co2_weekly.csv", "datetime64[D]")
    observed = ~np.isnan(values)
    t = np.arange(len(values))
    values = values.copy()
    values[~observed] = np.interp(t[~observed], t[observed], values[observed])
    return TimeSeries(dates, values.astype(np.float32), observed)


def sunspots():
    """Monthly mean international sunspot numbers (NOAA NGDC), 3,126 months from 1749-01 to
    2009-06 (no gaps)."""
    dates, values = _read_csv("sunspots_monthly.csv", "datetime64[M]")
    return TimeSeries(dates, values.astype(np.float32), ~np.isnan(values))


def _read_csv(name, date_dtype):
    path = importlib.resources.files(__package__).joinpath("series", name)
    with path.open(encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    dates = np.array([r[0] for r in rows], dtype=date_dtype)
    values = np.array([float(r[1]) if r[1] else np.nan for r in rows], np.float64)
    return dates, values


def _positive_int(name, value, arg):
    if isinstance(value, bool):
        raise TypeError(f"{name}: {arg} must be a positive int, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: {arg} must be a positive int, got "
                        f"{type(value).__name__} {value!r}") from None
    if value <= 0:
        raise ValueError(f"{name}: {arg} must be positive, got {value}")
    return value


def windows(series, input_len, horizon, stride=1):
    """``(inputs, targets)`` of every window along axis 0 of ``series`` ([T] or [T, ...]):
    ``inputs[i] = series[s:s+input_len]`` and ``targets[i] =
    series[s+input_len:s+input_len+horizon]`` for ``s = i*stride``. Copies, in time order.
    """
    input_len = _positive_int("windows", input_len, "input_len")
    horizon = _positive_int("windows", horizon, "horizon")
    stride = _positive_int("windows", stride, "stride")
    series = np.asarray(series)
    if series.ndim == 0:
        raise ValueError("windows: series is a scalar; pass an array with time on axis 0")
    span = input_len + horizon
    n = series.shape[0]
    if n < span:
        raise ValueError(f"windows: the series has {n} steps, shorter than one window "
                         f"(input_len {input_len} + horizon {horizon} = {span})")
    view = np.lib.stride_tricks.sliding_window_view(series, span, axis=0)[::stride]
    view = np.moveaxis(view, -1, 1)  # [N, span, ...]
    return np.ascontiguousarray(view[:, :input_len]), np.ascontiguousarray(view[:, input_len:])
