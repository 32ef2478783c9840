"""Pytrees: leaf order, map, flatten / unflatten, dataclasses, transforms over nodes."""

from __future__ import annotations

import collections
import dataclasses
import operator

import numpy as np
import pytest

import funtorch as ft

from .common import Point, close, counted, f32

T = {"z": 1, "a": [2, (3, None)], "m": Point(4, {"q": 5, "b": 6}), "n": None}


def _dataclass():
    @dataclasses.dataclass
    class P:
        a: object
        b: object
        meta: str = "m"
    return ft.tree.register_dataclass(P, data_fields=["a", "b"], meta_fields=["meta"])


def test_leaves_order_sorted_dict_keys_namedtuple_fields_and_none():
    assert ft.tree.leaves(T) == [2, 3, 4, 6, 5, 1]
    assert ft.tree.leaves({"b": 1, "a": 2, "c": {"y": 3, "x": 4}}) == [2, 1, 4, 3]
    assert ft.tree.leaves(collections.OrderedDict([("b", 1), ("a", 2)])) == [1, 2]
    assert ft.tree.leaves(Point(y=1, x=2)) == [2, 1]
    assert ft.tree.leaves([None, 1, None]) == [1]
    assert ft.tree.leaves(None) == []
    assert ft.tree.leaves([None, 1], is_leaf=lambda x: x is None) == [None, 1]
    assert ft.tree.leaves([(), {}, []]) == []
    assert len(ft.tree.leaves([np.ones(3), ft.ones(2)])) == 2


def test_map_is_leaf_multiple_trees_and_none_nodes():
    got = ft.tree.map(lambda x: len(x) if isinstance(x, tuple) else x,
                      {"a": (1, 2), "b": [3, (4, 5, 6)]}, is_leaf=lambda x: isinstance(x, tuple))
    assert got == {"a": 2, "b": [3, 3]}
    assert ft.tree.map(lambda a, b: a + b, {"a": 1, "b": [2, 3]},
                       {"a": 10, "b": [20, 30]}) == {"a": 11, "b": [22, 33]}
    assert ft.tree.map(lambda x: x + 1, [None, 1, (None,)]) == [None, 2, (None,)]
    assert ft.tree.map(lambda a, b: a, [1, None], [2, None]) == [1, None]
    with pytest.raises(ValueError):
        ft.tree.map(lambda a, b: a + b, {"a": 1}, {"b": 1})
    d = collections.defaultdict(list, {"b": 1, "a": 2})
    r = ft.tree.map(lambda x: x * 10, d)
    assert type(r) is collections.defaultdict and dict(r) == {"a": 20, "b": 10}
    r = ft.tree.map(lambda x: x * 2, Point(1, 2))
    assert type(r) is Point and r == Point(2, 4)


def test_flatten_unflatten_roundtrip_and_counts():
    leaves, td = ft.tree.flatten(T)
    assert ft.tree.unflatten(td, leaves) == T
    assert td.num_leaves == 6 and td.num_nodes == 13
    with pytest.raises(ValueError, match="(?i)leaves"):
        ft.tree.unflatten(ft.tree.structure([1, 2]), [1])


def test_structure_equality_and_hash():
    s = ft.tree.structure
    assert s({"a": 1, "b": 2}) == s({"b": 3, "a": 4})
    assert s([1, 2]) != s((1, 2))
    assert s([1, None]) != s([1, 2])
    assert s(Point(1, 2)) != s((1, 2))
    assert s(1) != s(None)
    assert s({"a": 1}) != s(collections.OrderedDict(a=1))
    assert hash(s({"a": 1, "b": (2,)})) == hash(s({"b": (5,), "a": 0}))


def test_register_dataclass_meta_fields_are_static():
    P = _dataclass()
    leaves, td = ft.tree.flatten(P(a=1, b=[2, 3], meta="hi"))
    assert leaves == [1, 2, 3] and td.num_leaves == 3
    r = ft.tree.unflatten(td, [x * 10 for x in leaves])
    assert (r.a, r.b, r.meta) == (10, [20, 30], "hi")
    assert ft.tree.structure(P(1, 2, "u")) == ft.tree.structure(P(3, 4, "u"))
    assert ft.tree.structure(P(1, 2, "u")) != ft.tree.structure(P(1, 2, "v"))


def test_transforms_over_dataclasses_namedtuples_and_custom_nodes():
    P = _dataclass()
    g = ft.grad(lambda p: p.a * p.b)(P(f32(2.0), f32(5.0), "z"))
    assert type(g) is P and float(g.a) == 5.0 and float(g.b) == 2.0 and g.meta == "z"
    r = ft.vmap(lambda p: P(p.a * 2, p.b + p.a, p.meta))(P(np.arange(3, dtype=f32),
                                                         np.ones(3, f32), "z"))
    close(r.a, [0, 2, 4])
    assert r.meta == "z"
    f, calls = counted(lambda p: p.a * (2 if p.meta == "x" else 3))
    g = ft.jit(f)
    outs = [g(P(f32(1), f32(0), "x")), g(P(f32(1), f32(0), "y")), g(P(f32(2), f32(0), "x"))]
    assert [float(o) for o in outs] == [2, 3, 4] and calls[0] == 2
    gp = ft.grad(lambda p: p.x * p.y)(Point(f32(2.0), f32(3.0)))
    assert type(gp) is Point and (float(gp.x), float(gp.y)) == (3.0, 2.0)

    class Box:
        def __init__(self, v, tag):
            self.v, self.tag = v, tag
    ft.tree.register_node(Box, lambda b: ((b.v,), b.tag), lambda tag, ch: Box(ch[0], tag))
    b = ft.tree.map(lambda x: x + 1, Box([1, 2], "t"))
    assert (b.v, b.tag) == ([2, 3], "t")
    assert ft.tree.leaves(Box({"k": 3}, "u")) == [3]


def test_reduce_all_transpose():
    assert ft.tree.reduce(operator.add, [1, (2, None), {"a": 3}]) == 6
    assert ft.tree.all([True, (1, None)])
    got = ft.tree.transpose(ft.tree.structure([0, 0]), ft.tree.structure((0, 0, 0)),
                            [(1, 2, 3), (4, 5, 6)])
    assert got == ([1, 4], [2, 5], [3, 6])
