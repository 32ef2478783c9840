"""ft.save / ft.load: safetensors checkpoints of pytrees."""

import collections
import dataclasses
import os

import ml_dtypes
import numpy as np
import pytest
import safetensors
import safetensors.numpy

from funtorch import io as ftio
from funtorch import tree as fttree

AdamState = collections.namedtuple("AdamState", ["count", "mu", "nu"])


def params_tree():
    return {
        "0": {"weight": np.arange(12, dtype=np.float32).reshape(3, 4),
              "bias": np.array([0.5, -1.0, 2.0], np.float32)},
        "2": {"weight": np.ones((2, 3), np.float64), "bias": np.zeros(2, np.float64)},
    }


def train_state():
    params = params_tree()
    zeros = fttree.map(np.zeros_like, params)
    return {
        "params": params,
        "opt_state": (AdamState(count=np.int32(5), mu=zeros, nu=fttree.map(np.ones_like, params)),
                      None, [np.float32(0.25)], ()),
        "step": 1000,
        "lr": 3e-4,
        "done": False,
        "history": [1, 2.5, None, {"best": np.array(7, np.int64)}],
        "mask": np.array([True, False]),
        "empty": np.zeros((0, 3), np.float32),
    }


def assert_same(a, b):
    """Same structure, same container and scalar types, same array values and dtypes."""
    la, ta = fttree.flatten(a)
    lb, tb = fttree.flatten(b)
    assert ta == tb
    for x, y in zip(la, lb, strict=True):
        if isinstance(x, (bool, int, float)):
            assert type(x) is type(y) and x == y
        else:
            y = np.asarray(y)
            assert y.dtype == np.asarray(x).dtype
            np.testing.assert_array_equal(y, x)


def test_round_trip(tmp_path):
    state = train_state()
    path = tmp_path / "ckpt.safetensors"
    ftio.save(path, state)
    back = ftio.load(path)
    assert_same(state, back)
    assert type(back["opt_state"][0]) is AdamState  # its module is imported
    assert back["opt_state"][1] is None and back["opt_state"][3] == ()
    assert back["history"][2] is None
    assert list(back) == list(state)  # dict order kept


def test_round_trip_with_like(tmp_path):
    state = train_state()
    path = tmp_path / "ckpt.safetensors"
    ftio.save(path, state)
    assert_same(state, ftio.load(path, like=state))
    # like= needs only shapes and dtypes, and decides whether a scalar comes back Python.
    abstract = fttree.map(
        lambda x: x if isinstance(x, (bool, int, float)) else
        types_ns(shape=np.shape(x), dtype=np.asarray(x).dtype), state)
    assert_same(state, ftio.load(path, like=abstract))


def types_ns(**kw):
    return type("Abstract", (), kw)()


def test_bfloat16_and_float8_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    bf = rng.standard_normal((4, 5)).astype(ml_dtypes.bfloat16)
    f8 = rng.standard_normal(6).astype(ml_dtypes.float8_e4m3fn)
    ftio.save(tmp_path / "b.safetensors", {"w": bf, "f8": f8, "s": bf[0, 0]})
    back = ftio.load(tmp_path / "b.safetensors")
    for k, want in {"w": bf, "f8": f8}.items():
        got = np.asarray(back[k])
        assert got.dtype == want.dtype
        assert got.view(np.uint8).tobytes() == want.view(np.uint8).tobytes()
    assert np.asarray(back["s"]).shape == ()
    # Stored as safetensors' own BF16, so other readers see the real dtype.
    header = _header(tmp_path / "b.safetensors")
    assert header["w"]["dtype"] == "BF16" and header["f8"]["dtype"] == "F8_E4M3"


def _header(path):
    import json

    raw = open(path, "rb").read()
    return json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])


def test_interop_with_plain_safetensors(tmp_path):
    ftio.save(tmp_path / "p.safetensors", params_tree())
    flat = safetensors.numpy.load_file(tmp_path / "p.safetensors")
    assert sorted(flat) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    np.testing.assert_array_equal(flat["0.weight"], params_tree()["0"]["weight"])

    # A file from another tool (no tree metadata) loads as a flat dict.
    safetensors.numpy.save_file({"a.weight": np.ones((2, 2), np.float32)},
                                tmp_path / "other.safetensors")
    back = ftio.load(tmp_path / "other.safetensors")
    assert list(back) == ["a.weight"]
    np.testing.assert_array_equal(np.asarray(back["a.weight"]), np.ones((2, 2)))


def test_single_leaf_and_empty_trees(tmp_path):
    for tree in [np.arange(3, dtype=np.int32), 7, {}, [], None, (None,)]:
        ftio.save(tmp_path / "x.safetensors", tree)
        assert_same(tree, ftio.load(tmp_path / "x.safetensors"))
        assert_same(tree, ftio.load(tmp_path / "x.safetensors", like=tree))


def test_colliding_names_stay_distinct(tmp_path):
    tree = {"a.b": np.zeros(1), "a": {"b": np.ones(1)}}
    ftio.save(tmp_path / "c.safetensors", tree)
    assert_same(tree, ftio.load(tmp_path / "c.safetensors"))


# ------------------------------------------------------------------------- mismatches


@pytest.mark.parametrize("edit, where, match", [
    (lambda s: s["params"]["0"].__setitem__("weight", np.zeros((4, 3), np.float32)),
     r"at \['params'\]\['0'\]\['weight'\]", r"expected float32\[4, 3\], found float32\[3, 4\]"),
    (lambda s: s["params"]["2"].__setitem__("bias", np.zeros(2, np.float32)),
     r"at \['params'\]\['2'\]\['bias'\]", r"expected float32\[2\], found float64\[2\]"),
    (lambda s: s["params"].__setitem__("4", {}),
     r"at \['params'\]", r"the file lacks keys \['4'\]"),
    (lambda s: s.pop("lr"), "at the root", r"the file has extra keys \['lr'\]"),
    (lambda s: s.__setitem__("history", s["history"][:3]),
     r"at \['history'\]", "expected a list of length 3, found a list of length 4"),
    (lambda s: s.__setitem__("history", tuple(s["history"])),
     r"at \['history'\]", "expected a tuple of length 4, found a list of length 4"),
    (lambda s: s.__setitem__("opt_state", (tuple(s["opt_state"][0]),) + s["opt_state"][1:]),
     r"at \['opt_state'\]\[0\]", "expected a tuple of length 3, found namedtuple AdamState"),
    (lambda s: s["history"].__setitem__(2, np.zeros(1)),
     r"at \['history'\]\[2\]", "expected a leaf, found None"),
    (lambda s: s.__setitem__("step", 1.0),
     r"at \['step'\]", r"expected float64\[\], found int64\[\]"),
])
def test_mismatched_like_is_refused(tmp_path, edit, where, match):
    path = tmp_path / "ckpt.safetensors"
    ftio.save(path, train_state())
    like = train_state()
    edit(like)
    with pytest.raises(ValueError, match=f"does not match `like` {where}.*{match}") as e:
        ftio.load(path, like=like)
    assert str(path) in str(e.value)


# -------------------------------------------------------------------------- atomicity


def _old_checkpoint(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    ftio.save(path, {"w": np.ones(3, np.float32)})
    return path, path.read_bytes()


@pytest.mark.parametrize("fail_at", ["write", "fsync", "replace"])
def test_failed_save_leaves_old_file_intact(tmp_path, monkeypatch, fail_at):
    path, before = _old_checkpoint(tmp_path)

    def boom(*args, **kwargs):
        raise OSError(f"simulated failure in {fail_at}")

    if fail_at == "write":  # half the bytes reach the temp file, then the disk fills up
        real_fdopen = os.fdopen

        def fdopen(fd, mode):
            f = real_fdopen(fd, mode)
            real_write = f.write

            class Half:
                def __getattr__(self, name):
                    return getattr(f, name)

                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    f.close()

                def write(self, data):
                    real_write(data[: len(data) // 2])
                    boom()

            return Half()

        monkeypatch.setattr(ftio.os, "fdopen", fdopen)
    else:
        monkeypatch.setattr(ftio.os, fail_at, boom)
    with pytest.raises(OSError, match="simulated failure"):
        ftio.save(path, {"w": np.zeros(1000, np.float32), "step": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]  # no temp file left behind
    np.testing.assert_array_equal(np.asarray(ftio.load(path)["w"]), np.ones(3))


def test_unsavable_leaf_leaves_old_file_intact(tmp_path):
    path, before = _old_checkpoint(tmp_path)
    with pytest.raises(TypeError, match=r"leaf at \['name'\] is a str"):
        ftio.save(path, {"w": np.zeros(2), "name": "resnet"})
    with pytest.raises(TypeError, match=r"leaf at \['x'\] has dtype object"):
        ftio.save(path, {"x": np.array([object()])})
    with pytest.raises(TypeError, match=r"dict key \(1, 2\) at \['d'\] is a tuple"):
        ftio.save(path, {"d": {(1, 2): np.zeros(1)}})
    with pytest.raises(ValueError, match="does not fit in int64"):
        ftio.save(path, {"big": 2**70})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]


def test_save_into_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ftio.save(tmp_path / "nope" / "c.safetensors", {"w": np.zeros(1)})


def test_saved_file_gets_umask_permissions(tmp_path):
    path = tmp_path / "c.safetensors"
    ftio.save(path, {"w": np.zeros(1)})
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# ------------------------------------------------------------------------ bad files


def test_corrupt_file(tmp_path):
    path, data = _old_checkpoint(tmp_path)
    path.write_bytes(data[:-4])
    with pytest.raises(ValueError, match="is not a valid safetensors file") as e:
        ftio.load(path)
    assert str(path) in str(e.value)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is not a valid safetensors file"):
        ftio.load(path)
    with pytest.raises(FileNotFoundError):
        ftio.load(tmp_path / "missing.safetensors")


# ----------------------------------------------------------------- registered nodes


@fttree.register_dataclass
@dataclasses.dataclass
class Point:
    x: object
    y: object


def test_registered_node_needs_like(tmp_path):
    tree = {"p": Point(np.zeros(2, np.float32), 3)}
    path = tmp_path / "n.safetensors"
    ftio.save(path, tree)
    with pytest.raises(ValueError, match=r"custom pytree node .*Point.* at \['p'\]; pass like="):
        ftio.load(path)
    back = ftio.load(path, like=tree)
    assert isinstance(back["p"], Point) and back["p"].y == 3
    with pytest.raises(ValueError, match=r"at \['p'\]: expected a dict with keys "
                                         r"\['x', 'y'\], found a Point node"):
        ftio.load(path, like={"p": {"x": np.zeros(2, np.float32), "y": 3}})


# ------------------------------------------------------------------ funtorch arrays


def test_funtorch_arrays_round_trip(tmp_path):
    import funtorch

    tree = {"w": funtorch.asarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
            "h": funtorch.asarray(np.ones(3, ml_dtypes.bfloat16)), "step": 3}
    ftio.save(tmp_path / "f.safetensors", tree)
    back = ftio.load(tmp_path / "f.safetensors", like=tree)
    array_type = type(funtorch.asarray(np.zeros(1, np.float32)))
    assert isinstance(back["w"], array_type) and isinstance(back["h"], array_type)
    assert back["step"] == 3 and type(back["step"]) is int
    assert_same(fttree.map(np.asarray, tree), fttree.map(np.asarray, back))
