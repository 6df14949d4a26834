import json
import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings, HealthCheck

import blocktensor
from blocktensor import Labels, load
from blocktensor.operations import join, slice_block, split, split_block, unique_metadata
from blocktensor.testing import assert_tensor_maps_equal, assert_blocks_equal, tensor_maps

try:
    from .fd_utils import build_map, check_fd
except ImportError:
    from fd_utils import build_map, check_fd

BACKENDS = [("numpy", None), ("torch", "cpu")] + (
    [("torch", "cuda")] if torch.cuda.is_available() else []
)
PROPERTY_SETTINGS = settings(max_examples=25, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(params=BACKENDS, ids=lambda p: f"{p[0]}-{p[1]}")
def backend(request):
    return request.param


DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data", "metatensor", "operations")
MANIFEST = os.path.join(DATA, "manifest.json")
CASES = {}
if os.path.exists(MANIFEST):
    with open(MANIFEST) as file:
        CASES = {entry["name"]: entry for entry in json.load(file)["entries"]}


def _decode(value, arrays, device):
    if isinstance(value, dict) and "__labels__" in value:
        names = value["__labels__"]["names"]
        return Labels(names, np.asarray(value["__labels__"]["values"]).reshape(-1, len(names)))
    if isinstance(value, dict) and "__tensors__" in value:
        return [load(os.path.join(DATA, f), arrays=arrays, device=device)
                for f in value["__tensors__"]]
    if isinstance(value, str) and value.endswith(".mts"):
        return load(os.path.join(DATA, value), arrays=arrays, device=device)
    if isinstance(value, list):
        return [_decode(v, arrays, device) for v in value]
    return value


def reference(name, arrays="numpy", device=None):
    """``(args, kwargs, entry)`` of a metatensor-operations reference case."""
    if name not in CASES:
        pytest.skip(f"reference case {name!r} not generated")
    entry = CASES[name]
    args = [_decode(value, arrays, device) for value in entry["inputs"]]
    kwargs = {key: _decode(value, arrays, device) for key, value in entry["kwargs"].items()}
    return args, kwargs, entry


def expected_map(entry, arrays="numpy", device=None, index=None):
    output = entry["output"] if index is None else entry["output"][index]
    return load(os.path.join(DATA, output), arrays=arrays, device=device)


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
