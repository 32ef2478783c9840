"""The differential fuzzer: random straight-line programs (tests/fuzz_programs.py) run
eagerly, jitted by the Numba CPU compiler and by the reference interpreter, differentiated
(grad, jvp, vjp, their compositions with jit and vmap), batched, and in JAX; the results
must agree.

Telling rounding from bugs: a float32 result is compared with the same program re-run in
float64. An element where float32 eager is itself far from float64 is ill-conditioned
(cancellation, overflow): the two float32 results may differ there. Elsewhere they must
agree to a few ulps, with the same NaN/inf pattern. A reduction may sum in any order (the
one freedom compiled code has): where terms cancel, that changes the result by up to
``n * eps * sum(|terms|)``, carried through the rest of the program by a running error
analysis of the traced graph (tests/fuzz_bounds.py); a difference within that bound is
the order's, one beyond it a bug.

The ``ci`` hypothesis profile runs a few derandomized programs per test; ``make fuzz``
(``FUNTORCH_FUZZ_EXAMPLES=5000``) runs thousands. A failure prints the program.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from fuzz_bounds import radii
from fuzz_programs import FT, Program, inputs, jax_namespace, programs, run, shapes_of
from hypothesis import example, given, settings
from hypothesis import strategies as st

import funtorch as ft

LONG = int(os.environ.get("FUNTORCH_FUZZ_EXAMPLES", "0"))


def examples(ci):
    return settings(max_examples=LONG or ci)


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.filterwarnings("error", message=".*failed to compile.*")
        yield


# --------------------------------------------------------------------------- comparison

def _cls(a):
    """0 finite, 1 +inf, 2 -inf, 3 NaN."""
    a = np.asarray(a, np.float64)
    return np.select([np.isnan(a), a == np.inf, a == -np.inf], [3, 1, 2], 0)


def _close(a, b, rtol, atol=0.0):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    same = _cls(a) == _cls(b)
    fin = same & (_cls(a) == 0)
    with np.errstate(all="ignore"):
        ok = np.abs(a - b) <= atol + rtol * np.maximum(np.abs(a), np.abs(b))
    return same & (~fin | ok)


def _ill(lo, hi, rtol):
    """Elements where the low-precision run is far from the float64 one."""
    return ~_close(lo, hi, rtol, atol=rtol)


RTOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-10, np.dtype(np.float16): 4e-3}


def within_bound(g, w, r):
    """Where two results both lie within ``r`` of one center (fuzz_bounds.radii): no
    bound (``r = inf``), or finite and at most ``2 r`` apart; a non-finite pair only of
    one class (``_close`` accepted those already)."""
    g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
    fin = (_cls(g) == 0) & (_cls(w) == 0)
    with np.errstate(invalid="ignore"):
        return (r == np.inf) | (fin & (np.abs(g - w) <= 2 * r))


def bounded(fn, *args):
    """Lazily: the radii of ``fn(*args)``'s output leaves (computed on a disagreement)."""
    cache = []

    def get():
        if not cache:
            cache.append(radii(fn, *args)[1])
        return cache[0]
    return get


def agree(what, program, got, want, got64=None, want64=None, probe=None, bound=None):
    """``got`` and ``want``: trees of arrays of one dtype; ``got64``/``want64``: the same
    computations on float64 inputs (for a float32/float16 run); ``probe``: a
    (lower precision, float64) pair of eager runs whose disagreement marks ill-conditioned
    elements (for a float64 run: the float32 re-run); ``bound``: ``bounded(fn, *args)``
    of the computation, whose radii accept what a summation order may change."""
    gl, gt = ft.tree.flatten(got)
    wl, wt = ft.tree.flatten(want)
    assert gt == wt, f"{what}: structures differ: {gt} != {wt}\n{program}"
    n = len(wl)
    g64 = ft.tree.flatten(got64)[0] if got64 is not None else [None] * n
    w64 = ft.tree.flatten(want64)[0] if want64 is not None else [None] * n
    p_lo = ft.tree.flatten(probe[0])[0] if probe is not None else [None] * n
    p_hi = ft.tree.flatten(probe[1])[0] if probe is not None else [None] * n
    for k, (g, w) in enumerate(zip(gl, wl)):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, \
            f"{what}: output {k}: {g.dtype}{g.shape} != {w.dtype}{w.shape}\n{program}"
        if w.dtype.kind not in "fc":
            np.testing.assert_array_equal(g, w, err_msg=f"{what}: output {k}\n{program}")
            continue
        bad = ~_close(g, w, RTOL[w.dtype], atol=RTOL[w.dtype] * 1e-3)
        if not bad.any():
            continue
        if g64[k] is not None:          # low precision: judged against the float64 runs
            a64, b64 = np.asarray(g64[k]), np.asarray(w64[k])
            # a class change against its own float64 run (overflow, underflow to 0 then
            # 1/0): ill-conditioned; finite elements may differ by a few times the larger
            # of the two runs' own errors against float64 (1 - tanh(x)^2 near tanh = 1)
            bad &= (_cls(w) == _cls(b64)) & (_cls(g) == _cls(a64))
            fin = (_cls(g) == 0) & (_cls(w) == 0) & (_cls(a64) == 0) & (_cls(b64) == 0)
            gf, wf = g.astype(np.float64), w.astype(np.float64)
            with np.errstate(all="ignore"):
                rel = np.maximum(np.abs(wf - b64) / np.maximum(np.abs(b64), 1e-300),
                                 np.abs(gf - a64) / np.maximum(np.abs(a64), 1e-300))
                within = np.abs(gf - wf) <= (RTOL[w.dtype] + 4 * rel) * np.maximum(
                    np.abs(gf), np.abs(wf)) + RTOL[w.dtype] * 1e-3
            bad &= ~(fin & within)
        if p_lo[k] is not None:         # float64: ill-conditioned where float32 is far off
            lo, hi = np.asarray(p_lo[k]), np.asarray(p_hi[k])
            finite = (_cls(g) == 0) & (_cls(w) == 0)
            bad &= ~(finite & _ill(lo, hi, 1e-4))
        if bad.any() and bound is not None:     # within a summation order's error
            bad &= ~within_bound(g, w, bound()[k])
        if bad.any():
            i = tuple(np.argwhere(bad)[0])
            raise AssertionError(
                f"{what}: output {k} differs at {i}: got {g[i]!r}, want {w[i]!r} "
                f"({int(bad.sum())} of {bad.size} elements)\n{program}")


def _loss(program):
    """A scalar of every output: sum_k sum(out_k * w_k), w fixed by the shapes."""
    shapes = shapes_of(program)
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(shapes[o]) for o in program.outputs]

    def loss(*args):
        outs = run(FT, program, args)
        total = 0.0
        for o, w in zip(outs, weights):
            total = total + ft.sum(o * w.astype(o.dtype))
        return ft.asarray(total, args[0].dtype) if not hasattr(total, "dtype") else total
    return loss


def _fn(program):
    return lambda *args: run(FT, program, args)


def _argnums(program):
    return tuple(range(len(program.input_shapes)))


def _cast(xs, dtype):
    return [np.asarray(x).astype(dtype) for x in xs]


def _interpreted(fn):
    """``jit(fn)`` through the reference lowering (the backend is chosen at compile)."""
    jitted = ft.jit(fn)

    def call(*args):
        old = os.environ.get("FUNTORCH_CPU_BACKEND")
        os.environ["FUNTORCH_CPU_BACKEND"] = "interpret"
        try:
            return jitted(*args)
        finally:
            if old is None:
                del os.environ["FUNTORCH_CPU_BACKEND"]
            else:
                os.environ["FUNTORCH_CPU_BACKEND"] = old
    return call


float_programs = programs("f")
seeds = st.integers(0, 2 ** 16)


# --------------------------------------------------------------------------- backends

# issue 11: a NaN gradient beside a sum vanished under LLVM fast-math
SQRT_OF_ZERO_SUM = Program(((2,),), (("sub", (0, 0), None), ("sqrt", (1,), None),
                                     ("sum", (2,), None)), (3,))


@examples(8)
@given(float_programs, seeds, st.booleans())
@example(SQRT_OF_ZERO_SUM, 1, False)
def test_jit_and_interpreter_match_eager(program, seed, special):
    xs = inputs(program, np.float32, seed, special)
    x64 = _cast(xs, np.float64)
    f, loss = _fn(program), _loss(program)
    vg = ft.value_and_grad(loss, argnums=_argnums(program))
    e32, e64 = f(*xs), f(*x64)
    ve32, ve64 = vg(*xs), vg(*x64)
    b32, b64 = bounded(f, *xs), bounded(f, *x64)
    bvg32, bvg64 = bounded(vg, *xs), bounded(vg, *x64)
    for name, jit in (("jit", ft.jit), ("interpret", _interpreted)):
        jf, jvg = jit(f), jit(vg)
        agree(name, program, jf(*xs), e32, jf(*x64), e64, bound=b32)
        agree(f"{name} float64", program, jf(*x64), e64, probe=(e32, e64), bound=b64)
        agree(f"{name}(value_and_grad)", program, jvg(*xs), ve32, jvg(*x64), ve64,
              bound=bvg32)
        agree(f"{name}(value_and_grad) float64", program, jvg(*x64), ve64,
              probe=(ve32, ve64), bound=bvg64)


@examples(4)
@given(programs("i"), seeds)
def test_integer_programs_match_exactly(program, seed):
    for dtype in (np.int32, np.int64, np.uint8):
        xs = inputs(program, dtype, seed)
        want = _fn(program)(*xs)
        agree("jit int", program, ft.jit(_fn(program))(*xs), want)
        agree("interpret int", program, _interpreted(_fn(program))(*xs), want)


@examples(3)
@given(float_programs, seeds)
def test_half_precision_programs(program, seed):
    xs = inputs(program, np.float16, seed)
    x64 = _cast(xs, np.float64)
    f = _fn(program)
    jf = ft.jit(f)
    agree("jit float16", program, jf(*xs), f(*xs), jf(*x64), f(*x64),
          bound=bounded(f, *xs))


# --------------------------------------------------------------------------- derivatives

def _directions(xs, seed):
    rng = np.random.default_rng(seed + 1)
    return [rng.standard_normal(np.shape(x)) for x in xs]


def _vdot(a, b):
    return sum(float(np.vdot(np.asarray(x, np.float64), np.asarray(y, np.float64)))
               for x, y in zip(a, b))


@examples(6)
@given(float_programs, seeds)
def test_grad_matches_finite_differences(program, seed):
    if any(name in ("floor", "sign") for name, _, _ in program.steps):
        return    # steps: finite differences see the staircase's slope (floor(1/x) near 0)
    xs = inputs(program, np.float64, seed)
    loss = _loss(program)
    L = float(loss(*xs))
    if not np.isfinite(L):
        return
    grads = ft.grad(loss, argnums=_argnums(program))(*xs)
    v = _directions(xs, seed)

    def fd(h):
        up = loss(*[x + h * d for x, d in zip(xs, v)])
        down = loss(*[x - h * d for x, d in zip(xs, v)])
        return (float(up) - float(down)) / (2 * h)
    a, b = fd(1e-4), fd(1e-5)
    scale = 1 + abs(a)
    if not (np.isfinite(a) and np.isfinite(b)) or abs(a - b) > 1e-5 * scale:
        return        # not smooth here (a kink, a floor step): no derivative to check
    got = _vdot(grads, v)
    if not np.isfinite(got):
        # the chain rule meets 0 * inf (exp(log(0)) is 0 near x, but log'(0) is inf):
        # NaN, as JAX; the JAX test compares those
        return
    assert abs(got - b) <= 1e-5 * scale, f"grad.v = {got}, finite differences {b}\n{program}"


@examples(6)
@given(float_programs, seeds, st.booleans())
def test_jvp_matches_vjp_and_linearize(program, seed, special):
    xs = inputs(program, np.float64, seed, special)
    f = _fn(program)
    t = _directions(xs, seed)
    outs, jt = ft.jvp(f, tuple(xs), tuple(t))
    _, f_jvp = ft.linearize(f, *xs)
    agree("linearize vs jvp", program, f_jvp(*t), jt)
    _, pullback = ft.vjp(f, *xs)
    c = [np.random.default_rng(seed + 2).standard_normal(np.shape(o)) for o in outs]
    ct = pullback(tuple(c))
    lhs, rhs = _vdot(c, jt), _vdot(ct, t)
    if not (np.isfinite(lhs) and np.isfinite(rhs)):
        # a NaN tangent need not show in the pullback: the mean of an empty array has a
        # NaN jvp and an empty vjp (as JAX)
        return
    assert abs(lhs - rhs) <= 1e-8 * (1 + abs(lhs) + abs(rhs)), f"{lhs} vs {rhs}\n{program}"


@examples(6)
@given(float_programs, seeds, st.booleans())
def test_transformation_compositions(program, seed, special):
    """jit(grad), vmap(grad), jit(vmap(grad)) against grad and a loop; grad(grad) (as a
    Hessian-vector product, reverse over reverse) against jvp(grad) (forward over
    reverse): equal for the symmetric Hessian."""
    xs = inputs(program, np.float64, seed, special)
    x32 = _cast(xs, np.float32)
    loss, nums = _loss(program), _argnums(program)
    g = ft.grad(loss, argnums=nums)
    want = g(*xs)
    probe = (g(*x32), want)
    agree("jit(grad)", program, ft.jit(g)(*xs), want, probe=probe, bound=bounded(g, *xs))

    # a batch of three along a new leading axis of the first input
    batch = np.stack([xs[0], xs[0] * 0.5, -xs[0]])
    in_axes = (0,) + (None,) * (len(xs) - 1)
    loop = [g(b, *xs[1:]) for b in batch]
    loop = ft.tree.map(lambda *leaves: np.stack([np.asarray(v) for v in leaves]), *loop)
    vg = ft.vmap(g, in_axes=in_axes)
    b32 = batch.astype(np.float32)
    loop32 = [g(b, *x32[1:]) for b in b32]
    loop32 = ft.tree.map(lambda *leaves: np.stack([np.asarray(v) for v in leaves]), *loop32)
    agree("vmap(grad)", program, vg(batch, *xs[1:]), loop, probe=(loop32, loop))
    agree("jit(vmap(grad))", program, ft.jit(vg)(batch, *xs[1:]), loop, probe=(loop32, loop))
    agree("vmap", program, ft.vmap(_fn(program), in_axes=in_axes)(batch, *xs[1:]),
          ft.tree.map(lambda *v: np.stack([np.asarray(a) for a in v]),
                      *[_fn(program)(b, *xs[1:]) for b in batch]))

    v = _directions(xs, seed)
    hvp_rr = ft.grad(lambda *a: sum(ft.sum(gi * vi) for gi, vi in zip(g(*a), v)),
                     argnums=nums)(*xs)
    _, hvp_fr = ft.jvp(g, tuple(xs), tuple(v))
    # the float32 run marks ill-conditioned elements (second derivatives cancel terms of
    # 1/x^2 at x = 1e-30, say); with special values the two orders may meet 0 * inf at
    # different places, so only finite pairs are compared there
    _, hvp32 = ft.jvp(g, tuple(x32), tuple(_cast(v, np.float32)))
    for k, (a, b, lo) in enumerate(zip(hvp_rr, hvp_fr, hvp32)):
        a, b, lo = np.asarray(a), np.asarray(b), np.asarray(lo)
        finite = np.isfinite(a) & np.isfinite(b)
        scale = 1 + float(np.max(np.abs(b[finite]), initial=0))
        bad = ~_close(a, b, 1e-6, 1e-7 * scale) & ~_ill(lo, b, 1e-3)
        if special:
            bad &= finite
        assert not bad.any(), (f"grad(grad) input {k} at {np.argwhere(bad)[0]}: "
                               f"{a[bad][0]!r} vs jvp(grad) {b[bad][0]!r}\n{program}")


# --------------------------------------------------------------------------- JAX

@examples(8)
@given(float_programs, seeds, st.booleans())
def test_values_and_gradients_match_jax(program, seed, special):
    jax = pytest.importorskip("jax")
    xs = inputs(program, np.float64, seed, special)
    x32 = _cast(xs, np.float32)
    loss, nums = _loss(program), _argnums(program)
    vg = ft.value_and_grad(loss, argnums=nums)
    want, want32 = vg(*xs), vg(*x32)
    out, out32 = _fn(program)(*xs), _fn(program)(*x32)
    jns = jax_namespace()
    shapes = shapes_of(program)
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(shapes[o]) for o in program.outputs]

    def jloss(*args):
        outs = run(jns, program, args)
        return sum(jns.sum(o * w) for o, w in zip(outs, weights)) + jns.zeros((), args[0].dtype)

    with jax.enable_x64(True):
        jx = [jax.numpy.asarray(x) for x in xs]
        jout = run(jns, program, jx)
        jvg = jax.value_and_grad(jloss, argnums=nums)(*jx)
        jout = tuple(np.asarray(o) for o in jout)
        jvg = (np.asarray(jvg[0]), tuple(np.asarray(g) for g in jvg[1]))
    agree("values vs JAX", program, tuple(np.asarray(o) for o in out), jout,
          probe=(out32, out))
    got = (np.asarray(want[0]), tuple(np.asarray(g) for g in want[1]))
    lo = (np.asarray(want32[0]), tuple(np.asarray(g) for g in want32[1]))
    agree("value_and_grad vs JAX", program, got, jvg, probe=(lo, got))
