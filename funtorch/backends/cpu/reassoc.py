"""The accumulating add and multiply of float reductions in generated kernels.

Compiled with LLVM's ``reassoc`` flag alone (see ``codegen.Names``): LLVM inlines them
with the flag, so only a reduction's order may change and the loop vectorizer keeps
several partial sums. One definition for every kernel: each signature compiles once per
process (and is cached beside the package), not once per kernel source; a kernel's
source names this module's hash, so its cached code goes stale with it.
"""

from numba import njit


@njit(fastmath={"reassoc"}, cache=True)
def radd(a, b):
    return a + b


@njit(fastmath={"reassoc"}, cache=True)
def rmul(a, b):
    return a * b
