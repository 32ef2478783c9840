"""Checkpoints: pytrees of arrays saved as safetensors files, and PyTorch's ``.pth`` files read.

safetensors because it is a plain, mmap-able format that PyTorch and others read, and
loading it cannot run code (unlike pickle). The tree's shape (dicts, lists, tuples,
namedtuples, None, and Python int/float/bool leaves such as a step counter) rides along as
JSON in the file's metadata, so :func:`load` rebuilds the same tree. Files are written to a
temporary file in the same directory, fsynced and renamed over the target, so a crash
mid-save leaves the previous checkpoint intact.

:func:`load_torch` reads what ``torch.save`` writes (``model.state_dict()``, or dicts and
lists of tensors) without PyTorch and without running pickled code: its unpickler knows
only tensors, storages and ``OrderedDict``, as ``torch.load(weights_only=True)``, and
refuses anything else. :func:`load` reads both formats, telling them apart by their first
bytes.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import pickle
import secrets
import sys
import zipfile

import ml_dtypes
import numpy as np
import optree
import safetensors

from .numpy import asarray
from .tree import NAMESPACE

__all__ = ["save", "load", "load_torch"]

_TREE_KEY = "funtorch.tree"
_VERSION_KEY = "funtorch.version"
_VERSION = "1"

# safetensors dtype codes <-> numpy (ml_dtypes for the narrow floats numpy lacks).
_CODES = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype(np.uint8), "I8": np.dtype(np.int8),
    "U16": np.dtype(np.uint16), "I16": np.dtype(np.int16),
    "U32": np.dtype(np.uint32), "I32": np.dtype(np.int32),
    "U64": np.dtype(np.uint64), "I64": np.dtype(np.int64),
    "F16": np.dtype(np.float16), "BF16": np.dtype(ml_dtypes.bfloat16),
    "F32": np.dtype(np.float32), "F64": np.dtype(np.float64),
    "F8_E4M3": np.dtype(ml_dtypes.float8_e4m3fn), "F8_E5M2": np.dtype(ml_dtypes.float8_e5m2),
    "C64": np.dtype(np.complex64),
}
_SAVABLE = frozenset(_CODES.values())

# Python scalars are stored as 0-d arrays and come back as Python scalars.
_SCALARS = {"bool": (bool, np.dtype(np.bool_)), "int": (int, np.dtype(np.int64)),
            "float": (float, np.dtype(np.float64))}


def save(path, tree) -> None:
    """Write ``tree`` to ``path`` (a safetensors file), atomically.

    Leaves may be funtorch or numpy arrays (any dtype safetensors has, bfloat16 included)
    or Python int/float/bool. Tensor names are the dotted tree paths ("0.weight"), so the
    file also reads as a flat state dict elsewhere.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"ft.save: {path!r} is a directory; pass a file path such as "
                                f"{os.path.join(path, 'model.safetensors')!r}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"ft.save: directory {directory!r} does not exist")
    tensors = {}
    skeleton = _encode(tree, (), tensors)
    metadata = {_TREE_KEY: json.dumps(skeleton, separators=(",", ":")),
                _VERSION_KEY: _VERSION}
    _atomic_write(path, _serialize(tensors, metadata))


def load(path, like=None):
    """Read a tree written by :func:`save`, or a PyTorch checkpoint (see :func:`load_torch`;
    it loads as a flat ``{name: array}`` dict).

    With ``like`` (a tree of the expected structure; leaves need only ``.shape`` and
    ``.dtype``), the file must match it exactly, and a mismatch is a ValueError naming the
    first differing path, so a checkpoint from another model is refused rather than
    half-loaded. Arrays come back as funtorch arrays (numpy for dtypes funtorch lacks, such
    as float8). A safetensors file written by other tools loads as a flat ``{name: array}``
    dict.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"ft.load: no such file {path!r}; check the path "
                                "(ft.save(path, tree) writes one)") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"ft.load: {path!r} is a directory, not a safetensors "
                                "file") from None
    if data[:4] == _ZIP_MAGIC or data[:2] == _PICKLE_PROTO2:   # torch.save's formats
        arrays = _read_torch(path, data, "ft.load")
        metadata = {}
    else:
        try:
            items = safetensors.deserialize(data)
            header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
        except Exception as e:  # SafetensorError, or JSON errors for a mangled header
            raise ValueError(
                f"ft.load: {path!r} is not a valid safetensors file, nor a PyTorch "
                f"checkpoint ({e}). ft.load reads files written by ft.save, other "
                "safetensors files and torch.save's .pth/.pt files; check that the file is "
                "complete and in one of these formats") from None
        arrays = {name: _to_numpy(path, name, info) for name, info in items}
        metadata = header.get("__metadata__") or {}
    loader = _Loader(path, {n: a for n, a in arrays.items() if isinstance(a, np.ndarray)})
    if _TREE_KEY in metadata:
        skeleton = json.loads(metadata[_TREE_KEY])
    else:  # written by another tool: a flat dict in file order
        skeleton = {"dict": [[n, {"leaf": n, "kind": "array"}] for n in arrays]}
        if like is None and any(not isinstance(a, np.ndarray) for a in arrays.values()):
            # a torch checkpoint's plain values (an epoch count) stay as they are
            return {n: loader.build(node, (n,)) if isinstance(arrays[n], np.ndarray)
                    else arrays[n] for n, node in skeleton["dict"]}
    if like is None:
        return loader.build(skeleton, ())
    return loader.build_like(skeleton, like, ())


# ----------------------------------------------------------------------------- saving


def _encode(node, path, tensors):
    """The JSON skeleton of ``node``; leaves go into ``tensors`` under unique names."""
    if node is None:
        return None
    if isinstance(node, dict):
        pairs = []
        for k, v in node.items():
            if not isinstance(k, (str, int)):
                raise TypeError(
                    f"ft.save: dict key {k!r} at {_keystr(path)} is a {type(k).__name__}; "
                    f"checkpoints support str and int keys"
                )
            pairs.append([k, _encode(v, (*path, k), tensors)])
        return {"dict": pairs}
    if isinstance(node, tuple) and hasattr(type(node), "_fields"):
        cls = type(node)
        children = [_encode(v, (*path, f), tensors)
                    for f, v in zip(cls._fields, node, strict=True)]
        return {"namedtuple": f"{cls.__module__}:{cls.__qualname__}",
                "fields": list(cls._fields), "children": children}
    if type(node) in (list, tuple):
        kind = type(node).__name__
        return {kind: [_encode(v, (*path, i), tensors) for i, v in enumerate(node)]}
    if not optree.tree_structure(node, namespace=NAMESPACE).is_leaf():
        children, _, entries, _ = optree.tree_flatten_one_level(node, namespace=NAMESPACE)
        cls = type(node)
        children = [_encode(v, (*path, e), tensors)
                    for e, v in zip(entries, children, strict=True)]
        return {"node": f"{cls.__module__}:{cls.__qualname__}", "children": children}
    return _encode_leaf(node, path, tensors)


def _encode_leaf(leaf, path, tensors):
    kind = _scalar_kind(leaf)
    if kind is not None:
        try:
            array = np.asarray(leaf, dtype=_SCALARS[kind][1])
        except OverflowError:
            raise ValueError(
                f"ft.save: int {leaf} at {_keystr(path)} does not fit in int64"
            ) from None
    else:
        if isinstance(leaf, (str, bytes, complex)) or leaf is Ellipsis:
            raise TypeError(
                f"ft.save: leaf at {_keystr(path)} is a {type(leaf).__name__}; checkpoints "
                f"hold arrays and Python int/float/bool leaves"
            )
        kind, array = "array", np.asarray(leaf)
        if array.dtype.newbyteorder("=") not in _SAVABLE:
            names = ", ".join(sorted(d.name for d in _SAVABLE))
            raise TypeError(
                f"ft.save: leaf at {_keystr(path)} has dtype {array.dtype}, which safetensors "
                f"cannot store; supported: {names}"
            )
    name = _unique_name(path, tensors)
    # not ascontiguousarray, which turns 0-d arrays into 1-d ones
    tensors[name] = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)
    return {"leaf": name, "kind": kind}


def _unique_name(path, tensors):
    base = ".".join(str(p) for p in path) or "value"
    name, i = base, 1
    while name in tensors:
        name, i = f"{base}#{i}", i + 1
    return name


def _serialize(tensors, metadata):
    spec_cls = getattr(safetensors, "TensorSpec", None)
    if spec_cls is None:  # safetensors < 0.8 took {dtype, shape, data: bytes} dicts
        specs = {n: {"dtype": a.dtype.name, "shape": list(a.shape), "data": a.tobytes()}
                 for n, a in tensors.items()}
    else:  # the arrays in ``tensors`` stay alive for the call, as TensorSpec requires
        specs = {n: spec_cls(dtype=a.dtype.name, shape=list(a.shape), data_ptr=a.ctypes.data,
                             data_len=a.nbytes)
                 for n, a in tensors.items()}
    return bytes(safetensors.serialize(specs, metadata=metadata))


def _atomic_write(path, data):
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(
        directory, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    )
    # O_EXCL with mode 0o666 gives the umask's permissions, as open() would.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable, where supported
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


# ----------------------------------------------------------------------------- loading


def _to_numpy(path, name, info):
    dtype = _CODES.get(info["dtype"])
    if dtype is None:
        raise ValueError(
            f"ft.load: {path!r}: tensor {name!r} has dtype {info['dtype']}, which funtorch "
            f"cannot represent"
        )
    return np.frombuffer(info["data"], dtype=dtype.newbyteorder("<")).reshape(info["shape"])


class _Loader:
    def __init__(self, path, arrays):
        self.path, self.arrays = path, arrays

    def _array(self, node, path):
        name = node["leaf"]
        if name not in self.arrays:
            raise ValueError(
                f"ft.load: {self.path!r} is corrupt: its tree names tensor {name!r} at "
                f"{_keystr(path)}, which the file does not hold"
            )
        return self.arrays[name]

    def _leaf_value(self, array, kind):
        if kind in _SCALARS:
            return _SCALARS[kind][0](array.item())
        array = array.astype(array.dtype.newbyteorder("="), copy=False)
        try:
            return asarray(array)
        except TypeError:  # a dtype funtorch lacks (float8, complex): stays numpy, a
            return array.copy()  # writable copy independent of the file's buffer

    def build(self, node, path):
        """Rebuild from the skeleton alone."""
        if node is None:
            return None
        tag = _tag(node)
        if tag == "leaf":
            return self._leaf_value(self._array(node, path), node["kind"])
        if tag == "dict":
            return {k: self.build(v, (*path, k)) for k, v in node["dict"]}
        if tag in ("list", "tuple"):
            items = [self.build(v, (*path, i)) for i, v in enumerate(node[tag])]
            return items if tag == "list" else tuple(items)
        if tag == "namedtuple":
            fields = node["fields"]
            children = [self.build(v, (*path, f))
                        for f, v in zip(fields, node["children"], strict=True)]
            return _namedtuple_class(node["namedtuple"], fields)(*children)
        raise ValueError(
            f"ft.load: {self.path!r} holds a custom pytree node {node.get('node', tag)!r} at "
            f"{_keystr(path)}; pass like= a tree of the same structure to rebuild it"
        )

    def build_like(self, node, like, path):
        """Rebuild following ``like``'s containers, refusing any difference."""
        if like is None:
            if node is not None:
                self._mismatch(path, "None", node)
            return None
        if isinstance(like, dict):
            if _tag(node) != "dict":
                self._mismatch(path, f"a dict with keys {sorted(map(str, like))}", node)
            stored = dict(node["dict"])
            if set(stored) != set(like):
                missing = sorted(set(like) - set(stored), key=str)
                extra = sorted(set(stored) - set(like), key=str)
                diffs = ([f"the file lacks keys {missing}"] if missing else []) + (
                    [f"the file has extra keys {extra}"] if extra else [])
                self._fail(path, "; ".join(diffs))
            return {k: self.build_like(stored[k], like[k], (*path, k)) for k in like}
        if isinstance(like, tuple) and hasattr(type(like), "_fields"):
            cls = type(like)
            if _tag(node) != "namedtuple" or node["fields"] != list(cls._fields):
                self._mismatch(path, f"namedtuple {cls.__name__}{cls._fields}", node)
            return cls(*(self.build_like(v, l, (*path, f))
                         for f, v, l in zip(cls._fields, node["children"], like, strict=True)))
        if type(like) in (list, tuple):
            tag = type(like).__name__
            if _tag(node) != tag or len(node[tag]) != len(like):
                self._mismatch(path, f"a {tag} of length {len(like)}", node)
            items = [self.build_like(v, l, (*path, i))
                     for i, (v, l) in enumerate(zip(node[tag], like, strict=True))]
            return items if tag == "list" else tuple(items)
        if not optree.tree_structure(like, namespace=NAMESPACE).is_leaf():
            children, meta, entries, unflatten = optree.tree_flatten_one_level(
                like, namespace=NAMESPACE)
            cls = type(like)
            if (_tag(node) != "node" or node["node"] != f"{cls.__module__}:{cls.__qualname__}"
                    or len(node["children"]) != len(children)):
                self._mismatch(path, f"a {cls.__qualname__} node", node)
            rebuilt = [self.build_like(v, l, (*path, e))
                       for e, v, l in zip(entries, node["children"], children, strict=True)]
            return unflatten(meta, rebuilt)
        return self._leaf_like(node, like, path)

    def _leaf_like(self, node, like, path):
        if _tag(node) != "leaf":
            self._mismatch(path, "a leaf", node)
        array = self._array(node, path)
        scalar = _scalar_kind(like)
        if scalar is not None:
            shape, dtype = (), _SCALARS[scalar][1]
        elif hasattr(like, "shape") and hasattr(like, "dtype"):
            shape, dtype = tuple(like.shape), np.dtype(like.dtype)
        else:
            a = np.asarray(like)
            shape, dtype = a.shape, a.dtype
        found, dtype = array.dtype.newbyteorder("="), dtype.newbyteorder("=")
        if tuple(array.shape) != shape or found != dtype:
            self._fail(path, f"expected {_desc_array(dtype, shape)}, "
                             f"found {_desc_array(found, array.shape)}")
        return self._leaf_value(array, scalar or "array")

    def _mismatch(self, path, expected, node):
        self._fail(path, f"expected {expected}, found {self._desc(node)}")

    def _fail(self, path, what):
        raise ValueError(
            f"ft.load: {self.path!r} does not match `like` at {_keystr(path)}: {what}"
        )

    def _desc(self, node):
        tag = _tag(node)
        if tag is None:
            return "None"
        if tag == "leaf":
            a = self.arrays.get(node["leaf"])
            return "a leaf" if a is None else f"a leaf {_desc_array(a.dtype, a.shape)}"
        if tag == "dict":
            return f"a dict with keys {sorted(str(k) for k, _ in node['dict'])}"
        if tag in ("list", "tuple"):
            return f"a {tag} of length {len(node[tag])}"
        if tag == "namedtuple":
            return f"namedtuple {node['namedtuple'].split(':')[-1]}{tuple(node['fields'])}"
        return f"a {node['node'].split(':')[-1]} node"


def _scalar_kind(x):
    """'bool'/'int'/'float' for exactly those Python types (not numpy scalars), else None."""
    return next((k for k, (t, _) in _SCALARS.items() if type(x) is t), None)


def _tag(node):
    if node is None:
        return None
    for tag in ("leaf", "dict", "list", "tuple", "namedtuple", "node"):
        if tag in node:
            return tag
    raise ValueError(f"ft.load: unrecognised tree node {node!r} in the file's metadata")


def _namedtuple_class(qualified, fields):
    """The saved class if its module is already imported (a checkpoint never triggers an
    import, which could run code); otherwise a look-alike namedtuple."""
    module, _, qualname = qualified.partition(":")
    obj = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if isinstance(obj, type) and issubclass(obj, tuple) and list(
            getattr(obj, "_fields", ())) == list(fields):
        return obj
    return collections.namedtuple(qualname.split(".")[-1].replace("<", "").replace(">", ""),
                                  fields)


def _desc_array(dtype, shape):
    return f"{np.dtype(dtype).name}{list(shape)}"


def _keystr(path):
    if not path:
        return "the root"
    return "".join(f"[{p!r}]" for p in path)


# ----------------------------------------------------------------------------- PyTorch files

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO2 = b"\x80\x02"     # the legacy (pre-1.6) format starts with a pickled magic number

# torch's storage classes -> numpy dtypes (typed storages pickle under these names)
_TORCH_STORAGES = {
    "FloatStorage": np.dtype(np.float32), "DoubleStorage": np.dtype(np.float64),
    "HalfStorage": np.dtype(np.float16), "BFloat16Storage": np.dtype(ml_dtypes.bfloat16),
    "LongStorage": np.dtype(np.int64), "IntStorage": np.dtype(np.int32),
    "ShortStorage": np.dtype(np.int16), "CharStorage": np.dtype(np.int8),
    "ByteStorage": np.dtype(np.uint8), "BoolStorage": np.dtype(np.bool_),
    "UInt16Storage": np.dtype(np.uint16), "UInt32Storage": np.dtype(np.uint32),
    "UInt64Storage": np.dtype(np.uint64),
}


def load_torch(path) -> dict:
    """Read a checkpoint written by ``torch.save`` (a ``.pth``/``.pt`` zip archive:
    ``data.pkl`` plus one file per storage) into a flat ``{name: numpy array}`` dict,
    without importing torch.

    ``torch.save(model.state_dict(), path)`` gives PyTorch's dotted names, ready for
    ``model.load_state_dict``; nested dicts and lists (``{'model': ..., 'epoch': 3}``)
    flatten to dotted names too, and plain Python values (numbers, strings) stay as they
    are. Views and shared storages come back as separate arrays with the viewed values.

    Only tensors, their storages and ``OrderedDict`` are unpickled (as
    ``torch.load(weights_only=True)``): any other object in the pickle is refused with a
    ``pickle.UnpicklingError`` before anything is called, so a hostile file cannot run
    code. The legacy pre-1.6 format is refused with a message saying how to convert it.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"ft.io.load_torch: no such file {path!r}") from None
    return _read_torch(path, data, "ft.io.load_torch")


def _read_torch(path, data, op):
    if data[:2] == _PICKLE_PROTO2:
        raise ValueError(
            f"{op}: {path!r} is in PyTorch's legacy (pre-1.6) checkpoint format, which "
            "funtorch does not read; convert it with PyTorch: torch.save(torch.load(path), "
            "new_path) writes the zip format")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except (zipfile.BadZipFile, ValueError) as e:
        raise ValueError(f"{op}: {path!r} is not a valid PyTorch checkpoint: the zip "
                         f"archive is damaged or truncated ({e})") from None
    pkl = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
    if len(pkl) != 1:
        raise ValueError(f"{op}: {path!r} is a zip archive but not a PyTorch checkpoint "
                         "(it has no single data.pkl); torch.save writes one")
    prefix = pkl[0][:-len("data.pkl")]
    byteorder = "little"
    if prefix + "byteorder" in names:      # absent in files from torch < 2.0: little-endian
        byteorder = archive.read(prefix + "byteorder").decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise ValueError(f"{op}: {path!r} records an unknown byte order {byteorder!r}")
    unpickler = _TorchUnpickler(io.BytesIO(archive.read(pkl[0])), archive, prefix,
                                "<" if byteorder == "little" else ">", path, op)
    try:
        obj = unpickler.load()
    except pickle.UnpicklingError:
        raise
    except (KeyError, EOFError, ValueError, TypeError, IndexError, zipfile.BadZipFile) as e:
        raise ValueError(f"{op}: {path!r} is not a valid PyTorch checkpoint "
                         f"({type(e).__name__}: {e})") from None
    flat = {}
    _flatten_checkpoint(obj, "", flat, path, op)
    return flat


class _Storage:
    """A storage's elements, as one flat numpy array."""

    def __init__(self, array):
        self.array = array


class _TorchUnpickler(pickle.Unpickler):
    """Reconstructs tensors, storages and OrderedDicts; refuses every other global."""

    def __init__(self, file, archive, prefix, order, path, op):
        super().__init__(file)
        self.archive, self.prefix, self.order = archive, prefix, order
        self.path, self.op, self.storages = path, op, {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return self._rebuild_tensor
        if module == "torch._utils" and name in ("_rebuild_parameter",
                                                 "_rebuild_parameter_with_state"):
            return _rebuild_parameter
        if module == "torch" and name in _TORCH_STORAGES:
            return _TORCH_STORAGES[name]
        if (module, name) == ("torch", "Size"):
            return tuple
        if (module, name) == ("_codecs", "encode"):    # bytes under pickle protocol 2
            return _latin1_encode
        raise pickle.UnpicklingError(
            f"{self.op}: {self.path!r} holds a pickled {module}.{name}, which funtorch "
            "refuses to load: a PyTorch checkpoint may only hold tensors, storages and "
            "(ordered) dicts, lists and numbers (torch.load(weights_only=True) allows the "
            "same), and unpickling anything else could run code. Save only the "
            "state_dict: torch.save(model.state_dict(), path)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], np.dtype)):
            raise pickle.UnpicklingError(f"{self.op}: {self.path!r}: unsupported persistent "
                                         f"id {pid!r:.80} (expected a tensor storage)")
        _, dtype, key, _location, numel = pid
        key = str(key)
        if key not in self.storages:
            name = f"{self.prefix}data/{key}"
            try:
                raw = self.archive.read(name)
            except KeyError:
                raise ValueError(f"the archive lacks storage {name!r}") from None
            if len(raw) != numel * dtype.itemsize:
                raise ValueError(f"storage {name!r} has {len(raw)} bytes, expected "
                                 f"{numel} x {dtype.itemsize}")
            array = np.frombuffer(raw, dtype.newbyteorder(self.order))
            self.storages[key] = _Storage(array.astype(dtype, copy=False))
        return self.storages[key]

    def _rebuild_tensor(self, storage, offset, size, stride, *_):
        if not isinstance(storage, _Storage):
            raise pickle.UnpicklingError(f"{self.op}: {self.path!r}: a tensor without a "
                                         "storage")
        flat = storage.array
        size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
        if len(size) != len(stride) or offset < 0 or any(s < 0 for s in size + stride):
            raise ValueError(f"bad tensor layout (offset {offset}, size {size}, "
                             f"stride {stride})")
        if 0 in size:
            return np.zeros(size, flat.dtype)
        last = offset + sum((n - 1) * st for n, st in zip(size, stride))
        if last >= flat.size:    # never read past the storage (as_strided would)
            raise ValueError(f"a tensor of size {size}, stride {stride} at offset {offset} "
                             f"reaches past its storage of {flat.size} elements")
        view = np.lib.stride_tricks.as_strided(
            flat[offset:], size, tuple(st * flat.itemsize for st in stride), writeable=False)
        return np.array(view)     # its own contiguous copy


def _rebuild_parameter(data, *_):
    return data


def _latin1_encode(text, encoding="latin1"):
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"unsupported bytes encoding {encoding!r}")
    return text.encode("latin1")


def _flatten_checkpoint(obj, prefix, flat, path, op):
    """Dicts and lists flatten to dotted names; tensors (numpy arrays now) and plain
    values are the leaves."""
    if isinstance(obj, (dict, list, tuple)):
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        for k, v in items:
            _flatten_checkpoint(v, f"{prefix}{k}.", flat, path, op)
    elif prefix:
        flat[prefix[:-1]] = obj
    elif isinstance(obj, np.ndarray):    # torch.save(tensor): one unnamed tensor
        flat["value"] = obj
    else:
        raise ValueError(f"{op}: {path!r} holds a {type(obj).__name__}, not tensors")
