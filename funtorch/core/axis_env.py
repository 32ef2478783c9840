"""The axis environment: which axis names are bound, to what, while a function runs.

A named axis is bound either by ``vmap(f, axis_name=...)`` (a batch axis: its frame
holds the ``BatchTrace``'s main, which applies the collectives' batching rules) or by
``distributed.spmd(f, axis_name=...)`` (the process axis: its frame holds the MPI
communicator, and the collectives' impls and lowerings call MPI). Collectives look their
names up here (``lax.parallel``); an unbound name is an error naming it.
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager

from .graph import Graph


class AxisFrame:
    """``name`` bound to an axis of ``size``: a vmap (``main``, its BatchTrace's main
    trace) or the processes of an MPI communicator (``comm``)."""

    __slots__ = ("name", "size", "main", "comm")

    def __init__(self, name, size, main=None, comm=None):
        self.name, self.size, self.main, self.comm = name, size, main, comm

    def __repr__(self):
        kind = "processes" if self.comm is not None else "vmap"
        return f"AxisFrame({self.name!r}, size={self.size}, {kind})"


_frames: list[AxisFrame] = []
# name -> communicator of every process axis bound so far: a program compiled while
# ``spmd`` bound the name runs its collectives on that communicator when called later
# (``jit(spmd(f))`` traces inside the binding and runs after it)
_process_axes: dict = {}


@contextmanager
def extend_axis_env(frame: AxisFrame):
    if frame.comm is not None:
        _process_axes[frame.name] = frame.comm
    _frames.append(frame)
    try:
        yield frame
    finally:
        _frames.pop()


def lookup(name):
    """The innermost frame binding ``name``, or None."""
    for f in reversed(_frames):
        if f.name == name:
            return f
    return None


def axis_frame(name, op: str) -> AxisFrame:
    """The innermost frame binding ``name``, or a NameError for ``op`` naming it."""
    f = lookup(name)
    if f is None:
        bound = sorted({repr(f.name) for f in _frames})
        raise NameError(
            f"funtorch.lax.{op}: unbound axis name {name!r} "
            f"(bound here: {', '.join(bound) if bound else 'none'}); bind it with "
            f"ft.vmap(f, axis_name={name!r}) or ft.distributed.spmd(f, axis_name={name!r})")
    return f


def process_comm(name):
    """The communicator of process axis ``name``: the bound frame's, else the one it was
    last bound to (for compiled programs called outside the binding), else None."""
    f = lookup(name)
    if f is not None:
        return f.comm
    return _process_axes.get(name)


def key():
    """The bound names and sizes (part of a jit cache key: a traced graph depends on them)."""
    return tuple((f.name, f.size, f.comm is not None) for f in _frames)


def mains(names):
    """The main traces of the vmaps binding ``names`` (process axes have none)."""
    out = []
    for n in names:
        f = lookup(n)
        if f is not None and f.main is not None:
            out.append(f.main)
    return out


_graph_names: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def graph_axis_names(graph):
    """The axis names the collectives in ``graph`` (and its sub-graphs) name."""
    names = _graph_names.get(graph)
    if names is None:
        found = set()
        for e in graph.eqns:
            if e.prim.axis_mains is None:
                continue
            found.update(e.params.get("axes", ()))
            for v in e.params.values():
                for g in (v if isinstance(v, tuple) else (v,)):
                    if isinstance(g, Graph):
                        found |= graph_axis_names(g)
        names = _graph_names[graph] = frozenset(found)
    return names
