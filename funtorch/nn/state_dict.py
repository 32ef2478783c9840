"""PyTorch state dicts: flat ``{'0.weight': array, '1.running_mean': ...}`` <-> nested trees.

The dotted names are PyTorch's, so ``{k: v.numpy() for k, v in torch_model.state_dict()
.items()}`` loads into the equivalent funtorch model and ``state_dict`` output loads into
PyTorch with ``torch_model.load_state_dict({k: torch.tensor(np.asarray(v)) ...})``.
"""

from __future__ import annotations

import numpy as np

from .. import numpy as fnp

__all__ = ["state_dict", "load_state_dict"]


def state_dict(params, state=None) -> dict:
    """Flatten params (and running statistics) to dotted names, PyTorch's order: each
    module's own parameters, then its own buffers, then its children."""
    flat = {}
    _flatten(params or {}, state or {}, "", flat)
    return flat


def _flatten(params, state, prefix, flat):
    for tree in (params, state):
        for k, v in tree.items():
            if not isinstance(v, dict):
                flat[prefix + k] = v
    children = [k for k, v in params.items() if isinstance(v, dict)]
    children += [k for k, v in state.items() if isinstance(v, dict) and k not in children]
    for k in children:
        _flatten(params.get(k, {}), state.get(k, {}), f"{prefix}{k}.", flat)


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


def load_into(flat, params_like, state_like, model_name):
    """(params, state) shaped like the given trees, from a flat dict; strict about names
    and shapes, casting values to the model's dtypes."""
    expected = state_dict(params_like, state_like)
    missing = [k for k in expected if k not in flat]
    unexpected = [k for k in flat if k not in expected]
    if missing or unexpected:
        raise KeyError(f"Error(s) in loading state_dict for {model_name}: missing keys "
                       f"{missing}, unexpected keys {unexpected}")
    for k, like in expected.items():
        if tuple(np.shape(flat[k])) != tuple(like.shape):
            raise ValueError(f"Error(s) in loading state_dict for {model_name}: {k!r} has shape "
                             f"{tuple(np.shape(flat[k]))}, the model expects "
                             f"{tuple(like.shape)}")
    cast = {k: fnp.asarray(np.asarray(flat[k], dtype=like.dtype)) for k, like in
            expected.items()}
    return _rebuild(params_like, cast, ""), _rebuild(state_like, cast, "")


def _rebuild(like, flat, prefix):
    return {k: _rebuild(v, flat, f"{prefix}{k}.") if isinstance(v, dict) else flat[prefix + k]
            for k, v in like.items()}
