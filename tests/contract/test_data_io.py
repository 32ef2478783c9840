"""Data (MNIST, batching) and io (save/load)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

import funtorch as ft
import funtorch.nn as nn

from .common import NT, RNG, assert_same


class TestData:
    @pytest.mark.parametrize("split,n", [("train", None), ("test", None)])
    def test_mnist_sample(self, split, n):
        x, y = ft.data.mnist_sample(split=split)
        assert x.dtype == np.uint8 and x.ndim == 3 and x.shape[1:] == (28, 28)
        assert y.dtype == np.int64 and y.shape == (x.shape[0],)
        assert 0 <= int(np.min(y)) and int(np.max(y)) <= 9
        assert len(np.unique(np.asarray(y))) == 10
        assert ft.data.mnist_sample()[0].shape == ft.data.mnist_sample("train")[0].shape

    def test_bad_split(self):
        with pytest.raises(ValueError, match=r"split.*'train' or 'test'"):
            ft.data.mnist_sample(split="val")

    @pytest.mark.parametrize("gz", [True, False])
    def test_mnist_from_root_without_download(self, tmp_path, gz):
        imgs = RNG.integers(0, 256, (7, 28, 28)).astype(np.uint8)
        labs = RNG.integers(0, 10, 7).astype(np.uint8)
        ext = ".gz" if gz else ""
        ft.data.write_idx(str(tmp_path / f"t10k-images-idx3-ubyte{ext}"), imgs)
        ft.data.write_idx(str(tmp_path / f"t10k-labels-idx1-ubyte{ext}"), labs)
        x, y = ft.data.mnist(split="test", root=str(tmp_path), download=False)
        assert_same(x, imgs)
        assert_same(y, labs.astype(np.int64))

    def test_missing_files_without_download_say_where_and_how(self, tmp_path, monkeypatch):
        monkeypatch.setenv("FUNTORCH_DATA", str(tmp_path / "env"))
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        with pytest.raises(FileNotFoundError) as e:
            ft.data.mnist(root=str(tmp_path / "none"), download=False)
        msg = str(e.value)
        assert "train-images-idx3-ubyte" in msg and "download=True" in msg
        assert "mnist_sample" in msg

    def test_truncated_file_is_reported(self, tmp_path):
        imgs = RNG.integers(0, 256, (7, 28, 28)).astype(np.uint8)
        ft.data.write_idx(str(tmp_path / "train-images-idx3-ubyte"), imgs)
        ft.data.write_idx(str(tmp_path / "train-labels-idx1-ubyte"), np.zeros(7, np.uint8))
        p = tmp_path / "train-images-idx3-ubyte"
        p.write_bytes(p.read_bytes()[:-100])
        with pytest.raises(ValueError, match=r"train-images-idx3-ubyte"):
            ft.data.mnist(root=str(tmp_path), download=False)
        g = tmp_path / "x.gz"
        g.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00\x00\x00\x05" + b"abc")[:-4])
        with pytest.raises(ValueError, match=r"x\.gz"):
            ft.data.read_idx(str(g))

    def test_batches(self):
        x, y = np.arange(20).reshape(10, 2), np.arange(10)
        bs = list(ft.data.batches(x, y, batch_size=4))
        assert len(bs) == 2 == len(ft.data.batches(x, y, batch_size=4))
        assert_same(np.asarray(bs[1][1]), np.arange(4, 8))
        bs = list(ft.data.batches(x, y, batch_size=4, drop_last=False))
        assert [len(b[1]) for b in bs] == [4, 4, 2]
        k = ft.random.key(0)
        order = np.concatenate([np.asarray(b[1]) for b in
                                ft.data.batches(x, y, batch_size=5, key=k)])
        assert_same(order, np.asarray(ft.random.permutation(k, 10)))
        (only,), = list(ft.data.batches(x[:3], batch_size=3))
        assert only.shape == (3, 2)
        assert list(ft.data.batches(x[:3], batch_size=4)) == []
        with pytest.raises(ValueError, match=r"leading"):
            ft.data.batches(x, y[:9], batch_size=4)
        with pytest.raises(TypeError):
            ft.data.batches(x, y, 4)       # batch_size is keyword-only


class TestIO:
    def test_round_trip_dtypes_and_structure(self, tmp_path):
        tree = {"w": ft.ones((2, 3)), "layers": [ft.arange(3), (ft.zeros(0), ft.tensor(2.5))],
                "h": ft.ones(2, ft.bfloat16), "b": ft.tensor([True, False]),
                "u": ft.ones(2, ft.uint8), "f16": ft.ones(1, ft.float16),
                "u32": ft.ones(2, ft.uint32), "i32": ft.ones(2, ft.int32),
                "f64": ft.ones(2, ft.float64), "nt": NT(ft.ones(1), None)}
        path = tmp_path / "ckpt.safetensors"
        ft.save(str(path), tree)
        back = ft.load(str(path))
        assert ft.tree.structure(back) == ft.tree.structure(tree)
        for a, b in zip(ft.tree.leaves(back), ft.tree.leaves(tree)):
            assert isinstance(a, ft.Array)
            assert_same(a, b)
        assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]   # atomic, no temp
        assert ft.tree.structure(ft.load(path)) == ft.tree.structure(tree)        # PathLike

    def test_model_and_optimizer_state_round_trip(self, tmp_path):
        m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
        p, s = m.init(ft.random.key(0)), m.init_state()
        opt = ft.optim.adam()
        os_ = opt.init(p)
        ft.save(str(tmp_path / "a.safetensors"), {"params": p, "state": s, "opt": os_, "step": 3})
        back = ft.load(str(tmp_path / "a.safetensors"),
                       like={"params": p, "state": s, "opt": os_, "step": 3})
        assert back["step"] == 3
        assert ft.tree.structure(back["opt"]) == ft.tree.structure(os_)
        assert_same(back["params"]["0"]["weight"], p["0"]["weight"])

    def test_interop_with_safetensors_numpy(self, tmp_path):
        st = pytest.importorskip("safetensors.numpy")
        ft.save(str(tmp_path / "m.safetensors"), {"a": {"b": ft.ones(2)}})
        raw = st.load_file(str(tmp_path / "m.safetensors"))
        assert len(raw) == 1
        assert_same(next(iter(raw.values())), np.ones(2, np.float32))

    def test_errors(self, tmp_path):
        path = tmp_path / "c.safetensors"
        ft.save(str(path), {"a": ft.ones(2)})
        with pytest.raises(ValueError, match=r"like.*\['a'\].*float32\[3\].*float32\[2\]"):
            ft.load(str(path), like={"a": ft.ones(3)})
        with pytest.raises(ValueError, match=r"like.*(extra|missing|lacks).*b"):
            ft.load(str(path), like={"a": ft.ones(2), "b": ft.ones(2)})
        data = path.read_bytes()
        (tmp_path / "t.safetensors").write_bytes(data[:-3])
        with pytest.raises(ValueError, match=r"t\.safetensors.*(not a valid|corrupt|truncated)"):
            ft.load(str(tmp_path / "t.safetensors"))
        (tmp_path / "g.safetensors").write_bytes(b"garbage!")
        with pytest.raises(ValueError, match=r"g\.safetensors"):
            ft.load(str(tmp_path / "g.safetensors"))
        with pytest.raises(FileNotFoundError):
            ft.load(str(tmp_path / "missing.safetensors"))
        # a failed save leaves the previous checkpoint intact
        with pytest.raises(TypeError):
            ft.save(str(path), {"a": object()})
        assert_same(ft.load(str(path))["a"], np.ones(2, np.float32))
