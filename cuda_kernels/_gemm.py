"""The tiled GEMM main loop shared by matmul and the implicit-GEMM convolutions.

One kernel template computes ``C[g, m, n] = sum_k A[g, m, k] * B[g, k, n]`` for a block tile of
``bm x bn`` outputs, walking K in ``bk`` slices:

* operands are staged global -> registers -> shared memory, double-buffered, so the global
  loads for slice k+1 are in flight while slice k is multiplied (one barrier per slice);
* each thread owns a ``tm x tn`` register block (``cuda.local.array`` indexed only by unrolled
  constants, so it lives in registers), fed by ``tm + tn`` shared loads per k step; a thread's
  rows/columns are split in groups of 4 spaced half a tile apart so that a warp's shared reads
  are contiguous (conflict-free) and a thread's 4 values are adjacent;
* operands are never materialised: ``load_a(A, g, m, k)`` / ``load_b(B, g, k, n)`` are inlined
  device functions, so a transposed operand is just another index order and a convolution
  operand is an on-the-fly im2col gather (padding handled in the loader);
* bounds checks run only on tiles that straddle an edge; interior tiles take an unguarded path;
* split-K: ``blockIdx.z = g * splits + split``; each split covers ``k_split`` of K;
* the epilogue writes ``C[col_index(z, n, M, N) + row_index(m, N)] = cvt(acc)`` into a flat
  output: the dense layout (:func:`dense`) puts split partials at ``(g, split, m, n)``, and a
  convolution scatters columns to NCHW pixels. The column part is computed once per column
  so the fully unrolled epilogue stays small (a rolled one would spill the accumulators).

Tile sizes are compile-time constants; small tiles exist so the simulator can run the very
same code (one simulated thread is a Python thread).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
from numba import cuda, float32, int64, types, uint64

from . import _dtypes
from ._common import SIMULATOR, THREADS_1D, blocks_for, ceil_div, device_fn, jit_kernel

PAD = 4  # shared row padding: k-fast stores of a warp hit 32 distinct banks
# 16-byte aligned tiles let NVVM merge a thread's 4 adjacent shared reads into one ld.v4
# (the simulator rejects any alignment argument).
SMEM_ALIGN = None if SIMULATOR else 16


class Tile(NamedTuple):
    bm: int
    bn: int
    bk: int
    tm: int
    tn: int

    @property
    def threads(self) -> int:
        return (self.bm // self.tm) * (self.bn // self.tn)

    def validate(self) -> None:
        nt = self.threads
        ok = (
            self.bm % self.tm == 0
            and self.bn % self.tn == 0
            and all(t % min(4, t) == 0 for t in (self.tm, self.tn))
            and (self.bm * self.bk) % nt == 0
            and (self.bn * self.bk) % nt == 0
            and nt % self.bk == 0
            and nt % self.bm == 0
            and nt % self.bn == 0
            and nt <= 1024
        )
        if not ok:
            raise ValueError(f"inconsistent GEMM tile {self}")


# Real-GPU tiles, largest first; `pick_tile` takes the largest that still fills the GPU.
TILE_128 = Tile(128, 128, 8, 8, 8)  # 256 threads, 64 accumulators each
TILE_64 = Tile(64, 128, 8, 8, 8)  # 128 threads: 64-channel convolutions
TILE_32 = Tile(32, 128, 8, 4, 8)  # 128 threads: skinny outputs
GPU_TILES = (TILE_128, TILE_64, TILE_32)
# Simulator tiles: a handful of threads, still with vector groups, padding and edge tiles.
SIM_TILE = Tile(16, 8, 4, 4, 2)


def _sm_count() -> int:
    return 108 if SIMULATOR else cuda.get_current_device().MULTIPROCESSOR_COUNT


def pick_tile(m: int, n: int, batch: int, split_k: int = 0) -> Tile:
    """Largest tile that is not much taller than M and still gives every SM a block.

    ``split_k`` (the K of a GEMM that will be split) counts the splits :func:`pick_splits`
    could make as extra blocks.
    """
    if SIMULATOR:
        return SIM_TILE
    sms = _sm_count()
    fits = [t for t in GPU_TILES if t.bm <= max(GPU_TILES[-1].bm, 1 << (m - 1).bit_length())]
    for tile in fits:
        splits = max(1, split_k // (32 * tile.bk))
        if ceil_div(m, tile.bm) * ceil_div(n, tile.bn) * batch * splits >= 0.75 * sms:
            return tile
    return fits[-1]


def pick_splits(tile: Tile, m: int, n: int, batch: int, k: int) -> int:
    """Split K until the grid has about two waves; each split keeps at least 32 k-slices."""
    blocks = ceil_div(m, tile.bm) * ceil_div(n, tile.bn) * batch
    want = ceil_div(2 * _sm_count(), blocks)
    return max(1, min(want, k // (32 * tile.bk)))


def k_split_len(tile: Tile, k: int, splits: int) -> int:
    return max(tile.bk, ceil_div(ceil_div(k, splits), tile.bk) * tile.bk)


def build(tile: Tile, a_kfast: bool, b_kfast: bool, load_a, load_b, epilogue):
    """Return the GEMM kernel ``(A, B, C, M, N, K, k_split)`` as a plain Python function.

    ``epilogue`` is an :class:`Epilogue`; ``C`` is the flat output array.

    ``a_kfast``/``b_kfast`` say whether k is the contiguous index of the operand in global
    memory; consecutive threads then load consecutive k (coalesced) instead of consecutive m/n.
    """
    tile.validate()
    BM, BN, BK, TM, TN = tile
    NT = tile.threads
    TX = BN // TN
    VM, VN = min(4, TM), min(4, TN)
    STEP_M, STEP_N = BM // (TM // VM), BN // (TN // VN)
    LA, LB = BM * BK // NT, BN * BK // NT
    SA, SB = BM + PAD, BN + PAD  # padded shared row lengths
    SMEM_A, SMEM_B = 2 * BK * SA, 2 * BK * SB  # two buffers each
    col_index, row_index, cvt = epilogue

    # (k, m) of thread t's i-th A element and (k, n) of its B elements within the tile. As
    # NT is a multiple of BK, BM and BN, a thread keeps one k (k-fast) or one m/n (mn-fast)
    # for all its elements, so loader work on that coordinate is hoisted out of the K loop.
    @device_fn
    def a_coord(t, i):
        if a_kfast:
            return t % BK, t // BK + i * (NT // BK)
        return t // BM + i * (NT // BM), t % BM

    @device_fn
    def b_coord(t, i):
        if b_kfast:
            return t % BK, t // BK + i * (NT // BK)
        return t // BN + i * (NT // BN), t % BN

    @device_fn
    def fetch(A, B, ra, rb, g, m0, n0, k0, ke, M, N, full, t):
        if full:
            for i in range(LA):
                kk, mm = a_coord(t, i)
                ra[i] = load_a(A, g, m0 + mm, k0 + kk)
            for i in range(LB):
                kk, nn = b_coord(t, i)
                rb[i] = load_b(B, g, k0 + kk, n0 + nn)
        else:
            for i in range(LA):
                kk, mm = a_coord(t, i)
                ra[i] = 0
                if k0 + kk < ke and m0 + mm < M:
                    ra[i] = load_a(A, g, m0 + mm, k0 + kk)
            for i in range(LB):
                kk, nn = b_coord(t, i)
                rb[i] = 0
                if k0 + kk < ke and n0 + nn < N:
                    rb[i] = load_b(B, g, k0 + kk, n0 + nn)

    @device_fn
    def stash(As, Bs, ra, rb, buf, t):
        for i in range(LA):
            kk, mm = a_coord(t, i)
            As[uint64(buf * (BK * SA) + kk * SA + mm)] = ra[i]
        for i in range(LB):
            kk, nn = b_coord(t, i)
            Bs[uint64(buf * (BK * SB) + kk * SB + nn)] = rb[i]

    @device_fn
    def row_offset(i):
        return (i // VM) * STEP_M + i % VM

    @device_fn
    def col_offset(j):
        return (j // VN) * STEP_N + j % VN

    def gemm(A, B, C, M, N, K, k_split):
        As = cuda.shared.array(SMEM_A, float32, alignment=SMEM_ALIGN)
        Bs = cuda.shared.array(SMEM_B, float32, alignment=SMEM_ALIGN)
        ra = cuda.local.array(LA, float32)
        rb = cuda.local.array(LB, float32)
        af = cuda.local.array(TM, float32)
        bf = cuda.local.array(TN, float32)
        acc = cuda.local.array((TM, TN), float32)
        t = cuda.threadIdx.x
        tx = t % TX
        ty = t // TX
        n0 = cuda.blockIdx.x * BN
        m0 = cuda.blockIdx.y * BM
        splits = (K + k_split - 1) // k_split
        if splits < 1:
            splits = 1
        z = cuda.blockIdx.z
        g = z // splits
        split = z - g * splits
        kb = split * k_split
        ke = min(K, kb + k_split)
        ntiles = (ke - kb + BK - 1) // BK
        mn_full = m0 + BM <= M and n0 + BN <= N
        for i in range(TM):
            for j in range(TN):
                acc[i, j] = 0
        if ntiles > 0:
            fetch(A, B, ra, rb, g, m0, n0, kb, ke, M, N, mn_full and kb + BK <= ke, t)
            stash(As, Bs, ra, rb, 0, t)
        cuda.syncthreads()
        for kt in range(ntiles):
            buf = kt % 2
            k_next = kb + (kt + 1) * BK
            more = kt + 1 < ntiles
            if more:
                fetch(A, B, ra, rb, g, m0, n0, k_next, ke, M, N, mn_full and k_next + BK <= ke, t)
            # Flat unsigned offsets: no negative-index fix-ups, constant parts fold into
            # the load's immediate, and 16-byte alignment is visible to the vectoriser.
            a_base = buf * (BK * SA) + ty * VM
            b_base = buf * (BK * SB) + tx * VN
            for kk in range(BK):
                for j in range(TN):
                    bf[j] = Bs[uint64(b_base + kk * SB + col_offset(j))]
                for i in range(TM):
                    af[i] = As[uint64(a_base + kk * SA + row_offset(i))]
                for i in range(TM):
                    for j in range(TN):
                        acc[i, j] += af[i] * bf[j]
            if more:
                stash(As, Bs, ra, rb, 1 - buf, t)
            cuda.syncthreads()
        for j in range(TN):
            n = n0 + tx * VN + col_offset(j)
            if n < N:
                cb = col_index(z, n, M, N)
                for i in range(TM):
                    m = m0 + ty * VM + row_offset(i)
                    if m < M:
                        C[uint64(cb + row_index(m, N))] = cvt(acc[i, j])

    return gemm


def signature(a_type, b_type, c_type):
    return types.void(a_type, b_type, c_type, int64, int64, int64, int64)


class Epilogue(NamedTuple):
    col_index: object  # (z, n, M, N) -> flat offset of column n in output block z
    row_index: object  # (m, N) -> offset of row m
    cvt: object  # float32 accumulator -> output element


@device_fn
def _dense_col(z, n, M, N):
    return z * M * N + n


@device_fn
def _dense_row(m, N):
    return m * N


def dense(dtype) -> Epilogue:
    """Row-major ``(batch*splits, M, N)`` output of ``dtype``."""
    return Epilogue(_dense_col, _dense_row, _dtypes.from_f32(dtype))


PARTIALS = dense("float32")  # split-K partial sums, (G, splits, M, N) float32


def grid(tile: Tile, m: int, n: int, batch_splits: int):
    return (ceil_div(n, tile.bn), ceil_div(m, tile.bm), batch_splits)


@functools.cache
def build_sum_splits(out_dtype):
    """``out[g, i] = sum_s parts[g, s, i]`` in split order: the deterministic split-K pass."""
    cvt = _dtypes.from_f32(out_dtype)

    def sum_splits(parts, out):
        i = cuda.grid(1)
        L = parts.shape[2]
        stride = cuda.gridsize(1)
        while i < out.shape[0]:
            g = i // L
            r = i - g * L
            s = float32(0)
            for p in range(parts.shape[1]):
                s += parts[g, p, r]
            out[i] = cvt(s)
            i += stride

    out_type = types.Array(_dtypes.storage_type(out_dtype), 1, "C")
    return sum_splits, types.void(types.Array(float32, 3, "C"), out_type)


@functools.cache
def _sum_splits_kernel(out_dtype):
    return jit_kernel(*build_sum_splits(out_dtype))


def sum_splits(parts, out_flat, stream=0):
    """Reduce ``parts`` (G, splits, L) into the flat ``out`` (G*L) of any float dtype."""
    kern = _sum_splits_kernel(np.dtype(out_flat.dtype))
    kern[blocks_for(out_flat.shape[0]), THREADS_1D, stream](parts, _dtypes.raw(out_flat))
