"""funtorch.data (MNIST, IDX files, batching) and ft.save / ft.load."""

import collections
import gzip
import os

import ml_dtypes
import numpy as np
import pytest

import funtorch as ft
import funtorch.nn as nn
from funtorch import data

from .common import close, rng

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# =============================================================================== data

@pytest.mark.parametrize("split,n", [("train", 4000), ("test", 1000)])
def test_mnist_sample_like_torchvision(split, n):
    x, y = data.mnist_sample(split)
    assert x.shape == (n, 28, 28) and x.dtype == np.uint8
    assert y.shape == (n,) and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(10))
    assert x.max() == 255 and x.min() == 0


@pytest.mark.parametrize("n,bs,drop_last", [(10, 3, True), (10, 3, False), (10, 5, True),
                                            (10, 20, True), (10, 20, False), (0, 2, False)])
def test_batches_shapes_like_a_dataloader(torch, n, bs, drop_last):
    x, y = np.arange(n * 2).reshape(n, 2), np.arange(n)
    ours = [tuple(np.asarray(a) for a in b)
            for b in data.batches(x, y, batch_size=bs, drop_last=drop_last)]
    ds = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
    ref = list(torch.utils.data.DataLoader(ds, batch_size=bs, drop_last=drop_last))
    assert len(data.batches(x, y, batch_size=bs, drop_last=drop_last)) == len(ref) == len(ours)
    for (a, b), (ta, tb) in zip(ours, ref):
        np.testing.assert_array_equal(a, ta.numpy())
        np.testing.assert_array_equal(b, tb.numpy())


def test_batches_shuffle_is_a_permutation_determined_by_the_key():
    x, y = np.arange(10), np.arange(10) * 2
    runs = [[tuple(map(np.asarray, b)) for b in
             data.batches(x, y, batch_size=4, key=ft.random.key(0), drop_last=False)]
            for _ in range(2)]
    assert [b[0].tolist() for b in runs[0]] == [b[0].tolist() for b in runs[1]]
    order = np.concatenate([b[0] for b in runs[0]])
    assert sorted(order.tolist()) == list(range(10)) and order.tolist() != list(range(10))
    assert all((b[1] == 2 * b[0]).all() for b in runs[0])
    assert [len(b[0]) for b in runs[0]] == [4, 4, 2]
    other = np.concatenate([np.asarray(b[0]) for b in data.batches(
        x, batch_size=4, key=ft.random.key(1), drop_last=False)])
    assert other.tolist() != order.tolist()
    it = data.batches(x, batch_size=4, key=ft.random.key(0))
    assert [b[0].tolist() for b in it] == [b[0].tolist() for b in it]  # re-iterable


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip_every_type(tmp_path, dtype, gz):
    a = (rng(0).standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = tmp_path / ("f.idx.gz" if gz else "f.idx")
    data.write_idx(path, a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
    b = data.read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    np.testing.assert_array_equal(a, b)


def test_idx_scalar_and_empty(tmp_path):
    data.write_idx(tmp_path / "s", np.array(7, np.uint8))
    assert data.read_idx(tmp_path / "s").shape == ()
    data.write_idx(tmp_path / "e", np.zeros((0, 28, 28), np.uint8))
    assert data.read_idx(tmp_path / "e").shape == (0, 28, 28)


IDX_BAD = [
    (b"\x08\x03\x00\x00" + b"\0" * 20, "magic"),
    (b"\x00\x00", "4-byte magic"),
    (b"\x00\x00\x07\x01" + (3).to_bytes(4, "big") + b"abc", "type code 0x07"),
    (b"\x00\x00\x08\x03" + (3).to_bytes(4, "big"), "header declares 3 dims"),
    (b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"abc", "truncated"),
    (b"\x00\x00\x08\x01" + (2).to_bytes(4, "big") + b"abc", "trailing"),
    (b"\x00\x00\x0d\x01" + (2).to_bytes(4, "big") + b"\0" * 7, "truncated"),
]


@pytest.mark.parametrize("payload,match", IDX_BAD)
@pytest.mark.parametrize("gz", [False, True])
def test_idx_bad_files_give_clear_errors(tmp_path, payload, match, gz):
    path = tmp_path / "bad"
    path.write_bytes(gzip.compress(payload) if gz else payload)
    with pytest.raises(ValueError, match=match) as e:
        data.read_idx(path)
    assert "bad" in str(e.value)  # names the file


def test_idx_truncated_gzip_stream(tmp_path):
    raw = gzip.compress(b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + b"abc")
    (tmp_path / "t.gz").write_bytes(raw[:-6])
    with pytest.raises(ValueError, match="gzip"):
        data.read_idx(tmp_path / "t.gz")


def test_mnist_from_crafted_root(tmp_path):
    data.write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((5, 28, 28), np.uint8))
    data.write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(5, dtype=np.uint8))
    x, y = data.mnist("train", root=tmp_path, download=False)
    assert x.shape == (5, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
    with pytest.raises(FileNotFoundError, match="t10k"):
        data.mnist("test", root=tmp_path, download=False)
    data.write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    data.write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(4, dtype=np.uint8))
    with pytest.raises(ValueError, match="3 images .* 4 labels"):
        data.mnist("test", root=tmp_path, download=False)


# =============================================================================== save / load

NT = collections.namedtuple("NT", "a b")


def _tree():
    return {
        "a": {"bf": ft.asarray(np.arange(6, dtype=np.float32).reshape(2, 3)
                               .astype(ml_dtypes.bfloat16)),
              "h": ft.asarray(np.linspace(-1, 1, 4).astype(np.float16)),
              "i": ft.asarray(np.arange(3, dtype=np.int32)),
              "b": ft.asarray(np.array([True, False])),
              "u8": ft.asarray(np.arange(3, dtype=np.uint8)),
              "i64": np.array([-(2 ** 62), 2 ** 62], np.int64)},
        "empty": np.zeros((0, 3), np.float32), "empty2": ft.zeros((2, 0)),
        "zero_d": ft.asarray(np.float32(3.5)), "zero_d_int": np.array(7, np.int64),
        "py": [1, 2.5, True, None], "tup": (ft.ones(2), (ft.zeros(1),)),
        "nt": NT(ft.ones(3), {"c": ft.asarray(np.float64(1.25))}),
        3: ft.ones(1),
    }


def test_save_load_nested_tree_every_leaf_kind(tmp_path):
    tree = _tree()
    ft.save(tmp_path / "c.safetensors", tree)
    for loaded in (ft.load(tmp_path / "c.safetensors"),
                   ft.load(tmp_path / "c.safetensors", like=tree)):
        assert ft.tree.structure(loaded) == ft.tree.structure(tree)
        assert list(loaded) == list(tree) and list(loaded["a"]) == list(tree["a"])
        for a, b in zip(ft.tree.leaves(tree), ft.tree.leaves(loaded)):
            if isinstance(a, (bool, int, float)):
                assert type(a) is type(b) and a == b
            else:
                assert np.dtype(b.dtype) == np.dtype(a.dtype) and tuple(b.shape) == a.shape
                np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
        assert isinstance(loaded["nt"], NT)


def test_saved_checkpoint_reads_in_torch_as_a_state_dict(tmp_path, torch):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    ours = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    params, state = ours.init(ft.random.key(0)), ours.init_state()
    ft.save(tmp_path / "m.safetensors", nn.state_dict(params, state))
    flat = safetensors_torch.load_file(str(tmp_path / "m.safetensors"))
    ref.load_state_dict(flat, strict=True)
    close(ref[0].weight.detach(), params["0"]["weight"])


@pytest.mark.parametrize("edit,match", [
    (lambda t: t.__setitem__("zero_d", ft.asarray(np.float64(3.5))), r"\['zero_d'\].*float64"),
    (lambda t: t.__setitem__("empty", np.zeros((0, 4), np.float32)), r"\['empty'\].*\[0, 4\]"),
    (lambda t: t.__setitem__("py", [1, 2.5, True]), r"\['py'\].*length 3"),
    (lambda t: t.__setitem__("py", (1, 2.5, True, None)), r"\['py'\].*tuple"),
    (lambda t: t["py"].__setitem__(3, ft.ones(1)), r"\['py'\]\[3\]"),
    (lambda t: t["a"].pop("bf"), r"\['a'\].*extra keys \['bf'\]"),
    (lambda t: t["a"].__setitem__("new", ft.ones(1)), r"lacks keys \['new'\]"),
    (lambda t: t["a"].__setitem__("bf", ft.ones((2, 3))), r"bfloat16"),
    (lambda t: t.__setitem__("nt", (ft.ones(3), {"c": 1.0})), r"\['nt'\]"),
])
def test_load_like_refuses_structure_mismatch(tmp_path, edit, match):
    ft.save(tmp_path / "c.safetensors", _tree())
    like = _tree()
    edit(like)
    with pytest.raises(ValueError, match=match):
        ft.load(tmp_path / "c.safetensors", like=like)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        ft.load(tmp_path / "missing.safetensors")
    (tmp_path / "g").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a valid safetensors"):
        ft.load(tmp_path / "g")
    ft.save(tmp_path / "r", ft.asarray(np.float32(1.5)))
    r = ft.load(tmp_path / "r")
    assert r.shape == () and float(r) == 1.5
    assert not os.listdir(tmp_path) or all(not n.endswith(".tmp") for n in os.listdir(tmp_path))
