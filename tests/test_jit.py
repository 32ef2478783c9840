"""jit: tracing once per signature, retracing on new shapes/dtypes/pytrees/static values,
static and donated arguments, results equal to eager; and the IR: make_graph's printed
graphs, the type checker, and graphs of transformed functions."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import X3, clip_grad_sin, f_scalar, f_scalar_grad_np, rng
from helpers import close64 as close
from helpers import tree_close64 as tree_close

import funtorch as ft

# --------------------------------------------------------------------------- jit: caching, statics

class Counter:
    def __init__(self, fun):
        self.n = 0
        self.fun = fun

    def __call__(self, *args, **kwargs):
        self.n += 1
        return self.fun(*args, **kwargs)


def test_jit_of_callable_object_and_of_jitted_function_keep_their_own_state():
    # regression: JitFunction used functools.update_wrapper, which copied the wrapped
    # object's __dict__ (attributes `fun`, `_cache`, `static_argnums`...) over its own
    class Model:
        def __init__(self):
            self.fun = None   # an attribute name JitFunction also uses
            self.n = 0

        def __call__(self, x):
            self.n += 1
            return x * 3.0

    m = Model()
    f = ft.jit(m)
    close(f(X3), 3 * X3)
    f(X3)
    assert m.n == 1
    calls = []

    def g(x, k):
        calls.append(k)
        return x * k

    inner = ft.jit(g, static_argnums=1)
    outer = ft.jit(inner, static_argnums=1)
    close(outer(X3, 5), 5 * X3)
    close(inner(X3, 6), 6 * X3)
    assert outer._cache is not inner._cache
    assert outer.cache_size == 1 and inner.cache_size >= 1


def test_jit_traces_once_per_signature():
    c = Counter(lambda x, y: x * 2.0 + y)
    f = ft.jit(c)
    x32 = np.ones(3, np.float32)
    close(f(x32, x32), np.full(3, 3.0, np.float32))
    f(x32 + 1, x32)
    f(np.zeros(3, np.float32), np.ones(3, np.float32))
    assert c.n == 1, "same shapes/dtypes must not retrace"
    f(np.ones(4, np.float32), np.ones(4, np.float32))
    assert c.n == 2, "a new shape retraces"
    f(np.ones(4, np.float64), np.ones(4, np.float64))
    assert c.n == 3, "a new dtype retraces"
    f(np.ones(3, np.float32), np.ones(3, np.float32))
    f(np.ones(4, np.float64), np.ones(4, np.float64))
    assert c.n == 3, "earlier signatures stay cached"
    # ft arrays and numpy arrays of the same type share a signature
    f(ft.ones(3, ft.float32), ft.asarray(x32))
    assert c.n == 3


def test_jit_traces_once_across_eager_grad_and_vmap_calls():
    n = [0]

    def f(x):
        n[0] += 1
        return ft.sin(x) * 2.0

    jf = ft.jit(f)
    close(jf(X3), 2 * np.sin(X3))
    close(ft.grad(lambda x: ft.sum(jf(x)))(X3), 2 * np.cos(X3))
    close(ft.grad(lambda x: ft.sum(jf(x)))(X3 + 1), 2 * np.cos(X3 + 1))
    close(ft.vmap(jf)(np.stack([X3, X3])), 2 * np.sin(np.stack([X3, X3])))
    close(ft.jit(lambda x: jf(x) + 1.0)(X3), 2 * np.sin(X3) + 1)
    assert n[0] == 1, f"one signature (f64[3]) must trace once, traced {n[0]} times"
    jf(np.ones(2))
    assert n[0] == 2


def test_vmap_of_jit_with_different_batch_sizes_and_axes():
    jf = ft.jit(lambda a, b: ft.sum(a * b))
    A = rng(21).normal(size=(5, 3))
    B = rng(22).normal(size=(3, 4))
    close(ft.vmap(jf, in_axes=(0, None))(A, B[:, 0]), A @ B[:, 0])
    close(ft.vmap(jf, in_axes=(None, 1))(A[0], B), A[0] @ B)
    close(ft.vmap(jf, in_axes=(0, None))(A[:2], B[:, 1]), A[:2] @ B[:, 1])
    close(ft.vmap(ft.vmap(jf, in_axes=(None, 1)), in_axes=(0, None))(A, B), A @ B)


def test_jit_retraces_on_pytree_structure_and_static_values():
    def body(p, k):
        return ft.sum(p["a"]) * k + (p["b"] if "b" in p else 0.0)

    c = Counter(body)
    f = ft.jit(c, static_argnums=1)
    a = np.ones(3)
    close(f({"a": a}, 2), 6.0)
    close(f({"a": a}, 2), 6.0)
    assert c.n == 1
    close(f({"a": a}, 3), 9.0)
    assert c.n == 2, "a new static value retraces"
    close(f({"a": a, "b": np.float64(1.0)}, 3), 10.0)
    assert c.n == 3, "a new pytree structure retraces"
    close(f({"a": a, "b": np.float64(5.0)}, 3), 14.0)
    assert c.n == 3


def test_jit_static_argnums_allows_python_control_flow():
    @ft.jit
    def plain(x):
        return x

    f = ft.jit(lambda x, mode: ft.sin(x) if mode == "sin" else ft.cos(x), static_argnums=(1,))
    close(f(X3, "sin"), np.sin(X3))
    close(f(X3, "cos"), np.cos(X3))
    g = ft.jit(lambda x, n: x * n, static_argnums=-1)
    close(g(X3, 3), X3 * 3)
    close(plain(X3), X3)


def test_jit_static_argnames_positional_and_keyword():
    c = Counter(lambda x, n=1, scale=1.0: ft.sum(x ** n) * scale)
    f = ft.jit(c, static_argnames=("n",))
    close(f(X3, n=2), np.sum(X3 ** 2))
    close(f(X3, 2), np.sum(X3 ** 2))
    close(f(X3, n=3), np.sum(X3 ** 3))
    # dynamic keyword argument
    close(f(X3, n=2, scale=np.float64(2.0)), 2 * np.sum(X3 ** 2))
    close(f(X3, n=2, scale=np.float64(5.0)), 5 * np.sum(X3 ** 2))
    n_after = c.n
    f(X3, n=2, scale=np.float64(7.0))
    assert c.n == n_after


def test_jit_decorator_form_with_options():
    @ft.jit(static_argnames="k")
    def f(x, k):
        for _ in range(k):
            x = ft.sin(x)
        return x

    close(f(X3, k=2), np.sin(np.sin(X3)))


def test_jit_unhashable_static_argument_is_a_clear_type_error():
    f = ft.jit(lambda x, cfg: x * len(cfg), static_argnums=1)
    with pytest.raises(TypeError, match="hashable"):
        f(X3, [1, 2])
    close(f(X3, (1, 2)), 2 * X3)


def test_jit_donate_argnums_accepted():
    f = ft.jit(lambda x, y: x + y, donate_argnums=(0,))
    close(f(X3, X3), 2 * X3)
    close(f(np.ones(3), X3), 1 + X3)


def test_jit_kwargs_pytrees_scalars():
    c = Counter(lambda params, x, *, bias: {"out": params["w"] * x + bias,
                                            "aux": (ft.sum(x), [params["w"]])})
    f = ft.jit(c)
    p = {"w": np.array([1.0, 2.0])}
    out = f(p, np.array([3.0, 4.0]), bias=np.float64(0.5))
    tree_close(out, {"out": np.array([3.5, 8.5]), "aux": (np.float64(7.0), [np.array([1.0, 2.0])])})
    # Python scalars as dynamic arguments
    g = ft.jit(lambda x, s: x * s)
    close(g(np.float32(2.0) * np.ones(2, np.float32), 3.0), np.full(2, 6.0, np.float32))
    close(g(np.ones(2, np.float32), 4.0), np.full(2, 4.0, np.float32))
    close(ft.jit(lambda a, b: a + b)(2.0, 3.0), 5.0)
    close(ft.jit(lambda a, b: a * b)(2, 3), 6)


def test_jit_result_matches_eager_for_various_outputs():
    f = ft.jit(lambda x: (x, ft.exp(x), ft.sum(x, axis=0), x.astype(ft.float32)))
    x = rng(9).normal(size=(2, 3))
    a, b, s, c = f(x)
    close(a, x)
    close(b, np.exp(x))
    close(s, x.sum(0))
    assert np.asarray(c).dtype == np.float32


def test_jit_constant_output_and_unused_input():
    f = ft.jit(lambda x, y: ft.ones(2) * 3.0)
    close(f(X3, X3), np.full(2, 3.0))
    close(ft.grad(lambda x: ft.sum(ft.jit(lambda a, b: a * 2.0)(x, ft.sin(x))))(X3),
          np.full(3, 2.0))


@pytest.mark.parametrize("dtype,scalar", [
    (ft.float32, 2), (ft.float16, 2.0), (ft.bfloat16, 2.0), (ft.int32, 2), (ft.uint8, 2),
    (ft.int64, 2.0), (ft.float32, True)])
def test_jit_python_scalar_arguments_are_weakly_typed(dtype, scalar):
    x = ft.ones(3, dtype)
    want = (x * scalar).dtype   # eager: a Python scalar never widens the array
    assert ft.jit(lambda a, s: a * s)(x, scalar).dtype == want
    assert ft.jit(lambda a, s: s + a)(x, scalar).dtype == want
    # weakness survives arithmetic on weak values (JAX's weak-type propagation)
    assert ft.jit(lambda a, s: a * (s + 1))(x, scalar).dtype == (x * (scalar + 1)).dtype
    assert ft.jit(lambda a, s: a - (-s) * 2)(x, scalar).dtype == want
    # and through a nested jit, vmap, grad and the control-flow primitives
    assert ft.jit(lambda a, s: ft.jit(lambda b, t: b * t)(a, s))(x, scalar).dtype == want
    assert ft.jit(lambda a, s: ft.vmap(lambda b: b * s)(a))(x, scalar).dtype == want
    assert ft.jit(lambda a, s: ft.cond(True, lambda: a * s, lambda: s * a))(x, scalar).dtype \
        == want


def test_jit_weak_scalar_values_and_standalone_dtypes():
    x = ft.ones(3, ft.float16)
    close(ft.jit(lambda a, s: a * (s * 0.5))(x, 3), np.full(3, 1.5))
    assert ft.jit(lambda a, s: a * (s * 0.5))(x, 3).dtype == ft.float16
    # alone, a Python scalar argument has the default dtype of its kind
    assert ft.jit(lambda s: s * 2)(2).dtype == ft.int64
    assert ft.jit(lambda s: s * 2)(2.0).dtype == ft.float32
    assert ft.jit(lambda s: s)(True).dtype == ft.bool_
    # an explicit cast, numpy scalars and arrays made inside the function are strong
    assert ft.jit(lambda a, s: a * s.astype(ft.float16))(ft.ones(3), 2).dtype == ft.float32
    assert ft.jit(lambda a, s: a * s)(ft.ones(3, ft.float16), np.float32(2)).dtype == ft.float32
    assert ft.jit(lambda a, s: a + ft.zeros(3) * s)(x, 2.0).dtype == ft.float32
    # the graph records the promotion once, where the weak value meets the array
    g = str(ft.make_graph(lambda a, s: a * s)(ft.ones(3), 2))
    assert "f32[3]" in g and "f64" not in g
    # a weak carry of a loop takes the body's dtype, as a Python scalar init does
    out = ft.jit(lambda s: ft.scan(lambda c, y: (c + y * s, c), s, ft.ones(2, ft.float16)))(2.0)
    assert out[0].dtype == ft.float16
    assert ft.jit(lambda s: ft.fori_loop(0, 3, lambda i, c: c + x[0], s))(1.0).dtype == \
        ft.float16


def test_jit_weak_and_strong_calls_do_not_share_a_trace():
    c = Counter(lambda a, s: a * s)
    f = ft.jit(c)
    x = ft.ones(3)
    assert f(x, 2).dtype == ft.float32
    assert f(x, ft.tensor(2.0, ft.float64)).dtype == ft.float64   # a float64 array is strong
    assert f(x, 2).dtype == ft.float32
    assert f(x, 3).dtype == ft.float32
    assert f(x, ft.tensor(3.0, ft.float64)).dtype == ft.float64   # ... also via the fast path
    assert c.n == 2 and f.cache_size == 2
    close(f(x, 5), np.full(3, 5.0))


def test_jit_static_argnums_and_argnames_by_position_or_keyword():
    f = ft.jit(lambda a, n=1: a * n if n > 1 else a, static_argnums=(1,))
    close(f(X3, n=3), 3 * X3)               # static_argnums, passed by keyword
    close(f(X3, 3), 3 * X3)
    close(f(X3), X3)                        # the default
    assert f.static_argnames == ("n",)
    g = ft.jit(lambda a, n=1: a * n if n > 1 else a, static_argnames="n")
    close(g(X3, 2), 2 * X3)                 # static_argnames, passed by position
    assert g.static_argnums == (1,)
    h = ft.jit(lambda a, *, k: a * k if k > 1 else a, static_argnames="k")
    close(h(X3, k=4), 4 * X3)               # keyword-only: no position to map


def test_jit_all_arguments_donated():
    close(ft.jit(lambda a: a + 1, donate_argnums=0)(ft.ones(3)), np.full(3, 2.0))
    close(ft.jit(lambda a, b: a * b, donate_argnums=(0, 1))(ft.ones(3), ft.ones(3) * 2),
          np.full(3, 2.0))
    x = ft.ones(3)   # the same buffer donated twice is copied, not aliased
    close(ft.jit(lambda a, b: a + b, donate_argnums=(0, 1))(x, x), np.full(3, 2.0))
    p = {"w": ft.ones((2, 2)), "b": [ft.zeros(2), ft.ones(2)]}
    out = ft.jit(lambda p: ft.tree.map(lambda v: v * 2 + 1, p), donate_argnums=0)(p)
    tree_close(out, {"w": np.full((2, 2), 3.0), "b": [np.ones(2), np.full(2, 3.0)]})
    close(ft.jit(lambda p: p["w"].sum(), donate_argnums=0)(
        {"w": ft.ones((2, 2)), "b": [ft.zeros(2)]}), 4.0)


# --------------------------------------------------------------------------- the IR

def _check_graph(closed):
    text = str(closed)
    assert "lambda" in text and " let" in text and " in (" in text
    assert ft.typecheck(closed.graph)
    return text


def test_make_graph_prints_readable_graph():
    cg = ft.make_graph(lambda x, y: ft.sin(x) * y + 1.0)(np.ones(3, np.float32),
                                                        np.ones(3, np.float32))
    text = _check_graph(cg)
    assert "f32[3]" in text and "sin" in text and "mul" in text
    # outputs computed with the graph match numpy
    close(cg(np.ones(3, np.float32), np.full(3, 2.0, np.float32))[0],
          np.sin(np.ones(3, np.float32)) * 2 + 1)


@pytest.mark.parametrize("name", ["grad", "vmap", "jit", "scan", "cond", "while", "hessian",
                                  "vmap_grad", "grad_scan", "grad_cond", "custom_vjp"])
def test_graphs_of_transformed_functions_typecheck(name):
    x = np.array([0.5, -0.2, 1.0])
    fns = {
        "grad": lambda x: ft.grad(f_scalar)(x),
        "vmap": lambda x: ft.vmap(lambda v: ft.sin(v) * v)(x),
        "jit": lambda x: ft.jit(lambda v: ft.exp(v) + 1.0)(x),
        "scan": lambda x: ft.scan(lambda c, v: (c + v, c * v), 0.0 * x[0], x),
        "cond": lambda x: ft.cond(x[0] > 0, lambda v: v * 2.0, lambda v: -v, x),
        "while": lambda x: ft.while_loop(lambda v: ft.sum(v) < 10.0, lambda v: v * 2.0, x),
        "hessian": lambda x: ft.hessian(f_scalar)(x),
        "vmap_grad": lambda x: ft.vmap(ft.grad(lambda v: ft.sin(v) * v))(x),
        "grad_scan": lambda x: ft.grad(
            lambda x: ft.scan(lambda c, v: (c * ft.sin(v), c), 1.0 + 0.0 * x[0], x)[0])(x),
        "grad_cond": lambda x: ft.grad(
            lambda x: ft.sum(ft.cond(x[0] > 0, lambda v: v * v, lambda v: ft.sin(v), x)))(x),
        "custom_vjp": lambda x: ft.grad(lambda v: ft.sum(clip_grad_sin(v)))(x),
    }
    f = fns[name]
    cg = ft.make_graph(f)(x)
    _check_graph(cg)
    # and running the graph gives the same as numpy-checked eager/jit execution
    got = ft.tree.leaves(ft.tree.unflatten(cg.out_tree, cg(x)))
    want = ft.tree.leaves(ft.jit(f)(x))
    for g, w in zip(got, want, strict=True):
        close(g, w)
    if name == "grad":
        close(got[0], f_scalar_grad_np(x))
    if name == "custom_vjp":
        close(got[0], 7 * np.cos(x))


def test_make_graph_static_argnums_and_typecheck_detects_corruption():
    cg = ft.make_graph(lambda x, n: x * n, static_argnums=1)(np.ones(2), 3)
    assert ft.typecheck(cg.graph)
    # a corrupted graph (an output var with the wrong recorded shape) must be rejected
    g = cg.graph
    eqn = g.eqns[-1]
    from funtorch.core.abstract import ShapedArray
    from funtorch.core.graph import Eqn, Graph, Var
    bad_out = Var(ShapedArray((5,), np.float64))
    bad = Graph(g.in_vars, g.eqns[:-1] + [Eqn(eqn.prim, eqn.inputs, [bad_out], eqn.params)],
                [bad_out])
    with pytest.raises(TypeError):
        ft.typecheck(bad)


def test_jit_graph_is_typechecked_through_lower():
    f = ft.jit(lambda x: ft.vmap(ft.grad(lambda v: v ** 3))(x))
    cg = f.lower(np.array([1.0, 2.0]))
    assert ft.typecheck(cg.graph)
    close(f(np.array([1.0, 2.0])), [3.0, 12.0])


@pytest.mark.parametrize("kw, match", [
    ({"static_argnums": 2}, "static_argnums"), ({"static_argnums": -3}, "static_argnums"),
    ({"static_argnames": "zz"}, "zz"), ({"donate_argnums": 5}, "donate_argnums"),
])
def test_jit_rejects_static_and_donated_args_that_do_not_exist(kw, match):
    with pytest.raises(ValueError, match=match):
        ft.jit(lambda x, y: x, **kw)


def test_jit_static_args_with_varargs_kwargs_and_positional_only():
    def f(*xs):
        return xs[0] * xs[-1]
    assert float(ft.jit(f, static_argnums=4)(1.0, 2, 3, 4, 5.0)) == 5.0   # *args: any position

    def g(x, **kw):
        return x * kw["k"]
    assert float(ft.jit(g, static_argnames="k")(2.0, k=3)) == 6.0   # **kwargs: any name

    def h(x, /, y):
        return x + y
    with pytest.raises(ValueError, match="positional-only"):
        ft.jit(h, static_argnames="x")


def test_jit_cached_calls_on_array_arguments():
    # the second call of each takes the cached path for positional arrays
    one, tup = ft.jit(lambda a, b: a + b), ft.jit(lambda a: (a * 2,))
    used = ft.jit(lambda a: a + 1, donate_argnums=0)
    for _ in range(2):
        r = one(ft.ones(3), ft.ones(3))
        assert type(r) is ft.Array and r.shape == (3,)
        t = tup(ft.ones(2))
        assert type(t) is tuple and len(t) == 1
        close(t[0], np.full(2, 2.0))
        x = ft.ones(3)
        close(used(x), np.full(3, 2.0))
        with pytest.raises(Exception, match="donated"):
            x + 1
    close(one(ft.ones(4), ft.ones(4)), np.full(4, 2.0))   # a new signature traces again
    close(one(ft.ones(3), 1.0), np.full(3, 2.0))           # a scalar: the tree path
    assert one.cache_size == 3
