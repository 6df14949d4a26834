"""Splitting: several maps (or blocks) out of one, each keeping a group of samples or
properties.

Semantics follow ``metatensor.operations.split`` (metatensor-operations 0.5.0): every
output has the keys of the input; output ``i`` is :func:`~blocktensor.operations.slice`
applied with ``selections[i]``. Groups need not be disjoint nor cover everything.
Gradients are sliced along with the values (gradient rows re-indexed); torch autograd flows
through.
"""

from ..tensor import TensorMap
from ._utils import check_tensor_block, check_tensor_map
from .slice import _check_axis, _check_selection, _names_of, _slice_block

__all__ = ["split", "split_block"]


def _check_selections(selections, axis, names, fname):
    if not isinstance(selections, (list, tuple)):
        raise TypeError(
            f"`selections` in '{fname}' must be a list of selections, got "
            f"{type(selections).__name__}"
        )
    return [
        _check_selection(selection, axis, names, fname, argument=f"selections[{i}]")
        for i, selection in enumerate(selections)
    ]


def split(tensor, axis, selections):
    """Split ``tensor`` into ``len(selections)`` maps along ``axis``.

    Parameters
    ----------
    tensor:
        the :class:`~blocktensor.TensorMap` to split.
    axis:
        ``"samples"`` or ``"properties"``.
    selections:
        list of selections, each :class:`~blocktensor.Labels` over a subset of the sample
        (property) names, or a list / 1-D array of raw positions (see
        :func:`~blocktensor.operations.slice`).

    Returns
    -------
    list of TensorMap
        one per selection, each with all the keys of ``tensor``.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import split
    >>> block = TensorBlock(np.arange(5.0).reshape(5, 1), Labels.range("system", 5), [],
    ...                     Labels.range("n", 1))
    >>> tensor = TensorMap(Labels.single(), [block])
    >>> first, second = split(tensor, "samples", [Labels("system", [[0], [3]]),
    ...                                           Labels("system", [[1], [2], [4]])])
    >>> first.block().values[:, 0].tolist(), second.block().values[:, 0].tolist()
    ([0.0, 3.0], [1.0, 2.0, 4.0])
    """
    check_tensor_map(tensor, "tensor", "split")
    _check_axis(axis, "split")
    selections = _check_selections(selections, axis, _names_of(tensor, axis), "split")
    outputs = []
    for selection in selections:
        blocks = [_slice_block(block, axis, selection, "split") for block in tensor.blocks()]
        outputs.append(TensorMap._unchecked(tensor.keys, blocks))
    return outputs


def split_block(block, axis, selections):
    """Split ``block`` into ``len(selections)`` blocks along ``axis`` (see :func:`split`).

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> from blocktensor.operations import split_block
    >>> block = TensorBlock(np.arange(6.0).reshape(2, 3), Labels.range("system", 2), [],
    ...                     Labels.range("n", 3))
    >>> [b.shape for b in split_block(block, "properties", [[0, 1], [2]])]
    [(2, 2), (2, 1)]
    """
    check_tensor_block(block, "block", "split_block")
    _check_axis(axis, "split_block")
    selections = _check_selections(selections, axis, _names_of(block, axis), "split_block")
    return [_slice_block(block, axis, selection, "split_block") for selection in selections]
