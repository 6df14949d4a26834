"""Unique metadata: the distinct values taken by some sample or property dimensions across
the blocks (or gradient blocks) of a map.

Semantics follow metatensor-operations 0.5.0: the result is :class:`~blocktensor.Labels`
with the requested ``names`` (in that order), sorted lexicographically, empty (with those
names) when no block has entries.
"""

import numpy as np

from ..labels import Labels
from ._utils import check_tensor_block, check_tensor_map, names_list

__all__ = ["unique_metadata", "unique_metadata_block"]


def _check_args(axis, names, gradient, fname):
    if not isinstance(axis, str):
        raise TypeError(f"`axis` in '{fname}' must be a string, got {type(axis).__name__}")
    if axis not in ("samples", "properties"):
        raise ValueError(f"`axis` in '{fname}' must be 'samples' or 'properties', got {axis!r}")
    names = names_list(names, "names", fname)
    if gradient is not None and not isinstance(gradient, str):
        raise TypeError(
            f"`gradient` in '{fname}' must be a string or None, got {type(gradient).__name__}"
        )
    return names


def _unique(blocks, axis, names, fname):
    columns = []
    for block in blocks:
        labels = block.samples if axis == "samples" else block.properties
        for name in names:
            if name not in labels.names:
                raise ValueError(
                    f"`names` in '{fname}' contains {name!r} which is not one of the {axis} "
                    f"names {labels.names}"
                )
        index = [labels.names.index(name) for name in names]
        columns.append(labels.values[:, index])
    if len(columns) == 0:
        return Labels._unchecked(names, np.zeros((0, len(names)), dtype=np.int32))
    stacked = np.concatenate(columns, axis=0)
    return Labels._unchecked(names, stacked, is_view=True).unique()[0]


def unique_metadata(tensor, axis, names, gradient=None):
    """Sorted unique values of the dimensions ``names`` of ``axis`` over all blocks of
    ``tensor`` (or over their ``gradient`` blocks).

    Parameters
    ----------
    tensor:
        the :class:`~blocktensor.TensorMap` to inspect.
    axis:
        ``"samples"`` or ``"properties"``.
    names:
        a dimension name or a list of names.
    gradient:
        a gradient parameter (e.g. ``"positions"``) to look at the gradient blocks instead.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import unique_metadata
    >>> def block(systems):
    ...     samples = Labels(["system", "atom"], [[s, 0] for s in systems])
    ...     return TensorBlock(np.ones((len(systems), 1)), samples, [], Labels.single())
    >>> tensor = TensorMap(Labels.range("key", 2), [block([3, 1]), block([1, 0])])
    >>> unique_metadata(tensor, "samples", "system")["system"].tolist()
    [0, 1, 3]
    """
    check_tensor_map(tensor, "tensor", "unique_metadata")
    names = _check_args(axis, names, gradient, "unique_metadata")
    blocks = tensor.blocks()
    if gradient is not None:
        blocks = [block.gradient(gradient) for block in blocks]
    return _unique(blocks, axis, names, "unique_metadata")


def unique_metadata_block(block, axis, names, gradient=None):
    """Sorted unique values of the dimensions ``names`` of ``axis`` in ``block`` (or its
    ``gradient`` block); see :func:`unique_metadata`.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> from blocktensor.operations import unique_metadata_block
    >>> block = TensorBlock(np.ones((3, 1)), Labels(["system", "atom"],
    ...                     [[1, 0], [0, 2], [1, 1]]), [], Labels.single())
    >>> unique_metadata_block(block, "samples", ["system"])["system"].tolist()
    [0, 1]
    """
    check_tensor_block(block, "block", "unique_metadata_block")
    names = _check_args(axis, names, gradient, "unique_metadata_block")
    blocks = [block if gradient is None else block.gradient(gradient)]
    return _unique(blocks, axis, names, "unique_metadata_block")
