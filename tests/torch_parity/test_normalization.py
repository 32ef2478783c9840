"""nn.functional batch_norm and layer_norm against PyTorch."""


import numpy as np
import pytest

import funtorch as ft
import funtorch.nn.functional as F

from .common import close, grads_vs_torch, rand, tt

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")



@pytest.mark.parametrize("shape", [(4, 3), (4, 3, 5), (2, 3, 4, 4), (2, 3, 2, 2, 2)], ids=str)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_functional(torch, shape, training):
    rm, rv = rand(3, seed=5), np.abs(rand(3, seed=6)) + 0.5
    kw = dict(training=training, momentum=0.3, eps=1e-3)
    grads_vs_torch(
        torch,
        lambda x, w, b: F.batch_norm(x, ft.asarray(rm), ft.asarray(rv), w, b, **kw)[0],
        lambda x, w, b: torch.nn.functional.batch_norm(x, tt(torch, rm), tt(torch, rv), w, b,
                                                       **kw),
        [rand(*shape), rand(3, seed=1), rand(3, seed=2)])
    trm, trv = tt(torch, rm), tt(torch, rv)
    torch.nn.functional.batch_norm(tt(torch, rand(*shape)), trm, trv, **kw)
    _, nm, nv = F.batch_norm(ft.asarray(rand(*shape)), ft.asarray(rm), ft.asarray(rv), **kw)
    close(nm, trm)  # updated functionally (documented): torch's in-place values come back
    close(nv, trv)  # unbiased variance in the running update


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 4, 4)], ids=str)
def test_batch_norm_without_affine_or_stats(torch, shape):
    grads_vs_torch(torch, lambda x: F.batch_norm(x, None, None, training=True)[0],
                   lambda x: torch.nn.functional.batch_norm(x, None, None, training=True),
                   [rand(*shape)])


@pytest.mark.parametrize("shape,ns", [((2, 3, 4), (4,)), ((2, 3, 4), (3, 4)),
                                      ((2, 3, 4), [2, 3, 4]), ((5,), (5,))], ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_argument_space(torch, shape, ns, affine):
    tshape = tuple(ns)
    if affine:
        grads_vs_torch(torch, lambda x, w, b: F.layer_norm(x, ns, w, b, eps=1e-3),
                       lambda x, w, b: torch.nn.functional.layer_norm(x, ns, w, b, eps=1e-3),
                       [rand(*shape), rand(*tshape, seed=1), rand(*tshape, seed=2)])
    else:
        grads_vs_torch(torch, lambda x: F.layer_norm(x, ns),
                       lambda x: torch.nn.functional.layer_norm(x, ns), [rand(*shape)])
