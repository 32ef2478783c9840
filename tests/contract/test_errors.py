"""The errors paragraph: what is raised, and what the message names."""

from __future__ import annotations

import numpy as np
import pytest

import funtorch as ft

from .common import assert_same


class TestErrorsParagraph:
    @pytest.mark.parametrize("fn,pattern", [
        (lambda: ft.ones((2, 3)) + ft.ones((4, 5)), r"add.*\(2, 3\).*\(4, 5\)"),
        (lambda: ft.multiply(ft.ones((2, 3)), ft.ones(4)), r"multiply.*\(2, 3\).*\(4,\)"),
        (lambda: ft.jit(lambda a, b: a - b)(ft.ones(2), ft.ones(3)), r"subtract.*\(2,\).*\(3,\)"),
        (lambda: ft.where(ft.ones(4) > 0, ft.ones((2, 3)), 0), r"where.*\(4,\).*\(2, 3\)"),
        (lambda: ft.broadcast_to(ft.ones((2, 3)), (3, 3)), r"broadcast_to.*\(2, 3\).*\(3, 3\)"),
        (lambda: ft.stack([ft.ones((2, 3)), ft.ones((4, 5))]), r"stack.*\(2, 3\).*\(4, 5\)"),
        (lambda: ft.concatenate([ft.ones((2, 3)), ft.ones(3)]), r"concatenate.*\(2, 3\).*\(3,\)"),
        (lambda: ft.concatenate([ft.ones((2, 3)), ft.ones((2, 5))], axis=0),
         r"dimension 1|\b3\b.*\b5\b"),
        (lambda: ft.reshape(ft.ones((2, 3)), (4, 2)), r"reshape.*6.*\(4, ?2\)"),
        (lambda: ft.transpose(ft.ones((2, 3)), (0, 0)), r"transpose.*\(0, 0\)"),
        (lambda: ft.swapaxes(ft.ones((2, 3)), 0, 2), r"swapaxes.*axis 2.*rank 2"),
        (lambda: ft.squeeze(ft.ones((2, 3)), 0), r"squeeze.*axis 0.*\(2, 3\)"),
        (lambda: ft.dot(ft.ones((2, 3)), ft.ones((4, 5))), r"(dot|tensordot).*\(2, 3\).*\(4, 5\)"),
        (lambda: ft.ones((2, 3)) @ ft.tensor(2.0), r"matmul.*1-d|matmul.*\(\)"),
        (lambda: ft.split(ft.ones(5), 2), r"split.*5.*2"),
        (lambda: ft.take(ft.ones((2, 3)), ft.tensor([10]), axis=1), r"10.*axis 1.*3"),
    ])
    def test_mismatched_shapes_name_op_and_shapes(self, fn, pattern):
        with pytest.raises((ValueError, IndexError, TypeError), match=pattern):
            fn()

    def test_shape_error_inside_vmap_reports_per_example_shapes(self):
        with pytest.raises(ValueError, match=r"add.*\(3,\).*\(4,\)"):
            ft.vmap(lambda a, b: a + b)(ft.ones((2, 3)), ft.ones((2, 4)))

    def test_python_control_flow_in_jit_under_grad_and_vmap(self):
        f = lambda a: ft.sum(a) if float(ft.sum(a)) > 0 else -ft.sum(a)  # noqa: E731
        assert_same(ft.grad(f)(ft.ones(3)), np.ones(3, np.float32))   # eager grad: fine
        with pytest.raises(ft.ConcretizationTypeError, match=r"(?s)float\(\).*ft\.cond"):
            ft.jit(f)(ft.ones(3))
        with pytest.raises(ft.ConcretizationTypeError):
            ft.jit(ft.grad(f))(ft.ones(3))
        with pytest.raises(ft.ConcretizationTypeError, match=r"(?i)vmap|per.example|batch"):
            ft.vmap(f)(ft.ones((2, 3)))

    def test_control_flow_primitive_errors(self):
        with pytest.raises(TypeError, match=r"cond.*f32\[3\].*f32\[2\]|cond.*f32\[2\].*f32\[3\]"):
            ft.cond(True, lambda: ft.ones(2), lambda: ft.ones(3))
        with pytest.raises(TypeError, match=r"scan.*carry.*f32\[2\].*f64\[2\]"):
            ft.scan(lambda c, x: (c.astype(ft.float64), x), ft.ones(2), ft.ones((3, 2)))
        with pytest.raises(TypeError, match=r"cond.*scalar.*bool\[1\].*where"):
            ft.cond(ft.tensor([True]), lambda a: a, lambda a: -a, ft.ones(2))

    def test_grad_of_tuple_output_points_to_has_aux(self):
        with pytest.raises(TypeError, match=r"has_aux"):
            ft.grad(lambda x: (ft.sum(x), x))(ft.ones(3))

    def test_leaked_tracer(self):
        leak = []

        @ft.jit
        def f(a):
            leak.append(a)
            return a * 2

        f(ft.ones(2))
        with pytest.raises(ft.UnexpectedTracerError, match=r"(?i)tracer|leak"):
            leak[0] + 1

    def test_creation_errors(self):
        with pytest.raises(ValueError, match=r"negative"):
            ft.zeros((-1, 2))
        with pytest.raises(ValueError, match=r"arange.*step"):
            ft.arange(0, 3, 0)
        with pytest.raises(TypeError, match=r"str"):
            ft.tensor("abc")
        with pytest.raises(TypeError, match=r"dtype"):
            ft.ones(2).astype("notadtype")
