"""Optimizers with optax's shape and PyTorch's numerics (see ``transform``)."""

from .._public import public_names as _public_names
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

__all__ = _public_names(globals())
