"""Library calls for convolution and pooling: builders for ``lowering.OPS``.

Convolution (float32/float64, 1 or 2 spatial dims, any strides, padding, dilations and
groups) picks one of the formulations in ``conv_kernels`` from the shapes, which is how
the three convs of a training step separate:

- the weight gradient (the transpose rule's conv of transposed operands, whose kernel is
  the cotangent and bigger than its output) -> ``wgrad``, reading the operands in their
  untransposed layout (the views the driver passes are transposes of contiguous
  buffers, so undoing them copies nothing);
- a conv whose input is smaller than its output (the input gradient: full padding, lhs
  dilation for strided convs) -> ``scatter`` (col2im);
- everything else, the forward conv included -> ``gather`` (im2col).

Pooling over the last two axes (leading window dims 1) runs ``pool_kernels``.
Other cases return None: the eager impl runs.

The kernels run through ``library.kernel``: generic (geometry at run time) at first,
specialised to their geometry once hot.
"""

from __future__ import annotations

import numpy as np

from .library import kernel as _kernel
from .lowering import Op
from .parallel import Runtime

# elements of one thread's packed tile (1 MiB of float32, about an L2 cache): whole images
# of a small conv in one GEMM, which measured faster than smaller tiles
TILE = 1 << 18
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _threads():
    import numba
    return numba.get_num_threads()


class _Scratch:
    """Per-op scratch buffers, one set per concurrent call (the driver may be re-entered
    from several threads)."""

    def __init__(self, *shapes_dtypes):
        self.specs = shapes_dtypes
        self.free = []

    def take(self):
        return self.free.pop() if self.free else [np.empty(s, d) for s, d in self.specs]

    def give(self, bufs):
        self.free.append(bufs)


def _as4(shape):
    return tuple(shape) if len(shape) == 4 else (shape[0], shape[1], 1, shape[2])


def _two(t, fill, nsp):
    return tuple(t) if nsp == 2 else (fill, *t)


def _four(a):
    """A 3-d (N, C, W) array as (N, C, 1, W): a view."""
    return a if a.ndim == 4 else a[:, :, None]


def conv_general_dilated(eqn):
    from . import blas
    if not blas.AVAILABLE:
        return None
    lhs, rhs = (x.aval for x in eqn.inputs)
    out = eqn.outputs[0].aval
    dt = out.dtype
    nsp = lhs.ndim - 2
    if dt not in _FLOATS or lhs.dtype != dt or rhs.dtype != dt or nsp not in (1, 2):
        return None
    if 0 in lhs.shape or 0 in rhs.shape or 0 in out.shape:
        return None
    p = eqn.params
    sh, sw = _two(p["window_strides"], 1, nsp)
    (plh, _), (plw, _) = _two(p["padding"], (0, 0), nsp)
    lh, lw = _two(p["lhs_dilation"], 1, nsp)
    dh, dw = _two(p["rhs_dilation"], 1, nsp)
    groups = p["feature_group_count"]
    N, C, H, W = _as4(lhs.shape)
    O, I, KH, KW = _as4(rhs.shape)
    _, _, OH, OW = _as4(out.shape)
    T = _threads()

    if groups == 1 and KH * KW > OH * OW:
        # weight gradient: lhs = x^T (C_fwd, N, H, W), rhs = g^T (O_fwd, N, KH, KW)
        rows = max(1, min(KH, TILE // max(1, N * OH * OW * KW)))
        scratch = _Scratch(((T, N * OH * OW * rows * KW), dt), ((T, N * OH * OW, O), dt))
        kernel = _kernel("conv_kernels", "wgrad", dt,
                         (Runtime(rows), dh, dw, plh, plw, lh, lw, sh, sw))
        kk = OH * OW

        def fn(lhs, rhs, out):
            x = np.ascontiguousarray(_four(lhs).transpose(1, 0, 2, 3))
            g = np.ascontiguousarray(_four(rhs).transpose(1, 0, 2, 3))
            bufs = scratch.take()
            out4, acc = _four(out), bufs[1]
            kernel(x, g, out4, bufs[0], acc)
            # out[c, o, k] = sum over threads of acc[t, c * kk + k, o]
            np.copyto(out4.reshape(N, O, kk),
                      acc.sum(axis=0).reshape(N, kk, O).transpose(0, 2, 1))
            scratch.give(bufs)

        return Op(fn, "conv weight gradient (im2col + GEMM)", blas=True)

    if H * W < OH * OW:
        fg = O // groups
        rows = max(1, min(H, TILE // max(1, fg * KH * KW * W)))
        scratch = _Scratch(((T, fg * KH * KW * rows * W), dt))
        kernel = _kernel("conv_kernels", "scatter", dt,
                         (groups, KH, KW, Runtime(rows), sh, sw, plh, plw, lh, lw, dh, dw))

        def fn(lhs, rhs, out):
            x = np.ascontiguousarray(_four(lhs))
            wt = np.ascontiguousarray(_four(rhs).reshape(groups, fg, I, KH * KW)
                                      .transpose(0, 1, 3, 2)).reshape(groups, -1, I)
            bufs = scratch.take()
            kernel(x, wt, _four(out), bufs[0])
            scratch.give(bufs)

        return Op(fn, "conv (GEMM + col2im)", blas=True)

    rows = max(1, min(OH, TILE // max(1, I * KH * KW * OW)))
    scratch = _Scratch(((T, I * KH * KW * rows * OW), dt))
    kernel = _kernel("conv_kernels", "gather", dt,
                     (groups, Runtime(rows), sh, sw, plh, plw, lh, lw, dh, dw))

    def fn(lhs, rhs, out):
        x = np.ascontiguousarray(_four(lhs))
        w = np.ascontiguousarray(_four(rhs))
        bufs = scratch.take()
        kernel(x, w, _four(out), bufs[0])
        scratch.give(bufs)

    return Op(fn, "conv (im2col + GEMM)", blas=True)


# --------------------------------------------------------------------------- pooling

def _pool_geometry(eqn, operand_aval):
    """(B, H, W, KH, KW, sh, sw, plh, plw) for windows over the last two axes, or None."""
    p = eqn.params
    wd, ws, pad = p["window_dimensions"], p["window_strides"], p["padding"]
    nd = operand_aval.ndim
    if nd == 0 or any(d != 1 or s != 1 or q != (0, 0)
                      for d, s, q in zip(wd[:-2], ws[:-2], pad[:-2])):
        return None
    shape = operand_aval.shape
    if 0 in shape:
        return None
    if nd == 1:
        return (1, 1, shape[0], 1, wd[0], 1, ws[0], 0, pad[0][0])
    B = int(np.prod(shape[:-2], dtype=np.int64))
    return (B, shape[-2], shape[-1], wd[-2], wd[-1], ws[-2], ws[-1], pad[-2][0], pad[-1][0])


def _pool_dtype_ok(dt):
    return dt.kind in "fiu" and dt.itemsize >= 4 or dt.kind in "iu"


def _lowest(dt):
    return dt.type(-np.inf) if dt.kind == "f" else dt.type(np.iinfo(dt).min)


_2X2 = (2, 2, 2, 2, 0, 0)   # 2x2 windows, stride 2, no padding: the specialised kernels


def _pool_kernel(eqn, grid, label, general, special=None):
    """The Op running a ``pool_kernels`` kernel on the eqn's operands (the pooled input x
    last) then its output, or None when none applies (the eager impl runs). ``general`` is
    for any window, ``special`` (if given) for ``_2X2``: each is (kernel name, names of its
    trailing scalars). ``grid`` is the aval shaped like the window grid (B x OH x OW); the
    other arrays are shaped like x."""
    x = eqn.inputs[-1].aval
    geo = _pool_geometry(eqn, x)
    if geo is None or not _pool_dtype_ok(x.dtype) or any(v.aval.dtype != x.dtype
                                                         for v in eqn.inputs):
        return None
    B, H, W, *window = geo
    OH, OW = (grid.shape[-2], grid.shape[-1]) if x.ndim > 1 else (1, grid.shape[0])
    *ins, out = [(B, OH, OW) if v.aval.shape == grid.shape else (B, H, W)
                 for v in (*eqn.inputs, *eqn.outputs)]
    # the 2x2 kernels take no window constants (part of the Shares key, so of the cached code)
    (name, scalars), consts = ((special, ()) if special and tuple(window) == _2X2
                               else (general, window))
    values = [{"lowest": _lowest(x.dtype), "zero": x.dtype.type(0)}[s] for s in scalars]
    kernel = _kernel("pool_kernels", name, x.dtype, consts)

    def fn(*arrays):
        # inputs made contiguous; the output buffer is written in place
        kernel(*[np.ascontiguousarray(a).reshape(s) for a, s in zip(arrays, ins)],
               arrays[-1].reshape(out), *values)

    return Op(fn, label)


def reduce_window_max(eqn):
    return _pool_kernel(eqn, eqn.outputs[0].aval, "max pool kernel",
                        ("max_pool", ("lowest",)), ("max_pool_2x2", ()))


def reduce_window_sum(eqn):
    return _pool_kernel(eqn, eqn.outputs[0].aval, "sum pool kernel", ("sum_pool", ("zero",)))


def select_and_scatter_add(eqn):
    return _pool_kernel(eqn, eqn.inputs[0].aval, "max pool gradient kernel",
                        ("scatter_max", ("lowest", "zero")), ("scatter_max_2x2", ("zero",)))


def select_and_gather_add(eqn):
    return _pool_kernel(eqn, eqn.outputs[0].aval, "max pool tangent kernel",
                        ("gather_max", ("lowest", "zero")))
