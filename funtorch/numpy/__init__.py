"""numpy-named ops (``ft.*``): composites of the primitives, with numpy semantics."""

from ..core.dtypes import (bfloat16, bool_, float16, float32, float64, int8, int16,  # noqa: F401
                           int32, int64, uint8, uint16, uint32, uint64)
from . import _methods
from ._core import asarray  # noqa: F401
from .creation import (arange, array, empty, eye, full, full_like, linspace, ones,  # noqa: F401
                       ones_like, tensor, zeros, zeros_like)
from .reductions import (all, amax, amin, any, argmax, argmin, count_nonzero, cumsum,  # noqa: F401
                         logsumexp, max, mean, min, prod, std, sum, var)
from .shape import (array_split, atleast_1d, broadcast_arrays, broadcast_to,  # noqa: F401
                    concat, concatenate, expand_dims, flip, hstack, moveaxis, pad,
                    permute_dims, ravel, repeat, reshape, roll, split, squeeze, stack, swapaxes,
                    tile, transpose, tril, triu, vstack)
from .ufuncs import (abs, absolute, add, arctan2, astype, bitwise_and, bitwise_not,  # noqa: F401
                     bitwise_or, bitwise_xor, ceil, clip, cos, divide, equal, erf, exp, exp2,
                     expm1, floor, floor_divide, fmod, greater, greater_equal, invert, isfinite,
                     isinf, isnan, left_shift, less, less_equal, log, log1p, log2, log10,
                     logical_and, logical_not, logical_or, logical_xor, maximum, minimum, mod,
                     multiply, nan_to_num, negative, not_equal, positive, pow, power,
                     reciprocal, remainder, right_shift, round, rsqrt, sigmoid, sign, sin, sqrt,
                     square, stop_gradient, subtract, tan, tanh, true_divide, trunc, where)

from . import linalg  # noqa: F401,E402
from .linalg import dot, einsum, inner, matmul, outer, tensordot, vdot  # noqa: F401,E402

from .indexing import (NonConcreteBooleanIndexError, argwhere, diagonal,  # noqa: F401,E402
                       flatnonzero, nonzero, take, take_along_axis)
from .sorting import argsort, sort  # noqa: F401,E402

_methods.install()
