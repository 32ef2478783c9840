"""Every primitive is covered: it declares a kind, the op table reaches it (forward, JVP or
VJP of some entry), and each backend (the CPU; CUDA, on Numba's simulator) has a lowering
for it, compiles its decomposition (``core.trace.decompositions``), or declares that it runs
eagerly (CPU ``lowering.EAGER``, CUDA ``ops.HOST``).

Lowering tables are keyed by the primitives' registered names (backends never import lax),
so every key must name a registered primitive."""

from __future__ import annotations

# first: sets NUMBA_ENABLE_CUDASIM before anything imports numba.cuda
from cuda_sim import _cuda_config  # noqa: F401

# isort: split

import numpy as np
import pytest
from test_ops import call_ft

import funtorch as ft
from funtorch.backends.common.fusion import Ref
from funtorch.backends.cpu import lowering as cpu
from funtorch.backends.cuda import lowering as cuda
from funtorch.backends.cuda import ops as cuda_ops
from funtorch.core.trace import KINDS, decompositions, primitives

from op_table import OPS, RngGen

# control flow has no op-table entry (no numpy reference): its own suites test it
CONTROL_FLOW_SUITES = {"cond": "test_cond.py", "while": "test_loops.py",
                       "scan": "test_loops.py", "jit": "test_jit.py",
                       "custom_vjp_call": "test_functional.py",
                       "custom_lin": "test_functional.py"}
# collectives need a bound axis name, so no op-table sample reaches them: their suites run
# them under vmap(axis_name=) against JAX and over processes (loopback and mpiexec)
COLLECTIVE_SUITES = {name: "test_collectives.py, test_distributed.py"
                     for name in ("psum", "pmax", "pmin", "all_gather", "psum_scatter",
                                  "ppermute", "axis_index")}


def _prims(graph, out):
    for e in graph.eqns:
        out.add(e.prim.name)
        for v in e.params.values():
            for g in (v if isinstance(v, (tuple, list)) else [v]):
                if hasattr(g, "eqns"):
                    _prims(g, out)
    return out


@pytest.fixture(scope="module")
def reached():
    """Names of the primitives in the graphs of every op-table sample, its JVP and VJP."""
    seen = set()
    for op in OPS:
        if not op.jit:        # value-dependent shapes (nonzero): no graph to inspect
            continue
        for seed in range(2):
            sample = op.sample(RngGen(seed), op.dtypes[0])
            f, dyn = call_ft(op, sample)
            xs = [ft.asarray(x) for x in dyn]
            _prims(ft.make_graph(f)(*xs), seen)
            floats = [i for i, x in enumerate(dyn) if np.issubdtype(x.dtype, np.floating)]
            if not (op.differentiable and floats):
                continue

            def g(*fs, f=f, xs=xs, floats=floats):
                args = list(xs)
                for i, v in zip(floats, fs):
                    args[i] = v
                return f(*args)

            fl = [xs[i] for i in floats]
            _prims(ft.make_graph(lambda *a: ft.jvp(g, a, a))(*fl), seen)
            _prims(ft.make_graph(lambda *a: ft.vjp(g, *a)[1](g(*a)))(*fl), seen)
    return seen


def test_every_primitive_declares_a_kind():
    assert len(primitives) > 60
    for name, p in primitives.items():
        assert p.name == name and p.kind in KINDS, name


def test_op_table_reaches_every_primitive(reached):
    missing = sorted(n for n in primitives if n not in reached and n not in CONTROL_FLOW_SUITES
                     and n not in COLLECTIVE_SUITES)
    assert not missing, f"primitives no op-table entry reaches: {missing}"
    assert all(primitives[n].kind == "control_flow" for n in CONTROL_FLOW_SUITES)


def _view_ok(p):
    # views fold into index expressions (one Ref method each); iota is a root of its own
    return p.name == "iota" or callable(getattr(Ref, p.name, None))


def test_cpu_lowers_or_declares_every_primitive():
    for name, p in primitives.items():
        ok = {"elementwise": name in cpu.SCALAR, "reduction": name in cpu.REDUCERS,
              "view": _view_ok(p)}.get(p.kind, name in cpu.OPS or name in cpu.EAGER
                                         or p in decompositions or name == "jit")
        assert ok, f"cpu: '{name}' ({p.kind}) has no lowering and no declared eager fallback"
    for table in (cpu.SCALAR, cpu.REDUCERS, cpu.OPS, cpu.EAGER):
        assert set(table) <= set(primitives), set(table) - set(primitives)
    assert not set(cpu.OPS) & cpu.EAGER


def test_cuda_lowers_or_declares_every_primitive():
    for name, p in primitives.items():
        ok = {"elementwise": name in cuda.SCALAR, "reduction": name in cuda.REDUCERS,
              "view": _view_ok(p)}.get(p.kind, name in cuda_ops.LOWERINGS
                                         or name in cuda_ops.HOST or p in decompositions
                                         or name == "jit")
        assert ok, f"cuda: '{name}' ({p.kind}) has no lowering and no declared host fallback"
    for table in (cuda.SCALAR, cuda.REDUCERS, cuda.BLOCK_REDUCERS, cuda_ops.LOWERINGS,
                  cuda_ops.HOST):
        assert set(table) <= set(primitives), set(table) - set(primitives)
    assert not set(cuda_ops.LOWERINGS) & cuda_ops.HOST
