"""dtypes: numpy dtypes plus ml_dtypes' bfloat16, and the promotion rules.

Arrays promote by JAX's type-promotion lattice (``jax.numpy.promote_types`` with 64-bit
types on): an integer array meeting a float array takes the float's type, so
``int64 * float32`` is float32, as in JAX and PyTorch. Python scalars are *weak*: they
take the dtype of the array they meet (JAX's rule), so ``float32 * 2.0`` stays float32
and ``int32 + 1`` stays int32; a Python float meeting an integer array gives the default
float (float32). docs/type_promotion.md has the table.
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



# The 16-bit floats. They compute in float32 and round once, as numpy's half loops, JAX
# (upcast_f16_for_computation) and PyTorch do: a 16-bit running sum overflows (float16
# past 65504) or stalls (bfloat16: 256 + 1 == 256), and numpy's matmul has no BLAS path.
HALVES = frozenset([float16, bfloat16])


def compute_dtype(d) -> np.dtype:
    """The dtype values of dtype ``d`` compute in: float32 for ``HALVES``, else ``d``."""
    d = np.dtype(d)
    return float32 if d in HALVES else d


# JAX's type-promotion lattice (``jax.numpy.promote_types`` with 64-bit types on), over
# funtorch's dtypes. Each dtype lists the types just above it; two dtypes promote to their
# least upper bound. Signed and unsigned integers of 64 bits meet only at the floats ("f*"
# in JAX's lattice, float64 here), and an integer meeting a float takes the float's type,
# so an int64 array times a float32 array is float32, as in JAX and PyTorch.
_LATTICE_UP = {
    bool_: [uint8, int8],
    uint8: [uint16, int16], uint16: [uint32, int32], uint32: [uint64, int64],
    uint64: ["f*"],
    int8: [int16], int16: [int32], int32: [int64], int64: ["f*"],
    "f*": [float16, bfloat16],
    float16: [float32], bfloat16: [float32], float32: [float64], float64: [],
}


def _upper_bounds(lattice):
    """Each node's set of upper bounds (itself included): the lattice's transitive closure."""
    ub = {}

    def visit(n):
        if n not in ub:
            ub[n] = {n}.union(*(visit(m) for m in lattice[n]))
        return ub[n]

    for n in lattice:
        visit(n)
    return ub


_UPPER = _upper_bounds(_LATTICE_UP)


def _lub(a, b):
    common = _UPPER[a] & _UPPER[b]
    # the least upper bound: the common bound that all others lie above
    (least,) = [c for c in common if common <= _UPPER[c]]
    return least


# The join of every two nodes, computed once: promotion sits on every op's dispatch path.
# Joins fold over all operands before "f*" resolves to float64, so that, as in JAX,
# uint64, int8 and float16 together give float16.
_JOIN = {(a, b): _lub(a, b) for a in _LATTICE_UP for b in _LATTICE_UP}


def promote_types(a, b) -> np.dtype:
    """The dtype two arrays of dtypes ``a`` and ``b`` promote to: JAX's lattice with 64-bit
    types on (``jax.numpy.promote_types``). Integers meeting floats take the float's type
    (int64, float32 -> float32); bfloat16 and float16 meet at float32; int64 and uint64
    at float64. The table is in docs/type_promotion.md."""
    return _promote_strong([dtype(a), dtype(b)])


def _promote_strong(ds) -> np.dtype:
    out = ds[0]
    for d in ds[1:]:
        if d != out:
            try:
                out = _JOIN[(out, d)]
            except KeyError:
                bad = d if d not in _LATTICE_UP else out
                raise TypeError(f"funtorch: cannot promote dtype {bad}; funtorch's dtypes "
                                f"are {sorted(str(s) for s in _SUPPORTED)}") from None
    return float64 if out == "f*" else out


def result_type(*args) -> np.dtype:
    """The dtype ``args`` (arrays, dtypes, Python scalars) promote to together: arrays and
    dtypes by ``promote_types``; Python scalars are weak (JAX semantics), and so are traced
    values marked ``weak_type`` (Python scalars passed to ``jit``)."""
    strong, weak = [], []
    for a in args:
        if is_weakly_typed(a):
            weak.append(a)
        else:
            strong.append(_dtype_of(a))
    out = _promote_strong(strong) if strong else None
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
    if isinstance(x, (np.dtype, type, str)):   # a dtype-like
        return dtype(x)
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
