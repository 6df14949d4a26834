"""The public random-map helpers of blocktensor.testing, and core round trips driven by
them (archives, key moves, backend conversion)."""

import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings, HealthCheck

import blocktensor
from blocktensor import Labels, TensorBlock, TensorMap, load_buffer, save_buffer
from blocktensor.operations import remove_dimension, slice, slice_block, sort
from blocktensor.testing import (
    RESERVED_NAMES,
    assert_blocks_equal,
    assert_tensor_maps_equal,
    labels,
    names,
    random_tensor_map,
    tensor_blocks,
    tensor_maps,
)

PROPERTY_SETTINGS = settings(max_examples=25, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


def _rebuild_checked(tensor):
    """The same map through the checked constructors, so that any invalid metadata fails."""
    blocks = []
    for block in tensor.blocks():
        new = TensorBlock(block.values, Labels(block.samples.names, block.samples.values),
                          block.components, block.properties)
        for parameter, gradient in block.gradients():
            new.add_gradient(parameter, TensorBlock(
                gradient.values, Labels(gradient.samples.names, gradient.samples.values),
                gradient.components, gradient.properties))
        blocks.append(new)
    return TensorMap(Labels(tensor.keys.names, tensor.keys.values), blocks)


# --------------------------------------------------------------------------- generators
@PROPERTY_SETTINGS
@given(tensor_maps())
def test_strategy_generates_valid_maps(tensor):
    assert_tensor_maps_equal(_rebuild_checked(tensor), tensor)
    all_names = tensor.keys.names + tensor.sample_names + tensor.component_names + \
        tensor.property_names
    assert not set(all_names) & set(RESERVED_NAMES)
    assert tensor.array_backend in ("numpy", "torch")
    assert str(tensor.dtype) in ("float64", "float32", "torch.float64", "torch.float32")


@settings(max_examples=10, deadline=None)
@given(labels(min_entries=1), names(2, 4), tensor_blocks(arrays="torch", gradients=["strain"]))
def test_other_strategies(entries, dimension_names, block):
    assert len(entries) >= 1 and Labels(entries.names, entries.values) == entries
    assert len(set(dimension_names)) == len(dimension_names)
    assert isinstance(block.values, torch.Tensor)
    assert block.gradient("strain").samples.names == ["sample"]


def test_random_tensor_map_is_reproducible_and_configurable():
    assert_tensor_maps_equal(random_tensor_map(7), random_tensor_map(7))
    tensor = random_tensor_map(7, arrays="torch", dtype="float32", n_keys=3,
                               key_names=["center_type"], sample_names=["system", "atom"],
                               component_names=["o3_mu"], property_names=["n"],
                               gradients=["positions", "strain"])
    assert len(tensor.keys) == 3 and tensor.keys.names == ["center_type"]
    assert tensor.dtype == torch.float32
    assert tensor.component_names == ["o3_mu"]
    assert sorted(tensor.gradients_list()) == ["positions", "strain"]
    assert_tensor_maps_equal(_rebuild_checked(tensor), tensor)
    with pytest.raises(ValueError, match="`gradients` must contain parameters among"):
        random_tensor_map(0, gradients=["cell"])
    with pytest.raises(ValueError, match="`arrays` must be 'numpy' or 'torch'"):
        random_tensor_map(0, arrays="jax")


def test_random_tensor_map_works_without_hypothesis(monkeypatch):
    import importlib

    import blocktensor.testing as testing

    try:
        with monkeypatch.context() as patch:
            # a None entry in sys.modules makes any import of hypothesis fail
            patch.setitem(sys.modules, "hypothesis", None)
            patch.setitem(sys.modules, "hypothesis.strategies", None)
            reloaded = importlib.reload(testing)
            assert len(reloaded.random_tensor_map(1, n_keys=2).keys) == 2
            with pytest.raises(ImportError, match="need hypothesis"):
                reloaded.tensor_maps()
    finally:
        importlib.reload(testing)


def test_assert_helpers_name_the_difference():
    tensor = random_tensor_map(3, n_keys=1, gradients=["positions"], allow_empty=False)
    other = tensor.copy()
    other.block(0).values[0, ...] += 1.0
    with pytest.raises(AssertionError, match="values differ at"):
        assert_tensor_maps_equal(tensor, other)
    assert_tensor_maps_equal(tensor, other, atol=1.5)
    with pytest.raises(AssertionError, match="numpy.*against Tensor|ndarray values against"):
        assert_blocks_equal(tensor.block(0), tensor.to(arrays="torch").block(0))


# --------------------------------------------------------------------------- core round trips
@PROPERTY_SETTINGS
@given(tensor_maps())
def test_archive_round_trip_is_exact(tensor):
    loaded = load_buffer(save_buffer(tensor), arrays=tensor.array_backend)
    assert_tensor_maps_equal(loaded, tensor)


@PROPERTY_SETTINGS
@given(tensor_maps())
def test_numpy_torch_round_trip(tensor):
    other = "torch" if tensor.array_backend == "numpy" else "numpy"
    converted = tensor.to(arrays=other)
    assert converted.array_backend == other
    assert_tensor_maps_equal(converted.to(arrays=tensor.array_backend), tensor)


def _without_dimension(block, axis, name):
    wrapped = remove_dimension(TensorMap(Labels.single(), [block]), axis, name)
    return wrapped.block()


def _key_selection(tensor, key, moved):
    remaining = [n for n in tensor.keys.names if n != moved]
    return {n: key[n] for n in remaining}


@PROPERTY_SETTINGS
@given(tensor_maps(max_components=0))
def test_keys_to_samples_round_trip(tensor):
    # blocks merged along samples must share properties: keep the common ones, sorted
    tensor = sort(tensor, "properties")
    common = tensor.block(0).properties
    for block in tensor.blocks()[1:]:
        common = common.intersection(block.properties)
    tensor = slice(tensor, "properties", common)
    moved = tensor.keys.names[-1]
    for sort_samples in (False, True):
        merged = tensor.keys_to_samples(moved, sort_samples=sort_samples)
        for key, block in tensor.items():
            selection = _key_selection(tensor, key, moved)
            merged_block = merged.block(selection) if selection else merged.block()
            back = slice_block(merged_block, "samples", Labels([moved], [[key[moved]]]))
            back = _without_dimension(back, "samples", moved)
            expected = sort(TensorMap(Labels.single(), [block]), "samples").block() \
                if sort_samples else block
            assert_blocks_equal(back, expected)


@PROPERTY_SETTINGS
@given(tensor_maps(max_components=0))
def test_keys_to_properties_round_trip(tensor):
    moved = tensor.keys.names[0]
    merged = tensor.keys_to_properties(moved)
    for key, block in tensor.items():
        selection = _key_selection(tensor, key, moved)
        merged_block = merged.block(selection) if selection else merged.block()
        back = slice_block(merged_block, "properties", Labels([moved], [[key[moved]]]))
        back = _without_dimension(back, "properties", moved)
        back = slice_block(back, "samples", block.samples)
        expected = sort(TensorMap(Labels.single(), [block]), "samples").block()
        assert back.samples == expected.samples
        assert back.properties == expected.properties
        np.testing.assert_array_equal(blocktensor._backend.to_numpy(back.values),
                                      blocktensor._backend.to_numpy(expected.values))
        for parameter, gradient in expected.gradients():
            # merged gradients may hold rows of other blocks' samples: zero here
            found = back.gradient(parameter)
            rows = found.samples.positions(gradient.samples)
            assert np.all(rows >= 0)
            found_values = blocktensor._backend.to_numpy(found.values)
            np.testing.assert_array_equal(found_values[rows],
                                          blocktensor._backend.to_numpy(gradient.values))
            others = np.setdiff1d(np.arange(len(found.samples)), rows)
            assert np.all(found_values[others] == 0)
