"""A graph compiled for the GPU: the ordered launches of one call, over planned buffers.

``compile(graph, donated)`` runs the shared pipeline (``common.pipeline``): after
``halves.widen``, the fusion analysis (``common.fusion``: views folded into index
expressions, elementwise chains and the reductions they feed grouped into loop nests;
convolution gradients the backward kernels do not take expanded into their decomposition,
``ops.lowers``). ``Emitter`` makes the plan a ``Program``: nests become generated kernels
(``codegen``), other equations the launches of ``ops``. The shared buffer plan
(``common.memory``) decides
where values live: outputs get pooled buffers per call (or the buffer of a donated input,
updated in place), intermediates share the slots of a workspace kept by the program, so a
call allocates only its outputs. Calls run the launches from a list of closures over an
environment of flat device arrays; nothing is copied to the host.
"""

from __future__ import annotations

import numpy as np

from ...core.graph import Literal, Var
from ..common import pipeline
from ..common.fusion import Nest
from . import codegen, graphs, halves, kernels, memory, ops
from .source import build


class Emitter:
    """The CUDA half of ``common.pipeline``: a ``Program`` of launches over the plan."""

    # every CUDA lowering writes its planned outputs, host fallbacks included
    options = {"loop_dtypes": halves.LOOP_DTYPES, "lowers": ops.lowers,
               "owns": lambda step: True}
    prepare = staticmethod(halves.widen)

    def __init__(self, device="cuda:0", build=build):
        self.device, self.build = device, build

    def emit(self, plan):
        return Program(plan, self.device, self.build)


class Step:
    __slots__ = ("run", "label", "launches")

    def __init__(self, run, label, launches):
        self.run, self.label, self.launches = run, label, launches


def compile(graph, donated=None, device="cuda:0", build=build):  # noqa: A001
    """``graph`` through the shared pipeline into a ``Program``; ``build``: spec -> launch
    (``ptx_check`` only collects the specs)."""
    program = pipeline.compile(graph, donated, Emitter(device, build))
    program.graph = graph
    return program


class Program:
    """``program(*device_arrays) -> [device_arrays]``; ``describe()`` lists the launches."""

    def __init__(self, plan, device="cuda:0", build=build):
        self.device = device
        self.graph = plan.graph
        self._build = build          # spec -> launch; ``ptx_check`` only collects specs
        self.plan = plan
        part, loops, bp = plan.part, plan.loops, plan.buffers
        self.part = part
        in_vars = part.graph.in_vars
        self.donated = [i for i, v in enumerate(in_vars) if v in plan.donated]
        self.sources = []                # (label, kernel source) of every launch built

        self.steps = []
        self.index = {}                  # var -> env position of its flat buffer
        self.n_env = 0
        self.slot_views = []             # (env position, slot, nbytes, dtype, size)
        self.fresh = []                  # (env position, shape, dtype) allocated per call
        self.scratch_specs = []          # (env position, shape, dtype) kept by the program
        for v in in_vars:
            self.index[v] = self._new()
        for v, st in bp.storage.items():
            if st[0] == "donate":
                continue
            k = self.index[v] = self._new()
            if st[0] == "ws":
                self.slot_views.append((k, st[1], memory.nbytes(v.aval.shape, v.aval.dtype),
                                        v.aval.dtype, v.aval.size))
            else:
                self.fresh.append((k, v.aval.shape, v.aval.dtype))
        for v, st in bp.storage.items():
            if st[0] == "donate":
                self.index[v] = self.index[st[1]]
        self.slots = list(bp.slots)

        for s in part.steps:
            if isinstance(s, Nest):
                nk = codegen.generate(loops[s], bp.write_into.get(s))
                self.launch(nk.spec, [self.buf(v) for v in nk.reads] +
                            [self.buf(v) for v in nk.outputs])
            else:
                ops.lower(s, self)
        self.outputs = [self._output(x) for x in part.outs]
        # launches only, no host synchronisation or copies: a CUDA graph can replay it
        self.capturable = bool(self.steps) and all(s.launches for s in self.steps)
        self._workspaces = []
        self._plain = self._recorder = None

    # ---- the builder interface used by ``ops``

    def _new(self):
        self.n_env += 1
        return self.n_env - 1

    def buf(self, var):
        """Env position of the flat buffer of ``var`` (a reshape alias shares its base's)."""
        while var in self.part.alias:
            var = self.part.alias[var]
        return self.index[var]

    def root_buf(self, ref):
        return self.buf(ref.root)

    def scratch(self, shape, dtype):
        k = self._new()
        self.scratch_specs.append((k, tuple(shape), np.dtype(dtype)))
        return k

    def contiguous(self, ref, dtype):
        """Env position of a buffer holding ``ref``'s value C-contiguously (its root's own
        buffer when the view moves no data, else a copy made before the step)."""
        if kernels.same_layout(ref):
            return self.buf(ref.root)
        k = self.scratch(ref.shape, dtype)
        spec = kernels.copy_ref(ref, dtype)
        self.launch(spec, ([self.buf(ref.root)] if type(ref.root) is Var else []) + [k])
        return k

    def emit(self, run, label, launches):
        self.steps.append(Step(run, label, launches))

    def launch(self, spec, positions):
        kernel = self._build(spec)
        self.sources.append((spec.label, spec.text))
        pos = tuple(positions)
        self.emit(lambda env: kernel(*[env[k] for k in pos]), spec.label, 1)

    # ---- outputs

    def _output(self, x):
        ref = self.part.ref(x)
        dtype, shape = x.aval.dtype, x.aval.shape
        if type(ref.root) is Literal and not ref.chain and ref.shape == shape:
            value = np.asarray(ref.root.val, dtype)
            return lambda env, nat: memory.to_device(np.broadcast_to(value, shape))
        if kernels.same_layout(ref):
            k = self.buf(ref.root)
            return lambda env, nat: memory.shaped(nat[k] if k in nat else env[k], shape)
        kernel = self._build(kernels.copy_ref(ref, dtype))
        src = [self.buf(ref.root)] if type(ref.root) is Var else []

        def copy(env, nat):
            out = memory.empty(shape, dtype)
            kernel(*[env[k] for k in src], memory.flat(out))
            return out

        return copy

    # ---- calls

    def _workspace(self):
        if self._workspaces:
            return self._workspaces.pop()
        env = [None] * self.n_env
        slots = [memory.empty((n,), np.uint8) for n in self.slots]
        for k, slot, nb, dtype, size in self.slot_views:
            env[k] = memory.bytes_view(slots[slot], nb, dtype, (size,))
        for k, shape, dtype in self.scratch_specs:
            env[k] = memory.flat(memory.empty(shape, dtype))
        return env

    def __call__(self, *args):
        if self.donated and not _donatable(args, self.donated):
            if self._plain is None:
                self._plain = compile(self.graph, None, self.device, self._build)
            return self._plain(*args)
        if self.capturable and graphs.enabled():
            if self._recorder is None:
                self._recorder = graphs.Recorder(self)
            return self._recorder(args)
        return self.run(args)

    def run(self, args):
        """One call, each launch issued from Python."""
        ws = self._workspace()
        env, nat = self.bind(ws, args)
        for step in self.steps:
            step.run(env)
        outs = [out(env, nat) for out in self.outputs]
        self._workspaces.append(ws)
        return outs

    def bind(self, ws, args):
        """The environment of a call: workspace, input buffers and fresh output buffers;
        and the natural-shape arrays of inputs and outputs by env position."""
        env, nat = list(ws), {}
        for k, a in enumerate(args):
            env[k] = memory.flat(a)
            nat[k] = a
        for k, shape, dtype in self.fresh:
            a = nat[k] = memory.empty(shape, dtype)
            env[k] = memory.flat(a)
        return env, nat

    # ---- inspection

    @property
    def num_launches(self):
        return sum(s.launches for s in self.steps)

    def source(self):
        """The source of every generated kernel the program launches."""
        return "\n".join(f"# {label}\n{text}" for label, text in self.sources)

    def describe(self):
        ws = sum(self.slots)
        lines = [f"{len(self.part.eqns)} equations -> {len(self.steps)} steps, "
                 f"{self.num_launches} kernel launches; workspace {ws / 2**20:.2f} MiB in "
                 f"{len(self.slots)} slots"]
        lines += [f"  {s.label}" for s in self.steps]
        return "\n".join(lines)


def _donatable(args, donated):
    """Donated buffers must be distinct from each other and from every other input."""
    ptrs = [memory.pointer(a) if a.size else None for a in args]
    mine = [ptrs[i] for i in donated]
    if None in mine or len(set(mine)) != len(mine):
        return False
    others = {p for i, p in enumerate(ptrs) if i not in donated}
    return not others & set(mine)
