"""Block-wide reduction of a (value, payload) pair, the primitive behind reductions and softmax.

On a GPU, warps reduce with ``shfl_down_sync`` and one shared slot per warp collects the warp
results; the simulator has no warp shuffles, so there the same function is a shared-memory
tree. Either way every thread of the block gets the result, and every thread must call it
(it synchronises). ``combine`` must be associative and commutative for the answer to be
independent of the reduction tree (true for max/argmax; sum differs only by rounding).
"""

from __future__ import annotations

import math
import operator

from numba import cuda, float32

from ._common import SIMULATOR, device_fn

FULL_MASK = 0xFFFFFFFF


def block_reducer(combine, threads: int, b_type=float32):
    """``reduce(a, b) -> (a, b)`` over the block; ``a`` is float32, ``b`` is ``b_type``.

    ``threads`` must equal the launch block size (a power of two; a multiple of 32 on GPUs).
    """
    if threads & (threads - 1):
        raise ValueError("block size must be a power of two")
    if SIMULATOR:
        return _tree_reducer(combine, threads, b_type)
    if threads % 32:
        raise ValueError("block size must be a multiple of the warp size")
    return _shuffle_reducer(combine, threads // 32, b_type)


def _tree_reducer(combine, threads, b_type):
    @device_fn
    def reduce(a, b):
        sa = cuda.shared.array(threads, float32)
        sb = cuda.shared.array(threads, b_type)
        t = cuda.threadIdx.x
        sa[t] = a
        sb[t] = b
        cuda.syncthreads()
        step = threads // 2
        while step > 0:
            if t < step:
                ra, rb = combine(sa[t], sb[t], sa[t + step], sb[t + step])
                sa[t] = ra
                sb[t] = rb
            cuda.syncthreads()
            step //= 2
        ra, rb = sa[0], sb[0]
        cuda.syncthreads()  # the slots may be rewritten by the next call
        return ra, rb

    return reduce


def _shuffle_reducer(combine, warps, b_type):
    @device_fn
    def warp_reduce(a, b):
        offset = 16
        while offset > 0:
            oa = cuda.shfl_down_sync(FULL_MASK, a, offset)
            ob = cuda.shfl_down_sync(FULL_MASK, b, offset)
            a, b = combine(a, b, oa, ob)
            offset //= 2
        return a, b

    @device_fn
    def reduce(a, b):
        sa = cuda.shared.array(warps, float32)
        sb = cuda.shared.array(warps, b_type)
        t = cuda.threadIdx.x
        lane = t % 32
        a, b = warp_reduce(a, b)
        if lane == 0:
            sa[t // 32] = a
            sb[t // 32] = b
        cuda.syncthreads()
        a, b = sa[0], sb[0]
        for w in range(1, warps):
            a, b = combine(a, b, sa[w], sb[w])
        cuda.syncthreads()  # the slots may be rewritten by the next call
        return a, b

    return reduce


# --- combiners: (a1, b1, a2, b2) -> (a, b) -----------------------------------------------


@device_fn
def combine_sum(a1, b1, a2, b2):
    return a1 + a2, b1


@device_fn
def combine_max(a1, b1, a2, b2):
    """NaN-propagating maximum (like numpy and PyTorch)."""
    if a1 > a2 or a1 != a1:
        return a1, b1
    return a2, b1


@device_fn
def combine_min(a1, b1, a2, b2):
    if a1 < a2 or a1 != a1:
        return a1, b1
    return a2, b1


def _arg_combiner(better):
    """(value, index) combiner keeping the value that is ``better`` (``operator.gt`` for
    argmax, ``lt`` for argmin), the first index on ties, and the first NaN (numpy
    semantics)."""

    @device_fn
    def combine(a1, b1, a2, b2):
        n1 = a1 != a1
        n2 = a2 != a2
        if n1 or n2:
            take2 = n2 and (not n1 or b2 < b1)
        else:
            take2 = better(a2, a1) or (a2 == a1 and b2 < b1)
        if take2:
            return a2, b2
        return a1, b1

    return combine


combine_argmax = _arg_combiner(operator.gt)
combine_argmin = _arg_combiner(operator.lt)


@device_fn
def combine_logsumexp(m1, s1, m2, s2):
    """Merge running (max, sum of exp(x - max)) pairs of an online softmax; NaN propagates."""
    if m1 != m1 or m2 == -math.inf:
        return m1, s1
    if m2 != m2 or m1 == -math.inf:
        return m2, s2
    if m1 >= m2:
        return m1, s1 + s2 * math.exp(m2 - m1)
    return m2, s2 + s1 * math.exp(m1 - m2)


INDEX_SENTINEL = 2**62  # payload of an empty argmax slot: loses every tie
