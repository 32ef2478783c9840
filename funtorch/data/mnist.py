"""MNIST and Fashion-MNIST: find the IDX files locally, else download and verify them.

Local files come first so that offline machines, shared data directories and Debian's
``dataset-fashion-mnist`` package work without a network. Downloads go to a ``.part`` file
next to the destination (resumed with an HTTP Range request when one is left over), are
checked against the published SHA-256 sums, and only then renamed into place, so the cache
never holds a partial or tampered file under its real name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import importlib.resources
import os
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from .idx import read_idx

__all__ = ["mnist", "fashion_mnist", "mnist_sample", "load_dataset", "DownloadError"]

_SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_TIMEOUT_S = 60
_CHUNK = 1 << 20

# Indirection so tests can substitute an opener; the network is never needed to test.
_urlopen = urllib.request.urlopen


class DownloadError(OSError):
    """A dataset file could not be fetched from any mirror, or failed its checksum."""


@dataclasses.dataclass(frozen=True)
class _Dataset:
    title: str
    subdir: str  # under root, $FUNTORCH_DATA and the cache; the names clash otherwise
    mirrors: tuple[str, ...]
    sha256: dict  # published sums of the .gz files on the mirrors
    system_dirs: tuple[str, ...] = ()
    debian_package: str = ""   # a Debian/Ubuntu package that installs into system_dirs


_MNIST = _Dataset(
    title="MNIST",
    subdir="mnist",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    sha256={
        "train-images-idx3-ubyte.gz":
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz":
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz":
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz":
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
)

_FASHION = _Dataset(
    title="Fashion-MNIST",
    subdir="fashion-mnist",
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    sha256={
        "train-images-idx3-ubyte.gz":
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz":
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz":
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz":
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    # Debian's package re-gzips the files, so their bytes (not their contents) differ from
    # the mirrors'; local files are validated by the IDX reader, not by these sums.
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    debian_package="dataset-fashion-mnist",
)

_DATASETS = {"mnist": _MNIST, "fashion_mnist": _FASHION}
_ALIASES = {"fashion-mnist": "fashion_mnist", "fashion": "fashion_mnist"}


def mnist(split="train", root=None, download=True):
    """MNIST digits: ``(images uint8 [N, 28, 28], labels int64 [N])``, N = 60000 or 10000.

    Looks in ``root`` (and ``root/mnist``), ``$FUNTORCH_DATA/mnist`` and
    ``~/.cache/funtorch/mnist``; otherwise, with ``download``, fetches the gzipped IDX files
    into the first of those that applies and checks their published SHA-256 sums.
    """
    images, labels, _ = _load(_DATASETS["mnist"], split, root, download)
    return images, labels


def fashion_mnist(split="train", root=None, download=True):
    """Fashion-MNIST: ``(images uint8 [N, 28, 28], labels int64 [N])``, as :func:`mnist`
    (subdirectory ``fashion-mnist``), also finding Debian's ``dataset-fashion-mnist``."""
    images, labels, _ = _load(_DATASETS["fashion_mnist"], split, root, download)
    return images, labels


def mnist_sample(split="train"):
    """The real MNIST digits bundled with funtorch (4000 train / 1000 test, 10 classes
    balanced), so examples and tests run offline."""
    stems = _split_stems(split)
    folder = importlib.resources.files(__package__).joinpath("mnist_sample")
    arrays = []
    for stem in stems:
        with folder.joinpath(stem + ".gz").open("rb") as f:
            arrays.append(read_idx(f))
    where = f"bundled sample {folder}"
    return _check(arrays[0], arrays[1], where, where)


def load_dataset(name, split="train", root=None, download=True, fallback_to_sample=True):
    """``(images, labels, source)``: the dataset asked for, with ``source`` saying where it
    came from (examples print it).

    MNIST falls back to the bundled MNIST sample (``fallback_to_sample``) when the full
    data is missing or the download fails, and ``source`` then says so and why, in full.
    Fashion-MNIST has no bundled sample, so it is Fashion-MNIST or an error that lists
    where it looked and how to get it (``apt install dataset-fashion-mnist``, the mirrors,
    ``root=`` / the examples' ``--data-dir``): never MNIST digits in its place. A corrupt
    local file always raises, since silently training on a sample would hide it.
    """
    key = str(name).lower()
    key = _ALIASES.get(key, key)
    if key not in _DATASETS:
        raise ValueError(
            f"load_dataset: unknown dataset {name!r}; expected 'mnist' or 'fashion_mnist'"
        )
    spec = _DATASETS[key]
    try:
        images, labels, where = _load(spec, split, root, download)
    except (FileNotFoundError, DownloadError) as e:
        if not fallback_to_sample or spec is not _MNIST:
            raise
        images, labels = mnist_sample(split)
        reason = " ".join(line.strip() for line in str(e).splitlines())
        source = (f"bundled MNIST sample ({len(images)} {split} images), because the full "
                  f"MNIST is unavailable: {reason}")
        return images, labels, source
    return images, labels, f"{spec.title} {split} split ({len(images)} images) from {where}"


def _split_stems(split):
    if split not in _SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return _SPLITS[split]


def _candidates(stem):
    # As on the mirrors, gunzipped, and as some unzip tools name them.
    dotted = stem.replace("-idx", ".idx")
    return (stem + ".gz", stem, dotted + ".gz", dotted)


def _search_dirs(spec, root):
    dirs = []
    if root is not None:
        dirs += [Path(root) / spec.subdir, Path(root)]
    env = os.environ.get("FUNTORCH_DATA")
    if env:
        dirs.append(Path(env) / spec.subdir)
    dirs.append(_cache_dir() / spec.subdir)
    dirs += [Path(d) for d in spec.system_dirs]
    return list(dict.fromkeys(dirs))


def _cache_dir():
    return Path.home() / ".cache" / "funtorch"


def _download_dir(spec, root):
    if root is not None:
        return Path(root) / spec.subdir
    env = os.environ.get("FUNTORCH_DATA")
    return (Path(env) if env else _cache_dir()) / spec.subdir


def _listing(items):
    """One indented line per place tried, for the not-found and download errors."""
    return "\n".join(f"  {x}" for x in items)


def _find(directory, stem):
    for name in _candidates(stem):
        path = directory / name
        if path.is_file():
            return path
    return None


def _load(spec, split, root, download):
    stems = _split_stems(split)
    dirs = _search_dirs(spec, root)
    for d in dirs:
        paths = [_find(d, stem) for stem in stems]
        if all(paths):
            break
    else:
        dest = _download_dir(spec, root)
        looked = (f"looked for {stems[0]}[.gz] and {stems[1]}[.gz] in:\n{_listing(dirs)}")
        if not download:
            raise FileNotFoundError(
                f"{spec.title} {split} files not found and download=False; {looked}\n"
                + _how_to_get(spec, dest))
        paths = []
        for stem in stems:
            found = _find(dest, stem)
            if found is None:
                found = dest / (stem + ".gz")
                try:
                    _download(spec, found)
                except DownloadError as e:
                    raise DownloadError(f"{spec.title} {split} files not found locally "
                                        f"({looked}) and {e}") from None
            paths.append(found)
    images, labels = _check(read_idx(paths[0]), read_idx(paths[1]), paths[0], paths[1])
    return images, labels, paths[0].parent


def _how_to_get(spec, dest):
    """The ways to get ``spec``'s files, for the not-found and download errors."""
    ways = [f"pass download=True (the examples: drop --no-download) to fetch them from "
            f"{' or '.join(spec.mirrors)} into {dest}"]
    if spec.debian_package and spec.system_dirs:
        ways.append(f"on Debian/Ubuntu: sudo apt install {spec.debian_package} (installs "
                    f"them into {spec.system_dirs[0]}, where funtorch looks)")
    ways.append(f"put the four IDX files (gzip or raw) in a folder and pass root=FOLDER (the "
                f"examples: --data-dir FOLDER), or set $FUNTORCH_DATA to a directory holding "
                f"{spec.subdir}/")
    if spec is _MNIST:
        ways.append("or use ft.data.mnist_sample() offline")
    return "To get them:\n" + _listing(f"- {w}" for w in ways)


def _check(images, labels, images_src, labels_src):
    """Reject well-formed IDX files that hold the wrong thing (e.g. swapped names)."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{images_src}: expected uint8 images [N, 28, 28], "
            f"found {images.dtype}{list(images.shape)}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{labels_src}: expected uint8 labels [N], found {labels.dtype}{list(labels.shape)}"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{len(images)} images in {images_src} but {len(labels)} labels in {labels_src}"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_src}: expected labels 0..9, found {int(labels.max())}")
    return images, labels.astype(np.int64)


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch(url, part, resume):
    """Write ``url`` into ``part``; returns True if it appended to an existing partial file."""
    have = part.stat().st_size if resume and part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        response = _urlopen(urllib.request.Request(url, headers=headers), timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to send: the partial file is complete
            return True
        raise
    with response:
        status = getattr(response, "status", None)
        appending = bool(have) and status == 206
        with open(part, "ab" if appending else "wb") as f:
            shutil.copyfileobj(response, f, _CHUNK)
    return appending


def _download(spec, dest):
    name = dest.name
    expected = spec.sha256[name]
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(name + ".part")
    errors = []
    for mirror in spec.mirrors:
        url = mirror + name
        print(f"funtorch: downloading {url} -> {dest}", file=sys.stderr)
        resume = True
        while True:
            try:
                resumed = _fetch(url, part, resume)
            except (OSError, http.client.HTTPException) as e:
                errors.append(f"{url}: {e}")
                break  # keep the .part: the next mirror or run resumes it
            digest = _sha256(part)
            if digest == expected:
                os.replace(part, dest)
                return
            part.unlink()
            if resumed:
                resume = False  # the old partial file was bad: start this mirror afresh
                continue
            errors.append(f"{url}: SHA-256 {digest}, expected {expected}")
            break
    raise DownloadError(
        f"could not download {spec.title} file {name} from any of {len(spec.mirrors)} "
        f"mirror(s):\n{_listing(errors)}\n" + _how_to_get(spec, dest.parent))
