"""Control-flow primitives: cond/switch, scan, while_loop and fori_loop.

Each carries its body as graphs in its params; its rules transform those graphs (JVP,
batching, partial evaluation, transposition) the way JAX's lax.control_flow does.
"""

from .cond import cond, cond_p, switch  # noqa: F401
from .loops import fori_loop, while_loop, while_p  # noqa: F401
from .scan import scan, scan_p  # noqa: F401
from .scan_dots import hoist_accumulated_dots  # noqa: F401
