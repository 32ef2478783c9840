"""Products with numpy names (matmul, dot, vdot, inner, outer, tensordot, einsum) and
``linalg.norm``. Every product lowers to ``lax.dot_general``; matmul and einsum share
one engine that works on axis labels, so batch broadcasting never copies data: a
size-1 axis that meets a larger one is squeezed and the other operand carries it."""

from __future__ import annotations

import numpy as np

from .. import lax
from ..core.trace import get_aval
from ._core import asarray, axes_tuple, canonicalize_axis, is_array, promote, to_float


def _arr(x):
    return x if is_array(x) else asarray(x)


# --------------------------------------------------------------------------- label engine

def _sum_labels(x, labels, drop):
    axes = tuple(i for i, lab in enumerate(labels) if lab in drop)
    if not axes:
        return x, labels
    return lax.reduce_sum(x, axes), [lab for lab in labels if lab not in drop]


def _contract_pair(a, la, b, lb, keep):
    """dot_general of two labelled operands; labels in ``keep`` survive the product."""
    a, la = _sum_labels(a, la, {lab for lab in la if lab not in lb and lab not in keep})
    b, lb = _sum_labels(b, lb, {lab for lab in lb if lab not in la and lab not in keep})
    batch = [lab for lab in la if lab in lb and lab in keep]
    contract = [lab for lab in la if lab in lb and lab not in keep]
    dn = ((tuple(la.index(lab) for lab in contract), tuple(lb.index(lab) for lab in contract)),
          (tuple(la.index(lab) for lab in batch), tuple(lb.index(lab) for lab in batch)))
    out = lax.dot_general(a, b, dn)
    return out, batch + [lab for lab in la if lab not in lb] + [lab for lab in lb if lab not in la]


def _letters(labels, table):
    return "".join(table.setdefault(lab, _LETTERS[len(table)]) for lab in labels)


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _contract(name, operands, labels, out_labels):
    """The product of labelled ``operands`` with the axes ``out_labels`` left over."""
    sizes: dict = {}
    for x, labs in zip(operands, labels):
        for lab, n in zip(labs, get_aval(x).shape):
            sizes.setdefault(lab, set()).add(n)
    for ns in sizes.values():
        if len(ns - {1}) > 1:
            raise ValueError(f"funtorch.{name}: operands disagree on the size of an axis "
                             f"they share ({sorted(ns)}); shapes "
                             f"{[tuple(get_aval(x).shape) for x in operands]}")
    big = {lab for lab, ns in sizes.items() if ns - {1}}
    ops, labs = [], []
    for x, lab in zip(operands, labels):   # broadcasting: drop size-1 axes met by bigger ones
        ones = tuple(i for i, (lb, n) in enumerate(zip(lab, get_aval(x).shape))
                     if n == 1 and lb in big)
        ops.append(lax.squeeze(x, ones) if ones else x)
        labs.append([lb for i, lb in enumerate(lab) if i not in ones])
    if len(ops) > 2:
        table: dict = {}
        spec = ",".join(_letters(lab, table) for lab in labs) + "->" + _letters(out_labels,
                                                                                 table)
        dummies = [np.broadcast_to(np.empty((), np.float32), get_aval(x).shape) for x in ops]
        path = np.einsum_path(spec, *dummies, optimize="greedy")[0][1:]
    else:
        path = [tuple(range(len(ops)))]
    for step in path:
        picked = [(ops[i], labs[i]) for i in step]
        for i in sorted(step, reverse=True):
            del ops[i], labs[i]
        keep = set(out_labels).union(*map(set, labs))
        x, lx = picked[0]
        for y, ly in picked[1:]:
            rest = keep.union(*(set(lz) for _, lz in picked[2:]))
            x, lx = _contract_pair(x, lx, y, ly, rest)
        x, lx = _sum_labels(x, lx, {lab for lab in lx if lab not in keep})
        ops.append(x)
        labs.append(lx)
    (x,), (lx,) = ops, labs
    return lax.transpose(x, tuple(lx.index(lab) for lab in out_labels))


# --------------------------------------------------------------------------- einsum

def _take_diagonals(name, term, x, labels):
    """Collapse every label repeated within one operand to its diagonal (numpy's
    ``'ii->i'``). The repeated axes are moved last and flattened; their diagonal is then
    a strided slice (stride ``1 + n + ... + n**(k-1)``), so only transpose, reshape and
    slice are used: all linear, batchable and jittable, with no index arrays."""
    for lab in dict.fromkeys(labels):
        pos = [i for i, lb in enumerate(labels) if lb == lab]
        if len(pos) < 2:
            continue
        shape = get_aval(x).shape
        sizes = {shape[i] for i in pos}
        if len(sizes) > 1:
            raise ValueError(f"funtorch.{name}: the axes of {term!r} repeating label "
                             f"{chr(lab)!r} must have equal sizes to take their diagonal, "
                             f"got {[shape[i] for i in pos]} (operand shape {shape})")
        n, k = sizes.pop(), len(pos)
        rest = [i for i in range(len(labels)) if i not in pos]
        x = lax.transpose(x, tuple(rest + pos))
        x = lax.reshape(x, tuple(shape[i] for i in rest) + (n ** k,))
        stride = max(1, sum(n ** j for j in range(k)))
        x = lax.slice_in_dim(x, 0, (n - 1) * stride + 1 if n else 0, stride, len(rest))
        labels = [labels[i] for i in rest] + [lab]
    return x, labels


def _from_sublists(args):
    """numpy's interleaved form ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` as a subscripts
    string (0-25 -> 'A'-'Z', 26-51 -> 'a'-'z', Ellipsis -> '...', as numpy maps them)."""
    def term(sub):
        out = []
        for s in sub:
            if s is Ellipsis:
                out.append("...")
            elif isinstance(s, (int, np.integer)) and 0 <= s < 52:
                out.append(chr(ord("A") + s) if s < 26 else chr(ord("a") + s - 26))
            else:
                raise ValueError(f"funtorch.einsum: subscript {s!r} in the sublist form must "
                                 "be an int in [0, 52) or Ellipsis")
        return "".join(out)

    args = list(args)
    out = term(args.pop()) if len(args) % 2 else None
    ops, subs = args[0::2], args[1::2]
    spec = ",".join(term(s) for s in subs)
    return (spec if out is None else spec + "->" + out), ops


def _parse_term(name, term, ndim):
    """Labels of one operand: characters, and (-1-k) for the k-th ellipsis axis from the
    right, so ellipses broadcast right-aligned as in numpy."""
    if term.count("...") > 1:
        raise ValueError(f"funtorch.{name}: more than one '...' in {term!r}")
    head, dots, tail = term.partition("...")
    explicit = len(head) + len(tail)
    for c in head + tail:
        if not c.isalpha():
            raise ValueError(f"funtorch.{name}: invalid subscript {c!r} in {term!r}; use "
                             "letters and '...'")
    n_ell = ndim - explicit if dots else 0
    if n_ell < 0 or (not dots and explicit != ndim):
        raise ValueError(f"funtorch.{name}: subscripts {term!r} do not match an operand of "
                         f"rank {ndim}")
    return [ord(c) for c in head] + [-1 - k for k in reversed(range(n_ell))] + [
        ord(c) for c in tail]


def einsum(subscripts, *operands, optimize=True):
    """numpy's einsum (``'...'``, implicit output, traces/diagonals such as ``'ii->i'``
    and the sublist form included) as diagonal slices followed by dot_general,
    reduce_sum and transpose. ``optimize`` is accepted for numpy compatibility: the
    contraction order is always chosen greedily."""
    if not isinstance(subscripts, str):
        if operands and isinstance(operands[0], (list, tuple)):
            subscripts, operands = _from_sublists((subscripts, *operands))
        else:
            raise TypeError("funtorch.einsum: subscripts must be a string such as "
                            "'ij,jk->ik' (or numpy's sublist form einsum(a, [0, 1], b, "
                            f"[1, 2])), got {type(subscripts).__name__}")
    ops = promote("einsum", *operands)
    ops = [_arr(x) for x in ops]
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(ops):
        raise ValueError(f"funtorch.einsum: {subscripts!r} names {len(terms)} operands but "
                         f"{len(ops)} were given")
    labels = [_parse_term("einsum", t, x.ndim) for t, x in zip(terms, ops)]
    n_ell = max((sum(1 for lab in ls if lab < 0) for ls in labels), default=0)
    ell = [-1 - k for k in reversed(range(n_ell))]
    if arrow:
        if output.count("...") == 0 and n_ell:
            raise ValueError(f"funtorch.einsum: {subscripts!r} has '...' in the inputs but not "
                             "in the output")
        out = _parse_term("einsum", output, len(output.replace("...", "")) + (
            n_ell if "..." in output else 0))
        if len(set(out)) != len(out):
            raise ValueError(f"funtorch.einsum: repeated label in the output of "
                             f"{subscripts!r}")
        present = set().union(*map(set, labels))
        for lab in out:
            if lab not in present:
                raise ValueError(f"funtorch.einsum: output label {chr(lab)!r} of "
                                 f"{subscripts!r} appears in no input")
    else:
        counts: dict = {}
        for ls in labels:
            for lab in ls:
                if lab >= 0:
                    counts[lab] = counts.get(lab, 0) + 1
        out = ell + sorted(lab for lab, c in counts.items() if c == 1)
    diag = [_take_diagonals("einsum", t, x, lab) for t, x, lab in zip(terms, ops, labels)]
    return _contract("einsum", [d[0] for d in diag], [d[1] for d in diag], out)


# --------------------------------------------------------------------------- products

def matmul(a, b):
    """numpy's matmul: 1-d operands are promoted to matrices and back; batch dims
    broadcast."""
    a, b = (_arr(x) for x in promote("matmul", a, b))
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"funtorch.matmul: operands must be at least 1-d, got shapes "
                         f"{a.shape} and {b.shape}; use multiply for scalars")
    ka, kb = a.shape[-1], b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise ValueError(f"funtorch.matmul: contracted dimensions differ: {a.shape} @ "
                         f"{b.shape} ({ka} != {kb})")
    i, j, k = ord("i"), ord("j"), ord("k")
    batch = max(a.ndim, b.ndim) - 2
    la = [k] if a.ndim == 1 else [-1 - d for d in reversed(range(a.ndim - 2))] + [i, k]
    lb = [k] if b.ndim == 1 else [-1 - d for d in reversed(range(b.ndim - 2))] + [k, j]
    out = [-1 - d for d in reversed(range(batch))] + ([i] if a.ndim > 1 else []) + (
        [j] if b.ndim > 1 else [])
    return _contract("matmul", [a, b], [la, lb], out)


def tensordot(a, b, axes=2):
    """Sum over ``axes``: an int N (last N of a with first N of b) or two axis lists."""
    a, b = (_arr(x) for x in promote("tensordot", a, b))
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > min(a.ndim, b.ndim):
            raise ValueError(f"funtorch.tensordot: axes={n} out of range for shapes "
                             f"{a.shape} and {b.shape}")
        ax_a, ax_b = tuple(range(a.ndim - n, a.ndim)), tuple(range(n))
    else:
        ax_a, ax_b = axes
        ax_a = (ax_a,) if isinstance(ax_a, (int, np.integer)) else tuple(ax_a)
        ax_b = (ax_b,) if isinstance(ax_b, (int, np.integer)) else tuple(ax_b)
        ax_a = axes_tuple("tensordot", ax_a, a.ndim)
        ax_b = axes_tuple("tensordot", ax_b, b.ndim)
    if len(ax_a) != len(ax_b) or any(a.shape[p] != b.shape[q] for p, q in zip(ax_a, ax_b)):
        raise ValueError(f"funtorch.tensordot: axes {ax_a} of {a.shape} and {ax_b} of "
                         f"{b.shape} do not match in number or size")
    return lax.dot_general(a, b, ((ax_a, ax_b), ((), ())))


def dot(a, b):
    """numpy's dot: products of scalars, inner product of vectors, otherwise a sum over
    the last axis of a and the second-to-last of b."""
    a, b = (_arr(x) for x in promote("dot", a, b))
    if a.ndim == 0 or b.ndim == 0:
        from .ufuncs import multiply
        return multiply(a, b)
    ka, kb = a.ndim - 1, max(b.ndim - 2, 0)
    if a.shape[ka] != b.shape[kb]:
        raise ValueError(f"funtorch.dot: shapes {a.shape} and {b.shape} not aligned: "
                         f"{a.shape[ka]} (dim {ka}) != {b.shape[kb]} (dim {kb})")
    return tensordot(a, b, ((ka,), (kb,)))


def inner(a, b):
    """Sum over the last axes of a and b."""
    a, b = (_arr(x) for x in promote("inner", a, b))
    if a.ndim == 0 or b.ndim == 0:
        from .ufuncs import multiply
        return multiply(a, b)
    return tensordot(a, b, ((a.ndim - 1,), (b.ndim - 1,)))


def vdot(a, b):
    """Inner product of the flattened operands (real dtypes: no conjugation)."""
    a, b = (_arr(x) for x in promote("vdot", a, b))
    if a.size != b.size:
        raise ValueError(f"funtorch.vdot: operands have {a.size} and {b.size} elements")
    return lax.dot_general(lax.reshape(a, (a.size,)), lax.reshape(b, (b.size,)),
                           (((0,), (0,)), ((), ())))


def outer(a, b):
    """Outer product of the flattened operands."""
    from .ufuncs import multiply
    a, b = (_arr(x) for x in promote("outer", a, b))
    return multiply(lax.reshape(a, (a.size, 1)), lax.reshape(b, (1, b.size)))


# --------------------------------------------------------------------------- norm

def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - numpy's name
    """Vector norms (any ``ord``) and the matrix norms that need no decomposition
    (None/'fro', 1, -1, inf, -inf)."""
    from . import reductions as R
    from . import ufuncs as U
    x = to_float("norm", x)
    if axis is None:
        if ord is None:
            axes = tuple(range(x.ndim))
        elif x.ndim in (1, 2):
            axes = tuple(range(x.ndim))
        else:
            raise ValueError("funtorch.linalg.norm: give axis for an ord norm of an array of "
                             f"rank {x.ndim}")
    else:
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        axes = tuple(canonicalize_axis("linalg.norm", a, x.ndim) for a in axes)
    if ord is None or (ord == "fro" and len(axes) == 2):
        return U.sqrt(R.sum(U.multiply(x, x), axis=axes, keepdims=keepdims))
    if len(axes) == 1:
        ax = axes[0]
        if ord == np.inf:
            return R.max(U.abs(x), axis=ax, keepdims=keepdims)
        if ord == -np.inf:
            return R.min(U.abs(x), axis=ax, keepdims=keepdims)
        if ord == 0:
            return R.sum(U.not_equal(x, 0).astype(x.dtype), axis=ax, keepdims=keepdims)
        if ord == 1:
            return R.sum(U.abs(x), axis=ax, keepdims=keepdims)
        if ord == 2:
            return U.sqrt(R.sum(U.multiply(x, x), axis=ax, keepdims=keepdims))
        if isinstance(ord, str):
            raise ValueError(f"funtorch.linalg.norm: ord={ord!r} is a matrix norm; pass two "
                             "axes")
        return U.power(R.sum(U.power(U.abs(x), ord), axis=ax, keepdims=keepdims), 1.0 / ord)
    if len(axes) != 2:
        raise ValueError(f"funtorch.linalg.norm: axis must name 1 or 2 axes, got {axis}")
    row, col = axes
    if ord in (1, -1):
        out = R.sum(U.abs(x), axis=row, keepdims=True)
        red = R.max if ord == 1 else R.min
        out = red(out, axis=col, keepdims=True)
    elif ord in (np.inf, -np.inf):
        out = R.sum(U.abs(x), axis=col, keepdims=True)
        red = R.max if ord == np.inf else R.min
        out = red(out, axis=row, keepdims=True)
    else:
        raise NotImplementedError(f"funtorch.linalg.norm: matrix ord={ord!r} needs a "
                                  "singular value decomposition, which funtorch lacks")
    return out if keepdims else lax.squeeze(out, axes)
