"""Operators and methods of Array and Tracer, forwarding to the numpy-named ops."""

from __future__ import annotations

from ..core.array_methods import ArrayMethods
from . import _spelling
from . import reductions as R
from . import shape as S
from . import ufuncs as U


def _swap(fn):
    return lambda self, other: fn(other, self)


def _defer(fn):
    """Return NotImplemented for operands we do not understand (e.g. strings)."""

    def op(self, other):
        if isinstance(other, (str, bytes, dict, set)) or other is None:
            return NotImplemented
        return fn(self, other)

    return op


def _np_method(fn):
    """A method numpy's functions may call: np.sum(x) calls x.sum(axis=None, dtype=None,
    out=None), np.max(x) x.max(axis=None, out=None), ... An ``out`` cannot be written (arrays
    are immutable), so only None is accepted."""

    def method(self, *args, out=None, **kwargs):
        if out is not None:
            raise TypeError(f"funtorch: {fn.__name__}(out=...) is not supported: arrays are "
                            "immutable; use the returned array")
        try:
            return fn(self, *args, **kwargs)
        except TypeError:   # x.sum(dim=1): say how to write it here
            err = _spelling.spelling_error(f"Array.{fn.__name__}", args, kwargs)
            if err is None:
                raise
            raise err from None

    method.__name__ = fn.__name__
    method.__doc__ = fn.__doc__
    return method


def _reshape(self, *shape, order="C"):
    return S.reshape(self, *shape, order=order)


def _transpose(self, *axes):
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return S.transpose(self, axes or None)


def _astype(self, dtype):
    return U.astype(self, dtype)


def _matmul(a, b):
    from .linalg import matmul
    return matmul(a, b)


def _getitem(self, idx):
    from .indexing import getitem
    return getitem(self, idx)


def _at(self):
    from .indexing import _IndexUpdateHelper
    return _IndexUpdateHelper(self)


def _setitem(self, idx, value):
    raise TypeError("funtorch arrays are immutable: instead of x[idx] = y use "
                    "x = x.at[idx].set(y)")


METHODS = {
    "__add__": _defer(U.add), "__radd__": _defer(_swap(U.add)),
    "__sub__": _defer(U.subtract), "__rsub__": _defer(_swap(U.subtract)),
    "__mul__": _defer(U.multiply), "__rmul__": _defer(_swap(U.multiply)),
    "__truediv__": _defer(U.true_divide), "__rtruediv__": _defer(_swap(U.true_divide)),
    "__floordiv__": _defer(U.floor_divide), "__rfloordiv__": _defer(_swap(U.floor_divide)),
    "__mod__": _defer(U.remainder), "__rmod__": _defer(_swap(U.remainder)),
    "__divmod__": _defer(U.divmod), "__rdivmod__": _defer(_swap(U.divmod)),
    "__pow__": _defer(U.power), "__rpow__": _defer(_swap(U.power)),
    "__matmul__": _defer(_matmul), "__rmatmul__": _defer(_swap(_matmul)),
    "__and__": _defer(U.bitwise_and), "__rand__": _defer(_swap(U.bitwise_and)),
    "__or__": _defer(U.bitwise_or), "__ror__": _defer(_swap(U.bitwise_or)),
    "__xor__": _defer(U.bitwise_xor), "__rxor__": _defer(_swap(U.bitwise_xor)),
    "__lshift__": _defer(U.left_shift), "__rlshift__": _defer(_swap(U.left_shift)),
    "__rshift__": _defer(U.right_shift), "__rrshift__": _defer(_swap(U.right_shift)),
    "__eq__": _defer(U.equal), "__ne__": _defer(U.not_equal),
    "__lt__": _defer(U.less), "__le__": _defer(U.less_equal),
    "__gt__": _defer(U.greater), "__ge__": _defer(U.greater_equal),
    "__neg__": U.negative, "__pos__": U.positive, "__abs__": U.abs, "__invert__": U.invert,
    "__getitem__": _getitem, "__setitem__": _setitem,
    "astype": _astype, "reshape": _reshape, "transpose": _transpose,
    "squeeze": _spelling.check_spelling(S.squeeze, "Array.squeeze"), "ravel": S.ravel,
    "flatten": S.ravel, "swapaxes": S.swapaxes,
    "repeat": _spelling.check_spelling(S.repeat, "Array.repeat"),
    **{name: _np_method(fn) for name, fn in {
        "sum": R.sum, "prod": R.prod, "mean": R.mean, "var": R.var, "std": R.std,
        "max": R.max, "min": R.min, "argmax": R.argmax, "argmin": R.argmin,
        "all": R.all, "any": R.any, "cumsum": R.cumsum, "clip": U.clip, "round": U.round,
    }.items()},
}

PROPERTIES = {
    "T": lambda self: S.transpose(self),
    "mT": lambda self: S.swapaxes(self, -1, -2),
    "at": _at,
}


def install():
    for name, fn in METHODS.items():
        setattr(ArrayMethods, name, fn)
    for name, fn in PROPERTIES.items():
        setattr(ArrayMethods, name, property(fn))
    # No __array_ufunc__, as JAX arrays: numpy's operators defer to our reflected ones
    # through __array_priority__ (np.ones(2) + x -> x.__radd__, a funtorch Array), while
    # numpy's ufuncs called directly (np.isnan(x)) run on a host copy via __array__ and
    # return numpy arrays.


