import os

import ase
import ase.build
import numpy as np
import pytest
import torch

from calculators.neighbor_list_calculator import NeighborList
from calculators.system import System

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "neighbor_list_reference.npz")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def reference_systems():
    # must stay identical to tests/data/generate_neighbor_list.py
    rng = np.random.default_rng(12)
    bulk = ase.build.bulk("NaCl", "rocksalt", a=5.6, cubic=True)
    bulk.positions += rng.normal(scale=0.1, size=bulk.positions.shape)
    molecule = ase.build.molecule("CH3CH2OH")
    triclinic = ase.Atoms(
        "HOCO",
        positions=rng.uniform(0, 4, size=(4, 3)),
        cell=[[4.5, 0, 0], [0.8, 4.2, 0], [0.3, -0.5, 4.4]],
        pbc=True,
    )
    return [bulk, molecule, triclinic]


@pytest.mark.parametrize("case, full", [("full", True), ("half", False)])
def test_matches_featomic(case, full):
    reference = np.load(DATA)
    result = NeighborList(cutoff=2.9, full_neighbor_list=full).compute(
        reference_systems(), gradients=["positions"]
    )
    np.testing.assert_array_equal(result.keys.values, reference[f"{case}/keys"])
    assert result.keys.names == ["first_atom_type", "second_atom_type"]
    for b, block in enumerate(result.blocks()):
        assert block.samples.names == [
            "system", "first_atom", "second_atom", "cell_shift_a", "cell_shift_b", "cell_shift_c"
        ]
        assert block.components[0].names == ["pair_xyz"] and block.properties.names == ["distance"]
        # same pairs; we sort samples, featomic keeps its internal order: align rows
        ours = block.samples.values
        theirs = reference[f"{case}/{b}/samples"]
        assert sorted(map(tuple, ours.tolist())) == sorted(map(tuple, theirs.tolist()))
        np.testing.assert_array_equal(ours, theirs[np.lexsort(theirs.T[::-1])])
        position = {tuple(row): i for i, row in enumerate(ours.tolist())}
        to_ours = np.array([position[tuple(row)] for row in theirs.tolist()])
        np.testing.assert_allclose(
            block.values.numpy()[to_ours], reference[f"{case}/{b}/values"], atol=1e-12
        )
        gradient = block.gradient("positions")
        assert gradient.samples.names == ["sample", "system", "atom"]
        assert [c.names[0] for c in gradient.components] == ["xyz", "pair_xyz"]
        their_gradient_samples = reference[f"{case}/{b}/gradient_samples"].copy()
        their_gradient_samples[:, 0] = to_ours[their_gradient_samples[:, 0]]
        expected = {
            tuple(row): value
            for row, value in zip(their_gradient_samples.tolist(), reference[f"{case}/{b}/gradient_values"])
        }
        assert len(expected) == len(gradient.samples)
        for row, value in zip(gradient.samples.values.tolist(), gradient.values.numpy()):
            np.testing.assert_array_equal(value, expected[tuple(row)])


@pytest.mark.parametrize("device", DEVICES)
def test_gradients_agree_with_autograd(device):
    atoms = ase.Atoms("H2O", positions=[[0, 0, 0], [0.8, 0.3, 0.1], [0.1, 0.9, 0.7]],
                      cell=[[2.0, 0, 0], [0.2, 2.1, 0], [0.1, 0.3, 1.9]], pbc=True)
    system = System.from_ase(atoms, device=device)
    system.positions.requires_grad_(True)
    # large cutoff: periodic self-images included (their gradient is zero)
    result = NeighborList(cutoff=2.5, full_neighbor_list=True).compute(system, gradients=["positions"])
    for block in result.blocks():
        gradient = block.gradient("positions")
        explicit = torch.zeros((len(block.samples), 3, len(atoms), 3), dtype=torch.float64, device=device)
        # explicit[pair, pair_xyz, atom, xyz] assembled from the gradient rows
        for row, (pair, _, atom) in enumerate(gradient.samples.values.tolist()):
            explicit[pair, :, atom, :] += gradient.values[row, :, :, 0].T
        for pair in range(len(block.samples)):
            for axis in range(3):
                (grad,) = torch.autograd.grad(block.values[pair, axis, 0], system.positions, retain_graph=True)
                assert torch.allclose(grad, explicit[pair, axis])


def test_half_list_orientation_and_self_pairs():
    atoms = ase.Atoms("OH", positions=[[0, 0, 0], [0, 0, 1.0]])
    result = NeighborList(cutoff=1.5, full_neighbor_list=False, self_pairs=True).compute(atoms)
    assert result.keys.values.tolist() == [[1, 1], [1, 8], [8, 8]]
    assert result.block(1).samples.values.tolist() == [[0, 1, 0, 0, 0, 0]]
    assert result.block(1).values[0, :, 0].tolist() == [0.0, 0.0, -1.0]
    assert result.block(0).values.abs().sum() == 0


def test_errors_and_empty():
    with pytest.raises(ValueError, match="may only contain 'positions', found 'strain'"):
        NeighborList(cutoff=2.0, full_neighbor_list=True).compute(ase.Atoms("H"), gradients=["strain"])
    with pytest.raises(ValueError, match="`cutoff` must be positive"):
        NeighborList(cutoff=-1.0, full_neighbor_list=True)
    empty = NeighborList(cutoff=1.0, full_neighbor_list=True).compute(ase.Atoms("H"))
    assert len(empty.keys) == 0
