"""Weak types while staging: which values of a graph trace are weakly typed.

A Python scalar given to jit traces as a weakly typed value (``trace.weak_aval``), and the
numpy layer turns the Python scalars it meets into numpy constants, which staging calls
*neutral*. JAX's rule, as far as staging sees it: an op on weak and neutral values alone
gives a weak value when its result keeps the weak dtype, or when it promotes a weak value
to a default dtype and its primitive says so (``Primitive.weak_promotion``: int + 2.5);
an op on neutral values alone gives a neutral value (a constant in waiting); anything else
is strong. So ``f32_x * n`` stays float32 under jit, as it does eagerly.
"""

from __future__ import annotations

from . import dtypes
from .array import Array
from .trace import Tracer

_DEFAULTS = (dtypes.default_float, dtypes.default_int, dtypes.bool_)


class WeakTypes:
    """The neutral tracers of one graph trace, by id (the trace's builder keeps them
    alive, so ids stay unique)."""

    def __init__(self):
        self.neutral = set()

    def add_const(self, tracer, val):
        """``tracer`` stands for the constant ``val``: neutral if numpy/Python."""
        if not isinstance(val, (Array, Tracer)):
            self.neutral.add(id(tracer))

    def out_avals(self, prim, tracers, avals_out):
        """``prim``'s result avals, weakly typed where the rule says, and whether the
        results are neutral (then pass them to ``add_neutral``)."""
        status = self._status(prim, tracers, avals_out)
        if status == "weak":
            avals_out = [a.update(weak_type=True) for a in avals_out]
        return avals_out, status == "neutral"

    def add_neutral(self, tracers):
        self.neutral.update(id(t) for t in tracers)

    def _status(self, prim, tracers, avals_out):
        if prim.multiple_results or not tracers:
            return None
        weak_dtype = None
        for t in tracers:
            if t.aval.weak_type:
                weak_dtype = t.aval.dtype
            elif id(t) not in self.neutral:
                return None
        if weak_dtype is None:
            return "neutral"
        d = avals_out[0].dtype
        if d == weak_dtype or (prim.weak_promotion and d in _DEFAULTS):
            return "weak"
        return None
