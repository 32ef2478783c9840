"""Errors: each misuse gets a specific exception type and a message that says what went
wrong (naming shapes, arguments, axes) and how to fix it."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

import funtorch as ft

X3 = np.array([1.0, -2.0, 3.0])
THIS_FILE = os.path.basename(__file__)


# --------------------------------------------------------------------------- grad

def test_grad_of_non_scalar_output_says_scalar_and_how_to_reduce():
    with pytest.raises(TypeError) as ei:
        ft.grad(lambda x: x * 2.0)(X3)
    msg = str(ei.value)
    assert "scalar" in msg
    assert "(3,)" in msg, "the offending shape is named"
    assert ".sum()" in msg or ".mean()" in msg, "says how to reduce it"
    assert "jacrev" in msg or "vjp" in msg
    # also through jit and value_and_grad, and for a (1,)-shaped output
    with pytest.raises(TypeError, match="scalar"):
        ft.jit(ft.grad(lambda x: x * 2.0))(X3)
    with pytest.raises(TypeError, match="scalar"):
        ft.value_and_grad(lambda x: ft.reshape(ft.sum(x), (1,)))(X3)


def test_grad_of_tuple_output_points_to_has_aux():
    with pytest.raises(TypeError, match="has_aux"):
        ft.grad(lambda x: (ft.sum(x), x))(X3)
    with pytest.raises(TypeError, match="pair"):
        ft.grad(lambda x: ft.sum(x), has_aux=True)(X3)


def test_grad_of_int_input_is_a_type_error():
    with pytest.raises(TypeError) as ei:
        ft.grad(lambda x: ft.sum(x * 2))(np.array([1, 2, 3]))
    msg = str(ei.value)
    assert "int64" in msg and "float" in msg
    with pytest.raises(TypeError, match="int"):
        ft.grad(lambda x, n: x * n, argnums=1)(np.float64(1.0), 3)
    with pytest.raises(TypeError, match="float"):
        ft.grad(lambda p: ft.sum(p["w"]))({"w": np.array([1, 2], np.int32)})


def test_grad_of_integer_output_is_a_type_error():
    with pytest.raises(TypeError, match="floating point"):
        ft.grad(lambda x: ft.sum(x).astype(ft.int32))(X3)


def test_integer_inputs_and_outputs_of_jacobians_are_type_errors():
    """As in JAX: grad/jacrev refuse integer inputs unless allow_int=True, jacfwd always
    (it pushes a float tangent per input element), and grad/jacrev integer outputs."""
    ints = np.array([1, 2, 3], np.int32)
    with pytest.raises(TypeError, match=r"grad: .*int32 \(shape \(3,\).*allow_int=True"):
        ft.grad(lambda x: ft.sum(x * 2.0))(ints)
    with pytest.raises(TypeError, match=r"jacrev: .*int32 \(shape \(3,\).*allow_int=True"):
        ft.jacrev(lambda x: x * 2.0)(ints)
    with pytest.raises(TypeError, match=r"jacfwd: .*int32 \(shape \(3,\).*ft\.jvp.*float0"):
        ft.jacfwd(lambda x: x * 2.0)(ints)
    with pytest.raises(TypeError, match=r"jacfwd: .*bool"):
        ft.jacfwd(lambda x: x * 2.0)(np.array([True]))
    with pytest.raises(TypeError, match=r"jacrev: the function's outputs must be floating "
                                        r"point, got int32 \(shape \(\)\).*ft\.vjp"):
        ft.jacrev(lambda x: (x * 2).astype(ft.int32))(np.float32(1.0))
    with pytest.raises(TypeError, match=r"jacrev: .*outputs .* got bool"):
        ft.jacrev(lambda x: (x > 0, x))(X3)
    with pytest.raises(TypeError, match=r"grad: the output must be floating point.*ft\.vjp"):
        ft.grad(lambda x: (x * 2).astype(ft.int32))(np.float32(1.0))
    with pytest.raises(TypeError, match=r"jacrev: the function's outputs"):
        ft.hessian(lambda x: ft.sum(x).astype(ft.int32))(X3)


def test_jvp_tangent_dtype_must_match_the_primal_kind():
    with pytest.raises(TypeError, match=r"jvp: a primal of dtype int64 .*needs a float0 "
                                        r"tangent.*got a tangent of dtype float64"):
        ft.jvp(lambda n: n * 2, (np.int64(2),), (np.float64(1.0),))
    with pytest.raises(TypeError, match=r"jvp: a primal of dtype float64 .*needs a float64 "
                                        r"tangent.*got a tangent of dtype float0"):
        ft.jvp(ft.sin, (X3,), (np.zeros(3, ft.float0),))


def test_jvp_tangent_dtype_must_equal_the_float_primal_dtype():
    # JAX: "primal and tangent arguments to jax.jvp do not match; dtypes must be equal"
    with pytest.raises(TypeError) as ei:
        ft.jvp(lambda a: a * a, (ft.ones(3),), (ft.ones(3, ft.float64),))
    msg = str(ei.value)
    assert "float32" in msg and "float64" in msg and "dtypes must be equal" in msg
    assert ".astype(ft.float32)" in msg
    with pytest.raises(TypeError, match=r"bfloat16 .*needs a bfloat16 tangent.*float16"):
        ft.jvp(ft.sin, (ft.ones(2, ft.bfloat16),), (ft.ones(2, ft.float16),))
    with pytest.raises(TypeError, match=r"int32 .*needs a float0 tangent.*int32"):
        ft.jvp(lambda n: n * 2, (ft.ones(2, ft.int32),), (ft.ones(2, ft.int32),))
    with pytest.raises(ValueError, match=r"jvp: primal shape \(3,\) and tangent shape \(2,\)"):
        ft.jvp(lambda a: a, (ft.ones(3),), (ft.ones(2),))
    # matching tangents, Python scalar tangents and float0 tangents are fine
    _, t = ft.jvp(lambda a: a * a, (ft.ones(3, ft.float16),), (ft.ones(3, ft.float16),))
    assert t.dtype == ft.float16
    _, t = ft.jvp(lambda a: a * a, (ft.tensor(3.0),), (1.0,))
    assert t.dtype == ft.float32 and float(t) == 6.0
    ft.jvp(lambda n: n * 2, (ft.ones(2, ft.int32),), (np.zeros(2, ft.float0),))


def test_vjp_float_output_needs_a_float_cotangent():
    _, vjp_fn = ft.vjp(ft.sin, X3)
    with pytest.raises(TypeError, match=r"vjp: the cotangent for an output of dtype float64 "
                                        r"\(shape \(3,\)\) must be floating point, got float0"):
        vjp_fn(np.zeros(3, ft.float0))
    with pytest.raises(TypeError, match=r"vjp: .* got int64"):
        vjp_fn(np.ones(3, np.int64))
    g = vjp_fn(np.ones(3))[0]   # float cotangents (and Python scalars) are fine
    np.testing.assert_allclose(np.asarray(g), np.cos(X3))
    _, vjp_s = ft.vjp(lambda x: ft.sum(ft.sin(x)), X3)
    np.testing.assert_allclose(np.asarray(vjp_s(1)[0]), np.cos(X3))


def test_grad_argnums_out_of_range():
    with pytest.raises(ValueError, match="argnums"):
        ft.grad(lambda x: ft.sum(x), argnums=1)(X3)


def test_jvp_argument_errors():
    with pytest.raises(TypeError, match="tuple"):
        ft.jvp(ft.sin, X3, X3)
    with pytest.raises(TypeError, match="structure"):
        ft.jvp(ft.sin, (X3,), (X3, X3))
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        ft.jvp(ft.sin, (X3,), (np.ones(2),))


def test_custom_vjp_errors():
    f = ft.custom_vjp(lambda x: x * 2.0)
    with pytest.raises(TypeError, match="defvjp"):
        f(X3)
    f.defvjp(lambda x: (x * 2.0, ()), lambda res, g: g)   # bwd must return a tuple
    with pytest.raises(TypeError, match="tuple"):
        ft.grad(lambda x: ft.sum(f(x)))(X3)


# --------------------------------------------------------------------------- concretization

def threshold_relu(x, threshold):
    if ft.sum(x) > threshold:   # Python control flow on a value
        return x
    return x * 0.0


def _concretization_error(fn, *args, **kwargs):
    with pytest.raises(ft.ConcretizationTypeError) as ei:
        fn(*args, **kwargs)
    assert isinstance(ei.value, TypeError), "must be a TypeError subclass"
    return str(ei.value)


def _points_to_fixes(msg):
    assert "ft.cond" in msg, msg
    assert "static_argnums" in msg, msg


def test_if_on_traced_value_in_jit_names_argument_location_and_fixes():
    msg = _concretization_error(ft.jit(threshold_relu), X3, np.float64(0.0))
    assert "bool[]" in msg, "names the value's shape/dtype"
    assert "'x'" in msg and "'threshold'" in msg, f"names the arguments it depends on: {msg}"
    assert "threshold_relu" in msg
    assert re.search(re.escape(THIS_FILE) + r":\d+", msg), "says where it was used"
    _points_to_fixes(msg)


def test_bool_int_float_on_traced_array_name_the_shape():
    def use_bool(vec):
        return vec * 2.0 if vec else vec

    def use_int(mat):
        return ft.ones(int(mat))

    def use_float(y):
        return y * float(y)

    msg = _concretization_error(ft.jit(use_bool), X3)
    assert "f64[3]" in msg and "'vec'" in msg
    _points_to_fixes(msg)
    msg = _concretization_error(ft.jit(use_int), np.ones((2, 3), np.float32))
    assert "f32[2,3]" in msg and "'mat'" in msg and "int()" in msg
    _points_to_fixes(msg)
    msg = _concretization_error(ft.jit(use_float), np.float64(2.0))
    assert "f64[]" in msg and "'y'" in msg and "float()" in msg
    msg = _concretization_error(ft.jit(lambda z: bool(ft.sum(z) > 0)), X3)
    assert "'z'" in msg


def test_concretization_in_pytree_and_keyword_arguments_names_them():
    def f(params, *, scale):
        if params["w"][0] > scale:
            return params["w"]
        return -params["w"]

    msg = _concretization_error(ft.jit(f), {"w": X3}, scale=np.float64(1.0))
    assert "'params'" in msg and "'scale'" in msg, msg


def test_concretization_error_only_names_the_arguments_involved():
    def f(a, b):
        if ft.sum(b) > 0:
            return a
        return a * 2.0

    msg = _concretization_error(ft.jit(f), X3, X3)
    assert "'b'" in msg and "'a'" not in msg, msg


def test_same_code_works_eagerly_under_grad_jvp_and_with_static_argnums():
    # eager
    np.testing.assert_allclose(np.asarray(threshold_relu(X3, 0.0)), X3)
    np.testing.assert_allclose(np.asarray(threshold_relu(X3, 5.0)), 0 * X3)
    # grad: Python control flow on concrete primals is fine (as in JAX)
    g = ft.grad(lambda x: ft.sum(threshold_relu(x, 0.0) ** 2))(X3)
    np.testing.assert_allclose(np.asarray(g), 2 * X3)
    g = ft.grad(lambda x: ft.sum(threshold_relu(x, 5.0) ** 2))(X3)
    np.testing.assert_allclose(np.asarray(g), 0 * X3)
    _, t = ft.jvp(lambda x: threshold_relu(x, 0.0), (X3,), (np.ones(3),))
    np.testing.assert_allclose(np.asarray(t), np.ones(3))
    # float()/int() of a concrete primal under grad
    g = ft.grad(lambda x: x * float(x))(np.float64(3.0))
    np.testing.assert_allclose(float(g), 3.0)
    # the fix the error suggests: static arguments (when the condition is on them)
    f = ft.jit(lambda x, flag: x * 2.0 if flag else x, static_argnums=1)
    np.testing.assert_allclose(np.asarray(f(X3, True)), 2 * X3)
    # ... or ft.cond
    f = ft.jit(lambda x, t: ft.cond(ft.sum(x) > t, lambda x: x, lambda x: x * 0.0, x))
    np.testing.assert_allclose(np.asarray(f(X3, np.float64(0.0))), X3)
    np.testing.assert_allclose(np.asarray(f(X3, np.float64(5.0))), 0 * X3)


def test_python_control_flow_under_jit_of_grad_is_an_error():
    msg = _concretization_error(ft.jit(ft.grad(lambda x: ft.sum(threshold_relu(x, 0.0)))), X3)
    _points_to_fixes(msg)


def test_python_control_flow_in_vmap_is_an_error_saying_it_varies_per_example():
    with pytest.raises(ft.ConcretizationTypeError) as ei:
        ft.vmap(lambda x: x if x > 0 else -x)(X3)
    assert "vmap" in str(ei.value)
    _points_to_fixes(str(ei.value))


def test_numpy_conversion_of_tracer_is_a_concretization_error():
    with pytest.raises(ft.ConcretizationTypeError, match="numpy"):
        ft.jit(lambda x: np.sin(np.asarray(x)))(X3)
    # under grad too: handing out the primal would silently drop the derivative
    with pytest.raises(ft.ConcretizationTypeError):
        ft.grad(lambda x: ft.sum(np.asarray(x)))(X3)


# --------------------------------------------------------------------------- leaked tracers

def _leak(transform):
    store = []

    def f(x):
        store.append(ft.sin(x))
        return ft.sum(x)

    transform(f)(X3)
    return store[0]


@pytest.mark.parametrize("transform", [ft.jit, ft.grad, ft.vmap], ids=["jit", "grad", "vmap"])
def test_leaked_tracer_used_afterwards_is_detected(transform):
    leaked = _leak(transform)
    for use in (lambda t: t + 1.0, lambda t: ft.exp(t), lambda t: ft.jit(lambda y: y * t)(X3),
                lambda t: ft.grad(lambda y: ft.sum(y * t))(X3)):
        with pytest.raises(ft.UnexpectedTracerError) as ei:
            use(leaked)
        msg = str(ei.value)
        assert "leaked" in msg and "outside" in msg
        assert "global" in msg and "output" in msg, "explains the cause and the fix"


def test_leaked_tracer_conversion_is_reported_as_a_leak():
    leaked = _leak(ft.jit)
    assert isinstance(ft.UnexpectedTracerError(leaked), RuntimeError)
    with pytest.raises(ft.UnexpectedTracerError, match="f64\\[3\\]"):
        np.asarray(leaked)
    with pytest.raises(ft.UnexpectedTracerError):
        float(leaked[0])
    with pytest.raises(ft.UnexpectedTracerError):
        bool(leaked.sum() > 0)
    repr(leaked)   # printing it is harmless


# --------------------------------------------------------------------------- vmap

def test_vmap_inconsistent_sizes_names_each_argument():
    def f(images, labels):
        return images, labels

    with pytest.raises(ValueError) as ei:
        ft.vmap(f)(np.ones((4, 2)), np.ones(5))
    msg = str(ei.value)
    assert "'images'" in msg and "'labels'" in msg
    assert "size 4" in msg and "size 5" in msg
    assert "(4, 2)" in msg and "(5,)" in msg


def test_vmap_inconsistent_sizes_in_pytrees_kwargs_and_axis_size():
    with pytest.raises(ValueError) as ei:
        ft.vmap(lambda p, q: p["a"])({"a": X3, "b": np.ones(4)}, np.ones(3))
    msg = str(ei.value)
    assert "'p'" in msg and "size 3" in msg and "size 4" in msg
    with pytest.raises(ValueError) as ei:
        ft.vmap(lambda p, *, q: p)(X3, q=np.ones(5))
    assert "'q'" in str(ei.value) and "size 5" in str(ei.value)
    with pytest.raises(ValueError) as ei:
        ft.vmap(lambda p: p, axis_size=4)(X3)
    assert "axis_size=4" in str(ei.value) and "size 3" in str(ei.value)
    with pytest.raises(ValueError, match="axis 1"):
        ft.vmap(lambda a, b: a + b, in_axes=(0, 1))(np.ones((3, 2)), np.ones((3, 2)))


def test_vmap_in_axes_out_of_range_and_malformed():
    with pytest.raises(ValueError) as ei:
        ft.vmap(lambda a: a, in_axes=2)(np.ones((3, 4)))
    msg = str(ei.value)
    assert "in_axes=2" in msg and "rank 2" in msg
    assert "'a'" in msg and "[-2, 2)" in msg and "None" in msg   # the argument and the fix
    with pytest.raises(ValueError, match=r"in_axes=1 .*argument 1 \('y'\).*rank 1"):
        ft.vmap(lambda x, y: x, in_axes=(0, 1))(np.ones((3, 4)), np.ones(3))
    with pytest.raises(ValueError, match=r"in_axes=3 .*'p'\) leaf 0.*\[-2, 2\)"):
        ft.vmap(lambda p: p["a"], in_axes=({"a": 3, "b": 0},))({"a": np.ones((3, 4)),
                                                                "b": np.ones(3)})
    with pytest.raises(TypeError, match=r"in_axes entries must be ints or None, got 1.5"):
        ft.vmap(lambda a: a, in_axes=(1.5,))(X3)
    with pytest.raises(ValueError, match="rank 2"):
        ft.vmap(lambda a: a, in_axes=-3)(np.ones((3, 4)))
    with pytest.raises(ValueError, match="rank 0"):
        ft.vmap(lambda a: a)(np.float64(1.0))
    with pytest.raises(ValueError, match="2 positional"):
        ft.vmap(lambda a, b: a, in_axes=(0,))(X3, X3)
    with pytest.raises(TypeError, match="in_axes"):
        ft.vmap(lambda a: a, in_axes="0")(X3)
    with pytest.raises(ValueError, match="in_axes"):
        ft.vmap(lambda p: p["a"], in_axes=({"b": 0},))({"a": X3})
    with pytest.raises(ValueError, match="axis_size"):
        ft.vmap(lambda a: a, in_axes=None)(X3)


def test_vmap_out_axes_none_for_batched_output():
    with pytest.raises(ValueError, match="out_axes=None"):
        ft.vmap(lambda a: a * 2.0, out_axes=None)(X3)


# --------------------------------------------------------------------------- ops: shapes and axes

def test_add_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError) as ei:
        ft.add(np.ones((2, 3)), np.ones((4,)))
    msg = str(ei.value)
    assert "add" in msg and "(2, 3)" in msg and "(4,)" in msg
    # the same check under jit, grad and vmap (vmap reports per-example shapes)
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        ft.jit(ft.add)(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        ft.grad(lambda a: ft.sum(a + np.ones(4)))(X3)
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        ft.vmap(ft.add)(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        ft.ones(3) * ft.ones(4)


@pytest.mark.parametrize("name,call,axis,rank", [
    ("sum", lambda x: ft.sum(x, axis=2), 2, 2),
    ("sum", lambda x: ft.sum(x, axis=-3), -3, 2),
    ("mean", lambda x: ft.mean(x, axis=5), 5, 2),
    ("max", lambda x: ft.max(x, axis=2), 2, 2),
    ("argmax", lambda x: ft.argmax(x, axis=2), 2, 2),
    ("squeeze", lambda x: ft.squeeze(x, axis=2), 2, 2),
    ("concatenate", lambda x: ft.concatenate([x, x], axis=2), 2, 2),
    ("cumsum", lambda x: ft.cumsum(x, axis=3), 3, 2),
])
def test_bad_axis_names_axis_and_rank(name, call, axis, rank):
    x = np.ones((2, 3))
    for f in (call, ft.jit(call)):
        with pytest.raises(ValueError) as ei:
            f(x)
        msg = str(ei.value)
        assert name in msg and f"axis {axis}" in msg and f"rank {rank}" in msg, msg


def test_bad_axis_inside_vmap_reports_per_example_rank():
    with pytest.raises(ValueError, match="axis 1 .*rank 1"):
        ft.vmap(lambda a: ft.sum(a, axis=1))(np.ones((2, 3)))


# --------------------------------------------------------------------------- jit arguments

def test_jit_non_array_argument_suggests_static():
    with pytest.raises(TypeError, match="static_argnums"):
        ft.jit(lambda a, s: a)(X3, "mode")


def test_jit_unhashable_static_argument():
    with pytest.raises(TypeError) as ei:
        ft.jit(lambda a, cfg: a, static_argnums=1)(X3, {"k": 1})
    msg = str(ei.value)
    assert "hashable" in msg and "dict" in msg
    with pytest.raises(TypeError, match="hashable"):
        ft.jit(lambda a, cfg: a, static_argnames="cfg")(X3, cfg=[1])


def test_tracers_and_arrays_are_unhashable_with_a_hint():
    with pytest.raises(TypeError, match="static"):
        ft.jit(lambda a: {a: 1})(X3)


def test_dot_misaligned_names_dot():
    with pytest.raises(ValueError, match=r"funtorch.dot: shapes \(3,\) and \(4,\) not aligned"):
        ft.dot(ft.ones(3), ft.ones(4))
    with pytest.raises(ValueError, match=r"funtorch.dot: shapes \(2, 3\) and \(2, 5\)"):
        ft.dot(ft.ones((2, 3)), ft.ones((2, 5)))
