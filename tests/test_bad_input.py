"""Bad input at the public API: each case gets a clear TypeError/ValueError/IndexError that
names the funtorch op (the public API contract's "Errors"), never an internal crash, a hang
or garbage. Sizes are tiny throughout so nothing can hang."""

import numpy as np
import pytest

import funtorch as ft
import funtorch.nn as nn
import funtorch.nn.functional as F

K = ft.random.key(0)


# --------------------------------------------------------------------------- dtypes

@pytest.mark.parametrize("spec, want", [
    ("float32", np.float32), ("int", np.int64), ("f4", np.float32), ("i4", np.int32),
    (np.float32, np.float32), (float, np.float64), (int, np.int64), (bool, np.bool_),
    ("float", np.float64), (np.dtype("int8"), np.int8),
])
def test_numpy_style_dtype_specs_are_accepted(spec, want):
    assert ft.zeros(2, dtype=spec).dtype == want
    assert ft.tensor([1, 2], dtype=spec).dtype == want
    assert ft.ones(2).astype(spec).dtype == want


@pytest.mark.parametrize("spec", ["float128", "complex64", object, "U3"])
def test_unsupported_dtype_is_a_type_error(spec):
    with pytest.raises(TypeError, match="funtorch: dtype .* is not supported; use one of"):
        ft.zeros(2, dtype=spec)
    with pytest.raises(TypeError, match="not supported"):
        ft.ones(2).astype(spec)


@pytest.mark.parametrize("spec", ["floot32", 3])
def test_invalid_dtype_is_a_type_error(spec):
    with pytest.raises(TypeError, match="is not a dtype"):
        ft.zeros(2, dtype=spec)


def test_random_dtype_kind_is_checked():
    assert ft.random.normal(K, (3,), dtype="float16").dtype == np.float16
    assert ft.random.randint(K, (3,), 0, 5, dtype="int32").dtype == np.int32
    with pytest.raises(TypeError, match="random.normal: dtype must be a float"):
        ft.random.normal(K, (3,), dtype="int32")
    with pytest.raises(TypeError, match="random.randint: dtype must be an integer"):
        ft.random.randint(K, (3,), 0, 5, dtype="float32")


# --------------------------------------------------------------------------- creation

@pytest.mark.parametrize("op", ["zeros", "ones"])
@pytest.mark.parametrize("shape", [-1, (2, -3)])
def test_creation_negative_shape(op, shape):
    with pytest.raises(ValueError, match=f"funtorch.{op}: negative dimensions"):
        getattr(ft, op)(shape)


@pytest.mark.parametrize("shape", [2.5, None, (2, 1.5), "ab"])
def test_creation_non_integer_shape(shape):
    with pytest.raises(TypeError, match="funtorch.zeros: shape must"):
        ft.zeros(shape)
    with pytest.raises(TypeError, match="funtorch.full: shape must"):
        ft.full(shape, 1.0)


def test_full_negative_and_like_shape():
    with pytest.raises(ValueError, match="funtorch.full: negative dimensions"):
        ft.full((-2,), 1.0)
    with pytest.raises(ValueError, match="funtorch.full_like: negative dimensions"):
        ft.zeros_like(ft.ones(2), shape=(-1,))


def test_arange_bad_arguments():
    with pytest.raises(ValueError, match="funtorch.arange: step must not be zero"):
        ft.arange(0, 5, 0)
    with pytest.raises(TypeError, match="funtorch.arange: stop must be a real number"):
        ft.arange(None)
    with pytest.raises(TypeError, match="funtorch.arange: start must be a real number"):
        ft.arange("a", 3)
    assert ft.arange(2.5).shape == (3,)


def test_linspace_num():
    with pytest.raises(ValueError, match="funtorch.linspace: negative dimensions"):
        ft.linspace(0, 1, -3)
    with pytest.raises(TypeError, match="funtorch.linspace: num must be an integer"):
        ft.linspace(0, 1, 2.5)
    assert ft.linspace(0, 1, np.int64(3)).shape == (3,)


@pytest.mark.parametrize("n, err", [(-2, ValueError), (2.5, TypeError), (None, TypeError)])
def test_eye_bad_n(n, err):
    with pytest.raises(err, match="funtorch.eye: n must|funtorch.eye: negative"):
        ft.eye(n)
    if n is not None:   # m=None means m=n
        with pytest.raises(err, match="funtorch.eye: m must|funtorch.eye: negative"):
            ft.eye(2, n)


def test_tensor_ragged_is_a_value_error():
    with pytest.raises(ValueError, match="funtorch.tensor: nested sequences .*ragged"):
        ft.tensor([[1, 2], [3]])
    with pytest.raises(ValueError, match="ragged"):
        ft.tensor([[1, 2], [3]], dtype="float32")


@pytest.mark.parametrize("data", ["abc", ["a", "b"], {"a": 1}, None, 1 + 2j, object()])
def test_tensor_of_non_numbers(data):
    with pytest.raises(TypeError, match="funtorch: cannot convert .* to an array"):
        ft.tensor(data)


# --------------------------------------------------------------------------- shapes

def test_reshape_bad_sizes():
    x = ft.ones(6)
    with pytest.raises(ValueError, match=r"funtorch.reshape: cannot reshape .* \(6,\) .* "
                                         r"into shape \(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match="funtorch.reshape: can only specify one unknown"):
        x.reshape(-1, -1)
    with pytest.raises(ValueError, match="funtorch.reshape: cannot reshape"):
        x.reshape(-2, 3)
    with pytest.raises(ValueError, match="funtorch.reshape: cannot reshape"):
        ft.reshape(x, (4, -1))
    # under jit the same message comes from the same entry point
    with pytest.raises(ValueError, match="funtorch.reshape: cannot reshape"):
        ft.jit(lambda a: a.reshape(4, 2))(x)


@pytest.mark.parametrize("axes, msg", [((0, 0), "not a permutation"),
                                       ((0, 1, 2), "out of bounds"),
                                       ((0, 5), "out of bounds")])
def test_transpose_bad_axes(axes, msg):
    with pytest.raises(ValueError, match=f"funtorch.transpose: .*{msg}"):
        ft.transpose(ft.ones((2, 3)), axes)


@pytest.mark.parametrize("op", ["sum", "mean", "max", "argmax"])
def test_reduction_axis_out_of_range(op):
    with pytest.raises(ValueError, match=f"funtorch.{op}: axis .* out of bounds"):
        getattr(ft, op)(ft.ones((2, 3)), axis=2)


def test_reduction_duplicate_axes():
    with pytest.raises(ValueError, match=r"funtorch.sum: repeated axis in \(0, 0\)"):
        ft.sum(ft.ones((2, 3)), axis=(0, 0))


def test_matmul_bad_operands():
    with pytest.raises(ValueError, match="funtorch.matmul: operands must be at least 1-d"):
        ft.matmul(ft.tensor(1.0), ft.ones(3))
    with pytest.raises(ValueError, match="funtorch.matmul: contracted dimensions differ"):
        ft.ones((2, 3)) @ ft.ones((2, 3))


def test_concatenate_and_stack():
    with pytest.raises(ValueError, match="funtorch.concatenate: need at least one array"):
        ft.concatenate([])
    with pytest.raises(ValueError, match="funtorch.concatenate: all arrays need the same rank"):
        ft.concatenate([ft.ones((2, 3)), ft.ones(3)])
    with pytest.raises(ValueError, match="funtorch.stack: need at least one array"):
        ft.stack([])
    with pytest.raises(ValueError, match="funtorch.stack: all arrays must have the same shape"):
        ft.stack([ft.ones(2), ft.ones(3)])


def test_bool_negate_and_subtract():
    b = ft.tensor([True, False])
    for f in (lambda x: -x, ft.negative):
        with pytest.raises(TypeError, match="funtorch.negative: boolean negative"):
            f(b)
        with pytest.raises(TypeError, match="funtorch.negative: boolean negative"):
            ft.jit(f)(b)
    with pytest.raises(TypeError, match="funtorch.subtract: boolean subtract"):
        b - b
    with pytest.raises(TypeError, match="funtorch.subtract: boolean subtract"):
        ft.jit(lambda x: x - x)(b)   # used to return [False, False] silently
    assert (b - 1).tolist() == [0, -1]   # promotes to int, as numpy


# --------------------------------------------------------------------------- indexing

@pytest.mark.parametrize("index, msg", [
    (1.5, "only integers, slices .* got float"),
    ("a", "only integers, slices .* got str"),
    ((0, 0), "too many indices for array"),
    (5, "index 5 is out of bounds for axis 0 with size 3"),
    (-5, "index -5 is out of bounds"),
])
def test_bad_index(index, msg):
    x = ft.ones(3)
    with pytest.raises(IndexError, match=f"funtorch: {msg}"):
        x[index]
    with pytest.raises(IndexError, match=f"funtorch: {msg}"):
        x.at[index].set(1.0)


def test_bad_array_index():
    x = ft.ones(3)
    with pytest.raises(IndexError, match="index 7 is out of bounds"):
        x[ft.tensor([0, 7])]
    with pytest.raises(IndexError, match="index 7 is out of bounds"):
        x.at[ft.tensor([0, 7])].add(1.0)
    with pytest.raises(IndexError, match="array index of dtype float32"):
        x[ft.tensor([0.5])]
    with pytest.raises(IndexError, match="boolean index did not match"):
        x[ft.tensor([True, False])]


# --------------------------------------------------------------------------- random

@pytest.mark.parametrize("key, msg", [(ft.ones(2), "f32"), (ft.zeros(3, dtype="uint32"), "u32"),
                                      (5, "i64"), (None, "NoneType"), ("k", "str")])
def test_random_bad_key(key, msg):
    with pytest.raises(TypeError, match=f"funtorch.random.normal: expected a key .*{msg}"):
        ft.random.normal(key, (3,))


def test_random_bad_shapes_and_counts():
    with pytest.raises(ValueError, match="funtorch.random.split: negative dimension"):
        ft.random.split(K, -1)
    with pytest.raises(TypeError, match="funtorch.random.split: shape must be an int"):
        ft.random.split(K, 2.5)
    with pytest.raises(ValueError, match="funtorch.random.normal: negative dimension"):
        ft.random.normal(K, (2, -3))
    with pytest.raises(TypeError, match="funtorch.random.normal: shape must be an int"):
        ft.random.normal(K, (2.5,))
    with pytest.raises(ValueError, match="random.permutation: negative .* population size=-3"):
        ft.random.permutation(K, -3)   # used to return an empty array
    with pytest.raises(ValueError, match="funtorch.random.choice: cannot draw 5 values"):
        ft.random.choice(K, 3, (5,), replace=False)


def test_random_bounds():
    with pytest.raises(ValueError, match="funtorch.random.uniform: needs minval < maxval"):
        ft.random.uniform(K, (3,), minval=2.0, maxval=1.0)
    with pytest.raises(TypeError, match="funtorch.random.randint: bounds must be integers"):
        ft.random.randint(K, (3,), 0.5, 3.5)
    with pytest.raises(ValueError, match="funtorch.random.randint: needs minval < maxval"):
        ft.random.randint(K, (3,), 5, 1)


def test_random_key_seed():
    with pytest.raises(TypeError, match="funtorch.random.key: needs an integer seed"):
        ft.random.key("a")
    with pytest.raises(TypeError, match="funtorch.random.key: needs an integer scalar seed"):
        ft.random.key(1.5)


# --------------------------------------------------------------------------- nn

@pytest.mark.parametrize("make, err, msg", [
    (lambda: nn.Linear(-1, 3), ValueError, "Linear: in_features must be >= 0"),
    (lambda: nn.Linear(2.5, 3), TypeError, "Linear: in_features must be an int"),
    (lambda: nn.Linear(2, None), TypeError, "Linear: out_features must be an int"),
    (lambda: nn.Conv2d(3, 8, 0), ValueError, "Conv2d: kernel_size must be positive"),
    (lambda: nn.Conv2d(3, 8, (3, 0)), ValueError, "Conv2d: kernel_size must be positive"),
    (lambda: nn.Conv2d(3, 8, 3, padding=-1), ValueError, "Conv2d: padding must be >= 0"),
    (lambda: nn.Conv2d(3, 8, 3, stride=0), ValueError, "Conv2d: stride must be positive"),
    (lambda: nn.Conv2d(-1, 8, 3), ValueError, "Conv2d: in_channels must be >= 0"),
    (lambda: nn.Conv2d(4, 4, 3, groups=0), ValueError, "Conv2d: groups must be positive"),
    (lambda: nn.Conv1d(3, 8, 2.0), TypeError, "Conv1d: kernel_size must be an int"),
    (lambda: nn.Embedding(-1, 3), ValueError, "Embedding: num_embeddings must be >= 0"),
    (lambda: nn.BatchNorm2d(-3), ValueError, "BatchNorm2d: num_features must be positive"),
    (lambda: nn.MaxPool2d(0), ValueError, "MaxPool2d: kernel_size must be positive"),
    (lambda: nn.AvgPool2d(2, stride=0), ValueError, "AvgPool2d: stride must be positive"),
    (lambda: nn.MaxPool2d(2, padding=-1), ValueError, "MaxPool2d: padding must be >= 0"),
])
def test_module_constructor_args(make, err, msg):
    with pytest.raises(err, match=f"funtorch.nn.{msg}"):
        make()


def test_module_call_with_wrong_input():
    lin = nn.Linear(4, 3)
    with pytest.raises(ValueError, match="functional.linear: input's last dimension"):
        lin(lin.init(K), ft.ones((2, 5)))
    conv = nn.Conv2d(3, 8, 3)
    cp = conv.init(K)
    with pytest.raises(ValueError, match=r"conv2d: expected a 3-D or 4-D input .*\(3, 8\)"):
        conv(cp, ft.ones((3, 8)))
    with pytest.raises(ValueError, match="conv2d: input of shape .* has 4 channels"):
        conv(cp, ft.ones((1, 4, 8, 8)))
    with pytest.raises(ValueError, match="conv2d: .*Kernel size can't be greater"):
        conv(cp, ft.ones((1, 3, 2, 2)))
    ln = nn.LayerNorm(4)
    with pytest.raises(ValueError, match="layer_norm: normalized_shape"):
        ln(ln.init(K), ft.ones((2, 5)))
    with pytest.raises(ValueError, match="max_pool2d: expected a 3-D or 4-D input"):
        nn.MaxPool2d(2)({}, ft.ones(3))


def test_module_call_with_wrong_params():
    lin = nn.Linear(4, 3)
    for params in ({}, None, {"bias": ft.ones(3)}):
        with pytest.raises(ValueError, match="funtorch.nn.Linear: params has no 'weight'"):
            lin(params, ft.ones((2, 4)))
    with pytest.raises(ValueError, match="funtorch.nn.Conv2d: params has no 'weight'"):
        nn.Conv2d(3, 8, 3)({}, ft.ones((1, 3, 8, 8)))


@pytest.mark.parametrize("key, msg", [(0, "i64"), (None, "NoneType"), (ft.ones(2), "f32")])
def test_module_init_with_a_non_key(key, msg):
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    with pytest.raises(TypeError, match=f"funtorch.nn.Sequential.init: expected a key .*{msg}"):
        model.init(key)
    with pytest.raises(TypeError, match="funtorch.nn.Linear.init"):
        nn.Linear(4, 3).init(key)


def test_module_init_under_vmap_still_works():
    params = ft.vmap(nn.Linear(4, 3).init)(ft.random.split(K, 2))
    assert params["weight"].shape == (2, 3, 4)


def test_functional_losses():
    with pytest.raises(ValueError, match="cross_entropy: probability targets must have"):
        F.cross_entropy(ft.ones((4, 3)), ft.ones(4))
    with pytest.raises(ValueError, match=r"cross_entropy: target of shape \(3,\) does not"):
        F.cross_entropy(ft.ones((4, 3)), ft.tensor([0, 1, 2]))
    with pytest.raises(IndexError, match="cross_entropy: target 7 is out of bounds"):
        F.cross_entropy(ft.ones((4, 3)), ft.tensor([0, 1, 2, 7]))
    with pytest.raises(TypeError, match="nll_loss: class-index targets must be integers"):
        F.nll_loss(ft.ones((4, 3)), ft.ones(4))
    with pytest.raises(ValueError, match=r"mse_loss: target of shape \(5, 3\) does not"), \
            pytest.warns(UserWarning, match="Using a target size"):   # PyTorch warns first
        F.mse_loss(ft.ones((4, 3)), ft.ones((5, 3)))
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits: target size"):
        F.binary_cross_entropy_with_logits(ft.ones((4, 3)), ft.ones((5, 3)))
    with pytest.raises(ValueError, match="dropout: p must be in"):
        F.dropout(ft.ones(3), p=1.5, key=K, training=True)
    with pytest.raises(TypeError, match="softmax: expected a floating-point input"):
        F.softmax(ft.ones(3, dtype="int8"), dim=-1)


# --------------------------------------------------------------------------- optim

@pytest.mark.parametrize("make, err, msg", [
    (lambda: ft.optim.adam(-1.0), ValueError, "adam: lr must be non-negative"),
    (lambda: ft.optim.sgd(-0.1), ValueError, "sgd: lr must be non-negative"),
    (lambda: ft.optim.sgd(0.1, momentum=-1), ValueError, "sgd: momentum must be non-negative"),
    (lambda: ft.optim.rmsprop(-0.1), ValueError, "rmsprop: lr must be non-negative"),
    (lambda: ft.optim.adamw(1e-3, weight_decay=-1), ValueError, "adamw: weight_decay must"),
    (lambda: ft.optim.adam(1e-3, eps=-1), ValueError, "adam: eps must be non-negative"),
    (lambda: ft.optim.adam(1e-3, betas=(0.9, 1.0)), ValueError, r"adam: betas must be in \[0, 1\)"),
    (lambda: ft.optim.adam(1e-3, betas=(-0.1, 0.9)), ValueError, "adam: beta1 must be non-neg"),
    (lambda: ft.optim.adam(1e-3, betas=(0.9,)), ValueError, "adam: betas must be a pair"),
    (lambda: ft.optim.adam(1e-3, betas=0.9), ValueError, "adam: betas must be a pair"),
    (lambda: ft.optim.adam(None), TypeError, "adam: lr must be a real number"),
    (lambda: ft.optim.sgd("a"), TypeError, "sgd: lr must be a real number"),
    (lambda: ft.optim.clip_by_global_norm(-1.0), ValueError, "clip_by_global_norm: max_norm"),
])
def test_optimizer_constructor_args(make, err, msg):
    with pytest.raises(err, match=f"funtorch.optim.{msg}"):
        make()


def test_optimizer_accepts_schedules_and_array_lr():
    ft.optim.adam(lambda step: 1e-3)
    ft.optim.sgd(ft.tensor(0.1))


def test_optimizer_update_with_mismatched_trees():
    opt = ft.optim.adam(1e-3)
    state = opt.init({"a": ft.ones(2), "b": ft.ones(3)})
    with pytest.raises(ValueError, match="funtorch.optim.update: grads/params do not match"):
        opt.update({"a": ft.ones(2)}, state, {"a": ft.ones(2)})
    state = opt.init({"a": ft.ones(2)})
    with pytest.raises(ValueError, match="funtorch.optim.update: .*shapes"):
        opt.update({"a": ft.ones(3)}, state, {"a": ft.ones(2)})
    with pytest.raises(ValueError, match="funtorch.optim.apply_updates: updates do not match"):
        ft.optim.apply_updates({"a": ft.ones(2)}, {"b": ft.ones(2)})
    with pytest.raises(ValueError, match="funtorch.optim.* this optimizer needs"):
        ft.optim.adamw(1e-3).update({"a": ft.ones(2)}, ft.optim.adamw(1e-3).init({"a": ft.ones(2)}))


# --------------------------------------------------------------------------- transforms

@pytest.mark.parametrize("transform", ["jit", "grad", "value_and_grad", "vmap"])
@pytest.mark.parametrize("fun", [3, None, "f"])
def test_transform_of_a_non_callable(transform, fun):
    if transform == "jit" and fun is None:
        fun = 4   # jit(None) is the decorator form, jit(static_argnums=...)
    with pytest.raises(TypeError, match=f"funtorch.{transform}: expected a callable"):
        getattr(ft, transform)(fun)


@pytest.mark.parametrize("out, kind", [("abc", "str"), (object(), "object"),
                                       ({"a": "x"}, "str")])
def test_jit_returning_non_arrays(out, kind):
    with pytest.raises(TypeError, match=f"funtorch.jit: .* returned a value of type {kind}"):
        ft.jit(lambda x: out)(ft.ones(2))


def test_jit_may_return_numbers_and_none():
    assert ft.jit(lambda x: (x, 1, 2.0, None))(ft.ones(2))[1] == 1


def test_jit_static_args():
    with pytest.raises(TypeError, match="funtorch.jit: static argument .* not hashable"):
        ft.jit(lambda x, s: x, static_argnums=1)(ft.ones(2), [1, 2])
    with pytest.raises(ValueError, match="funtorch.jit: static_argnums=.*only accepts 1"):
        ft.jit(lambda x: x, static_argnums=5)(ft.ones(2))


def test_grad_outputs_and_inputs():
    assert float(ft.grad(lambda x: 1.0)(ft.ones(()))) == 0.0   # constant: zero gradient
    with pytest.raises(TypeError, match="funtorch.grad: the function must return a scalar"):
        ft.grad(lambda x: x * 2)(ft.ones(3))
    with pytest.raises(TypeError, match="funtorch.grad: the output must be floating point"):
        ft.grad(lambda x: (x * 2).astype("int32"))(ft.ones(()))
    with pytest.raises(TypeError, match="funtorch.grad: differentiated arguments must be"):
        ft.grad(lambda x: x * 2)(ft.tensor(3))
    with pytest.raises(ValueError, match="funtorch.grad: argnums 3 out of range"):
        ft.grad(lambda x: x.sum(), argnums=3)(ft.ones(2))


def test_vmap_bad_axes():
    with pytest.raises(ValueError, match="funtorch.vmap: in_axes has 3 entries"):
        ft.vmap(lambda x, y: x + y, in_axes=(0, 0, 0))(ft.ones(2), ft.ones(2))
    with pytest.raises(ValueError, match="funtorch.vmap: in_axes=3 is out of range"):
        ft.vmap(lambda x: x, in_axes=3)(ft.ones(2))
    with pytest.raises(ValueError, match="funtorch.vmap: inconsistent sizes"):
        ft.vmap(lambda x, y: x + y)(ft.ones(2), ft.ones(3))
    with pytest.raises(ValueError, match="(?s)funtorch.vmap: inconsistent sizes.*axis_size=3"):
        ft.vmap(lambda x: x, axis_size=3)(ft.ones(2))
    with pytest.raises(ValueError, match="funtorch.vmap: in_axes=0 .* rank-0 argument"):
        ft.vmap(lambda x: x)(ft.ones(()))
    with pytest.raises(TypeError, match="funtorch.vmap: in_axes must be an int, None or"):
        ft.vmap(lambda x: x, in_axes="a")(ft.ones(2))
    with pytest.raises(ValueError, match="funtorch.vmap: in_axes .* does not match the"):
        ft.vmap(lambda x: x["a"], in_axes=({"b": 0},))({"a": ft.ones(2)})
    with pytest.raises(ValueError, match="funtorch.vmap: out_axes=3 is out of range"):
        ft.vmap(lambda x: x, out_axes=3)(ft.ones(2))
    with pytest.raises(ValueError, match="funtorch.vmap: no argument is mapped"):
        ft.vmap(lambda: 1)()


def test_control_flow_bad_input():
    with pytest.raises(TypeError, match="funtorch.cond: pred must be a scalar"):
        ft.cond(ft.ones(3) > 0, lambda: 1.0, lambda: 0.0)
    with pytest.raises(TypeError, match="funtorch.cond: branches must return the same"):
        ft.cond(ft.tensor(True), lambda: ft.ones(2), lambda: ft.ones(3))
    with pytest.raises(TypeError, match="funtorch.while_loop: cond_fun must return a bool"):
        ft.while_loop(lambda c: c > 0, lambda c: c - 1, ft.ones(2))
    with pytest.raises(ValueError, match="funtorch.scan: xs leaves and length disagree"):
        ft.scan(lambda c, x: (c, x), 0.0, (ft.ones(3), ft.ones(4)))


# --------------------------------------------------------------------------- compiled CPU kernels

@pytest.mark.parametrize("dt", ["uint8", "uint16", "uint32", "int8", "int16", "int32",
                                "float16", "bfloat16", "bool"])
def test_jit_with_unusual_dtypes_matches_eager(dt):
    fns = [lambda x: x * 2 + x, lambda x: x.sum(), lambda x: ft.max(x, axis=0),
           lambda x: x @ x.T, lambda x: ft.sort(x, axis=-1), lambda x: ft.cumsum(x, axis=0),
           lambda x: ft.where(x > 0, x, 0), lambda x: x[ft.tensor([0, 1])]]
    x = ft.tensor(np.arange(6).reshape(2, 3) % 3).astype(dt)
    for f in fns:
        got, want = ft.jit(f)(x), f(x)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(np.asarray(got.astype("float32")),
                                      np.asarray(want.astype("float32")))


# --------------------------------------------------------------------------- io and data

def test_save_non_array_leaves(tmp_path):
    with pytest.raises(TypeError, match=r"ft.save: leaf at \['a'\] is a str"):
        ft.save(tmp_path / "a.st", {"a": "hello"})
    with pytest.raises(TypeError, match=r"ft.save: leaf at \['a'\] has dtype object"):
        ft.save(tmp_path / "b.st", {"a": object()})
    ft.save(tmp_path / "c.st", {"n": 3, "x": ft.ones(2)})   # Python numbers are fine
    assert ft.load(tmp_path / "c.st")["n"] == 3


def test_load_missing_or_invalid(tmp_path):
    with pytest.raises(FileNotFoundError, match="ft.load: no such file"):
        ft.load(tmp_path / "nope.st")
    with pytest.raises(IsADirectoryError, match="ft.load: .* is a directory"):
        ft.load(tmp_path)
    (tmp_path / "junk.bin").write_bytes(b"hello world, not safetensors")
    with pytest.raises(ValueError, match="ft.load: .* is not a valid safetensors file"):
        ft.load(tmp_path / "junk.bin")


def test_batches_bad_arguments():
    with pytest.raises(ValueError, match="batches: arrays must share their leading length"):
        list(ft.data.batches(np.ones(5), np.ones(4), batch_size=2))
    for bs in (0, -2):
        with pytest.raises(ValueError, match="batches: batch_size must be positive"):
            list(ft.data.batches(np.ones(5), batch_size=bs))
    with pytest.raises(TypeError, match="batches: batch_size must be a positive int"):
        list(ft.data.batches(np.ones(5), batch_size=2.5))
    with pytest.raises(TypeError, match="batches: pass at least one array"):
        list(ft.data.batches(batch_size=2))


def test_batches_bad_key():
    with pytest.raises(TypeError, match=r"batches: key must be a random key .*i64\[\]"):
        list(ft.data.batches(np.ones(5), batch_size=2, key=3))


def test_save_to_a_directory(tmp_path):
    with pytest.raises(IsADirectoryError, match="ft.save: .* is a directory; pass a file"):
        ft.save(tmp_path, {"a": ft.ones(2)})


def test_module_init_with_a_batch_of_keys():
    with pytest.raises(ValueError, match="funtorch.nn.Linear.init: takes a single key"):
        nn.Linear(2, 2).init(ft.random.split(K, 3))


@pytest.mark.parametrize("axis", [0.5, "a", (0, 1.0)])
def test_non_integer_axis(axis):
    # 0.5 used to be truncated to axis 0 silently
    with pytest.raises(TypeError, match="funtorch.sum: axis must be an integer"):
        ft.sum(ft.ones((2, 3)), axis=axis)
    assert ft.sum(ft.ones((2, 3)), axis=np.int64(1)).shape == (2,)
    assert ft.sum(ft.ones((2, 3)), axis=ft.tensor(1)).shape == (2,)


def test_dropout_p_type():
    with pytest.raises(ValueError, match="funtorch.nn.Dropout: p must be a number in"):
        nn.Dropout("a")
    with pytest.raises(ValueError, match="funtorch.nn.Dropout: p must be a number in"):
        nn.Dropout(-0.1)
