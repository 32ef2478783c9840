"""Containers: Sequential (a chain of modules named '0', '1', ... or by an OrderedDict's
keys), ModuleList and ModuleDict (submodules held for the parent's ``__call__`` to use)."""

from __future__ import annotations

from collections import OrderedDict

from .. import random
from .module import Module, _indent, call_child

__all__ = ["Sequential", "ModuleList", "ModuleDict"]


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

    def init(self, key):
        """``Module.init`` without entries for parameter-free layers: a Sequential's params
        have exactly its state_dict's module names (``{'0': {...}, '3': {...}}``), and
        ``__call__`` passes such a layer ``{}``."""
        return {name: p for name, p in super().init(key).items()
                if not (name in self._modules and isinstance(p, dict) and not p)}

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


def _check_module(owner, name, m):
    if not isinstance(m, Module):
        raise TypeError(f"funtorch.nn.{owner}: entry {name!r} is a {type(m).__name__}, not an "
                        "nn.Module")
    return m


class ModuleList(Module):
    """A list of submodules named '0', '1', ... (PyTorch's state_dict names). Not callable:
    the parent module calls each with its own params, ``layer(params['layers'][str(i)],
    x)``, or zips them: ``for m, p in zip(self.layers, self.layers.params(params['layers']))``.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _reindex(self, mods):
        for name in list(self._modules):
            delattr(self, name)
        for i, m in enumerate(mods):
            setattr(self, str(i), _check_module("ModuleList", i, m))

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.values()))

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(mods[idx])
        return mods[idx]

    def __setitem__(self, idx, module):
        mods = list(self._modules.values())
        mods[idx] = module
        self._reindex(mods)

    def __delitem__(self, idx):
        mods = list(self._modules.values())
        del mods[idx]
        self._reindex(mods)

    def append(self, module):
        setattr(self, str(len(self)), _check_module("ModuleList", len(self), module))
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._reindex(mods)

    def __repr__(self):
        """PyTorch's: runs of equal entries collapse to ``(0-3): 4 x Layer(...)``."""
        blocks = []                                     # [first, last, repr]
        for i, m in enumerate(self):
            r = repr(m)
            if blocks and blocks[-1][2] == r:
                blocks[-1][1] = i
            else:
                blocks.append([i, i, r])
        if not blocks:
            return "ModuleList()"
        lines = [_indent(f"({a}): {r}" if a == b else f"({a}-{b}): {b - a + 1} x {r}", 2)
                 for a, b, r in blocks]
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"

    def params(self, params):
        """Each submodule's params from this list's dict, in order ({} for parameter-free)."""
        return [(params or {}).get(str(i), {}) for i in range(len(self))]

    def __call__(self, params, x, *args, **kwargs):
        raise TypeError("funtorch.nn.ModuleList is not callable (as in PyTorch): iterate over "
                        "it in the parent's __call__")


class ModuleDict(Module):
    """A dict of submodules under string keys (PyTorch's state_dict names). Not callable."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules))

    def __contains__(self, name):
        return name in self._modules

    def __getitem__(self, name):
        return self._modules[name]

    def __setitem__(self, name, module):
        if not isinstance(name, str):
            raise TypeError(f"funtorch.nn.ModuleDict: keys must be strings, got "
                            f"{type(name).__name__}")
        setattr(self, name, _check_module("ModuleDict", name, module))

    def __delitem__(self, name):
        delattr(self, name)

    def keys(self):
        return list(self._modules.keys())

    def values(self):
        return list(self._modules.values())

    def items(self):
        return list(self._modules.items())

    def pop(self, name):
        m = self._modules[name]
        del self[name]
        return m

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for name, m in items:
            self[name] = m

    def __call__(self, params, x, *args, **kwargs):
        raise TypeError("funtorch.nn.ModuleDict is not callable (as in PyTorch): look its "
                        "modules up in the parent's __call__")
