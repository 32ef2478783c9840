"""Random numbers with explicit keys: JAX's counter-based threefry-2x32 design.

A key is a plain ``uint32[2]`` array (the raw key data of JAX's ``PRNGKey``). ``split``
and ``fold_in`` derive new keys; samplers hash one counter per output element. Everything
here is a composite of primitives (``lax.threefry2x32`` does the hashing), so it runs
under jit and vmap, and gradients treat samples as constants.

Keys, ``split``, ``fold_in``, ``bits`` and ``uniform`` give JAX's bits for the same key, as
JAX's default configuration computes them (threefry "partitionable" mode, 32-bit seeds),
and so do ``normal``, ``truncated_normal``, ``bernoulli``, ``categorical``, ``randint``,
``permutation``, ``gumbel`` and ``choice``, which follow JAX's algorithms and compute
their logs, erf and erf_inv as XLA's CPU code does (``lax.special.xla_log`` etc.), for
every float dtype. (float64 logs are the C library's: eagerly, numpy's own float64 log
can differ from it in the last bit, about once in a thousand values; under ``jit`` they
agree.)
"""

from __future__ import annotations

import math
import operator

import numpy as np

from . import lax
from . import numpy as fnp
from .core import dtypes
from .core.trace import Tracer, get_aval
from .lax import special
from .numpy._core import canonicalize_axis
from .numpy.creation import _size

__all__ = ["PRNGKey", "bernoulli", "bits", "categorical", "choice", "fold_in", "gumbel",
           "key", "key_data", "normal", "permutation", "randint", "split", "truncated_normal",
           "uniform"]


# --------------------------------------------------------------------------- keys

def key(seed):
    """A key from an integer seed: ``[0, seed mod 2**32]``.

    JAX's default (32-bit) mode keeps only the seed's low 32 bits, so large and negative
    seeds wrap exactly as they do there.
    """
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)):
        return fnp.asarray(np.array([0, int(seed) % 2**32], np.uint32))
    try:
        seed = fnp.asarray(seed)
    except (TypeError, ValueError):
        raise TypeError(f"funtorch.random.key: needs an integer seed, got "
                        f"{type(seed).__name__} {seed!r:.60}; e.g. ft.random.key(0)") from None
    if seed.ndim or not dtypes.is_int(seed.dtype):
        raise TypeError(f"funtorch.random.key: needs an integer scalar seed, got "
                        f"{get_aval(seed).str_short()}; for many keys use split, or "
                        "ft.vmap(ft.random.key)(seeds)")
    return _stack_words(lax.full((), 0, dtypes.uint32),
                        lax.convert_element_type(seed, dtypes.uint32))


PRNGKey = key


def key_data(keys):
    """The raw ``uint32[..., 2]`` data of a key or of an array of keys (JAX's
    ``jax.random.key_data``). funtorch keys are that data already, so this checks and
    returns them: code written for JAX's typed keys ports unchanged."""
    try:
        keys = fnp.asarray(keys)
    except (TypeError, ValueError):
        raise TypeError(f"funtorch.random.key_data: expected keys (uint32 arrays of shape "
                        f"(..., 2)), got {type(keys).__name__} {keys!r:.60}") from None
    aval = get_aval(keys)
    if aval.dtype != dtypes.uint32 or not aval.ndim or aval.shape[-1] != 2:
        raise TypeError(f"funtorch.random.key_data: expected keys (uint32 arrays of shape "
                        f"(..., 2) from ft.random.key or split), got {aval.str_short()}")
    return keys


def split(key, num=2):
    """``num`` new keys (an int or a shape), stacked on a leading axis."""
    k = _check_key("split", key)
    return _stack_words(*_hash(k, _shape("split", num)))


def fold_in(key, data):
    """A new key that mixes in integer ``data`` (taken mod 2**32), e.g. a step count."""
    k = _check_key("fold_in", key)
    if isinstance(data, (int, np.integer)):
        data = np.uint32(int(data) % 2**32)
    else:
        data = fnp.asarray(data)
        if data.ndim or not dtypes.is_int(data.dtype):
            raise TypeError(f"funtorch.random.fold_in: data must be an integer scalar, got "
                            f"{get_aval(data).str_short()}; use ft.vmap for many values")
        data = lax.convert_element_type(data, dtypes.uint32)
    k1, k2 = _key_words(k, ())
    return _stack_words(*lax.threefry2x32(k1, k2, lax.full((), 0, dtypes.uint32), data))


def _check_key(name, key, op=None):
    """``key`` as an array, else an error naming ``op`` (default funtorch.random.<name>)."""
    call = f"ft.random.{name}" if op is None else op
    op = op or f"funtorch.random.{name}"
    try:
        key = fnp.asarray(key)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: expected a key (a uint32 array of shape (2,) "
                        f"from ft.random.key, split or fold_in), got {type(key).__name__} "
                        f"{key!r:.60}") from None
    aval = get_aval(key)
    if aval.dtype == dtypes.uint32 and aval.shape == (2,):
        return key
    if aval.dtype == dtypes.uint32 and aval.ndim > 1 and aval.shape[-1] == 2:
        raise ValueError(
            f"{op}: takes a single key, got a batch of keys "
            f"{aval.str_short()}; map over them, e.g. "
            f"ft.vmap(lambda k: {call}(k, ...))(keys)")
    raise TypeError(
        f"{op}: expected a key (a uint32 array of shape (2,) from "
        f"ft.random.key, split or fold_in), got {aval.str_short()}")


def _key_words(key, shape):
    """The key's two words, broadcast to ``shape``."""
    words = [lax.reshape(lax.slice(key, (i,), (i + 1,)), ()) for i in (0, 1)]
    return [lax.broadcast_in_dim(w, shape, ()) for w in words]


def _stack_words(w1, w2):
    nd = get_aval(w1).ndim
    return lax.concatenate([lax.expand_dims(w1, (nd,)), lax.expand_dims(w2, (nd,))], nd)


def _split2(key):
    keys = split(key)
    return [lax.reshape(lax.slice(keys, (i, 0), (i + 1, 2)), (2,)) for i in (0, 1)]


def _shape(name, shape):
    try:
        shape = (operator.index(shape),) if not isinstance(shape, (tuple, list)) else \
            tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(f"funtorch.random.{name}: shape must be an int or a tuple of ints, "
                        f"got {shape!r}") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"funtorch.random.{name}: negative dimension in shape {shape}")
    return shape


# --------------------------------------------------------------------------- bits

def _hash(key, shape):
    """threefry2x32 of the key over the counters 0..size-1 laid out in ``shape``.

    As JAX's partitionable mode: each counter is a 64-bit index split into (hi, lo).
    """
    size = math.prod(shape)
    if size >= 2**32:
        raise ValueError(f"funtorch.random: cannot draw {size} values at once (at most "
                         "2**32 - 1); split the key and draw in parts")
    lo = lax.reshape(lax.iota(dtypes.uint32, size), shape)
    return lax.threefry2x32(*_key_words(key, shape), lax.full(shape, 0, dtypes.uint32), lo)


def _bits(key, width, shape):
    b1, b2 = _hash(key, shape)
    if width == 64:
        hi, lo = (lax.convert_element_type(b, dtypes.uint64) for b in (b1, b2))
        return lax.bitwise_or(lax.shift_left(hi, lax.full(shape, 32, dtypes.uint64)), lo)
    b = lax.bitwise_xor(b1, b2)
    return b if width == 32 else lax.convert_element_type(b, np.dtype(f"uint{width}"))


def bits(key, shape=(), dtype=dtypes.uint32):
    """Uniformly random unsigned integers."""
    k = _check_key("bits", key)
    dtype = dtypes.dtype(dtype)
    if not dtypes.is_unsigned(dtype):
        raise TypeError(f"funtorch.random.bits: dtype must be unsigned (uint8/16/32/64), "
                        f"got {dtype}")
    return _bits(k, dtype.itemsize * 8, _shape("bits", shape))


# --------------------------------------------------------------------------- floats

def _float_dtype(name, dtype):
    dtype = dtypes.dtype(dtype)
    if not dtypes.is_float(dtype):
        raise TypeError(f"funtorch.random.{name}: dtype must be a float dtype, got {dtype}")
    return dtype


def _check_broadcast(name, shape, **params):
    """Parameters must broadcast to the sample shape without enlarging it."""
    shapes = {k: get_aval(v).shape if not isinstance(v, tuple) else v
              for k, v in params.items()}
    try:
        ok = np.broadcast_shapes(shape, *shapes.values()) == shape
    except ValueError:
        ok = False
    if not ok:
        given = ", ".join(f"{k} of shape {s}" for k, s in shapes.items())
        raise ValueError(f"funtorch.random.{name}: {given} must broadcast to shape {shape}")


def _check_bounds(name, shape, lo, hi, what=("minval", "maxval")):
    """Bounds broadcast to ``shape``; concrete ones must be ordered (traced ones can't be
    checked, and then behave as in JAX)."""
    _check_broadcast(name, shape, **{what[0]: lo, what[1]: hi})
    if not isinstance(lo, Tracer) and not isinstance(hi, Tracer):
        lo_v, hi_v = np.asarray(lo), np.asarray(hi)
        if not np.all(lo_v < hi_v):
            raise ValueError(f"funtorch.random.{name}: needs {what[0]} < {what[1]}, got "
                             f"{what[0]}={lo_v}, {what[1]}={hi_v}")


def _unit(key, shape, dtype):
    """JAX's construction of floats in [0, 1): random mantissa bits under the exponent of
    1.0 give [1, 2), minus 1."""
    finfo = dtypes.finfo(dtype)
    nbits, nmant = finfo.bits, finfo.nmant
    uint = np.dtype(f"uint{nbits}")
    rng_bits = 8 if nmant < 8 else nbits
    b = lax.convert_element_type(_bits(key, rng_bits, shape), uint)
    mantissa = lax.shift_right_logical(b, lax.full(shape, rng_bits - nmant, uint))
    one = lax.full(shape, np.array(1.0, dtype).view(uint), uint)
    return lax.sub(lax.bitcast_convert_type(lax.bitwise_or(mantissa, one), dtype),
                   lax.full(shape, 1, dtype))


def _scaled(floats, minval, maxval):
    """max(minval, floats * (maxval - minval) + minval) as XLA's CPU code computes it: one
    fused multiply-add in float32 and float64; the 16-bit floats round after each op."""
    dt = get_aval(floats).dtype
    span = fnp.subtract(maxval, minval)
    if dt in dtypes.HALVES:
        return fnp.maximum(minval, fnp.add(fnp.multiply(floats, span), minval))
    span, lo = (fnp.broadcast_to(fnp.astype(v, dt), floats.shape) for v in (span, minval))
    return fnp.maximum(minval, special.fma(floats, span, lo))


def _uniform(key, shape, dtype, minval, maxval):
    floats = _unit(key, shape, dtype)
    if all(not isinstance(v, Tracer) and np.shape(v) == () for v in (minval, maxval)) \
            and float(minval) == 0 and float(maxval) == 1:
        return floats  # the common [0, 1): scaling would be exact, skip it
    return _scaled(floats, minval, maxval)


def uniform(key, shape=(), dtype=dtypes.float32, minval=0.0, maxval=1.0):
    """Floats in [minval, maxval)."""
    k = _check_key("uniform", key)
    dtype, shape = _float_dtype("uniform", dtype), _shape("uniform", shape)
    minval, maxval = fnp.asarray(minval, dtype), fnp.asarray(maxval, dtype)
    _check_bounds("uniform", shape, minval, maxval)
    return _uniform(k, shape, dtype, minval, maxval)


def normal(key, shape=(), dtype=dtypes.float32):
    """Standard normal floats, as JAX: sqrt(2) * erf_inv(u) with u uniform in (-1, 1)."""
    k = _check_key("normal", key)
    dtype, shape = _float_dtype("normal", dtype), _shape("normal", shape)
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    u = _uniform(k, shape, dtype, fnp.asarray(lo), fnp.asarray(1.0, dtype))
    return lax.mul(lax.full(shape, np.sqrt(2), dtype), lax.erf_inv(u))


def truncated_normal(key, lower, upper, shape=None, dtype=dtypes.float32):
    """Standard normal floats conditioned on the open interval (lower, upper)."""
    k = _check_key("truncated_normal", key)
    dtype = _float_dtype("truncated_normal", dtype)
    lower, upper = fnp.asarray(lower, dtype), fnp.asarray(upper, dtype)
    shape = (np.broadcast_shapes(lower.shape, upper.shape) if shape is None
             else _shape("truncated_normal", shape))
    _check_bounds("truncated_normal", shape, lower, upper, ("lower", "upper"))
    # x / sqrt(2) as XLA computes a division by a constant: times its reciprocal
    sqrt2 = np.array(np.sqrt(2), dtype)
    inv_sqrt2 = np.array(1, dtype) / sqrt2
    a = special.xla_erf(fnp.multiply(lower, inv_sqrt2))
    b = special.xla_erf(fnp.multiply(upper, inv_sqrt2))
    out = fnp.multiply(sqrt2, lax.erf_inv(_scaled(_unit(k, shape, dtype), a, b)))
    # rounding must not reach the bounds themselves
    return fnp.clip(out, _next_float(lower, up=True), _next_float(upper, up=False))


def _next_float(x, up):
    """numpy's nextafter(x, +-inf), by stepping the bit pattern (works on traced x)."""
    dt = get_aval(x).dtype
    ints = np.dtype(f"int{dt.itemsize * 8}")
    b = lax.bitcast_convert_type(x, ints)
    one = lax.full_like(b, 1)
    grow = fnp.greater(x, 0) if up else fnp.less(x, 0)
    stepped = fnp.where(grow, lax.add(b, one), lax.sub(b, one))
    smallest = np.array(1 if up else -2**(8 * dt.itemsize - 1) + 1, ints)
    return lax.bitcast_convert_type(fnp.where(fnp.equal(x, 0), smallest, stepped), dt)


def bernoulli(key, p=0.5, shape=None):
    """Booleans that are True with probability ``p``."""
    k = _check_key("bernoulli", key)
    p = fnp.asarray(p)
    if not dtypes.is_float(p.dtype):
        raise TypeError(f"funtorch.random.bernoulli: p must be a float array, got {p.dtype}")
    shape = p.shape if shape is None else _shape("bernoulli", shape)
    _check_broadcast("bernoulli", shape, p=p)
    zero, one = fnp.asarray(0, p.dtype), fnp.asarray(1, p.dtype)
    return fnp.less(_uniform(k, shape, p.dtype, zero, one), p)


def _gumbel(key, shape, dtype, mode="low"):
    """JAX's construction: -log(-log(u)), u uniform in [tiny, 1) ('low'); 'high' adds a
    second draw's bits below the first's for u < 1/2, and uses log1p."""
    info = dtypes.finfo(dtype)
    if mode == "low":
        # uniform in [tiny, 1) as XLA simplifies it with constant bounds: the span 1 - tiny
        # rounds to 1 and the shift by tiny folds into the -1 of [1, 2) -> [0, 1), so
        # u = max(tiny, [0, 1) draw) (it matters for float16, whose tiny is 2**-14)
        zero, one = fnp.asarray(0, dtype), fnp.asarray(1, dtype)
        u = fnp.maximum(fnp.asarray(info.tiny, dtype), _uniform(key, shape, dtype, zero, one))
        return fnp.negative(special.xla_log(fnp.negative(special.xla_log(u))))
    if mode != "high":
        raise ValueError(f"funtorch.random.gumbel: mode must be 'low' or 'high', got {mode!r}")
    both = _uniform(key, (2,) + shape, dtype, fnp.asarray(0, dtype), fnp.asarray(1, dtype))
    high, low = both[0], both[1]
    finer = fnp.add(fnp.add(high, fnp.multiply(np.array(2.0 ** -info.nmant, dtype), low)),
                    np.array(info.tiny, dtype))
    u = fnp.where(fnp.greater_equal(high, np.array(0.5, dtype)), high, finer)
    return fnp.negative(special.xla_log(fnp.negative(special.xla_log1p(fnp.negative(u)))))


def gumbel(key, shape=(), dtype=dtypes.float32, mode="low"):
    """Standard Gumbel floats (``-log(-log(u))``); ``mode='high'`` spends twice the bits
    for the far left tail, as JAX's."""
    k = _check_key("gumbel", key)
    dtype, shape = _float_dtype("gumbel", dtype), _shape("gumbel", shape)
    return _gumbel(k, shape, dtype, mode)


def categorical(key, logits, axis=-1, shape=None):
    """Indices drawn with probabilities softmax(logits, axis), by the Gumbel-max trick."""
    k = _check_key("categorical", key)
    logits = fnp.asarray(logits)
    if not dtypes.is_float(logits.dtype):
        raise TypeError(f"funtorch.random.categorical: logits must be floats, got "
                        f"{logits.dtype}")
    if logits.ndim == 0:
        raise ValueError("funtorch.random.categorical: logits need at least one axis")
    axis = canonicalize_axis("random.categorical", axis, logits.ndim)
    batch_shape = logits.shape[:axis] + logits.shape[axis + 1:]
    shape = batch_shape if shape is None else _shape("categorical", shape)
    _check_broadcast("categorical", shape, batch_shape_of_logits=batch_shape)
    # noise for every draw and category; the logits broadcast against it
    noise_shape = list(shape)
    noise_shape.insert(len(shape) - len(batch_shape) + axis, logits.shape[axis])
    noise = _gumbel(k, tuple(noise_shape), logits.dtype)
    return fnp.argmax(fnp.add(noise, logits), axis=axis - logits.ndim)


# --------------------------------------------------------------------------- integers

def _convert_and_clip(x, dtype):
    """``x`` cast to ``dtype``, saturating instead of wrapping."""
    src, dst = dtypes.iinfo(x.dtype), dtypes.iinfo(dtype)
    lo, hi = max(src.min, dst.min), min(src.max, dst.max)
    x = lax.max(x, lax.full_like(x, lo))
    return lax.convert_element_type(lax.min(x, lax.full_like(x, hi)), dtype)


def _rem(x, span):
    """x % span with XLA's x % 0 == x (JAX relies on it for the full integer range)."""
    zero = lax.eq(span, lax.full_like(span, 0))
    safe = lax.select_n(zero, span, lax.full_like(span, 1))
    return lax.select_n(zero, lax.rem(x, safe), x)


def randint(key, shape, minval, maxval, dtype=dtypes.int64):
    """Integers in [minval, maxval), with JAX's algorithm (two words of bits per value)."""
    k = _check_key("randint", key)
    dtype, shape = dtypes.dtype(dtype), _shape("randint", shape)
    if not dtypes.is_int(dtype):
        raise TypeError(f"funtorch.random.randint: dtype must be an integer dtype, got {dtype}")
    if minval is None or maxval is None:
        raise TypeError(f"funtorch.random.randint: minval and maxval must be integers or "
                        f"integer arrays, got {minval!r:.40} and {maxval!r:.40}")
    minval, maxval = fnp.asarray(minval), fnp.asarray(maxval)
    if not (dtypes.is_int(minval.dtype) and dtypes.is_int(maxval.dtype)):
        raise TypeError(f"funtorch.random.randint: bounds must be integers, got "
                        f"{minval.dtype} and {maxval.dtype}")
    _check_bounds("randint", shape, minval, maxval)
    info = dtypes.iinfo(dtype)
    if info.bits < 32:
        # sample in 32 bits to keep the modulo bias small, as JAX
        i32 = dtypes.int32
        minval = lax.convert_element_type(fnp.clip(minval, info.min, info.max), i32)
        maxval = lax.convert_element_type(fnp.clip(maxval, info.min, info.max + 1), i32)
        return lax.convert_element_type(_randint(k, shape, minval, maxval, i32), dtype)
    return _randint(k, shape, minval, maxval, dtype)


def _randint(key, shape, minval, maxval, dtype):
    nbits = dtypes.iinfo(dtype).bits
    uint = np.dtype(f"uint{nbits}")
    top = _convert_and_clip(fnp.asarray(dtypes.iinfo(dtype).max, dtype), maxval.dtype)
    too_big = fnp.broadcast_to(fnp.greater(maxval, top), shape)
    minval = fnp.broadcast_to(_convert_and_clip(minval, dtype), shape)
    maxval = fnp.broadcast_to(_convert_and_clip(maxval, dtype), shape)
    k1, k2 = _split2(key)
    higher, lower = _bits(k1, nbits, shape), _bits(k2, nbits, shape)
    span = lax.convert_element_type(lax.sub(maxval, minval), uint)
    one = lax.full_like(span, 1)
    span = lax.select_n(lax.le(maxval, minval), span, one)
    # maxval beyond the dtype: one more value (the span may wrap to 0 = the full range)
    span = lax.select_n(fnp.logical_and(too_big, lax.gt(maxval, minval)), span,
                        lax.add(span, one))
    # (hi * 2**nbits + lo) % span without overflow: multiplier = 2**nbits % span
    multiplier = _rem(lax.full_like(span, 2 ** (nbits // 2)), span)
    multiplier = _rem(lax.mul(multiplier, multiplier), span)
    offset = _rem(lax.add(lax.mul(_rem(higher, span), multiplier), _rem(lower, span)), span)
    return lax.add(minval, lax.convert_element_type(offset, dtype))


# --------------------------------------------------------------------------- permutations

def _shuffle(key, x, axis):
    """Sort by fresh random 32-bit keys, as JAX: enough rounds (3 log n / log 2**32) that
    key collisions are unlikely to leave any bias."""
    rounds = int(np.ceil(3 * np.log(max(1, math.prod(x.shape))) / np.log(2**32 - 1)))
    for _ in range(rounds):
        key, subkey = _split2(key)
        x = lax.sort([_bits(subkey, 32, x.shape), x], axis)[1]
    return x


def _concrete_count(name, n):
    """A population size: it fixes output shapes, so it cannot be traced."""
    if not isinstance(n, (int, np.integer)):
        n = fnp.asarray(n)
        if n.ndim or not dtypes.is_int(n.dtype):
            raise TypeError(f"funtorch.random.{name}: needs an int or an array with at least "
                            f"one axis, got {get_aval(n).str_short()}")
        n = int(n)
    return _size(n, f"random.{name}", "population size")


def permutation(key, x, axis=0, independent=False):
    """A random permutation of ``arange(x)`` (int ``x``), or ``x`` shuffled along ``axis``
    (every slice along ``axis`` shuffled on its own if ``independent``)."""
    k = _check_key("permutation", key)
    if isinstance(x, (int, np.integer)) or np.ndim(x) == 0:
        return _shuffle(k, fnp.arange(_concrete_count("permutation", x)), 0)
    x = fnp.asarray(x)
    axis = canonicalize_axis("random.permutation", axis, x.ndim)
    if independent or x.ndim == 1:
        return _shuffle(k, x, axis)
    return fnp.take(x, _shuffle(k, fnp.arange(x.shape[axis]), 0), axis)


def choice(key, a, shape=(), replace=True, p=None, axis=0):
    """Draws from ``arange(a)`` (int ``a``) or from ``a`` along ``axis``, optionally
    without replacement or with probabilities ``p``."""
    k = _check_key("choice", key)
    shape = _shape("choice", shape)
    if isinstance(a, (int, np.integer)) or np.ndim(a) == 0:
        arr, n = None, _concrete_count("choice", a)
    else:
        arr = fnp.asarray(a)
        axis = canonicalize_axis("random.choice", axis, arr.ndim)
        n = arr.shape[axis]
    draws = math.prod(shape)
    if draws and n <= 0:
        raise ValueError(f"funtorch.random.choice: cannot draw from an empty population "
                         f"(size {n})")
    if not replace and draws > n:
        raise ValueError(f"funtorch.random.choice: cannot draw {draws} values from {n} "
                         "without replacement")
    if p is not None:
        p = fnp.asarray(p)
        if p.shape != (n,) or not dtypes.is_float(p.dtype):
            raise ValueError(f"funtorch.random.choice: p must be a float vector of shape "
                             f"({n},), got {get_aval(p).str_short()}")
    if not draws:
        ind = fnp.zeros(shape, dtypes.int64)
    elif p is None and replace:
        # int32 draws where they suffice: the same bits as JAX's default 32-bit mode
        small = dtypes.int32 if n < 2**31 else dtypes.int64
        ind = lax.convert_element_type(randint(k, shape, 0, n, small), dtypes.int64)
    elif p is None:
        ind = lax.reshape(lax.slice(permutation(k, n), (0,), (draws,)), shape)
    elif replace:
        # inverse CDF, as JAX (searchsorted = how many cumulative sums lie below)
        cdf = fnp.cumsum(p)
        u = _uniform(k, shape, p.dtype, fnp.asarray(0, p.dtype), fnp.asarray(1, p.dtype))
        r = fnp.multiply(cdf[-1], fnp.subtract(1, u))
        ind = fnp.sum(fnp.less(cdf, fnp.expand_dims(r, -1)), axis=-1)
    else:
        # Gumbel top-k: the largest perturbed log-probabilities
        g = fnp.add(_gumbel(k, (n,), p.dtype), fnp.log(p))
        ind = lax.reshape(lax.slice(fnp.argsort(g, descending=True), (0,), (draws,)), shape)
    return ind if arr is None else fnp.take(arr, ind, axis)
