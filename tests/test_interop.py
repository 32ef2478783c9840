"""Host interop: DLPack and the array protocols in and out (the CUDA side is in
test_cuda_backend.py)."""

from __future__ import annotations

import numpy as np
import pytest

import funtorch as ft


def test_from_dlpack_copies_host_exporters(torch):
    t = torch.arange(6.0).reshape(2, 3)
    a = ft.from_dlpack(t)
    assert type(a) is ft.Array and a.dtype == np.float32 and a.device == "cpu"
    t[0, 0] = 100.0                      # Arrays are immutable: the import was a copy
    np.testing.assert_array_equal(np.asarray(a), np.arange(6.0).reshape(2, 3))
    back = torch.from_dlpack(ft.arange(4, dtype=ft.int32))
    assert back.dtype == torch.int32 and back.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(np.asarray(ft.from_dlpack(np.arange(3))), [0, 1, 2])


def test_from_dlpack_errors():
    with pytest.raises(TypeError, match="from_dlpack: list is not a DLPack exporter"):
        ft.from_dlpack([1, 2])

    class OddDevice:
        def __dlpack__(self, **kw):
            return None

        def __dlpack_device__(self):
            return (8, 0)

    with pytest.raises(ValueError, match="DLPack device type 8 is not supported"):
        ft.from_dlpack(OddDevice())
