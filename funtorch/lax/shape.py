"""Shape primitives: broadcast, reshape, transpose, squeeze, slice, pad, concatenate,
rev, iota. All but iota are linear; their transposes are each other."""

from __future__ import annotations

import builtins

import numpy as np

from ..core import dtypes
from ..core.abstract import ShapedArray
from ..core.array import Array
from ..core.devices import CPU
from ..core.placement import transfer
from ..core.trace import Primitive, bind, get_aval
from ..transforms import ad, batching
from ..transforms.ad import Zero, is_undefined
from ..transforms.batching import bdim_at_front, moveaxis
from ._util import canonical_axes, fmt

# --------------------------------------------------------------------------- broadcast_in_dim

broadcast_in_dim_p = Primitive("broadcast_in_dim", kind="view")


def _broadcast_in_dim_impl(x, *, shape, broadcast_dimensions):
    expanded = [1] * len(shape)
    for i, d in enumerate(broadcast_dimensions):
        expanded[d] = x.shape[i]
    return np.broadcast_to(x.reshape(expanded), shape)


def _broadcast_in_dim_shape(x, *, shape, broadcast_dimensions):
    ok = len(broadcast_dimensions) == x.ndim and all(
        0 <= d < len(shape) for d in broadcast_dimensions) and all(
        a < b for a, b in zip(broadcast_dimensions, broadcast_dimensions[1:])) and all(
        x.shape[i] in (1, shape[d]) for i, d in enumerate(broadcast_dimensions))
    if not ok:
        raise ValueError(f"funtorch.broadcast_to: cannot broadcast {fmt(x)} to shape "
                         f"{tuple(shape)} (dims {broadcast_dimensions}); each input dim must "
                         "be 1 or match the target")
    return ShapedArray(shape, x.dtype)


def _broadcast_in_dim_transpose(ct, x, *, shape, broadcast_dimensions):
    in_shape = x.aval.shape
    summed = tuple(i for i in range(len(shape)) if i not in broadcast_dimensions)
    kept_ones = tuple(d for i, d in enumerate(broadcast_dimensions)
                      if in_shape[i] == 1 and shape[d] != 1)
    from .reductions import reduce_sum
    out = reduce_sum(ct, tuple(sorted(summed + kept_ones)))
    return [reshape(out, in_shape)]


def _broadcast_in_dim_batch(vals, dims, *, shape, broadcast_dimensions):
    x = moveaxis(vals[0], dims[0], 0)
    size = get_aval(x).shape[0]
    return broadcast_in_dim(x, (size, *shape), (0, *[d + 1 for d in broadcast_dimensions])), 0


broadcast_in_dim_p.def_impl(_broadcast_in_dim_impl)
broadcast_in_dim_p.def_abstract_eval(_broadcast_in_dim_shape)
ad.deflinear(broadcast_in_dim_p, _broadcast_in_dim_transpose)
batching.batching_rules[broadcast_in_dim_p] = _broadcast_in_dim_batch


def broadcast_in_dim(x, shape, broadcast_dimensions):
    shape = tuple(int(s) for s in shape)
    a = get_aval(x)
    if a.shape == shape and tuple(broadcast_dimensions) == tuple(range(len(shape))):
        return x
    return bind(broadcast_in_dim_p, x, shape=shape,
                broadcast_dimensions=tuple(int(d) for d in broadcast_dimensions))


batching.axis_ops["broadcast_in_dim"] = broadcast_in_dim


def full(shape, fill_value, dtype=None):
    """An array of ``shape`` filled with a scalar (a broadcast of a literal)."""
    if dtype is None:
        dtype = dtypes.result_type(fill_value)
    dtype = dtypes.dtype(dtype)
    v = fill_value
    if isinstance(v, (int, float, bool, np.generic, np.ndarray)):
        v = np.array(v, dtype)
        if v.shape == tuple(shape):   # nothing to broadcast: still an Array, never numpy
            v.flags.writeable = False
            return Array(v)
    else:
        from .elementwise import convert_element_type
        v = convert_element_type(v, dtype)
    return broadcast_in_dim(v, tuple(shape), ())


ad.tangent_ops["full"] = full


def full_like(x, fill_value, dtype=None, shape=None):
    """``full`` with ``x``'s shape and dtype (unless given), on ``x``'s device."""
    a = get_aval(x)
    out = full(a.shape if shape is None else shape, fill_value, a.dtype if dtype is None else
               dtype)
    return on_device_of(x, out)


def on_device_of(x, out):
    """``out`` (a constant an eager composite built on the host) moved to the device of the
    concrete array ``x``: eager ops on a device array give device arrays."""
    if type(x) is Array and x._device is not CPU and type(out) is Array and \
            out._device is CPU:
        return transfer(out, x._device)
    return out


# --------------------------------------------------------------------------- reshape

reshape_p = Primitive("reshape", kind="view")


def _reshape_shape(x, *, new_sizes):
    if int(np.prod(new_sizes, dtype=np.int64)) != x.size or any(s < 0 for s in new_sizes):
        raise ValueError(f"funtorch.reshape: cannot reshape {fmt(x)} ({x.size} elements) into "
                         f"shape {tuple(new_sizes)}")
    return ShapedArray(new_sizes, x.dtype)


def _reshape_batch(vals, dims, *, new_sizes):
    x = moveaxis(vals[0], dims[0], 0)
    return reshape(x, (get_aval(x).shape[0], *new_sizes)), 0


reshape_p.def_impl(lambda x, *, new_sizes: x.reshape(new_sizes))
reshape_p.def_abstract_eval(_reshape_shape)
ad.deflinear(reshape_p, lambda ct, x, *, new_sizes: [reshape(ct, x.aval.shape)])
batching.batching_rules[reshape_p] = _reshape_batch


def reshape(x, new_sizes):
    new_sizes = tuple(int(s) for s in new_sizes)
    if get_aval(x).shape == new_sizes:
        return x
    return bind(reshape_p, x, new_sizes=new_sizes)


# --------------------------------------------------------------------------- transpose

transpose_p = Primitive("transpose", kind="view")


def _transpose_shape(x, *, permutation):
    if sorted(permutation) != list(range(x.ndim)):
        raise ValueError(f"funtorch.transpose: {permutation} is not a permutation of the axes "
                         f"of {fmt(x)}")
    return ShapedArray(tuple(x.shape[p] for p in permutation), x.dtype)


def _transpose_batch(vals, dims, *, permutation):
    x = moveaxis(vals[0], dims[0], 0)
    return transpose(x, (0, *[p + 1 for p in permutation])), 0


transpose_p.def_impl(lambda x, *, permutation: np.transpose(x, permutation))
transpose_p.def_abstract_eval(_transpose_shape)
ad.deflinear(transpose_p, lambda ct, x, *, permutation: [
    transpose(ct, tuple(np.argsort(permutation)))])
batching.batching_rules[transpose_p] = _transpose_batch


def transpose(x, permutation):
    permutation = tuple(int(p) for p in permutation)
    if permutation == tuple(range(len(permutation))):
        return x
    return bind(transpose_p, x, permutation=permutation)


batching.axis_ops["transpose"] = transpose


# --------------------------------------------------------------------------- squeeze

squeeze_p = Primitive("squeeze", kind="view")


def _squeeze_shape(x, *, dimensions):
    for d in dimensions:
        if x.shape[d] != 1:
            raise ValueError(f"funtorch.squeeze: cannot squeeze axis {d} of {fmt(x)}: its size "
                             "is not 1")
    return ShapedArray(tuple(s for i, s in enumerate(x.shape) if i not in dimensions), x.dtype)


def _squeeze_batch(vals, dims, *, dimensions):
    x = moveaxis(vals[0], dims[0], 0)
    return squeeze(x, tuple(d + 1 for d in dimensions)), 0


squeeze_p.def_impl(lambda x, *, dimensions: np.squeeze(x, dimensions))
squeeze_p.def_abstract_eval(_squeeze_shape)
ad.deflinear(squeeze_p, lambda ct, x, *, dimensions: [reshape(ct, x.aval.shape)])
batching.batching_rules[squeeze_p] = _squeeze_batch


def squeeze(x, dimensions):
    dimensions = canonical_axes("squeeze", dimensions, get_aval(x).ndim)
    if not dimensions:
        return x
    return bind(squeeze_p, x, dimensions=tuple(sorted(dimensions)))


def expand_dims(x, dimensions):
    a = get_aval(x)
    nd = a.ndim + len(dimensions)
    dims = sorted(canonical_axes("expand_dims", dimensions, nd))
    shape = list(a.shape)
    for d in dims:
        shape.insert(d, 1)
    return reshape(x, shape)


# --------------------------------------------------------------------------- slice

slice_p = Primitive("slice", kind="view")


def _slice_shape(x, *, start_indices, limit_indices, strides):
    if not (len(start_indices) == len(limit_indices) == len(strides) == x.ndim) or any(
            not 0 <= s <= lim <= n for s, lim, n in zip(start_indices, limit_indices, x.shape)
    ) or any(st < 1 for st in strides):
        raise ValueError(f"funtorch.slice: invalid slice start={start_indices} "
                         f"limit={limit_indices} strides={strides} of {fmt(x)}")
    shape = tuple(max(0, -(-(lim - s) // st)) for s, lim, st in
                  zip(start_indices, limit_indices, strides))
    return ShapedArray(shape, x.dtype)


def _slice_impl(x, *, start_indices, limit_indices, strides):
    return x[tuple(builtins.slice(s, lim, st) for s, lim, st in zip(start_indices, limit_indices,
                                                           strides))]


def _slice_transpose(ct, x, *, start_indices, limit_indices, strides):
    shape = x.aval.shape
    ct_shape = get_aval(ct).shape
    real_limits = [s + (0 if n == 0 else 1 + (n - 1) * st)
                   for s, n, st in zip(start_indices, ct_shape, strides)]
    config = [(s, d - lim, st - 1) for s, d, lim, st in
              zip(start_indices, shape, real_limits, strides)]
    return [pad(ct, np.zeros((), ct_dtype(ct)), config)]


def ct_dtype(ct):
    return get_aval(ct).dtype


def _slice_batch(vals, dims, *, start_indices, limit_indices, strides):
    x, d = vals[0], dims[0]
    n = get_aval(x).shape[d]
    s, lim, st = list(start_indices), list(limit_indices), list(strides)
    s.insert(d, 0)
    lim.insert(d, n)
    st.insert(d, 1)
    return slice(x, s, lim, st), d


slice_p.def_impl(_slice_impl)
slice_p.def_abstract_eval(_slice_shape)
ad.deflinear(slice_p, _slice_transpose)
batching.batching_rules[slice_p] = _slice_batch


def slice(x, start_indices, limit_indices, strides=None):  # noqa: A001 - lax's name
    a = get_aval(x)
    strides = tuple(strides) if strides is not None else (1,) * a.ndim
    start_indices, limit_indices = tuple(map(int, start_indices)), tuple(map(int, limit_indices))
    if start_indices == (0,) * a.ndim and limit_indices == a.shape and strides == (1,) * a.ndim:
        return x
    return bind(slice_p, x, start_indices=start_indices, limit_indices=limit_indices,
                strides=tuple(map(int, strides)))


def slice_in_dim(x, start, limit, stride=1, axis=0):
    a = get_aval(x)
    s = [0] * a.ndim
    lim = list(a.shape)
    st = [1] * a.ndim
    s[axis], lim[axis], st[axis] = start, limit, stride
    return slice(x, s, lim, st)


# --------------------------------------------------------------------------- pad

pad_p = Primitive("pad", kind="library")


def _pad_shape(x, pv, *, padding_config):
    if pv.shape != () or pv.dtype != x.dtype:
        raise TypeError(f"funtorch.pad: padding value must be a scalar of {x.dtype}, got "
                        f"{fmt(pv)}")
    if len(padding_config) != x.ndim or any(i < 0 for _, _, i in padding_config):
        raise ValueError(f"funtorch.pad: bad padding config {padding_config} for {fmt(x)}")
    shape = tuple(lo + hi + n + max(0, n - 1) * i for n, (lo, hi, i) in
                  zip(x.shape, padding_config))
    if any(s < 0 for s in shape):
        raise ValueError(f"funtorch.pad: padding {padding_config} of {fmt(x)} gives a "
                         "negative size")
    return ShapedArray(shape, x.dtype)


def _pad_impl(x, pv, *, padding_config):
    shape = tuple(max(0, lo) + max(0, hi) + n + max(0, n - 1) * i
                  for n, (lo, hi, i) in zip(x.shape, padding_config))
    out = np.full(shape, pv, dtype=x.dtype)
    idx = tuple(np.s_[max(0, lo):max(0, lo) + n + max(0, n - 1) * i:i + 1]
                for n, (lo, hi, i) in zip(x.shape, padding_config))
    out[idx] = x
    crop = tuple(np.s_[max(0, -lo):s - max(0, -hi)] for s, (lo, hi, _) in
                 zip(shape, padding_config))
    return out[crop]


def _pad_transpose(ct, x, pv, *, padding_config):
    from .reductions import reduce_sum
    lo, hi, interior = zip(*padding_config) if padding_config else ((), (), ())
    t_x = None
    if is_undefined(x):
        unpadded = pad(ct, np.zeros((), ct_dtype(ct)), [(-a, -b, 0) for a, b in zip(lo, hi)])
        t_x = slice(unpadded, [0] * len(lo), get_aval(unpadded).shape,
                    [i + 1 for i in interior])
    t_pv = None
    if is_undefined(pv):
        nd = len(padding_config)
        total = reduce_sum(ct, tuple(range(nd)))
        t_pv = total if t_x is None else _sub(total, reduce_sum(t_x, tuple(range(nd))))
    return [t_x, t_pv]


def _sub(a, b):
    from .elementwise import sub
    return sub(a, b)


def _pad_jvp(primals, tangents, *, padding_config):
    ans = pad(*primals, padding_config)
    tx, tp = tangents
    if type(tx) is Zero and type(tp) is Zero:
        return ans, Zero.from_value(ans)
    return ans, pad(ad.instantiate(tx), ad.instantiate(tp), padding_config)


def _pad_batch(vals, dims, *, padding_config):
    x, pv = vals
    dx, dpv = dims
    size = batching.batch_size_of(vals, dims)
    if dpv is None:
        cfg = list(padding_config)
        cfg.insert(dx, (0, 0, 0))
        return pad(x, pv, cfg), dx
    from .elementwise import select_n
    x = bdim_at_front(x, dx, size)
    cfg = [(0, 0, 0), *padding_config]
    padded = pad(x, np.zeros((), get_aval(x).dtype), cfg)
    mask = pad(full(get_aval(x).shape, True, dtypes.bool_), np.asarray(False), cfg)
    pv_b = broadcast_in_dim(moveaxis(pv, dpv, 0), get_aval(padded).shape, (0,))
    return select_n(mask, pv_b, padded), 0


pad_p.def_impl(_pad_impl)
pad_p.def_abstract_eval(_pad_shape)
ad.jvp_rules[pad_p] = _pad_jvp
ad.transpose_rules[pad_p] = _pad_transpose
batching.batching_rules[pad_p] = _pad_batch


def pad(x, padding_value, padding_config):
    padding_config = tuple((int(lo), int(hi), int(i)) for lo, hi, i in padding_config)
    if all(c == (0, 0, 0) for c in padding_config):
        return x
    return bind(pad_p, x, padding_value, padding_config=padding_config)


# --------------------------------------------------------------------------- concatenate

concatenate_p = Primitive("concatenate", kind="library")


def _concatenate_shape(*xs, dimension):
    x0 = xs[0]
    for x in xs[1:]:
        if x.dtype != x0.dtype or x.ndim != x0.ndim or any(
                a != b for i, (a, b) in enumerate(zip(x.shape, x0.shape)) if i != dimension):
            raise ValueError(f"funtorch.concatenate: arrays must match except along axis "
                             f"{dimension}, got {fmt(*xs)}")
    shape = list(x0.shape)
    shape[dimension] = sum(x.shape[dimension] for x in xs)
    return ShapedArray(shape, x0.dtype)


def _concatenate_transpose(ct, *xs, dimension):
    out, start = [], 0
    for x in xs:
        n = (x.aval if is_undefined(x) else get_aval(x)).shape[dimension]
        out.append(slice_in_dim(ct, start, start + n, 1, dimension) if is_undefined(x) else None)
        start += n
    return out


def _concatenate_jvp(primals, tangents, *, dimension):
    ans = concatenate(primals, dimension)
    if all(type(t) is Zero for t in tangents):
        return ans, Zero.from_value(ans)
    return ans, concatenate([ad.instantiate(t) for t in tangents], dimension)


def _concatenate_batch(vals, dims, *, dimension):
    size = batching.batch_size_of(vals, dims)
    return concatenate([bdim_at_front(v, d, size) for v, d in zip(vals, dims)],
                       dimension + 1), 0


concatenate_p.def_impl(lambda *xs, dimension: np.concatenate(xs, axis=dimension))
concatenate_p.def_abstract_eval(_concatenate_shape)
ad.jvp_rules[concatenate_p] = _concatenate_jvp
ad.transpose_rules[concatenate_p] = _concatenate_transpose
batching.batching_rules[concatenate_p] = _concatenate_batch


def concatenate(xs, dimension):
    xs = list(xs)
    if len(xs) == 1:
        return xs[0]
    return bind(concatenate_p, *xs, dimension=int(dimension))


# --------------------------------------------------------------------------- rev

rev_p = Primitive("rev", kind="view")
rev_p.def_impl(lambda x, *, dimensions: np.flip(x, dimensions))
rev_p.def_abstract_eval(lambda x, *, dimensions: x)
ad.deflinear(rev_p, lambda ct, x, *, dimensions: [rev(ct, dimensions)])
batching.batching_rules[rev_p] = lambda vals, dims, *, dimensions: (
    rev(vals[0], tuple(d + (1 if d >= dims[0] else 0) for d in dimensions)), dims[0])


def rev(x, dimensions):
    dimensions = canonical_axes("flip", dimensions, get_aval(x).ndim)
    if not dimensions:
        return x
    return bind(rev_p, x, dimensions=tuple(sorted(dimensions)))


# --------------------------------------------------------------------------- iota

iota_p = Primitive("iota", kind="view")


def _iota_impl(*, dtype, shape, dimension):
    r = np.arange(shape[dimension], dtype=dtype)
    s = [1] * len(shape)
    s[dimension] = shape[dimension]
    return np.broadcast_to(r.reshape(s), shape)


iota_p.def_impl(_iota_impl)
iota_p.def_abstract_eval(lambda *, dtype, shape, dimension: ShapedArray(shape, dtype))


def iota(dtype, size):
    return bind(iota_p, dtype=dtypes.dtype(dtype), shape=(int(size),), dimension=0)


def broadcasted_iota(dtype, shape, dimension):
    return bind(iota_p, dtype=dtypes.dtype(dtype), shape=tuple(map(int, shape)),
                dimension=int(dimension))
