"""The buffer plan both backends run on: where every value a step writes lives.

Values that leave the call (graph outputs, and whatever they may be views of) get fresh
buffers per call, or the buffer of a donated input of the same type once nothing else
reads that input. Every other value gets a slot of a workspace that outlives the call;
slots are reused as soon as their last reader has run (intervals over the step order,
best fit), so the workspace is about the peak of live intermediates. The backend makes
the buffers (numpy arrays, device arrays) and honours ``write_into``: a nest that reads a
donated input where it writes an output overwrites that input in place. So does a library
call with an ``in_place`` form (the CPU's MPI allreduce) whose one input dies at the call:
its output takes over the input's buffer, a donated input's or a workspace slot.
"""

from __future__ import annotations

from ...core.graph import Var
from .fusion import Nest


class BufferPlan:
    """``storage[var]``: ("ws", slot) | ("out",) | ("donate", input var).
    ``write_into[step]``: {written var: the var whose buffer it overwrites in place}."""

    def __init__(self):
        self.storage = {}
        self.slots = []              # bytes per workspace slot
        self.write_into = {}         # nest -> {stored var: input var it overwrites in place}
        self.escaping = set()


def _nbytes(v):
    return max(1, v.aval.size * v.aval.dtype.itemsize)


def plan(part, loops, donated=frozenset(), owns=None) -> BufferPlan:
    """``loops``: nest -> ``loops.Loop``; ``donated``: input vars the caller gives up;
    ``owns(op_step)``: whether the step writes planned output buffers (default: it has an
    ``op``). One that does not (an eager impl) returns arrays that may view its inputs."""
    if owns is None:
        owns = _has_op
    bp = BufferPlan()
    steps = part.steps
    may_alias = {v: {v} for v in part.graph.in_vars}

    def roots(v):
        return may_alias.get(_resolve(part.alias, v), set())

    reads, writes = [], []
    for s in steps:
        if isinstance(s, Nest):
            r = {acc.var for acc in loops[s].reads.values()}
            w = list(s.stored)
        else:
            r = {ref.root for ref in s.ins if type(ref.root) is Var}
            w = list(s.outs)
        own = isinstance(s, Nest) or owns(s)
        for v in w:   # an eager impl may return a view of any input
            may_alias[v] = {v} if own else set().union(*[roots(x) for x in r])
        reads.append(r)
        writes.append(w if own else [])

    last_use = {}
    for p, r in enumerate(reads):
        for x in r:
            for root in roots(x):
                last_use[root] = p
    for x in part.outs:
        ref = part.ref(x)
        if type(ref.root) is Var:
            bp.escaping |= roots(ref.root)

    # donated inputs: overwrite one with an output of the same type once it is dead
    free_inputs = [v for v in part.graph.in_vars if v in donated and v not in bp.escaping]
    for p, (s, w) in enumerate(zip(steps, writes)):
        for v in w:
            if v not in bp.escaping:
                continue
            for d in free_inputs:
                if d.aval != v.aval:
                    continue
                last = last_use.get(d, -1)
                if last < p or (last == p and _in_place_ok(s, loops, d, v, roots)):
                    bp.storage[v] = ("donate", d)
                    if last == p:
                        bp.write_into.setdefault(s, {})[v] = d
                    free_inputs.remove(d)
                    break
            else:
                bp.storage[v] = ("out",)

    # workspace slots by interval, best fit
    free = []   # slot indices
    live = {}   # slot -> var
    for p, w in enumerate(writes):
        for v in w:
            if v in bp.storage:
                continue
            x = _in_place_operand(steps[p], v, part.alias)
            if x is not None and last_use.get(x) == p and \
                    bp.storage.get(x, ("",))[0] == "ws" and x not in bp.escaping:
                bp.storage[v] = bp.storage[x]          # the operand's slot, in place
                bp.write_into[steps[p]] = {v: x}
                live[bp.storage[x][1]] = v
                continue
            need = _nbytes(v)
            fits = [k for k in free if bp.slots[k] >= need]
            if fits:
                k = min(fits, key=lambda k: bp.slots[k])
            elif free:
                k = max(free, key=lambda k: bp.slots[k])
                bp.slots[k] = need
            else:
                k = len(bp.slots)
                bp.slots.append(need)
            if k in free:
                free.remove(k)
            bp.storage[v] = ("ws", k)
            live[k] = v
        for k, v in list(live.items()):
            if last_use.get(v, -1) <= p:
                del live[k]
                free.append(k)
    return bp


def _has_op(step):
    return step.op is not None


def _resolve(alias, v):
    while v in alias:
        v = alias[v]
    return v


def _in_place_operand(step, v, alias):
    """The var whose buffer a library call with an ``in_place`` form may compute ``v``
    over: its one input, read whole as it is (or reshaped) and of ``v``'s type."""
    if isinstance(step, Nest) or getattr(step.op, "in_place", None) is None or \
            len(step.ins) != 1 or len(step.outs) != 1:
        return None
    ref = step.ins[0]
    if type(ref.root) is not Var or not (not ref.chain or ref.is_identity()):
        return None
    x = _resolve(alias, ref.root)
    if x.aval.dtype != v.aval.dtype or x.aval.size != v.aval.size:
        return None
    return x


def _in_place_ok(step, loops, d, v, roots):
    """A nest may write ``v`` over ``d`` if it reads ``d`` only where it writes ``v``, outside
    any reduction loop: each element is read, in the iteration that overwrites it, before
    it is overwritten (the bias update behind a bias-gradient reduction, say). A library
    call with an ``in_place`` form may if ``d`` is its one input."""
    if not isinstance(step, Nest):
        return _in_place_operand(step, v, {}) is d
    loop = loops[step]
    store = next(acc for acc in loop.stores if acc.var is v)
    if set(store.dims()) & set(loop.inner):
        return False
    return all(d not in roots(acc.var) or (acc.var is d and acc.shape == store.shape
                                            and acc.idx == store.idx)
               for acc in loop.reads.values())
