"""Methods shared by concrete arrays and tracers.

The operators are installed by ``funtorch.numpy`` (see ``_methods.install``) so that
``x + y`` means the same thing for an Array and for a traced value, as in JAX.
"""

from __future__ import annotations


class ArrayMethods:
    __slots__ = ()
    # keep numpy from treating us as a sequence in mixed expressions
    __array_priority__ = 1000

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __len__(self):
        if not self.shape:
            raise TypeError("funtorch: len() of a 0-d array")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("funtorch: iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))
