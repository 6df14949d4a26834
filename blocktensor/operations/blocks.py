"""Selecting blocks: drop or keep the blocks whose keys match a selection, drop empty
blocks.

Semantics follow metatensor-operations 0.5.0: ``keys`` is :class:`~blocktensor.Labels` over
any subset of the key names, and a block matches when its key agrees with one of the
selection entries on those names. The remaining blocks keep the order of the input keys.
With ``copy=False`` (default) the output shares the arrays of the input (new block objects,
same values and gradients); with ``copy=True`` they are copied (torch: ``clone``, autograd
kept).
"""

import numpy as np

from ..block import TensorBlock
from ..labels import Labels
from ..tensor import TensorMap
from ._utils import check_tensor_map

__all__ = ["drop_blocks", "drop_empty_blocks", "filter_blocks"]


def _check_keys(tensor, keys, fname):
    if not isinstance(keys, Labels):
        raise TypeError(f"`keys` in '{fname}' must be Labels, got {type(keys).__name__}")
    for name in keys.names:
        if name not in tensor.keys.names:
            raise ValueError(
                f"`keys` in '{fname}' uses the dimension {name!r} which is not one of the key "
                f"names {tensor.keys.names}"
            )


def _check_copy(copy, fname):
    if not isinstance(copy, bool):
        raise TypeError(f"`copy` in '{fname}' must be a bool, got {copy!r}")


def _shared_block(block):
    new_block = TensorBlock._unchecked(
        block.values, block.samples, block.components, block.properties
    )
    for parameter, gradient in block.gradients():
        new_block._gradients[parameter] = gradient
    return new_block


def _keep(tensor, kept, copy):
    """A map with the blocks at positions ``kept`` (sorted int64 numpy array)."""
    keys = Labels._unchecked(tensor.keys.names, tensor.keys.values[kept])
    blocks = tensor.blocks()
    make = (lambda block: block.copy()) if copy else _shared_block
    return TensorMap._unchecked(keys, [make(blocks[i]) for i in kept.tolist()])


def drop_blocks(tensor, keys, copy=False):
    """Remove the blocks of ``tensor`` whose keys match ``keys``.

    Parameters
    ----------
    tensor:
        the input :class:`~blocktensor.TensorMap`.
    keys:
        :class:`~blocktensor.Labels` over a subset of the key names; matching blocks are
        removed. Entries matching no block are ignored.
    copy:
        copy the arrays of the kept blocks instead of sharing them.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import drop_blocks
    >>> block = TensorBlock(np.ones((1, 1)), Labels.single(), [], Labels.single())
    >>> tensor = TensorMap(Labels(["a", "b"], [[0, 0], [0, 1], [1, 1]]),
    ...                    [block, block.copy(), block.copy()])
    >>> drop_blocks(tensor, Labels(["b"], [[1]])).keys.values.tolist()
    [[0, 0]]
    """
    check_tensor_map(tensor, "tensor", "drop_blocks")
    _check_keys(tensor, keys, "drop_blocks")
    _check_copy(copy, "drop_blocks")
    remove = np.zeros(len(tensor.keys), dtype=bool)
    remove[tensor.keys.select(keys)] = True
    return _keep(tensor, np.nonzero(~remove)[0], copy)


def filter_blocks(tensor, keys, copy=False):
    """Keep only the blocks of ``tensor`` whose keys match ``keys`` (in the order of the
    keys of ``tensor``); see :func:`drop_blocks` for the arguments.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import filter_blocks
    >>> block = TensorBlock(np.ones((1, 1)), Labels.single(), [], Labels.single())
    >>> tensor = TensorMap(Labels(["a", "b"], [[0, 0], [0, 1], [1, 1]]),
    ...                    [block, block.copy(), block.copy()])
    >>> filter_blocks(tensor, Labels(["b"], [[1]])).keys.values.tolist()
    [[0, 1], [1, 1]]
    """
    check_tensor_map(tensor, "tensor", "filter_blocks")
    _check_keys(tensor, keys, "filter_blocks")
    _check_copy(copy, "filter_blocks")
    return _keep(tensor, np.sort(tensor.keys.select(keys)), copy)


def drop_empty_blocks(tensor, copy=False):
    """Remove the blocks with no samples, no properties, or an empty component axis.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import drop_empty_blocks
    >>> full = TensorBlock(np.ones((1, 1)), Labels.single(), [], Labels.single())
    >>> empty = TensorBlock(np.ones((0, 1)), Labels.empty(["_"]), [], Labels.single())
    >>> tensor = TensorMap(Labels.range("key", 2), [empty, full])
    >>> drop_empty_blocks(tensor).keys["key"].tolist()
    [1]
    """
    check_tensor_map(tensor, "tensor", "drop_empty_blocks")
    _check_copy(copy, "drop_empty_blocks")
    kept = [i for i, block in enumerate(tensor.blocks()) if 0 not in tuple(block.values.shape)]
    return _keep(tensor, np.asarray(kept, dtype=np.int64), copy)
