"""Optimizers with optax's shape and PyTorch's numerics (see ``transform``)."""

import types as _types

from . import schedules  # noqa: F401
from .aliases import adagrad, adam, adamax, adamw, lion, nadam, radam, rmsprop, sgd  # noqa: F401
from .transform import (  # noqa: F401
                        GradientTransformation,
                        add_decayed_weights,
                        apply_updates,
                        chain,
                        clip_by_global_norm,
                        global_norm,
                        scale_by_adagrad,
                        scale_by_adam,
                        scale_by_adamax,
                        scale_by_learning_rate,
                        scale_by_lion,
                        scale_by_nadam,
                        scale_by_radam,
                        scale_by_rms,
                        trace,
)


def _public(namespace):
    """This package's public names (``__all__``): every name not starting with ``_``
    that is not a submodule, so a new export is public (and documented) by itself."""
    return sorted(n for n, v in namespace.items()
                  if not n.startswith("_") and n != "annotations"
                  and not isinstance(v, _types.ModuleType))


__all__ = _public(globals())
