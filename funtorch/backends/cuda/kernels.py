"""Generated kernels for the primitives that are not fused loop nests: views made
contiguous, pad, concatenate, gather/scatter, sort, cumsum, windowed reductions and their
derivatives, threefry, and direct (naive) dot_general / convolution for the cases the
tiled ``cuda_kernels`` GEMMs do not cover.

Each builder returns a ``KernelSpec`` whose shapes and parameters are compiled in: one
thread per output element (grid-stride), indices split with constant divisors. Nothing
needs atomics: scatter and the max-pool gradient gather their contributions in order,
so results are deterministic and match numpy's.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda

from cuda_kernels._common import SIMULATOR, THREADS_1D, blocks_for

from ...core.graph import Literal, Var
from ..common.fusion import Iota
from ..common.scalar import acc_dtype
from .codegen import Names, strides
from .source import PRELUDE, KernelSpec, Scalar, target


def _spec(label, params, arg_dtypes, n, body, mod):
    """A grid-stride kernel over ``n`` work items; ``body`` handles item ``i``."""
    text = "\n".join([
        PRELUDE.rstrip("\n"), "", *mod.prelude(), "", "",
        f"def kernel({', '.join(params)}):", "    i = cuda.grid(1)", f"    while i < {n}:",
        *("        " + ln for ln in body), "        i += cuda.gridsize(1)"]) + "\n"
    return KernelSpec(text, arg_dtypes, blocks_for(n), THREADS_1D, label)


def _coords(shape, src="i", prefix="c"):
    """Lines splitting flat index ``src`` into coordinates ``{prefix}0..`` of ``shape``."""
    nd = len(shape)
    if nd == 0:
        return []
    lines = [f"t = {src}"]
    for d in range(nd - 1, 0, -1):
        lines += [f"{prefix}{d} = t % {shape[d]}", f"t = t // {shape[d]}"]
    return lines + [f"{prefix}0 = t"]


def _offset(terms):
    """``sum(coefficient * name)`` as source; terms are (name or None, coefficient)."""
    const = sum(k for v, k in terms if v is None)
    parts = [v if k == 1 else f"{k} * {v}" for v, k in terms if v is not None and k]
    if const or not parts:
        parts.append(str(const))
    return " + ".join(parts)


def _lowest(mod, dtype):
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return "False"
    return mod.const(-np.inf if dt.kind == "f" else np.iinfo(dt).min, dt)


# --------------------------------------------------------------------------- fill, views

@functools.cache
def _fill_kernel(dtype):
    text = "\n".join([PRELUDE.rstrip("\n"), "", "", "def kernel(o, v):",
                      "    i = cuda.grid(1)", "    while i < o.size:", "        o[i] = v",
                      "        i += cuda.gridsize(1)"]) + "\n"
    spec = KernelSpec(text, [dtype, Scalar(dtype)], None, None, "fill")
    if SIMULATOR:
        return cuda.jit(spec.signature)(spec.pyfunc())
    return cuda.jit(spec.signature, cache=True)(spec.pyfunc())


def fill(out, value):
    """Set every element of the flat device array ``out`` to ``value``."""
    if out.size:
        value = np.asarray(value, out.dtype)
        if value.dtype == np.bool_:   # a bool kernel argument is not marshalled: its byte
            out, value = out.view(np.uint8), value.view(np.uint8)
        stream = target.stream or 0
        _fill_kernel(value.dtype)[blocks_for(out.size), THREADS_1D, stream](out, value[()])


def same_layout(ref):
    """Whether a view reads its root buffer as is (only size-1 axes added or dropped), so
    the root's buffer serves without ``copy_ref``."""
    if type(ref.root) is not Var:
        return False
    mapped = []
    for a, s, o, n in zip(ref.axes, ref.scales, ref.offsets, ref.root_shape):
        if n == 1:
            continue
        if a is None or s != 1 or o or ref.shape[a] != n:
            return False
        mapped.append(a)
    return mapped == [a for a, n in enumerate(ref.shape) if n != 1]


def copy_ref(ref, dtype):
    """Materialise a strided view (``common.fusion.Ref``) of a buffer, an iota or a literal."""
    mod, shape = Names(), ref.shape
    body = _coords(shape)
    root = ref.root
    if type(root) is Literal:
        value = mod.const(root.val.item(), dtype)
        params, dts = ["o"], [dtype]
    elif type(root) is Iota:
        j = root.dimension
        a = ref.axes[j]
        term = _offset([(None, ref.offsets[j]), (f"c{a}" if a is not None else None,
                                                 ref.scales[j])])
        value = f"{mod.ty(dtype)}({term})"
        params, dts = ["o"], [dtype]
    else:
        terms = []
        for a, s, o, st in zip(ref.axes, ref.scales, ref.offsets, strides(ref.root_shape)):
            terms.append((None, o * st))
            if a is not None:
                terms.append((f"c{a}", s * st))
        value = f"x[{_offset(terms)}]"
        params, dts = ["x", "o"], [root.aval.dtype, dtype]
    body.append(f"o[i] = {value}")
    return _spec("copy view", params, dts, math.prod(shape), body, mod)


# --------------------------------------------------------------------------- shape ops

def pad(x_shape, config, dtype):
    """``lax.pad``: ``config`` is (lo, hi, interior) per axis; lo/hi may be negative."""
    mod = Names()
    out_shape = [lo + hi + n + max(0, n - 1) * it for n, (lo, hi, it) in zip(x_shape, config)]
    body = _coords(out_shape)
    conds, terms = [], []
    for d, (n, (lo, _, it), st) in enumerate(zip(x_shape, config, strides(x_shape))):
        body.append(f"q{d} = c{d} - {lo}")
        if it:
            conds.append(f"q{d} >= 0 and q{d} % {it + 1} == 0 and q{d} // {it + 1} < {n}")
            body.append(f"s{d} = q{d} // {it + 1}")
        else:
            conds.append(f"q{d} >= 0 and q{d} < {n}")
            body.append(f"s{d} = q{d}")
        terms.append((f"s{d}", st))
    body += ["v = pv[0]"]
    if conds:
        body += [f"if {' and '.join(conds)}:", f"    v = x[{_offset(terms)}]"]
    else:
        body += ["v = x[0]"]
    body.append("o[i] = v")
    return _spec("pad", ["x", "pv", "o"], [dtype] * 3, math.prod(out_shape), body, mod)


def concatenate(shapes, axis, dtype):
    mod = Names()
    out_shape = list(shapes[0])
    out_shape[axis] = sum(s[axis] for s in shapes)
    body = _coords(out_shape)
    start, first = 0, True
    for k, s in enumerate(shapes):
        if not s[axis]:
            continue
        terms = [(f"c{d}" if d != axis else f"(c{d} - {start})", st)
                 for d, st in enumerate(strides(s))]
        cond = f"c{axis} < {start + s[axis]}"
        body += [f"{'if' if first else 'elif'} {cond}:", f"    o[i] = x{k}[{_offset(terms)}]"]
        first, start = False, start + s[axis]
    params = [f"x{k}" for k in range(len(shapes))] + ["o"]
    return _spec("concatenate", params, [dtype] * (len(shapes) + 1), math.prod(out_shape),
                 body, mod)


# --------------------------------------------------------------------------- indexing

def _index_line(n, mode, src, dst="k"):
    if mode == "clip":
        return [f"{dst} = int64({src})", f"if {dst} < 0: {dst} = 0",
                f"if {dst} > {n - 1}: {dst} = {n - 1}"]
    return [f"{dst} = int64({src})"]


def gather(x_shape, idx_shape, axis, mode, dtype, idx_dtype):
    mod = Names()
    n, m = x_shape[axis], math.prod(idx_shape)
    post = math.prod(x_shape[axis + 1:])
    total = math.prod(x_shape[:axis]) * m * post
    zero = mod.const(0, dtype)
    if n == 0:
        body = [f"o[i] = {zero}"]
    else:
        body = [f"p = i % {post}", f"t = i // {post}", f"j = t % {m}", f"b = t // {m}",
                *_index_line(n, mode, "idx[j]")]
        read = f"x[(b * {n} + k) * {post} + p]"
        body += ([f"o[i] = {read}"] if mode == "clip" else
                 [f"o[i] = {read} if (k >= 0 and k < {n}) else {zero}"])
    return _spec("gather", ["x", "idx", "o"], [dtype, idx_dtype, dtype], total, body, mod)


def _combine(mod, combine, dtype, a, b):
    dt = np.dtype(dtype)
    if combine == "set":
        return b
    if combine in ("add", "mul"):
        if dt == np.bool_:
            return f"({a} {'or' if combine == 'add' else 'and'} {b})"
        return f"{mod.ty(dt)}({a} {'+' if combine == 'add' else '*'} {b})"
    op = "<" if combine == "min" else ">"
    nan = f" or {a} != {a}" if dt.kind == "f" else ""
    return f"({a} if ({a} {op} {b}{nan}) else {b})"


def scatter_updates(x_shape, idx_shape, axis, combine, mode, dtype, idx_dtype):
    """Apply the updates in index order into ``o`` (already a copy of the operand): one
    thread per (leading, trailing) position, so duplicate indices combine in order."""
    mod = Names()
    n, m = x_shape[axis], math.prod(idx_shape)
    post = math.prod(x_shape[axis + 1:])
    body = [f"p = i % {post}", f"b = i // {post}", f"for j in range({m}):",
            *("    " + ln for ln in _index_line(n, mode, "idx[j]"))]
    inner = []
    if mode != "clip":
        inner.append(f"if k >= 0 and k < {n}:")
    ind = "    " if mode != "clip" else ""
    update = f"u[(b * {m} + j) * {post} + p]"
    inner += [f"{ind}q = (b * {n} + k) * {post} + p",
              f"{ind}o[q] = {_combine(mod, combine, dtype, 'o[q]', update)}"]
    body += ["    " + ln for ln in inner]
    work = math.prod(x_shape[:axis]) * post if n and m else 0
    return _spec(f"scatter-{combine}", ["idx", "u", "o"], [idx_dtype, dtype, dtype], work,
                 body, mod)


def sort(shape, dimension, dtypes):
    """Stable sort by the first operand (NaNs last): each element computes its rank."""
    mod = Names()
    n = shape[dimension]
    post = math.prod(shape[dimension + 1:])
    k = len(dtypes)
    key_float = np.dtype(dtypes[0]).kind == "f"

    def lt(a, b):
        return f"({a} < {b} or ({b} != {b} and {a} == {a}))" if key_float else f"({a} < {b})"

    body = [f"p = i % {post}", f"t = i // {post}", f"j = t % {n}", f"b = t // {n}",
            "me = key[i]", "rank = 0", f"for q in range({n}):",
            f"    other = key[(b * {n} + q) * {post} + p]",
            f"    if {lt('other', 'me')} or (q < j and not {lt('me', 'other')}):",
            "        rank += 1", f"dst = (b * {n} + rank) * {post} + p"]
    body += [f"o{r}[dst] = {'key' if r == 0 else f'x{r}'}[i]" for r in range(k)]
    params = ["key", *[f"x{r}" for r in range(1, k)], *[f"o{r}" for r in range(k)]]
    return _spec("sort", params, [*dtypes, *dtypes], math.prod(shape), body, mod)


def _zero(dtype):
    """The identity of a sum: -0.0 for floats (-0.0 + x is x, signed zeros included, so
    cumsum([-0.0, -0.0]) is [-0.0, -0.0] as numpy's)."""
    return -0.0 if np.dtype(dtype).kind == "f" else 0


def cumsum(shape, axis, reverse, dtype):
    mod = Names()
    n, post = shape[axis], math.prod(shape[axis + 1:])
    ty = mod.ty(dtype)
    order = f"range({n} - 1, -1, -1)" if reverse else f"range({n})"
    body = [f"p = i % {post}", f"b = i // {post}", f"acc = {mod.const(_zero(dtype), dtype)}",
            f"for j in {order}:", f"    q = (b * {n} + j) * {post} + p",
            f"    acc = {ty}(acc + x[q])", "    o[q] = acc"]
    work = math.prod(shape[:axis]) * post if n else 0
    return _spec("cumsum", ["x", "o"], [dtype, dtype], work, body, mod)


# --------------------------------------------------------------------------- windowed

def _window_out(shape, window, strides_, padding):
    return [max(0, (n + lo + hi - k) // s + 1) for n, k, s, (lo, hi) in
            zip(shape, window, strides_, padding)]


def _taps(shape, window, strides_, padding, coord, ind=""):
    """Nested loops over a window's taps (row-major) at output coordinate ``coord{d}``:
    yields (loop lines, indent, inside-condition, flat input offset)."""
    lines, conds, terms = [], [], []
    for d, (n, k, s, (lo, _), st) in enumerate(zip(shape, window, strides_, padding,
                                                   strides(shape))):
        lines += [f"{ind}{'    ' * d}for t{d} in range({k}):",
                  f"{ind}{'    ' * (d + 1)}x{d} = {coord}{d} * {s} - {lo} + t{d}"]
        conds.append(f"x{d} >= 0 and x{d} < {n}")
        terms.append((f"x{d}", st))
    return lines, ind + "    " * len(shape), " and ".join(conds) or "True", _offset(terms)


def reduce_window(kind, shape, window, strides_, padding, dtype):
    """``reduce_window_sum`` / ``reduce_window_max`` (padding never wins a max)."""
    mod = Names()
    out = _window_out(shape, window, strides_, padding)
    loops, ind, inside, off = _taps(shape, window, strides_, padding, "c")
    ty = mod.ty(dtype)
    if kind == "sum":
        init = mod.const(0, acc_dtype(np.dtype(dtype)))
        step = [f"{ind}if {inside}:", f"{ind}    acc += x[{off}]"]
    else:
        init = _lowest(mod, dtype)
        nan = " or v != v" if np.dtype(dtype).kind == "f" else ""
        step = [f"{ind}if {inside}:", f"{ind}    v = x[{off}]",
                f"{ind}    if v > acc{nan}:", f"{ind}        acc = v"]
    body = [*_coords(out), f"acc = {init}", *loops, *step, f"o[i] = {ty}(acc)"]
    return _spec(f"reduce_window_{kind}", ["x", "o"], [dtype, dtype], math.prod(out), body,
                 mod)


def _select_lines(mod, shape, window, strides_, padding, dtype, coord, ind):
    """Lines leaving in ``sel`` the flat offset of the window's first maximum (a NaN wins;
    -1 when it is a padded position), as ``lax``'s select_and_* impls choose it."""
    loops, tind, inside, off = _taps(shape, window, strides_, padding, coord, ind)
    nan = " or (v != v and best == best)" if np.dtype(dtype).kind == "f" else ""
    return [f"{ind}best = {_lowest(mod, dtype)}", f"{ind}sel = -1", f"{ind}first = True",
            *loops, f"{tind}v = {_lowest(mod, dtype)}", f"{tind}at = -1",
            f"{tind}if {inside}:", f"{tind}    v = x[{off}]", f"{tind}    at = {off}",
            f"{tind}if first or v > best{nan}:",
            f"{tind}    best = v", f"{tind}    sel = at", f"{tind}    first = False"]


def select_and_gather_add(shape, window, strides_, padding, dtype):
    """Per window, the tangent at the operand's selected maximum."""
    mod = Names()
    out = _window_out(shape, window, strides_, padding)
    body = [*_coords(out),
            *_select_lines(mod, shape, window, strides_, padding, dtype, "c", ""),
            f"o[i] = tan[sel] if sel >= 0 else {mod.const(0, dtype)}"]
    return _spec("select_and_gather_add", ["tan", "x", "o"], [dtype] * 3, math.prod(out),
                 body, mod)


def select_and_scatter_add(shape, window, strides_, padding, dtype):
    """Per operand element, the sum of the sources of the windows that select it."""
    mod = Names()
    out = _window_out(shape, window, strides_, padding)
    body = [*_coords(shape), f"acc = {mod.const(0, acc_dtype(np.dtype(dtype)))}"]
    ind = ""
    for d, (k, s, (lo, _), p) in enumerate(zip(window, strides_, padding, out)):
        body += [f"{ind}pp = c{d} + {lo}",
                 f"{ind}for w{d} in range(max(0, (pp - {k} + {s}) // {s}), "
                 f"min({p - 1}, pp // {s}) + 1):"]
        ind += "    "
    body += _select_lines(mod, shape, window, strides_, padding, dtype, "w", ind)
    src = _offset([(f"w{d}", st) for d, st in enumerate(strides(out))])
    body += [f"{ind}if sel == i:", f"{ind}    acc += src[{src}]",
             f"o[i] = {mod.ty(dtype)}(acc)"]
    return _spec("select_and_scatter_add", ["src", "x", "o"], [dtype] * 3, math.prod(shape),
                 body, mod)


# --------------------------------------------------------------------------- threefry

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def threefry2x32(n):
    """The 20-round threefry-2x32 hash, in 64-bit arithmetic masked to 32 bits."""
    mod = Names()
    m = "0xFFFFFFFF"
    body = ["a = int64(k1[i])", "b = int64(k2[i])", "c = a ^ b ^ 0x1BD11BDA",
            f"y0 = (int64(x1[i]) + a) & {m}", f"y1 = (int64(x2[i]) + b) & {m}"]
    ks = ("a", "b", "c")
    for r in range(5):
        for rot in _ROTATIONS[r % 2]:
            body += [f"y0 = (y0 + y1) & {m}",
                     f"y1 = (((y1 << {rot}) | (y1 >> {32 - rot})) & {m}) ^ y0"]
        body += [f"y0 = (y0 + {ks[(r + 1) % 3]}) & {m}",
                 f"y1 = (y1 + {ks[(r + 2) % 3]} + {r + 1}) & {m}"]
    body += [f"o1[i] = {mod.ty(np.uint32)}(y0)", f"o2[i] = {mod.ty(np.uint32)}(y1)"]
    return _spec("threefry2x32", ["k1", "k2", "x1", "x2", "o1", "o2"], [np.uint32] * 6, n,
                 body, mod)


# --------------------------------------------------------------------------- direct products

def dot_general(lhs_shape, rhs_shape, dimension_numbers, dtype):
    """One thread per output element, looping over the contracted elements (any layout,
    any numeric dtype; accumulates in 64 bits)."""
    mod = Names()
    (lc, rc), (lb, rb) = dimension_numbers
    lf = [a for a in range(len(lhs_shape)) if a not in lc and a not in lb]
    rf = [a for a in range(len(rhs_shape)) if a not in rc and a not in rb]
    out_shape = [lhs_shape[a] for a in lb] + [lhs_shape[a] for a in lf] + \
        [rhs_shape[a] for a in rf]
    kshape = [lhs_shape[a] for a in lc]
    coord = {}
    for q, (a, b) in enumerate(zip(lb, rb)):
        coord[("l", a)] = coord[("r", b)] = f"c{q}"
    for q, a in enumerate(lf):
        coord[("l", a)] = f"c{len(lb) + q}"
    for q, b in enumerate(rf):
        coord[("r", b)] = f"c{len(lb) + len(lf) + q}"
    for q, (a, b) in enumerate(zip(lc, rc)):
        coord[("l", a)] = coord[("r", b)] = f"k{q}"
    loff = _offset([(coord[("l", a)], st) for a, st in enumerate(strides(lhs_shape))])
    roff = _offset([(coord[("r", b)], st) for b, st in enumerate(strides(rhs_shape))])
    acc = acc_dtype(np.dtype(dtype))
    body = [*_coords(out_shape), f"acc = {mod.const(0, acc)}",
            f"for kk in range({math.prod(kshape)}):",
            *("    " + ln for ln in _coords(kshape, "kk", "k")),
            f"    acc += {mod.ty(acc)}(l[{loff}]) * {mod.ty(acc)}(r[{roff}])",
            f"o[i] = {mod.ty(dtype)}(acc)"]
    return _spec("dot_general (direct)", ["l", "r", "o"], [dtype] * 3, math.prod(out_shape),
                 body, mod)


def conv(lhs_shape, rhs_shape, params, dtype):
    """``conv_general_dilated`` by definition: one thread per output element (any rank,
    padding, lhs/rhs dilation and feature groups)."""
    mod = Names()
    n, c, *sp = lhs_shape
    o, i_per, *k = rhs_shape
    strides_, pads = params["window_strides"], params["padding"]
    ld, rd, groups = params["lhs_dilation"], params["rhs_dilation"], params["feature_group_count"]
    dil = [(s - 1) * d + 1 if s else 0 for s, d in zip(sp, ld)]
    out_sp = [max(0, (dd + lo + hi - ((kk - 1) * r + 1)) // s + 1)
              for dd, (lo, hi), kk, r, s in zip(dil, pads, k, rd, strides_)]
    og = o // groups
    nsp = len(sp)
    acc = acc_dtype(np.dtype(dtype))
    body = [*_coords([n, o, *out_sp]), f"acc = {mod.const(0, acc)}",
            f"ci0 = (c1 // {og}) * {i_per}", f"for ci in range({i_per}):"]
    ind = "    "
    conds = []
    for d in range(nsp):
        body += [f"{ind}for t{d} in range({k[d]}):",
                 f"{ind}    z{d} = c{d + 2} * {strides_[d]} + t{d} * {rd[d]} - {pads[d][0]}"]
        ind += "    "
        conds.append(f"z{d} >= 0 and z{d} < {dil[d]} and z{d} % {ld[d]} == 0")
    xst, wst = strides(lhs_shape), strides(rhs_shape)
    xoff = _offset([("c0", xst[0]), ("(ci0 + ci)", xst[1]),
                    *[(f"(z{d} // {ld[d]})", xst[d + 2]) for d in range(nsp)]])
    woff = _offset([("c1", wst[0]), ("ci", wst[1]), *[(f"t{d}", wst[d + 2]) for d in range(nsp)]])
    body += [f"{ind}if {' and '.join(conds) or 'True'}:",
             f"{ind}    acc += {mod.ty(acc)}(x[{xoff}]) * {mod.ty(acc)}(w[{woff}])",
             f"o[i] = {mod.ty(dtype)}(acc)"]
    return _spec("conv (direct)", ["x", "w", "o"], [dtype] * 3,
                 n * o * math.prod(out_sp), body, mod)
