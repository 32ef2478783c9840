"""The backend-independent half of graph compilation, shared by ``cpu`` and ``cuda``.

A backend compiles a graph in the same order: ``fusion.Partition`` (views folded into
index expressions, elementwise chains and their reductions grouped into loop nests,
everything else a step of its own), ``loops.Loop`` per nest (ordered and merged loop
dimensions, array accesses), ``memory.plan`` (which buffer each value lives in), then its
own code generation, which starts from ``codegen.Scalars`` and the expression builders of
``scalar``. Backends import from here and never from each other, so either can change its
code generation, launches or buffers alone; what is here changes both at once (and the
generated source, hence both kernel caches).
"""
