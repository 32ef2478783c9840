"""Checkpoints: pytrees of arrays saved as safetensors files.

safetensors because it is a plain, mmap-able format that PyTorch and others read, and
loading it cannot run code (unlike pickle). The tree's shape (dicts, lists, tuples,
namedtuples, None, and Python int/float/bool leaves such as a step counter) rides along as
JSON in the file's metadata, so :func:`load` rebuilds the same tree. Files are written to a
temporary file in the same directory, fsynced and renamed over the target, so a crash
mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import secrets
import sys

import ml_dtypes
import numpy as np
import optree
import safetensors

from .numpy import asarray
from .tree import NAMESPACE

__all__ = ["save", "load"]

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
    """Read a tree written by :func:`save`.

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
    try:
        items = safetensors.deserialize(data)
        header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    except Exception as e:  # SafetensorError, or JSON errors for a mangled header
        raise ValueError(f"ft.load: {path!r} is not a valid safetensors file ({e})") from None
    arrays = {name: _to_numpy(path, name, info) for name, info in items}
    metadata = header.get("__metadata__") or {}
    if _TREE_KEY in metadata:
        skeleton = json.loads(metadata[_TREE_KEY])
    else:  # written by another tool: a flat dict in file order
        skeleton = {"dict": [[n, {"leaf": n, "kind": "array"}] for n in arrays]}
    loader = _Loader(path, arrays)
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
