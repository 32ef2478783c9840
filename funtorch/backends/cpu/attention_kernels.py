"""Fused attention (``lax.attention``'s primitives) on the CPU, as PyTorch's SDPA does it:
no ``[B, L, S]`` array in memory.

Work is split into blocks of ``BLOCK`` queries of one batch entry and head. A block's scores
``q_blk @ k^T`` go into a per-thread scratch of ``[BLOCK, S]`` (single-threaded BLAS, as
``gemm_kernels``), the softmax runs over its rows in place, and the products with ``v``
(forward) or the cotangents (backward) are BLAS calls on it again. Causal blocks read only
the keys up to their last query. The forward shares blocks among the threads; the backward
gives each thread whole (batch entry, head) pairs, so its ``dk``/``dv`` accumulate without
races. Each kernel is a ``cfunc`` over a range of work items, compiled serially and run
on every thread by ``parallel.run`` (one launcher for all kernels: a ``parallel=True``
kernel would cost seconds more to compile). Operands are ``[B, L, H, E]``
(``lax.attention``); an operand's rows of one head are a matrix with leading dimension
``H * E`` (its row stride), which BLAS reads in place.

Exact: the same scalar operations as the decomposition (``exp`` of the scaled, masked
scores less their maximum or the ``lse``), only the order of the sums differs.
Inputs are read through their strides where BLAS can (unit last stride); outputs are
C-contiguous.
"""

from __future__ import annotations

import math
import os

import numba
import numpy as np
from numba import njit

from ..common import cache
from . import codegen
from .blas import NO_TRANS, TRANS
from .gemm_kernels import _gemm
from .lowering import Op
from .parallel import CFUNC, run

BLOCK = 64      # queries per work item


# --------------------------------------------------------------------------- forward
# ``xa``: an operand's address; ``xs``: its strides in elements over (batch, row, head)

@njit(cache=True, nogil=True)
def _forward_block(b, h, i0, i1, causal, c, isz, L, S, H, E, F, qa, qs, ka, ks, va, vs,
                   oa, lse, s):
    """o[b, i0:i1, h], lse[b, h, i0:i1]; ``c``: [scale, 0] in the dtype; ``s``: scratch."""
    kend = min(i1, S) if causal else S
    sa = s.ctypes.data
    _gemm(isz, NO_TRANS, TRANS, i1 - i0, kend, E,
          qa + (b * qs[0] + i0 * qs[1] + h * qs[2]) * isz, qs[1],
          ka + (b * ks[0] + h * ks[2]) * isz, ks[1], 0.0, sa, S)
    scale, zero = c[0], c[1]
    for r in range(i1 - i0):
        n = min(i0 + r + 1, S) if causal else S
        m = s[r, 0] * scale
        for j in range(n):
            x = s[r, j] * scale
            s[r, j] = x
            if x > m or x != x:
                m = x
        tot = zero
        for j in range(n):
            e = math.exp(s[r, j] - m)
            s[r, j] = e
            tot += e
        for j in range(n):
            s[r, j] = s[r, j] / tot
        for j in range(n, kend):
            s[r, j] = zero
        lse[b, h, i0 + r] = m + math.log(tot)
    _gemm(isz, NO_TRANS, NO_TRANS, i1 - i0, F, kend, sa, S,
          va + (b * vs[0] + h * vs[2]) * isz, vs[1], 0.0,
          oa + ((b * L + i0) * H + h) * F * isz, H * F)


# The argument block of both kernels (int64, filled in by the builders below): n, causal,
# isz, B, L, S, H, E, F; the addresses of q, k, v (and go), each followed by its 3 strides;
# then the addresses of the other arrays, ``c`` last.


@njit(cache=True, nogil=True)
def forward_range(lo, hi, a, lse, c):
    """Work items [lo, hi) of the forward (one block of queries of one (b, h) each)."""
    causal, isz, L, S, H, E, F = a[1] != 0, a[2], a[4], a[5], a[6], a[7], a[8]
    qa, qs, ka, ks, va, vs, oa = a[9], a[10:13], a[13], a[14:17], a[17], a[18:21], a[21]
    nblk = (L + BLOCK - 1) // BLOCK
    s = np.empty((BLOCK, S), lse.dtype)
    for it in range(lo, hi):
        bh = it // nblk
        i0 = (it - bh * nblk) * BLOCK
        _forward_block(bh // H, bh % H, i0, min(i0 + BLOCK, L), causal, c, isz, L, S, H, E,
                       F, qa, qs, ka, ks, va, vs, oa, lse, s)


# --------------------------------------------------------------------------- backward

@njit(cache=True, nogil=True)
def _backward_pair(b, h, causal, c, isz, L, S, H, E, F, qa, qs, ka, ks, va, vs, lse, ga, gs,
                   glse, dq, dk, dv, p, dp):
    """dq[b, :, h], dk[b, :, h], dv[b, :, h]; ``p``, ``dp``: [BLOCK, S] scratch."""
    scale, zero = c[0], c[1]
    dk[b, :, h] = zero
    dv[b, :, h] = zero
    pa, dpa = p.ctypes.data, dp.ctypes.data
    kb = ka + (b * ks[0] + h * ks[2]) * isz
    vb = va + (b * vs[0] + h * vs[2]) * isz
    dka, dva = dk[b, 0, h].ctypes.data, dv[b, 0, h].ctypes.data
    for i0 in range(0, L, BLOCK):
        i1 = min(i0 + BLOCK, L)
        nq = i1 - i0
        kend = min(i1, S) if causal else S
        qb = qa + (b * qs[0] + i0 * qs[1] + h * qs[2]) * isz
        gb = ga + (b * gs[0] + i0 * gs[1] + h * gs[2]) * isz
        _gemm(isz, NO_TRANS, TRANS, nq, kend, E, qb, qs[1], kb, ks[1], 0.0, pa, S)
        for r in range(nq):
            n = min(i0 + r + 1, S) if causal else S
            m = lse[b, h, i0 + r]
            for j in range(n):
                p[r, j] = math.exp(p[r, j] * scale - m)
            for j in range(n, kend):
                p[r, j] = zero
        # dv += p^T @ go;  dp = go @ v^T
        _gemm(isz, TRANS, NO_TRANS, kend, F, nq, pa, S, gb, gs[1], 1.0, dva, H * F)
        _gemm(isz, NO_TRANS, TRANS, nq, kend, F, gb, gs[1], vb, vs[1], 0.0, dpa, S)
        for r in range(nq):
            acc = zero
            for j in range(kend):
                acc += p[r, j] * dp[r, j]
            g = glse[b, h, i0 + r]
            for j in range(kend):
                dp[r, j] = p[r, j] * (dp[r, j] - acc + g) * scale
        # dq = ds @ k;  dk += ds^T @ q
        _gemm(isz, NO_TRANS, NO_TRANS, nq, E, kend, dpa, S, kb, ks[1], 0.0,
              dq[b, i0, h].ctypes.data, H * E)
        _gemm(isz, TRANS, NO_TRANS, kend, E, nq, dpa, S, qb, qs[1], 1.0, dka, H * E)


@njit(cache=True, nogil=True)
def backward_range(lo, hi, a, lse, glse, dq, dk, dv, c):
    """(b, h) pairs [lo, hi) of the backward."""
    causal, isz, L, S, H, E, F = a[1] != 0, a[2], a[4], a[5], a[6], a[7], a[8]
    qa, qs, ka, ks, va, vs, ga, gs = (a[9], a[10:13], a[13], a[14:17], a[17], a[18:21],
                                      a[21], a[22:25])
    p = np.empty((BLOCK, S), dq.dtype)
    dp = np.empty((BLOCK, S), dq.dtype)
    for bh in range(lo, hi):
        _backward_pair(bh // H, bh % H, causal, c, isz, L, S, H, E, F, qa, qs, ka, ks, va, vs,
                       lse, ga, gs, glse, dq, dk, dv, p, dp)


# --------------------------------------------------------------------------- builders

# below this many score elements (B * H * L * S) the kernels run on the calling thread
PARALLEL_SCORES = 1 << 16


def _operand(x):
    """(array, address, strides in elements over (batch, row, head)) of a [B, N, H, D]
    array BLAS can read as is (unit last stride, rows at least D apart), else of a
    contiguous copy."""
    isz = x.itemsize
    _, n, _, d = x.shape
    st = x.strides
    if not ((st[3] == isz or d == 1) and all(s >= 0 and s % isz == 0 for s in st[:3])
            and (n == 1 or st[1] >= d * isz)):
        x = np.ascontiguousarray(x)
        st = x.strides
    ld = st[1] // isz if n > 1 else d
    return (x, x.__array_interface__["data"][0],
            np.array([st[0] // isz, max(ld, 1), st[2] // isz], np.int64))


_KERNEL = """# {hashes}
from numba import carray, cfunc
from funtorch.backends.cpu.parallel import SIGNATURE, ptr_{t}
from funtorch.backends.cpu.attention_kernels import {body} as body


@cfunc(SIGNATURE, cache=True, error_model='numpy')
def kernel(lo, hi, args):
    a = carray(args, ({n},))
    B, L, S, H, E, F = a[3], a[4], a[5], a[6], a[7], a[8]
    body(lo, hi, a, {arrays}carray(ptr_{t}(a[{c}]), (2,)))
"""
_kernels = {}


def _kernel(body, dtype):
    """The ``cfunc`` ``kernel(lo, hi, args)`` running ``body`` on items [lo, hi): called
    directly, or on every thread by ``parallel.run`` (compiled once for all kernels). It
    depends on no model (sizes, strides and addresses come at run time), so it is a
    library kernel: cached beside the package, compiled once per installation. Its source
    names the hashes of the modules it is made of (the disk cache's key)."""
    key = (body, dtype.name)
    fn = _kernels.get(key)
    if fn is None:
        t = {"float32": "f32", "float64": "f64"}[dtype.name]
        lse = "carray(ptr_{t}(a[{k}]), (B, H, L)), "
        if body == "forward_range":
            n, c, arrays = 24, 23, lse.format(t=t, k=22)
        else:
            n, c = 31, 30
            arrays = (lse.format(t=t, k=25) + lse.format(t=t, k=26) + "".join(
                f"carray(ptr_{t}(a[{k}]), (B, {n_}, H, {d})), "
                for k, n_, d in ((27, "L", "E"), (28, "S", "E"), (29, "S", "F"))))
        hashes = ", ".join(f"{m}: {codegen.source_hash(m)}" for m in (
            "attention_kernels", "gemm_kernels", "blas", "parallel"))
        src = _KERNEL.format(hashes=hashes, t=t, body=body, n=n, c=c, arrays=arrays)
        directory = cache.library_dir(os.path.dirname(__file__), "cpu", codegen.VERSION)
        cfunc = cache.load(src, "cpu-library", codegen.VERSION, directory).kernel
        codegen.STATS["library " + ("loaded" if cfunc._cache_hits else "compiled")] += 1
        fn = _kernels[key] = CFUNC(cfunc.address)
    return fn


def _launch(fn, n, T, parallel, block):
    args = np.array(block, np.int64)
    if parallel and T > 1 and n > 1:
        run(fn, n, min(T, n), args, np.zeros_like(args))
    else:
        fn(0, n, args.ctypes.data)


def _addr(x):
    return x.__array_interface__["data"][0]


def _take(eqn, serial):
    q = eqn.inputs[0].aval
    if q.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        return None
    from . import blas
    if not blas.AVAILABLE:
        return None
    B, L, H, E = q.shape
    S, F = eqn.inputs[1].aval.shape[1], eqn.inputs[2].aval.shape[3]
    T = numba.get_num_threads()
    parallel = not serial and T > 1 and B * H * L * S >= PARALLEL_SCORES
    c = np.array([eqn.params["scale"], 0], q.dtype)
    return (B, L, S, H, E, F), q.dtype.itemsize, c, eqn.params["causal"], T, parallel


def attention(eqn, serial=False):
    took = _take(eqn, serial)
    if took is None:
        return None
    (B, L, S, H, E, F), isz, c, causal, T, parallel = took
    fn = _kernel("forward_range", c.dtype)
    n = B * H * ((L + BLOCK - 1) // BLOCK)

    def run(q, k, v, o, lse):
        q, qa, qs = _operand(q)
        k, ka, ks = _operand(k)
        v, va, vs = _operand(v)
        _launch(fn, n, T, parallel, [n, causal, isz, B, L, S, H, E, F, qa, *qs, ka, *ks, va,
                                     *vs, _addr(o), _addr(lse), _addr(c)])

    return Op(run, "fused attention", blas=True)


def attention_vjp(eqn, serial=False):
    took = _take(eqn, serial)
    if took is None:
        return None
    (B, L, S, H, E, F), isz, c, causal, T, parallel = took
    fn = _kernel("backward_range", c.dtype)
    n = B * H

    def run(q, k, v, lse, go, glse, dq, dk, dv):
        q, qa, qs = _operand(q)
        k, ka, ks = _operand(k)
        v, va, vs = _operand(v)
        go, ga, gs = _operand(go)
        lse, glse = np.ascontiguousarray(lse), np.ascontiguousarray(glse)
        _launch(fn, n, T, parallel, [n, causal, isz, B, L, S, H, E, F, qa, *qs, ka, *ks, va,
                                     *vs, ga, *gs, _addr(lse), _addr(glse), _addr(dq),
                                     _addr(dk), _addr(dv), _addr(c)])

    return Op(run, "fused attention gradient", blas=True)
