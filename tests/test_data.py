"""funtorch.data: IDX reading, dataset lookup/download (no network), batching."""

import gzip
import hashlib
import importlib
import importlib.resources
import io
import pathlib
import sys
import types
import urllib.error
import urllib.request
from dataclasses import replace

import numpy as np
import pytest

import funtorch.data as data
from funtorch.data import idx

# The package re-exports the function mnist(), which shadows the submodule's attribute.
mnist_mod = importlib.import_module("funtorch.data.mnist")

SAMPLE = importlib.resources.files("funtorch.data").joinpath("mnist_sample")
FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """No test may see the user's cache, $FUNTORCH_DATA or a system Fashion-MNIST."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FUNTORCH_DATA", raising=False)
    monkeypatch.setitem(mnist_mod._DATASETS, "fashion_mnist",
                        replace(mnist_mod._FASHION, system_dirs=(str(tmp_path / "debian"),)))

    def no_network(*args, **kwargs):
        raise AssertionError("tests must not use the network")

    monkeypatch.setattr(mnist_mod, "_urlopen", no_network)


def copy_sample(dest, names=FILES, gunzip=False):
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        raw = SAMPLE.joinpath(name).read_bytes()
        if gunzip:
            (dest / name[:-3]).write_bytes(gzip.decompress(raw))
        else:
            (dest / name).write_bytes(raw)
    return dest


def sha256(b):
    return hashlib.sha256(b).hexdigest()


# ------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("name", ["a.idx.gz", "a.idx"])
def test_idx_round_trip(tmp_path, dtype, name):
    x = (np.arange(2 * 3 * 4) - 7).astype(dtype).reshape(2, 3, 4)
    idx.write_idx(tmp_path / name, x)
    y = idx.read_idx(tmp_path / name)
    assert y.dtype == np.dtype(dtype) and y.dtype.isnative
    np.testing.assert_array_equal(x, y)
    y[0, 0, 0] = 1  # a writable copy, not a view of the file's bytes


def test_idx_gzip_detected_by_magic_not_name(tmp_path):
    x = np.arange(10, dtype=np.uint8)
    buf = io.BytesIO()
    idx.write_idx(buf, x)
    (tmp_path / "raw.gz").write_bytes(buf.getvalue())
    (tmp_path / "packed").write_bytes(gzip.compress(buf.getvalue()))
    np.testing.assert_array_equal(idx.read_idx(tmp_path / "raw.gz"), x)
    np.testing.assert_array_equal(idx.read_idx(tmp_path / "packed"), x)
    with open(tmp_path / "packed", "rb") as f:
        np.testing.assert_array_equal(idx.read_idx(f), x)


def idx_bytes(x):
    buf = io.BytesIO()
    idx.write_idx(buf, x)
    return buf.getvalue()


@pytest.mark.parametrize("payload, match", [
    (b"", "4-byte magic number, found only 0 bytes"),
    (b"\x01\x00\x08\x01" + b"\0" * 8,
     "expected magic bytes 00 00 <type> <ndim>, found 01 00 08 01"),
    (b"\x00\x00\x07\x01" + b"\0" * 8, "unknown type code 0x07"),
    (b"\x00\x00\x08\x03" + b"\0" * 5, "declares 3 dims, which needs 16 bytes; found only 9"),
])
def test_idx_bad_header(tmp_path, payload, match):
    path = tmp_path / "bad-idx"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=match) as e:
        idx.read_idx(path)
    assert str(path) in str(e.value)


def test_idx_truncated_and_trailing_payload(tmp_path):
    good = idx_bytes(np.zeros((5, 28, 28), np.uint8))
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(good[:-100])
    with pytest.raises(ValueError, match=r"truncated: header declares uint8\[5, 28, 28\], "
                                         r"which needs 3920 payload bytes; found 3820") as e:
        idx.read_idx(path)
    assert str(path) in str(e.value)
    path.write_bytes(good + b"xx")
    with pytest.raises(ValueError, match="trailing bytes.*needs 3920 payload bytes; found 3922"):
        idx.read_idx(path)


def test_idx_truncated_gzip(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(SAMPLE.joinpath("t10k-images-idx3-ubyte.gz").read_bytes()[:5000])
    with pytest.raises(ValueError, match="corrupt or truncated gzip stream") as e:
        idx.read_idx(path)
    assert str(path) in str(e.value)


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError, match="IDX cannot store dtype int64"):
        idx.write_idx(tmp_path / "x", np.zeros(3, np.int64))


# ------------------------------------------------------------------------- the sample


def test_sample_ships_with_checksums():
    names = {p.name for p in SAMPLE.iterdir()}
    assert set(FILES) | {"README.md", "SHA256SUMS"} <= names
    for line in SAMPLE.joinpath("SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert sha256(SAMPLE.joinpath(name).read_bytes()) == digest, name


@pytest.mark.parametrize("split, n", [("train", 4000), ("test", 1000)])
def test_mnist_sample(split, n):
    images, labels = data.mnist_sample(split)
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(labels), [n // 10] * 10)
    assert 0 < images.mean() < 255


def test_bad_split():
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'val'"):
        data.mnist_sample("val")
    with pytest.raises(ValueError, match="split must be"):
        data.mnist("validation", download=False)


# ---------------------------------------------------------------------- local lookup


def test_mnist_from_root_subdir_flat_and_raw(tmp_path):
    want = data.mnist_sample("test")
    copy_sample(tmp_path / "a" / "mnist")
    copy_sample(tmp_path / "b")
    copy_sample(tmp_path / "c" / "mnist", gunzip=True)
    for root in ["a", "b", "c"]:
        got = data.mnist("test", root=tmp_path / root, download=False)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        assert got[1].dtype == np.int64


def test_mnist_from_env_and_cache(tmp_path, monkeypatch):
    copy_sample(tmp_path / "env" / "mnist", FILES[:2])
    monkeypatch.setenv("FUNTORCH_DATA", str(tmp_path / "env"))
    assert data.mnist("train", download=False)[0].shape == (4000, 28, 28)
    with pytest.raises(FileNotFoundError):  # only the train files are there
        data.mnist("test", download=False)
    copy_sample(tmp_path / "home" / ".cache" / "funtorch" / "mnist", FILES[2:])
    assert data.mnist("test", download=False)[0].shape == (1000, 28, 28)


def test_fashion_from_debian_dir_not_mnist_dir(tmp_path):
    copy_sample(tmp_path / "root" / "mnist")
    with pytest.raises(FileNotFoundError):
        data.fashion_mnist("train", root=tmp_path / "root", download=False)
    copy_sample(tmp_path / "debian")
    images, labels = data.fashion_mnist("train", root=tmp_path / "root", download=False)
    assert images.shape == (4000, 28, 28) and labels.dtype == np.int64


def test_missing_files_message(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        data.mnist("train", root=tmp_path / "r", download=False)
    msg = str(e.value)
    assert "train-images-idx3-ubyte[.gz]" in msg and "download=False" in msg
    for where in [tmp_path / "r" / "mnist", tmp_path / "home" / ".cache" / "funtorch" / "mnist"]:
        assert str(where) in msg
    assert "download=True" in msg and "mnist_sample" in msg


def test_corrupt_local_file_is_reported(tmp_path):
    root = copy_sample(tmp_path / "mnist")
    (root / FILES[0]).write_bytes((root / FILES[0]).read_bytes()[:-1000])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        data.mnist("train", root=tmp_path, download=False)


def test_wrong_contents_are_reported(tmp_path):
    root = copy_sample(tmp_path / "mnist", FILES[:2])
    (root / FILES[0]).write_bytes(gzip.compress(idx_bytes(np.zeros((3, 28, 27), np.uint8))))
    with pytest.raises(ValueError, match=r"expected uint8 images \[N, 28, 28\], "
                                         r"found uint8\[3, 28, 27\]"):
        data.mnist("train", root=tmp_path, download=False)
    (root / FILES[0]).write_bytes(gzip.compress(idx_bytes(np.zeros((3, 28, 28), np.uint8))))
    with pytest.raises(ValueError, match="3 images in .* but 4000 labels in"):
        data.mnist("train", root=tmp_path, download=False)


# -------------------------------------------------------------------------- download


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A file:// mirror holding the sample, with its sums standing in for the published."""
    src = copy_sample(tmp_path / "mirror")
    sums = {name: sha256((src / name).read_bytes()) for name in FILES}
    monkeypatch.setitem(mnist_mod._DATASETS, "mnist", replace(
        mnist_mod._MNIST, mirrors=("file:///nonexistent/", src.as_uri() + "/"), sha256=sums))
    monkeypatch.setattr(mnist_mod, "_urlopen", urllib.request.urlopen)
    return src


def test_download_from_mirror(tmp_path, mirror, capsys):
    images, labels = data.mnist("test")
    want = data.mnist_sample("test")
    np.testing.assert_array_equal(images, want[0])
    np.testing.assert_array_equal(labels, want[1])
    cache = tmp_path / "home" / ".cache" / "funtorch" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES[2:])  # no .part left
    assert "downloading" in capsys.readouterr().err
    # Second call finds the cache, and root= redirects the download.
    data.mnist("test", download=False)
    data.mnist("train", root=tmp_path / "r")
    assert sorted(p.name for p in (tmp_path / "r" / "mnist").iterdir()) == sorted(FILES[:2])


def test_download_checksum_mismatch(tmp_path, mirror, monkeypatch):
    spec = mnist_mod._DATASETS["mnist"]
    monkeypatch.setitem(mnist_mod._DATASETS, "mnist", replace(
        spec, sha256={**spec.sha256, "t10k-labels-idx1-ubyte.gz": "0" * 64}))
    with pytest.raises(data.DownloadError, match="SHA-256 [0-9a-f]{64}, expected 0{64}"):
        data.mnist("test")
    cache = tmp_path / "home" / ".cache" / "funtorch" / "mnist"
    assert [p.name for p in cache.iterdir()] == ["t10k-images-idx3-ubyte.gz"]


def test_download_network_failure(tmp_path, monkeypatch):
    def offline(request, timeout):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(mnist_mod, "_urlopen", offline)
    with pytest.raises(data.DownloadError) as e:
        data.mnist("train")
    msg = str(e.value)
    for mirror in mnist_mod._MNIST.mirrors:
        assert mirror + "train-images-idx3-ubyte.gz" in msg
    assert "Name or service not known" in msg and "mnist_sample" in msg
    assert isinstance(e.value, OSError)


class RangeServer:
    """Stands in for urlopen: serves bytes, honouring a Range header with a 206."""

    def __init__(self, payload):
        self.payload, self.ranges = payload, []

    def __call__(self, request, timeout):
        header = request.get_header("Range")
        self.ranges.append(header)
        if header is None:
            body, status = self.payload, 200
        else:
            start = int(header.removeprefix("bytes=").rstrip("-"))
            body, status = self.payload[start:], 206
        response = io.BytesIO(body)
        response.status = status
        return response


def test_download_resumes_partial_file(tmp_path, mirror, monkeypatch):
    name = "t10k-labels-idx1-ubyte.gz"
    payload = (mirror / name).read_bytes()
    server = RangeServer(payload)
    monkeypatch.setattr(mnist_mod, "_urlopen", server)
    spec = mnist_mod._DATASETS["mnist"]
    dest = tmp_path / "cache" / name
    dest.parent.mkdir()
    (tmp_path / "cache" / (name + ".part")).write_bytes(payload[:200])
    mnist_mod._download(spec, dest)
    assert dest.read_bytes() == payload
    assert server.ranges == ["bytes=200-"]
    assert not (tmp_path / "cache" / (name + ".part")).exists()


def test_download_restarts_after_bad_partial_file(tmp_path, mirror, monkeypatch):
    name = "t10k-labels-idx1-ubyte.gz"
    payload = (mirror / name).read_bytes()
    server = RangeServer(payload)
    monkeypatch.setattr(mnist_mod, "_urlopen", server)
    dest = tmp_path / name
    (tmp_path / (name + ".part")).write_bytes(b"garbage")
    mnist_mod._download(mnist_mod._DATASETS["mnist"], dest)
    assert dest.read_bytes() == payload
    assert server.ranges == ["bytes=7-", None]


# ---------------------------------------------------------------------- load_dataset


def test_load_dataset_full_and_fallback(tmp_path):
    copy_sample(tmp_path / "mnist")
    images, labels, source = data.load_dataset("mnist", "train", root=tmp_path, download=False)
    assert images.shape == (4000, 28, 28) and str(tmp_path / "mnist") in source
    assert source.startswith("MNIST train split")

    images, labels, source = data.load_dataset("mnist", "test", root=tmp_path / "x",
                                               download=False)
    assert images.shape == (1000, 28, 28) and labels.dtype == np.int64
    assert source.startswith("bundled MNIST sample (1000 test images)")
    assert "download=False" in source

    assert "looked for t10k-images-idx3-ubyte[.gz]" in source and str(tmp_path / "x") in source

    with pytest.raises(FileNotFoundError):
        data.load_dataset("mnist", root=tmp_path / "x", download=False, fallback_to_sample=False)
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'"):
        data.load_dataset("cifar10")


def test_fashion_mnist_is_never_replaced_by_digits(tmp_path, monkeypatch):
    """Asked for by name, Fashion-MNIST is that or an error saying where funtorch looked
    (every folder) and how to get it; never the MNIST sample."""
    with pytest.raises(FileNotFoundError) as e:
        data.load_dataset("fashion_mnist", "test", root=tmp_path / "r", download=False)
    msg = str(e.value)
    for where in (tmp_path / "r" / "fashion-mnist", tmp_path / "r", tmp_path / "debian"):
        assert f"  {where}\n" in msg
    assert "apt install dataset-fashion-mnist" in msg and "--data-dir" in msg
    assert mnist_mod._FASHION.mirrors[0] in msg and "mnist_sample" not in msg
    assert "MNIST sample" not in msg

    def offline(request, timeout):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(mnist_mod, "_urlopen", offline)
    monkeypatch.setenv("FUNTORCH_DATA", str(tmp_path / "env"))
    with pytest.raises(data.DownloadError) as e:
        data.load_dataset("fashion-mnist", "train")
    msg = str(e.value)
    assert "offline" in msg and str(tmp_path / "debian") in msg
    assert "apt install dataset-fashion-mnist" in msg
    copy_sample(tmp_path / "debian")       # the Debian package's folder: found
    _, _, source = data.load_dataset("fashion_mnist", "test", download=False)
    assert source.startswith("Fashion-MNIST test split") and str(tmp_path / "debian") in source


def test_mnist_example_stops_with_the_message_when_fashion_is_missing(tmp_path, monkeypatch,
                                                                       capsys):
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).parents[1] / "examples"))
    import mnist as example
    with pytest.raises(SystemExit) as e:
        example.main(["--dataset", "fashion", "--no-download", "--data-dir", str(tmp_path)])
    assert e.value.code == 1
    assert "Fashion-MNIST train files not found" in capsys.readouterr().err


def test_load_dataset_falls_back_when_offline(monkeypatch):
    def offline(request, timeout):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(mnist_mod, "_urlopen", offline)
    _, _, source = data.load_dataset("mnist", "test")
    assert "bundled MNIST sample" in source and "could not download" in source


# --------------------------------------------------------------------------- batches


def test_batches_in_order():
    x = np.arange(10)
    y = np.arange(10) * 10
    got = list(data.batches(x, y, batch_size=4))
    assert len(got) == 2 == len(data.batches(x, y, batch_size=4))
    np.testing.assert_array_equal(got[1][0], [4, 5, 6, 7])
    np.testing.assert_array_equal(got[1][1], [40, 50, 60, 70])
    tail = list(data.batches(x, y, batch_size=4, drop_last=False))
    assert len(tail) == 3 == len(data.batches(x, batch_size=4, drop_last=False))
    np.testing.assert_array_equal(tail[-1][0], [8, 9])
    (single,), = list(data.batches([1, 2, 3], batch_size=3))
    np.testing.assert_array_equal(single, [1, 2, 3])
    assert list(data.batches(x, batch_size=20)) == []
    assert len(list(data.batches(x, batch_size=20, drop_last=False))) == 1


@pytest.mark.parametrize("args, kwargs, err, match", [
    ((), {"batch_size": 2}, TypeError, "at least one array"),
    ((np.zeros(3),), {"batch_size": 0}, ValueError, "batch_size must be positive, got 0"),
    ((np.zeros(3),), {"batch_size": -2}, ValueError, "batch_size must be positive"),
    ((np.zeros(3),), {"batch_size": 2.5}, TypeError, "positive int, got float 2.5"),
    ((np.zeros(3),), {"batch_size": True}, TypeError, "positive int"),
    ((np.zeros(3), np.zeros((4, 2))), {"batch_size": 2}, ValueError,
     r"share their leading length, got shapes \(3,\), \(4, 2\)"),
    ((np.float32(1.0),), {"batch_size": 1}, ValueError, "array 0 is a scalar"),
])
def test_batches_validation(args, kwargs, err, match):
    with pytest.raises(err, match=match):
        data.batches(*args, **kwargs)


def test_batches_shuffle_uses_random_permutation(monkeypatch):
    """The plumbing, with a stand-in for funtorch.random."""
    import funtorch

    fake = types.ModuleType("funtorch.random")
    fake.permutation = lambda key, n: np.roll(np.arange(n), key)
    monkeypatch.setattr(funtorch, "random", fake, raising=False)
    monkeypatch.setitem(sys.modules, "funtorch.random", fake)
    x = np.arange(6)
    got = [b for (b,) in data.batches(x, batch_size=2, key=1)]
    np.testing.assert_array_equal(np.concatenate(got), [5, 0, 1, 2, 3, 4])
    fake.permutation = lambda key, n: np.arange(n - 1)
    with pytest.raises(ValueError, match=r"gave shape \(5,\), expected \(6,\)"):
        data.batches(x, batch_size=2, key=0)


def test_batches_shuffle_with_funtorch_random():
    from funtorch import random
    x = np.arange(50)
    y = -np.arange(50)

    def epoch(key):
        got = list(data.batches(x, y, batch_size=10, key=key))
        for bx, by in got:
            np.testing.assert_array_equal(np.asarray(by), -np.asarray(bx))  # rows stay paired
        return np.concatenate([np.asarray(bx) for bx, _ in got])

    a = epoch(random.key(0))
    assert sorted(a.tolist()) == list(range(50))
    np.testing.assert_array_equal(a, epoch(random.key(0)))
    assert not np.array_equal(a, epoch(random.key(1)))
    assert not np.array_equal(a, x)
