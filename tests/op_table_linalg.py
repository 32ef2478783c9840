"""Op-table entries for products (matmul, dot, einsum, ...), dot_general, convolution and
windowed reductions. The lax-level references are loops over output positions, written
independently of the vectorised impls."""

from __future__ import annotations

import itertools

import numpy as np

import funtorch as ft

from op_table import Gen, OpInfo, Sample, register

# --------------------------------------------------------------------------- numpy-level


def _matmul_sample(g: Gen, dtype):
    m, k, n, b = g.int(1, 3), g.int(0, 3), g.int(1, 3), g.int(1, 3)
    case = g.int(0, 8)
    shapes = [((k,), (k,)), ((k,), (k, n)), ((m, k), (k,)), ((m, k), (k, n)),
              ((b, m, k), (k, n)), ((m, k), (b, k, n)), ((2, 1, m, k), (b, k, n)),
              ((k,), (b, k, n)), ((b, 1, m, k), (1, 2, k, n))][case]
    return Sample(tuple(g.array(s, dtype) for s in shapes))


def _dot_sample(g: Gen, dtype):
    m, k, n = g.int(1, 3), g.int(1, 3), g.int(1, 3)
    shapes = g.choice([((), (m, k)), ((k,), (k,)), ((m, k), (k,)), ((2, m, k), (k, n)),
                       ((m, k), (2, k, n)), ((k,), (k, n))])
    return Sample(tuple(g.array(s, dtype) for s in shapes))


def _inner_sample(g: Gen, dtype):
    k = g.int(1, 3)
    shapes = g.choice([((k,), (k,)), ((2, k), (k,)), ((2, k), (3, k)), ((), (2, k)),
                       ((2, 1, k), (3, k))])
    return Sample(tuple(g.array(s, dtype) for s in shapes))


def _outer_sample(g: Gen, dtype):
    return Sample((g.array(g.shape(max_dims=2, max_side=3), dtype),
                   g.array(g.shape(max_dims=2, max_side=3), dtype)))


def _vdot_sample(g: Gen, dtype):
    s = g.shape(min_dims=1, max_dims=2, max_side=3)
    return Sample((g.array(s, dtype), g.array(tuple(reversed(s)), dtype)))


def _tensordot_sample(g: Gen, dtype):
    s = [g.int(1, 3) for _ in range(3)]
    case = g.int(0, 3)
    if case == 0:
        return Sample((g.array(s, dtype), g.array((*s[1:], 2), dtype)), {"axes": 2})
    if case == 1:
        return Sample((g.array(s, dtype), g.array((2, 3), dtype)), {"axes": 0})
    if case == 2:
        return Sample((g.array(s, dtype), g.array((s[2], 2, s[0]), dtype)),
                      {"axes": ([0, 2], [2, 0])})
    return Sample((g.array(s, dtype), g.array((2, s[1]), dtype)), {"axes": (1, -1)})


_EINSUMS = ["ij,jk->ik", "ij,jk", "bij,bjk->bik", "...ij,...jk->...ik", "i,i->", "i,j->ij",
            "ijk->kji", "ij->", "ij->j", "ij,ij->ij", "ab,bc,cd->ad", "abc,cd,be->aed",
            "bi,bi->b", "ij,kj->ik", "...i,i", "ba,cb"]


def _einsum_sample(g: Gen, dtype):
    spec = g.choice(_EINSUMS)
    sizes = {c: g.int(1, 3) for c in "abcdeijk"}
    inputs = spec.split("->")[0].split(",")
    ell = (g.int(1, 2), 1) if "..." in spec else ()
    arrays = []
    for n, term in enumerate(inputs):
        lead = (ell if n == 0 else ell[1:]) if term.startswith("...") else ()
        arrays.append(g.array((*lead, *[sizes[c] for c in term.replace("...", "")]), dtype))
    return Sample((spec, *arrays))


def _einsum_labelled_sample(specs):
    """Samples for einsum specs with labels repeated within an operand (traces and
    diagonals); a repeated label has one size per sample so the diagonal exists."""
    def sample(g: Gen, dtype):
        spec = g.choice(specs)
        sizes = {c: g.int(1, 3) for c in "ijkB"}
        inputs = spec.split("->")[0].split(",")
        arrays = [g.array(((g.int(1, 2),) if t.startswith("...") else ())
                          + tuple(sizes[c] for c in t.replace("...", "")), dtype)
                  for t in inputs]
        return Sample((spec, *arrays))
    return sample


_EINSUM_TRACES = ["ii->", "ii", "iij->j", "ij,jj->i", "iii->", "iB,BB,B"]
_EINSUM_DIAGONALS = ["ii->i", "...ii->...i", "iji->ji", "ii,ik->ik", "iiB->Bi", "ijij->ij"]


def _norm_sample(g: Gen, dtype):
    case = g.int(0, 4)
    if case == 0:
        return Sample((g.array(g.shape(min_side=1, max_side=3), dtype),))   # norm(0)' is nan
    if case == 1:
        x = g.array(g.shape(min_dims=1, min_side=1, max_side=3), dtype)
        return Sample((x,), {"ord": g.choice([1, 2, 3, np.inf, -np.inf]), "axis": -1,
                             "keepdims": g.bool()})
    if case == 2:
        return Sample((g.array((g.int(1, 3),), dtype),), {"ord": g.choice([None, 1, 0.5])})
    x = g.array((2, g.int(1, 3), g.int(1, 3)), dtype)
    return Sample((x,), {"ord": g.choice([None, "fro", 1, -1, np.inf, -np.inf]),
                         "axis": (1, 2), "keepdims": g.bool()})


register(
    OpInfo("matmul", ft.matmul, np.matmul, _matmul_sample, atol=1e-5),
    OpInfo("dot", ft.dot, np.dot, _dot_sample, atol=1e-5),
    OpInfo("inner", ft.inner, np.inner, _inner_sample, atol=1e-5),
    OpInfo("outer", ft.outer, np.outer, _outer_sample),
    OpInfo("vdot", ft.vdot, np.vdot, _vdot_sample, atol=1e-5),
    OpInfo("tensordot", ft.tensordot, np.tensordot, _tensordot_sample, atol=1e-5),
    OpInfo("einsum", ft.einsum, np.einsum, _einsum_sample, atol=1e-5),
    OpInfo("einsum_trace", ft.einsum, np.einsum, _einsum_labelled_sample(_EINSUM_TRACES),
           atol=1e-5),
    OpInfo("einsum_diagonal", ft.einsum, np.einsum,
           _einsum_labelled_sample(_EINSUM_DIAGONALS), atol=1e-5),
    OpInfo("linalg_norm", ft.linalg.norm, np.linalg.norm, _norm_sample, rtol=1e-5,
           atol=1e-5),
)

# --------------------------------------------------------------------------- dot_general


def _dot_general_sample(g: Gen, dtype):
    nb, nc, nl, nr = g.int(0, 2), g.int(0, 2), g.int(0, 2), g.int(0, 1)
    bs = [g.int(1, 3) for _ in range(nb)]
    cs = [g.int(0 if nc == 1 else 1, 3) for _ in range(nc)]
    ls = [g.int(1, 3) for _ in range(nl)]
    rs = [g.int(1, 3) for _ in range(nr)]

    def perm(n):
        p = list(range(n))
        for i in range(n - 1, 0, -1):
            j = g.int(0, i)
            p[i], p[j] = p[j], p[i]
        return p

    # logical axes: batch, contract, free; permute each operand's layout
    lp, rp = perm(nb + nc + nl), perm(nb + nc + nr)
    l_shape = [(bs + cs + ls)[i] for i in lp]
    r_shape = [(bs + cs + rs)[i] for i in rp]
    lpos, rpos = {v: i for i, v in enumerate(lp)}, {v: i for i, v in enumerate(rp)}
    dn = ((tuple(lpos[nb + i] for i in range(nc)), tuple(rpos[nb + i] for i in range(nc))),
          (tuple(lpos[i] for i in range(nb)), tuple(rpos[i] for i in range(nb))))
    return Sample((g.array(tuple(l_shape), dtype), g.array(tuple(r_shape), dtype), dn))


def _dot_general_ref(lhs, rhs, dn):
    (lc, rc), (lb, rb) = dn
    letters = iter("abcdefghijklmnop")
    ll = [None] * lhs.ndim
    rl = [None] * rhs.ndim
    for a, b in zip(lb + lc, rb + rc):
        ll[a] = rl[b] = next(letters)
    for x in (ll, rl):
        for i, v in enumerate(x):
            if v is None:
                x[i] = next(letters)
    out = ([ll[a] for a in lb] + [v for i, v in enumerate(ll) if i not in lb + lc]
           + [v for i, v in enumerate(rl) if i not in rb + rc])
    return np.einsum(f"{''.join(ll)},{''.join(rl)}->{''.join(out)}", lhs, rhs).astype(lhs.dtype)


register(OpInfo("lax_dot_general", ft.lax.dot_general, _dot_general_ref, _dot_general_sample,
                atol=1e-5))

# --------------------------------------------------------------------------- convolution


def _conv_sample(g: Gen, dtype):
    nsp = g.int(1, 2)
    grp = g.int(1, 2)
    n, cg, og = g.int(1, 2), g.int(1, 2), g.int(1, 2)
    k = [g.int(1, 3) for _ in range(nsp)]
    strides = tuple(g.int(1, 2) for _ in range(nsp))
    lhs_d = tuple(g.choice([1, 1, 2]) for _ in range(nsp))
    rhs_d = tuple(g.choice([1, 1, 2]) for _ in range(nsp))
    pads = tuple((g.int(-1, 2), g.int(-1, 2)) for _ in range(nsp))
    sp = []
    for kk, ld, rd, (lo, hi) in zip(k, lhs_d, rhs_d, pads):
        need = -(-max(0, (kk - 1) * rd - lo - hi) // ld) + 1   # dilated+padded >= kernel
        sp.append(need + g.int(0, 2))
    x = g.array((n, cg * grp, *sp), dtype)
    w = g.array((og * grp, cg, *k), dtype)
    return Sample((x, w, strides, pads, lhs_d, rhs_d, grp))


def _conv_ref(x, w, strides, pads, lhs_d, rhs_d, grp):
    """By definition: out[n, o, p] = sum_{i, t} x_pad[n, group(o) * I + i, p * s + t * r]
    * w[o, i, t]."""
    n, c, *sp = x.shape
    o, i_per, *k = w.shape
    dil = [(s - 1) * d + 1 for s, d in zip(sp, lhs_d)]
    xd = np.zeros((n, c, *dil))
    xd[(slice(None), slice(None), *[slice(None, None, d) for d in lhs_d])] = x
    out_sp = [max(0, (d + lo + hi - ((kk - 1) * r + 1)) // s + 1)
              for d, (lo, hi), kk, r, s in zip(dil, pads, k, rhs_d, strides)]
    out = np.zeros((n, o, *out_sp))
    og = o // grp
    for b, oc, *p in itertools.product(range(n), range(o), *map(range, out_sp)):
        acc = 0.0
        for ic in range(i_per):
            for t in itertools.product(*map(range, k)):
                coord = [pp * s + tt * r - lo for pp, s, tt, r, (lo, _) in
                         zip(p, strides, t, rhs_d, pads)]
                if all(0 <= cc < d for cc, d in zip(coord, dil)):
                    acc += xd[(b, (oc // og) * i_per + ic, *coord)] * w[(oc, ic, *t)]
        out[(b, oc, *p)] = acc
    return out.astype(x.dtype)


register(OpInfo("lax_conv_general_dilated", ft.lax.conv_general_dilated, _conv_ref,
                _conv_sample, atol=1e-5))

# --------------------------------------------------------------------------- windowed


def _window_sample(g: Gen, dtype):
    nd = g.int(1, 3)
    window = tuple(g.int(1, 3) for _ in range(nd))
    strides = tuple(g.int(1, 2) for _ in range(nd))
    # padding below the window size, so every window sees at least one real element
    pads = tuple((g.int(0, kk - 1), g.int(0, kk - 1)) for kk in window)
    shape = tuple(g.int(max(1, kk - lo - hi), 4) for kk, (lo, hi) in zip(window, pads))
    return Sample((g.array(shape, dtype), window, strides, pads))


def _window_ref(reduce, init):
    def ref(x, window, strides, pads):
        xp = np.full([n + lo + hi for n, (lo, hi) in zip(x.shape, pads)], init, np.float64)
        xp[tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape, pads))] = x
        out_sp = [(n - kk) // s + 1 for n, kk, s in zip(xp.shape, window, strides)]
        out = np.zeros(out_sp)
        for p in itertools.product(*map(range, out_sp)):
            out[p] = reduce(xp[tuple(slice(q * s, q * s + kk)
                                     for q, s, kk in zip(p, strides, window))])
        return out.astype(x.dtype)

    return ref


register(
    OpInfo("lax_reduce_window_max", ft.lax.reduce_window_max, _window_ref(np.max, -np.inf),
           _window_sample),
    OpInfo("lax_reduce_window_sum", ft.lax.reduce_window_sum, _window_ref(np.sum, 0.0),
           _window_sample, atol=1e-5),
)

# --------------------------------------------------------------------------- attention
# The fused attention (lax.dot_product_attention and its JVP/VJP primitives), directly and
# through F.scaled_dot_product_attention's maskless path. References: loops over queries.


def _attention_ref_rows(q, k, v, scale, causal):
    """(out, lse) by one softmax per query row, in float64, over [..., L, E] operands."""
    *lead, L, _ = q.shape
    S, F = v.shape[-2:]
    q, k, v = (x.astype(np.float64).reshape(-1, *x.shape[-2:]) for x in (q, k, v))
    out, lse = np.zeros((q.shape[0], L, F)), np.zeros((q.shape[0], L))
    for b, i in itertools.product(range(q.shape[0]), range(L)):
        n = min(i + 1, S) if causal else S
        s = np.array([scale * float(q[b, i] @ k[b, j]) for j in range(n)])
        m = s.max()
        w = np.exp(s - m)
        out[b, i] = (w / w.sum()) @ v[b, :n]
        lse[b, i] = m + np.log(w.sum())
    return out.reshape(*lead, L, F), lse.reshape(*lead, L)


def _attention_sample(g: Gen, dtype, lead=1):
    lead = tuple(g.int(1, 3) for _ in range(lead))
    L, S, E, F = g.int(1, 5), g.int(1, 5), g.int(1, 4), g.int(1, 4)
    qkv = [g.array(lead + s, dtype, -2.0, 2.0) for s in ((L, E), (S, E), (S, F))]
    return Sample((*qkv, g.choice([0.5, 1.3]), g.bool()))


def _lax_attention_sample(g: Gen, dtype):
    B, H = g.int(1, 2), g.int(1, 3)
    L, S, E, F = g.int(1, 5), g.int(1, 5), g.int(1, 4), g.int(1, 4)
    qkv = [g.array((B, n, H, d), dtype, -2.0, 2.0) for n, d in ((L, E), (S, E), (S, F))]
    return Sample((*qkv, g.choice([0.5, 1.3]), g.bool()))


def _lax_attention_ref(q, k, v, scale, causal):
    o, lse = _attention_ref_rows(*(np.swapaxes(x, 1, 2) for x in (q, k, v)), scale, causal)
    return [np.swapaxes(o, 1, 2).astype(q.dtype), lse.astype(q.dtype)]


def _sdpa_sample(g: Gen, dtype):
    s = _attention_sample(g, dtype, g.int(0, 2))
    return Sample(s.args[:3], {"is_causal": s.args[4],
                               "scale": g.choice([None, s.args[3]])})


def _sdpa_ref(q, k, v, is_causal=False, scale=None):
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    return _attention_ref_rows(q, k, v, scale, is_causal)[0].astype(q.dtype)


register(
    OpInfo("lax_dot_product_attention", ft.lax.dot_product_attention, _lax_attention_ref,
           _lax_attention_sample, dtypes=(np.float32, np.float64), atol=1e-5),
    OpInfo("scaled_dot_product_attention_fused", ft.nn.functional.scaled_dot_product_attention,
           _sdpa_ref, _sdpa_sample, atol=1e-5),
)
