
import numpy as np
import pytest
import torch

from blocktensor import Labels, TensorBlock, TensorMap
from blocktensor.operations import block_from_array, drop_blocks, drop_empty_blocks, filter_blocks
from blocktensor.testing import assert_tensor_maps_equal

try:
    from .fd_utils import build_map
except ImportError:
    from fd_utils import build_map

from .references import BACKENDS, reference, expected_map  # noqa: F401


@pytest.mark.parametrize("name,function", [
    ("drop_blocks", drop_blocks),
    ("drop_blocks_partial_key", drop_blocks),
    ("filter_blocks", filter_blocks),
])
def test_matches_metatensor(name, function, backend):
    arrays, device = backend
    args, kwargs, entry = reference(name, arrays, device)
    assert_tensor_maps_equal(function(*args, **kwargs), expected_map(entry, arrays, device))
    assert_tensor_maps_equal(function(*args, **kwargs, copy=True),
                             expected_map(entry, arrays, device))


def test_copy_or_share():
    tensor = build_map(arrays="torch")
    shared = filter_blocks(tensor, Labels("center_type", [[1]]))
    copied = filter_blocks(tensor, Labels("center_type", [[1]]), copy=True)
    assert shared.block(0).values is tensor.block(0).values
    assert copied.block(0).values.data_ptr() != tensor.block(0).values.data_ptr()
    assert_tensor_maps_equal(shared, copied)
    # new block objects: adding a gradient to the result leaves the input alone
    shared.block(0).add_gradient("strain", TensorBlock(
        torch.zeros((0, 3, 3), dtype=torch.float64),
        Labels.empty(["sample"]), shared.block(0).components, shared.block(0).properties))
    assert tensor.block(0).gradients_list() == ["positions"]


def test_drop_and_filter_partition_the_blocks():
    tensor = build_map()
    selection = Labels("center_type", [[6], [99]])
    kept = filter_blocks(tensor, selection)
    dropped = drop_blocks(tensor, selection)
    assert kept.keys["center_type"].tolist() == [6]
    assert dropped.keys["center_type"].tolist() == [1]
    assert len(drop_blocks(tensor, tensor.keys).keys) == 0
    assert drop_blocks(tensor, tensor.keys).keys.names == ["center_type"]


def test_drop_empty_blocks():
    full = TensorBlock(np.ones((2, 1)), Labels.range("s", 2), [], Labels.range("p", 1))
    no_samples = TensorBlock(np.ones((0, 1)), Labels.empty(["s"]), [], Labels.range("p", 1))
    no_properties = TensorBlock(np.ones((2, 0)), Labels.range("s", 2), [], Labels.empty(["p"]))
    tensor = TensorMap(Labels.range("key", 3), [no_samples, full, no_properties])
    assert drop_empty_blocks(tensor).keys["key"].tolist() == [1]


def test_validation_messages():
    tensor = build_map()
    with pytest.raises(TypeError, match="`keys` in 'drop_blocks' must be Labels"):
        drop_blocks(tensor, {"center_type": 1})
    with pytest.raises(ValueError, match="dimension 'species' which is not one of the key"):
        filter_blocks(tensor, Labels("species", [[1]]))
    with pytest.raises(TypeError, match="`copy` in 'drop_empty_blocks' must be a bool"):
        drop_empty_blocks(tensor, copy=1)
    with pytest.raises(TypeError, match="`tensor` in 'filter_blocks' must be a TensorMap"):
        filter_blocks(tensor.block(0), Labels("center_type", [[1]]))


@pytest.mark.parametrize("arrays,device", BACKENDS)
def test_block_from_array(arrays, device):
    values = np.arange(2 * 3 * 5 * 4, dtype=np.float64).reshape(2, 3, 5, 4)
    if arrays == "torch":
        values = torch.from_numpy(values).to(device)
    block = block_from_array(values)
    assert block.samples.names == ["sample"]
    assert [c.names[0] for c in block.components] == ["component_1", "component_2"]
    assert block.properties.values[:, 0].tolist() == [0, 1, 2, 3]
    assert block.values is values
    grouped = block_from_array(values, sample_names=["a", "b"], property_names=["x", "y"])
    assert grouped.samples.values.tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    assert grouped.properties.values.tolist() == [[0, 0], [0, 1], [0, 2], [0, 3], [1, 0],
                                                  [1, 1], [1, 2], [1, 3], [2, 0], [2, 1],
                                                  [2, 2], [2, 3], [3, 0], [3, 1], [3, 2],
                                                  [3, 3], [4, 0], [4, 1], [4, 2], [4, 3]]
    assert tuple(grouped.values.shape) == (6, 20)
    assert grouped.values[4, 7] == values[1, 1, 1, 3]


def test_block_from_array_validation():
    with pytest.raises(ValueError, match="at least two dimensions, got shape \\(3,\\)"):
        block_from_array(np.zeros(3))
    with pytest.raises(TypeError, match="numpy array or a torch tensor, got list"):
        block_from_array([[1.0]])
    with pytest.raises(ValueError, match="too few dimensions for 2 sample and 1 property"):
        block_from_array(np.zeros((2, 2)), sample_names=["a", "b"])
    with pytest.raises(ValueError, match="leave 1 component axes, but 2 component names"):
        block_from_array(np.zeros((2, 2, 2)), component_names=["a", "b"])
