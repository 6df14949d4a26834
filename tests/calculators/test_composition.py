"""AtomicComposition against featomic 0.6.7 (``tests/data/generate_power_spectrum.py``)."""

import json
import os

import ase
import numpy as np
import pytest
import torch

import blocktensor
from calculators.composition import AtomicComposition
from calculators.system import System

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "power_spectrum")
NAMES = ["methanol", "water_methane", "nacl", "silicon"]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

with open(os.path.join(DATA, "structures.json")) as _file:
    STRUCTURES = json.load(_file)


def structure(name):
    data = STRUCTURES[name]
    return ase.Atoms(numbers=data["numbers"], positions=data["positions"],
                     cell=data["cell"], pbc=data["pbc"])


def assert_same(mine, expected):
    assert mine.keys == expected.keys
    for (key, block), (_, ref) in zip(mine.items(), expected.items()):
        assert block.samples == ref.samples, key
        assert block.properties == ref.properties
        np.testing.assert_array_equal(block.values.cpu().numpy(), ref.values)
        assert sorted(block.gradients_list()) == sorted(ref.gradients_list())
        for parameter, ref_gradient in ref.gradients():
            gradient = block.gradient(parameter)
            assert gradient.samples == ref_gradient.samples
            assert [c.names for c in gradient.components] == [
                c.names for c in ref_gradient.components
            ]
            np.testing.assert_array_equal(gradient.values.cpu().numpy(), ref_gradient.values)


@pytest.mark.parametrize("per_system", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_matches_featomic(name, per_system):
    atoms = structure(name)
    gradients = ["positions"] + (["strain"] if atoms.pbc.any() else [])
    suffix = "per_system" if per_system else "per_atom"
    expected = blocktensor.load(os.path.join(DATA, f"{name}_composition_{suffix}.mts"))
    assert_same(AtomicComposition(per_system=per_system).compute(atoms, gradients=gradients),
                expected)


@pytest.mark.parametrize("device", DEVICES)
def test_several_systems(device):
    frames = [structure("methanol"), structure("silicon"), structure("water_methane")]
    systems = [System.from_ase(atoms, device=device, dtype=torch.float32) for atoms in frames]
    per_system = AtomicComposition(per_system=True).compute(systems, gradients=["cell"])
    assert per_system.keys.values.ravel().tolist() == [1, 6, 8, 14]
    counts = torch.cat([block.values for block in per_system.blocks()], dim=1)
    assert counts.dtype == torch.float32 and counts.device.type == device
    expected = [[np.sum(atoms.numbers == t) for t in (1, 6, 8, 14)] for atoms in frames]
    np.testing.assert_array_equal(counts.cpu().numpy(), expected)
    # the per-atom counts sum, over each system, to the per-system counts
    per_atom = AtomicComposition(per_system=False).compute(systems)
    for key, block in per_atom.items():
        totals = np.bincount(block.samples.column("system"), minlength=3)
        np.testing.assert_array_equal(totals, per_system.block(key).values.cpu().numpy()[:, 0])
    gradient = per_system.block(0).gradient("cell")
    assert [c.names[0] for c in gradient.components] == ["xyz", "abc"]
    assert gradient.values.shape == (3, 3, 3, 1) and not gradient.values.any()


def test_errors():
    with pytest.raises(TypeError, match="`per_system` must be a bool"):
        AtomicComposition(per_system=1)
    with pytest.raises(ValueError, match="`gradients` of AtomicComposition may contain"):
        AtomicComposition(per_system=True).compute(structure("methanol"), gradients=["types"])
    with pytest.raises(TypeError, match="systems\\[0\\]"):
        AtomicComposition(per_system=True).compute(["H2O"])
