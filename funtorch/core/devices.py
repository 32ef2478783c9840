"""Devices and the backend registry: where arrays live and who runs work there.

A ``Device`` is a platform ('cpu', 'cuda') and an ordinal; its ``backend`` (the platform's
``core.backend.Backend``) runs everything on it. ``CPU`` is the host: every Array built from
numpy lives there, and eager work on host arrays takes core's direct path (the primitive's
impl on the numpy buffers) without a call through the backend.

Backends register a factory per platform (``funtorch/backends/__init__.py``); it runs on
first use, so an unused backend costs no import. User-facing device arguments ('cpu',
'cuda', 'cuda:0', a Device) are normalised once, by ``get_device``.

Which device a computation runs on is ``core/placement.py``.
"""

from __future__ import annotations


class Device:
    """One device. Compares equal to itself and to its name ('cpu', 'cuda:0'; 'cuda'
    means 'cuda:0'); devices are singletons and hash by identity, so key dicts by the
    Device itself (or by ``str(device)``)."""

    __slots__ = ("platform", "id", "_name", "_backend")

    def __init__(self, platform: str, id: int = 0, name: str | None = None):  # noqa: A002
        self.platform = platform
        self.id = id
        self._name = name or f"{platform}:{id}"
        self._backend = None

    @property
    def backend(self):
        b = self._backend
        if b is None:
            b = self._backend = backend(self.platform)
        return b

    def __str__(self):
        return self._name

    def __repr__(self):
        return f"Device({self._name!r})"

    def __eq__(self, other):
        if isinstance(other, Device):
            return self is other
        if isinstance(other, str):
            return _parse(other) == (self.platform, self.id)
        return NotImplemented

    __hash__ = object.__hash__


def _parse(name: str):
    platform, _, ordinal = name.strip().lower().partition(":")
    try:
        return platform, int(ordinal or 0)
    except ValueError:
        return platform, None


CPU = Device("cpu", 0, "cpu")

# --------------------------------------------------------------------------- registry

_factories: dict = {}     # platform -> () -> Backend, in registration order
_backends: dict = {}      # platform -> Backend, once loaded


def register_backend(platform: str, factory):
    """Make ``platform`` available: ``factory()`` builds its Backend on first use."""
    _factories[platform] = factory
    _backends.pop(platform, None)


def backend(platform: str):
    """The Backend of ``platform`` (built on first use)."""
    b = _backends.get(platform)
    if b is None:
        try:
            factory = _factories[platform]
        except KeyError:
            raise ValueError(f"funtorch: unknown device platform {platform!r}; expected one of "
                             f"{', '.join(map(repr, _factories))}") from None
        b = _backends[platform] = factory()
    return b


def adopt(obj):
    """An Array sharing the memory of another library's device array (CuPy, PyTorch,
    numba), or None if no backend recognises ``obj``."""
    for p in _factories:
        x = backend(p).adopt(obj)
        if x is not None:
            return x
    return None


def from_dlpack(obj):
    """An Array over a DLPack exporter's memory, from the backend of its device type."""
    kind, _ = obj.__dlpack_device__()
    for p in _factories:
        b = backend(p)
        if b.dlpack_device_type == kind and b.devices():
            return b.from_dlpack(obj)
    raise ValueError(f"funtorch.from_dlpack: DLPack device type {kind} is not supported "
                     "here (CPU = 1 always; CUDA = 2 where a CUDA device is present)")


def platforms() -> list:
    return list(_factories)


def devices() -> list:
    """Every device present, the host first."""
    return [d for p in _factories for d in backend(p).devices()]


def get_device(spec=None) -> Device:
    """The Device a user-facing argument names: None (the host), a Device, or a string
    'platform' / 'platform:ordinal'. An absent device is a clear error."""
    if spec is None:
        return CPU
    if isinstance(spec, Device):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"funtorch: a device is a string such as 'cpu' or 'cuda:0' (or an "
                        f"element of ft.devices()), got {type(spec).__name__}")
    platform, ordinal = _parse(spec)
    if platform not in _factories or ordinal is None:
        raise ValueError(f"funtorch: unknown device {spec!r}; expected one of "
                         f"{', '.join(map(repr, _factories))} (optionally with ':<ordinal>')")
    b = backend(platform)
    present = b.devices()
    if not present:
        raise RuntimeError(f"funtorch: device {spec!r} was requested but {b.unavailable()}")
    for d in present:
        if d.id == ordinal:
            return d
    raise RuntimeError(f"funtorch: device {spec!r} is not present; this machine has "
                       f"{', '.join(str(d) for d in present)}")
