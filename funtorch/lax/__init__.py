"""The primitive layer (JAX's ``lax``): a small set of primitives with their rules."""

from .elementwise import (abs, add, atan2, bitcast_convert_type, bitwise_and, bitwise_not,  # noqa: F401
                          bitwise_or, bitwise_xor, ceil, convert_element_type, cos, div, eq,
                          erf, exp, expm1, floor, ge, gt, integer_pow, is_finite, le, log,
                          log1p, logistic, lt, max, min, mul, ne, neg, pow, rem, round, rsqrt,
                          select_n, shift_left, shift_right_logical, sign, sin, sqrt,
                          stop_gradient, sub, tanh)
from .reductions import (argmax, argmin, cumsum, reduce_max, reduce_min,  # noqa: F401
                         reduce_prod, reduce_sum)
from .shape import (broadcast_in_dim, broadcasted_iota, concatenate, expand_dims,  # noqa: F401
                    full, full_like, iota, pad, reshape, rev, slice, slice_in_dim, squeeze,
                    transpose)
from .control_flow import cond, fori_loop, scan, switch, while_loop  # noqa: F401,E402
from .random_bits import threefry2x32  # noqa: F401,E402
from .special import erf_inv  # noqa: F401,E402
from .conv import conv, conv_general_dilated  # noqa: F401,E402
from .linalg import dot, dot_general  # noqa: F401,E402
from .windowed import reduce_window_max, reduce_window_sum  # noqa: F401,E402
from .indexing import gather, scatter, take_along_axis  # noqa: F401,E402
from .sorting import sort  # noqa: F401,E402
