"""Reductions with numpy names: sum prod mean var std max min argmax argmin logsumexp
cumsum all any."""

from __future__ import annotations

import numbers

from .. import lax
from ..core import dtypes
from ._core import asarray, axes_tuple, canonicalize_axis, is_array


def _arr(x):
    return x if is_array(x) else asarray(x)


def _keep(name, y, x_shape, axes, keepdims):
    if not keepdims:
        return y
    shape = tuple(1 if i in axes else s for i, s in enumerate(x_shape))
    return lax.reshape(y, shape)


def _sum_dtype(x, dtype):
    if dtype is not None:
        return dtypes.dtype(dtype)
    if dtypes.is_bool(x.dtype) or (dtypes.is_int(x.dtype) and x.dtype.itemsize < 8):
        return dtypes.uint64 if dtypes.is_unsigned(x.dtype) else dtypes.int64
    return x.dtype


def _reduce(name, reduce, x, axis, keepdims, out_dtype):
    axes = axes_tuple(name, axis, x.ndim)
    y = reduce(lax.convert_element_type(x, dtypes.compute_dtype(out_dtype)), axes)
    return _keep(name, lax.convert_element_type(y, out_dtype), x.shape, axes, keepdims)


def sum(x, axis=None, keepdims=False, dtype=None):  # noqa: A001
    x = _arr(x)
    return _reduce("sum", lax.reduce_sum, x, axis, keepdims, _sum_dtype(x, dtype))


def prod(x, axis=None, keepdims=False, dtype=None):
    x = _arr(x)
    return _reduce("prod", lax.reduce_prod, x, axis, keepdims, _sum_dtype(x, dtype))


def _count(x, axes):
    n = 1
    for a in axes:
        n *= x.shape[a]
    return n


def _float_dtype(x, dtype):
    """The result dtype of mean/var/std: ``dtype``, else a float ``x``'s own, else float32."""
    if dtype is not None:
        return dtypes.dtype(dtype)
    return x.dtype if dtypes.is_float(x.dtype) else dtypes.default_float


def _stats_dtype(x, out_dtype):
    """The dtype mean/var/std compute in: halves in float32; integers and bools in float64,
    as numpy (each value is exact there and so is the sum, up to 2**53), then rounded once
    to the float32 result; an integer ``dtype=`` as numpy too (computed, then cast)."""
    if not dtypes.is_float(x.dtype):
        return dtypes.float64
    cdt = dtypes.compute_dtype(out_dtype)
    return cdt if dtypes.is_float(cdt) else dtypes.default_float


def _mean(x, axes):
    """The mean over ``axes`` in ``x``'s (float) dtype; NaN over no elements."""
    s = lax.reduce_sum(x, axes)
    n = _count(x, axes)
    return lax.div(s, lax.full_like(s, n if n else float("nan")))


def mean(x, axis=None, keepdims=False, dtype=None):
    x = _arr(x)
    out_dtype = _float_dtype(x, dtype)
    cdt = _stats_dtype(x, out_dtype)
    axes = axes_tuple("mean", axis, x.ndim)
    out = _mean(lax.convert_element_type(x, cdt), axes)
    return _keep("mean", lax.convert_element_type(out, out_dtype), x.shape, axes, keepdims)


def _var(name, x, axis, ddof, correction, dtype):
    """(variance in the compute dtype, result dtype, x's shape, reduced axes)."""
    x = _arr(x)
    out_dtype = _float_dtype(x, dtype)
    x = lax.convert_element_type(x, _stats_dtype(x, out_dtype))
    if correction is not None:
        ddof = correction
    if not isinstance(ddof, numbers.Real) or isinstance(ddof, bool):
        raise TypeError(f"funtorch.{name}: ddof (or correction) must be a number, got "
                        f"{type(ddof).__name__} {ddof!r:.40}")
    axes = axes_tuple(name, axis, x.ndim)
    kept = tuple(i for i in range(x.ndim) if i not in axes)
    d = lax.sub(x, lax.broadcast_in_dim(_mean(x, axes), x.shape, kept))
    s = lax.reduce_sum(lax.mul(d, d), axes)
    n = _count(x, axes) - ddof
    if n <= 0:
        # NaN, and a NaN gradient (JAX, PyTorch): computed from s, not a constant
        return lax.mul(s, lax.full_like(s, float("nan"))), out_dtype, x.shape, axes
    return lax.div(s, lax.full_like(s, n)), out_dtype, x.shape, axes


def var(x, axis=None, keepdims=False, ddof=0, correction=None, dtype=None):
    """Variance; ``ddof`` (numpy) or ``correction`` (PyTorch / array API)."""
    v, out_dtype, shape, axes = _var("var", x, axis, ddof, correction, dtype)
    return _keep("var", lax.convert_element_type(v, out_dtype), shape, axes, keepdims)


def std(x, axis=None, keepdims=False, ddof=0, correction=None, dtype=None):
    v, out_dtype, shape, axes = _var("std", x, axis, ddof, correction, dtype)
    return _keep("std", lax.convert_element_type(lax.sqrt(v), out_dtype), shape, axes,
                 keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    x = _arr(x)
    axes = axes_tuple("max", axis, x.ndim)
    return _keep("max", lax.reduce_max(x, axes), x.shape, axes, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    x = _arr(x)
    axes = axes_tuple("min", axis, x.ndim)
    return _keep("min", lax.reduce_min(x, axes), x.shape, axes, keepdims)


amax, amin = max, min


def _bool_reduce(name, reduce, identity, x, axis, keepdims):
    """all/any: min/max over bools; over no elements the identity (True for all, False
    for any, as numpy), a constant since shapes are static."""
    from .ufuncs import _to_bool
    x = _to_bool(x)
    axes = axes_tuple(name, axis, x.ndim)
    if not axes:
        y = x
    elif _count(x, axes) == 0:
        y = lax.full_like(x, identity, shape=_reduced_shape(x.shape, axes))
    else:
        y = reduce(x, axes)
    return _keep(name, y, x.shape, axes, keepdims)


def _reduced_shape(shape, axes):
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def all(x, axis=None, keepdims=False):  # noqa: A001
    return _bool_reduce("all", lax.reduce_min, True, x, axis, keepdims)


def any(x, axis=None, keepdims=False):  # noqa: A001
    return _bool_reduce("any", lax.reduce_max, False, x, axis, keepdims)


def _arg(name, fn, x, axis, keepdims):
    x = _arr(x)
    ndim = x.ndim
    if axis is None:
        x = lax.reshape(x, (x.size,))
        axis = 0
        shape = None
    else:
        axis = canonicalize_axis(name, axis, x.ndim)
        shape = x.shape
    if x.shape[axis] == 0:
        raise ValueError(f"funtorch.{name}: attempt to get {name} of an empty sequence")
    out = fn(x, axis)
    if keepdims:
        if shape is None:
            return lax.reshape(out, (1,) * ndim)
        return _keep(name, out, shape, (axis,), True)
    return out


def argmax(x, axis=None, keepdims=False):
    return _arg("argmax", lax.argmax, x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    return _arg("argmin", lax.argmin, x, axis, keepdims)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) computed stably (the max is subtracted, its gradient stopped)."""
    x = _arr(x)
    if not dtypes.is_float(x.dtype):
        x = lax.convert_element_type(x, dtypes.default_float)
    axes = axes_tuple("logsumexp", axis, x.ndim)
    if _count(x, axes) == 0:
        # the log of an empty sum, as scipy and JAX (max has no identity to subtract)
        out = lax.full_like(x, float("-inf"), shape=_reduced_shape(x.shape, axes))
        return _keep("logsumexp", out, x.shape, axes, keepdims)
    m = lax.stop_gradient(lax.reduce_max(x, axes))
    finite = lax.is_finite(m)
    m = lax.select_n(finite, lax.full_like(m, 0), m)
    kept = tuple(i for i in range(x.ndim) if i not in axes)
    mb = lax.broadcast_in_dim(m, x.shape, kept)
    s = lax.reduce_sum(lax.exp(lax.sub(x, mb)), axes)
    out = lax.add(lax.log(s), m)
    return _keep("logsumexp", out, x.shape, axes, keepdims)


def cumsum(x, axis=None, dtype=None):
    x = _arr(x)
    if axis is None:
        x = lax.reshape(x, (x.size,))
        axis = 0
    x = lax.convert_element_type(x, _sum_dtype(x, dtype))
    return lax.cumsum(x, canonicalize_axis("cumsum", axis, x.ndim))


def count_nonzero(x, axis=None, keepdims=False):
    from .ufuncs import not_equal
    return sum(not_equal(_arr(x), 0), axis, keepdims)
