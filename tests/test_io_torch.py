"""Reading PyTorch checkpoints (.pth/.pt) without torch: the checked-in file, files torch
writes now, odd layouts, and hostile or broken files."""

from __future__ import annotations

import io
import os
import pickle
import sys
import zipfile

import ml_dtypes
import numpy as np
import pytest

import funtorch as ft
from funtorch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "data"))
import make_torch_checkpoint as fixture  # noqa: E402


def _same_dict(got, want):
    assert list(got) == list(want)
    for k, w in want.items():
        w = np.asarray(w)
        g = np.asarray(got[k])
        assert g.dtype == w.dtype and g.shape == w.shape, (k, g.dtype, g.shape)
        np.testing.assert_array_equal(g.view(np.uint8) if g.dtype == ml_dtypes.bfloat16
                                      else g, w.view(np.uint8) if w.dtype ==
                                      ml_dtypes.bfloat16 else w)


def test_checked_in_checkpoint_reads_without_torch():
    got = ft.io.load_torch(fixture.PATH)
    assert all(isinstance(v, np.ndarray) for v in got.values())
    _same_dict(got, fixture.expected())
    loaded = ft.load(fixture.PATH)            # dispatch on the zip magic; funtorch arrays
    assert isinstance(loaded["fc.weight"], ft.Array)
    _same_dict(loaded, fixture.expected())


def test_files_torch_writes_now(torch, tmp_path):
    path = tmp_path / "sd.pth"
    torch.save(fixture.torch_checkpoint(torch), path)
    _same_dict(ft.io.load_torch(path), fixture.expected())
    # every dtype funtorch has, as torch writes it
    for tdt in (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64,
                torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool):
        t = (torch.arange(12).reshape(3, 4) % 5).to(tdt)
        torch.save({"x": t, "xt": t.t()[1:]}, path)
        got = ft.io.load_torch(path)
        want = t.float().numpy() if tdt == torch.bfloat16 else t.numpy()
        np.testing.assert_array_equal(np.asarray(got["x"], want.dtype), want)
        np.testing.assert_array_equal(np.asarray(got["xt"], want.dtype), want.T[1:])


def test_model_checkpoint_from_torch_runs_in_funtorch(torch, tmp_path):
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    path = tmp_path / "model.pth"
    torch.save(tm.state_dict(), path)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    params = model.load_state_dict(ft.load(path))
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(model(params, ft.asarray(x)),
                               tm(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    # a training checkpoint: nested dicts, lists and numbers flatten to dotted names
    opt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    tm(torch.ones(1, 4)).sum().backward()
    opt.step()
    torch.save({"model": tm.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, path)
    got = ft.io.load_torch(path)
    assert got["epoch"] == 3 and got["model.0.weight"].shape == (8, 4)
    np.testing.assert_array_equal(got["optimizer.state.0.momentum_buffer"],
                                  opt.state_dict()["state"][0]["momentum_buffer"].numpy())
    assert got["optimizer.param_groups.0.lr"] == 0.1
    loaded = ft.load(path)
    assert loaded["epoch"] == 3 and isinstance(loaded["model.0.weight"], ft.Array)
    torch.save(torch.arange(3), path)                        # a bare tensor
    np.testing.assert_array_equal(ft.io.load_torch(path)["value"], [0, 1, 2])


def _rewrite(tmp_path, change, name="x.pth"):
    """The checked-in archive with its members passed through ``change(name, bytes)``
    (returning None drops a member)."""
    src = zipfile.ZipFile(fixture.PATH)
    out = tmp_path / name
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            data = change(info.filename, src.read(info))
            if data is not None:
                z.writestr(info.filename, data)
    return out


def test_byte_order_record_absent_and_big_endian(tmp_path):
    old = _rewrite(tmp_path, lambda n, d: None if n.endswith("/byteorder") else d)
    _same_dict(ft.io.load_torch(old), fixture.expected())   # files before torch 2.0

    dtypes = {}          # storage key -> itemsize, from the pickle's persistent ids

    class Peek(pickle.Unpickler):
        def find_class(self, module, name):
            if name == "OrderedDict":
                return dict
            return ft.io._TORCH_STORAGES.get(name, lambda *a: None)

        def persistent_load(self, pid):
            dtypes[pid[2]] = pid[1].itemsize

    pkl = zipfile.ZipFile(fixture.PATH).read("torch_state_dict/data.pkl")
    Peek(io.BytesIO(pkl)).load()

    def swap(n, d):
        if n.endswith("/byteorder"):
            return b"big"
        if "/data/" in n:
            size = dtypes[n.rsplit("/", 1)[1]]
            return np.frombuffer(d, f"u{size}").byteswap().tobytes() if size > 1 else d
        return d

    _same_dict(ft.io.load_torch(_rewrite(tmp_path, swap, "big.pth")), fixture.expected())


class _System:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    evil = pickle.dumps({"w": _System(f"touch {marker}")}, protocol=2)
    path = _rewrite(tmp_path, lambda n, d: evil if n.endswith("data.pkl") else d, "evil.pth")
    for load in (ft.io.load_torch, ft.load):
        with pytest.raises(pickle.UnpicklingError, match=r"pickled (posix|os)\.system.*refuses"):
            load(path)
    assert not marker.exists()
    # other ways in: builtins.eval, a non-storage persistent id
    sneaky = b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1\x85R."
    path = _rewrite(tmp_path, lambda n, d: sneaky if n.endswith("data.pkl") else d, "e2.pth")
    with pytest.raises(pickle.UnpicklingError, match="builtins.eval"):
        ft.io.load_torch(path)
    pid = b"\x80\x02X\x03\x00\x00\x00abcQ."
    path = _rewrite(tmp_path, lambda n, d: pid if n.endswith("data.pkl") else d, "e3.pth")
    with pytest.raises(pickle.UnpicklingError, match="persistent id"):
        ft.io.load_torch(path)


def test_broken_files_give_clear_errors(tmp_path):
    data = fixture.PATH.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="damaged or truncated"):
        ft.io.load_torch(tmp_path / "cut.pth")
    # a tensor whose strides reach past its storage must not read foreign memory
    pkl = zipfile.ZipFile(fixture.PATH).read("torch_state_dict/data.pkl")
    bad = pkl.replace(b"K\x04K\x06\x86", b"K\x09K\x06\x86", 1)   # fc.weight size (4,6)->(9,6)
    assert bad != pkl
    path = _rewrite(tmp_path, lambda n, d: bad if n.endswith("data.pkl") else d, "oob.pth")
    with pytest.raises(ValueError, match="reaches past its storage"):
        ft.io.load_torch(path)
    path = _rewrite(tmp_path, lambda n, d: None if n.endswith("/data/0") else d, "gone.pth")
    with pytest.raises(ValueError, match="lacks storage"):
        ft.io.load_torch(path)
    # the legacy format: a clear refusal saying how to convert
    (tmp_path / "old.pt").write_bytes(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.")
    with pytest.raises(ValueError, match="legacy.*torch.save"):
        ft.load(tmp_path / "old.pt")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("readme.txt", "hi")
    with pytest.raises(ValueError, match="no single data.pkl"):
        ft.load(tmp_path / "other.zip")
    (tmp_path / "junk.bin").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all")
    with pytest.raises(ValueError, match=r"not a valid safetensors file, nor a PyTorch "
                                         r"checkpoint.*torch.save's .pth"):
        ft.load(tmp_path / "junk.bin")
