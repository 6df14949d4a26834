"""Sorting: reorder keys, samples, components and properties lexicographically.

Semantics follow ``metatensor.operations.sort`` (metatensor-operations 0.5.0): entries are
compared as tuples (first dimension first), ascending unless ``descending=True``; the
values are permuted to match. Gradients follow their parent: sorting samples renumbers
the gradient's ``"sample"`` column and then sorts the gradient samples themselves; sorting
components sorts every component of the gradient (its own ones too); sorting properties
permutes the gradient's last axis. Torch autograd flows through (``index_select``).
"""

import numpy as np

from .. import _backend
from ..block import TensorBlock
from ..labels import Labels
from ..tensor import TensorMap
from ._utils import attach_gradient, check_tensor_block, check_tensor_map

__all__ = ["sort", "sort_block"]

_BLOCK_AXES = ("samples", "components", "properties")


def _lexsort(values, descending):
    """Permutation sorting the (unique) rows of ``values`` as tuples."""
    n_rows, n_columns = values.shape
    if n_rows < 2 or n_columns == 0:
        return np.arange(n_rows, dtype=np.int64)
    if n_columns == 1:
        order = np.argsort(values[:, 0], kind="stable")
    else:
        order = np.lexsort(values.T[::-1])
    order = order.astype(np.int64)
    # rows are unique, so reversing the ascending order is the descending order
    return order[::-1].copy() if descending else order


def _is_identity(order):
    return bool(np.all(order == np.arange(len(order))))


def _parse_axes(axes, allowed, fname):
    if isinstance(axes, str):
        axes_list = list(allowed) if axes == "all" else [axes]
    elif isinstance(axes, (list, tuple)):
        axes_list = list(axes)
    else:
        raise TypeError(
            f"`axes` in '{fname}' must be a string or a list of strings, got "
            f"{type(axes).__name__}"
        )
    for axis in axes_list:
        if axis not in allowed:
            raise ValueError(
                f"`axes` in '{fname}' must be 'all' or among {list(allowed)}, got {axis!r}"
            )
    return axes_list


def _permute(values, order, axis):
    if _is_identity(order):
        return values
    return _backend.take(values, order, axis=axis)


def _sort_labels(labels, descending):
    order = _lexsort(labels.values, descending)
    if _is_identity(order):
        return labels, order
    return Labels._unchecked(labels.names, labels.values[order]), order


def _sort_block(block, axes, descending):
    values = block.values
    samples = block.samples
    components = block.components
    properties = block.properties
    new_row = None
    if "samples" in axes:
        samples, order = _sort_labels(samples, descending)
        values = _permute(values, order, 0)
        if not _is_identity(order):
            new_row = np.empty(len(order), dtype=np.int64)
            new_row[order] = np.arange(len(order), dtype=np.int64)
    component_orders = []
    if "components" in axes:
        for i, component in enumerate(components):
            components[i], order = _sort_labels(component, descending)
            values = _permute(values, order, i + 1)
            component_orders.append(order)
    property_order = None
    if "properties" in axes:
        properties, property_order = _sort_labels(properties, descending)
        values = _permute(values, property_order, len(values.shape) - 1)

    new_block = TensorBlock._unchecked(values, samples, components, properties)
    for parameter, gradient in block.gradients():
        gradient_values = gradient.values
        gradient_samples = gradient.samples
        gradient_components = gradient.components
        if "samples" in axes:
            sample_values = gradient_samples.values
            if new_row is not None:
                sample_values = sample_values.copy()
                sample_values[:, 0] = new_row[sample_values[:, 0]]
            order = _lexsort(sample_values, descending)
            if new_row is not None or not _is_identity(order):
                gradient_samples = Labels._unchecked(
                    gradient_samples.names, sample_values[order]
                )
            gradient_values = _permute(gradient_values, order, 0)
        if "components" in axes:
            for i, component in enumerate(gradient_components):
                gradient_components[i], order = _sort_labels(component, descending)
                gradient_values = _permute(gradient_values, order, i + 1)
        if property_order is not None:
            gradient_values = _permute(
                gradient_values, property_order, len(gradient_values.shape) - 1
            )
        attach_gradient(new_block, parameter, gradient_values, gradient_samples,
                        gradient_components, properties)
    return new_block


def sort_block(block, axes="all", descending=False):
    """Reorder ``block`` so that the entries along ``axes`` are sorted.

    Parameters
    ----------
    block:
        the :class:`~blocktensor.TensorBlock` to sort.
    axes:
        ``"samples"``, ``"components"``, ``"properties"``, a list of them, or ``"all"``.
    descending:
        sort in descending instead of ascending order.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> from blocktensor.operations import sort_block
    >>> block = TensorBlock(np.array([[1.0], [2.0], [3.0]]),
    ...                     Labels(["system"], [[2], [0], [1]]), [], Labels.range("n", 1))
    >>> sorted_block = sort_block(block)
    >>> sorted_block.samples["system"].tolist(), sorted_block.values[:, 0].tolist()
    ([0, 1, 2], [2.0, 3.0, 1.0])
    """
    check_tensor_block(block, "block", "sort_block")
    axes = _parse_axes(axes, _BLOCK_AXES, "sort_block")
    if not isinstance(descending, bool):
        raise TypeError(f"`descending` in 'sort_block' must be a bool, got {descending!r}")
    return _sort_block(block, axes, descending)


def sort(tensor, axes="all", descending=False):
    """Sort the keys and, in every block, the entries along ``axes``.

    Parameters
    ----------
    tensor:
        the :class:`~blocktensor.TensorMap` to sort.
    axes:
        ``"keys"``, ``"samples"``, ``"components"``, ``"properties"``, a list of them, or
        ``"all"`` (everything, keys included).
    descending:
        sort in descending instead of ascending order.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import sort
    >>> def block(value):
    ...     return TensorBlock(np.full((1, 1), value), Labels.range("s", 1), [],
    ...                        Labels.range("n", 1))
    >>> tensor = TensorMap(Labels("key", [[3], [1]]), [block(3.0), block(1.0)])
    >>> sort(tensor, descending=True).keys["key"].tolist()
    [3, 1]
    >>> sort(tensor).block(0).values.tolist()
    [[1.0]]
    """
    check_tensor_map(tensor, "tensor", "sort")
    axes = _parse_axes(axes, ("keys",) + _BLOCK_AXES, "sort")
    if not isinstance(descending, bool):
        raise TypeError(f"`descending` in 'sort' must be a bool, got {descending!r}")
    block_axes = [axis for axis in axes if axis != "keys"]
    if "keys" in axes:
        keys, order = _sort_labels(tensor.keys, descending)
    else:
        keys, order = tensor.keys, np.arange(len(tensor.keys))
    blocks = tensor.blocks()
    new_blocks = [_sort_block(blocks[i], block_axes, descending) for i in order.tolist()]
    return TensorMap._unchecked(keys, new_blocks)
