
import numpy as np
import pytest
import torch
from hypothesis import given

from blocktensor import Labels, TensorBlock
from blocktensor.operations import slice, slice_block, unique_metadata
from blocktensor.testing import assert_tensor_maps_equal, tensor_maps

from .fd_utils import build_map, check_fd

from .references import PROPERTY_SETTINGS, reference, expected_map  # noqa: F401
import time


@pytest.mark.parametrize("name", ["slice_samples", "slice_properties"])
def test_matches_metatensor(name, backend):
    arrays, device = backend
    args, kwargs, entry = reference(name, arrays, device)
    assert_tensor_maps_equal(slice(*args, **kwargs), expected_map(entry, arrays, device))


def test_gradients_follow_slice():
    check_fd(lambda a: slice(a, "samples", Labels("atom", [[2], [0]])))
    check_fd(lambda a: slice(a, "samples", [1, 0]))
    check_fd(lambda a: slice(a, "properties", Labels("n", [[2], [0]])))


def test_raw_positions_order():
    block = build_map().block(0)
    # samples come out in the order of the positions, properties in block order (metatensor)
    sliced = slice_block(block, "samples", [2, 0])
    assert sliced.samples.values.tolist() == block.samples.values[[2, 0]].tolist()
    gradient = sliced.gradient("positions")
    parent_rows = gradient.samples.column("sample")
    assert set(parent_rows.tolist()) == {0, 1}
    original = block.gradient("positions")
    for row, entry in enumerate(gradient.samples.values):
        old_sample = [2, 0][entry[0]]
        old = original.samples.position([old_sample, entry[1], entry[2]])
        np.testing.assert_array_equal(gradient.values[row], original.values[old])
    assert slice_block(block, "properties", [2, 0]).properties["n"].tolist() == [0, 2]
    empty = slice_block(block, "samples", Labels("system", [[42]]))
    assert empty.values.shape[0] == 0 and len(empty.gradient("positions").samples) == 0


def test_autograd_flows_through_slice():
    values = torch.arange(6.0, dtype=torch.float64).reshape(3, 2).requires_grad_(True)
    block = TensorBlock(values, Labels.range("system", 3), [], Labels.range("n", 2))
    sliced = slice_block(block, "samples", Labels("system", [[2], [0]]))
    sliced.values.sum().backward()
    assert values.grad.tolist() == [[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]


def test_validation_messages():
    tensor = build_map()
    with pytest.raises(ValueError, match="`selection` in 'slice' uses the dimension 'n' which "
                                         "is not one of the samples names"):
        slice(tensor, "samples", Labels("n", [[0]]))
    with pytest.raises(ValueError, match="position 9, which is out of range for 3 samples"):
        slice(tensor, "samples", [0, 9])
    with pytest.raises(ValueError, match="position -1"):
        slice(tensor, "properties", [-1])
    with pytest.raises(ValueError, match="position 1 more than once"):
        slice(tensor, "samples", [1, 1])
    with pytest.raises(ValueError, match="1-D array"):
        slice(tensor, "samples", np.zeros((2, 2), dtype=int))
    with pytest.raises(TypeError, match="integer positions"):
        slice(tensor, "samples", [0.5])
    with pytest.raises(ValueError, match="`axis` in 'slice' must be 'samples' or 'properties'"):
        slice(tensor, "components", [0])
    with pytest.raises(TypeError, match="`block` in 'slice_block' must be a TensorBlock"):
        slice_block(tensor, "samples", [0])


def test_millions_of_samples_stay_fast():
    n = 2_000_000
    systems = np.repeat(np.arange(n // 20), 20)
    atoms = np.tile(np.arange(20), n // 20)
    samples = Labels(["system", "atom"], np.stack([systems, atoms], axis=1), assume_unique=True)
    block = TensorBlock(np.zeros((n, 1), dtype=np.float32), samples, [], Labels.range("n", 1))
    selection = Labels("system", np.arange(0, n // 20, 3).reshape(-1, 1))
    start = time.perf_counter()
    sliced = slice_block(block, "samples", selection)
    elapsed = time.perf_counter() - start
    assert len(sliced.samples) == 20 * len(selection)
    assert elapsed < 2.0, f"slicing 2M samples took {elapsed:.2f} s"


@PROPERTY_SETTINGS
@given(tensor_maps(max_keys=3))
def test_slice_by_everything_is_identity(tensor):
    for axis, names in (("samples", tensor.sample_names), ("properties", tensor.property_names)):
        everything = unique_metadata(tensor, axis, names)
        assert_tensor_maps_equal(slice(tensor, axis, everything), tensor)
        # a selection over only the first dimension matches everything too
        first = unique_metadata(tensor, axis, names[:1])
        assert_tensor_maps_equal(slice(tensor, axis, first), tensor)
