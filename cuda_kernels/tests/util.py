"""Numpy oracles and helpers shared by the kernel tests."""

import ml_dtypes
import numpy as np
from numba import cuda

BF16 = np.dtype(ml_dtypes.bfloat16)


def assert_within_ulps(got, want, dtype, ulps=1):
    """``got`` within ``ulps`` units in the last place of ``dtype`` (float16 or bfloat16) of
    ``want``: tight enough to tell float32 accumulation, rounded once, from accumulating
    in the half type (tens of ulps off on these sizes)."""
    got = np.asarray(got, np.float32).astype(np.float64)
    want = np.asarray(want, np.float32).astype(np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    fi = ml_dtypes.finfo(dtype)
    _, ex = np.frexp(np.abs(want))
    ulp = np.maximum(float(fi.eps) * np.ldexp(1.0, ex - 1), float(fi.smallest_subnormal))
    err = np.abs(got - want) / ulp
    assert err.max() <= ulps, f"{err.max()} ulps of {np.dtype(dtype).name} off: {got} vs {want}"


def dev(x):
    return cuda.to_device(np.ascontiguousarray(x))


def host(x):
    return x.copy_to_host()


def conv2d_ref(x, w, stride, pad, dil, groups):
    """Direct convolution in float64 (PyTorch semantics)."""
    n, c, h, wd = x.shape
    o, cg, r, s = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dil
    p = (h + 2 * ph - dh * (r - 1) - 1) // sh + 1
    q = (wd + 2 * pw - dw * (s - 1) - 1) // sw + 1
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    og = o // groups
    y = np.zeros((n, o, p, q))
    for g in range(groups):
        for i in range(r):
            for j in range(s):
                patch = xp[
                    :,
                    g * cg : (g + 1) * cg,
                    i * dh : i * dh + sh * (p - 1) + 1 : sh,
                    j * dw : j * dw + sw * (q - 1) + 1 : sw,
                ]
                y[:, g * og : (g + 1) * og] += np.einsum(
                    "nchw,oc->nohw", patch, w[g * og : (g + 1) * og, :, i, j]
                )
    return y


def conv2d_grads_ref(x, w, dy, stride, pad, dil, groups):
    """(dx, dw) of sum(conv2d(x, w) * dy), accumulated window by window."""
    n, c, h, wd = x.shape
    o, cg, r, s = w.shape
    (sh, sw), (ph, pw), (dh, dw_) = stride, pad, dil
    p, q = dy.shape[2:]
    og = o // groups
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp = np.zeros_like(xp)
    dw = np.zeros(w.shape)
    for g in range(groups):
        for i in range(r):
            for j in range(s):
                sl = (
                    slice(None),
                    slice(g * cg, (g + 1) * cg),
                    slice(i * dh, i * dh + sh * (p - 1) + 1, sh),
                    slice(j * dw_, j * dw_ + sw * (q - 1) + 1, sw),
                )
                dyg = dy[:, g * og : (g + 1) * og]
                dxp[sl] += np.einsum("nohw,oc->nchw", dyg, w[g * og : (g + 1) * og, :, i, j])
                dw[g * og : (g + 1) * og, :, i, j] += np.einsum("nohw,nchw->oc", dyg, xp[sl])
    return dxp[:, :, ph : ph + h, pw : pw + wd], dw
