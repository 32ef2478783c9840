"""The user-facing transformations: jvp, linearize, vjp, grad, value_and_grad,
jacfwd, jacrev, hessian, vmap. All take and return pytrees.

One module per family (autodiff, jacobians, vectorize); this package re-exports them.
"""

from .autodiff import grad, jvp, linearize, linearize_flat, value_and_grad, vjp, vjp_flat
from .jacobians import hessian, jacfwd, jacrev
from .vectorize import vmap

__all__ = ["jvp", "linearize", "linearize_flat", "vjp", "vjp_flat", "grad", "value_and_grad",
           "jacfwd", "jacrev", "hessian", "vmap"]
