"""Stateless neural-network layers with PyTorch's names, parameter layouts and defaults.

Modules hold configuration only; parameters are nested dicts from ``model.init(key)`` and
running statistics a separate state tree from ``model.init_state()`` (see ``Module``).
"""

from .._public import public_names as _public_names
from . import functional, init  # noqa: F401
from .activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh  # noqa: F401
from .container import Sequential  # noqa: F401
from .conv import Conv1d, Conv2d  # noqa: F401
from .dropout import Dropout  # noqa: F401
from .embedding import Embedding  # noqa: F401
from .flatten import Flatten  # noqa: F401
from .linear import Linear  # noqa: F401
from .module import Module  # noqa: F401
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm  # noqa: F401
from .pooling import AvgPool2d, MaxPool2d  # noqa: F401
from .state_dict import StateDictMismatchError, load_state_dict, state_dict  # noqa: F401

# isort: split
# what PyTorch users reach for: loss modules, adaptive pooling, transposed conv, resampling
from .conv import ConvTranspose2d  # noqa: F401
from .dropout import Dropout2d  # noqa: F401
from .groupnorm import GroupNorm  # noqa: F401
from .loss import (  # noqa: F401
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d  # noqa: F401
from .upsample import Upsample  # noqa: F401

# isort: split
# sequence models: recurrent layers, attention, Transformers and their building blocks
from . import generation  # noqa: F401  (decoding loops over the layers here)
from .attention import MultiheadAttention  # noqa: F401
from .container import ModuleDict, ModuleList  # noqa: F401
from .linear import Identity  # noqa: F401
from .normalization import RMSNorm  # noqa: F401
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase  # noqa: F401
from .transformer import (  # noqa: F401
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = _public_names(globals())
