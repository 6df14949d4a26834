"""Manipulating the dimensions of the keys, samples, components or properties Labels.

Semantics follow metatensor-operations 0.5.0 (``insert_dimension``, ``append_dimension``,
``remove_dimension``, ``rename_dimension``, ``permute_dimensions``):

- ``axis`` is ``"keys"``, ``"samples"``, ``"properties"`` (and ``"components"`` for
  renaming); the change is applied to the keys or to the Labels of that axis in every
  block;
- gradient samples are left alone when inserting, removing or permuting sample dimensions
  (they start with ``"sample"`` and describe the gradient, not the parent), but a renamed
  sample dimension is renamed in the gradient samples too when they have it; gradient
  properties always follow the parent's; renaming a component renames it in the gradients
  too (also when only the gradients have it, e.g. ``"xyz"``);
- removing a dimension is an error when the remaining entries are not unique.

Differences with metatensor: operations that make no sense for components (which have a
single dimension each) raise a ``ValueError`` instead of silently doing nothing, as does
renaming a component that no block has.

Beyond metatensor: :func:`update_dimension` replaces the values of one dimension.

Values are never copied: the blocks of the result share the arrays (and autograd graph) of
the input.
"""

import numpy as np
import torch

from ..block import TensorBlock
from ..labels import Labels, _check_names, _check_values
from ..tensor import TensorMap
from ._utils import attach_gradient, check_tensor_map, describe_key

__all__ = [
    "append_dimension",
    "insert_dimension",
    "permute_dimensions",
    "remove_dimension",
    "rename_dimension",
    "update_dimension",
]

_AXES = ("keys", "samples", "components", "properties")


def _check_axis(axis, fname, allow_components):
    if not isinstance(axis, str):
        raise TypeError(f"`axis` in '{fname}' must be a string, got {type(axis).__name__}")
    if axis not in _AXES:
        raise ValueError(
            f"`axis` in '{fname}' must be one of 'keys', 'samples', 'components' or "
            f"'properties', got {axis!r}"
        )
    if axis == "components" and not allow_components:
        raise ValueError(
            f"`axis` in '{fname}' can not be 'components': every component Labels has a "
            "single dimension (use 'rename_dimension' or 'update_dimension' on components)"
        )


def _check_name(name, argument, fname):
    if not isinstance(name, str):
        raise TypeError(f"`{argument}` in '{fname}' must be a string, got {type(name).__name__}")
    _check_names([name], argument)


def _rebuild(tensor, keys, transform_samples=None, transform_properties=None,
             transform_components=None, transform_gradient_samples=None):
    """A map with the keys ``keys`` and every block's Labels passed through the given
    transforms ``f(labels, block_index) -> labels``; arrays are shared."""
    blocks = []
    for index, block in enumerate(tensor.blocks()):
        samples = block.samples
        properties = block.properties
        components = block.components
        if transform_samples is not None:
            samples = transform_samples(samples, index)
        if transform_properties is not None:
            properties = transform_properties(properties, index)
        if transform_components is not None:
            components = [transform_components(c, index) for c in components]
        new_block = TensorBlock._unchecked(block.values, samples, components, properties)
        for parameter, gradient in block.gradients():
            gradient_samples = gradient.samples
            gradient_components = gradient.components
            if transform_gradient_samples is not None:
                gradient_samples = transform_gradient_samples(gradient_samples, index)
            if transform_components is not None:
                gradient_components = [transform_components(c, index)
                                       for c in gradient_components]
            attach_gradient(new_block, parameter, gradient.values, gradient_samples,
                            gradient_components, properties)
        blocks.append(new_block)
    return TensorMap._unchecked(keys, blocks)


def _column_values(values, length, fname, where):
    """An int32 column of ``length`` entries from an int (broadcast) or a 1-D array."""
    if isinstance(values, (bool, np.bool_)):
        raise TypeError(f"`values` in '{fname}' must be an integer or an array, got a bool")
    if isinstance(values, (int, np.integer)):
        return _check_values(np.full((length, 1), int(values), dtype=np.int64), 1,
                             "values")[:, 0]
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(
            f"`values` in '{fname}' must be an integer or a 1-D array, got an array with "
            f"shape {values.shape}"
        )
    if values.shape[0] != length:
        raise ValueError(
            f"`values` in '{fname}' has {values.shape[0]} entries but {where} has {length}"
        )
    return _check_values(values.reshape(-1, 1), 1, "values")[:, 0]


def _describe_block(tensor, index, axis):
    return f"the {axis} of the block for key {describe_key(tensor.keys, index)}"


def insert_dimension(tensor, axis, index, name, values):
    """Insert the dimension ``name`` before position ``index`` of the ``axis`` Labels.

    Parameters
    ----------
    tensor:
        the input :class:`~blocktensor.TensorMap`.
    axis:
        ``"keys"``, ``"samples"`` or ``"properties"``.
    index:
        position of the new dimension among the names.
    name:
        the new dimension's name.
    values:
        an integer (the same value for every entry) or a 1-D integer array with one value per
        entry (for samples and properties: the same array for every block).

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import insert_dimension
    >>> block = TensorBlock(np.ones((2, 1)), Labels.range("atom", 2), [], Labels.range("n", 1))
    >>> tensor = TensorMap(Labels.single(), [block])
    >>> result = insert_dimension(tensor, "samples", 0, "system", 4)
    >>> result.block().samples.values.tolist()
    [[4, 0], [4, 1]]
    """
    fname = "insert_dimension"
    check_tensor_map(tensor, "tensor", fname)
    _check_axis(axis, fname, allow_components=False)
    _check_name(name, "name", fname)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"`index` in '{fname}' must be an integer, got {index!r}")

    def insert(labels, where):
        if name in labels.names:
            raise ValueError(
                f"`name` in '{fname}' is {name!r}, which is already one of the {axis} names "
                f"{labels.names}"
            )
        if not 0 <= index <= len(labels.names):
            raise ValueError(
                f"`index` in '{fname}' is {index}, it must be between 0 and "
                f"{len(labels.names)} for the {axis} names {labels.names}"
            )
        column = _column_values(values, len(labels), fname, where)
        new_values = np.insert(labels.values, index, column, axis=1)
        return Labels._unchecked(labels.names[:index] + [name] + labels.names[index:],
                                 new_values)

    if axis == "keys":
        return _rebuild(tensor, insert(tensor.keys, "the keys"))
    transform = lambda labels, i: insert(labels, _describe_block(tensor, i, axis))  # noqa
    if axis == "samples":
        return _rebuild(tensor, tensor.keys, transform_samples=transform)
    return _rebuild(tensor, tensor.keys, transform_properties=transform)


def append_dimension(tensor, axis, name, values):
    """Add the dimension ``name`` after the last dimension of the ``axis`` Labels (see
    :func:`insert_dimension`).

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import append_dimension
    >>> block = TensorBlock(np.ones((1, 1)), Labels.single(), [], Labels.single())
    >>> tensor = TensorMap(Labels(["foo"], [[0]]), [block])
    >>> append_dimension(tensor, "keys", "bar", 1).keys.values.tolist()
    [[0, 1]]
    """
    fname = "append_dimension"
    check_tensor_map(tensor, "tensor", fname)
    _check_axis(axis, fname, allow_components=False)
    if axis == "keys":
        index = len(tensor.keys.names)
    elif axis == "samples":
        index = len(tensor.sample_names)
    else:
        index = len(tensor.property_names)
    return insert_dimension(tensor, axis, index, name, values)


def remove_dimension(tensor, axis, name):
    """Remove the dimension ``name`` from the ``axis`` Labels; the remaining entries must
    still be unique.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import remove_dimension
    >>> block = TensorBlock(np.ones((1, 1)), Labels.single(), [], Labels.single())
    >>> tensor = TensorMap(Labels(["key", "extra"], [[0, 0]]), [block])
    >>> remove_dimension(tensor, "keys", "extra").keys.names
    ['key']
    """
    fname = "remove_dimension"
    check_tensor_map(tensor, "tensor", fname)
    _check_axis(axis, fname, allow_components=False)
    _check_name(name, "name", fname)

    def remove(labels, where):
        if name not in labels.names:
            raise ValueError(
                f"`name` in '{fname}' is {name!r}, which is not one of the {axis} names "
                f"{labels.names}"
            )
        try:
            return labels.remove(name)
        except ValueError as error:
            raise ValueError(
                f"can not remove the dimension {name!r} from {where}: the remaining entries "
                f"are not unique ({error})"
            ) from None

    if axis == "keys":
        return _rebuild(tensor, remove(tensor.keys, "the keys"))
    transform = lambda labels, i: remove(labels, _describe_block(tensor, i, axis))  # noqa
    if axis == "samples":
        return _rebuild(tensor, tensor.keys, transform_samples=transform)
    return _rebuild(tensor, tensor.keys, transform_properties=transform)


def rename_dimension(tensor, axis, old, new):
    """Rename the dimension ``old`` of the ``axis`` Labels to ``new``.

    ``axis`` may also be ``"components"``. Gradient samples / components having ``old``
    are renamed too.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import rename_dimension
    >>> block = TensorBlock(np.ones((1, 1)), Labels.single(), [], Labels.single())
    >>> tensor = TensorMap(Labels(["foo"], [[0]]), [block])
    >>> rename_dimension(tensor, "keys", "foo", "bar").keys.names
    ['bar']
    """
    fname = "rename_dimension"
    check_tensor_map(tensor, "tensor", fname)
    _check_axis(axis, fname, allow_components=True)
    _check_name(old, "old", fname)
    _check_name(new, "new", fname)

    def rename(labels):
        if new in labels.names and new != old:
            raise ValueError(
                f"`new` in '{fname}' is {new!r}, which is already one of the {axis} names "
                f"{labels.names}"
            )
        return labels.rename(old, new)

    def rename_if_present(labels, index):
        return rename(labels) if old in labels.names else labels

    def rename_required(labels, index):
        if old not in labels.names:
            raise ValueError(
                f"`old` in '{fname}' is {old!r}, which is not one of the {axis} names "
                f"{labels.names}"
            )
        return rename(labels)

    if axis == "keys":
        if old not in tensor.keys.names:
            rename_required(tensor.keys, None)
        return _rebuild(tensor, rename(tensor.keys))
    if axis == "samples":
        return _rebuild(tensor, tensor.keys, transform_samples=rename_required,
                        transform_gradient_samples=rename_if_present)
    if axis == "properties":
        return _rebuild(tensor, tensor.keys, transform_properties=rename_required)
    present = any(
        old in component.names
        for block in tensor.blocks()
        for owner in [block] + [gradient for _, gradient in block.gradients()]
        for component in owner.components
    )
    if not present and len(tensor.keys) != 0:
        raise ValueError(
            f"`old` in '{fname}' is {old!r}, which is not the name of any component of the "
            f"blocks or their gradients (components: {tensor.component_names})"
        )
    return _rebuild(tensor, tensor.keys, transform_components=rename_if_present)


def permute_dimensions(tensor, axis, dimensions_indexes):
    """Reorder the dimensions of the ``axis`` Labels: the new dimension ``i`` is the old
    dimension ``dimensions_indexes[i]``.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import permute_dimensions
    >>> block = TensorBlock(np.ones((1, 1)), Labels.single(), [], Labels.single())
    >>> tensor = TensorMap(Labels(["foo", "bar", "baz"], [[42, 10, 3]]), [block])
    >>> permute_dimensions(tensor, "keys", [2, 0, 1]).keys.values.tolist()
    [[3, 42, 10]]
    """
    fname = "permute_dimensions"
    check_tensor_map(tensor, "tensor", fname)
    _check_axis(axis, fname, allow_components=False)
    if not isinstance(dimensions_indexes, (list, tuple, np.ndarray)):
        raise TypeError(
            f"`dimensions_indexes` in '{fname}' must be a list of integers, got "
            f"{type(dimensions_indexes).__name__}"
        )
    order = [int(i) for i in dimensions_indexes]

    def permute(labels, index=None):
        if sorted(order) != list(range(len(labels.names))):
            raise ValueError(
                f"`dimensions_indexes` in '{fname}' must be a permutation of "
                f"0..{len(labels.names) - 1} for the {axis} names {labels.names}, got {order}"
            )
        return labels.permute(order)

    if axis == "keys":
        return _rebuild(tensor, permute(tensor.keys))
    if axis == "samples":
        return _rebuild(tensor, tensor.keys, transform_samples=permute)
    return _rebuild(tensor, tensor.keys, transform_properties=permute)


def update_dimension(tensor, axis, name, values):
    """Replace the values of the dimension ``name`` of the ``axis`` Labels (beyond
    metatensor).

    Parameters
    ----------
    tensor:
        the input :class:`~blocktensor.TensorMap`.
    axis:
        ``"keys"``, ``"samples"``, ``"components"`` or ``"properties"``.
    name:
        the dimension to update.
    values:
        an integer (every entry gets it), a 1-D integer array with one value per entry (the
        same array for every block), or a callable mapping the old values (1-D int32 numpy
        array) to the new ones, applied block by block.

    Gradient samples are not changed (they describe the gradient, not the parent); gradient
    components with the name are updated like the block's. The updated entries must stay
    unique.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import update_dimension
    >>> samples = Labels(["system", "atom"], [[0, 0], [1, 0]])
    >>> block = TensorBlock(np.ones((2, 1)), samples, [], Labels.single())
    >>> tensor = TensorMap(Labels.single(), [block])
    >>> shifted = update_dimension(tensor, "samples", "system", lambda s: s + 10)
    >>> shifted.block().samples.values.tolist()
    [[10, 0], [11, 0]]
    """
    fname = "update_dimension"
    check_tensor_map(tensor, "tensor", fname)
    _check_axis(axis, fname, allow_components=True)
    _check_name(name, "name", fname)

    def update(labels, where, check_name=True):
        if name not in labels.names:
            if not check_name:
                return labels
            raise ValueError(
                f"`name` in '{fname}' is {name!r}, which is not one of the names of {where} "
                f"{labels.names}"
            )
        column_index = labels.names.index(name)
        old = labels.values[:, column_index]
        if callable(values):
            column = values(old.copy())
            column = _column_values(column, len(labels), fname, where)
        else:
            column = _column_values(values, len(labels), fname, where)
        new_values = labels.values.copy()
        new_values[:, column_index] = column
        try:
            return Labels(labels.names, new_values)
        except ValueError as error:
            raise ValueError(
                f"can not update the dimension {name!r} of {where}: the entries would not be "
                f"unique ({error})"
            ) from None

    if axis == "keys":
        return _rebuild(tensor, update(tensor.keys, "the keys"))
    if axis == "samples":
        return _rebuild(tensor, tensor.keys, transform_samples=lambda labels, i: update(
            labels, _describe_block(tensor, i, axis)))
    if axis == "properties":
        return _rebuild(tensor, tensor.keys, transform_properties=lambda labels, i: update(
            labels, _describe_block(tensor, i, axis)))
    present = any(
        name in component.names
        for block in tensor.blocks()
        for owner in [block] + [gradient for _, gradient in block.gradients()]
        for component in owner.components
    )
    if not present and len(tensor.keys) != 0:
        raise ValueError(
            f"`name` in '{fname}' is {name!r}, which is not the name of any component of the "
            f"blocks or their gradients (components: {tensor.component_names})"
        )
    # the same transformation must give the block's and the gradients' copies of a parent
    # component the same values, so components are updated per Labels, not per block
    return _rebuild(tensor, tensor.keys, transform_components=lambda labels, i: update(
        labels, f"the component {name!r} of the block for key "
        f"{describe_key(tensor.keys, i)}", check_name=False))
