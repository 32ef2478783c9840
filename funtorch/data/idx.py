"""IDX files, the format MNIST and its look-alikes ship in.

Reading is strict because the usual failure is a silently truncated download: the header's
dims must account for every payload byte, and a bad file is reported by name with what was
expected and what was found. gzip is detected by magic bytes, not by extension, so renamed
or unpacked files read the same.
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

__all__ = ["read_idx", "write_idx"]

# IDX type codes (third magic byte); multi-byte types are big-endian on disk.
_CODE_TO_DTYPE = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_DTYPE_TO_CODE = {dt.newbyteorder("="): code for code, dt in _CODE_TO_DTYPE.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _describe(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", None) or repr(source))


def _read_bytes(source) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return f.read()
    return source.read()


def read_idx(source) -> np.ndarray:
    """Read an IDX file (path or binary file object, gzip or raw) into a native-endian array.

    Raises ValueError naming the file for a bad magic number, an unknown type code, a short
    header, a payload whose size does not match the header's dims, or a broken gzip stream.
    """
    name = _describe(source)
    data = _read_bytes(source)
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(
                f"IDX file {name!r}: corrupt or truncated gzip stream ({e}); "
                f"delete the file and fetch it again"
            ) from None
    if len(data) < 4:
        raise ValueError(
            f"IDX file {name!r}: expected a 4-byte magic number, found only {len(data)} bytes"
        )
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"IDX file {name!r}: expected magic bytes 00 00 <type> <ndim>, "
            f"found {data[:4].hex(' ')} (not an IDX file?)"
        )
    code, ndim = data[2], data[3]
    if code not in _CODE_TO_DTYPE:
        known = ", ".join(f"0x{c:02X}" for c in _CODE_TO_DTYPE)
        raise ValueError(
            f"IDX file {name!r}: unknown type code 0x{code:02X} (expected one of {known})"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"IDX file {name!r}: header declares {ndim} dims, which needs {header} bytes; "
            f"found only {len(data)} bytes (truncated?)"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _CODE_TO_DTYPE[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        kind = "truncated" if found < expected else "has trailing bytes"
        raise ValueError(
            f"IDX file {name!r} {kind}: header declares {dtype.newbyteorder('=').name}"
            f"{list(dims)}, which needs {expected} payload bytes; found {found}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))  # a writable, native-endian copy


def write_idx(target, array) -> None:
    """Write ``array`` as IDX; gzip-compressed when ``target`` is a path ending in '.gz'.

    Exists so tests and conversion scripts can produce files any MNIST reader accepts.
    """
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _DTYPE_TO_CODE:
        names = ", ".join(sorted({d.name for d in _DTYPE_TO_CODE}))
        raise TypeError(f"write_idx: IDX cannot store dtype {array.dtype}; use one of {names}")
    if array.ndim > 255 or any(d >= 2**32 for d in array.shape):
        raise ValueError(f"write_idx: shape {array.shape} does not fit the IDX header")
    header = bytes([0, 0, _DTYPE_TO_CODE[native], array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    on_disk = _CODE_TO_DTYPE[_DTYPE_TO_CODE[native]]
    payload = header + np.ascontiguousarray(array, dtype=on_disk).tobytes()
    if isinstance(target, (str, os.PathLike)):
        if os.fspath(target).endswith(".gz"):
            payload = gzip.compress(payload, mtime=0)
        with open(target, "wb") as f:
            f.write(payload)
    else:
        target.write(payload)
