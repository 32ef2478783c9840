"""``Module``: PyTorch's module tree with the tensors taken out.

A funtorch module holds only configuration (sizes, strides, submodules). Its parameters
are a plain nested dict made by ``init`` and passed to every call, so the model is a pure
function and ``grad``/``jit``/``vmap`` apply to it directly.
"""

from __future__ import annotations

import functools
import inspect

from .. import random
from .state_dict import load_into
from .state_dict import state_dict as _state_dict

__all__ = ["Module"]


class Module:
    """Base class of layers and models.

    Parameters: submodules assigned as attributes in ``__init__`` become keys of the
    parameter dict, in assignment order, under their attribute names (PyTorch's state_dict
    names). ``model.init(key)`` returns ``{name: child params}`` for each child, plus the
    module's own tensors (``reset_parameters``), e.g. ``{'fc1': {'weight', 'bias'},
    'flatten': {}, 'fc2': {...}}``: a parameter-free child gets an empty dict, so
    ``self.flatten(params['flatten'], x)`` works like any other child's call, and its
    state_dict has no names for it, as PyTorch's. (``nn.Sequential``, which makes its
    children's calls itself, keeps exactly the state_dict's names: ``{'0': ..., '3': ...}``.)

    Calling: ``model(params, x, key=None, train=False)`` is pure. ``key`` feeds layers that
    draw random numbers (Dropout); ``train`` selects training behaviour (Dropout, BatchNorm).
    Both are ordinary Python values: under ``jit`` close over ``train`` or mark it static.

    State: running statistics (BatchNorm) are not parameters, so they live in a separate
    state tree from ``model.init_state()``, shaped like params (``{'1': {'running_mean',
    'running_var', 'num_batches_tracked'}}``; modules without state get no entry). A call
    given ``state=`` returns ``(output, new_state)``; without it, just the output. Training
    with BatchNorm is therefore::

        def loss_fn(params, state, x, y):
            logits, state = model(params, x, state=state, train=True)
            return F.cross_entropy(logits, y), state
        (loss, state), grads = ft.value_and_grad(loss_fn, has_aux=True)(params, state, x, y)

    and ``grads`` has exactly the structure of ``params``. Evaluation passes the state too
    (``model(params, x, state=state)``) and gets it back unchanged.

    Writing a model: subclass, call ``super().__init__()`` (optional: the child registry
    exists from construction), assign submodules in ``__init__``, and define
    ``__call__(self, params, x, ...)`` calling each submodule with its own entry
    (``self.fc1(params['fc1'], x)``). A layer with tensors of its own overrides
    ``reset_parameters(key) -> dict``; one with running statistics overrides
    ``reset_state() -> dict`` and accepts and returns ``state`` as above.
    ``model.state_dict(params, state)`` flattens both in PyTorch's names and order.
    """

    def __new__(cls, *args, **kwargs):
        # the child registry exists from construction, so a subclass that skips
        # super().__init__() (or assigns no submodule, e.g. an empty Sequential) still works
        self = super().__new__(cls)
        object.__setattr__(self, "_modules", {})
        return self

    def __setattr__(self, name, value):
        if isinstance(value, Module):
            self._modules[name] = value
        else:
            self._modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def named_children(self):
        return iter(self._modules.items())

    def children(self):
        return (m for _, m in self.named_children())

    # -------------------------------------------------------------- parameters and state

    def reset_parameters(self, key) -> dict:
        """This module's own tensors (not its children's), freshly initialised."""
        return {}

    def reset_state(self) -> dict:
        """This module's own running statistics (PyTorch's buffers), at their start values."""
        return {}

    def init(self, key) -> dict:
        """Fresh parameters for the whole tree, from one random key."""
        random._check_key("init", key, op=f"funtorch.nn.{type(self).__name__}.init")
        children = list(self.named_children())
        if not children:
            return dict(self.reset_parameters(key))
        keys = random.split(key, len(children) + 1)
        params = dict(self.reset_parameters(keys[0]))
        for i, (name, child) in enumerate(children):
            params[name] = child.init(keys[i + 1])
        return params

    def init_state(self) -> dict:
        """Fresh running statistics for the whole tree ({} when the model has none)."""
        state = dict(self.reset_state())
        for name, child in self.named_children():
            s = child.init_state()
            if s:
                state[name] = s
        return state

    def load_state_dict(self, flat, strict=True):
        """Parameters (and state, if the model has any) from a PyTorch-style flat dict.

        Returns ``params``, or ``(params, state)`` when ``init_state()`` is non-empty.
        With ``strict`` (the default) names must match this model exactly, and a mismatch
        is a ``StateDictMismatchError`` (a RuntimeError, as PyTorch's) listing the missing
        and unexpected names. ``strict=False`` returns ``(loaded, IncompatibleKeys(
        missing_keys, unexpected_keys))`` instead, where ``loaded`` is the above and the
        missing tensors keep ``init(ft.random.key(0))``'s values. Shapes must match either
        way.
        """
        like_state = self.init_state()
        params, state, keys = load_into(flat, self.init(random.key(0)), like_state, self,
                                        strict=strict)
        loaded = (params, state) if like_state else params
        return loaded if strict else (loaded, keys)

    def state_dict(self, params, state=None) -> dict:
        """``nn.state_dict(params, state)`` in this module tree's exact order (PyTorch's)."""
        return _state_dict(params, state, model=self)

    # -------------------------------------------------------------- calling

    def _param(self, params, name):
        """``params[name]``, or an error naming this layer when ``params`` is not its dict."""
        try:
            return params[name]
        except (KeyError, TypeError, IndexError):
            got = sorted(params) if isinstance(params, dict) else type(params).__name__
            raise ValueError(f"funtorch.nn.{type(self).__name__}: params has no {name!r} "
                             f"(got {got}); pass this layer's dict from model.init(key)"
                             ) from None

    def __call__(self, params, x, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define "
                                  "__call__(self, params, x, ...)")

    # -------------------------------------------------------------- repr (PyTorch's format)

    def extra_repr(self) -> str:
        """The layer's configuration, shown between the parentheses of its repr."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): {_indent(repr(m), 2)}" for name, m in self.named_children()]
        lines = extra_lines + child_lines
        s = type(self).__name__ + "("
        if len(extra_lines) == 1 and not child_lines:
            s += extra_lines[0]
        elif lines:
            s += "\n  " + "\n  ".join(lines) + "\n"
        return s + ")"


def _indent(s, n):
    first, *rest = s.split("\n")
    return "\n".join([first] + [" " * n + line if line.strip() else "" for line in rest])


@functools.cache
def _accepted(cls):
    """Keywords of ``cls.__call__`` (None: it takes ``**kwargs``)."""
    params = inspect.signature(cls.__call__).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params)


def call_child(module, params, x, *, key=None, train=False, state=None):
    """Call a submodule, passing only the keywords its ``__call__`` accepts, so user
    modules written as ``__call__(self, params, x)`` work inside containers. With ``state``
    it returns ``(out, new_state)``."""
    accepted = _accepted(type(module))
    kwargs = {}
    if key is not None and (accepted is None or "key" in accepted):
        kwargs["key"] = key
    if accepted is None or "train" in accepted:
        kwargs["train"] = train
    if state is not None:
        if accepted is not None and "state" not in accepted:
            raise TypeError(f"{type(module).__name__} has running statistics but its __call__ "
                            "takes no state= argument")
        kwargs["state"] = state
    return module(params, x, **kwargs)
