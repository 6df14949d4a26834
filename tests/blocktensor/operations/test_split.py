
import numpy as np
import pytest
from hypothesis import given

import blocktensor
from blocktensor import Labels
from blocktensor.operations import join, slice_block, split, split_block, unique_metadata
from blocktensor.testing import assert_tensor_maps_equal, assert_blocks_equal, tensor_maps

from .fd_utils import build_map, check_fd

from .references import PROPERTY_SETTINGS, reference, expected_map  # noqa: F401


@pytest.mark.parametrize("name", ["split_samples", "split_properties"])
def test_matches_metatensor(name, backend):
    arrays, device = backend
    args, kwargs, entry = reference(name, arrays, device)
    result = split(*args, **kwargs)
    assert len(result) == len(entry["output"])
    for index, part in enumerate(result):
        assert_tensor_maps_equal(part, expected_map(entry, arrays, device, index))


def test_gradients_follow_split():
    check_fd(lambda a: split(a, "samples", [Labels("system", [[1]]),
                                             Labels("atom", [[0], [2]])])[0])
    check_fd(lambda a: split(a, "samples", [Labels("system", [[1]]),
                                             Labels("atom", [[0], [2]])])[1])


def test_mixed_selections_and_block_version():
    tensor = build_map()
    parts = split(tensor, "properties", [[2, 0], np.array([1]), Labels("n", [[1], [2]])])
    assert [part.block(0).properties["n"].tolist() for part in parts] == [[0, 2], [1], [1, 2]]
    block = tensor.block(0)
    pieces = split_block(block, "samples", [Labels("system", [[0]]), [1, 0]])
    assert_blocks_equal(pieces[0], slice_block(block, "samples", Labels("system", [[0]])))
    assert pieces[1].samples.values.tolist() == block.samples.values[[1, 0]].tolist()


def test_validation_messages():
    tensor = build_map()
    with pytest.raises(TypeError, match="`selections` in 'split' must be a list"):
        split(tensor, "samples", Labels("system", [[0]]))
    with pytest.raises(ValueError, match=r"`selections\[1\]` in 'split' uses the dimension 'n'"):
        split(tensor, "samples", [Labels("system", [[0]]), Labels("n", [[0]])])
    with pytest.raises(ValueError, match="`axis` in 'split_block'"):
        split_block(tensor.block(0), "keys", [])
    with pytest.raises(TypeError, match=r"`selections\[0\]` in 'split_block' must be Labels"):
        split_block(tensor.block(0), "samples", ["a"])


@PROPERTY_SETTINGS
@given(tensor_maps(max_keys=3))
def test_partition_of_samples_keeps_every_row(tensor):
    # every sample lands in exactly one part, with its values and gradient rows
    first = tensor.sample_names[0]
    values = unique_metadata(tensor, "samples", first)[first]
    parts = split(tensor, "samples", [Labels([first], values[0::2].reshape(-1, 1)),
                                      Labels([first], values[1::2].reshape(-1, 1))])
    joined = join(parts, "samples", add_dimension="tensor")
    for key, block in tensor.items():
        merged = joined.block(key)
        assert len(merged.samples) == len(block.samples)
        rows = block.samples.positions(merged.samples.view(block.samples.names).values)
        np.testing.assert_array_equal(
            blocktensor._backend.to_numpy(merged.values),
            blocktensor._backend.to_numpy(block.values)[rows])
        for parameter, gradient in block.gradients():
            assert len(merged.gradient(parameter).samples) == len(gradient.samples)
