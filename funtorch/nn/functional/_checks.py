"""Argument checks shared by the nn.functional modules: PyTorch's messages, one place."""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

from ... import numpy as fnp
from ...core.array import to_numpy
from ...core.errors import ConcretizationTypeError
from ...core.trace import Tracer


def _arr(x):
    return fnp.asarray(x)


def _check_sizes(name, minimum, **values):
    """Constructor sizes: each an int (or a tuple of ints) >= ``minimum``, else a
    TypeError/ValueError naming ``funtorch.nn.<name>`` and the argument."""
    for arg, v in values.items():
        for e in (v if isinstance(v, (tuple, list)) else (v,)):
            if isinstance(e, (bool, np.bool_)) or not isinstance(e, (int, np.integer)):
                raise TypeError(f"funtorch.nn.{name}: {arg} must be an int (or a tuple of "
                                f"ints), got {type(v).__name__} {v!r}")
            if e < minimum:
                kind = "positive" if minimum == 1 else f">= {minimum}"
                raise ValueError(f"funtorch.nn.{name}: {arg} must be {kind}, got {v!r}")


def _tuple(name, arg, value, n):
    """int -> n-tuple; a tuple must already have n entries (PyTorch's _pair/_single)."""
    def is_int(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
    if is_int(value):
        return (int(value),) * n
    if not isinstance(value, (tuple, list)) or not all(is_int(v) for v in value):
        raise TypeError(f"funtorch.nn.functional.{name}: {arg} must be an int or a tuple of "
                        f"{n} ints, got {type(value).__name__} {value!r:.40}")
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"funtorch.nn.functional.{name}: {arg} must be an int or a tuple of "
                         f"{n} ints, got {value}")
    return value


def _dim(name, dim, axis, ndim):
    """PyTorch's ``dim`` or numpy's ``axis`` (one of them, required)."""
    if dim is not None and axis is not None and dim != axis:
        raise TypeError(f"funtorch.nn.functional.{name}: pass dim or axis, not both")
    d = dim if dim is not None else axis
    if d is None:
        raise TypeError(f"funtorch.nn.functional.{name}: pass dim= (the axis to normalise "
                        "over); PyTorch's implicit choice is deprecated and not supported")
    if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
        raise TypeError(f"funtorch.nn.functional.{name}: dim must be an int, got "
                        f"{type(d).__name__} {d!r:.40}")
    n = max(ndim, 1)   # a 0-d input takes dim 0 or -1, as in PyTorch
    if not -n <= d < n:
        raise ValueError(f"funtorch.nn.functional.{name}: dim {d} is out of range for an input "
                         f"of rank {ndim}")
    return d % n


def _check_rank(name, x, ranks, layout):
    if x.ndim not in ranks:
        expected = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(f"funtorch.nn.functional.{name}: expected a {expected} input "
                         f"({layout}), got shape {tuple(x.shape)}")


class IndexOutOfBoundsError(ValueError, IndexError):
    """A concrete class index / embedding index outside its range. Both a ValueError and
    an IndexError (what PyTorch raises), so either ``except`` catches it."""

    __module__ = "funtorch.nn.functional"   # where users import it; tracebacks name it so


def _known_values(x):
    """The numpy values of ``x`` when they are known now (eager arrays, or tracers of
    grad/jvp and of vmap over concrete data), else None (traced under jit: unknown until
    run). For elementwise range checks only: under vmap it is the whole batch."""
    while isinstance(x, Tracer):
        val = getattr(x, "val", None)           # BatchTracer: check every example at once
        if val is not None and getattr(x, "batch_dim", None) is not None:
            x = val
            continue
        try:
            return np.asarray(x.to_concrete("a range check"))
        except ConcretizationTypeError:
            return None
    return to_numpy(x)


def _check_positive(name, arg, values, minimum=1):
    if any(v < minimum for v in values):
        what = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"funtorch.nn.functional.{name}: {arg} must be {what}, got "
                         f"{values if len(values) > 1 else values[0]}")


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _user_stacklevel():
    """The ``stacklevel`` that makes a warning name the first frame outside funtorch (the
    user's call of a loss, directly, through a loss module or inside jit/grad/vmap), so
    Python's default filter shows it once per call site."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def _warn_target_size(name, input_shape, target_shape):
    """PyTorch's warning for elementwise losses whose target broadcasts against the input
    (its text; a ``UserWarning`` once per call site)."""
    input_shape, target_shape = tuple(input_shape), tuple(target_shape)
    if input_shape != target_shape:
        warnings.warn(f"funtorch.nn.functional.{name}: Using a target size {target_shape} "
                      f"that is different to the input size {input_shape}. This will likely "
                      "lead to incorrect results due to broadcasting. Please ensure they have "
                      "the same size.", UserWarning, stacklevel=_user_stacklevel())
