"""The CPU lowering table: how each primitive becomes code.

Tables are keyed by the primitives' registered names (``core.trace.primitives``; backends
never import lax, and tests/test_op_table_coverage.py checks every key against the
registry and every primitive against these tables). Three kinds of lowering:

- ``SCALAR``: elementwise primitives as one scalar Numba expression (fused into loops):
  the shared table (``common.scalar``), but float32 ``tanh`` and ``logistic``
  (``vecmath``);
- ``REDUCERS``: reductions as an accumulator (fused as the sink of a loop nest);
- ``OPS``: everything that calls a library or hand-written kernel (BLAS matmul, im2col
  convolution, pooling, numpy's concatenate into the planned buffer), control flow
  (``scan``, ``while``, ``cond``: a loop or branch in the driver around the compiled
  body, ``control``), and the collectives over a process axis, which call MPI on the
  program's buffers (the primitive's ``lower_call``, on the communicator bound to the
  axis name; an allreduce in place where the memory plan lets it).

``EAGER`` declares the primitives that run their eager (numpy) impl inside a compiled
graph by design; so does an ``OPS`` builder returning None for a case it does not take.

Views (broadcast, transpose, slice, ...) need no entry: the fusion analysis folds them
into the index expressions of whoever reads them (``common.fusion.Ref``).
"""

from __future__ import annotations

import numpy as np

from ..common import scalar
from ..common.scalar import Reducer


def _float32(name, shared):
    """float32 ``name`` from ``vecmath`` (vectorizable, correctly rounded); other dtypes
    as the shared table has it."""
    def build(c, x, a, o, p):
        if o.dtype != np.float32:
            return shared(c, x, a, o, p)
        return f"{c.helper(name)}({x[0]})"
    return build


SCALAR = dict(scalar.SCALAR, tanh=_float32("tanh32", scalar.SCALAR["tanh"]),
              logistic=_float32("sigmoid32", scalar.SCALAR["logistic"]))


def _arg(largest):
    op = ">" if largest else "<"

    def init(c, acc, a, o):
        return [f"{acc}_i = -1", f"{acc} = {c.const(0, a.dtype)}"]

    def step(c, acc, v, a, o, idx):
        # first extremum wins; a NaN is the extremum (as np.argmax)
        nan = f" or ({v} != {v} and {acc} == {acc})" if a.dtype.kind == "f" else ""
        return [f"if {acc}_i < 0 or {v} {op} {acc}{nan}:",
                f"    {acc} = {v}", f"    {acc}_i = {idx}"]

    return Reducer(init, step, scalar.index_result, uses_index=True)


REDUCERS = {
    "reduce_sum": scalar.sum_reducer(reassoc=True),
    "reduce_prod": scalar.prod_reducer(reassoc=True),
    "reduce_max": scalar.minmax_reducer(True),
    "reduce_min": scalar.minmax_reducer(False),
    "argmax": _arg(True),
    "argmin": _arg(False),
}


# --------------------------------------------------------------------------- eager

# library primitives (and custom_vjp) without a compiled lowering on the CPU (``jit`` needs
# none: the fusion analysis inlines it)
EAGER = frozenset(["gather", "scatter", "sort", "cumsum", "pad",
                   "threefry2x32", "bitcast_convert_type", "custom_vjp_call", "custom_lin",
                   "axis_index"])   # the process' rank: nothing to compute


# --------------------------------------------------------------------------- library calls

# name -> builder(eqn) -> ``Op`` or None (None: use the eager impl)
OPS = {}


class Op:
    """A library call: ``fn(*inputs, *outputs)`` writes into preallocated outputs.
    ``blas``: it calls BLAS from parallel Numba threads, so the driver makes the BLAS
    library single-threaded around the call (``blas.enter``/``leave``). ``in_place``: for
    one input and one output of its type, ``in_place(buf)`` computes the output over the
    input's buffer (the memory plan uses it where the input dies at the call)."""

    def __init__(self, fn, label, blas=False, in_place=None):
        self.fn = fn
        self.label = label
        self.blas = blas
        self.in_place = in_place


def _dot_general(eqn, serial=False):
    from .kernels import dot_general
    return dot_general(eqn, serial)


OPS["dot_general"] = _dot_general


def _attention(name):
    def build(eqn, serial=False):
        from . import attention_kernels
        return getattr(attention_kernels, name)(eqn, serial)
    return build


OPS["dot_product_attention"] = _attention("attention")
OPS["dot_product_attention_vjp"] = _attention("attention_vjp")


def _windowed(name):
    def build(eqn):
        from . import windowed
        return getattr(windowed, name)(eqn)
    return build


for _name in ("conv_general_dilated", "reduce_window_max", "reduce_window_sum",
              "select_and_scatter_add", "select_and_gather_add"):
    OPS[_name] = _windowed(_name)


def _concatenate(eqn):
    # numpy's copy, into the planned buffer (a workspace slot for an intermediate: a
    # gradient bucket is then reduced in place)
    n, axis = len(eqn.inputs), eqn.params["dimension"]
    return Op(lambda *xs: np.concatenate(xs[:n], axis, out=xs[n]), "concatenate")


OPS["concatenate"] = _concatenate


def _collective(eqn):
    # the primitive's MPI call on the communicator bound to its axis, bound once here
    # (``lower_call`` in lax/parallel.py)
    run, in_place = eqn.prim.lower_call(eqn.params, eqn.inputs[0].aval)
    return Op(run, f"MPI {eqn.prim.name}", in_place=in_place)


for _name in ("psum", "pmax", "pmin", "all_gather", "psum_scatter", "ppermute"):
    OPS[_name] = _collective


def _control(name):
    def build(eqn):
        from . import control
        return getattr(control, name)(eqn)
    return build


OPS["scan"] = _control("scan")
OPS["while"] = _control("while_loop")
OPS["cond"] = _control("cond")

# a loop body's table: its GEMMs run on the calling thread. A parallel launch per iteration
# waits for every Numba thread to be scheduled: on a busy machine that is milliseconds,
# more than the small GEMM of a recurrent cell takes
BODY_OPS = {**OPS, **{name: lambda eqn, b=OPS[name]: b(eqn, serial=True)
                     for name in ("dot_general", "dot_product_attention",
                                  "dot_product_attention_vjp")}}


def lowers(eqn):
    """Whether an equation whose primitive has a decomposition (``core.trace.
    decompositions``) runs a kernel of ours: the fused attention, on the float types its
    kernels take; other such equations compile their decomposition."""
    return (eqn.prim.name in ("dot_product_attention", "dot_product_attention_vjp")
            and eqn.inputs[0].aval.dtype.name in ("float32", "float64"))
