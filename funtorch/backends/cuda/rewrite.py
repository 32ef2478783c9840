"""Recognise convolution gradients in a graph and give them their own kernels.

Reverse mode writes both gradients of ``conv_general_dilated`` as convolutions
(``lax.conv._conv_transpose_lhs`` / ``_rhs``): the input gradient correlates the output
gradient with the flipped, channel-swapped kernel; the weight gradient correlates the
input with the output gradient, batch acting as features, into a transposed kernel. Run
as forward convolutions, the latter is a GEMM with a huge K and a handful of output
tiles. When the operands are exactly those views (``common.fusion.Ref``s) of the original
tensors, the equation becomes ``cuda_kernels``' backward-data or split-K backward-weight
kernel on the untransposed tensors.
"""

from __future__ import annotations

import numpy as np

from ...core.abstract import ShapedArray
from ...core.graph import Eqn, Graph, Var
from ...core.trace import Primitive
from ...lax.conv import _conv_vjp_rhs_padding, conv_vjp_lhs_padding
from ...lax.shape import transpose_p
from ..common.fusion import OpStep, Partition

# backend-private primitives (never bound; only the CUDA lowering table knows them)
conv_backward_data_p = Primitive("cuda_conv_backward_data", kind="library")
conv_backward_weight_p = Primitive("cuda_conv_backward_weight", kind="library")


def conv_gradients(graph: Graph) -> Graph:
    """``graph`` with recognised convolution gradients replaced (flattened, or itself)."""
    part = Partition(graph)
    subs = {}
    for step in part.steps:
        if isinstance(step, OpStep) and step.eqn.prim.name == "conv_general_dilated":
            new = _backward_data(step) or _backward_weight(step)
            if new:
                subs[step.eqn] = new
    if not subs:
        return graph
    eqns = [n for e in part.eqns for n in subs.get(e, [e])]
    return Graph(graph.in_vars, eqns, part.outs)


def _permuted_root(ref, perm, flips=()):
    """The root var if ``ref`` is ``root`` with axes permuted by ``perm`` (view axis
    ``perm[j]`` is root axis ``j``) and reversed along the view axes in ``flips``."""
    root = ref.root
    if type(root) is not Var or len(ref.axes) != len(perm):
        return None
    rshape = root.aval.shape
    if ref.shape != tuple(rshape[perm.index(a)] for a in range(len(perm))):
        return None
    for j, (a, s, o) in enumerate(zip(ref.axes, ref.scales, ref.offsets)):
        if rshape[j] == 1:
            continue
        flip = perm[j] in flips
        if a != perm[j] or s != (-1 if flip else 1) or o != (rshape[j] - 1 if flip else 0):
            return None
    return root


def _eligible(eqn):
    p = eqn.params
    return (eqn.inputs[0].aval.ndim == 4 and p["feature_group_count"] == 1
            and eqn.outputs[0].aval.dtype == np.float32)


def _backward_data(step):
    """conv(dy, rev(transpose(w))) with unit window strides -> backward-data of w."""
    eqn, p = step.eqn, step.eqn.params
    if not _eligible(eqn) or p["window_strides"] != (1, 1):
        return None
    w = _permuted_root(step.ins[1], (1, 0, 2, 3), flips=(2, 3))
    if w is None:
        return None
    dy = eqn.inputs[0].aval.shape
    x = eqn.outputs[0].aval.shape
    k = w.aval.shape[2:]
    stride, dilation = p["lhs_dilation"], p["rhs_dilation"]
    pads = [d * (kk - 1) - lo for d, kk, (lo, _) in zip(dilation, k, p["padding"])]
    if any(q < 0 for q in pads) or x[0] != dy[0] or w.aval.shape[:2] != (dy[1], x[1]):
        return None
    fwd = [(n + 2 * q - d * (kk - 1) - 1) // s + 1
           for n, q, d, kk, s in zip(x[2:], pads, dilation, k, stride)]
    back = conv_vjp_lhs_padding(x[2:], k, stride, dy[2:], [(q, q) for q in pads], (1, 1),
                                dilation)
    if tuple(fwd) != dy[2:] or tuple(back) != tuple(p["padding"]):
        return None
    params = dict(stride=tuple(stride), padding=tuple(pads), dilation=tuple(dilation),
                  groups=1)
    return [Eqn(conv_backward_data_p, [eqn.inputs[0], w], eqn.outputs, params)]


def _backward_weight(step):
    """conv(transpose(x), transpose(dy)) -> transpose of the backward-weight of x, dy."""
    eqn, p = step.eqn, step.eqn.params
    if not _eligible(eqn) or p["lhs_dilation"] != (1, 1):
        return None
    x = _permuted_root(step.ins[0], (1, 0, 2, 3))
    dy = _permuted_root(step.ins[1], (1, 0, 2, 3))
    if x is None or dy is None:
        return None
    xs, dys = x.aval.shape, dy.aval.shape
    c, o, *k = eqn.outputs[0].aval.shape
    stride, dilation = p["rhs_dilation"], p["window_strides"]
    pads = [lo for lo, _ in p["padding"]]
    if xs[0] != dys[0] or xs[1] != c or dys[1] != o or any(q < 0 for q in pads):
        return None
    fwd = [(n + 2 * q - d * (kk - 1) - 1) // s + 1
           for n, q, d, kk, s in zip(xs[2:], pads, dilation, k, stride)]
    back = _conv_vjp_rhs_padding(xs[2:], k, stride, dys[2:], [(q, q) for q in pads],
                                 (1, 1), (1, 1))
    if tuple(fwd) != dys[2:] or tuple(back) != tuple(p["padding"]):
        return None
    dw = Var(ShapedArray((o, c, *k), np.dtype(np.float32)))
    params = dict(stride=tuple(stride), padding=tuple(pads), dilation=tuple(dilation),
                  groups=1)
    return [Eqn(conv_backward_weight_p, [x, dy], [dw], params),
            Eqn(transpose_p, [dw], eqn.outputs, dict(permutation=(1, 0, 2, 3)))]
