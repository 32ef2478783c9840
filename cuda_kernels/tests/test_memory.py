import numpy as np
import pytest

from cuda_kernels import matmul, memory
from cuda_kernels._common import SIMULATOR
from cuda_kernels.memory import DevicePool, bucket_size

from .util import dev, host


def test_bucket_sizes():
    assert bucket_size(1) == bucket_size(256) == 256
    assert bucket_size(257) == 320  # 4 steps per doubling: 320, 384, 448, 512
    for n in [300, 1000, 4097, 10**6]:
        assert n <= bucket_size(n) < 1.25 * n + 1
        assert bucket_size(bucket_size(n)) == bucket_size(n)


def test_reuse_without_new_allocations():
    pool = DevicePool()
    a = pool.alloc((10, 3), np.float32)
    b = pool.alloc(7, np.int64)
    assert a.shape == (10, 3) and np.dtype(a.dtype) == np.float32
    pool.free(a)
    pool.free(b.reshape(7))  # any view starting at the block's first byte
    c = pool.alloc((30,), np.float32)  # same bucket as a
    d = pool.alloc((5, 2), np.float16)  # fits b's bucket
    stats = pool.stats()
    assert stats["allocations"] == 2 and stats["reuses"] == 2 and stats["live"] == 2
    c.copy_to_device(np.arange(30, dtype=np.float32))
    np.testing.assert_array_equal(host(c), np.arange(30))
    pool.free(c)
    pool.free(d)
    assert pool.stats()["cached_blocks"] == 2
    pool.release_cached()
    assert pool.stats()["bytes_reserved"] == 0 and pool.stats()["cached_blocks"] == 0
    with pytest.raises(KeyError):
        pool.free(c)


def test_repeated_kernel_calls_allocate_nothing():
    pool = DevicePool()
    a = dev(np.ones((4, 9), np.float32))
    b = dev(np.full((9, 3), 2.0, np.float32))
    for _ in range(3):
        y = matmul.matmul(a, b, pool=pool)
        s = matmul.matmul(y, dev(np.ones((3, 1), np.float32)), pool=pool)
        np.testing.assert_array_equal(host(s), np.full((4, 1), 54.0))
        pool.free(y)
        pool.free(s)
    assert pool.stats()["allocations"] == 2 and pool.stats()["reuses"] == 4


def test_default_pool_is_shared():
    assert memory.default_pool() is memory.default_pool()


@pytest.mark.skipif(not SIMULATOR, reason="a workaround in Numba's simulator")
def test_simulated_shared_arrays_are_shared_under_contention(monkeypatch):
    """The simulator's shared-memory lookup is locked (``_common``): threads of a block
    racing to create ``cuda.shared.array`` all get the one array. A slow ``np.empty`` makes
    the race certain without the lock."""
    import threading
    import time

    from numba.cuda.simulator import kernelapi

    shared = kernelapi.FakeCUDAShared(0)
    real_empty = np.empty

    def slow_empty(*args, **kwargs):
        time.sleep(0.005)
        return real_empty(*args, **kwargs)

    monkeypatch.setattr(np, "empty", slow_empty)
    got = []
    threads = [threading.Thread(target=lambda: got.append(shared.array(4, np.float32)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and all(a is got[0] for a in got)
