"""Pytrees: namedtuples, dataclasses, registered classes."""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
import pytest

import funtorch as ft

from .common import NT, assert_same


class _Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


ft.tree.register_node(_Point, lambda p: ((p.x, p.y), None), lambda aux, ch: _Point(*ch))


@dataclasses.dataclass
class _DC:
    w: object
    b: object
    name: str = "x"


ft.tree.register_dataclass(_DC, data_fields=["w", "b"], meta_fields=["name"])


class TestTree:
    TREE = {"b": [1, (2, None)], "a": NT(3, {"z": 4, "y": 5})}

    def test_leaves_flatten_unflatten_structure(self):
        leaves, treedef = ft.tree.flatten(self.TREE)
        assert leaves == [3, 5, 4, 1, 2]          # sorted dict keys, None is a node
        assert ft.tree.leaves(self.TREE) == leaves
        assert ft.tree.structure(self.TREE) == treedef
        back = ft.tree.unflatten(treedef, [10, 11, 12, 13, 14])
        assert back == {"b": [13, (14, None)], "a": NT(10, {"z": 12, "y": 11})}
        assert isinstance(back["a"], NT)

    def test_edge_trees(self):
        assert ft.tree.leaves(None) == [] and ft.tree.leaves([None, ()]) == []
        assert ft.tree.leaves({}) == [] and ft.tree.map(lambda v: v, None) is None
        x = ft.ones(3)
        assert ft.tree.leaves(x)[0] is x
        assert ft.tree.leaves(collections.OrderedDict([("b", 1), ("a", 2)])) == [1, 2]

    def test_map(self):
        assert ft.tree.map(lambda v: v * 10, self.TREE)["a"].b == {"z": 40, "y": 50}
        assert ft.tree.map(lambda u, v: u + v, [1, (2,)], [10, (20,)]) == [11, (22,)]
        got = ft.tree.map(len, {"a": [1, 2], "b": [3]}, is_leaf=lambda v: isinstance(v, list))
        assert got == {"a": 2, "b": 1}
        with pytest.raises(ValueError):
            ft.tree.map(lambda u, v: u + v, [1, 2], [1, 2, 3])
        with pytest.raises(ValueError):
            ft.tree.unflatten(ft.tree.structure([1, 2]), [1])

    def test_registered_node_through_transforms(self):
        p = _Point(ft.ones(2), ft.tensor(2.0))
        g = ft.grad(lambda p: ft.sum(p.x) * p.y)(p)
        assert isinstance(g, _Point)
        assert_same(g.x, np.full(2, 2.0, np.float32))
        out = ft.vmap(lambda p: p.x * p.y)(_Point(ft.ones((3, 2)), ft.arange(3.0)))
        assert out.shape == (3, 2)
        assert isinstance(ft.jit(lambda p: _Point(p.y, p.x))(p), _Point)

    def test_registered_dataclass(self):
        d = _DC(ft.ones(2), ft.ones(2) * 3, "q")
        assert ft.tree.leaves(d)[1] is d.b
        g = ft.grad(lambda d: ft.sum(d.w * d.b))(d)
        assert isinstance(g, _DC) and g.name == "q"
        assert_same(g.w, np.full(2, 3.0, np.float32))
        assert_same(ft.jit(lambda d: d.w + d.b)(d), np.full(2, 4.0, np.float32))
        assert ft.tree.structure(_DC(1, 2, "a")) != ft.tree.structure(_DC(1, 2, "b"))
