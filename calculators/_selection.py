"""``selected_samples`` given per block, as a :class:`~blocktensor.TensorMap` (featomic's
second form of the argument): the calculation runs on the union of the selected samples,
and each output block keeps the samples of its own selection block."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from blocktensor import Labels, TensorMap, unique_rows
from blocktensor.operations import slice_block


def split_sample_selection(selected_samples) -> Tuple[Optional[Labels], Optional[TensorMap]]:
    """``(labels to compute, per-block selection)``: a TensorMap selection becomes the
    union of its blocks' samples plus the map itself; anything else is returned as is."""
    if not isinstance(selected_samples, TensorMap):
        return selected_samples, None
    names = selected_samples.sample_names
    values = [block.samples.values for block in selected_samples.blocks()]
    union, _ = unique_rows(np.concatenate(values, axis=0).reshape(-1, len(names)))
    return Labels(names, union, assume_unique=True), selected_samples


def select_samples_per_block(output: TensorMap, selection: TensorMap) -> TensorMap:
    """Each block of ``output`` restricted to the samples of the block of ``selection``
    with the same key; the keys of both must be the same (in any order)."""
    if selection.keys.names != output.keys.names:
        raise ValueError(
            "`selected_samples` as a TensorMap must have the keys of the output, "
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
            "`selected_samples` as a TensorMap must have one block per output key: "
            + culprit
        )
    blocks = []
    for block, position in zip(output.blocks(), positions.tolist()):
        blocks.append(slice_block(block, "samples", selection.block_by_id(position).samples))
    return TensorMap(output.keys, blocks)
