
import numpy as np
import pytest
import torch
from hypothesis import given

import blocktensor
from blocktensor import Labels, TensorBlock, TensorMap
from blocktensor.operations import join, join_blocks, sort, split
from blocktensor.testing import assert_tensor_maps_equal, tensor_maps

try:
    from .fd_utils import check_fd
except ImportError:
    from fd_utils import check_fd

from .references import BACKENDS, PROPERTY_SETTINGS, reference, expected_map  # noqa: F401


def _block(samples, properties, values, names=("system",), property_names=("n",)):
    return TensorBlock(np.asarray(values, dtype=np.float64),
                       Labels(list(names), np.asarray(samples).reshape(len(samples), -1)), [],
                       Labels(list(property_names),
                              np.asarray(properties).reshape(len(properties), -1)))


def _map(*blocks, keys=None):
    keys = Labels.range("key", len(blocks)) if keys is None else keys
    return TensorMap(keys, list(blocks))


@pytest.mark.parametrize("name", [
    "join_samples",
    "join_properties",
    "join_properties_add_dimension",
    "join_samples_add_dimension",
    "join_samples_different_keys_intersection",
    "join_samples_different_keys_union",
    "join_properties_different_keys_union",
])
def test_matches_metatensor(name, backend):
    arrays, device = backend
    args, kwargs, entry = reference(name, arrays, device)
    result = join(*args, **kwargs)
    assert_tensor_maps_equal(result, expected_map(entry, arrays, device))


@pytest.mark.parametrize("name", ["join_samples_same_values", "join_properties_same_values"])
def test_colliding_entries_need_add_dimension(name):
    args, kwargs, _ = reference(name)
    with pytest.raises(ValueError, match="is present in input 0 and in input 1.*add_dimension"):
        join(*args, **kwargs)


def test_different_keys_error():
    args, kwargs, _ = reference("join_samples_different_keys_error")
    with pytest.raises(blocktensor.operations.NotEqualError, match="same keys"):
        join(*args, **kwargs)


def test_gradient_rows_follow_joined_samples():
    # finite differences of the joined values against the re-indexed gradient rows
    check_fd(lambda a, b: join([a, b], "samples", add_dimension="tensor"), n_inputs=2)
    check_fd(lambda a, b: join([a, b], "properties", add_dimension="tensor"), n_inputs=2)
    check_fd(lambda a, b: join([a, b], "samples", add_dimension="tensor", sort_samples=True),
             n_inputs=2)


def test_properties_join_fills_missing_gradient_rows():
    first = _block([[0], [1]], [[0]], [[1.0], [2.0]])
    second = _block([[0], [1]], [[1]], [[3.0], [4.0]])
    first.add_gradient("positions", TensorBlock(
        np.array([[10.0], [11.0]]), Labels(["sample", "atom"], [[0, 0], [1, 1]]), [],
        first.properties))
    second.add_gradient("positions", TensorBlock(
        np.array([[20.0], [21.0]]), Labels(["sample", "atom"], [[1, 1], [1, 5]]), [],
        second.properties))
    joined = join_blocks([first, second], "properties")
    gradient = joined.gradient("positions")
    assert gradient.samples.values.tolist() == [[0, 0], [1, 1], [1, 5]]
    assert gradient.values.tolist() == [[10.0, 0.0], [11.0, 20.0], [0.0, 21.0]]


def test_different_property_names_give_joined_index():
    first = _map(_block([[0]], [[0], [1]], [[1.0, 2.0]]))
    second = _map(_block([[0]], [[5, 5]], [[3.0]], property_names=("a", "b")))
    joined = join([first, second], "properties")
    properties = joined.block().properties
    assert properties.names == ["joined_index", "property"]
    assert properties.values.tolist() == [[0, 0], [0, 1], [1, 0]]
    with pytest.raises(ValueError, match="different property names"):
        join([first, second], "properties", add_dimension="tensor")


def test_join_along_keys():
    first = _map(_block([[0]], [[0]], [[1.0]]), _block([[1]], [[0]], [[2.0]]))
    second = _map(_block([[4]], [[0]], [[3.0]]))
    joined = join([first, second], "keys", add_dimension="tensor")
    assert joined.keys.names == ["key", "tensor"]
    assert joined.keys.values.tolist() == [[0, 0], [1, 0], [0, 1]]
    assert joined.block(key=0, tensor=1).values.tolist() == [[3.0]]
    with pytest.raises(ValueError, match=r"key \(key=0\) is present in input 0 and in input 1"):
        join([first, second], "keys")
    moved = _map(_block([[4]], [[0]], [[3.0]]), keys=Labels("key", [[7]]))
    assert join([first, moved], "keys").keys["key"].tolist() == [0, 1, 7]
    other = _map(_block([[4]], [[0]], [[3.0]], names=("atom",)), keys=Labels("key", [[7]]))
    with pytest.raises(ValueError, match="sample names"):
        join([first, other], "keys")


def test_sort_samples_and_single_input():
    first = _map(_block([[3], [1]], [[0]], [[3.0], [1.0]]))
    second = _map(_block([[2]], [[0]], [[2.0]]))
    joined = join([first, second], "samples", sort_samples=True)
    assert joined.block().samples["system"].tolist() == [1, 2, 3]
    assert joined.block().values[:, 0].tolist() == [1.0, 2.0, 3.0]
    # one input still gets the requested dimension, so the names never depend on the count
    single = join([first], "samples", add_dimension="tensor")
    assert single.block().samples.names == ["system", "tensor"]


@pytest.mark.parametrize("device", [d for a, d in BACKENDS if a == "torch"])
def test_autograd_flows_through_join(device):
    values = torch.arange(4.0, dtype=torch.float64, device=device).reshape(2, 2)
    values.requires_grad_(True)
    block = TensorBlock(values, Labels.range("system", 2), [], Labels.range("n", 2))
    tensor = TensorMap(Labels.single(), [block])
    joined = join([tensor, tensor], "samples", add_dimension="tensor")
    weights = torch.arange(8.0, dtype=torch.float64, device=device).reshape(4, 2)
    (joined.block().values * weights).sum().backward()
    assert values.grad.tolist() == (weights[:2] + weights[2:]).tolist()


def test_validation_messages():
    tensor = _map(_block([[0]], [[0]], [[1.0]]))
    with pytest.raises(TypeError, match="`tensors` in 'join' must be a list"):
        join(tensor, "samples")
    with pytest.raises(ValueError, match="at least one"):
        join([], "samples")
    with pytest.raises(TypeError, match=r"`tensors\[1\]`"):
        join([tensor, tensor.block()], "samples")
    with pytest.raises(ValueError, match="`axis` in 'join'.*'components'"):
        join([tensor, tensor], "components")
    with pytest.raises(ValueError, match="`different_keys`.*'all'"):
        join([tensor, tensor], "samples", different_keys="all")
    with pytest.raises(ValueError, match="already one of the sample names"):
        join([tensor, tensor], "samples", add_dimension="system")
    float32 = tensor.to(dtype=np.float32)
    with pytest.raises(TypeError, match="dtype float32"):
        join([tensor, float32], "samples", add_dimension="tensor")
    with pytest.raises(TypeError, match="torch arrays"):
        join([tensor, tensor.to(arrays="torch")], "samples", add_dimension="tensor")
    shifted = _map(_block([[5]], [[3]], [[1.0]]))
    with pytest.raises(ValueError, match=r"same properties.*\(input 1 for key \(key=0\)\)"):
        join([tensor, shifted], "samples")


@PROPERTY_SETTINGS
@given(tensor_maps(max_keys=3))
def test_split_then_join_is_identity(tensor):
    for axis in ("samples", "properties"):
        ordered = sort(tensor, axis)
        labels = [block.samples if axis == "samples" else block.properties
                  for block in ordered.blocks()]
        first = labels[0].names[0]
        values = np.unique(np.concatenate([entries.column(first) for entries in labels]))
        # contiguous groups of the first dimension, so that joining keeps the sorted order
        cut = len(values) // 2
        selections = [Labels([first], values[:cut].reshape(-1, 1)),
                      Labels([first], values[cut:].reshape(-1, 1))]
        parts = split(ordered, axis, selections)
        joined = join(parts, axis)
        assert_tensor_maps_equal(joined, ordered)
