"""N-d convolution, ``conv_general_dilated``, in PyTorch's fixed layouts: lhs and output
are (N, C, *spatial), the kernel is (O, I, *spatial). Transpose and batching rules follow
jax/_src/lax/convolution.py; the grouped weight gradient uses ``feature_group_count``
(what JAX spells ``batch_group_count``)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..core import dtypes
from ..core.abstract import ShapedArray
from ..core.trace import Primitive, bind, decompositions, get_aval
from ..transforms import batching
from ..transforms.ad import defbilinear, is_undefined
from ..transforms.batching import moveaxis
from ._util import fmt
from .shape import _pad_impl, reshape, rev, transpose

conv_general_dilated_p = Primitive("conv_general_dilated", kind="library")


def dilate_shape(shape, dilation):
    return tuple(0 if d == 0 else 1 + r * (d - 1) for d, r in zip(shape, dilation))


def _conv_out_spatial(in_sp, k_sp, window_strides, padding, lhs_dilation, rhs_dilation):
    padded = [d + lo + hi for d, (lo, hi) in
              zip(dilate_shape(in_sp, lhs_dilation), padding)]
    return tuple(max(0, (p - k) // s + 1) for p, k, s in
                 zip(padded, dilate_shape(k_sp, rhs_dilation), window_strides)), padded


def _conv_shape(lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
                feature_group_count):
    def fail(why):
        raise TypeError(f"funtorch.lax.conv_general_dilated: {why} (lhs {fmt(lhs)} in "
                        f"(N, C, *spatial), rhs {fmt(rhs)} in (O, I, *spatial))")

    nsp = lhs.ndim - 2
    if lhs.ndim < 3 or rhs.ndim != lhs.ndim:
        fail("lhs and rhs need the same rank, at least 3 (batch, feature, spatial dims)")
    if lhs.dtype != rhs.dtype:
        fail("lhs and rhs must have one dtype; cast one of them")
    for name, p in (("window_strides", window_strides), ("lhs_dilation", lhs_dilation),
                    ("rhs_dilation", rhs_dilation)):
        if len(p) != nsp or any(v < 1 for v in p):
            fail(f"{name}={p} needs {nsp} positive entries")
    if len(padding) != nsp:
        fail(f"padding={padding} needs {nsp} (lo, hi) pairs")
    g = feature_group_count
    if g < 1 or lhs.shape[1] != rhs.shape[1] * g or rhs.shape[0] % g:
        fail(f"with feature_group_count={g} the lhs features ({lhs.shape[1]}) must equal "
             f"rhs in-features x groups ({rhs.shape[1]} x {g}) and the rhs out-features "
             f"({rhs.shape[0]}) must be divisible by the groups")
    out_sp, padded = _conv_out_spatial(lhs.shape[2:], rhs.shape[2:], window_strides,
                                       padding, lhs_dilation, rhs_dilation)
    if any(p < 0 for p in padded):
        fail(f"padding {padding} removes more than the whole input")
    return ShapedArray((lhs.shape[0], rhs.shape[0], *out_sp), lhs.dtype)


# elements in one block of the im2col matrix (32 MB of float32, about an L3 cache): bounds
# the memory of big convs. Smaller blocks win on an idle machine but each GEMM call pays
# OpenBLAS's thread sync, which collapses when processes compete for the cores.
_IM2COL_BLOCK = 1 << 23


def _conv_impl(lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
               feature_group_count):
    """im2col on a strided window view, then GEMMs (per feature group).

    Copying the window view is the main cost, and it is fast only when its innermost
    axis has long contiguous runs: output rows for ordinary convs (blocked over the
    batch), kernel rows for weight gradients, whose kernel is the size of the image."""
    out_dtype = lhs.dtype
    n, g = lhs.shape[0], feature_group_count
    o, i = rhs.shape[:2]
    og = o // g
    k_sp = rhs.shape[2:]
    nsp = len(k_sp)
    out_sp, _ = _conv_out_spatial(lhs.shape[2:], k_sp, window_strides, padding, lhs_dilation,
                                  rhs_dilation)
    if 0 in (n, o, i, *k_sp, *out_sp):
        return np.zeros((n, o, *out_sp), out_dtype)
    if out_dtype in dtypes.HALVES:
        lhs, rhs = lhs.astype(np.float32), rhs.astype(np.float32)
    if any(p != (0, 0) for p in padding) or any(d != 1 for d in lhs_dilation):
        cfg = ((0, 0, 0), (0, 0, 0), *((lo, hi, d - 1) for (lo, hi), d in
                                      zip(padding, lhs_dilation)))
        lhs = _pad_impl(lhs, np.zeros((), lhs.dtype), padding_config=cfg)
    spatial = tuple(range(2, 2 + nsp))
    win = sliding_window_view(lhs, dilate_shape(k_sp, rhs_dilation), axis=spatial)
    # win: (N, C, *positions, *dilated window) -> keep strided positions and window taps
    win = win[(slice(None), slice(None))
              + tuple(slice(None, (q - 1) * s + 1, s) for q, s in zip(out_sp, window_strides))
              + tuple(slice(None, None, r) for r in rhs_dilation)]
    win = win.reshape(n, g, i, *out_sp, *k_sp)
    pos = tuple(range(3, 3 + nsp))
    taps = tuple(range(3 + nsp, 3 + 2 * nsp))
    itaps, npos = i * int(np.prod(k_sp)), int(np.prod(out_sp))
    wm = rhs.reshape(g, og, itaps)
    if k_sp[-1] > out_sp[-1]:
        cols = win.transpose(1, 0, *pos, 2, *taps).reshape(g, n * npos, itaps)
        out = np.matmul(cols, wm.transpose(0, 2, 1))            # (G, N * positions, O/G)
        out = out.reshape(g, n, npos, og).transpose(1, 0, 3, 2)
    else:
        out = np.empty((n, g, og, npos), wm.dtype)
        nb = max(1, _IM2COL_BLOCK // (g * itaps * npos))
        for s in range(0, n, nb):
            cols = win[s:s + nb].transpose(1, 2, *taps, 0, *pos).reshape(g, itaps, -1)
            res = np.matmul(wm, cols)                          # (G, O/G, nb * positions)
            out[s:s + nb] = res.reshape(g, og, -1, npos).transpose(2, 0, 1, 3)
    return np.ascontiguousarray(out.reshape(n, o, *out_sp), dtype=out_dtype)


def conv_vjp_lhs_padding(in_shape, window_dimensions, window_strides, out_shape, padding,
                         lhs_dilation, rhs_dilation):
    """Padding of the cotangent for the lhs gradient (a conv with flipped kernel)."""
    lhs_d = dilate_shape(in_shape, lhs_dilation)
    rhs_d = dilate_shape(window_dimensions, rhs_dilation)
    out_d = dilate_shape(out_shape, window_strides)
    before = [k - lo - 1 for k, (lo, _) in zip(rhs_d, padding)]
    after = [a + k - 1 - o - b for a, k, o, b in zip(lhs_d, rhs_d, out_d, before)]
    return tuple(zip(before, after))


def conv_vjp_rhs_padding(in_shape, window_dimensions, window_strides, out_shape, padding,
                          lhs_dilation, rhs_dilation):
    lhs_d = dilate_shape(in_shape, lhs_dilation)
    rhs_d = dilate_shape(window_dimensions, rhs_dilation)
    out_d = dilate_shape(out_shape, window_strides)
    return tuple((lo, o - a + k - lo - 1) for (lo, _), a, k, o in
                 zip(padding, lhs_d, rhs_d, out_d))


# --------------------------------------------------------------------------- gradients

# The two gradients of a convolution are primitives of their own, so that backends see them
# as what they are (the CUDA backend launches backward-data / backward-weight kernels).
# Each is defined by its decomposition into a convolution of flipped or transposed operands
# (jax/_src/lax/convolution.py's transpose rules), which is also what backends without a
# kernel for it compile. Together with the convolution they are the three faces of one
# bilinear form <conv(x, w), g>, so each one's transposes are the other two.
# Parameters: the convolution's, plus the shape of the operand the gradient is for.

conv_input_grad_p = Primitive("conv_input_grad", kind="library")
conv_weight_grad_p = Primitive("conv_weight_grad", kind="library")


def _input_grad_composite(g, rhs, *, lhs_shape, window_strides, padding, lhs_dilation,
                          rhs_dilation, feature_group_count):
    """Correlate the cotangent with the flipped kernel, its in/out features swapped per group."""
    grp = feature_group_count
    o, i, *k_sp = get_aval(rhs).shape
    nsp = len(k_sp)
    w = reshape(rhs, (grp, o // grp, i, *k_sp))
    w = transpose(w, (0, 2, 1, *range(3, 3 + nsp)))
    w = rev(reshape(w, (grp * i, o // grp, *k_sp)), tuple(range(2, 2 + nsp)))
    pads = conv_vjp_lhs_padding(lhs_shape[2:], k_sp, window_strides, get_aval(g).shape[2:],
                                padding, lhs_dilation, rhs_dilation)
    return conv_general_dilated(g, w, lhs_dilation, pads, window_strides, rhs_dilation, grp)


def _weight_grad_composite(lhs, g, *, rhs_shape, window_strides, padding, lhs_dilation,
                           rhs_dilation, feature_group_count):
    """Correlate the input with the cotangent, the batch axis acting as the features."""
    grp = feature_group_count
    n, c, *in_sp = get_aval(lhs).shape
    _, o, *out_sp = get_aval(g).shape
    nsp = len(in_sp)
    sp = tuple(range(3, 3 + nsp))
    x = transpose(reshape(lhs, (n, grp, c // grp, *in_sp)), (2, 1, 0, *sp))
    x = reshape(x, (c // grp, grp * n, *in_sp))
    ct = transpose(reshape(g, (n, grp, o // grp, *out_sp)), (1, 2, 0, *sp))
    ct = reshape(ct, (o, n, *out_sp))
    pads = conv_vjp_rhs_padding(in_sp, rhs_shape[2:], window_strides, out_sp, padding,
                                lhs_dilation, rhs_dilation)
    out = conv_general_dilated(x, ct, rhs_dilation, pads, lhs_dilation, window_strides, grp)
    return transpose(out, (1, 0, *range(2, 2 + nsp)))


def _input_grad_impl(g, rhs, *, lhs_shape, **params):
    """The decomposition in numpy (eager mode)."""
    grp, nsp = params["feature_group_count"], rhs.ndim - 2
    o, i, *k_sp = rhs.shape
    w = rhs.reshape(grp, o // grp, i, *k_sp).transpose(0, 2, 1, *range(3, 3 + nsp))
    w = w.reshape(grp * i, o // grp, *k_sp)[(Ellipsis, *[slice(None, None, -1)] * nsp)]
    pads = conv_vjp_lhs_padding(lhs_shape[2:], k_sp, params["window_strides"], g.shape[2:],
                                params["padding"], params["lhs_dilation"],
                                params["rhs_dilation"])
    return _conv_impl(g, w, window_strides=params["lhs_dilation"], padding=pads,
                      lhs_dilation=params["window_strides"],
                      rhs_dilation=params["rhs_dilation"], feature_group_count=grp)


def _weight_grad_impl(lhs, g, *, rhs_shape, **params):
    grp = params["feature_group_count"]
    n, c, *in_sp = lhs.shape
    _, o, *out_sp = g.shape
    sp = tuple(range(3, 3 + len(in_sp)))
    x = lhs.reshape(n, grp, c // grp, *in_sp).transpose(2, 1, 0, *sp)
    x = x.reshape(c // grp, grp * n, *in_sp)
    ct = g.reshape(n, grp, o // grp, *out_sp).transpose(1, 2, 0, *sp).reshape(o, n, *out_sp)
    pads = conv_vjp_rhs_padding(in_sp, rhs_shape[2:], params["window_strides"], out_sp,
                                params["padding"], params["lhs_dilation"],
                                params["rhs_dilation"])
    out = _conv_impl(x, ct, window_strides=params["rhs_dilation"], padding=pads,
                     lhs_dilation=params["lhs_dilation"],
                     rhs_dilation=params["window_strides"], feature_group_count=grp)
    return np.ascontiguousarray(out.transpose(1, 0, *range(2, 2 + len(in_sp))))


def _input_grad_shape(g, rhs, *, lhs_shape, **params):
    return ShapedArray(tuple(lhs_shape), g.dtype)


def _weight_grad_shape(lhs, g, *, rhs_shape, **params):
    return ShapedArray(tuple(rhs_shape), g.dtype)


def _conv_transpose(ct, lhs, rhs, **params):
    if is_undefined(lhs):
        return [conv_input_grad(ct, rhs, lhs.aval.shape, **params), None]
    return [None, conv_weight_grad(lhs, ct, rhs.aval.shape, **params)]


def _input_grad_transpose(ct, g, rhs, *, lhs_shape, **params):
    # <ct, input_grad(g, w)> = <conv(ct, w), g>
    if is_undefined(g):
        return [bind(conv_general_dilated_p, ct, rhs, **params), None]
    return [None, conv_weight_grad(ct, g, rhs.aval.shape, **params)]


def _weight_grad_transpose(ct, lhs, g, *, rhs_shape, **params):
    # <ct, weight_grad(x, g)> = <conv(x, ct), g>
    if is_undefined(lhs):
        return [conv_input_grad(g, ct, lhs.aval.shape, **params), None]
    return [None, bind(conv_general_dilated_p, lhs, ct, **params)]


def _batch_by_decomposition(composite):
    """vmap of the decomposition (a convolution, whose batching rule folds the axis)."""

    def rule(vals, dims, **params):
        size = batching.batch_size_of(vals, dims)
        out, = batching.vmap_flat(lambda *xs: [composite(*xs, **params)], size, vals, dims,
                                  lambda n: [0] * n)
        return out, 0

    return rule


for _p, _impl, _shape, _composite, _transpose in (
        (conv_input_grad_p, _input_grad_impl, _input_grad_shape, _input_grad_composite,
         _input_grad_transpose),
        (conv_weight_grad_p, _weight_grad_impl, _weight_grad_shape, _weight_grad_composite,
         _weight_grad_transpose)):
    _p.def_impl(_impl)
    _p.def_abstract_eval(_shape)
    decompositions[_p] = _composite
    defbilinear(_p, _transpose)
    batching.batching_rules[_p] = _batch_by_decomposition(_composite)


def conv_input_grad(g, rhs, lhs_shape, **params):
    """The gradient of ``conv_general_dilated(x, rhs, **params)`` with respect to ``x`` (of
    shape ``lhs_shape``) for the output cotangent ``g``."""
    return bind(conv_input_grad_p, g, rhs, lhs_shape=tuple(lhs_shape), **params)


def conv_weight_grad(lhs, g, rhs_shape, **params):
    """The gradient of ``conv_general_dilated(lhs, w, **params)`` with respect to ``w`` (of
    shape ``rhs_shape``) for the output cotangent ``g``."""
    return bind(conv_weight_grad_p, lhs, g, rhs_shape=tuple(rhs_shape), **params)


def _conv_batch(vals, dims, *, feature_group_count, **params):
    """Fold the vmapped axis into N (lhs), into O (rhs), or into extra groups (both)."""
    lhs, rhs = vals
    lbd, rbd = dims
    grp = feature_group_count
    if rbd is None:
        x = moveaxis(lhs, lbd, 0)
        b, n, *rest = get_aval(x).shape
        out = bind(conv_general_dilated_p, reshape(x, (b * n, *rest)), rhs,
                   feature_group_count=grp, **params)
        return reshape(out, (b, n, *get_aval(out).shape[1:])), 0
    w = moveaxis(rhs, rbd, 0)
    b, o, i, *k_sp = get_aval(w).shape
    if lbd is None:
        w = reshape(w, (b, grp, o // grp, i, *k_sp))
        w = transpose(w, (1, 0, *range(2, 4 + len(k_sp))))
        out = bind(conv_general_dilated_p, lhs, reshape(w, (grp * b * (o // grp), i, *k_sp)),
                   feature_group_count=grp, **params)
        n, _, *out_sp = get_aval(out).shape
        out = reshape(out, (n, grp, b, o // grp, *out_sp))
        out = transpose(out, (0, 2, 1, *range(3, 4 + len(out_sp))))
        return reshape(out, (n, b, o, *out_sp)), 1
    x = moveaxis(lhs, lbd, 1)
    n, _, c, *in_sp = get_aval(x).shape
    out = bind(conv_general_dilated_p, reshape(x, (n, b * c, *in_sp)),
               reshape(w, (b * o, i, *k_sp)), feature_group_count=b * grp, **params)
    return reshape(out, (n, b, o, *get_aval(out).shape[2:])), 1


conv_general_dilated_p.def_impl(_conv_impl)
conv_general_dilated_p.def_abstract_eval(_conv_shape)
defbilinear(conv_general_dilated_p, _conv_transpose)
batching.batching_rules[conv_general_dilated_p] = _conv_batch


def padtype_to_pads(in_shape, window_shape, window_strides, padding):
    """'SAME' (output = ceil(input / stride), extra padding at the end) or 'VALID'."""
    kind = padding.upper()
    if kind == "VALID":
        return ((0, 0),) * len(in_shape)
    if kind != "SAME":
        raise ValueError(f"funtorch: padding must be 'SAME', 'VALID' or (lo, hi) pairs, got "
                         f"{padding!r}")
    pads = []
    for d, k, s in zip(in_shape, window_shape, window_strides):
        total = max(0, (-(-d // s) - 1) * s + k - d)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, feature_group_count=1):
    """Cross-correlation (PyTorch's conv) of lhs (N, C, *sp) with rhs (O, C/groups, *sp).

    ``padding`` is 'SAME', 'VALID' or one (lo, hi) pair per spatial dim (may be negative).
    """
    nsp = get_aval(lhs).ndim - 2
    ones = (1,) * nsp
    lhs_dilation = ones if lhs_dilation is None else tuple(map(int, lhs_dilation))
    rhs_dilation = ones if rhs_dilation is None else tuple(map(int, rhs_dilation))
    window_strides = tuple(map(int, window_strides))
    if isinstance(padding, str):
        if lhs_dilation != ones:
            raise ValueError("funtorch.lax.conv_general_dilated: string padding is ambiguous "
                             "with lhs_dilation; pass explicit (lo, hi) pairs")
        k_sp = dilate_shape(get_aval(rhs).shape[2:], rhs_dilation)
        padding = padtype_to_pads(get_aval(lhs).shape[2:], k_sp, window_strides, padding)
    params = dict(window_strides=window_strides,
                  padding=tuple((int(lo), int(hi)) for lo, hi in padding),
                  lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
                  feature_group_count=int(feature_group_count))
    _conv_shape(get_aval(lhs), get_aval(rhs), **params)   # eager mode skips shape rules
    return bind(conv_general_dilated_p, lhs, rhs, **params)


conv = conv_general_dilated
