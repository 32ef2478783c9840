"""Sequential: a chain of modules named '0', '1', ... (or by an OrderedDict's keys)."""

from __future__ import annotations

from collections import OrderedDict

from .. import random
from .module import Module, call_child

__all__ = ["Sequential"]


class Sequential(Module):
    """Apply the modules in order. Params and state are keyed by the module names, as in
    PyTorch's state_dict; ``key`` is split so each module gets its own."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (OrderedDict, dict)):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, m in items:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: entry {name!r} is a {type(m).__name__}, not an "
                                "nn.Module")
            setattr(self, name, m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(items[idx]))
        return items[idx][1]

    def __call__(self, params, x, *, key=None, train=False, state=None):
        n = len(self._modules)
        keys = list(random.split(key, n)) if key is not None else [None] * n
        new_state = {}
        for k, (name, m) in zip(keys, self._modules.items()):
            p = params.get(name, {}) if params else {}
            if state is not None and name in state:
                x, new_state[name] = call_child(m, p, x, key=k, train=train, state=state[name])
            else:
                x = call_child(m, p, x, key=k, train=train)
        return x if state is None else (x, new_state)
