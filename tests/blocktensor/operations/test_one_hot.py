import json
import os

import numpy as np
import pytest
import torch
from hypothesis import settings, HealthCheck

from blocktensor import Labels, load
from blocktensor.operations import one_hot

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


def test_matches_metatensor():
    args, kwargs, entry = reference("one_hot")
    expected = np.load(os.path.join(DATA, entry["output"]))
    result = one_hot(*args, **kwargs)
    assert result.dtype == expected.dtype
    np.testing.assert_array_equal(result, expected)


def test_rows_pick_the_position_of_their_value():
    atoms = Labels(["system", "type"], [[0, 8], [1, 1], [2, 6], [3, 8]])
    types = Labels("type", [[8], [1], [6]])
    result = one_hot(atoms, types)
    assert result.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]
    assert one_hot(Labels.empty(["type"]), types).shape == (0, 3)


def test_validation_messages():
    atoms = Labels(["atom", "type"], [[0, 8], [1, 7]])
    with pytest.raises(ValueError, match="type=7 is present in `labels` but not in `dimension`"):
        one_hot(atoms, Labels("type", [[8]]))
    with pytest.raises(ValueError, match="single dimension, got the names"):
        one_hot(atoms, atoms)
    with pytest.raises(ValueError, match="'spin', which is not one of the names"):
        one_hot(atoms, Labels("spin", [[0]]))
    with pytest.raises(TypeError, match="`labels` in 'one_hot' must be Labels"):
        one_hot(np.zeros((2, 2)), Labels("type", [[8]]))
