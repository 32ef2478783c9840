"""Tensor contraction: ``dot_general``, the one primitive behind matmul, dot, einsum,
tensordot and linear layers. Its rules follow jax/_src/lax/lax.py."""

from __future__ import annotations

import numpy as np

from ..core import dtypes
from ..core.abstract import ShapedArray
from ..core.trace import Primitive, bind, get_aval
from ..transforms import batching
from ..transforms.ad import defbilinear, is_undefined
from ._util import fmt
from .elementwise import convert_element_type
from .shape import transpose

dot_general_p = Primitive("dot_general", kind="library")


def _remaining(n, *removed):
    gone = {d for r in removed for d in r}
    return [d for d in range(n) if d not in gone]


def _ranges_like(*xs):
    start = 0
    for x in xs:
        yield tuple(range(start, start + len(x)))
        start += len(x)


def _dot_general_shape(lhs, rhs, *, dimension_numbers, preferred_element_type):
    (lc, rc), (lb, rb) = dimension_numbers

    def fail(why):
        raise TypeError(f"funtorch.lax.dot_general: {why} (operands {fmt(lhs, rhs)}, "
                        f"dimension_numbers={dimension_numbers})")

    for name, dims, a in (("lhs", lc + lb, lhs), ("rhs", rc + rb, rhs)):
        if any(not 0 <= d < a.ndim for d in dims) or len(set(dims)) != len(dims):
            fail(f"{name} contracting/batch dimensions must be distinct axes of the {name}")
    if len(lc) != len(rc) or len(lb) != len(rb):
        fail("lhs and rhs need as many contracting dimensions, and as many batch "
             "dimensions, as each other")
    if any(lhs.shape[a] != rhs.shape[b] for a, b in zip(lc, rc)):
        fail("contracting dimensions differ in size "
             f"({[lhs.shape[d] for d in lc]} vs {[rhs.shape[d] for d in rc]})")
    if any(lhs.shape[a] != rhs.shape[b] for a, b in zip(lb, rb)):
        fail("batch dimensions differ in size; broadcast them first "
             f"({[lhs.shape[d] for d in lb]} vs {[rhs.shape[d] for d in rb]})")
    if lhs.dtype != rhs.dtype:
        fail("operands must have one dtype; funtorch.matmul/einsum promote for you")
    shape = ([lhs.shape[d] for d in lb] + [lhs.shape[d] for d in _remaining(lhs.ndim, lc, lb)]
             + [rhs.shape[d] for d in _remaining(rhs.ndim, rc, rb)])
    return ShapedArray(shape, preferred_element_type or lhs.dtype)


def _dot_general_impl(lhs, rhs, *, dimension_numbers, preferred_element_type):
    """Transpose to [batch, free, contract] x [batch, contract, free]; one (batched) GEMM."""
    (lc, rc), (lb, rb) = dimension_numbers
    out_dtype = np.dtype(preferred_element_type or lhs.dtype)
    ct = dtypes.compute_dtype(out_dtype)
    lf, rf = _remaining(lhs.ndim, lc, lb), _remaining(rhs.ndim, rc, rb)
    bshape = [lhs.shape[d] for d in lb]
    lfs, rfs = [lhs.shape[d] for d in lf], [rhs.shape[d] for d in rf]
    k = int(np.prod([lhs.shape[d] for d in lc], dtype=np.int64))
    b = int(np.prod(bshape, dtype=np.int64))
    a = np.transpose(lhs, (*lb, *lf, *lc)).astype(ct, copy=False)
    c = np.transpose(rhs, (*rb, *rc, *rf)).astype(ct, copy=False)
    m = int(np.prod(lfs, dtype=np.int64))
    n = int(np.prod(rfs, dtype=np.int64))
    if lb:
        out = np.matmul(a.reshape(b, m, k), c.reshape(b, k, n))
    else:
        out = np.matmul(a.reshape(m, k), c.reshape(k, n))
    return out.reshape((*bshape, *lfs, *rfs)).astype(out_dtype, copy=False)


def _dot_general_transpose_lhs(g, x_aval, y, *, dimension_numbers, swap_ans=False):
    (x_contract, y_contract), (x_batch, y_batch) = dimension_numbers
    x_kept = _remaining(x_aval.ndim, x_contract, x_batch)
    y_kept = _remaining(get_aval(y).ndim, y_contract, y_batch)
    if swap_ans:
        ans_batch, ans_y, _ = _ranges_like(x_batch, y_kept, x_kept)
    else:
        ans_batch, _, ans_y = _ranges_like(x_batch, x_kept, y_kept)
    dims = ((ans_y, tuple(y_kept)), (ans_batch, tuple(y_batch)))
    x_contract_sorted_by_y = [x_contract[i] for i in np.argsort(y_contract)]
    out_axes = np.argsort([*x_batch, *x_kept, *x_contract_sorted_by_y])
    # with preferred_element_type the cotangent is wider than the operands
    y = convert_element_type(y, get_aval(g).dtype)
    x_bar = transpose(dot_general(g, y, dims), tuple(int(a) for a in out_axes))
    return convert_element_type(x_bar, x_aval.dtype)


def _dot_general_transpose(ct, lhs, rhs, *, dimension_numbers, preferred_element_type):
    (lc, rc), (lb, rb) = dimension_numbers
    if is_undefined(lhs):
        return [_dot_general_transpose_lhs(ct, lhs.aval, rhs,
                                           dimension_numbers=dimension_numbers), None]
    swapped = ((rc, lc), (rb, lb))
    return [None, _dot_general_transpose_lhs(ct, rhs.aval, lhs, dimension_numbers=swapped,
                                             swap_ans=True)]


def _bump(dims, b):
    return tuple(d + (d >= b) for d in dims)


def _dot_general_batch(vals, dims, *, dimension_numbers, preferred_element_type):
    """Both batched: a new batch dimension. One batched: a new free dimension."""
    lhs, rhs = vals
    lbd, rbd = dims
    (lc, rc), (lb, rb) = dimension_numbers
    if lbd is not None and rbd is not None:
        lb, rb = (lbd, *_bump(lb, lbd)), (rbd, *_bump(rb, rbd))
        lc, rc = _bump(lc, lbd), _bump(rc, rbd)
        out_dim = 0
    elif lbd is not None:
        free = _remaining(get_aval(lhs).ndim - 1, lc, lb)
        out_dim = len(lb) + sum(d < lbd for d in free)
        lb, lc = _bump(lb, lbd), _bump(lc, lbd)
    else:
        n_lhs_free = get_aval(lhs).ndim - len(lc) - len(lb)
        free = _remaining(get_aval(rhs).ndim - 1, rc, rb)
        out_dim = len(lb) + n_lhs_free + sum(d < rbd for d in free)
        rb, rc = _bump(rb, rbd), _bump(rc, rbd)
    out = dot_general(lhs, rhs, ((lc, rc), (lb, rb)), preferred_element_type)
    return out, out_dim


dot_general_p.def_impl(_dot_general_impl)
dot_general_p.def_abstract_eval(_dot_general_shape)
defbilinear(dot_general_p, _dot_general_transpose)
batching.batching_rules[dot_general_p] = _dot_general_batch


def dot_general(lhs, rhs, dimension_numbers, preferred_element_type=None):
    """Contract ``lhs`` and ``rhs``: ``dimension_numbers = ((lhs_contract, rhs_contract),
    (lhs_batch, rhs_batch))``; the result holds batch, lhs free, then rhs free dims."""
    (lc, rc), (lb, rb) = dimension_numbers
    dn = ((tuple(map(int, lc)), tuple(map(int, rc))), (tuple(map(int, lb)), tuple(map(int, rb))))
    pet = None if preferred_element_type is None else dtypes.dtype(preferred_element_type)
    if pet is not None and pet == get_aval(lhs).dtype:
        pet = None
    # eager mode skips shape rules: check here for a clear error
    _dot_general_shape(get_aval(lhs), get_aval(rhs), dimension_numbers=dn,
                       preferred_element_type=pet)
    return bind(dot_general_p, lhs, rhs, dimension_numbers=dn, preferred_element_type=pet)


def dot(lhs, rhs, preferred_element_type=None):
    """lax.dot: vector/matrix products contracting lhs's last axis with rhs's first."""
    nl, nr = get_aval(lhs).ndim, get_aval(rhs).ndim
    if not (1 <= nl <= 2 and 1 <= nr <= 2):
        raise TypeError(f"funtorch.lax.dot: needs 1-d or 2-d operands, got "
                        f"{fmt(get_aval(lhs), get_aval(rhs))}; use dot_general or "
                        "funtorch.matmul for batched products")
    return dot_general(lhs, rhs, (((nl - 1,), (0,)), ((), ())), preferred_element_type)
