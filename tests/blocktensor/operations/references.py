"""Shared helpers of the operations tests: the array backends to run on and the reference
cases generated with metatensor-operations (tests/data/generate_operations.py)."""

import json
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

from blocktensor import Labels, load

BACKENDS = [("numpy", None), ("torch", "cpu")] + (
    [("torch", "cuda")] if torch.cuda.is_available() else []
)
PROPERTY_SETTINGS = settings(max_examples=25, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


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
