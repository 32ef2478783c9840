"""GEMM from Numba: ``_gemm`` calls the single-threaded BLAS routine by address; ``gemm``
spreads a (batched) matrix product over the Numba threads, each taking a share of the
batch or a block of rows/columns of the output.

Every GEMM of a compiled graph goes through here instead of numpy's matmul: numpy's
OpenBLAS runs its own thread pool whose workers spin for tens of milliseconds after each
call, halving the speed of whatever Numba runs in parallel next. With one pool of
threads (Numba's) the cores are never contended by our own process.

Operands are passed as byte addresses with their leading dimensions and batch strides
(row-major CBLAS conventions), so one compiled signature serves every layout.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .blas import ROW_MAJOR, TRANS, dgemm, sgemm


@njit
def _gemm(isz, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc):
    if isz == 4:
        sgemm(np.int32(ROW_MAJOR), np.int32(ta), np.int32(tb), m, n, k, np.float32(1.0),
              a, lda, b, ldb, np.float32(beta), c, ldc)
    else:
        dgemm(np.int32(ROW_MAJOR), np.int32(ta), np.int32(tb), m, n, k, 1.0,
              a, lda, b, ldb, np.float64(beta), c, ldc)


@njit
def _item(it, chunks, split_n, isz, ta, tb, m, n, k, a, sa, lda, b, sb, ldb, c, sc, ldc):
    i = it // chunks
    j = it - i * chunks
    a += i * sa
    b += i * sb
    c += i * sc
    if split_n:
        # column blocks, multiples of 16 (whole SIMD registers) but the last
        n0 = (j * n // chunks) // 16 * 16
        n1 = n if j == chunks - 1 else ((j + 1) * n // chunks) // 16 * 16
        if n1 > n0:
            _gemm(isz, ta, tb, m, n1 - n0, k, a, lda,
                  b + (n0 * ldb if tb == TRANS else n0) * isz, ldb, 0.0, c + n0 * isz, ldc)
    else:
        m0 = (j * m // chunks) // 4 * 4
        m1 = m if j == chunks - 1 else ((j + 1) * m // chunks) // 4 * 4
        if m1 > m0:
            _gemm(isz, ta, tb, m1 - m0, n, k, a + (m0 if ta == TRANS else m0 * lda) * isz,
                  lda, b, ldb, 0.0, c + m0 * ldc * isz, ldc)


@njit(parallel=True, cache=True, nogil=True)
def gemm(T, chunks, split_n, isz, ta, tb, nb, m, n, k, a, sa, lda, b, sb, ldb, c, sc, ldc):
    """C[i] = op(A[i]) @ op(B[i]), i < nb, as nb * chunks work items over T threads."""
    items = nb * chunks
    for t in prange(T):
        for it in range(t * items // T, (t + 1) * items // T):
            _item(it, chunks, split_n, isz, ta, tb, m, n, k, a, sa, lda, b, sb, ldb, c, sc,
                  ldc)


@njit(cache=True, nogil=True)
def gemm_serial(isz, ta, tb, nb, m, n, k, a, sa, lda, b, sb, ldb, c, sc, ldc):
    for i in range(nb):
        _item(i, 1, False, isz, ta, tb, m, n, k, a, sa, lda, b, sb, ldb, c, sc, ldc)
