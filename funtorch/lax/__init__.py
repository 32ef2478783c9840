"""The primitive layer (JAX's ``lax``): a small set of primitives with their rules."""

from .attention import dot_product_attention  # noqa: F401,E402
from .control_flow import cond, fori_loop, scan, switch, while_loop  # noqa: F401,E402
from .conv import conv, conv_general_dilated  # noqa: F401,E402
from .elementwise import (  # noqa: F401
                          abs,
                          add,
                          atan2,
                          bitcast_convert_type,
                          bitwise_and,
                          bitwise_not,
                          bitwise_or,
                          bitwise_xor,
                          ceil,
                          convert_element_type,
                          cos,
                          div,
                          eq,
                          erf,
                          exp,
                          expm1,
                          floor,
                          ge,
                          gt,
                          integer_pow,
                          is_finite,
                          le,
                          log,
                          log1p,
                          logistic,
                          lt,
                          max,
                          min,
                          mul,
                          ne,
                          neg,
                          pow,
                          rem,
                          round,
                          rsqrt,
                          select_n,
                          shift_left,
                          shift_right_arithmetic,
                          shift_right_logical,
                          sign,
                          sin,
                          sqrt,
                          stop_gradient,
                          sub,
                          tanh,
)
from .indexing import gather, scatter, take_along_axis  # noqa: F401,E402
from .linalg import dot, dot_general  # noqa: F401,E402
from .pad_sums import sum_of_zero_pads  # noqa: F401,E402
from .parallel import (  # noqa: F401,E402
                          all_gather,
                          axis_index,
                          pmax,
                          pmean,
                          pmin,
                          ppermute,
                          psum,
                          psum_scatter,
)
from .random_bits import threefry2x32  # noqa: F401,E402
from .reductions import argmax, argmin, cumsum, reduce_max, reduce_min, reduce_prod, reduce_sum  # noqa: F401
from .shape import (  # noqa: F401
                          broadcast_in_dim,
                          broadcasted_iota,
                          concatenate,
                          expand_dims,
                          full,
                          full_like,
                          iota,
                          on_device_of,
                          pad,
                          reshape,
                          rev,
                          slice,
                          slice_in_dim,
                          squeeze,
                          transpose,
)
from .sorting import sort  # noqa: F401,E402
from .special import erf_inv  # noqa: F401,E402
from .windowed import reduce_window_max, reduce_window_sum  # noqa: F401,E402
