"""Per-call overhead of jitted functions: funtorch vs JAX (when importable).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/dispatch.py

Two cases: ``x * y + 1`` on 8x8 float32, and a function taking and returning a dict of
20 small arrays. Frameworks are timed interleaved (rounds of each in turn) and the
median per-call time over all rounds is reported, with the ratio to JAX.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _bench(fn, args, calls):
    t = time.perf_counter()
    for _ in range(calls):
        fn(*args)
    return (time.perf_counter() - t) / calls


def small(x, y):
    return x * y + 1


def tree(d):
    return {k: v * 2 + 1 for k, v in d.items()}


def cases_funtorch():
    import funtorch as ft
    x = ft.asarray(np.ones((8, 8), np.float32))
    d = {f"p{i}": ft.asarray(np.full((4,), i, np.float32)) for i in range(20)}
    return {"x*y+1 (8x8)": (ft.jit(small), (x, x)), "20-leaf dict": (ft.jit(tree), (d,))}


def cases_jax():
    import jax
    import jax.numpy as jnp
    x = jnp.ones((8, 8), jnp.float32)
    d = {f"p{i}": jnp.full((4,), i, jnp.float32) for i in range(20)}
    sync = jax.block_until_ready

    def wrap(f):
        return lambda *a: sync(f(*a))

    return {"x*y+1 (8x8)": (wrap(jax.jit(small)), (x, x)),
            "20-leaf dict": (wrap(jax.jit(tree)), (d,))}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--calls", type=int, default=500)
    args = ap.parse_args()
    frameworks = {"funtorch": cases_funtorch()}
    try:
        frameworks["jax"] = cases_jax()
    except ImportError:
        print("(jax not importable: funtorch only)")
    for cases in frameworks.values():          # warm up: trace + compile
        for fn, a in cases.values():
            _bench(fn, a, 50)
    times = {(fw, c): [] for fw in frameworks for c in frameworks[fw]}
    for _ in range(args.rounds):
        for fw, cases in frameworks.items():
            for c, (fn, a) in cases.items():
                times[(fw, c)].append(_bench(fn, a, args.calls))
    print(f"{'case':16s}" + "".join(f"{fw:>14s}" for fw in frameworks)
          + ("    funtorch/jax" if "jax" in frameworks else ""))
    for c in frameworks["funtorch"]:
        med = {fw: np.median(times[(fw, c)]) * 1e6 for fw in frameworks}
        row = f"{c:16s}" + "".join(f"{med[fw]:11.2f} us" for fw in frameworks)
        if "jax" in med:
            row += f"    {med['funtorch'] / med['jax']:.2f}x"
        print(row)


if __name__ == "__main__":
    main()
