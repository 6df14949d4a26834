"""blocktensor: labelled block-sparse tensors for atomistic machine learning."""

from .labels import Labels, LabelsEntry, unique_rows  # noqa: F401
from .block import TensorBlock  # noqa: F401
from .tensor import TensorMap  # noqa: F401

__version__ = "0.1.0"
from .io import (  # noqa: F401
    save,
    save_buffer,
    load,
    load_block,
    load_labels,
    load_buffer,
    load_block_buffer,
    load_labels_buffer,
)
from . import operations  # noqa: F401
from .operations import *  # noqa: F401,F403
