"""Joining: one map (or block) out of several, along samples, properties or keys.

Semantics follow ``metatensor.operations.join`` (metatensor-operations 0.5.0):

- ``axis="samples"``: for every key, the blocks of all maps are stacked along the samples;
  components and properties must be equal. Gradient rows are concatenated with their
  ``"sample"`` column shifted to point at the stacked rows. The stacked samples must be
  unique, unless ``add_dimension`` names a new last sample dimension holding the index of
  the source map.
- ``axis="properties"``: blocks are stacked along the properties; samples and components
  must be equal. When the maps have different property names, the joined properties are
  ``(joined_index, property)`` = (index of the source map, position in its block).
  Gradient samples are the union of the gradient samples of the joined blocks (in order of
  first appearance); gradients missing in a block are zero.
- ``different_keys``: ``"error"`` (keys must be the same set; the order of the first map is
  used), ``"intersection"`` (keys present in every map) or ``"union"`` (keys present in any
  map; a map without a key contributes nothing to that block, as an empty block would).

Beyond metatensor:

- ``axis="keys"``: the blocks of all maps side by side in one map; ``add_dimension`` names a
  new last key dimension holding the index of the source map (without it the keys of the
  maps must not overlap).
- ``sort_samples=True`` sorts the joined samples (and the gradient samples) afterwards.
- with a single input, ``add_dimension`` is still added (metatensor returns the input
  unchanged, so the names of the result would depend on the number of inputs).

Values are concatenated with the array backend (``torch.cat`` keeps autograd, any device).
"""

import numpy as np

from .. import _backend
from ..block import TensorBlock
from ..labels import Labels, _check_names, _first_duplicate
from ..tensor import TensorMap
from ._utils import (
    check_same_arrays,
    attach_gradient,
    check_blocks_impl,
    check_same_gradients_impl,
    check_same_keys_impl,
    check_tensor_block,
    check_tensor_map,
    describe_entry,
    describe_key,
    NotEqualError,
)
from .sort import _sort_block

__all__ = ["join", "join_blocks"]

_DIFFERENT_KEYS = ("error", "intersection", "union")


# --------------------------------------------------------------------------- validation
def _check_add_dimension(add_dimension, fname):
    if add_dimension is None:
        return None
    if not isinstance(add_dimension, str):
        raise TypeError(
            f"`add_dimension` in '{fname}' must be a string or None, got "
            f"{type(add_dimension).__name__}"
        )
    _check_names([add_dimension], "add_dimension")
    return add_dimension


def _check_new_name(add_dimension, names, axis, fname):
    if add_dimension is not None and add_dimension in names:
        raise ValueError(
            f"`add_dimension` in '{fname}' is {add_dimension!r}, which is already one of the "
            f"{axis} names {names}"
        )


def _check_same_arrays(reference, block, where, fname):
    """Same backend, device and dtype, so that concatenation neither fails nor silently
    promotes."""
    check_same_arrays(reference, block, "the first input", where, fname)


def _same_labels(first, second):
    """Cheap exact equality of two Labels (their values are C-contiguous int32)."""
    return first is second or (
        first.names == second.names
        and first.values.shape == second.values.shape
        and first.values.tobytes() == second.values.tobytes()
    )


def _obviously_joinable(first, block, check):
    """True when the metadata in ``check`` and the gradients visibly agree; anything else
    goes through the full checks, which also write the error message."""
    if "samples" in check and not _same_labels(first.samples, block.samples):
        return False
    if "properties" in check and not _same_labels(first.properties, block.properties):
        return False
    components, first_components = block.components, first.components
    if len(components) != len(first_components) or not all(
        _same_labels(a, b) for a, b in zip(components, first_components)
    ):
        return False
    if block.gradients_list() != first.gradients_list():
        return False
    for parameter, gradient in block.gradients():
        first_gradient = first.gradient(parameter)
        if gradient.samples.names != first_gradient.samples.names:
            return False
        if not all(_same_labels(a, b) for a, b in zip(gradient.components,
                                                       first_gradient.components)):
            return False
        if len(gradient.components) != len(first_gradient.components):
            return False
    return True


def _check_joinable(first, block, check, fname, where):
    if _obviously_joinable(first, block, check):
        return
    message = check_blocks_impl(first, block, fname, check)
    if not message:
        message = check_same_gradients_impl(first, block, fname, ["components"])
    if not message:
        for parameter, gradient in block.gradients():
            names = gradient.samples.names
            first_names = first.gradient(parameter).samples.names
            if names != first_names:
                message = (
                    f"inputs to '{fname}' should have the same gradient sample names: "
                    f"gradient '{parameter}' has {names} and {first_names} in the first"
                )
    if message:
        raise NotEqualError(f"{message} ({where})")


# --------------------------------------------------------------------------- blocks
_PLURAL = {"sample": "samples", "property": "properties", "key": "keys"}


def _stacked_labels(names, parts, sources, add_dimension, axis, fname, key_description):
    """Labels of the entries ``parts`` (one 2-D array per input, from inputs number
    ``sources``) one after the other: with ``add_dimension``, a last dimension holds the
    input number; without, an entry present in two inputs is an error naming both."""
    lengths = [len(part) for part in parts]
    values = np.concatenate(parts, axis=0)
    if add_dimension is not None:
        _check_new_name(add_dimension, names, axis, fname)
        source_column = np.repeat(np.asarray(sources, dtype=np.int32), lengths)
        return Labels._unchecked(
            names + [add_dimension], np.concatenate([values, source_column[:, None]], axis=1)
        )
    duplicate = _first_duplicate(values)
    if duplicate is not None:
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        entry, row_a, row_b = duplicate
        which = np.searchsorted(offsets, [row_a, row_b], side="right") - 1
        add = "add a dimension" if axis != "key" else "add a key dimension"
        raise ValueError(
            f"can not {fname} along {_PLURAL[axis]}{key_description}: the {axis} "
            f"{describe_entry(names, entry)} is present in input {sources[which[0]]} and in "
            f"input {sources[which[1]]}; give `add_dimension` to {add} telling the inputs "
            "apart"
        )
    return Labels._unchecked(names, values)


def _join_samples(blocks, sources, add_dimension, sort_samples, fname, key_description):
    """Stack ``blocks`` (coming from inputs number ``sources``) along the samples."""
    first = blocks[0]
    for block, source in zip(blocks[1:], sources[1:]):
        where = f"input {source}{key_description}"
        _check_same_arrays(first, block, where, fname)
        _check_joinable(first, block, ["components", "properties"], fname, where)

    lengths = np.array([len(block.samples) for block in blocks], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    samples = _stacked_labels(
        first.samples.names, [block.samples.values for block in blocks], sources,
        add_dimension, "sample", fname, key_description,
    )

    if len(blocks) == 1:
        values = first.values
    else:
        values = _backend.concatenate([block.values for block in blocks], axis=0)
    new_block = TensorBlock._unchecked(values, samples, first.components, first.properties)
    for parameter, first_gradient in first.gradients():
        gradients = [block.gradient(parameter) for block in blocks]
        parts = []
        for gradient, offset in zip(gradients, offsets[:-1].tolist()):
            part = gradient.samples.values
            if offset != 0:
                part = part.copy()
                part[:, 0] += offset
            parts.append(part)
        gradient_values = first_gradient.values if len(blocks) == 1 else \
            _backend.concatenate([gradient.values for gradient in gradients], axis=0)
        attach_gradient(
            new_block,
            parameter,
            gradient_values,
            # unique: each input is unique and the shifted "sample" columns are disjoint
            Labels._unchecked(first_gradient.samples.names, np.concatenate(parts, axis=0)),
            first_gradient.components,
        )
    if sort_samples:
        new_block = _sort_block(new_block, ["samples"], False)
    return new_block


def _join_properties(blocks, sources, add_dimension, different_names, fname,
                     key_description):
    """Stack ``blocks`` (coming from inputs number ``sources``) along the properties."""
    first = blocks[0]
    for block, source in zip(blocks[1:], sources[1:]):
        where = f"input {source}{key_description}"
        _check_same_arrays(first, block, where, fname)
        _check_joinable(first, block, ["samples", "components"], fname, where)

    lengths = np.array([len(block.properties) for block in blocks], dtype=np.int64)
    source_column = np.repeat(np.asarray(sources, dtype=np.int32), lengths)
    if different_names:
        position = np.concatenate([np.arange(n, dtype=np.int32) for n in lengths.tolist()])
        properties = Labels._unchecked(
            ["joined_index", "property"], np.stack([source_column, position], axis=1)
        )
    else:
        properties = _stacked_labels(
            first.properties.names, [block.properties.values for block in blocks], sources,
            add_dimension, "property", fname, key_description,
        )

    last = len(first.values.shape) - 1
    values = first.values if len(blocks) == 1 else \
        _backend.concatenate([block.values for block in blocks], axis=last)
    new_block = TensorBlock._unchecked(values, first.samples, first.components, properties)
    for parameter, first_gradient in first.gradients():
        gradients = [block.gradient(parameter) for block in blocks]
        last = len(first_gradient.values.shape) - 1
        same_samples = all(
            gradient.samples is first_gradient.samples
            or np.array_equal(gradient.samples.values, first_gradient.samples.values)
            for gradient in gradients[1:]
        )
        if same_samples:
            gradient_values = first_gradient.values if len(blocks) == 1 else \
                _backend.concatenate([gradient.values for gradient in gradients], axis=last)
            gradient_samples = first_gradient.samples
        else:
            gradient_samples = first_gradient.samples
            mappings = [np.arange(len(gradient_samples), dtype=np.int64)]
            for gradient in gradients[1:]:
                gradient_samples, _, mapping = gradient_samples.union_and_mapping(
                    gradient.samples
                )
                mappings.append(mapping)
            shape = (len(gradient_samples), *first_gradient.values.shape[1:-1],
                     len(properties))
            # gradients absent from a block are zero, hence zeros rather than empty
            gradient_values = _backend.zeros(first_gradient.values, shape)
            start = 0
            for gradient, mapping in zip(gradients, mappings):
                stop = start + gradient.values.shape[-1]
                index = _backend.index_array(gradient_values, mapping)
                gradient_values[index, ..., start:stop] = gradient.values
                start = stop
        attach_gradient(new_block, parameter, gradient_values, gradient_samples,
                        first_gradient.components, properties)
    return new_block


# --------------------------------------------------------------------------- maps
def _key_blocks(tensors, keys):
    """For every key, the (source index, block) pairs of the maps containing it."""
    per_key = [[] for _ in range(len(keys))]
    for source, tensor in enumerate(tensors):
        blocks = tensor.blocks()
        if _same_labels(tensor.keys, keys):
            for position, block in enumerate(blocks):
                per_key[position].append((source, block))
            continue
        positions = keys.positions(tensor.keys)
        for block, position in zip(blocks, positions.tolist()):
            if position >= 0:
                per_key[position].append((source, block))
    return per_key


def _join_keys(tensors, add_dimension, fname):
    first = tensors[0]
    names = first.keys.names
    for source, tensor in enumerate(tensors[1:], start=1):
        if tensor.keys.names != names:
            raise ValueError(
                f"can not {fname} along keys: input {source} has key names "
                f"{tensor.keys.names} but input 0 has {names}"
            )
    keys = _stacked_labels(
        names, [tensor.keys.values for tensor in tensors], list(range(len(tensors))),
        add_dimension, "key", fname, "",
    )
    blocks = [block for tensor in tensors for block in tensor.blocks()]
    for source, tensor in enumerate(tensors[1:], start=1):
        if len(tensor.keys) and len(first.keys):
            _check_same_arrays(first.block(0), tensor.block(0), f"input {source}", fname)
    # the checked constructor verifies that names and gradients agree across the inputs
    return TensorMap(keys, blocks)


def join(tensors, axis, different_keys="error", add_dimension=None, *, sort_samples=False):
    """Join several maps into one, along ``axis``.

    Parameters
    ----------
    tensors:
        list of :class:`~blocktensor.TensorMap` (same backend, dtype and device).
    axis:
        ``"samples"``, ``"properties"`` or ``"keys"``.
    different_keys:
        how to treat maps with different keys (``axis`` samples/properties only):
        ``"error"``, ``"intersection"`` or ``"union"``.
    add_dimension:
        name of a new last dimension of the joined samples / properties / keys, holding the
        index of the source map in ``tensors``. Needed when the entries would otherwise
        collide.
    sort_samples:
        sort the samples of the joined blocks (and their gradient samples).

    Returns
    -------
    TensorMap

    Examples
    --------
    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import join
    >>> def tensor(first_property):
    ...     block = TensorBlock(np.ones((1, 2)), Labels.single(), [],
    ...                         Labels("n", [[first_property], [first_property + 1]]))
    ...     return TensorMap(Labels.single(), [block])
    >>> join([tensor(0), tensor(2)], axis="properties").block().properties["n"].tolist()
    [0, 1, 2, 3]
    >>> joined = join([tensor(0), tensor(0)], axis="properties", add_dimension="tensor")
    >>> joined.block().properties.values.tolist()
    [[0, 0], [1, 0], [0, 1], [1, 1]]
    >>> join([tensor(0), tensor(0)], axis="keys", add_dimension="tensor").keys.names
    ['_', 'tensor']
    """
    fname = "join"
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(
            f"`tensors` in '{fname}' must be a list of TensorMap, got {type(tensors).__name__}"
        )
    for i, tensor in enumerate(tensors):
        check_tensor_map(tensor, f"tensors[{i}]", fname)
    if len(tensors) == 0:
        raise ValueError(f"`tensors` in '{fname}' must contain at least one TensorMap")
    if axis not in ("samples", "properties", "keys"):
        raise ValueError(
            f"`axis` in '{fname}' must be 'samples', 'properties' or 'keys', got {axis!r}"
        )
    if different_keys not in _DIFFERENT_KEYS:
        raise ValueError(
            f"`different_keys` in '{fname}' must be 'error', 'intersection' or 'union', got "
            f"{different_keys!r}"
        )
    add_dimension = _check_add_dimension(add_dimension, fname)
    if not isinstance(sort_samples, bool):
        raise TypeError(f"`sort_samples` in '{fname}' must be a bool, got {sort_samples!r}")
    tensors = list(tensors)
    if axis == "keys":
        return _join_keys(tensors, add_dimension, fname)

    first = tensors[0]
    for source, tensor in enumerate(tensors[1:], start=1):
        if tensor.keys.names != first.keys.names:
            raise ValueError(
                f"can not {fname}: input {source} has key names {tensor.keys.names} but "
                f"input 0 has {first.keys.names}"
            )
    if different_keys == "error":
        for tensor in tensors[1:]:
            if _same_labels(tensor.keys, first.keys):
                continue
            message = check_same_keys_impl(first, tensor, fname)
            if message:
                raise NotEqualError(message)
        keys = first.keys
    elif different_keys == "intersection":
        keys = first.keys
        for tensor in tensors[1:]:
            keys = keys.intersection(tensor.keys)
    else:
        keys = first.keys
        for tensor in tensors[1:]:
            keys = keys.union(tensor.keys)

    non_empty = [tensor for tensor in tensors if len(tensor.keys) != 0]
    different_names = False
    if axis == "samples":
        for source, tensor in enumerate(tensors):
            if len(tensor.keys) and tensor.sample_names != non_empty[0].sample_names:
                raise ValueError(
                    f"can not {fname} along samples: input {source} has sample names "
                    f"{tensor.sample_names} but another input has {non_empty[0].sample_names}"
                )
    else:
        names = {tuple(tensor.property_names) for tensor in non_empty}
        different_names = len(names) > 1
        if different_names and add_dimension is not None:
            raise ValueError(
                f"can not {fname} along properties with `add_dimension` when the inputs have "
                f"different property names ({sorted(list(n) for n in names)})"
            )

    blocks = []
    for position, entries in enumerate(_key_blocks(tensors, keys)):
        sources = [source for source, _ in entries]
        key_blocks = [block for _, block in entries]
        key_description = f" for key {describe_key(keys, position)}"
        if axis == "samples":
            blocks.append(_join_samples(key_blocks, sources, add_dimension, sort_samples,
                                        fname, key_description))
        else:
            block = _join_properties(key_blocks, sources, add_dimension, different_names,
                                     fname, key_description)
            if sort_samples:
                block = _sort_block(block, ["samples"], False)
            blocks.append(block)
    return TensorMap._unchecked(keys, blocks)


def join_blocks(blocks, axis, add_dimension=None, *, sort_samples=False):
    """Join several blocks into one along ``"samples"`` or ``"properties"`` (see
    :func:`join`; the index of a block in ``blocks`` plays the role of the source map).

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> from blocktensor.operations import join_blocks
    >>> block = TensorBlock(np.ones((2, 1)), Labels.range("atom", 2), [], Labels.range("n", 1))
    >>> joined = join_blocks([block, block], "samples", add_dimension="tensor")
    >>> joined.samples.values.tolist()
    [[0, 0], [1, 0], [0, 1], [1, 1]]
    """
    fname = "join_blocks"
    if not isinstance(blocks, (list, tuple)):
        raise TypeError(
            f"`blocks` in '{fname}' must be a list of TensorBlock, got {type(blocks).__name__}"
        )
    for i, block in enumerate(blocks):
        check_tensor_block(block, f"blocks[{i}]", fname)
    if len(blocks) == 0:
        raise ValueError(f"`blocks` in '{fname}' must contain at least one TensorBlock")
    if axis not in ("samples", "properties"):
        raise ValueError(f"`axis` in '{fname}' must be 'samples' or 'properties', got {axis!r}")
    add_dimension = _check_add_dimension(add_dimension, fname)
    blocks = list(blocks)
    sources = list(range(len(blocks)))
    if axis == "samples":
        for source, block in enumerate(blocks[1:], start=1):
            if block.samples.names != blocks[0].samples.names:
                raise ValueError(
                    f"can not {fname} along samples: block {source} has sample names "
                    f"{block.samples.names} but block 0 has {blocks[0].samples.names}"
                )
        return _join_samples(blocks, sources, add_dimension, sort_samples, fname, "")
    different_names = any(block.properties.names != blocks[0].properties.names
                          for block in blocks)
    if different_names and add_dimension is not None:
        raise ValueError(
            f"can not {fname} along properties with `add_dimension` when the blocks have "
            "different property names"
        )
    block = _join_properties(blocks, sources, add_dimension, different_names, fname, "")
    return _sort_block(block, ["samples"], False) if sort_samples else block
