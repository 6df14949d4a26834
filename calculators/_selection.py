"""``selected_samples`` and ``selected_properties`` of the calculators, in featomic's two
forms: :class:`~blocktensor.Labels` (entries matching any of them, on a subset of the
names) or a :class:`~blocktensor.TensorMap` with the output's keys (each block keeps the
samples or properties of its own selection block). Samples are selected before the
calculation (it runs on the union of the selected ones); properties after it."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from blocktensor import Labels, TensorMap, unique_rows
from blocktensor.operations import slice as slice_tensor_map
from blocktensor.operations import slice_block


def with_selections(compute, selected_samples, selected_properties) -> TensorMap:
    """``compute(samples)`` (a calculation taking ``selected_samples`` as Labels or
    ``None``) run for either form of ``selected_samples``, then the per-block samples and
    the ``selected_properties`` kept: how every calculator honours both arguments."""
    selected_samples, per_block = split_sample_selection(selected_samples)
    result = compute(selected_samples)
    if per_block is not None:
        result = select_per_block(result, per_block, "samples")
    return select_properties(result, selected_properties)


def split_sample_selection(selected_samples) -> Tuple[Optional[Labels], Optional[TensorMap]]:
    """``(labels to compute, per-block selection)``: a TensorMap selection becomes the
    union of its blocks' samples plus the map itself; anything else is returned as is."""
    if not isinstance(selected_samples, TensorMap):
        return selected_samples, None
    names = selected_samples.sample_names
    values = [block.samples.values for block in selected_samples.blocks()]
    union, _ = unique_rows(np.concatenate(values, axis=0).reshape(-1, len(names)))
    return Labels(names, union, assume_unique=True), selected_samples


def select_properties(output: TensorMap, selected_properties) -> TensorMap:
    """``output`` restricted to ``selected_properties`` (``None``: all of them)."""
    if selected_properties is None:
        return output
    if isinstance(selected_properties, TensorMap):
        return select_per_block(output, selected_properties, "properties")
    if not isinstance(selected_properties, Labels):
        raise TypeError(
            "`selected_properties` must be Labels or a TensorMap, found "
            f"{type(selected_properties).__name__}"
        )
    unknown = [name for name in selected_properties.names if name not in output.property_names]
    if unknown:
        raise ValueError(
            f"`selected_properties` may only use the property names {output.property_names}, "
            f"found {unknown}"
        )
    return slice_tensor_map(output, "properties", selected_properties)


def select_per_block(output: TensorMap, selection: TensorMap, axis: str) -> TensorMap:
    """Each block of ``output`` restricted to the ``axis`` entries (``"samples"`` or
    ``"properties"``) of the block of ``selection`` with the same key; the keys of both
    must be the same (in any order)."""
    argument = f"selected_{axis}"
    if selection.keys.names != output.keys.names:
        raise ValueError(
            f"`{argument}` as a TensorMap must have the keys of the output, "
            f"{output.keys.names}, found {selection.keys.names}"
        )
    positions = selection.keys.positions(output.keys)
    missing = np.nonzero(positions < 0)[0]
    if len(missing) != 0 or len(selection.keys) != len(output.keys):
        if len(missing) != 0:
            culprit = f"the key {output.keys[int(missing[0])]} has no selection block"
        else:
            extra = np.nonzero(output.keys.positions(selection.keys) < 0)[0]
            culprit = f"the selection key {selection.keys[int(extra[0])]} is not an output key"
        raise ValueError(
            f"`{argument}` as a TensorMap must have one block per output key: " + culprit
        )
    blocks = []
    for block, position in zip(output.blocks(), positions.tolist()):
        chosen = selection.block_by_id(position)
        entries = chosen.samples if axis == "samples" else chosen.properties
        blocks.append(slice_block(block, axis, entries))
    return TensorMap(output.keys, blocks)
