"""PyTorch state dicts: flat ``{'0.weight': array, '1.running_mean': ...}`` <-> nested trees.

The dotted names are PyTorch's, so ``{k: v.numpy() for k, v in torch_model.state_dict()
.items()}`` loads into the equivalent funtorch model and ``state_dict`` output loads into
PyTorch with ``torch_model.load_state_dict({k: torch.tensor(np.asarray(v)) ...})``.
"""

from __future__ import annotations

import collections

import numpy as np

from .. import numpy as fnp

__all__ = ["state_dict", "load_state_dict", "StateDictMismatchError", "IncompatibleKeys"]

# PyTorch's ``load_state_dict(..., strict=False)`` result
IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def state_dict(params, state=None, *, model=None) -> dict:
    """Flatten params (and running statistics) to dotted names, PyTorch's order: each
    module's own parameters, then its own buffers, then its children in module order.

    A child with buffers but no parameters (``BatchNorm(affine=False)``) appears only in
    ``state``, so the trees alone do not say where it sits among its siblings: children
    named by integers (Sequential) are placed by number, others after the parameterised
    siblings they cannot be ordered against. Pass ``model=`` (or call
    ``model.state_dict(params, state)``) for the module tree's exact order."""
    flat = {}
    _flatten(params or {}, state or {}, "", flat, model)
    return flat


def _flatten(params, state, prefix, flat, module):
    for tree in (params, state):
        for k, v in tree.items():
            if not isinstance(v, dict):
                flat[prefix + k] = v
    modules = module._modules if module is not None else {}
    for k in _children(params, state, list(modules)):
        _flatten(params.get(k, {}), state.get(k, {}), f"{prefix}{k}.", flat, modules.get(k))


def _children(params, state, order):
    """The child names of both trees, merged keeping each tree's order; ``order`` (the
    module's child names) decides, else integer names by number, else params first."""
    a = [k for k, v in params.items() if isinstance(v, dict)]
    b = [k for k, v in state.items() if isinstance(v, dict)]
    rank = {k: i for i, k in enumerate(order)}
    out = []
    while a or b:
        if not a or not b or a[0] == b[0]:
            k = (a or b)[0]
        elif a[0] in b:          # b's names before a[0] come first
            k = b[0]
        elif b[0] in a:
            k = a[0]
        elif a[0] in rank and b[0] in rank:
            k = min(a[0], b[0], key=rank.__getitem__)
        elif a[0].isdigit() and b[0].isdigit():
            k = min(a[0], b[0], key=int)
        else:
            k = a[0]
        out.append(k)
        a = [n for n in a if n != k]
        b = [n for n in b if n != k]
    return out


def load_state_dict(flat) -> dict:
    """Nest a flat dotted-name dict into one tree of funtorch arrays (params and buffers
    together; ``Module.load_state_dict`` separates them for a given model)."""
    tree = {}
    for name, value in flat.items():
        *path, leaf = name.split(".")
        node = tree
        for i, part in enumerate(path):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"load_state_dict: {'.'.join(path[:i + 1])!r} is both a "
                                 f"tensor and a prefix of {name!r}")
        if leaf in node:
            raise ValueError(f"load_state_dict: {name!r} is both a tensor and a module prefix")
        node[leaf] = fnp.asarray(np.asarray(value))
    return tree


class StateDictMismatchError(ValueError, RuntimeError):
    """A checkpoint that does not fit the model: missing or unexpected names (with
    ``strict=True``) or a tensor whose shape differs. Both a ValueError and a RuntimeError
    (what PyTorch's load_state_dict raises), so either ``except`` catches it."""

    __module__ = "funtorch.nn"   # where users import it; tracebacks name it so


class StateDictKeyError(StateDictMismatchError, KeyError):
    """Missing or unexpected names in a strict load: a RuntimeError as in PyTorch (and a
    KeyError, as funtorch raised before)."""

    __module__ = "funtorch.nn"
    __str__ = BaseException.__str__    # KeyError's would show the message quoted


def load_into(flat, params_like, state_like, model, strict=True):
    """(params, state, IncompatibleKeys) shaped like the given trees of ``model``, from a
    flat dict, casting values to the model's dtypes. Missing or unexpected names are a
    ``StateDictMismatchError`` when ``strict`` (PyTorch's message), else reported, the
    missing ones keeping ``params_like``'s values; shapes must match either way."""
    name = type(model).__name__
    expected = state_dict(params_like, state_like, model=model)
    missing = [k for k in expected if k not in flat]
    unexpected = [k for k in flat if k not in expected]
    if strict and (missing or unexpected):
        found = [f"{what} key(s) in state_dict: " + ", ".join(f'"{k}"' for k in keys)
                 for what, keys in (("missing", missing), ("unexpected", unexpected)) if keys]
        raise StateDictKeyError(f"Error(s) in loading state_dict for {name}: "
                                + "; ".join(found) + ". Pass strict=False to load the "
                                "matching names and get the others listed.")
    for k, like in expected.items():
        if k in flat and tuple(np.shape(flat[k])) != tuple(like.shape):
            raise StateDictMismatchError(
                f"Error(s) in loading state_dict for {name}: size mismatch for {k}: copying "
                f"a param with shape {tuple(np.shape(flat[k]))} from checkpoint, the shape "
                f"in current model is {tuple(like.shape)}.")
    cast = {k: fnp.asarray(np.asarray(flat[k], dtype=like.dtype)) if k in flat else like
            for k, like in expected.items()}
    return (_rebuild(params_like, cast, ""), _rebuild(state_like, cast, ""),
            IncompatibleKeys(missing, unexpected))


def _rebuild(like, flat, prefix):
    return {k: _rebuild(v, flat, f"{prefix}{k}.") if isinstance(v, dict) else flat[prefix + k]
            for k, v in like.items()}
