"""What the PyTorch-parity modules share: random data, the comparison against torch
tensors and the forward-and-VJP check against torch autograd."""


import numpy as np

import funtorch as ft


def rng(seed=0):
    return np.random.default_rng(seed)


def rand(*shape, seed=0):
    return rng(seed).standard_normal(shape).astype(np.float32)


def close(a, b, rtol=1e-5, atol=1e-5):
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    a = np.asarray(a)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def tt(torch, a, grad=False):
    return torch.tensor(np.asarray(a), requires_grad=grad)


def grads_vs_torch(torch, ours_fn, ref_fn, arrays, rtol=1e-4, atol=1e-4, seed=1):
    """Forward values and the VJP against a random cotangent, w.r.t. every input."""
    xs = [ft.asarray(a) for a in arrays]
    out = ours_fn(*xs)
    ct = rand(*out.shape, seed=seed)
    grads = ft.grad(lambda *xs: (ours_fn(*xs) * ct).sum(),
                    argnums=tuple(range(len(arrays))))(*xs)
    ts = [tt(torch, a, grad=True) for a in arrays]
    ref = ref_fn(*ts)
    assert out.dtype == np.dtype(str(ref.dtype).replace("torch.", ""))
    (ref * tt(torch, ct)).sum().backward()
    close(out, ref, rtol, atol)
    for g, t in zip(grads, ts):
        close(g, t.grad, rtol, atol)
