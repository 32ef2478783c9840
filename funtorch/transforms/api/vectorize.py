"""vmap over pytrees of arguments: axis specs, size checks, float0 outputs."""

from __future__ import annotations

import functools
import inspect

from ... import tree as tree_util
from ...core.trace import get_aval
from .. import batching
from ._util import asarray, check_callable, float0_zeros, is_float0


def _flatten_axes(name, axes, tree):
    """Broadcast an axis spec (int/None or a prefix tree of them) to the leaves of ``tree``.

    Returns one axis per leaf of ``tree``, in flattening order. As in JAX, a None in the
    spec is a leaf ("not mapped") covering a whole subtree, while a None in ``tree`` is an
    empty node: it has no leaves, so it takes no axis whatever the spec says at its place.
    """
    import optree
    result = []

    def add(ax, subtree):
        result.extend([ax] * len(tree_util.leaves(subtree)))

    try:
        optree.tree_map_(add, axes, tree, is_leaf=lambda x: x is None,
                         namespace=tree_util.NAMESPACE)
    except ValueError as e:
        raise ValueError(f"funtorch.vmap: {name} {axes!r} does not match the structure of the "
                         f"arguments: {e}") from None
    return result


def vmap(fun, in_axes=0, out_axes=0, axis_size=None, axis_name=None):
    """Vectorise ``fun`` over a mapped axis of its arguments (JAX's vmap).

    ``axis_name`` (any hashable) names the mapped axis for the collectives of
    ``ft.lax`` (``psum``, ``all_gather``, ``axis_index``, ...) called inside ``fun``."""
    check_callable("vmap", fun)
    if axis_name is not None:
        try:
            hash(axis_name)
        except TypeError:
            raise TypeError(f"funtorch.vmap: axis_name must be hashable (a str), got "
                            f"{axis_name!r}") from None
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    if not (in_axes is None or isinstance(in_axes, (int, tuple, dict))):
        raise TypeError(f"funtorch.vmap: in_axes must be an int, None or a tuple, got "
                        f"{type(in_axes).__name__}")

    @functools.wraps(fun)
    def batched(*args, **kwargs):
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise ValueError(f"funtorch.vmap: in_axes has {len(in_axes)} entries but the "
                             f"function was called with {len(args)} positional arguments")
        spec = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
        leaves, treedef = tree_util.flatten((list(args), kwargs))
        axes_flat = _broadcast_leaves_axes(args, kwargs, spec)
        vals, dims = [], []
        sizes = []
        for i, (x, ax) in enumerate(zip(leaves, axes_flat)):
            if ax is not None and type(ax) is not int:
                ax = batching.axis_index(ax, "in_axes",
                                         _arg_names(fun, args, kwargs).get(i, f"leaf {i}"))
            x = asarray(x) if ax is not None else x
            if ax is not None:
                nd = get_aval(x).ndim
                if not -nd <= ax < nd:
                    name = _arg_names(fun, args, kwargs).get(i, f"leaf {i}")
                    fix = (f"in_axes must be within range [{-nd}, {nd}) for it, or None to "
                           "pass it unmapped" if nd else
                           "a rank-0 argument has no axis to map: use in_axes=None for it")
                    raise ValueError(f"funtorch.vmap: in_axes={ax} is out of range for {name} "
                                     f"of rank {nd} (shape {get_aval(x).shape}); {fix}")
                ax = ax % nd
                sizes.append((i, get_aval(x).shape, ax, get_aval(x).shape[ax]))
            vals.append(x)
            dims.append(ax)
        size = axis_size
        found = {s for *_, s in sizes}
        if len(found) > 1 or (size is not None and found and found != {size}):
            names = _arg_names(fun, args, kwargs)
            lines = [f"  {names.get(i, f'leaf {i}')} of shape {shp} has size {s} along axis {ax}"
                     for i, shp, ax, s in sizes]
            if size is not None:
                lines.append(f"  axis_size={size} was given")
            raise ValueError("funtorch.vmap: inconsistent sizes for the mapped axis:\n"
                             + "\n".join(lines))
        if size is None:
            if not found:
                raise ValueError("funtorch.vmap: no argument is mapped (all in_axes are None); "
                                 "pass axis_size=")
            size = found.pop()
        out_tree, float0_outs = [], {}

        def flat_fun(*xs):
            a, kw = tree_util.unflatten(treedef, xs)
            out = fun(*a, **kw)
            ls, ot = tree_util.flatten(out)
            out_tree.append((ot, out))
            # float0 outputs (tangents of integers) hold no data: they skip batching and
            # are rebuilt with the mapped axis below
            float0_outs.update((i, get_aval(o).shape) for i, o in enumerate(ls)
                               if is_float0(o))
            return [o for i, o in enumerate(ls) if i not in float0_outs]

        def all_out_dims():
            return _flatten_axes("out_axes", out_axes, out_tree[0][1])

        def out_dims_fn(n):
            return [d for i, d in enumerate(all_out_dims()) if i not in float0_outs] if n \
                else []

        outs = iter(batching.vmap_flat(flat_fun, size, vals, dims, out_dims_fn,
                                        axis_name=axis_name))
        if float0_outs:
            res = []
            for i, d in enumerate(all_out_dims()):
                if i not in float0_outs:
                    res.append(next(outs))
                    continue
                shape = list(float0_outs[i])
                if d is not None:
                    shape.insert(batching.canonical_out_axis(d, shape, size, f"output {i}"),
                                 size)
                res.append(float0_zeros(shape))
            outs = res
        return tree_util.unflatten(out_tree[0][0], list(outs))

    return batched


def _broadcast_leaves_axes(args, kwargs, spec):
    out = []
    for a, s in zip(args, spec):
        out.extend(_flatten_axes("in_axes", s, a))
    for k in sorted(kwargs):
        out.extend([0] * len(tree_util.leaves(kwargs[k])))
    return out


def _arg_names(fun, args, kwargs=None):
    try:
        params = list(inspect.signature(fun).parameters)
    except (TypeError, ValueError):
        params = []
    names = {}
    idx = 0
    labelled = [(f"argument {i}" + (f" ('{params[i]}')" if i < len(params) else ""), a)
                for i, a in enumerate(args)]
    labelled += [(f"keyword argument '{k}'", kwargs[k]) for k in sorted(kwargs or {})]
    for label, a in labelled:
        n = len(tree_util.leaves(a))
        for j in range(n):
            names[idx + j] = label if n == 1 else f"{label} leaf {j}"
        idx += n
    return names
