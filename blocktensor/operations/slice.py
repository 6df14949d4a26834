"""Slicing: keep a subset of the samples or of the properties of every block.

Semantics follow ``metatensor.operations.slice`` (metatensor-operations 0.5.0):

- a :class:`~blocktensor.Labels` selection may name any subset of the sample (property)
  dimensions; every entry whose values on those dimensions equal one of the selection's
  entries is kept, **in the order of the block** (selection entries absent from a block are
  simply not found, and a block can end up with zero samples or properties);
- a list or 1-D integer array selects raw positions. Along samples the rows come out in the
  order of the selection; along properties they come out in the order of the block (as in
  metatensor, which builds a mask there);
- gradients follow: along samples, gradient rows whose ``"sample"`` is dropped are dropped
  and the ``"sample"`` column is renumbered; along properties, the gradient's last axis is
  sliced like the values. Torch autograd flows through (values are gathered with
  ``index_select``).

Selections are resolved with :py:meth:`Labels.select`, vectorised: slicing Labels with
millions of rows costs a sort and a binary search, not a Python loop.
"""

import numpy as np
import torch

from .. import _backend
from ..block import TensorBlock
from ..labels import Labels
from ..tensor import TensorMap
from ._utils import attach_gradient, check_tensor_block, check_tensor_map

__all__ = ["slice", "slice_block"]

_AXES = ("samples", "properties")


def _check_axis(axis, fname):
    if not isinstance(axis, str):
        raise TypeError(f"`axis` in '{fname}' must be a string, got {type(axis).__name__}")
    if axis not in _AXES:
        raise ValueError(
            f"`axis` in '{fname}' must be 'samples' or 'properties', got {axis!r}"
        )


def _check_selection(selection, axis, labels_names, fname, argument="selection"):
    """Validate one selection against the names of ``axis``; returns it normalised: Labels
    unchanged, raw positions as a 1-D int64 numpy array."""
    if isinstance(selection, Labels):
        for name in selection.names:
            if name not in labels_names:
                raise ValueError(
                    f"`{argument}` in '{fname}' uses the dimension {name!r} which is not "
                    f"one of the {axis} names {labels_names}"
                )
        return selection
    if isinstance(selection, torch.Tensor):
        selection = selection.detach().cpu().numpy()
    if isinstance(selection, (list, tuple, np.ndarray)):
        positions = np.asarray(selection)
        if positions.size == 0:
            return np.zeros(0, dtype=np.int64)
        if positions.ndim != 1:
            raise ValueError(
                f"`{argument}` in '{fname}' must be Labels or a 1-D array of integers, got "
                f"an array with shape {positions.shape}"
            )
        if positions.dtype.kind not in "iu":
            raise TypeError(
                f"`{argument}` in '{fname}' must contain integer positions, got dtype "
                f"{positions.dtype}"
            )
        return positions.astype(np.int64)
    raise TypeError(
        f"`{argument}` in '{fname}' must be Labels, a list of integers or a 1-D integer "
        f"array, got {type(selection).__name__}"
    )


def _resolve_positions(selection, labels, axis, fname):
    """Rows of ``labels`` picked by a normalised selection (int64 numpy array)."""
    if isinstance(selection, Labels):
        return labels.select(selection)
    n = len(labels)
    if selection.size != 0:
        low, high = int(selection.min()), int(selection.max())
        if low < 0 or high >= n:
            bad = low if low < 0 else high
            raise ValueError(
                f"`selection` in '{fname}' contains the position {bad}, which is out of "
                f"range for {n} {axis}"
            )
        if len(np.unique(selection)) != len(selection):
            values, counts = np.unique(selection, return_counts=True)
            raise ValueError(
                f"`selection` in '{fname}' contains the position {int(values[counts > 1][0])} "
                "more than once"
            )
    if axis == "properties":
        # metatensor slices properties through a mask: block order, whatever the selection
        return np.sort(selection)
    return selection


def _take_samples(block, rows):
    """A block keeping the sample ``rows`` (in that order), gradients re-indexed."""
    n_samples = len(block.samples)
    identity = len(rows) == n_samples and np.array_equal(rows, np.arange(n_samples))
    if identity:
        values = block.values
        samples = block.samples
    else:
        values = _backend.take(block.values, rows, axis=0)
        samples = Labels._unchecked(block.samples.names, block.samples.values[rows])
    new_block = TensorBlock._unchecked(values, samples, block.components, block.properties)
    if len(block.gradients_list()) == 0:
        return new_block
    new_row = np.full(n_samples, -1, dtype=np.int64)
    new_row[rows] = np.arange(len(rows), dtype=np.int64)
    for parameter, gradient in block.gradients():
        if identity:
            attach_gradient(new_block, parameter, gradient.values, gradient.samples,
                            gradient.components)
            continue
        gradient_samples = gradient.samples.values
        remapped = new_row[gradient_samples[:, 0]]
        kept = np.nonzero(remapped >= 0)[0]
        sample_values = gradient_samples[kept].copy()
        sample_values[:, 0] = remapped[kept]
        attach_gradient(
            new_block,
            parameter,
            _backend.take(gradient.values, kept, axis=0),
            Labels._unchecked(gradient.samples.names, sample_values),
            gradient.components,
        )
    return new_block


def _take_properties(block, columns):
    """A block keeping the property ``columns`` (in that order), gradients alike."""
    n_properties = len(block.properties)
    if len(columns) == n_properties and np.array_equal(columns, np.arange(n_properties)):
        return _shallow_copy(block)
    axis = len(block.values.shape) - 1
    properties = Labels._unchecked(block.properties.names, block.properties.values[columns])
    new_block = TensorBlock._unchecked(
        _backend.take(block.values, columns, axis=axis),
        block.samples,
        block.components,
        properties,
    )
    for parameter, gradient in block.gradients():
        attach_gradient(
            new_block,
            parameter,
            _backend.take(gradient.values, columns, axis=len(gradient.values.shape) - 1),
            gradient.samples,
            gradient.components,
            properties,
        )
    return new_block


def _shallow_copy(block):
    """A new block object sharing the arrays and metadata of ``block`` (so that adding a
    gradient to one does not change the other)."""
    new_block = TensorBlock._unchecked(
        block.values, block.samples, block.components, block.properties
    )
    for parameter, gradient in block.gradients():
        new_block._gradients[parameter] = gradient
    return new_block


def _slice_block(block, axis, selection, fname):
    if axis == "samples":
        rows = _resolve_positions(selection, block.samples, axis, fname)
        return _take_samples(block, rows)
    columns = _resolve_positions(selection, block.properties, axis, fname)
    return _take_properties(block, columns)


def _names_of(block_or_tensor, axis):
    if isinstance(block_or_tensor, TensorMap):
        return block_or_tensor.sample_names if axis == "samples" else \
            block_or_tensor.property_names
    return block_or_tensor.samples.names if axis == "samples" else \
        block_or_tensor.properties.names


def slice(tensor, axis, selection):
    """Keep, in every block of ``tensor``, the samples or properties matching
    ``selection``.

    Parameters
    ----------
    tensor:
        the :class:`~blocktensor.TensorMap` to slice.
    axis:
        ``"samples"`` or ``"properties"``.
    selection:
        :class:`~blocktensor.Labels` over a subset of the sample (property) names: entries
        matching any selection entry are kept, in block order. Or a list / 1-D integer
        array of raw positions (the same positions in every block).

    Returns
    -------
    TensorMap
        same keys; blocks with fewer (possibly zero) samples or properties. Gradients are
        sliced consistently; values stay on their device and keep their autograd graph.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import slice
    >>> block = TensorBlock(
    ...     values=np.arange(8.0).reshape(4, 2),
    ...     samples=Labels(["system", "atom"], [[0, 0], [0, 1], [1, 0], [1, 1]]),
    ...     components=[],
    ...     properties=Labels.range("n", 2),
    ... )
    >>> tensor = TensorMap(Labels.single(), [block])
    >>> sliced = slice(tensor, "samples", Labels(["atom"], [[1]]))
    >>> sliced.block().samples.values.tolist()
    [[0, 1], [1, 1]]
    >>> sliced.block().values.tolist()
    [[2.0, 3.0], [6.0, 7.0]]
    """
    check_tensor_map(tensor, "tensor", "slice")
    _check_axis(axis, "slice")
    selection = _check_selection(selection, axis, _names_of(tensor, axis), "slice")
    blocks = [_slice_block(block, axis, selection, "slice") for block in tensor.blocks()]
    return TensorMap._unchecked(tensor.keys, blocks)


def slice_block(block, axis, selection):
    """Keep the samples or properties of ``block`` matching ``selection`` (see
    :func:`slice` for the meaning of ``axis`` and ``selection``).

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> from blocktensor.operations import slice_block
    >>> block = TensorBlock(np.arange(6.0).reshape(2, 3), Labels.range("system", 2), [],
    ...                     Labels.range("n", 3))
    >>> slice_block(block, "properties", [2, 0]).properties["n"].tolist()
    [0, 2]
    """
    check_tensor_block(block, "block", "slice_block")
    _check_axis(axis, "slice_block")
    selection = _check_selection(selection, axis, _names_of(block, axis), "slice_block")
    return _slice_block(block, axis, selection, "slice_block")
