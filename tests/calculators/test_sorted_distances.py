"""SortedDistances against featomic 0.6.7 (``tests/data/generate_power_spectrum.py``), and
its explicit gradients (featomic has none) against finite differences and autograd."""

import json
import os

import ase
import numpy as np
import pytest
import torch

import blocktensor
from calculators.sorted_distances import SortedDistances
from calculators.system import System

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "power_spectrum")
NAMES = ["methanol", "water_methane", "nacl", "silicon"]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

with open(os.path.join(DATA, "structures.json")) as _file:
    STRUCTURES = json.load(_file)
with open(os.path.join(DATA, "hypers.json")) as _file:
    HYPERS = json.load(_file)["sorted_distances"]


def structure(name):
    data = STRUCTURES[name]
    return ase.Atoms(numbers=data["numbers"], positions=data["positions"],
                     cell=data["cell"], pbc=data["pbc"])


@pytest.mark.parametrize("separate", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_matches_featomic(name, separate):
    suffix = "sorted_distances_separate" if separate else "sorted_distances"
    expected = blocktensor.load(os.path.join(DATA, f"{name}_{suffix}.mts"))
    calculator = SortedDistances(**HYPERS, separate_neighbor_types=separate)
    result = calculator.compute(structure(name))
    assert result.keys == expected.keys
    for (key, block), (_, ref) in zip(result.items(), expected.items()):
        assert block.samples == ref.samples, key
        assert block.properties == ref.properties
        np.testing.assert_allclose(block.values.numpy(), ref.values, rtol=1e-14, atol=0)


def test_padding_and_isolated_atoms():
    atoms = ase.Atoms("HOHHe", positions=[[0, 0, 0], [0, 0, 0.97], [0, 0.9, 1.3], [0, 0, 8]])
    result = SortedDistances(cutoff=3.0, max_neighbors=3,
                             separate_neighbor_types=False).compute(atoms)
    np.testing.assert_array_equal(result.block(center_type=2).values.numpy(), [[3.0] * 3])
    separated = SortedDistances(cutoff=3.0, max_neighbors=3,
                                separate_neighbor_types=True).compute(atoms)
    # no key for helium, which has no neighbour
    assert separated.keys.values.tolist() == [[1, 1], [1, 8], [8, 1]]


def _frame_values(result, key, system, n_rows):
    block = result.block(key)
    rows = np.nonzero(block.samples.column("system") == system)[0]
    return block.values[rows].detach().numpy().reshape(n_rows, -1)


@pytest.mark.parametrize("separate", [False, True])
@pytest.mark.parametrize("name", ["water_methane", "nacl"])
def test_gradients_finite_differences(name, separate):
    atoms = structure(name)
    calculator = SortedDistances(**HYPERS, separate_neighbor_types=separate)
    gradients = ["positions"] + (["strain"] if atoms.pbc.any() else [])
    result = calculator.compute(atoms, gradients=gradients)
    step = 1e-6
    frames, directions = [], []
    for atom in range(len(atoms)):
        for xyz in range(3):
            for sign in (+1, -1):
                moved = atoms.copy()
                moved.positions[atom, xyz] += sign * step
                frames.append(moved)
            directions.append(("positions", atom, xyz))
    if atoms.pbc.any():
        for a, b in [(0, 0), (0, 2), (1, 1)]:
            for sign in (+1, -1):
                strain = np.eye(3)
                strain[a, b] += sign * step
                moved = atoms.copy()
                moved.set_cell(atoms.cell[:] @ strain)
                moved.positions = atoms.positions @ strain
                frames.append(moved)
            directions.append(("strain", a, b))
    moved = calculator.compute(frames)
    for index, (parameter, first, second) in enumerate(directions):
        for key, block in result.items():
            n_rows = len(block.samples)
            difference = (
                _frame_values(moved, key, 2 * index, n_rows)
                - _frame_values(moved, key, 2 * index + 1, n_rows)
            ) / (2 * step)
            gradient = block.gradient(parameter)
            expected = np.zeros(block.values.shape)
            values = gradient.values.numpy()
            if parameter == "positions":
                rows = np.nonzero(gradient.samples.column("atom") == first)[0]
                expected[gradient.samples.column("sample")[rows]] = values[rows, second]
            else:
                expected[gradient.samples.column("sample")] = values[:, first, second]
            np.testing.assert_allclose(difference, expected, rtol=0, atol=1e-7)


@pytest.mark.parametrize("device", DEVICES)
def test_autograd_agrees_with_explicit_gradients(device):
    atoms = structure("nacl")
    system = System.from_ase(atoms, device=device)
    system.positions.requires_grad_(True)
    result = SortedDistances(**HYPERS, separate_neighbor_types=True).compute(
        system, gradients=["positions"]
    )
    generator = torch.Generator().manual_seed(0)
    loss = 0.0
    explicit = torch.zeros((len(atoms), 3), dtype=torch.float64, device=device)
    for block in result.blocks():
        weights = torch.randn(block.values.shape, generator=generator,
                              dtype=torch.float64).to(device)
        loss = loss + (weights * block.values).sum()
        gradient = block.gradient("positions")
        atom = torch.from_numpy(gradient.samples.column("atom").astype(np.int64)).to(device)
        parent = torch.from_numpy(gradient.samples.column("sample").astype(np.int64)).to(device)
        explicit.index_add_(0, atom, (gradient.values * weights[parent][:, None, :]).sum(-1))
    (autograd,) = torch.autograd.grad(loss, system.positions)
    torch.testing.assert_close(autograd, explicit, rtol=1e-12, atol=1e-12)


def test_errors():
    with pytest.raises(ValueError, match="`cutoff` must be positive"):
        SortedDistances(cutoff=-1.0, max_neighbors=2, separate_neighbor_types=False)
    with pytest.raises(TypeError, match="`max_neighbors` must be an integer"):
        SortedDistances(cutoff=3.0, max_neighbors=2.5, separate_neighbor_types=False)
    with pytest.raises(ValueError, match="`max_neighbors` must be at least 1"):
        SortedDistances(cutoff=3.0, max_neighbors=0, separate_neighbor_types=False)
    with pytest.raises(TypeError, match="`separate_neighbor_types` must be a bool"):
        SortedDistances(cutoff=3.0, max_neighbors=2, separate_neighbor_types="yes")
    calculator = SortedDistances(cutoff=3.0, max_neighbors=2, separate_neighbor_types=False)
    with pytest.raises(ValueError, match="`gradients` of SortedDistances may contain"):
        calculator.compute(structure("methanol"), gradients=["cell"])
