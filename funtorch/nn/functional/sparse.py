"""Integer indices to dense vectors: one_hot and embedding (PyTorch's "sparse functions")."""

from __future__ import annotations

import numpy as np

from ... import lax
from ... import numpy as fnp
from ...core import dtypes
from ...core.array import to_numpy
from ...core.errors import ConcretizationTypeError
from ...core.trace import Tracer
from ._checks import IndexOutOfBoundsError, _arr, _known_values


def one_hot(tensor, num_classes=-1):
    """int64 one-hot along a new last axis.

    ``num_classes=-1`` (PyTorch's default) infers ``max + 1`` from the data, so it needs
    concrete values: under jit or vmap pass ``num_classes`` explicitly. With known values
    (eager) a label that is negative or ``>= num_classes`` raises, as in PyTorch; under jit
    the values are unknown when tracing, so, as ``jax.nn.one_hot``, such a label gives an
    all-zero row instead of an error.
    """
    t = _arr(tensor)
    if not dtypes.is_int(t.dtype):
        raise TypeError(f"funtorch.nn.functional.one_hot: expected an integer tensor, got "
                        f"{t.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"funtorch.nn.functional.one_hot: num_classes must be an int (or -1 "
                        f"to infer it from the data), got {num_classes!r}")
    num_classes = int(num_classes)
    if num_classes > np.iinfo(np.int64).max or num_classes * max(t.size, 1) >= 2 ** 62:
        raise ValueError(f"funtorch.nn.functional.one_hot: num_classes={num_classes} is too "
                         f"large: the result would have {num_classes * t.size} elements")
    if num_classes < -1:
        raise ValueError(f"funtorch.nn.functional.one_hot: num_classes must be non-negative, "
                         f"or -1 to infer it from the data (max + 1), got {num_classes}")
    if num_classes == -1:
        try:
            values = np.asarray(t.to_concrete("one_hot") if isinstance(t, Tracer)
                                else to_numpy(t))
        except ConcretizationTypeError:
            raise ConcretizationTypeError(
                t, "funtorch.nn.functional.one_hot with num_classes=-1 (it reads the data to "
                "count the classes, unknown under jit or vmap; pass num_classes= instead)"
            ) from None
        if values.size == 0:
            raise ValueError(f"funtorch.nn.functional.one_hot: cannot infer the number of "
                             f"classes from an empty tensor of shape {tuple(t.shape)}; pass "
                             f"num_classes=")
        num_classes = max(int(values.max()) + 1, 0)
    else:
        values = _known_values(t)
    if values is not None and values.size:
        lo, hi = values.min(), values.max()
        if lo < 0:
            raise IndexOutOfBoundsError(f"funtorch.nn.functional.one_hot: class values must "
                                        f"be non-negative, got {lo}")
        if hi >= num_classes:
            raise IndexOutOfBoundsError(f"funtorch.nn.functional.one_hot: class values must "
                                        f"be smaller than num_classes={num_classes}, got {hi}")
    classes = lax.iota(t.dtype, num_classes)
    return fnp.astype(fnp.expand_dims(t, -1) == classes, dtypes.int64)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` [num_embeddings, dim] at the integer ``input``; the row at
    ``padding_idx`` gets no gradient, as in PyTorch.

    ``max_norm``: each looked-up row whose ``norm_type``-norm exceeds it is scaled to norm
    ``max_norm`` in the output (PyTorch's ``max_norm / (norm + 1e-7)``), and the gradient is
    the plain lookup's, as PyTorch's. PyTorch also renormalises those rows of ``weight``
    itself, in place; funtorch arrays are immutable, so ``weight`` is left as it is: the
    rows are renormalised again at every call. ``scale_grad_by_freq`` divides each row's
    gradient by how often its index occurs in ``input``. ``sparse`` gradients do not exist
    in funtorch (``sparse=True`` raises).

    Indices outside ``[0, num_embeddings)`` raise a ValueError (also an IndexError, as in
    PyTorch) when their values are known (eager, grad, vmap of concrete data). Under jit
    they are unknown when tracing: nothing raises and they are clamped into range, as
    ``jnp.take``'s default."""
    idx, w = _arr(input), _arr(weight)
    _check_dense("funtorch.nn.functional.embedding", sparse)
    if not dtypes.is_int(idx.dtype):
        raise TypeError(f"funtorch.nn.functional.embedding: indices must be integers, got "
                        f"{idx.dtype}")
    if w.ndim != 2:
        raise ValueError(f"funtorch.nn.functional.embedding: weight must be 2-D "
                         f"[num_embeddings, embedding_dim], got shape {tuple(w.shape)}")
    num = w.shape[0]
    if padding_idx is not None and not -num <= padding_idx < num:
        raise ValueError(f"funtorch.nn.functional.embedding: padding_idx {padding_idx} must "
                         f"be within num_embeddings: in [{-num}, {num})")
    if max_norm is not None and not norm_type > 0:
        raise ValueError(f"funtorch.nn.functional.embedding: norm_type must be positive (or "
                         f"inf), got {norm_type}")
    values = _known_values(idx)
    if values is not None:
        bad = values[(values < 0) | (values >= num)]
        if bad.size:
            raise IndexOutOfBoundsError(
                f"funtorch.nn.functional.embedding: index {bad.flat[0]} is out of range for "
                f"weight {tuple(w.shape)}: indices must be in [0, {num - 1}] (num_embeddings "
                f"{num}; negative indices are not allowed, as in PyTorch)")
    out = fnp.take(w, idx, axis=0)
    if max_norm is not None or scale_grad_by_freq:
        value = out if max_norm is None else _renorm(out, max_norm, norm_type)
        scale = None
        if scale_grad_by_freq:
            counts = fnp.zeros((num,), w.dtype).at[fnp.ravel(idx)].add(1)
            scale = fnp.expand_dims(1 / fnp.take(counts, idx), -1)
        out = _with_gradient_of(value, out, scale)
    if padding_idx is None:
        return out
    if padding_idx < 0:
        padding_idx += num
    pad = fnp.expand_dims(idx == padding_idx, -1)
    return fnp.where(pad, lax.stop_gradient(out), out)


def _check_dense(name, sparse):
    if sparse:
        raise NotImplementedError(f"{name}: sparse=True is not supported: funtorch has no "
                                  "sparse gradients (the weight's gradient is always dense); "
                                  "pass sparse=False")


def _renorm(rows, max_norm, norm_type):
    """``rows`` scaled to norm ``max_norm`` where their norm exceeds it (PyTorch's
    embedding_renorm_, applied to the looked-up rows)."""
    a = fnp.abs(lax.stop_gradient(rows))
    if norm_type == np.inf:
        norm = fnp.max(a, axis=-1, keepdims=True)
    else:
        norm = fnp.sum(a ** norm_type, axis=-1, keepdims=True) ** (1.0 / norm_type)
    return rows * fnp.where(norm > max_norm, max_norm / (norm + 1e-7), fnp.ones_like(norm))


def _with_gradient_of(value, x, scale=None):
    """``value`` exactly, with the gradient of ``x`` (times ``scale``, if given)."""
    delta = x - lax.stop_gradient(x)
    return lax.stop_gradient(value) + (delta if scale is None else delta * scale)
