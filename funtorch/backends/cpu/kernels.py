"""Library calls: BLAS matmul for dot_general.

Each builder takes an equation and returns a ``lowering.Op`` whose ``fn(*inputs,
*outputs)`` writes into preallocated outputs, or None to run the eager impl.
Convolution and pooling run their eager impls (im2col + blocked GEMM, and vectorised
window taps), which measured faster than the Numba kernels tried so far.
"""

from __future__ import annotations

import numpy as np

from .lowering import Op


def _prod(xs):
    return int(np.prod(xs, dtype=np.int64))


def dot_general(eqn):
    """One (batched) GEMM into the output buffer; transposes are strided views, so BLAS
    reads them with its transpose flags instead of numpy copying them."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lhs, rhs = eqn.inputs[0].aval, eqn.inputs[1].aval
    out = eqn.outputs[0].aval
    if not (lhs.dtype == rhs.dtype == out.dtype) or out.dtype.kind not in "fiu":
        return None
    lf = [d for d in range(lhs.ndim) if d not in lc and d not in lb]
    rf = [d for d in range(rhs.ndim) if d not in rc and d not in rb]
    b = _prod([lhs.shape[d] for d in lb])
    m = _prod([lhs.shape[d] for d in lf])
    k = _prod([lhs.shape[d] for d in lc])
    n = _prod([rhs.shape[d] for d in rf])
    lperm, rperm = (*lb, *lf, *lc), (*rb, *rc, *rf)
    lshape, rshape, oshape = (b, m, k), (b, k, n), (b, m, n)
    if not lb:
        lshape, rshape, oshape = (m, k), (k, n), (m, n)
    ident_l = lperm == tuple(range(lhs.ndim))
    ident_r = rperm == tuple(range(rhs.ndim))
    matmul = np.matmul

    def fn(x, y, o):
        x = (x if ident_l else x.transpose(lperm)).reshape(lshape)
        y = (y if ident_r else y.transpose(rperm)).reshape(rshape)
        matmul(x, y, out=o.reshape(oshape))

    return Op(fn, "BLAS matmul" if out.dtype.kind == "f" else "numpy matmul")
