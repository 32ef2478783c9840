"""Windowed reductions (pooling): ``reduce_window_max``, ``reduce_window_sum``, and the
pair that differentiates max pooling, as in jax/_src/lax/windowed_reductions.py:
``select_and_gather_add`` (tangent at each window's argmax, the JVP) and
``select_and_scatter_add`` (cotangent back to the argmax, its transpose).

Windows span every axis (use 1 for axes that are not pooled). Ties pick the first
maximum in row-major window order, as PyTorch's max_pool2d; a NaN counts as a maximum.
The impls loop over the taps of one window, each a vectorised strided slice.
"""

from __future__ import annotations

import numpy as np

from ..core import dtypes
from ..core.abstract import ShapedArray
from ..core.trace import Primitive, abstract_eval, bind, get_aval
from ..transforms import ad, batching
from ..transforms.ad import Zero, is_undefined
from ..transforms.batching import bdim_at_front
from ._util import fmt
from .conv import conv_vjp_lhs_padding, padtype_to_pads
from .shape import _pad_impl, pad

# --------------------------------------------------------------------------- shared


def _out_shape(shape, window_dimensions, window_strides, padding):
    return tuple(max(0, (n + lo + hi - k) // s + 1) for n, k, s, (lo, hi) in
                 zip(shape, window_dimensions, window_strides, padding))


def _check(name, x, window_dimensions, window_strides, padding):
    nd = x.ndim
    if not (len(window_dimensions) == len(window_strides) == len(padding) == nd):
        raise TypeError(f"funtorch.lax.{name}: window_dimensions {window_dimensions}, "
                        f"window_strides {window_strides} and padding {padding} need one "
                        f"entry per axis of {fmt(x)} (use 1 / (0, 0) for unpooled axes)")
    if any(k < 1 for k in window_dimensions) or any(s < 1 for s in window_strides):
        raise TypeError(f"funtorch.lax.{name}: window dimensions and strides must be >= 1, "
                        f"got {window_dimensions} and {window_strides}")
    if any(n + lo + hi < 0 for n, (lo, hi) in zip(x.shape, padding)):
        raise TypeError(f"funtorch.lax.{name}: padding {padding} removes more than the whole "
                        f"of {fmt(x)}")
    return _out_shape(x.shape, window_dimensions, window_strides, padding)


def lowest(dtype):
    """The identity of max for ``dtype``: -inf, the integer minimum, or False (padding)."""
    if dtypes.is_float(dtype):
        return np.array(-np.inf, dtype)
    if dtypes.is_bool(dtype):
        return np.array(False)
    return np.array(np.iinfo(dtype).min, dtype)


def _taps(x, fill, window_dimensions, window_strides, padding):
    """For each window tap (row-major), the padded input strided to the output's shape."""
    if any(p != (0, 0) for p in padding):
        x = _pad_impl(x, np.asarray(fill, x.dtype),
                      padding_config=tuple((lo, hi, 0) for lo, hi in padding))
    out = _out_shape(x.shape, window_dimensions, window_strides, ((0, 0),) * x.ndim)
    for tap in np.ndindex(*window_dimensions):
        yield x[tuple(slice(t, t + (q - 1) * s + 1 if q else t, s)
                      for t, q, s in zip(tap, out, window_strides))]


def _selections(operand, window_dimensions, window_strides, padding):
    """Per window tap, the mask of the windows whose first maximum (or first NaN) it holds.

    Plain arithmetic on whole arrays: masked numpy updates (np.where, copyto) are several
    times slower on these random masks."""
    taps = list(_taps(operand, lowest(operand.dtype), window_dimensions, window_strides,
                      padding))
    best = taps[0].copy()
    for v in taps[1:]:
        np.maximum(best, v, out=best)
    has_nan = dtypes.is_float(best.dtype) and bool(np.isnan(best).any())
    done = np.zeros(best.shape, bool)
    for v in taps:
        sel = v == best
        if has_nan:
            sel |= np.isnan(v)
        np.greater(sel, done, out=sel)
        done |= sel
        yield sel


def _masked(x):
    """``x * mask``, exact unless ``x`` holds infinities or NaNs (then a select)."""
    if dtypes.is_float(x.dtype) and not np.isfinite(x).all():
        return lambda sel: np.where(sel, x, np.zeros((), x.dtype))
    return lambda sel: x * sel


def _window_params_batch(window_dimensions, window_strides, padding, bdim):
    def ins(t, v):
        t = list(t)
        t.insert(bdim, v)
        return tuple(t)

    return dict(window_dimensions=ins(window_dimensions, 1),
                window_strides=ins(window_strides, 1), padding=ins(padding, (0, 0)))


def _window_args(prim, x, window_dimensions, window_strides, padding):
    window_dimensions = tuple(map(int, window_dimensions))
    window_strides = tuple(map(int, window_strides))
    if isinstance(padding, str):
        padding = padtype_to_pads(get_aval(x).shape, window_dimensions, window_strides,
                                  padding)
    padding = tuple((int(lo), int(hi)) for lo, hi in padding)
    params = dict(window_dimensions=window_dimensions, window_strides=window_strides,
                  padding=padding)
    abstract_eval(prim, [get_aval(x)], params)   # eager mode skips shape rules
    return params


def _one_arg_batch(prim):
    def rule(vals, dims, *, window_dimensions, window_strides, padding):
        params = _window_params_batch(window_dimensions, window_strides, padding, dims[0])
        return bind(prim, vals[0], **params), dims[0]

    batching.batching_rules[prim] = rule


def _two_arg_batch(prim):
    def rule(vals, dims, *, window_dimensions, window_strides, padding):
        size = batching.batch_size_of(vals, dims)
        a, b = (bdim_at_front(v, d, size) for v, d in zip(vals, dims))
        return bind(prim, a, b, **_window_params_batch(window_dimensions, window_strides,
                                                       padding, 0)), 0

    batching.batching_rules[prim] = rule


# --------------------------------------------------------------------------- sum

reduce_window_sum_p = Primitive("reduce_window_sum", kind="library")


def _reduce_window_sum_impl(x, **params):
    acc_dtype = dtypes.compute_dtype(x.dtype)
    out = None
    for v in _taps(x, 0, **params):
        out = v.astype(acc_dtype) if out is None else out + v
    return out.astype(x.dtype, copy=False)


def _reduce_window_sum_shape(x, **params):
    if dtypes.is_bool(x.dtype):
        raise TypeError(f"funtorch.lax.reduce_window_sum: got {fmt(x)}; cast bools to a "
                        "number type first")
    return ShapedArray(_check("reduce_window_sum", x, **params), x.dtype)


def _reduce_window_sum_transpose(ct, x, *, window_dimensions, window_strides, padding):
    """Spread each cotangent over its window: dilate and pad it, then sum windows."""
    in_shape = x.aval.shape
    ones = (1,) * len(in_shape)
    pads = conv_vjp_lhs_padding(in_shape, window_dimensions, window_strides,
                                get_aval(ct).shape, padding, ones, ones)
    cfg = [(lo, hi, s - 1) for (lo, hi), s in zip(pads, window_strides)]
    padded = pad(ct, np.zeros((), get_aval(ct).dtype), cfg)
    return [reduce_window_sum(padded, window_dimensions, ones, ((0, 0),) * len(in_shape))]


reduce_window_sum_p.def_impl(_reduce_window_sum_impl)
reduce_window_sum_p.def_abstract_eval(_reduce_window_sum_shape)
ad.deflinear(reduce_window_sum_p, _reduce_window_sum_transpose)
_one_arg_batch(reduce_window_sum_p)


def reduce_window_sum(x, window_dimensions, window_strides, padding):
    """Sum over windows spanning every axis; ``padding`` is 'SAME', 'VALID' or pairs."""
    return bind(reduce_window_sum_p, x, **_window_args(reduce_window_sum_p, x,
                                                       window_dimensions, window_strides,
                                                       padding))


# --------------------------------------------------------------------------- max

reduce_window_max_p = Primitive("reduce_window_max", kind="library")


def _reduce_window_max_impl(x, **params):
    out = None
    for v in _taps(x, lowest(x.dtype), **params):
        out = v.copy() if out is None else np.maximum(out, v, out=out)
    return out


def _reduce_window_max_jvp(primals, tangents, **params):
    (x,), (t,) = primals, tangents
    ans = bind(reduce_window_max_p, x, **params)
    if type(t) is Zero:
        return ans, Zero.from_value(ans)
    return ans, bind(select_and_gather_add_p, t, x, **params)


reduce_window_max_p.def_impl(_reduce_window_max_impl)
reduce_window_max_p.def_abstract_eval(
    lambda x, **params: ShapedArray(_check("reduce_window_max", x, **params), x.dtype))
ad.jvp_rules[reduce_window_max_p] = _reduce_window_max_jvp
_one_arg_batch(reduce_window_max_p)


def reduce_window_max(x, window_dimensions, window_strides, padding):
    """Max over windows spanning every axis; ``padding`` is 'SAME', 'VALID' or pairs
    (padded positions never win)."""
    return bind(reduce_window_max_p, x, **_window_args(reduce_window_max_p, x,
                                                       window_dimensions, window_strides,
                                                       padding))


# --------------------------------------------------------------------------- max's derivative

select_and_gather_add_p = Primitive("select_and_gather_add", kind="library")
select_and_scatter_add_p = Primitive("select_and_scatter_add", kind="library")


def _select_and_gather_add_impl(tangents, operand, **params):
    out = None
    for v, sel in zip(_taps(tangents, 0, **params), _selections(operand, **params)):
        part = _masked(v)(sel)
        out = part if out is None else np.add(out, part, out=out)
    return out.astype(tangents.dtype, copy=False)


def _select_and_gather_add_shape(tangents, operand, **params):
    if tangents.shape != operand.shape or tangents.dtype != operand.dtype:
        raise TypeError(f"funtorch.lax.select_and_gather_add: tangents and operand must "
                        f"match, got {fmt(tangents, operand)}")
    return ShapedArray(_check("select_and_gather_add", operand, **params), tangents.dtype)


def _select_and_scatter_add_impl(source, operand, *, padding, **params):
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(operand.shape, padding))
    out = np.zeros(padded, source.dtype)
    masked = _masked(source)
    for v, sel in zip(_taps(out, 0, padding=((0, 0),) * out.ndim, **params),
                      _selections(operand, padding=padding, **params)):
        v += masked(sel).astype(source.dtype, copy=False)
    if all(p == (0, 0) for p in padding):
        return out
    return _pad_impl(out, np.zeros((), source.dtype),
                     padding_config=tuple((-lo, -hi, 0) for lo, hi in padding))


def _select_and_scatter_add_shape(source, operand, **params):
    out = _check("select_and_scatter_add", operand, **params)
    if source.shape != out or source.dtype != operand.dtype:
        raise TypeError(f"funtorch.lax.select_and_scatter_add: source must have the windowed "
                        f"shape {out} and the operand's dtype, got {fmt(source, operand)}")
    return ShapedArray(operand.shape, source.dtype)


def _linear_in_first(prim):
    """JVP of a primitive linear in its first argument and piecewise constant in the rest."""

    def rule(primals, tangents, **params):
        x, operand = primals
        ans = bind(prim, x, operand, **params)
        if type(tangents[0]) is Zero:
            return ans, Zero.from_value(ans)
        return ans, bind(prim, tangents[0], operand, **params)

    ad.jvp_rules[prim] = rule


def _transpose_to(other):
    def rule(ct, x, operand, **params):
        assert is_undefined(x) and not is_undefined(operand)
        return [bind(other, ct, operand, **params), None]

    return rule


select_and_gather_add_p.def_impl(_select_and_gather_add_impl)
select_and_gather_add_p.def_abstract_eval(_select_and_gather_add_shape)
_linear_in_first(select_and_gather_add_p)
ad.transpose_rules[select_and_gather_add_p] = _transpose_to(select_and_scatter_add_p)
_two_arg_batch(select_and_gather_add_p)

select_and_scatter_add_p.def_impl(_select_and_scatter_add_impl)
select_and_scatter_add_p.def_abstract_eval(_select_and_scatter_add_shape)
_linear_in_first(select_and_scatter_add_p)
ad.transpose_rules[select_and_scatter_add_p] = _transpose_to(select_and_gather_add_p)
_two_arg_batch(select_and_scatter_add_p)
