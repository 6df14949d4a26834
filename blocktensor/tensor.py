"""TensorMap: a sparse collection of :class:`~blocktensor.TensorBlock` indexed by key
:class:`~blocktensor.Labels`."""

import numpy as np

from . import _backend
from .block import TensorBlock
from .labels import Labels, LabelsEntry, _check_names, unique_rows


def _lexsort_rows(values):
    """Permutation sorting the rows of a 2-D integer array lexicographically."""
    if values.shape[0] == 0 or values.shape[1] == 0:
        return np.arange(values.shape[0], dtype=np.int64)
    return np.lexsort(values.T[::-1]).astype(np.int64)


def _unique_rows(values, sort):
    """Unique rows of ``values`` (sorted, or in order of first appearance) and, for every input
    row, the position of its value in the result."""
    if values.shape[0] == 0:
        return values, np.zeros(0, dtype=np.int64)
    unique, inverse = unique_rows(values)
    if sort:
        return unique, inverse
    # reorder to first appearance
    first = np.full(len(unique), values.shape[0], dtype=np.int64)
    np.minimum.at(first, inverse, np.arange(values.shape[0], dtype=np.int64))
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return unique[order], rank[inverse]


def _selection_labels(keys, selection, kwargs):
    """Turn the many accepted forms of a key selection into Labels over a subset of names."""
    if selection is None:
        selection = dict(kwargs)
    elif len(kwargs) != 0:
        raise ValueError("give either `selection` or keyword arguments, not both")
    if isinstance(selection, dict):
        names = list(selection.keys())
        values = np.array([[int(v) for v in selection.values()]], dtype=np.int64).reshape(1, -1)
        return Labels(names, values)
    if isinstance(selection, LabelsEntry):
        return Labels._unchecked(selection.names, selection.values.reshape(1, -1))
    if isinstance(selection, Labels):
        return selection
    raise TypeError(
        "`selection` must be an integer, a dict, a LabelsEntry or Labels, got "
        f"{type(selection).__name__}"
    )


class TensorMap:
    """Blocks of data indexed by ``keys``.

    Every block shares the same sample names, component names, property names and gradient
    parameters; values of all blocks use one array backend (numpy or torch).

    Parameters
    ----------
    keys:
        :class:`Labels` with one entry per block.
    blocks:
        list of :class:`TensorBlock`, in the order of ``keys``.

    Examples
    --------
    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> def block(n):
    ...     return TensorBlock(np.full((n, 1), float(n)), Labels.range("atom", n), [],
    ...                        Labels.range("n", 1))
    >>> tensor = TensorMap(Labels(["center_type"], [[1], [8]]), [block(2), block(3)])
    >>> tensor.block(center_type=8).values.shape
    (3, 1)
    >>> merged = tensor.keys_to_samples("center_type")
    >>> merged.block().samples.names
    ['atom', 'center_type']
    """

    def __init__(self, keys, blocks):
        if not isinstance(keys, Labels):
            raise TypeError(f"`keys` must be Labels, got {type(keys).__name__}")
        if keys.is_view():
            keys = keys.to_owned()
        if not isinstance(blocks, (list, tuple)):
            raise TypeError(f"`blocks` must be a list of TensorBlock, got {type(blocks).__name__}")
        blocks = list(blocks)
        if len(blocks) != len(keys):
            raise ValueError(
                f"`keys` has {len(keys)} entries but {len(blocks)} blocks were given"
            )
        for i, block in enumerate(blocks):
            if not isinstance(block, TensorBlock):
                raise TypeError(
                    f"`blocks[{i}]` must be a TensorBlock, got {type(block).__name__}"
                )
            if block._is_gradient:
                raise ValueError(
                    f"`blocks[{i}]` (key {keys.entry(i).print()}) is a gradient block, "
                    "it can not be used as a block of a TensorMap"
                )
        if len(blocks) != 0:
            _check_consistent_blocks(keys, blocks)
        self._keys = keys
        self._blocks = blocks
        self._info = {}

    @classmethod
    def _unchecked(cls, keys, blocks, info=None):
        tensor = cls.__new__(cls)
        tensor._keys = keys
        tensor._blocks = list(blocks)
        tensor._info = {} if info is None else dict(info)
        return tensor

    # ------------------------------------------------------------------ info
    def info(self):
        """A copy of the free-form ``{str: str}`` metadata of this map (saved in archives as
        ``info.json``, like metatensor)."""
        return dict(self._info)

    def set_info(self, key, value):
        """Set one entry of the ``info`` metadata; both must be strings."""
        if not isinstance(key, str):
            raise TypeError(f"`key` must be a string, got {type(key).__name__}")
        if not isinstance(value, str):
            raise TypeError(f"`value` must be a string, got {type(value).__name__}")
        self._info[key] = value

    # ------------------------------------------------------------------ access
    @property
    def keys(self):
        return self._keys

    def __len__(self):
        return len(self._blocks)

    def __iter__(self):
        return iter(zip(self._keys, self._blocks))

    def items(self):
        """List of ``(key, block)`` pairs."""
        return list(zip(self._keys, self._blocks))

    def block_by_id(self, index):
        """The block at position ``index`` of the keys."""
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"`index` must be an integer, got {type(index).__name__}")
        if index < -len(self._blocks) or index >= len(self._blocks):
            raise IndexError(
                f"block index {index} is out of range for a TensorMap with "
                f"{len(self._blocks)} blocks"
            )
        return self._blocks[index]

    def blocks_matching(self, selection=None, **kwargs):
        """Indices of the blocks whose keys match ``selection`` (a dict, LabelsEntry or
        Labels over a subset of the key names, or keyword arguments)."""
        selection = _selection_labels(self._keys, selection, kwargs)
        if len(selection) == 0 and len(selection.names) == 0:
            return list(range(len(self._keys)))
        return [int(i) for i in self._keys.select(selection)]

    def block(self, selection=None, **kwargs):
        """The single block matching ``selection`` (an integer index, a dict, a LabelsEntry,
        Labels over a subset of key names, or keyword arguments); an error when zero or
        several blocks match. Without arguments, the only block of the map."""
        if isinstance(selection, (int, np.integer)):
            return self.block_by_id(selection)
        if selection is None and len(kwargs) == 0:
            if len(self._blocks) != 1:
                raise ValueError(
                    f"there are {len(self._blocks)} blocks in this TensorMap, give a "
                    "selection to pick one"
                )
            return self._blocks[0]
        matching = self.blocks_matching(selection, **kwargs)
        if len(matching) != 1:
            described = selection if selection is not None else kwargs
            raise ValueError(
                f"{'no block matches' if not matching else f'{len(matching)} blocks match'} "
                f"the selection {described!r}, expected exactly one"
            )
        return self._blocks[matching[0]]

    def blocks(self, selection=None, **kwargs):
        """All blocks (no argument), or those matching ``selection``, or at the positions
        given by a list of integers."""
        if selection is None and len(kwargs) == 0:
            return list(self._blocks)
        if isinstance(selection, (int, np.integer)):
            return [self.block_by_id(selection)]
        if isinstance(selection, (list, tuple)) and all(
            isinstance(i, (int, np.integer)) for i in selection
        ):
            return [self.block_by_id(i) for i in selection]
        return [self._blocks[i] for i in self.blocks_matching(selection, **kwargs)]

    def _first(self, attribute):
        if len(self._blocks) == 0:
            return []
        return attribute(self._blocks[0])

    @property
    def sample_names(self):
        return self._first(lambda b: b.samples.names)

    @property
    def component_names(self):
        return self._first(lambda b: [c.names[0] for c in b.components])

    @property
    def property_names(self):
        return self._first(lambda b: b.properties.names)

    def gradients_list(self):
        return self._first(lambda b: b.gradients_list())

    @property
    def device(self):
        if len(self._blocks) == 0:
            return "cpu"
        return self._blocks[0].device

    @property
    def dtype(self):
        if len(self._blocks) == 0:
            return None
        return self._blocks[0].dtype

    @property
    def array_backend(self):
        if len(self._blocks) == 0:
            return None
        return self._blocks[0].array_backend

    def copy(self):
        """A deep copy of the map (values and gradients)."""
        return TensorMap._unchecked(
            self._keys, [block.copy() for block in self._blocks], self._info
        )

    def to(self, device=None, dtype=None, arrays=None):
        """The map with every block converted (see :py:meth:`TensorBlock.to`)."""
        return TensorMap._unchecked(
            self._keys,
            [block.to(device=device, dtype=dtype, arrays=arrays) for block in self._blocks],
            self._info,
        )

    def __reduce__(self):
        return (TensorMap._unchecked, (self._keys, self._blocks, self._info))

    def __repr__(self):
        lines = [f"TensorMap with {len(self._blocks)} blocks", "keys: " + self._keys.print(
            max_entries=10, indent=6)]
        return "\n".join(lines)

    def print(self, max_keys=-1):
        """A readable listing of keys and block shapes."""
        lines = [f"TensorMap with {len(self._blocks)} blocks"]
        names = self._keys.names
        for count, (key, block) in enumerate(zip(self._keys, self._blocks)):
            if 0 <= max_keys <= count:
                lines.append(f"  ... {len(self._blocks) - count} more blocks")
                break
            described = ", ".join(f"{n}={v}" for n, v in zip(names, key))
            gradients = "".join(
                f", ∂/∂{p}: {tuple(g.shape)}" for p, g in block.gradients()
            )
            lines.append(f"  ({described}): {tuple(block.shape)}{gradients}")
        return "\n".join(lines)

    def __str__(self):
        return self.print(max_keys=20)

    # ------------------------------------------------------------------ key moves
    def keys_to_properties(self, keys_to_move, *, fill_value=0.0, sort_samples=True):
        """Move the key dimensions ``keys_to_move`` to the front of the properties, merging
        the blocks that then share a key.

        ``keys_to_move`` is a name, a list of names, or Labels: with Labels, every merged
        block gets one group of properties per entry (in that order, filled with
        ``fill_value`` where no block exists); with names, the groups are those of the
        merged blocks in the order of the keys. Samples of the merged block are the union of
        the samples (sorted when ``sort_samples``, else in order of first appearance); rows
        missing from a block are filled with ``fill_value``. Gradients are merged the same way.
        """
        return _keys_to_properties(self, keys_to_move, fill_value, sort_samples)

    def keys_to_samples(self, keys_to_move, *, sort_samples=True):
        """Move the key dimensions ``keys_to_move`` to the end of the samples, concatenating
        the blocks that then share a key (their components and properties must agree). With
        ``sort_samples``, the merged samples (and gradient samples) are sorted."""
        return _keys_to_samples(self, keys_to_move, sort_samples)

    def components_to_properties(self, dimensions):
        """Move the component dimensions ``dimensions`` to the front of the properties (the
        moved components vary slowest), in every block and its gradients."""
        return _components_to_properties(self, dimensions)


def _describe_key(keys, index):
    return "(" + ", ".join(f"{n}={v}" for n, v in zip(keys.names, keys.values[index])) + ")"


def _check_consistent_blocks(keys, blocks):
    first = blocks[0]
    sample_names = first.samples.names
    component_names = [c.names[0] for c in first.components]
    property_names = first.properties.names
    gradients = sorted(first.gradients_list())
    backend = first.array_backend
    device = str(first.device)
    gradient_meta = {
        p: (g.samples.names, [c.names[0] for c in g.components]) for p, g in first.gradients()
    }
    for i, block in enumerate(blocks[1:], start=1):
        where = f"the block for key {_describe_key(keys, i)}"
        if block.samples.names != sample_names:
            raise ValueError(
                f"{where} has sample names {block.samples.names}, but the first block has "
                f"{sample_names}: all blocks must share sample names"
            )
        names = [c.names[0] for c in block.components]
        if names != component_names:
            raise ValueError(
                f"{where} has component names {names}, but the first block has "
                f"{component_names}: all blocks must share component names"
            )
        if block.properties.names != property_names:
            raise ValueError(
                f"{where} has property names {block.properties.names}, but the first block "
                f"has {property_names}: all blocks must share property names"
            )
        if sorted(block.gradients_list()) != gradients:
            raise ValueError(
                f"{where} has gradients {sorted(block.gradients_list())}, but the first block "
                f"has {gradients}: all blocks must have the same gradient parameters"
            )
        if block.array_backend != backend:
            raise TypeError(
                f"{where} uses {block.array_backend} arrays, but the first block uses "
                f"{backend}: one TensorMap uses one array backend"
            )
        if str(block.device) != device:
            raise ValueError(
                f"{where} is on device {block.device}, but the first block is on {device}"
            )
        for parameter, gradient in block.gradients():
            meta = (gradient.samples.names, [c.names[0] for c in gradient.components])
            if meta != gradient_meta[parameter]:
                raise ValueError(
                    f"{where} has a '{parameter}' gradient with samples/components {meta}, but "
                    f"the first block has {gradient_meta[parameter]}"
                )


def _moved_names(tensor, keys_to_move):
    if isinstance(keys_to_move, Labels):
        names = keys_to_move.names
    else:
        names = _check_names(keys_to_move, "keys_to_move")
    for name in names:
        if name not in tensor.keys.names:
            raise ValueError(
                f"`keys_to_move` contains {name!r} which is not a key dimension; the key "
                f"names are {tensor.keys.names}"
            )
    if len(names) == 0:
        raise ValueError("`keys_to_move` must name at least one key dimension")
    remaining = [n for n in tensor.keys.names if n not in names]
    return names, remaining


def _group_blocks(tensor, remaining):
    """New keys and, for each, the indices of the old blocks merged into it (in key order)."""
    if len(remaining) == 0:
        return Labels.single(), [list(range(len(tensor.keys)))]
    values = tensor.keys.view(remaining).values
    unique, inverse = _unique_rows(np.ascontiguousarray(values), sort=False)
    groups = [[] for _ in range(len(unique))]
    for block_index, group in enumerate(inverse.tolist()):
        groups[group].append(block_index)
    return Labels._unchecked(remaining, unique), groups


def _merge_rows(label_values_list, sort):
    """Union of several sample arrays with, for each, the row of each entry in the union."""
    stacked = np.concatenate(label_values_list, axis=0)
    unique, inverse = _unique_rows(stacked, sort=sort)
    mappings = []
    start = 0
    for values in label_values_list:
        mappings.append(inverse[start:start + len(values)])
        start += len(values)
    return unique, mappings


def _keys_to_properties(tensor, keys_to_move, fill_value, sort_samples):
    names, remaining = _moved_names(tensor, keys_to_move)
    new_keys, groups = _group_blocks(tensor, remaining)
    moved_values = tensor.keys.view(names).values
    explicit = keys_to_move if isinstance(keys_to_move, Labels) else None

    new_blocks = []
    for group_index, group in enumerate(groups):
        blocks = [tensor._blocks[i] for i in group]
        first = blocks[0]
        for i, block in zip(group[1:], blocks[1:]):
            if block.components != first.components:
                raise ValueError(
                    f"can not move keys to properties: the block for key "
                    f"{_describe_key(tensor.keys, i)} has different components than the "
                    f"block for key {_describe_key(tensor.keys, group[0])}"
                )
        # property groups: (moved key values, old properties)
        if explicit is not None:
            for i, block in zip(group, blocks):
                if block.properties != first.properties:
                    raise ValueError(
                        "can not move keys to properties with explicit `keys_to_move` Labels: "
                        f"the block for key {_describe_key(tensor.keys, i)} has different "
                        "properties than the others"
                    )
            n_old = len(first.properties)
            position = explicit.positions(moved_values[group])
            for i, p in zip(group, position):
                if p < 0:
                    raise ValueError(
                        f"the key {_describe_key(tensor.keys, i)} is not in `keys_to_move`"
                    )
            property_values = np.concatenate(
                [
                    np.repeat(explicit.values, n_old, axis=0),
                    np.tile(first.properties.values, (len(explicit), 1)),
                ],
                axis=1,
            )
            starts = [int(p) * n_old for p in position]
        else:
            parts = []
            starts = []
            start = 0
            for i, block in zip(group, blocks):
                n_old = len(block.properties)
                parts.append(
                    np.concatenate(
                        [np.repeat(moved_values[i:i + 1], n_old, axis=0), block.properties.values],
                        axis=1,
                    )
                )
                starts.append(start)
                start += n_old
            property_values = np.concatenate(parts, axis=0)
        new_properties = Labels(names + first.properties.names, property_values)
        n_properties = len(new_properties)

        merged_samples, sample_rows = _merge_rows(
            [block.samples.values for block in blocks], sort_samples
        )
        components = first.components
        shape = (len(merged_samples), *[len(c) for c in components], n_properties)
        values = _filled(first.values, shape, fill_value)
        for block, rows, start in zip(blocks, sample_rows, starts):
            values = _assign(values, rows, start, block.values)
        new_block = TensorBlock._unchecked(
            values,
            Labels._unchecked(first.samples.names, merged_samples),
            components,
            new_properties,
        )
        for parameter, first_gradient in first.gradients():
            gradients = [block.gradient(parameter) for block in blocks]
            remapped = []
            for gradient, rows in zip(gradients, sample_rows):
                samples = gradient.samples.values.copy()
                samples[:, 0] = rows[samples[:, 0]]
                remapped.append(samples)
            # metatensor sorts gradient rows even when the samples keep their first-seen order
            merged, gradient_rows = _merge_rows(remapped, sort=True)
            gradient_shape = (len(merged), *[len(c) for c in first_gradient.components],
                              n_properties)
            gradient_values = _filled(first_gradient.values, gradient_shape, 0.0)
            for gradient, rows, start in zip(gradients, gradient_rows, starts):
                gradient_values = _assign(gradient_values, rows, start, gradient.values)
            new_gradient = TensorBlock._unchecked(
                gradient_values,
                Labels._unchecked(first_gradient.samples.names, merged),
                first_gradient.components,
                new_properties,
            )
            new_gradient._is_gradient = True
            new_block._gradients[parameter] = new_gradient
        new_blocks.append(new_block)
    return TensorMap._unchecked(new_keys, new_blocks)


def _filled(like, shape, fill_value):
    if fill_value == 0.0:
        return _backend.zeros(like, shape)
    out = _backend.empty(like, shape)
    out[...] = fill_value
    return out


def _assign(values, rows, start, source):
    """values[rows, ..., start:start + n] = source (autograd-safe for torch)."""
    n = source.shape[-1]
    index = _backend.index_array(values, rows)
    values[index, ..., start:start + n] = source
    return values


def _keys_to_samples(tensor, keys_to_move, sort_samples):
    names, remaining = _moved_names(tensor, keys_to_move)
    new_keys, groups = _group_blocks(tensor, remaining)
    moved_values = tensor.keys.view(names).values

    new_blocks = []
    for group in groups:
        blocks = [tensor._blocks[i] for i in group]
        first = blocks[0]
        for i, block in zip(group[1:], blocks[1:]):
            if block.components != first.components or block.properties != first.properties:
                raise ValueError(
                    "can not move keys to samples: the block for key "
                    f"{_describe_key(tensor.keys, i)} has different components or properties "
                    f"than the block for key {_describe_key(tensor.keys, group[0])}"
                )
        sample_values = np.concatenate(
            [
                np.concatenate(
                    [block.samples.values,
                     np.repeat(moved_values[i:i + 1], len(block.samples), axis=0)],
                    axis=1,
                )
                for i, block in zip(group, blocks)
            ],
            axis=0,
        )
        offsets = np.cumsum([0] + [len(block.samples) for block in blocks])
        values = _backend.concatenate([block.values for block in blocks], axis=0)
        if sort_samples:
            order = _lexsort_rows(sample_values)
            sample_values = sample_values[order]
            values = _backend.take(values, order, axis=0)
            new_row = np.empty_like(order)
            new_row[order] = np.arange(len(order), dtype=np.int64)
        else:
            new_row = np.arange(len(sample_values), dtype=np.int64)
        new_block = TensorBlock._unchecked(
            values,
            Labels(first.samples.names + names, sample_values),
            first.components,
            first.properties,
        )
        for parameter, first_gradient in first.gradients():
            gradients = [block.gradient(parameter) for block in blocks]
            parts = []
            for gradient, offset in zip(gradients, offsets):
                samples = gradient.samples.values.astype(np.int64)
                samples[:, 0] = new_row[samples[:, 0] + offset]
                parts.append(samples)
            gradient_samples = np.concatenate(parts, axis=0)
            gradient_values = _backend.concatenate([g.values for g in gradients], axis=0)
            if sort_samples:
                order = _lexsort_rows(gradient_samples)
                gradient_samples = gradient_samples[order]
                gradient_values = _backend.take(gradient_values, order, axis=0)
            new_gradient = TensorBlock._unchecked(
                gradient_values,
                Labels._unchecked(first_gradient.samples.names, gradient_samples),
                first_gradient.components,
                first.properties,
            )
            new_gradient._is_gradient = True
            new_block._gradients[parameter] = new_gradient
        new_blocks.append(new_block)
    return TensorMap._unchecked(new_keys, new_blocks)


def _components_to_properties(tensor, dimensions):
    dimensions = _check_names(dimensions, "dimensions")
    if len(dimensions) == 0:
        raise ValueError("`dimensions` must name at least one component")
    component_names = tensor.component_names
    for name in dimensions:
        if name not in component_names:
            raise ValueError(
                f"`dimensions` contains {name!r} which is not a component; the component "
                f"names are {component_names}"
            )

    def move(block, n_own):
        """Move the parent components ``dimensions`` (offset by the ``n_own`` gradient
        components) next to the properties and flatten them into the properties."""
        names = [c.names[0] for c in block.components]
        parent_names = names[n_own:]
        moved_axes = [1 + n_own + parent_names.index(n) for n in dimensions]
        kept_axes = [a for a in range(1, 1 + len(names)) if a not in moved_axes]
        last = len(block.values.shape) - 1
        order = [0] + kept_axes + moved_axes + [last]
        values = block.values.permute(order) if _backend.is_torch(block.values) else \
            block.values.transpose(order)
        kept_shape = [block.values.shape[a] for a in kept_axes]
        values = values.reshape(block.values.shape[0], *kept_shape, -1)
        components = [block.components[a - 1] for a in kept_axes]
        return values, components

    new_blocks = []
    for block in tensor._blocks:
        moved = [block.components[[c.names[0] for c in block.components].index(n)]
                 for n in dimensions]
        grids = np.meshgrid(*[c.values[:, 0] for c in moved], np.arange(len(block.properties)),
                            indexing="ij")
        flat = np.stack([g.reshape(-1) for g in grids], axis=1)
        property_values = np.concatenate(
            [flat[:, :-1], block.properties.values[flat[:, -1]]], axis=1
        )
        properties = Labels._unchecked(dimensions + block.properties.names, property_values)
        values, components = move(block, 0)
        new_block = TensorBlock._unchecked(values, block.samples, components, properties)
        for parameter, gradient in block.gradients():
            n_own = len(gradient.components) - len(block.components)
            gradient_values, gradient_components = move(gradient, n_own)
            new_gradient = TensorBlock._unchecked(
                gradient_values, gradient.samples, gradient_components, properties
            )
            new_gradient._is_gradient = True
            new_block._gradients[parameter] = new_gradient
        new_blocks.append(new_block)
    return TensorMap._unchecked(tensor.keys, new_blocks)
