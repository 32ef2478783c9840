import math
import warnings

import numpy as np
import pytest

from cuda_kernels import fused
from cuda_kernels.fused import FusedSpec

from .util import BF16, dev, host

_erf = np.vectorize(math.erf, otypes=[np.float32])

UNARY = {
    "neg": np.negative,
    "abs": np.abs,
    "exp": np.exp,
    "log": np.log,
    "log1p": np.log1p,
    "expm1": np.expm1,
    "tanh": np.tanh,
    "sqrt": np.sqrt,
    "rsqrt": lambda a: 1 / np.sqrt(a),
    "sin": np.sin,
    "cos": np.cos,
    "erf": _erf,
    "logistic": lambda a: 1 / (1 + np.exp(-a)),
}
BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "pow": np.power,
    "max": np.maximum,
    "min": np.minimum,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "eq": np.equal,
    "ne": np.not_equal,
}


def run(spec, *arrays):
    return [host(o) for o in fused.compile_fused(spec)(*(dev(a) for a in arrays))]


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(5)
    x = rng.uniform(0.1, 3.0, (3, 1, 4)).astype(np.float32)
    y = rng.standard_normal((5, 1)).astype(np.float32)
    y[0, 0] = np.nan
    return x, y


def test_all_unary_ops(xy):
    x, _ = xy
    names = list(UNARY)
    spec = FusedSpec.make(
        [("x", x.shape, "float32")],
        [(f"r_{n}", n, ("x",)) for n in names],
        [f"r_{n}" for n in names],
    )
    for name, got in zip(names, run(spec, x), strict=True):
        np.testing.assert_allclose(got, UNARY[name](x), rtol=2e-6, atol=1e-6, err_msg=name)


def test_all_binary_ops_broadcast(xy):
    x, y = xy
    names = list(BINARY)
    spec = FusedSpec.make(
        [("x", x.shape, "float32"), ("y", y.shape, "float32")],
        [(f"r_{n}", n, ("x", "y")) for n in names],
        [f"r_{n}" for n in names],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        outs = run(spec, x, y)
        for name, got in zip(names, outs, strict=True):
            ref = BINARY[name](x, y)
            assert got.shape == (3, 5, 4) and got.dtype == ref.dtype, name
            np.testing.assert_allclose(got, ref, rtol=2e-6, equal_nan=True, err_msg=name)


def test_where_logic_casts_and_constants():
    i = np.arange(-3, 5, dtype=np.int32).reshape(2, 4)
    spec = FusedSpec.make(
        [("i", (2, 4), "int32")],
        [
            ("half", "mul", ("i", 0.5)),  # int * float constant -> float32
            ("q", "div", ("i", 4)),  # true division of ints -> float32
            ("pos", "gt", ("i", 0)),
            ("odd", "ne", ("i", 0)),
            ("both", "and", ("pos", "odd")),
            ("nb", "not", ("both",)),
            ("either", "or", ("nb", "pos")),
            ("sel", "where", ("pos", "half", -1)),
            ("big", "max", ("i", 2)),
            ("h", "cast:float16", ("q",)),
            ("b", "cast:bfloat16", ("half",)),
            ("back", "cast:int32", ("sel",)),
            ("sel2", "select", (True, 1.5, "i")),
        ],
        ["half", "q", "both", "either", "sel", "big", "h", "b", "back", "sel2"],
    )
    outs = dict(
        zip(
            ["half", "q", "both", "either", "sel", "big", "h", "b", "back", "sel2"],
            run(spec, i),
            strict=True,
        )
    )
    np.testing.assert_array_equal(outs["half"], (i * 0.5).astype(np.float32))
    np.testing.assert_array_equal(outs["q"], (i / 4).astype(np.float32))
    np.testing.assert_array_equal(outs["both"], i > 0)
    np.testing.assert_array_equal(outs["either"], np.ones_like(i, bool))
    np.testing.assert_array_equal(outs["sel"], np.where(i > 0, i * 0.5, -1).astype(np.float32))
    assert outs["big"].dtype == np.int32 and (outs["big"] == np.maximum(i, 2)).all()
    assert outs["h"].dtype == np.float16 and outs["b"].dtype == BF16
    np.testing.assert_array_equal(outs["back"], np.where(i > 0, i * 0.5, -1).astype(np.int32))
    np.testing.assert_array_equal(outs["sel2"], np.full(i.shape, 1.5, np.float32))


def test_half_precision_inputs_compute_in_float32():
    a = np.linspace(-4, 4, 24).reshape(4, 6).astype(np.float16)
    b = np.linspace(1, 2, 6).astype(BF16)
    spec = FusedSpec.make(
        [("a", a.shape, np.float16), ("b", b.shape, BF16)],
        [("s", "mul", ("a", "b")), ("t", "tanh", ("s",)), ("a2", "add", ("a", "a"))],
        ["t", "a2"],
    )
    t, a2 = run(spec, a, b)
    assert t.dtype == np.float32 and a2.dtype == np.float16  # f16 * bf16 promotes to f32
    ref = np.tanh(a.astype(np.float32) * b.astype(np.float32))
    np.testing.assert_allclose(t, ref, rtol=1e-6)
    np.testing.assert_array_equal(a2, (a.astype(np.float32) * 2).astype(np.float16))


@pytest.mark.parametrize(
    "op,ref", [("sum", np.sum), ("mean", np.mean), ("max", np.max), ("min", np.min)]
)
def test_trailing_reductions(op, ref):
    x = np.random.default_rng(2).standard_normal((3, 4, 5)).astype(np.float32)
    y = np.linspace(0, 1, 5).astype(np.float32)
    spec = FusedSpec.make(
        [("x", x.shape, "float32"), ("y", (5,), "float32")],
        [("d", "sub", ("x", "y")), ("s", "mul", ("d", "d"))],
        ["s", "d"],
        reduce=(op, 2),
    )
    s, d = run(spec, x, y)
    np.testing.assert_allclose(s, ref((x - y) ** 2, axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(d, ref(x - y, axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_cache_in_memory_and_on_disk():
    spec = FusedSpec.make([("x", (7,), "float32")], [("y", "exp", ("x",))], ["y"])
    k1 = fused.compile_fused(spec)
    same = FusedSpec.make([("x", [7], np.float32)], [["y", "exp", ["x"]]], ["y"])
    assert same == spec and hash(same) == hash(spec)
    assert fused.compile_fused(same) is k1
    assert k1.path.exists() and k1.path.read_text() == k1.source
    assert k1.path.parent == fused.cache_dir() and k1.digest[:24] in k1.path.name
    x = np.arange(7, dtype=np.float32) / 7
    (y,) = k1(dev(x))
    np.testing.assert_allclose(host(y), np.exp(x), rtol=1e-6)


@pytest.mark.parametrize(
    "inputs,body,outputs,reduce,match",
    [
        ([("x", (2,), "float32")], [("y", "frob", ("x",))], ["y"], None, "unknown op"),
        ([("x", (2,), "float32")], [("y", "add", ("x",))], ["y"], None, "takes 2"),
        ([("x", (2,), "float32")], [("y", "exp", ("z",))], ["y"], None, "before definition"),
        ([("x", (2,), "float32")], [("x", "exp", ("x",))], ["x"], None, "unique"),
        ([("x", (2,), "float32")], [], ["y"], None, "not defined"),
        ([("x", (2,), "float32"), ("y", (3,), "float32")], [], ["x"], None, "broadcast"),
        ([("x", (2,), "float32")], [], ["x"], ("sum", 2), "bad reduction"),
        ([("x", (2,), "float32")], [("y", "cast:complex", ("x",))], ["y"], None, "bad cast"),
    ],
)
def test_invalid_descriptions(inputs, body, outputs, reduce, match):
    with pytest.raises(ValueError, match=match):
        fused.generate(FusedSpec.make(inputs, body, outputs, reduce))


def test_constants_of_different_kinds_get_different_kernels():
    def spec(c):
        return FusedSpec.make([("i", (3,), "int32")], [("y", "add", ("i", c))], ["y"])

    assert spec(1) == spec(1.0)  # tuple equality; the kernel cache must not conflate them
    (as_int,) = run(spec(1), np.arange(3, dtype=np.int32))
    (as_float,) = run(spec(1.0), np.arange(3, dtype=np.int32))
    assert as_int.dtype == np.int32 and as_float.dtype == np.float32


def test_input_checks():
    k = fused.compile_fused(FusedSpec.make([("x", (3,), "float32")], [], ["x"]))
    with pytest.raises(ValueError, match="expected"):
        k(dev(np.zeros(4, np.float32)))
    with pytest.raises(ValueError, match="output"):
        k(dev(np.zeros(3, np.float32)), outs=(dev(np.zeros(3, np.float16)),))
    with pytest.raises(TypeError):
        k()
