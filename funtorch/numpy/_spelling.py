"""PyTorch spellings of the numpy-named functions, refused with the funtorch spelling.

funtorch keeps numpy's and JAX's signatures (``ft.ones((4, 4))``, ``axis=``,
``keepdims=``). A call written the PyTorch way (``ft.ones(4, 4)``, ``x.sum(dim=1)``,
``keepdim=True``) fails, and ``check_spelling`` turns that failure into a TypeError that
says how to write it here. Only failing calls are inspected: a valid call pays one
function frame and nothing else.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

# PyTorch keyword -> the numpy/JAX keyword funtorch uses
_KEYWORDS = {"dim": "axis", "keepdim": "keepdims"}
# functions whose first argument is a shape, which PyTorch also takes as separate ints
_SHAPE_FIRST = ("zeros", "ones", "empty")


def spelling_error(name, args, kwargs):
    """The TypeError naming funtorch's spelling of this failed call, or None when the
    call does not use a PyTorch-only spelling."""
    for torch_kw, ours in _KEYWORDS.items():
        if torch_kw in kwargs:
            return TypeError(f"funtorch.{name}: got {torch_kw}={kwargs[torch_kw]!r}, PyTorch's "
                             f"spelling; funtorch follows numpy and JAX: pass "
                             f"{ours}={kwargs[torch_kw]!r}")
    if (name in _SHAPE_FIRST and len(args) >= 2
            and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                    for a in args)):
        dims = ", ".join(str(int(a)) for a in args)
        return TypeError(f"funtorch.{name}: got {name}({dims}), PyTorch's spelling; funtorch "
                         f"takes the shape as one tuple, as numpy and JAX: ft.{name}(({dims}))")
    return None


def check_spelling(fn, name=None):
    """``fn``, with a failing call in PyTorch's spelling re-raised as ``spelling_error``."""
    name = name or fn.__name__

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TypeError:
            err = spelling_error(name, args[1:] if name not in _SHAPE_FIRST else args, kwargs)
            if err is None:
                raise
            raise err from None

    return checked


def needs_check(name, fn):
    """Whether a public function takes an ``axis`` (or a shape first): the calls PyTorch
    users spell differently."""
    if name in _SHAPE_FIRST:
        return True
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "axis" in params and "dim" not in params
