"""Pytrees, carried by optree with funtorch's namespace (``none_is_leaf=False``).

dicts, lists, tuples, namedtuples and None are nodes, as in JAX. Dict keys are
sorted in flattening, as JAX and optree do, so structures compare by content.
"""

from __future__ import annotations

import dataclasses

import optree

NAMESPACE = "funtorch"

__all__ = [
    "map", "leaves", "flatten", "unflatten", "structure", "register_node",
    "register_dataclass", "all", "reduce", "transpose", "flatten_with_path", "map_with_path",
    "PyTreeDef",
]

PyTreeDef = optree.PyTreeSpec
_builtin_all = all


def flatten(tree, is_leaf=None):
    """Return (leaves, treedef)."""
    return optree.tree_flatten(tree, is_leaf=is_leaf, namespace=NAMESPACE)


def unflatten(treedef, leaves):
    return optree.tree_unflatten(treedef, list(leaves))


def leaves(tree, is_leaf=None):
    return optree.tree_leaves(tree, is_leaf=is_leaf, namespace=NAMESPACE)


def structure(tree, is_leaf=None):
    return optree.tree_structure(tree, is_leaf=is_leaf, namespace=NAMESPACE)


def map(f, tree, *rest, is_leaf=None):  # noqa: A001 - JAX's name
    return optree.tree_map(f, tree, *rest, is_leaf=is_leaf, namespace=NAMESPACE)


def map_with_path(f, tree, *rest, is_leaf=None):
    return optree.tree_map_with_path(f, tree, *rest, is_leaf=is_leaf, namespace=NAMESPACE)


def flatten_with_path(tree, is_leaf=None):
    """Return (paths, leaves, treedef); a path is a tuple of keys/indices."""
    return optree.tree_flatten_with_path(tree, is_leaf=is_leaf, namespace=NAMESPACE)


def all(tree):  # noqa: A001
    return _builtin_all(leaves(tree))


def reduce(f, tree, initializer=None):
    ls = leaves(tree)
    if initializer is None:
        acc, ls = ls[0], ls[1:]
    else:
        acc = initializer
    for x in ls:
        acc = f(acc, x)
    return acc


def transpose(outer_treedef, inner_treedef, tree):
    return optree.tree_transpose(outer_treedef, inner_treedef, tree)


def register_node(cls, flatten_fn, unflatten_fn):
    """Register ``cls`` as a node.

    ``flatten_fn(obj) -> (children, aux)`` and ``unflatten_fn(aux, children) -> obj``,
    JAX's ``register_pytree_node`` convention.
    """
    optree.register_pytree_node(
        cls, flatten_fn, lambda aux, children: unflatten_fn(aux, children), namespace=NAMESPACE
    )
    return cls


def register_dataclass(cls=None, *, data_fields=None, meta_fields=None):
    """Register a dataclass; fields in ``meta_fields`` are static (part of the treedef)."""

    def wrap(cls):
        if not dataclasses.is_dataclass(cls):
            cls = dataclasses.dataclass(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        meta = tuple(meta_fields or ())
        data = tuple(data_fields) if data_fields is not None else tuple(
            n for n in names if n not in meta
        )

        def flat(obj):
            return [getattr(obj, n) for n in data], tuple(getattr(obj, n) for n in meta)

        def unflat(aux, children):
            kw = dict(zip(data, children))
            kw.update(zip(meta, aux))
            return cls(**kw)

        return register_node(cls, flat, unflat)

    return wrap if cls is None else wrap(cls)
