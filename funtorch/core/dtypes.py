"""dtypes: numpy dtypes plus ml_dtypes' bfloat16, and the promotion rules.

Promotion follows numpy for same-kind operands. Python scalars are *weak*: they
take the dtype of the array they meet (JAX's rule), so ``float32 * 2.0`` stays
float32 and ``int32 + 1`` stays int32.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
bfloat16 = np.dtype(ml_dtypes.bfloat16)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
uint16 = np.dtype(np.uint16)
uint32 = np.dtype(np.uint32)
uint64 = np.dtype(np.uint64)
bool_ = np.dtype(np.bool_)
# JAX's float0: the tangent type of integer and boolean values.
float0 = np.dtype([("float0", np.void, 0)])

default_float = float32
default_int = int64

_SUPPORTED = {float16, float32, float64, bfloat16, int8, int16, int32, int64,
              uint8, uint16, uint32, uint64, bool_}


def dtype(x) -> np.dtype:
    """The canonical numpy dtype of a dtype-like (``'float32'``, ``np.float32``, ...)."""
    try:
        d = np.dtype(x)
    except TypeError as e:
        raise TypeError(f"funtorch: {x!r} is not a dtype") from e
    if d not in _SUPPORTED:
        raise TypeError(
            f"funtorch: dtype {d} is not supported; use one of "
            f"{sorted(str(s) for s in _SUPPORTED)}")
    return d


def is_float(d) -> bool:
    d = np.dtype(d)
    return d == bfloat16 or np.issubdtype(d, np.floating)


def is_int(d) -> bool:
    return np.issubdtype(np.dtype(d), np.integer)


def is_unsigned(d) -> bool:
    return np.issubdtype(np.dtype(d), np.unsignedinteger)


def is_bool(d) -> bool:
    return np.dtype(d) == bool_


def is_differentiable(d) -> bool:
    return is_float(d)


def kind(d) -> str:
    """'b', 'i' (signed and unsigned) or 'f'."""
    if is_bool(d):
        return "b"
    if is_int(d):
        return "i"
    return "f"


_FLOAT_ORDER = [float16, bfloat16, float32, float64]

# The 16-bit floats. They compute in float32 and round once, as numpy's half loops, JAX
# (upcast_f16_for_computation) and PyTorch do: a 16-bit running sum overflows (float16
# past 65504) or stalls (bfloat16: 256 + 1 == 256), and numpy's matmul has no BLAS path.
HALVES = frozenset([float16, bfloat16])


def compute_dtype(d) -> np.dtype:
    """The dtype values of dtype ``d`` compute in: float32 for ``HALVES``, else ``d``."""
    d = np.dtype(d)
    return float32 if d in HALVES else d


def _promote2(a: np.dtype, b: np.dtype) -> np.dtype:
    if a == b:
        return a
    if bfloat16 in (a, b):
        other = b if a == bfloat16 else a
        if other == float16:
            return float32  # as JAX: the two halves have no common 16-bit type
        if is_float(other):
            return _FLOAT_ORDER[max(_FLOAT_ORDER.index(a), _FLOAT_ORDER.index(b))]
        return bfloat16
    return np.promote_types(a, b)


def result_type(*args) -> np.dtype:
    """Promote the dtypes of ``args``; Python scalars are weak (JAX semantics), and so
    are traced values marked ``weak_type`` (Python scalars passed to ``jit``)."""
    strong, weak = [], []
    for a in args:
        if is_weakly_typed(a):
            weak.append(a)
        else:
            strong.append(_dtype_of(a))
    if strong:
        out = strong[0]
        for d in strong[1:]:
            out = _promote2(out, d)
    else:
        out = None
    for w in weak:
        out = _weak_join(out, w)
    return out


def _weak_join(d, w):
    wk = scalar_kind(w)
    if d is None:
        return {"b": bool_, "i": default_int, "f": default_float, "c": None}[wk]
    order = "bif"
    if order.index(wk) <= order.index(kind(d)):
        return d
    return default_int if wk == "i" else default_float


def scalar_kind(x) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "b"
    if isinstance(x, int):
        return "i"
    if isinstance(x, float):
        return "f"
    if isinstance(x, complex):
        raise TypeError("funtorch: complex numbers are not supported")
    if is_weakly_typed(x):   # a weakly typed traced value
        return kind(x.dtype)
    raise TypeError(f"funtorch: {type(x).__name__} is not a scalar")


def is_weak(x) -> bool:
    """Python scalars (not numpy scalars) are weakly typed. (Traced values may be weak
    too: ``is_weakly_typed`` asks about both.)"""
    return isinstance(x, (bool, int, float, complex)) and not isinstance(x, np.generic)


def is_weakly_typed(x) -> bool:
    """A Python scalar, or a value marked ``weak_type`` (a tracer of one, see
    ``ShapedArray.weak_type``; a concrete ``Array`` is always strong)."""
    return is_weak(x) or bool(getattr(x, "weak_type", False))


def _dtype_of(x) -> np.dtype:
    d = getattr(x, "dtype", None)
    if d is not None:
        return np.dtype(d)
    return np.asarray(x).dtype


def canonical_python_dtype(x) -> np.dtype:
    """dtype for a Python value on its own: float -> float32, int -> int64, bool -> bool."""
    return {"b": bool_, "i": default_int, "f": default_float}[scalar_kind(x)]


def short_name(d) -> str:
    d = np.dtype(d)
    if d == bfloat16:
        return "bf16"
    if d == float0:
        return "float0"
    return {"f": "f", "i": "i", "u": "u", "b": "bool"}[d.kind] + (
        "" if d.kind == "b" else str(d.itemsize * 8))


def finfo(d):
    return ml_dtypes.finfo(d) if np.dtype(d) == bfloat16 else np.finfo(d)


def iinfo(d):
    return np.iinfo(d)
