"""Writes tests/data/torch_state_dict.pth with PyTorch (run once; the file is checked in so
that the .pth reader is tested where torch is absent): ``torch_checkpoint(torch)`` is the
object saved, and ``expected()`` its values in numpy, computed without torch."""

from __future__ import annotations

import collections
import pathlib

import ml_dtypes
import numpy as np

PATH = pathlib.Path(__file__).with_name("torch_state_dict.pth")


def torch_checkpoint(torch):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 4 - 2
    sd = collections.OrderedDict()
    sd["fc.weight"] = base
    sd["fc.bias"] = torch.linspace(-1, 1, 5, dtype=torch.float64)
    sd["half"] = (base[:2] / 3).to(torch.float16)
    sd["bf16"] = (base[1] / 3).to(torch.bfloat16)
    sd["long"] = torch.arange(-3, 3, dtype=torch.int64) * (2 ** 40)
    sd["bytes"] = torch.arange(250, 256, dtype=torch.uint8)
    sd["mask"] = torch.tensor([True, False, True])
    sd["view.t"] = base.t()                       # shares base's storage, transposed
    sd["view.row"] = base[2]                      # an offset into it
    sd["view.strided"] = base[1:, ::2]            # offset and steps
    sd["scalar"] = torch.tensor(7.5)
    sd["empty"] = torch.zeros(0, 3)
    return sd


def expected():
    base = np.arange(24, dtype=np.float32).reshape(4, 6) / 4 - 2
    return {
        "fc.weight": base, "fc.bias": np.linspace(-1, 1, 5),
        "half": (base[:2] / 3).astype(np.float16),
        "bf16": (base[1] / 3).astype(ml_dtypes.bfloat16),
        "long": np.arange(-3, 3, dtype=np.int64) * 2 ** 40,
        "bytes": np.arange(250, 256, dtype=np.uint8), "mask": np.array([True, False, True]),
        "view.t": base.T, "view.row": base[2], "view.strided": base[1:, ::2],
        "scalar": np.float32(7.5), "empty": np.zeros((0, 3), np.float32),
    }


if __name__ == "__main__":
    import torch
    torch.save(torch_checkpoint(torch), PATH)
    print("wrote", PATH, PATH.stat().st_size, "bytes")
