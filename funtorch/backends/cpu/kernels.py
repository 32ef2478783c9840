"""Library calls: BLAS GEMM for dot_general (convolution and pooling: ``windowed``).

Each builder takes an equation and returns a ``lowering.Op`` whose ``fn(*inputs,
*outputs)`` writes into preallocated outputs, or None to run the eager impl.
Float GEMMs run ``gemm_kernels.gemm`` (single-threaded BLAS calls on blocks of the
output, one per Numba thread); integer ones, or all of them where numpy's BLAS cannot
be called from Numba (``blas.AVAILABLE``), numpy's matmul.
"""

from __future__ import annotations

import numpy as np

from .lowering import Op


def _prod(xs):
    return int(np.prod(xs, dtype=np.int64))


def dot_general(eqn, serial=False):
    """One (batched) GEMM into the output buffer; transposes are strided views, so BLAS
    reads them with its transpose flags instead of numpy copying them. ``serial``: on the
    calling thread whatever its size (a loop body's GEMM)."""
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
    ident_l = lperm == tuple(range(lhs.ndim))
    ident_r = rperm == tuple(range(rhs.ndim))
    if out.dtype in _FLOATS and b * m * n * k > 0:
        from . import blas
        if blas.AVAILABLE:
            return _blas_dot(out.dtype, b, m, n, k, lperm, rperm, ident_l, ident_r, serial)
    lshape, rshape, oshape = (b, m, k), (b, k, n), (b, m, n)
    if not lb:
        lshape, rshape, oshape = (m, k), (k, n), (m, n)
    matmul = np.matmul

    def fn(x, y, o):
        x = (x if ident_l else x.transpose(lperm)).reshape(lshape)
        y = (y if ident_r else y.transpose(rperm)).reshape(rshape)
        matmul(x, y, out=o.reshape(oshape))

    return Op(fn, "BLAS matmul" if out.dtype.kind == "f" else "numpy matmul")


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

# GEMMs below this many flops run on the calling thread (a parallel launch costs more)
PARALLEL_FLOPS = 1 << 21


def _operand(a, isz):
    """(array, transposed?, leading dim, batch stride in bytes) for a (b, rows, cols) array
    that BLAS can read as is, copying it only when no single stride pair describes it."""
    nb, r, c = a.shape
    s0, s1, s2 = a.strides
    if s0 >= 0 or nb == 1:
        if (s2 == isz or c == 1) and (r == 1 or (s1 >= c * isz and s1 % isz == 0)):
            return a, False, (s1 // isz if r > 1 else c), s0
        if (s1 == isz or r == 1) and (c == 1 or (s2 >= r * isz and s2 % isz == 0)):
            return a, True, (s2 // isz if c > 1 else r), s0
    a = np.ascontiguousarray(a)
    return a, False, c, r * c * isz


def _blas_dot(dtype, b, m, n, k, lperm, rperm, ident_l, ident_r, serial=False):
    """dot_general as one (batched) GEMM from Numba threads: transposed operands are read
    with BLAS's transpose flags, never copied."""
    import numba

    from . import gemm_kernels as G
    from .blas import NO_TRANS, TRANS
    isz = dtype.itemsize
    T = numba.get_num_threads()
    parallel = not serial and T > 1 and 2 * b * m * n * k >= PARALLEL_FLOPS
    chunks = 1 if b >= T else T
    # threads take column blocks, or row blocks where the lhs is read transposed and has
    # about as many rows as columns (a weight gradient g^T x): measured
    split = (n >= m, 2 * m < n)
    lshape, rshape = (b, m, k), (b, k, n)
    pgemm, sgemm = G.gemm, G.gemm_serial

    def fn(x, y, o):
        x, tx, lda, sa = _operand((x if ident_l else x.transpose(lperm)).reshape(lshape), isz)
        y, ty, ldb, sb = _operand((y if ident_r else y.transpose(rperm)).reshape(rshape), isz)
        xp = x.__array_interface__["data"][0]
        yp = y.__array_interface__["data"][0]
        op = o.__array_interface__["data"][0]
        ta, tb = TRANS if tx else NO_TRANS, TRANS if ty else NO_TRANS
        if parallel:
            pgemm(T, chunks, split[tx], isz, ta, tb, b, m, n, k, xp, sa, lda, yp, sb, ldb, op,
                  m * n * isz, n)
        else:
            sgemm(isz, ta, tb, b, m, n, k, xp, sa, lda, yp, sb, ldb, op, m * n * isz, n)

    return Op(fn, "BLAS GEMM", blas=True)
