"""The CUDA lowering table for the steps that are not fused loop nests.

A lowering ``fn(step, b)`` reads the step's inputs (``common.fusion.Ref``s) through the
program builder ``b`` and emits the launches that write its planned output buffers:

- ``dot_general``: the tiled ``cuda_kernels`` GEMM, batched, with transposed operands
  read in place through its ``trans_a``/``trans_b`` flags; other dtypes a direct kernel;
- convolutions: ``cuda_kernels`` implicit-GEMM forward, and for the gradient primitives
  (``conv_input_grad``, ``conv_weight_grad``) backward-data/backward-weight with split-K
  where ``lowers`` takes them (2-d float32, no groups or lhs dilation, symmetric padding;
  the others become their decomposition, a convolution); general ``conv_general_dilated``
  (lhs dilation, asymmetric padding, 3-d) a direct kernel;
- windowed reductions and max pooling's derivatives, gather/scatter, sort, cumsum, pad,
  concatenate, threefry: generated kernels (``kernels``);
- ``cond``/``while`` read their predicate to the host and run the compiled branch or body;
  ``scan`` runs its compiled body per step; data stays on the device throughout; a loop
  body's invariant part (``common.hoist``) runs once before the loop;
- anything without a lowering (``custom_lin``) runs its numpy impl on host copies of the
  operands, with a one-time warning. float16/bfloat16 arithmetic never gets here:
  ``halves.widen`` has moved it to float32 before the graph is partitioned.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from cuda_kernels import conv as ck_conv
from cuda_kernels import matmul as ck_matmul

from ...core.graph import Var
from ...core.trace import impl_rules
from ..common.hoist import hoist
from ..common.scalar import LOOP_DTYPES
from . import kernels, memory
from .source import target

# dtypes the generated kernels handle (``halves.widen`` leaves float16/bfloat16 to loops)
KERNEL_DTYPES = LOOP_DTYPES


def _shape(v):
    return v.aval.shape


def _kernel_dtypes(step):
    return all(v.aval.dtype in KERNEL_DTYPES for v in (*step.eqn.inputs, *step.eqn.outputs))


# --------------------------------------------------------------------------- dot_general

def _gemm_operand(ref, batch, rows, cols):
    """Whether ``ref`` reads its root buffer as (batch, rows, cols) (False) or
    (batch, cols, rows) (True), or None when it must be copied first."""
    if type(ref.root) is not Var:
        return None
    if any(s != 1 for s in ref.scales) or any(ref.offsets) or any(
            ref.shape[a] != n if a is not None else n != 1
            for a, n in zip(ref.axes, ref.root_shape)):
        return None   # a strided or partial view (``h[0]`` of a [2, ...] root): copy it
    shape = ref.shape
    big = {a for a, n in enumerate(shape) if n != 1}
    order = [a for a in ref.axes if a is not None and a in big]
    covered = [a for a, n in zip(ref.axes, ref.root_shape) if a is not None and n != 1]
    if sorted(covered) != sorted(big):
        return None   # a broadcast operand: copy it
    for trans, seq in ((False, batch + rows + cols), (True, batch + cols + rows)):
        if order == [a for a in seq if a in big]:
            return trans
    return None


def lower_dot_general(step, b):
    eqn = step.eqn
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lhs, rhs = eqn.inputs[0].aval, eqn.inputs[1].aval
    out = eqn.outputs[0]
    dtype = out.aval.dtype
    lf = [a for a in range(lhs.ndim) if a not in lc and a not in lb]
    rf = [a for a in range(rhs.ndim) if a not in rc and a not in rb]
    o = b.buf(out)
    if not lhs.dtype == rhs.dtype == dtype == np.float32:
        if not _kernel_dtypes(step) or dtype.kind not in "fiu" or lhs.dtype != rhs.dtype:
            return lower_host(step, b)
        spec = kernels.dot_general(lhs.shape, rhs.shape, eqn.params["dimension_numbers"], dtype)
        ins = [b.contiguous(r, x.aval.dtype) for r, x in zip(step.ins, eqn.inputs)]
        return b.launch(spec, ins + [o])
    nb = math.prod(lhs.shape[a] for a in lb)
    m = math.prod(lhs.shape[a] for a in lf)
    k = math.prod(lhs.shape[a] for a in lc)
    n = math.prod(rhs.shape[a] for a in rf)
    if not m * n * nb:
        return
    if not k:
        return b.emit(lambda env: kernels.fill(env[o], 0), "fill 0", 1)
    ta = _gemm_operand(step.ins[0], list(lb), lf, list(lc))
    tb = _gemm_operand(step.ins[1], list(rb), list(rc), rf)
    if ta is None:
        ta, a = False, b.contiguous(step.ins[0].transpose(None, (*lb, *lf, *lc)), dtype)
    else:
        a = b.root_buf(step.ins[0])
    if tb is None:
        tb, c = False, b.contiguous(step.ins[1].transpose(None, (*rb, *rc, *rf)), dtype)
    else:
        c = b.root_buf(step.ins[1])
    a_shape = (nb, k, m) if ta else (nb, m, k)
    b_shape = (nb, n, k) if tb else (nb, k, n)

    def run(env):
        ck_matmul.batched_matmul(memory.view(env[a], a_shape), memory.view(env[c], b_shape),
                                 memory.view(env[o], (nb, m, n)), trans_a=ta, trans_b=tb,
                                 stream=target.stream or 0, pool=target.pool)

    b.emit(run, f"matmul {nb}x{m}x{k}x{n}" + (" A^T" if ta else "") + (" B^T" if tb else ""), 1)


# --------------------------------------------------------------------------- convolution

def lower_conv(step, b):
    eqn = step.eqn
    p = eqn.params
    lhs, rhs = eqn.inputs[0].aval, eqn.inputs[1].aval
    out = eqn.outputs[0]
    dtype = out.aval.dtype
    nsp = lhs.ndim - 2
    o = b.buf(out)
    if not out.aval.size:
        return
    symmetric = all(lo == hi >= 0 for lo, hi in p["padding"])
    if not (dtype == np.float32 and nsp in (1, 2) and symmetric and lhs.size and rhs.size
            and all(d == 1 for d in p["lhs_dilation"])):
        if not _kernel_dtypes(step) or dtype.kind not in "fiu":
            return lower_host(step, b)
        spec = kernels.conv(lhs.shape, rhs.shape, p, dtype)
        ins = [b.contiguous(r, x.aval.dtype) for r, x in zip(step.ins, eqn.inputs)]
        return b.launch(spec, ins + [o])
    x, w = (b.contiguous(r, dtype) for r in step.ins)
    lead = (1,) if nsp == 1 else ()
    x4 = (*lhs.shape[:2], *lead, *lhs.shape[2:])
    w4 = (*rhs.shape[:2], *lead, *rhs.shape[2:])
    o4 = (*out.aval.shape[:2], *lead, *out.aval.shape[2:])
    kw = dict(stride=(*lead, *p["window_strides"]),
              padding=(*(0,) * len(lead), *[lo for lo, _ in p["padding"]]),
              dilation=(*lead, *p["rhs_dilation"]), groups=p["feature_group_count"])

    def run(env):
        ck_conv.conv2d_forward(memory.view(env[x], x4), memory.view(env[w], w4),
                               memory.view(env[o], o4), stream=target.stream or 0,
                               pool=target.pool, **kw)

    b.emit(run, f"conv2d forward {x4} * {w4}", 1)


def lowers(eqn):
    """Whether a convolution gradient runs ``cuda_kernels``' backward kernel (else its
    decomposition, a convolution, is compiled instead)."""
    p = eqn.params
    if eqn.prim.name not in ("conv_input_grad", "conv_weight_grad"):
        return False        # the fused attention's primitives: their decompositions
    return (eqn.outputs[0].aval.ndim == 4 and eqn.outputs[0].aval.dtype == np.float32
            and p["feature_group_count"] == 1 and all(d == 1 for d in p["lhs_dilation"])
            and all(lo == hi >= 0 for lo, hi in p["padding"]))


def _conv_backward(kernel, label, dy_first):
    """The lowering of a gradient primitive: ``ck_conv.<kernel>(dy, other, out_shape,
    out=...)``; ``dy_first``: the equation's first input is ``dy``; ``label`` formats the
    first input's and the output's shapes."""

    def lower(step, b):
        e = step.eqn
        p = dict(stride=tuple(e.params["window_strides"]),
                 padding=tuple(lo for lo, _ in e.params["padding"]),
                 dilation=tuple(e.params["rhs_dilation"]), groups=1)
        ins = [b.contiguous(r, v.aval.dtype) for r, v in zip(step.ins, step.eqn.inputs)]
        shapes = [_shape(v) for v in step.eqn.inputs]
        o, o_shape = b.buf(step.eqn.outputs[0]), _shape(step.eqn.outputs[0])
        (dy, dy_shape), (other, other_shape) = (
            zip(ins, shapes) if dy_first else reversed(list(zip(ins, shapes))))

        def run(env):
            getattr(ck_conv, kernel)(memory.view(env[dy], dy_shape),
                                     memory.view(env[other], other_shape), o_shape,
                                     out=memory.view(env[o], o_shape),
                                     stream=target.stream or 0, pool=target.pool, **p)

        b.emit(run, label.format(shapes[0], o_shape), 1)

    return lower


lower_conv_backward_data = _conv_backward(
    "conv2d_backward_data", "conv2d backward-data {} -> {}", True)
lower_conv_backward_weight = _conv_backward(
    "conv2d_backward_weight", "conv2d backward-weight {} -> {} (split-K)", False)


# --------------------------------------------------------------------------- generated

def _generated(make):
    """A lowering whose kernel reads contiguous inputs and writes the outputs in order."""

    def lower(step, b):
        e = step.eqn
        if not _kernel_dtypes(step):
            return lower_host(step, b)
        ins = [b.contiguous(r, v.aval.dtype) for r, v in zip(step.ins, e.inputs)]
        b.launch(make(e, [v.aval for v in e.inputs]), ins + [b.buf(v) for v in e.outputs])

    return lower


def _window(kind):
    def make(e, avals):
        p = e.params
        args = (avals[-1].shape, p["window_dimensions"], p["window_strides"], p["padding"],
                avals[0].dtype)
        if kind in ("sum", "max"):
            return kernels.reduce_window(kind, *args)
        return getattr(kernels, kind)(*args)
    return make


def lower_scatter(step, b):
    """A copy of the operand (read through its view), then the updates in order."""
    e = step.eqn
    if not _kernel_dtypes(step):
        return lower_host(step, b)
    p = e.params
    x_ref, dtype = step.ins[0], e.inputs[0].aval.dtype
    idx, u = (b.contiguous(r, v.aval.dtype) for r, v in zip(step.ins[1:], e.inputs[1:]))
    o = b.buf(e.outputs[0])
    b.launch(kernels.copy_ref(x_ref, dtype),
             ([b.buf(x_ref.root)] if type(x_ref.root) is Var else []) + [o])
    b.launch(kernels.scatter_updates(_shape(e.inputs[0]), _shape(e.inputs[1]), p["axis"],
                                     p["combine"], p["mode"], dtype, e.inputs[1].aval.dtype),
             [idx, u, o])


def _pad_make(e, avals):
    return kernels.pad(avals[0].shape, e.params["padding_config"], avals[0].dtype)


def lower_reshape(step, b):
    """A reshape that is not a view of its input's buffer: copy it out in row-major order."""
    ref, dtype = step.ins[0], step.eqn.inputs[0].aval.dtype
    o = b.buf(step.eqn.outputs[0])
    if dtype not in KERNEL_DTYPES:
        x = b.contiguous(ref, dtype) if kernels.same_layout(ref) else None
        if x is None:
            return lower_host(step, b)
        return b.emit(lambda env: memory.copy(env[o], env[x]), "reshape copy", 0)
    b.launch(kernels.copy_ref(ref, dtype), ([b.buf(ref.root)] if type(ref.root) is Var
                                            else []) + [o])


def _bitcast(step, b):
    x = b.contiguous(step.ins[0], step.eqn.inputs[0].aval.dtype)
    o = b.buf(step.eqn.outputs[0])
    dt = step.eqn.inputs[0].aval.dtype
    b.emit(lambda env: memory.copy(env[o].view(dt), env[x]), "bitcast copy", 0)


# --------------------------------------------------------------------------- control flow

def _naturals(b, step, first=0):
    """Per-call natural-shape views of a step's inputs (from ``first`` on)."""
    ins = [(b.contiguous(r, v.aval.dtype), _shape(v)) for r, v in
           zip(step.ins[first:], step.eqn.inputs[first:])]
    return lambda env: [memory.shaped(env[i], s) for i, s in ins]


def _store_outputs(b, step):
    outs = [b.buf(v) for v in step.eqn.outputs]

    def store(env, results):
        for i, r in zip(outs, results):
            memory.copy(env[i], r)

    return store


def _host_scalar(buf):
    return memory.to_host(buf).reshape(-1)[0]


def lower_cond(step, b):
    """The predicate is read to the host; the chosen branch runs compiled on the device."""
    branches = step.eqn.params["branches"]
    index = b.contiguous(step.ins[0], step.eqn.inputs[0].aval.dtype)
    args, store = _naturals(b, step, 1), _store_outputs(b, step)

    def run(env):
        i = min(max(int(_host_scalar(env[index])), 0), len(branches) - 1)
        store(env, b.device.backend.executable(branches[i])(*args(env)))

    b.emit(run, f"cond over {len(branches)} compiled branches (predicate read to host)", 0)


def _hoisted(b, body, num_consts):
    """The body's loop-invariant part (``common.hoist``), run once before the loop, and the
    rest: ``(consts -> consts + invariants, body executable)``."""
    split = hoist(body, num_consts)
    if split is None:
        return list, b.device.backend.executable(body)
    pre = b.device.backend.executable(split[0])
    return (lambda consts: [*consts, *pre(*consts)]), b.device.backend.executable(split[1])


def lower_while(step, b):
    p = step.eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    args, store = _naturals(b, step), _store_outputs(b, step)
    cond = b.device.backend.executable(p["cond_graph"])
    with_invariants, body = _hoisted(b, p["body_graph"], nb)

    def run(env):
        xs = args(env)
        cc, bc, carry = xs[:nc], with_invariants(xs[nc:nc + nb]), xs[nc + nb:]
        while bool(_host_scalar(cond(*cc, *carry)[0])):
            carry = body(*bc, *carry)
        store(env, carry)

    b.emit(run, "while_loop (compiled body; predicate read to host per iteration)", 0)


def lower_scan(step, b):
    p = step.eqn.params
    nc, ncar, length = p["num_consts"], p["num_carry"], p["length"]
    with_invariants, body = _hoisted(b, p["body"], nc)
    args = _naturals(b, step)
    carry_out = [b.buf(v) for v in step.eqn.outputs[:ncar]]
    ys_out = [(b.buf(v), v.aval.size // max(length, 1)) for v in step.eqn.outputs[ncar:]]
    x_sizes = [v.aval.size // max(length, 1) for v in step.eqn.inputs[nc + ncar:]]
    x_shapes = [_shape(v)[1:] for v in step.eqn.inputs[nc + ncar:]]
    order = range(length - 1, -1, -1) if p["reverse"] else range(length)

    def run(env):
        xs = args(env)
        consts, carry, seqs = with_invariants(xs[:nc]), xs[nc:nc + ncar], xs[nc + ncar:]
        for i in order:
            x_i = [memory.shaped(memory.flat(s)[i * n:(i + 1) * n], shp)
                   for s, n, shp in zip(seqs, x_sizes, x_shapes)]
            outs = body(*consts, *carry, *x_i)
            carry = outs[:ncar]
            for (o, n), y in zip(ys_out, outs[ncar:]):
                memory.copy(env[o][i * n:(i + 1) * n], y)
        for o, c in zip(carry_out, carry):
            memory.copy(env[o], c)

    b.emit(run, f"scan of length {length} (compiled body)", 0)


def lower_custom_vjp_call(step, b):
    fun = b.device.backend.executable(step.eqn.params["fun_graph"])
    args, store = _naturals(b, step), _store_outputs(b, step)
    b.emit(lambda env: store(env, fun(*args(env))), "custom_vjp primal (compiled)", 0)


# --------------------------------------------------------------------------- host fallback

_warned = set()


def lower_host(step, b, staged=False):
    """Run the numpy impl on host copies (a round trip: only for what has no kernel, and
    for the collectives, ``staged``)."""
    e = step.eqn
    name = e.prim.name
    impl = impl_rules.get(e.prim)
    if impl is None:
        raise NotImplementedError(f"funtorch: primitive '{name}' has no eager impl")
    if not staged and name not in _warned:
        _warned.add(name)
        types = ", ".join(str(v.aval.dtype) for v in e.inputs)
        warnings.warn(f"funtorch cuda backend: '{name}' ({types}) has no CUDA kernel and runs "
                      "on the host, copying its operands each call", RuntimeWarning,
                      stacklevel=2)
    args = _naturals(b, step)
    outs = [(b.buf(v), v.aval.dtype) for v in e.outputs]
    params = e.params

    def run(env):
        res = impl(*[memory.to_host(x) for x in args(env)], **params)
        for (o, dt), r in zip(outs, res if e.prim.multiple_results else [res]):
            if env[o].size:
                env[o].copy_to_device(np.ascontiguousarray(r, dt).reshape(-1))

    b.emit(run, f"{name}: " + ("MPI, staged through the host" if staged else "host fallback"),
           0)


def lower_collective(step, b):
    """A collective over a process axis: device -> host copy, the MPI call on the host
    buffers, host -> device (docs/distributed.md says how NCCL would run it on the device
    buffers instead)."""
    lower_host(step, b, staged=True)


# declared host fallbacks: no kernel by design (``jit`` needs none: the fusion analysis
# inlines it); other primitives fall back for the dtypes their kernels lack
HOST = frozenset(["custom_lin"])

LOWERINGS = {
    "dot_general": lower_dot_general,
    "conv_general_dilated": lower_conv,
    "conv_input_grad": lower_conv_backward_data,
    "conv_weight_grad": lower_conv_backward_weight,
    "reduce_window_sum": _generated(_window("sum")),
    "reduce_window_max": _generated(_window("max")),
    "select_and_gather_add": _generated(_window("select_and_gather_add")),
    "select_and_scatter_add": _generated(_window("select_and_scatter_add")),
    "gather": _generated(lambda e, a: kernels.gather(
        a[0].shape, a[1].shape, e.params["axis"], e.params["mode"], a[0].dtype, a[1].dtype)),
    "scatter": lower_scatter,
    "sort": _generated(lambda e, a: kernels.sort(a[0].shape, e.params["dimension"],
                                                 [x.dtype for x in a])),
    "cumsum": _generated(lambda e, a: kernels.cumsum(a[0].shape, e.params["axis"],
                                                     e.params["reverse"], a[0].dtype)),
    "pad": _generated(_pad_make),
    "concatenate": _generated(lambda e, a: kernels.concatenate(
        [x.shape for x in a], e.params["dimension"], a[0].dtype)),
    "threefry2x32": _generated(lambda e, a: kernels.threefry2x32(a[0].size)),
    "bitcast_convert_type": _bitcast,
    "reshape": lower_reshape,
    "cond": lower_cond,
    "while": lower_while,
    "scan": lower_scan,
    "custom_vjp_call": lower_custom_vjp_call,
    **{name: lower_collective for name in ("psum", "pmax", "pmin", "all_gather",
                                           "psum_scatter", "ppermute", "axis_index")},
}


def lower(step, b):
    """Lowerings are keyed by the primitive's registered name (``core.trace.primitives``)."""
    LOWERINGS.get(step.eqn.prim.name, lower_host)(step, b)
