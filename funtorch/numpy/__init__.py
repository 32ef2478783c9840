"""numpy-named ops (``ft.*``): composites of the primitives, with numpy semantics."""

from ..core.dtypes import (  # noqa: F401
                           bfloat16,
                           bool_,
                           float16,
                           float32,
                           float64,
                           int8,
                           int16,
                           int32,
                           int64,
                           promote_types,
                           result_type,
                           uint8,
                           uint16,
                           uint32,
                           uint64,
)
from . import (
                           _methods,
                           _spelling,
                           linalg,  # noqa: F401,E402
)
from ._core import asarray  # noqa: F401
from .creation import (  # noqa: F401
                           arange,
                           array,
                           empty,
                           eye,
                           from_dlpack,
                           full,
                           full_like,
                           linspace,
                           ones,
                           ones_like,
                           tensor,
                           zeros,
                           zeros_like,
)
from .indexing import (  # noqa: F401,E402
                           NonConcreteBooleanIndexError,
                           argwhere,
                           diagonal,
                           flatnonzero,
                           nonzero,
                           take,
                           take_along_axis,
)
from .linalg import dot, einsum, inner, matmul, outer, tensordot, vdot  # noqa: F401,E402
from .reductions import (  # noqa: F401
                           all,
                           amax,
                           amin,
                           any,
                           argmax,
                           argmin,
                           count_nonzero,
                           cumsum,
                           logsumexp,
                           max,
                           mean,
                           min,
                           prod,
                           std,
                           sum,
                           var,
)
from .shape import (  # noqa: F401
                           array_split,
                           atleast_1d,
                           broadcast_arrays,
                           broadcast_to,
                           cat,
                           concat,
                           concatenate,
                           expand_dims,
                           flip,
                           hstack,
                           moveaxis,
                           pad,
                           permute_dims,
                           ravel,
                           repeat,
                           reshape,
                           roll,
                           split,
                           squeeze,
                           stack,
                           swapaxes,
                           tile,
                           transpose,
                           tril,
                           triu,
                           unsqueeze,
                           vstack,
)
from .sorting import argsort, sort  # noqa: F401,E402
from .ufuncs import (  # noqa: F401
                           abs,
                           absolute,
                           add,
                           arctan2,
                           astype,
                           bitwise_and,
                           bitwise_not,
                           bitwise_or,
                           bitwise_xor,
                           ceil,
                           clip,
                           cos,
                           divide,
                           divmod,
                           equal,
                           erf,
                           exp,
                           exp2,
                           expm1,
                           floor,
                           floor_divide,
                           fmod,
                           greater,
                           greater_equal,
                           invert,
                           isfinite,
                           isinf,
                           isnan,
                           left_shift,
                           less,
                           less_equal,
                           log,
                           log1p,
                           log2,
                           log10,
                           logical_and,
                           logical_not,
                           logical_or,
                           logical_xor,
                           maximum,
                           minimum,
                           mod,
                           multiply,
                           nan_to_num,
                           negative,
                           not_equal,
                           positive,
                           pow,
                           power,
                           reciprocal,
                           remainder,
                           right_shift,
                           round,
                           rsqrt,
                           sigmoid,
                           sign,
                           sin,
                           sqrt,
                           square,
                           stop_gradient,
                           subtract,
                           tan,
                           tanh,
                           true_divide,
                           trunc,
                           where,
)

# constants, as numpy and JAX name them
pi = 3.141592653589793
e = 2.718281828459045
euler_gamma = 0.5772156649015329
inf = float("inf")
nan = float("nan")
newaxis = None

_methods.install()


def _check_spellings(namespace):
    """Wrap the public functions that take ``axis`` (or a shape) so that PyTorch's
    spelling of a call (``dim=``, ``ft.ones(4, 4)``) fails naming funtorch's."""
    for name, fn in list(namespace.items()):
        if (not name.startswith("_") and callable(fn) and not isinstance(fn, type)
                and getattr(fn, "__module__", "").startswith("funtorch.numpy")
                and _spelling.needs_check(name, fn)):
            namespace[name] = _spelling.check_spelling(fn)


_check_spellings(globals())
