"""The CUDA lowering of fused primitives: scalar expressions and reduction accumulators.

Elementwise primitives reuse the CPU table's scalar Numba expressions (Numba compiles
the same Python for the GPU); the few that call numpy ufuncs, which Numba's CUDA target
lacks, get ``math`` (``devmath``) versions. Reductions are written here because a
reduction split over a thread block also needs its block-wide combine.
"""

from __future__ import annotations

import numpy as np

from ..cpu import lowering as cpu

# sentinel index of an empty argmax accumulator: loses every tie (cuda_kernels._block)
INDEX_SENTINEL = 2 ** 62


def _rounding(name):
    def build(c, x, a, o, p):
        return f"math.{name}{'f' if o.dtype == np.float32 else ''}({x[0]})"
    return build


def _is_finite(c, x, a, o, p):
    return "True" if a[0].dtype.kind in "biu" else f"math.isfinite({x[0]})"


def _rem(c, x, a, o, p):
    if o.dtype.kind == "f":
        return f"{c.ty(o.dtype)}(math.fmod({x[0]}, {x[1]}))"
    return cpu.SCALAR["rem"](c, x, a, o, p)


SCALAR = dict(cpu.SCALAR, floor=_rounding("floor"), ceil=_rounding("ceil"),
              round=_rounding("rint"), is_finite=_is_finite, rem=_rem)


class Reducer:
    """Accumulator code: ``init`` / ``step`` / ``result`` lines; ``combine`` names the
    ``cuda_kernels._block`` combiner when partial results can merge across a block."""

    def __init__(self, init, step, result, combine=None, uses_index=False):
        self.init, self.step, self.result = init, step, result
        self.combine, self.uses_index = combine, uses_index


def acc_dtype(dt):
    """Sums and products accumulate in 64 bits."""
    return {"f": np.dtype(np.float64), "i": np.dtype(np.int64),
            "u": np.dtype(np.uint64)}.get(dt.kind, dt)


def _sum(block):
    def init(c, acc, a, o):
        if o.dtype == np.bool_:
            return [f"{acc} = False"]
        return [f"{acc} = {c.const(0, np.float32 if block else acc_dtype(o.dtype))}"]

    def step(c, acc, v, a, o, idx):
        return [f"{acc} = {acc} or {v}"] if o.dtype == np.bool_ else [f"{acc} += {v}"]

    return Reducer(init, step, _cast_result, "combine_sum")


def _prod():
    def init(c, acc, a, o):
        return [f"{acc} = True" if o.dtype == np.bool_ else
                f"{acc} = {c.const(1, acc_dtype(o.dtype))}"]

    def step(c, acc, v, a, o, idx):
        if o.dtype == np.bool_:
            return [f"{acc} = {acc} and {v}"]
        return [f"{acc} = {c.ty(acc_dtype(o.dtype))}({acc} * {v})"]

    return Reducer(init, step, _cast_result)


def _cast_result(c, acc, a, o):
    return acc if o.dtype == np.bool_ else f"{c.ty(o.dtype)}({acc})"


def _extreme(dt, largest):
    if dt == np.bool_:
        return not largest
    if dt.kind == "f":
        return -np.inf if largest else np.inf
    info = np.iinfo(dt)
    return info.min if largest else info.max


def _minmax(largest):
    op = ">" if largest else "<"

    def init(c, acc, a, o):
        return [f"{acc} = {c.const(_extreme(o.dtype, largest), o.dtype)}"]

    def step(c, acc, v, a, o, idx):
        nan = f" or {v} != {v}" if o.dtype.kind == "f" else ""
        return [f"if {v} {op} {acc}{nan}:", f"    {acc} = {v}"]

    return Reducer(init, step, lambda c, acc, a, o: acc,
                   "combine_max" if largest else "combine_min")


def _arg(largest):
    op = ">" if largest else "<"

    def init(c, acc, a, o):
        # the extreme start lets empty threads of a block lose the combine
        start = _extreme(a.dtype, largest) if a.dtype.kind == "f" else 0
        return [f"{acc}_i = int64({INDEX_SENTINEL})", f"{acc} = {c.const(start, a.dtype)}"]

    def step(c, acc, v, a, o, idx):
        # first extremum wins; a NaN is the extremum (as np.argmax)
        nan = f" or ({v} != {v} and {acc} == {acc})" if a.dtype.kind == "f" else ""
        return [f"if {acc}_i == {INDEX_SENTINEL} or {v} {op} {acc}{nan}:",
                f"    {acc} = {v}", f"    {acc}_i = int64({idx})"]

    def result(c, acc, a, o):
        return f"{c.ty(o.dtype)}({acc}_i)"

    return Reducer(init, step, result, "combine_argmax" if largest else "combine_argmin",
                   uses_index=True)


# thread-sequential accumulators, and the float32 block versions
REDUCERS = {
    "reduce_sum": _sum(False), "reduce_prod": _prod(), "reduce_max": _minmax(True),
    "reduce_min": _minmax(False), "argmax": _arg(True), "argmin": _arg(False),
}
BLOCK_REDUCERS = dict(REDUCERS, reduce_sum=_sum(True))
