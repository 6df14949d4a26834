import os

import numpy as np
import pytest
from hypothesis import given

from blocktensor import Labels, TensorBlock, TensorMap
from blocktensor.operations import unique_metadata, unique_metadata_block
from blocktensor.testing import tensor_maps

try:
    from .fd_utils import build_map
except ImportError:
    from fd_utils import build_map

from .references import PROPERTY_SETTINGS, DATA, reference  # noqa: F401
from blocktensor import load_labels


@pytest.mark.parametrize("name", [
    "unique_metadata_samples", "unique_metadata_properties", "unique_metadata_gradient",
])
def test_matches_metatensor(name, backend):
    arrays, device = backend
    args, kwargs, entry = reference(name, arrays, device)
    result = unique_metadata(*args, **kwargs)
    assert result == load_labels(os.path.join(DATA, entry["output"]))


def test_block_version_and_order():
    block = TensorBlock(np.zeros((4, 1)), Labels(["system", "atom"],
                        [[2, 0], [0, 3], [2, 1], [0, 0]]), [], Labels.range("n", 1))
    result = unique_metadata_block(block, "samples", ["atom", "system"])
    assert result.names == ["atom", "system"]
    assert result.values.tolist() == [[0, 0], [0, 2], [1, 2], [3, 0]]
    assert unique_metadata_block(block, "samples", ("system",))["system"].tolist() == [0, 2]


def test_empty_results_keep_the_names():
    empty = TensorBlock(np.zeros((0, 1)), Labels.empty(["system"]), [], Labels.range("n", 1))
    result = unique_metadata(TensorMap(Labels.single(), [empty]), "samples", "system")
    assert result.names == ["system"] and len(result) == 0
    no_blocks = TensorMap(Labels.empty(["key"]), [])
    assert len(unique_metadata(no_blocks, "properties", "n")) == 0


def test_validation_messages():
    tensor = build_map()
    with pytest.raises(ValueError, match="`names` in 'unique_metadata' contains 'foo' which is "
                                         "not one of the samples names"):
        unique_metadata(tensor, "samples", "foo")
    with pytest.raises(ValueError, match="`axis` in 'unique_metadata' must be 'samples' or"):
        unique_metadata(tensor, "keys", "center_type")
    with pytest.raises(TypeError, match="`names` in 'unique_metadata_block' must be a string"):
        unique_metadata_block(tensor.block(0), "samples", 3)
    with pytest.raises(ValueError, match="no gradient with respect to 'strain'"):
        unique_metadata(tensor, "samples", "atom", gradient="strain")


@PROPERTY_SETTINGS
@given(tensor_maps(max_keys=3))
def test_union_of_block_metadata(tensor):
    names = tensor.sample_names
    result = unique_metadata(tensor, "samples", names)
    expected = set()
    for block in tensor.blocks():
        expected |= {tuple(row) for row in block.samples.values.tolist()}
    assert [tuple(row) for row in result.values.tolist()] == sorted(expected)
