"""funtorch: PyTorch's toolbox rebuilt the JAX way.

Pure ops, composable ``grad``/``vmap``/``jit``, stateless layers and optimizers.
"""

from . import (  # noqa: F401
    backends,  # noqa: F401  (registers the cpu and cuda backends)
    data,
    distributed,
    lax,
    nn,
    optim,
    random,
    tree,
)
from ._public import public_names as _public_names
from .core.array import Array  # noqa: F401
from .core.dtypes import float0  # noqa: F401
from .core.errors import ConcretizationTypeError, UnexpectedTracerError  # noqa: F401
from .core.graph import ClosedGraph, Graph, typecheck  # noqa: F401
from .core.tracing import make_graph  # noqa: F401
from .devices import device_put, devices  # noqa: F401
from .io import load, save  # noqa: F401
from .lax.control_flow import cond, fori_loop, scan, switch, while_loop  # noqa: F401
from .numpy import *  # noqa: F401,F403
from .transforms.api import grad, hessian, jacfwd, jacrev, jvp, linearize, value_and_grad, vjp, vmap  # noqa: F401
from .transforms.custom_derivatives import custom_vjp  # noqa: F401
from .transforms.jit import jit  # noqa: F401

__version__ = "0.1.0"

__all__ = _public_names(globals())
