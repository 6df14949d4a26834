import time

import ase
import ase.build
import numpy as np
import pytest
import torch
from ase.neighborlist import neighbor_list as ase_neighbor_list
from scipy.spatial import cKDTree
from hypothesis import given, settings
from hypothesis import strategies as st

from calculators.neighbors import (
    batched_neighbor_list,
    compute_pairs,
    neighbor_list,
    neighbor_lists,
)
from calculators.system import System

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def pair_set(i, j, S):
    return set(zip(np.asarray(i).tolist(), np.asarray(j).tolist(), map(tuple, np.asarray(S).tolist())))


def assert_matches_ase(atoms, cutoff, device="cpu"):
    i, j, S, D = ase_neighbor_list("ijSD", atoms, cutoff)
    pairs = neighbor_list(System.from_ase(atoms, device=device), cutoff)
    mine = pair_set(pairs.first_atom.cpu(), pairs.second_atom.cpu(), pairs.cell_shifts.cpu())
    assert mine == pair_set(i, j, S)
    # same order after sorting ase's output the way we promise to sort
    order = np.lexsort((S[:, 2], S[:, 1], S[:, 0], j, i))
    np.testing.assert_array_equal(pairs.first_atom.cpu().numpy(), i[order])
    np.testing.assert_array_equal(pairs.second_atom.cpu().numpy(), j[order])
    np.testing.assert_array_equal(pairs.cell_shifts.cpu().numpy(), S[order])
    np.testing.assert_allclose(pairs.vectors.cpu().numpy(), D[order], atol=1e-10)
    return pairs


@st.composite
def random_structures(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_atoms = draw(st.integers(1, 10))
    pbc = draw(st.lists(st.booleans(), min_size=3, max_size=3))
    scale = draw(st.floats(1.0, 6.0))
    cell = scale * np.eye(3) + draw(st.floats(0.0, 0.8)) * scale * rng.normal(size=(3, 3))
    unit = cell / np.linalg.norm(cell, axis=1)[:, None]
    if abs(np.linalg.det(unit)) < 0.2:  # too flat to be a reasonable cell
        cell = scale * np.eye(3)
    # fractional positions also outside [0, 1) to exercise wrapping
    fractional = rng.uniform(-1.5, 2.5, size=(n_atoms, 3))
    cutoff = draw(st.floats(0.3, 2.5)) * scale
    atoms = ase.Atoms(numbers=[1] * n_atoms, scaled_positions=fractional, cell=cell, pbc=pbc)
    return atoms, cutoff


@settings(max_examples=100, deadline=None)
@given(random_structures())
def test_random_triclinic_cells_match_ase(structure):
    atoms, cutoff = structure
    assert_matches_ase(atoms, cutoff)


@pytest.mark.parametrize("device", DEVICES)
def test_small_cell_large_cutoff_gives_many_images(device):
    atoms = ase.Atoms("Cu2", positions=[[0, 0, 0], [0.7, 0.8, 0.3]],
                      cell=[[1.5, 0, 0], [0.4, 1.3, 0], [0.2, 0.3, 1.1]], pbc=True)
    pairs = assert_matches_ase(atoms, 4.0, device)
    self_images = (pairs.first_atom == pairs.second_atom)
    assert bool(self_images.any())
    assert bool((pairs.cell_shifts[self_images] != 0).any(dim=1).all())
    assert int(pairs.cell_shifts.abs().max()) >= 3


def test_mixed_pbc_and_slab_without_third_vector():
    slab = ase.build.fcc111("Al", size=(2, 2, 3), vacuum=None, periodic=False)
    slab.cell[2] = 0.0
    slab.pbc = [True, True, False]
    slab.rattle(0.05, seed=3)
    assert_matches_ase(slab, 5.0)
    wire = ase.Atoms("C3", positions=[[0, 0, 0], [0.3, 1.2, 0.1], [0.9, -0.5, 2.0]],
                     cell=[1.4, 0, 0], pbc=[True, False, False])
    assert_matches_ase(wire, 3.0)


def test_molecule_without_cell():
    molecule = ase.build.molecule("C6H6")
    pairs = assert_matches_ase(molecule, 2.0)
    assert bool((pairs.cell_shifts == 0).all())


def test_half_list():
    atoms = ase.build.bulk("Si", "diamond", a=5.43).repeat((2, 1, 1))
    atoms.rattle(0.05, seed=0)
    system = System.from_ase(atoms)
    full = neighbor_list(system, 6.0)
    half = neighbor_list(system, 6.0, full_list=False)
    assert 2 * len(half) == len(full)
    half_set = pair_set(half.first_atom, half.second_atom, half.cell_shifts)
    mirrored = {(j, i, tuple(-s for s in S)) for i, j, S in half_set}
    assert half_set.isdisjoint(mirrored)
    assert half_set | mirrored == pair_set(full.first_atom, full.second_atom, full.cell_shifts)
    assert bool((half.first_atom <= half.second_atom).all())


def test_self_pairs_and_cutoff_strictness():
    atoms = ase.Atoms("H", cell=[2.0, 2.0, 2.0], pbc=True)
    pairs = neighbor_list(System.from_ase(atoms), 2.0)
    assert len(pairs) == 0  # images exactly at the cutoff are excluded, as in ase
    pairs = neighbor_list(System.from_ase(atoms), 2.0 + 1e-9)
    assert len(pairs) == 6
    assert pair_set(pairs.first_atom, pairs.second_atom, pairs.cell_shifts) == {
        (0, 0, s) for s in [(-1, 0, 0), (1, 0, 0), (0, -1, 0), (0, 1, 0), (0, 0, -1), (0, 0, 1)]
    }


@pytest.mark.parametrize("device", DEVICES)
def test_gradients_with_respect_to_positions_and_cell(device):
    atoms = ase.Atoms("H3", positions=[[0, 0, 0], [0.9, 0.3, 0.1], [0.2, 1.1, 0.9]],
                      cell=[[2.2, 0, 0], [0.3, 2.0, 0], [0.1, 0.2, 2.4]], pbc=True)
    system = System.from_ase(atoms, device=device)
    system.positions.requires_grad_(True)
    system.cell.requires_grad_(True)
    pairs = neighbor_list(system, 3.0)

    def energy(positions, cell):
        vectors = positions[pairs.second_atom] - positions[pairs.first_atom] + pairs.cell_shifts.to(cell.dtype) @ cell
        return torch.sum(torch.exp(-torch.linalg.vector_norm(vectors, dim=1)))

    assert torch.allclose(pairs.vectors, pairs.vectors.detach())
    torch.autograd.gradcheck(energy, (system.positions, system.cell))
    total = torch.sum(torch.exp(-pairs.distances))
    grad_positions, grad_cell = torch.autograd.grad(total, (system.positions, system.cell))
    expected = torch.autograd.grad(energy(system.positions, system.cell), (system.positions, system.cell))
    assert torch.allclose(grad_positions, expected[0]) and torch.allclose(grad_cell, expected[1])


def test_float32_gives_the_same_pairs():
    atoms = ase.build.bulk("Cu", cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.1, seed=1)
    p64 = neighbor_list(System.from_ase(atoms), 4.0)
    p32 = neighbor_list(System.from_ase(atoms, dtype=torch.float32), 4.0)
    assert torch.equal(p64.first_atom, p32.first_atom)
    assert torch.equal(p64.cell_shifts, p32.cell_shifts)
    assert p32.vectors.dtype == torch.float32


def test_overlapping_atoms_are_reported():
    atoms = [ase.Atoms("H"), ase.Atoms("H3", positions=[[0, 0, 0], [1, 0, 0], [1, 0, 0]])]
    with pytest.raises(ValueError, match=r"^system 1: atoms 1 and 2 overlap"):
        neighbor_lists(atoms, 2.0)
    periodic = ase.Atoms("H2", positions=[[0, 0, 0], [2, 0, 0]], cell=[2, 2, 2], pbc=True)
    with pytest.raises(ValueError, match="atoms 0 and 1 overlap"):
        neighbor_list(System.from_ase(periodic), 1.0)


@pytest.mark.parametrize("cutoff", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_cutoff(cutoff):
    with pytest.raises(ValueError, match="`cutoff` must be positive"):
        neighbor_list(System.from_ase(ase.Atoms("H")), cutoff)


def test_empty_and_isolated():
    system = System(types=torch.zeros(0, dtype=torch.int32), positions=torch.zeros((0, 3)))
    assert len(neighbor_list(system, 3.0)) == 0
    i, j, S = compute_pairs(torch.tensor([[0.0, 0, 0], [10.0, 0, 0]]), torch.zeros(3, 3), [False] * 3, 3.0)
    assert len(i) == 0 and S.shape == (0, 3)


def test_batched():
    frames = [ase.build.molecule("H2O"), ase.Atoms("He"), ase.build.bulk("Cu", cubic=True)]
    batched = batched_neighbor_list(frames, 3.0)
    separate = neighbor_lists(frames, 3.0)
    assert batched.atom_offsets.tolist() == [0, 3, 4]
    assert batched.system.tolist() == sum(([k] * len(p) for k, p in enumerate(separate)), [])
    assert torch.equal(batched.first_atom, torch.cat([p.first_atom for p in separate]))
    assert torch.equal(batched.vectors, torch.cat([p.vectors for p in separate]))
    assert torch.equal(batched.second_atom_global[batched.system == 2], separate[2].second_atom + 4)


def test_large_system_is_linear_and_correct():
    atoms = ase.build.bulk("Cu", cubic=True).repeat((7, 7, 5))
    atoms.rattle(0.05, seed=2)
    assert len(atoms) == 980
    start = time.perf_counter()
    assert_matches_ase(atoms, 4.5)
    assert time.perf_counter() - start < 20.0
    # memory / work must not be quadratic: a 4x larger box of sparse gas stays cheap
    rng = np.random.default_rng(0)
    gas = ase.Atoms(numbers=[1] * 4000, positions=rng.uniform(0, 200, size=(4000, 3)))
    start = time.perf_counter()
    pairs = neighbor_list(System.from_ase(gas), 3.0)
    assert time.perf_counter() - start < 10.0
    # (ase's own binning is very slow on such a sparse box; a k-d tree is the reference)
    reference = cKDTree(gas.positions).query_pairs(3.0, output_type="ndarray")
    assert len(pairs) == 2 * len(reference)
    half = neighbor_list(System.from_ase(gas), 3.0, full_list=False)
    assert {tuple(p) for p in reference.tolist()} == set(
        zip(half.first_atom.tolist(), half.second_atom.tolist())
    )
