"""Devices as objects, the backend registry and ``jit(f, device=...)`` (docs/ARCHITECTURE.md,
"Devices and backends"); the CUDA side runs under the simulator in test_cuda_backend.py."""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest

import funtorch as ft
from funtorch.core import devices as registry
from funtorch.core.backend import Backend
from funtorch.core.devices import CPU, Device


def test_devices_are_objects_equal_to_their_names():
    x = ft.ones(3)
    assert x.device is CPU and isinstance(x.device, Device)
    assert x.device == "cpu" and x.device == "CPU" and x.device != "cuda:0"
    assert str(x.device) == "cpu" and repr(x.device) == "Device('cpu')"
    assert ft.devices()[0] is CPU
    assert registry.get_device("cpu") is CPU and registry.get_device(None) is CPU
    assert registry.get_device(CPU) is CPU
    cuda = Device("cuda", 0)
    assert cuda == "cuda" and cuda == "cuda:0" and cuda != "cuda:1" and cuda != "cpu"


@pytest.mark.parametrize("spec, err, match", [
    ("tpu", ValueError, r"unknown device 'tpu'.*'cpu', 'cuda'"),
    ("cuda:x", ValueError, r"unknown device 'cuda:x'"),
    ("cpu:3", RuntimeError, r"'cpu:3' is not present.*cpu"),
    (3, TypeError, r"a device is a string"),
])
def test_bad_device_arguments_are_clear_errors(spec, err, match):
    with pytest.raises(err, match=match):
        ft.device_put(ft.ones(2), spec)
    with pytest.raises(err, match=match):
        ft.jit(lambda a: a, device=spec)


def test_jit_device_cpu_places_inputs_on_the_host():
    f = ft.jit(lambda a, b: a * b + 1, device="cpu")
    assert f.device is CPU
    out = f(np.full(3, 2.0, np.float32), ft.ones(3))
    assert out.device is CPU
    np.testing.assert_array_equal(np.asarray(out), np.full(3, 3.0, np.float32))


def test_jit_device_without_that_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(registry.backend("cuda"), "devices", lambda: [])
    with pytest.raises(RuntimeError, match=r"device 'cuda' was requested but no CUDA device"):
        ft.jit(lambda a: a * 2, device="cuda")


class _Host(Backend):
    """A second host platform: numpy buffers, the CPU backend's compiler."""

    platform = "other"

    def __init__(self):
        super().__init__()
        self.device = Device("other", 0)
        self.calls = []

    def devices(self):
        return [self.device]

    def eager(self, prim, args, params):
        self.calls.append(("eager", prim.name))
        outs = CPU.backend.eager(prim, [ft.device_put(a, "cpu") for a in args], params)
        return [ft.Array(o._value, self.device) for o in outs]

    def compile(self, graph, donated=None):
        self.calls.append(("compile", len(graph.eqns)))
        return CPU.backend.compile(graph, donated)

    def to_host(self, buf):
        return buf

    def from_host(self, value, device):
        return np.array(value)


def test_a_new_backend_is_one_registry_entry(monkeypatch):
    """Everything (device_put, eager ops, jit, jit(device=), transfers back) reaches a
    registered backend through the interface alone."""
    b = _Host()
    monkeypatch.setitem(registry._factories, "other", lambda: b)
    monkeypatch.setitem(registry._backends, "other", b)
    assert registry.get_device("other") is b.device and b.device in ft.devices()
    x = ft.device_put(np.arange(3, dtype=np.float32), "other")
    assert x.device == "other:0" and x.device.backend is b
    y = x * 2
    assert y.device is b.device and ("eager", "mul") in b.calls
    z = ft.jit(lambda a: a + 1)(y)
    assert z.device is b.device and any(c[0] == "compile" for c in b.calls)
    w = ft.jit(lambda a: a - 1, device="other")(np.ones(2, np.float32))
    assert w.device is b.device
    np.testing.assert_array_equal(np.asarray(z), [1.0, 3.0, 5.0])
    assert ft.device_put(z, "cpu").device is CPU


# --------------------------------------------------------------------------- layering

_PKG = pathlib.Path(ft.__file__).parent
# a device compared by name: == / != / in against a platform string, startswith("cuda"),
# an array's device compared by value, or a device-array class recognised by name
_DEVICE_TEST = re.compile(
    r"""(==|!=|\bin)\s*\(?\s*["'](cpu|cuda)|["'](cpu|cuda)[^"']*["']\s*(==|!=)"""
    r"""|startswith\(\s*["'](cpu|cuda)|FakeCUDAArray|\.?_?device\s*(==|!=)""")


def test_no_device_string_tests_outside_the_registry_and_backends():
    found = []
    for path in sorted(_PKG.rglob("*.py")):
        rel = path.relative_to(_PKG).as_posix()
        if rel.startswith("backends/") or rel == "core/devices.py":
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if _DEVICE_TEST.search(line.split("#")[0]):
                found.append(f"funtorch/{rel}:{i}: {line.strip()}")
    assert not found, ("device tested by name outside core/devices.py and backends/ (ask "
                       "x.device.backend instead):\n" + "\n".join(found))


def test_the_device_test_pattern_finds_what_it_is_for():
    for line in ['if x._device == "cpu":', "elif device.startswith('cuda'):",
                 'if d != "cuda:0":', 'type(x).__name__ == "FakeCUDAArray"',
                 'if device in ("cpu", "cuda")', 'if x.device == other.device:']:
        assert _DEVICE_TEST.search(line), line
    for line in ['if x._device is CPU:', 'x = get_device("cuda")', 'platform = "cpu"']:
        assert not _DEVICE_TEST.search(line), line
