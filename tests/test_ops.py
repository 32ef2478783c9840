"""Generic checks driven by the op table: every entry gets every check."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funtorch as ft

from op_table import OPS, HypGen, RngGen

IDS = [op.name for op in OPS]
DIFF = [op for op in OPS if op.differentiable]
VMAP = [op for op in OPS if op.vmap]
JIT = [op for op in OPS if op.jit]


# --------------------------------------------------------------------------- plumbing

def split(sample):
    """(dynamic numpy leaves, rebuild(values) -> (args, kwargs))."""
    leaves, treedef = ft.tree.flatten((sample.args, sample.kwargs))
    dyn = [i for i, x in enumerate(leaves) if isinstance(x, np.ndarray)]

    def rebuild(vals):
        new = list(leaves)
        for i, v in zip(dyn, vals):
            new[i] = v
        return ft.tree.unflatten(treedef, new)

    return [leaves[i] for i in dyn], rebuild


def call_ft(op, sample):
    dyn, rebuild = split(sample)

    def f(*xs):
        args, kwargs = rebuild(xs)
        return op.fn(*args, **kwargs)

    return f, dyn


def as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def assert_close(actual, expected, rtol, atol, check_dtype=True, what=""):
    actual, expected = as_list(actual), as_list(expected)
    assert len(actual) == len(expected), what
    for a, e in zip(actual, expected):
        e = np.asarray(e)
        a_np = np.asarray(a)
        assert a_np.shape == e.shape, f"{what}: shape {a_np.shape} != {e.shape}"
        if check_dtype:
            assert a_np.dtype == e.dtype, f"{what}: dtype {a_np.dtype} != {e.dtype}"
        if e.dtype == np.bool_ or np.issubdtype(e.dtype, np.integer):
            np.testing.assert_array_equal(a_np, e, err_msg=what)
        else:
            np.testing.assert_allclose(a_np.astype(np.float64), e.astype(np.float64),
                                       rtol=rtol, atol=atol, err_msg=what)


def samples(op, dtype, n=3):
    return [op.sample(RngGen(seed), dtype) for seed in range(n)]


def float_positions(dyn):
    return [i for i, x in enumerate(dyn) if np.issubdtype(x.dtype, np.floating)]


# --------------------------------------------------------------------------- eager vs numpy

@pytest.mark.parametrize("op", OPS, ids=IDS)
@given(data=st.data())
def test_eager_vs_numpy(op, data):
    dtype = data.draw(st.sampled_from(op.dtypes))
    sample = op.sample(HypGen(data.draw), dtype)
    f, dyn = call_ft(op, sample)
    expected = op.ref(*sample.args, **sample.kwargs)
    actual = f(*[ft.asarray(x) for x in dyn])
    assert_close(actual, expected, op.rtol, op.atol, op.check_dtype, op.name)


# --------------------------------------------------------------------------- derivatives

def _random_like(rng, x):
    return rng.standard_normal(x.shape).astype(x.dtype)


def _tangent_samples(op, rng):
    """``(f, dyn, fpos, ts)`` for each float64 sample of ``op`` with float inputs: numpy
    tangents, random at the float positions ``fpos`` and float0 zeros elsewhere."""
    for sample in samples(op, np.float64):
        f, dyn = call_ft(op, sample)
        fpos = float_positions(dyn)
        if fpos:
            yield f, dyn, fpos, [_random_like(rng, x) if i in fpos else
                                 np.zeros(x.shape, ft.float0) for i, x in enumerate(dyn)]


def _tangent_args(ts, fpos):
    return tuple(ft.asarray(t) if i in fpos else t for i, t in enumerate(ts))


@pytest.mark.parametrize("op", DIFF, ids=[o.name for o in DIFF])
def test_jvp_vs_finite_differences(op):
    for f, dyn, fpos, ts in _tangent_samples(op, np.random.default_rng(0)):
        x64 = [ft.asarray(x) for x in dyn]
        _, t_out = ft.jvp(f, tuple(x64), _tangent_args(ts, fpos))
        eps = op.fd_eps
        plus = f(*[ft.asarray(x + eps * t) if i in fpos else ft.asarray(x)
                   for i, (x, t) in enumerate(zip(dyn, ts))])
        minus = f(*[ft.asarray(x - eps * t) if i in fpos else ft.asarray(x)
                    for i, (x, t) in enumerate(zip(dyn, ts))])
        for t_o, p, m in zip(as_list(t_out), as_list(plus), as_list(minus)):
            if not np.issubdtype(np.asarray(p).dtype, np.floating):
                continue
            fd = (np.asarray(p) - np.asarray(m)) / (2 * eps)
            np.testing.assert_allclose(np.asarray(t_o), fd, rtol=op.grad_rtol,
                                       atol=op.grad_atol, err_msg=op.name)


@pytest.mark.parametrize("op", DIFF, ids=[o.name for o in DIFF])
def test_vjp_vs_jvp(op):
    """<ct, J t> == <J^T ct, t>: reverse mode is the transpose of forward mode."""
    rng = np.random.default_rng(1)
    for f, dyn, fpos, ts in _tangent_samples(op, rng):
        xs = [ft.asarray(x) for x in dyn]
        ts = _tangent_args(ts, fpos)
        out, t_out = ft.jvp(f, tuple(xs), ts)
        out2, vjp_fn = ft.vjp(f, *xs)
        cts = ft.tree.map(lambda o: ft.asarray(rng.standard_normal(np.shape(o)).astype(
            np.asarray(o).dtype)) if np.issubdtype(np.asarray(o).dtype, np.floating)
            else np.zeros(np.shape(o), ft.float0), out)
        ct_in = vjp_fn(cts)
        lhs = sum(float(np.vdot(np.asarray(c), np.asarray(t)))
                  for c, t in zip(as_list(cts), as_list(t_out))
                  if np.asarray(c).dtype != ft.float0)
        rhs = sum(float(np.vdot(np.asarray(ct_in[i]), np.asarray(ts[i]))) for i in fpos)
        np.testing.assert_allclose(lhs, rhs, rtol=1e-6, atol=1e-8, err_msg=op.name)
        assert_close(out2, out, 1e-12, 1e-12, True, op.name + " vjp primal")


# --------------------------------------------------------------------------- vmap

def _in_axes_configs(dyn):
    """All batched at 0; then each argument alone batched at its last axis."""
    configs = [[0] * len(dyn)]
    for i, x in enumerate(dyn):
        cfg = [None] * len(dyn)
        cfg[i] = x.ndim  # a new trailing axis
        configs.append(cfg)
    return configs


@pytest.mark.parametrize("op", VMAP, ids=[o.name for o in VMAP])
def test_vmap_vs_loop(op):
    rng = np.random.default_rng(2)
    B = 3
    for sample in samples(op, op.dtypes[0], 2):
        f, dyn = call_ft(op, sample)
        if not dyn:
            continue
        for cfg in _in_axes_configs(dyn):
            per = []
            for _ in range(B):
                per.append([(_random_like(rng, x) if np.issubdtype(x.dtype, np.floating)
                             else x) if ax is not None else x
                            for x, ax in zip(dyn, cfg)])
            batched = [np.stack([p[i] for p in per], axis=ax) if ax is not None else x
                       for i, (x, ax) in enumerate(zip(dyn, cfg))]
            got = ft.vmap(f, in_axes=tuple(cfg))(*[ft.asarray(b) for b in batched])
            want = [f(*[ft.asarray(v) for v in p]) for p in per]
            got_l = as_list(got)
            for k in range(len(got_l)):
                stacked = np.stack([np.asarray(as_list(w)[k]) for w in want])
                assert_close(got_l[k], stacked, op.rtol, op.atol, True,
                             f"{op.name} in_axes={cfg}")


# --------------------------------------------------------------------------- jit

@pytest.mark.parametrize("op", JIT, ids=[o.name for o in JIT])
def test_jit_vs_eager(op):
    for sample in samples(op, op.dtypes[0]):
        f, dyn = call_ft(op, sample)
        xs = [ft.asarray(x) for x in dyn]
        assert_close(ft.jit(f)(*xs), f(*xs), op.rtol, op.atol, True, op.name)
        g = ft.make_graph(f)(*xs)
        assert ft.typecheck(g.graph)
        str(g)


@pytest.mark.parametrize("op", DIFF, ids=[o.name for o in DIFF])
def test_grad_graph_typechecks(op):
    sample = samples(op, np.float32, 1)[0]
    f, dyn = call_ft(op, sample)
    fpos = float_positions(dyn)
    assert fpos, f"{op.name}: a differentiable op's sample has no float argument"

    def loss(*xs):
        return sum(ft.sum(o) for o in as_list(f(*xs))
                   if np.issubdtype(o.dtype, np.floating))

    xs = [ft.asarray(x) for x in dyn]
    g = ft.make_graph(ft.grad(loss, argnums=tuple(fpos)))(*xs)
    assert ft.typecheck(g.graph)
