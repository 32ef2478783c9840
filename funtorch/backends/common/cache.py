"""The kernel disk cache of both backends: generated source -> a module file named by its
hash -> the imported module.

Each distinct source is written once into ``$FUNTORCH_CACHE_DIR`` (default
``$XDG_CACHE_HOME/funtorch``, falling back to a per-user temporary directory where that is
not writable), under a directory per backend, code version, Numba and Python version. Numba's
``cache=True`` keeps the machine code beside the file, so a second process loads kernels
instead of compiling them.

A backend's *library* kernels (entry points that depend on no model's shapes or constants,
such as the CPU's convolution and pooling kernels) go to ``library_dir`` instead: beside the
package, in its ``__pycache__``, where Numba caches the package's static kernels too. They
compile once per installation (or ``make precompile``), not once per kernel cache, as a
framework's precompiled kernels ship with it; emptying ``$FUNTORCH_CACHE_DIR`` keeps them.

One write policy: the source goes to a temporary file in the same directory, gets a fixed
modification time, and is moved into place with ``os.replace`` (atomic: no process ever
imports a partial file). Numba's cache index is keyed on the source file's (mtime, size),
and the name is the hash of the content, so a racing writer that replaces the file replaces
it with an identical stamp and never invalidates machine code another process has cached.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading

import numba

LAYOUT = "2"                  # bump when this module changes how files are named or loaded
_STAMP = 1_000_000_000        # the fixed mtime of every cached source (see above)
_dirs = {}                    # wanted directory -> the one in use
_modules = {}                 # (backend, digest) -> module
lock = threading.RLock()      # loads may come from a background compile thread


def root():
    """The cache root: ``$FUNTORCH_CACHE_DIR`` or ``$XDG_CACHE_HOME/funtorch``."""
    d = os.environ.get("FUNTORCH_CACHE_DIR")
    if d:
        return d
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "funtorch")


def _name(backend, version):
    return (f"{backend}-v{version}.{LAYOUT}-numba{numba.__version__}-py{sys.version_info[0]}"
            f"{sys.version_info[1]}")


def cache_dir(backend, version):
    """The directory of ``backend``'s kernels (created; read each time, so tests and
    benchmarks may point ``FUNTORCH_CACHE_DIR`` elsewhere between compilations)."""
    return _usable(os.path.join(root(), _name(backend, version)), _name(backend, version))


def library_dir(package_dir, backend, version):
    """The directory of ``backend``'s library kernels: ``package_dir/__pycache__/..``, or a
    per-user temporary directory where the package is read-only."""
    want = os.path.join(package_dir, "__pycache__", _name(backend + "-library", version))
    return _usable(want, _name(backend + "-library", version))


def _usable(want, name):
    d = _dirs.get(want)
    if d is None:
        try:
            os.makedirs(want, exist_ok=True)
            tempfile.NamedTemporaryFile(dir=want, delete=True).close()
            d = want
        except OSError:
            d = os.path.join(tempfile.gettempdir(), f"funtorch-{os.getuid()}", name)
            os.makedirs(d, exist_ok=True)
        _dirs[want] = d
    return d


def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def write(directory, name, text):
    """``directory/name`` holding ``text``, written atomically if it is not there."""
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.utime(tmp, (_STAMP, _STAMP))
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    return path


def load(text, backend, version, directory=None):
    """The module of a kernel source, from this process, the disk cache (``directory``,
    default ``cache_dir(backend, version)``) or a fresh write (imported under a name
    derived from its hash: Numba's cache re-imports it by name). Thread-safe."""
    h = digest(text)
    mod = _modules.get((backend, h))
    if mod is not None:
        return mod
    with lock:
        mod = _modules.get((backend, h))
        if mod is not None:
            return mod
        path = write(directory or cache_dir(backend, version), f"k{h}.py", text)
        name = f"funtorch_{backend}_kernel_{h}".replace("-", "_")
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        _modules[(backend, h)] = mod
    return mod


def on_disk(text, backend, version):
    """Whether a source is in the disk cache (written before Numba compiled it, so its
    machine code is there too unless that process died compiling: a guess, for scheduling
    compilations, never for correctness)."""
    return os.path.exists(os.path.join(cache_dir(backend, version), f"k{digest(text)}.py"))


def is_loaded(text, backend):
    """Whether this process has loaded the source already."""
    return (backend, digest(text)) in _modules
