import json
import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings, HealthCheck

from blocktensor import Labels, TensorBlock, TensorMap, load
from blocktensor.operations import unique_metadata, unique_metadata_block
from blocktensor.testing import tensor_maps

try:
    from .fd_utils import build_map
except ImportError:
    from fd_utils import build_map

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
