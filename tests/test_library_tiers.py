"""The CPU library kernels' two tiers (backends/cpu/library.py): the generic entry point
(geometry at run time, cached beside the package) runs first; the specialised one is
compiled in the background and swapped in, giving bitwise-identical results."""

import numba
import numpy as np
import pytest

import funtorch as ft
import funtorch.nn.functional as F
from funtorch.backends import cpu
from funtorch.backends.cpu import library
from funtorch.backends.cpu.parallel import Runtime, Shares


def _max_pool(x, KH, KW, sh, sw, plh, plw):
    B, H, W = x.shape
    OH = (H + 2 * plh - KH) // sh + 1
    OW = (W + 2 * plw - KW) // sw + 1
    return (B, OH, OW)


def test_tiers_agree_bitwise_and_the_specialised_one_is_swapped_in(monkeypatch):
    monkeypatch.setattr(library, "SPECIALIZE_AFTER", 2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 9, 11)).astype(np.float32)
    x[1, 2, 3] = np.nan
    geo = (3, 2, 2, 3, 1, 1)
    k = library.kernel("pool_kernels", "max_pool", np.float32, geo)
    assert isinstance(k, library.Tiered) and not k.specialised
    generic = k.entry[0]
    assert generic.library            # no constant written in: the package-side cache
    outs = []
    for _ in range(3):
        out = np.empty(_max_pool(x, *geo), np.float32)
        k(x, out, np.float32(-np.inf))
        outs.append(out)
        library.wait()
    assert k.specialised              # queued at the 2nd call, done after wait()
    special = k.entry[0]
    assert special is not generic and not special.library
    assert k.entry[1] == ()           # every constant written in
    np.testing.assert_array_equal(outs[0], outs[2])
    assert outs[0].tobytes() == outs[2].tobytes()


def test_runtime_constants_stay_run_time_in_the_specialised_tier(monkeypatch):
    monkeypatch.setattr(library, "SPECIALIZE_AFTER", 1)
    rng = np.random.default_rng(1)
    N, C, H, W, O = 2, 3, 7, 6, 4
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((O, C, 3, 3))
    # stride 2, padding 1: out 4 x 3
    consts = (1, Runtime(2), 2, 2, 1, 1, 1, 1, 1, 1)
    k = library.kernel("conv_kernels", "gather", np.float64, consts)
    outs = []
    for _ in range(2):
        out = np.empty((N, O, 4, 3))
        scratch = np.empty((numba.get_num_threads(), C * 9 * 2 * 3))
        k(x, w, out, scratch)
        library.wait()
        outs.append(out)
    assert k.specialised and k.entry[1] == (2,)
    assert outs[0].tobytes() == outs[1].tobytes()
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = np.zeros((N, O, 4, 3))
    for i in range(4):
        for j in range(3):
            patch = xp[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
            want[:, :, i, j] = np.einsum("nckl,ockl->no", patch, w)
    np.testing.assert_allclose(outs[0], want, rtol=1e-12, atol=1e-12)


def test_specialisation_off():
    k = library.kernel("pool_kernels", "sum_pool", np.float32, (2, 2, 1, 1, 0, 0))
    k.specialise()
    assert k.specialised
    off = library.Tiered("pool_kernels", "sum_pool", np.float32, (3, 3), (2, 2, 1, 1, 0, 0), 1)
    x = np.ones((1, 3, 3), np.float32)
    out = np.empty((1, 2, 2), np.float32)
    saved = library.SPECIALIZE_AFTER
    try:
        library.SPECIALIZE_AFTER = 0
        for _ in range(3):
            off(x, out, np.float32(0))
        library.wait()
    finally:
        library.SPECIALIZE_AFTER = saved
    assert not off.specialised
    np.testing.assert_array_equal(out, 4)


def test_kernel_without_constants_is_the_library_entry():
    k = library.kernel("pool_kernels", "max_pool_2x2", np.float32)
    assert type(k) is Shares and k.library


def test_wrong_number_of_constants_is_an_error():
    with pytest.raises(TypeError, match="gather takes 10 constants, got 2"):
        library.kernel("conv_kernels", "gather", np.float32, (1, 2))


def _cnn_step():
    rng = np.random.default_rng(2)
    x = ft.asarray(rng.standard_normal((4, 2, 10, 10)).astype(np.float32))
    w = ft.asarray(rng.standard_normal((3, 2, 3, 3)).astype(np.float32))

    def loss(w, x):
        y = F.relu(F.conv2d(x, w, stride=1, padding=2))
        return F.max_pool2d(y, 3, stride=2, padding=1).sum()

    return ft.jit(ft.value_and_grad(loss)), w, x


def test_jitted_step_bitwise_identical_across_the_swap_with_an_empty_cache(monkeypatch,
                                                                         tmp_path):
    monkeypatch.setenv("FUNTORCH_CACHE_DIR", str(tmp_path))   # an empty kernel cache
    monkeypatch.setattr(library, "SPECIALIZE_AFTER", 2)
    step, w, x = _cnn_step()
    before = cpu.stats()
    first = step(w, x)
    library.wait()
    second = step(w, x)    # queues the specialisations
    library.wait()
    third = step(w, x)     # runs the specialised kernels
    after = cpu.stats()
    assert after["compiled"] + after["loaded"] > before["compiled"] + before["loaded"]
    for a, b, c in zip(ft.tree.leaves(first), ft.tree.leaves(second),
                       ft.tree.leaves(third)):
        a, b, c = np.asarray(a), np.asarray(b), np.asarray(c)
        assert a.tobytes() == b.tobytes() == c.tobytes()
    eager = ft.value_and_grad(lambda w, x: F.max_pool2d(
        F.relu(F.conv2d(x, w, stride=1, padding=2)), 3, stride=2, padding=1).sum())(w, x)
    np.testing.assert_allclose(np.asarray(third[1]), np.asarray(eager[1]), rtol=2e-4,
                               atol=2e-3)
