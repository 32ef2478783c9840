"""The CUDA lowering of fused primitives: scalar expressions and reduction accumulators.

Elementwise primitives reuse the shared scalar Numba expressions (``common.scalar``:
Numba compiles the same Python for the GPU); the few that call numpy ufuncs, which
Numba's CUDA target lacks, get ``math`` (``devmath``) versions. The argmax/argmin
accumulators are written here because a reduction split over a thread block also needs
its block-wide combine.
"""

from __future__ import annotations

import numpy as np

from ..common import scalar
from ..common.scalar import Reducer, minmax_reducer, sum_reducer

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
    return scalar.SCALAR["rem"](c, x, a, o, p)


_HALF_CONVERT = {("float16", "from"): "_dt.f16_to_f32", ("bfloat16", "from"): "_dt.bf16_to_f32",
                 ("float16", "to"): "_dt.f32_to_f16", ("bfloat16", "to"): "_dt.f32_to_bf16"}


def _convert(c, x, a, o, p):
    """Between float32 and a half type, and float64 -> float16 (``halves.widen`` leaves no
    other half conversion): ``cuda_kernels._dtypes``' converters (``f32_to_f16`` is a
    single correctly rounded cast from float64 too); a bfloat16 value is its uint16 bits."""
    for dt, way in ((a[0].dtype, "from"), (o.dtype, "to")):
        fn = _HALF_CONVERT.get((dt.name, way))
        if fn is not None:
            return f"{fn}({x[0]})"
    return scalar.SCALAR["convert_element_type"](c, x, a, o, p)


SCALAR = dict(scalar.SCALAR, floor=_rounding("floor"), ceil=_rounding("ceil"),
              round=_rounding("rint"), is_finite=_is_finite, rem=_rem,
              convert_element_type=_convert)


def _arg(largest):
    op = ">" if largest else "<"

    def init(c, acc, a, o):
        # the extreme start lets empty threads of a block lose the combine
        start = scalar.extreme(a.dtype, largest) if a.dtype.kind == "f" else 0
        return [f"{acc}_i = int64({INDEX_SENTINEL})", f"{acc} = {c.const(start, a.dtype)}"]

    def step(c, acc, v, a, o, idx):
        # first extremum wins; a NaN is the extremum (as np.argmax)
        nan = f" or ({v} != {v} and {acc} == {acc})" if a.dtype.kind == "f" else ""
        return [f"if {acc}_i == {INDEX_SENTINEL} or {v} {op} {acc}{nan}:",
                f"    {acc} = {v}", f"    {acc}_i = int64({idx})"]

    return Reducer(init, step, scalar.index_result, uses_index=True,
                   combine="combine_argmax" if largest else "combine_argmin")


# thread-sequential accumulators, and the float32 block versions
REDUCERS = {
    "reduce_sum": sum_reducer(combine="combine_sum"), "reduce_prod": scalar.prod_reducer(),
    "reduce_max": minmax_reducer(True, "combine_max"),
    "reduce_min": minmax_reducer(False, "combine_min"),
    "argmax": _arg(True), "argmin": _arg(False),
}
BLOCK_REDUCERS = dict(REDUCERS, reduce_sum=sum_reducer(np.dtype(np.float32), "combine_sum"))
