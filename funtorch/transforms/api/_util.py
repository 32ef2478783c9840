"""What the transformations share: input conversion, float/float0 tests, argnums and the
reverse-mode input check."""

from __future__ import annotations

import numpy as np

from ... import tree as tree_util
from ...core import dtypes
from ...core.trace import Tracer, as_array, get_aval


def check_callable(name, fun):
    """Transform entry point: ``fun`` must be callable (JAX's "Expected a callable")."""
    if not callable(fun):
        raise TypeError(f"funtorch.{name}: expected a callable function, got "
                        f"{type(fun).__name__} {fun!r:.60}; e.g. ft.{name}(loss_fn)")


asarray = as_array


class AuxPass:
    """Wraps a ``has_aux`` function so that only the aux's array leaves travel out of
    the transformation as traced outputs; other leaves (a string, a config object) are
    kept here and put back unchanged by ``restore``, as JAX passes them through."""

    def __init__(self, fun, name):
        self.fun, self.name, self.info = fun, name, None

    def __call__(self, *args, **kwargs):
        out = self.fun(*args, **kwargs)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(f"funtorch.{self.name}(has_aux=True): the function must return a "
                            "pair (output, aux)")
        out, aux = out
        leaves, tree = tree_util.flatten(aux)
        mask = [isinstance(x, (Tracer, np.ndarray, np.generic)) or dtypes.is_weak(x)
                or hasattr(x, "__array__") for x in leaves]
        self.info = (tree, mask, leaves)
        return out, tree_util.unflatten(tree, [x if m else None for x, m in zip(leaves, mask)])

    def restore(self, aux):
        """``aux`` as the transformation returned it (array leaves only), made whole."""
        tree, mask, leaves = self.info
        it = iter(tree_util.leaves(aux))
        return tree_util.unflatten(tree, [next(it) if m else x for x, m in zip(leaves, mask)])


def is_float(x):
    return dtypes.is_float(get_aval(x).dtype)


def is_float0(x):
    d = getattr(x, "dtype", None)   # arrays, tracers and numpy values; other leaves: False
    return isinstance(d, np.dtype) and d == dtypes.float0


def float0_zeros(shape):
    """float0 values carry no data, so they are plain numpy arrays (as in JAX), never
    traced or staged."""
    return np.zeros(tuple(shape), dtypes.float0)


def check_diff_inputs(name, flat, argnums, allow_int):
    """JAX's rule for reverse mode: integer/bool inputs are refused unless ``allow_int``,
    when their gradient is a float0 array of their shape."""
    for x in flat:
        d = get_aval(x).dtype
        if dtypes.is_float(d) or (allow_int and (dtypes.is_int(d) or dtypes.is_bool(d))):
            continue
        raise TypeError(
            f"funtorch.{name}: differentiated arguments must be floating point, got {d} "
            f"(shape {tuple(get_aval(x).shape)}, argnums={argnums}). Cast with "
            ".astype(ft.float32), choose other argnums, or pass allow_int=True to get "
            "float0 (data-free zero) gradients for integer and boolean inputs.")


def argnums_tuple(argnums, nargs, name):
    nums = (argnums,) if isinstance(argnums, (int, np.integer)) else \
        tuple(argnums) if isinstance(argnums, (tuple, list)) else None
    if nums is None or any(isinstance(i, bool) or not isinstance(i, (int, np.integer))
                           for i in nums):
        raise TypeError(f"funtorch.{name}: argnums must be an int or a tuple of ints, got "
                        f"{type(argnums).__name__} {argnums!r:.40}")
    for i in nums:
        if not -nargs <= i < nargs:
            raise ValueError(f"funtorch.{name}: argnums {argnums} out of range for a function "
                             f"called with {nargs} positional arguments")
    nums = tuple(i % nargs for i in nums)
    if len(set(nums)) != len(nums):
        # each position gets one gradient; a repeated one would be silently overwritten
        raise ValueError(f"funtorch.{name}: argnums {argnums} contains duplicates (after "
                         "normalising negative indices); list each argument once")
    return nums


def check_holomorphic(name, holomorphic):
    """JAX's keyword is accepted; holomorphic differentiation needs complex numbers,
    which funtorch does not support."""
    if holomorphic:
        raise NotImplementedError(f"funtorch.{name}: holomorphic=True needs complex inputs, "
                                  "and funtorch has no complex dtypes; use holomorphic=False")
