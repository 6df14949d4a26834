"""Tests of calculators.spherical_expansion against featomic 0.6.7 reference files, finite
differences, autograd and symmetries."""

import copy
import json
import os

import ase
import ase.build
import numpy as np
import pytest
import torch

from blocktensor import Labels, load
from blocktensor.o3 import random_rotation, wigner_d_matrices
from calculators.spherical_expansion import SphericalExpansion, SphericalExpansionByPair
from calculators.system import System

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "spherical_expansion")
with open(os.path.join(DATA, "cases.json")) as fd:
    CASES = json.load(fd)["cases"]

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def hypers(radius=3.5, max_angular=3, max_radial=3, width=0.3, smoothing_width=0.5, **density):
    return {
        "cutoff": {
            "radius": radius,
            "smoothing": {"type": "ShiftedCosine", "width": smoothing_width},
        },
        "density": {"type": "Gaussian", "width": width, **density},
        "basis": {
            "type": "TensorProduct",
            "max_angular": max_angular,
            "radial": {"type": "Gto", "max_radial": max_radial},
        },
    }


def systems_of(case, **kwargs):
    return [
        System(s["types"], s["positions"], s["cell"], s["pbc"], **kwargs)
        for s in case["structures"]
    ]


def periodic_system(seed=0, dtype=torch.float64):
    atoms = ase.build.bulk("SiC", "zincblende", a=4.36)
    generator = np.random.default_rng(seed)
    atoms.set_cell(atoms.cell[:] @ (np.eye(3) + 0.05 * generator.standard_normal((3, 3))),
                   scale_atoms=True)
    atoms.rattle(0.1, seed=seed)
    return System.from_ase(atoms, dtype=dtype)


def molecule(name="CH3OH", seed=0):
    atoms = ase.build.molecule(name)
    atoms.rattle(0.05, seed=seed)
    return System.from_ase(atoms)


# ---------------------------------------------------------------------------------------
# featomic references
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_featomic(name):
    case = CASES[name]
    cls = {
        "SphericalExpansion": SphericalExpansion,
        "SphericalExpansionByPair": SphericalExpansionByPair,
    }[case["calculator"]]
    ours = cls(**case["hypers"]).compute(systems_of(case), gradients=case["gradients"])
    reference = load(os.path.join(DATA, case["file"]))

    assert ours.keys.names == reference.keys.names
    assert len(ours.keys) == len(reference.keys)
    for key, expected in reference.items():
        block = ours.block(ours.keys.position(key))
        assert block.samples.names == expected.samples.names
        assert block.components == expected.components
        assert block.properties == expected.properties
        rows = block.samples.positions(expected.samples.values)
        assert (rows >= 0).all(), f"featomic samples missing for key {key}"
        values = block.values.numpy()
        # featomic omits the rows of centres without neighbours of this type: ours are 0
        others = np.setdiff1d(np.arange(len(block.samples)), rows)
        if not (key["o3_lambda"] == 0 and key[2] == key[3]):
            assert np.all(values[others] == 0.0)
        if expected.values.size == 0:
            continue
        scale = np.abs(expected.values).max()
        np.testing.assert_allclose(values[rows], expected.values, rtol=0, atol=1e-8 * scale)

        assert sorted(block.gradients_list()) == sorted(case["gradients"])
        for parameter in case["gradients"]:
            gradient = block.gradient(parameter)
            expected_gradient = expected.gradient(parameter)
            assert gradient.samples.names == expected_gradient.samples.names
            assert gradient.components == expected_gradient.components
            samples = expected_gradient.samples.values.copy()
            samples[:, 0] = rows[samples[:, 0]]
            gradient_rows = gradient.samples.positions(samples)
            assert (gradient_rows >= 0).all()
            gradient_values = gradient.values.numpy()
            others = np.setdiff1d(np.arange(len(gradient.samples)), gradient_rows)
            assert np.all(gradient_values[others] == 0.0)
            if expected_gradient.values.size == 0:
                continue
            # the references use featomic's exact radial integrals; what is left is
            # our spline's error (1e-8 on the radial integrals, more on derivatives)
            scale = np.abs(expected_gradient.values).max()
            np.testing.assert_allclose(
                gradient_values[gradient_rows],
                expected_gradient.values,
                rtol=0,
                atol=1e-6 * scale,
            )


def test_featomic_sample_order_by_pair():
    case = CASES["water_by_pair"]
    ours = SphericalExpansionByPair(**case["hypers"]).compute(
        systems_of(case), gradients=["positions"]
    )
    reference = load(os.path.join(DATA, case["file"]))
    for key, expected in reference.items():
        block = ours.block(ours.keys.position(key))
        assert block.samples == expected.samples
        assert block.gradient("positions").samples == expected.gradient("positions").samples


def test_featomic_metadata_file():
    """The file written by featomic for the metatensor format tests."""
    path = os.path.join(DATA, "..", "metatensor")
    with open(os.path.join(path, "featomic_spherical_expansion_input.json")) as fd:
        description = json.load(fd)
    system = System(
        description["numbers"], description["positions"], description["cell"],
        description["pbc"],
    )
    ours = SphericalExpansion(**description["hypers"]).compute(
        system, gradients=["positions", "strain"]
    )
    reference = load(os.path.join(path, "featomic_spherical_expansion.mts"))
    assert ours.keys == reference.keys
    for (_, block), (_, expected) in zip(ours.items(), reference.items()):
        assert block.samples == expected.samples
        np.testing.assert_allclose(block.values.numpy(), expected.values, atol=1e-7)
        for parameter in ("positions", "strain"):
            assert block.gradient(parameter).samples == expected.gradient(parameter).samples
            np.testing.assert_allclose(
                block.gradient(parameter).values.numpy(),
                expected.gradient(parameter).values,
                atol=1e-5,
            )


# ---------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------
def _dense_positions_gradient(block, n_atoms):
    """(n_samples, n_atoms, 3, ...) from a positions gradient block."""
    gradient = block.gradient("positions")
    dense = np.zeros((len(block.samples), n_atoms) + tuple(gradient.values.shape[1:]))
    samples = gradient.samples.values
    dense[samples[:, 0], samples[:, 2]] = gradient.values.numpy()
    return dense


@pytest.mark.parametrize("periodic", [False, True])
def test_positions_gradient_finite_differences(periodic):
    system = periodic_system() if periodic else molecule()
    calculator = SphericalExpansion(**hypers(max_angular=3, max_radial=2))
    expansion = calculator.compute(system, gradients=["positions"])
    n_atoms = len(system)
    delta = 1e-5
    for atom in range(n_atoms):
        for xyz in range(3):
            shifted = []
            for sign in (1, -1):
                positions = system.positions.clone()
                positions[atom, xyz] += sign * delta
                shifted.append(
                    calculator.compute(
                        System(system.types, positions, system.cell, system.pbc)
                    )
                )
            for key, block in expansion.items():
                numerical = (
                    shifted[0].block(key).values - shifted[1].block(key).values
                ).numpy() / (2 * delta)
                analytic = _dense_positions_gradient(block, n_atoms)[:, atom, xyz]
                np.testing.assert_allclose(analytic, numerical, atol=2e-7)


def _strained(system, strain):
    transform = torch.eye(3, dtype=system.dtype) + strain
    return System(system.types, system.positions @ transform, system.cell @ transform,
                  system.pbc)


def test_strain_gradient_finite_differences():
    system = periodic_system(seed=1)
    calculator = SphericalExpansion(**hypers(max_angular=3, max_radial=2))
    expansion = calculator.compute(system, gradients=["strain"])
    delta = 1e-5
    for a in range(3):
        for b in range(3):
            results = []
            for sign in (1, -1):
                strain = torch.zeros((3, 3), dtype=torch.float64)
                strain[a, b] = sign * delta
                results.append(calculator.compute(_strained(system, strain)))
            for key, block in expansion.items():
                numerical = (
                    results[0].block(key).values - results[1].block(key).values
                ).numpy() / (2 * delta)
                gradient = block.gradient("strain")
                assert gradient.samples.values[:, 0].tolist() == list(range(len(block.samples)))
                # components are (xyz_2, xyz_1): ε_ab with a on the first
                np.testing.assert_allclose(
                    gradient.values[:, a, b].numpy(), numerical, atol=5e-7
                )


@pytest.mark.parametrize("cls", [SphericalExpansion, SphericalExpansionByPair])
def test_autograd_matches_explicit_gradients(cls):
    system = periodic_system(seed=2)
    calculator = cls(**hypers(max_angular=3, max_radial=3))
    explicit = calculator.compute(system, gradients=["positions", "strain"])

    positions = system.positions.clone().requires_grad_(True)
    strain = torch.zeros((3, 3), dtype=torch.float64, requires_grad=True)
    transform = torch.eye(3, dtype=torch.float64) + strain
    strained = System(system.types, positions @ transform, system.cell @ transform, system.pbc)
    result = calculator.compute(strained)
    generator = torch.Generator().manual_seed(0)
    total = 0.0
    weights = {}
    for key, block in result.items():
        weights[tuple(key.values)] = torch.randn(
            block.values.shape, dtype=torch.float64, generator=generator
        )
        total = total + (block.values * weights[tuple(key.values)]).sum()
    position_grad, strain_grad = torch.autograd.grad(total, [positions, strain])

    expected_positions = torch.zeros_like(position_grad)
    expected_strain = torch.zeros((3, 3), dtype=torch.float64)
    for key, block in explicit.items():
        weight = weights[tuple(key.values)]
        gradient = block.gradient("positions")
        samples = torch.from_numpy(gradient.samples.values.astype(np.int64))
        contracted = (gradient.values * weight[samples[:, 0], None]).sum(dim=(2, 3))
        expected_positions.index_add_(0, samples[:, 2], contracted)
        strain_gradient = block.gradient("strain")
        expected_strain += (strain_gradient.values * weight[:, None, None]).sum(dim=(0, 3, 4))
    torch.testing.assert_close(position_grad, expected_positions, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(strain_grad, expected_strain, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("periodic", [False, True])
def test_autograd_through_explicit_positions_gradient(periodic):
    """Explicit gradients stay differentiable (force training): autograd of a function of
    them matches finite differences, for a molecule and for a small cell (images of a
    neighbour share a row there, the rows are summed)."""
    if periodic:
        atoms = ase.build.bulk("Si", "diamond", a=5.43)
        atoms.rattle(0.1, seed=4)
        system = System.from_ase(atoms)
    else:
        system = molecule("H2O")
    calculator = SphericalExpansion(**hypers(radius=4.0, max_angular=2, max_radial=2))

    def total(positions):
        result = calculator.compute(
            System(system.types, positions, system.cell, system.pbc), gradients=["positions"]
        )
        return sum(block.gradient("positions").values.square().sum()
                   for block in result.blocks())

    positions = system.positions.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(total(positions), positions)
    delta = 1e-5
    for atom, xyz in [(0, 0), (1, 2), (len(system) - 1, 1)]:
        shifted = []
        for sign in (1, -1):
            moved = system.positions.clone()
            moved[atom, xyz] += sign * delta
            shifted.append(float(total(moved)))
        finite = (shifted[0] - shifted[1]) / (2 * delta)
        assert abs(float(grad[atom, xyz]) - finite) <= 1e-6 * max(1.0, abs(finite))


# ---------------------------------------------------------------------------------------
# symmetries and physics
# ---------------------------------------------------------------------------------------
def test_rotation_equivariance():
    system = molecule("CH3CH2OH", seed=3)
    calculator = SphericalExpansion(**hypers(radius=4.0, max_angular=4, max_radial=3))
    rotation = random_rotation(seed=7)
    rotated = System(system.types, system.positions @ torch.from_numpy(rotation).T)
    original = calculator.compute(system, gradients=["positions"])
    result = calculator.compute(rotated, gradients=["positions"])
    wigner = wigner_d_matrices(rotation, 4)
    for key, block in original.items():
        l = key["o3_lambda"]  # noqa: E741
        expected = np.einsum("mk,skn->smn", wigner[l], block.values.numpy())
        np.testing.assert_allclose(result.block(key).values.numpy(), expected, atol=1e-12)
        gradient = block.gradient("positions").values.numpy()
        expected = np.einsum("ab,mk,sbkn->samn", rotation, wigner[l], gradient)
        np.testing.assert_allclose(
            result.block(key).gradient("positions").values.numpy(), expected, atol=1e-11
        )


def test_inversion_parity():
    system = molecule("CH3CH2OH", seed=4)
    calculator = SphericalExpansion(**hypers(max_angular=3))
    original = calculator.compute(system)
    inverted = calculator.compute(System(system.types, -system.positions))
    for key, block in original.items():
        sign = (-1) ** key["o3_lambda"] * key["o3_sigma"]
        torch.testing.assert_close(inverted.block(key).values, sign * block.values)


def test_translation_and_permutation_invariance():
    system = periodic_system(seed=5)
    calculator = SphericalExpansion(**hypers())
    original = calculator.compute(system, gradients=["positions"])

    translated = System(
        system.types, system.positions + torch.tensor([0.3, -7.1, 2.2]), system.cell, system.pbc
    )
    for (_, a), (_, b) in zip(original.items(), calculator.compute(translated).items()):
        torch.testing.assert_close(a.values, b.values, atol=1e-12, rtol=0)

    permutation = torch.tensor([1, 0])
    permuted = System(system.types[permutation], system.positions[permutation], system.cell,
                      system.pbc)
    result = calculator.compute(permuted, gradients=["positions"])
    inverse = torch.argsort(permutation)
    for key, block in original.items():
        other = result.block(key)
        samples = block.samples.values.copy()
        samples[:, 1] = inverse.numpy()[samples[:, 1]]
        rows = other.samples.positions(samples)
        torch.testing.assert_close(other.values[rows], block.values, atol=1e-12, rtol=0)


def test_smooth_across_cutoff():
    calculator = SphericalExpansion(**hypers(radius=3.0, smoothing_width=0.5))
    epsilon = 1e-6
    results = []
    keys = None
    for distance in (3.0 - epsilon, 3.0 + epsilon):
        dimer = System([6, 8], [[0.0, 0.0, 0.0], [distance / 3**0.5] * 3])
        # the same keys on both sides (beyond the cutoff (6, 8) is not a default key)
        results.append(
            calculator.compute(dimer, gradients=["positions"], selected_keys=keys)
        )
        keys = results[0].keys
    for key, inside in results[0].items():
        outside = results[1].block(key)
        # f_cut(r_c - ε) ~ (π ε / 2w)², its derivative ~ π² ε / (2w²)
        assert torch.allclose(inside.values, outside.values, atol=1e-10)
        if key[2] != key[3]:
            assert inside.values.abs().max() < 1e-10
            assert inside.gradient("positions").values.abs().max() < 1e-4
            assert outside.values.abs().max() == 0.0


def test_isolated_atom_and_zero_rows():
    calculator = SphericalExpansion(**hypers(center_atom_weight=0.5))
    system = System([1, 8, 1, 6], [[0, 0, 0], [0, 0, 0.97], [0, 0.9, -0.3], [20.0, 0, 0]])
    result = calculator.compute(system, gradients=["positions"])
    # the carbon only has its own density: (6, 6) λ = 0, nothing else for it
    keys = [tuple(k) for k in result.keys.values.tolist() if k[2] == 6 or k[3] == 6]
    assert keys == [(l, 1, 6, 6) for l in range(4)]
    center = result.block(o3_lambda=0, center_type=6, neighbor_type=6)
    expected = 0.5 * calculator.radial_integral.center_contribution() / (4 * np.pi) ** 0.5
    torch.testing.assert_close(center.values[0, 0], expected.to(torch.float64))
    for l in range(1, 4):
        assert result.block(o3_lambda=l, center_type=6, neighbor_type=6).values.abs().max() == 0
    gradient = center.gradient("positions")
    assert gradient.samples.values.tolist() == [[0, 0, 3]]
    assert gradient.values.abs().max() == 0
    # every hydrogen is a sample of every hydrogen block
    for key, block in result.items():
        if key["center_type"] == 1:
            assert block.samples.values.tolist() == [[0, 0], [0, 2]]


def test_by_pair_sums_to_expansion():
    system = periodic_system(seed=6)
    options = hypers(max_angular=2, max_radial=2)
    expansion = SphericalExpansion(**options).compute(system)
    by_pair = SphericalExpansionByPair(**options).compute(system)
    for key, block in by_pair.items():
        target = expansion.block(
            o3_lambda=key[0], center_type=key["first_atom_type"],
            neighbor_type=key["second_atom_type"],
        )
        summed = torch.zeros_like(target.values)
        rows = target.samples.positions(block.samples.values[:, :2])
        summed.index_add_(0, torch.from_numpy(rows), block.values)
        torch.testing.assert_close(summed, target.values, atol=1e-12, rtol=0)


def test_multiple_systems_match_single():
    systems = [molecule("H2O"), periodic_system(seed=8), molecule("CH3OH")]
    calculator = SphericalExpansion(**hypers(max_angular=2, max_radial=2))
    together = calculator.compute(systems, gradients=["positions", "strain"])
    for index, system in enumerate(systems):
        alone = calculator.compute(system, gradients=["positions", "strain"])
        for key, block in alone.items():
            merged = together.block(key)
            rows = merged.samples.positions(
                np.stack([np.full(len(block.samples), index), block.samples["atom"]], axis=1)
            )
            torch.testing.assert_close(merged.values[rows], block.values)
            torch.testing.assert_close(
                merged.gradient("strain").values[rows], block.gradient("strain").values
            )


# ---------------------------------------------------------------------------------------
# selections, dtype, devices
# ---------------------------------------------------------------------------------------
def test_selected_keys_and_samples():
    system = molecule("CH3OH")
    calculator = SphericalExpansion(**hypers(max_angular=2, max_radial=2))
    full = calculator.compute(system, gradients=["positions"])

    selection = Labels(["center_type", "neighbor_type"], [[1, 8], [6, 6]])
    partial = calculator.compute(system, selected_keys=selection, gradients=["positions"])
    assert partial.keys.values.tolist() == [
        [l, 1, a, b] for a, b in ((1, 8), (6, 6)) for l in range(3)
    ]
    for key, block in partial.items():
        torch.testing.assert_close(block.values, full.block(key).values)

    # all four names: exactly these keys, even for types absent from the system
    exact = Labels(
        ["o3_lambda", "o3_sigma", "center_type", "neighbor_type"], [[1, 1, 8, 7], [0, 1, 7, 1]]
    )
    result = calculator.compute(system, selected_keys=exact)
    assert result.keys == exact
    assert result.block(0).values.shape == (1, 3, 3) and result.block(0).values.abs().max() == 0
    assert result.block(1).values.shape == (0, 1, 3)

    samples = Labels(["atom"], [[0], [3]])
    selected = calculator.compute(system, selected_samples=samples, gradients=["positions"])
    for key, block in selected.items():
        reference = full.block(key)
        rows = reference.samples.positions(block.samples.values)
        assert set(block.samples["atom"].tolist()) <= {0, 3}
        torch.testing.assert_close(block.values, reference.values[rows])


def test_float32_and_module_to():
    system = molecule("H2O")
    calculator = SphericalExpansion(**hypers())
    reference = calculator.compute(system, gradients=["positions"])
    calculator = calculator.to(dtype=torch.float32)
    result = calculator.compute(ase.build.molecule("H2O"), gradients=["positions"])
    result = calculator.compute(system.to(dtype=torch.float32), gradients=["positions"])
    for key, block in result.items():
        assert block.values.dtype == torch.float32
        torch.testing.assert_close(
            block.values.double(), reference.block(key).values, atol=1e-5, rtol=1e-4
        )


@pytest.mark.parametrize("device", DEVICES)
def test_devices(device):
    system = periodic_system(seed=9)
    calculator = SphericalExpansion(**hypers())
    reference = calculator.compute(system, gradients=["positions", "strain"])
    result = calculator.to(device).compute(system, gradients=["positions", "strain"])
    for key, block in result.items():
        assert block.values.device.type == device
        torch.testing.assert_close(block.values.cpu(), reference.block(key).values)
        torch.testing.assert_close(
            block.gradient("strain").values.cpu(), reference.block(key).gradient("strain").values
        )


def test_featomic_hypers_accepted_unchanged():
    options = hypers(scaling={"type": "Willatt2018", "rate": 1.0, "scale": 2.0, "exponent": 4},
                     center_atom_weight=1.0)
    options["basis"]["spline_accuracy"] = 1e-7
    calculator = SphericalExpansion(**copy.deepcopy(options))
    assert calculator.hypers == options
    assert len(calculator.compute(molecule("H2O")).keys) == 4 * 4


# ---------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------
def test_bad_hypers():
    with pytest.raises(ValueError, match="radius"):
        SphericalExpansion(**hypers(radius=-1.0))
    options = hypers()
    options["basis"]["max_angular"] = -1
    with pytest.raises(ValueError, match="max_angular"):
        SphericalExpansion(**options)
    options = hypers()
    options["density"]["type"] = "Slater"
    with pytest.raises(ValueError, match="density.type"):
        SphericalExpansion(**options)
    options = hypers()
    options["cutoff"]["bogus"] = 1
    with pytest.raises(ValueError, match="bogus"):
        SphericalExpansion(**options)


def test_bad_inputs():
    calculator = SphericalExpansion(**hypers())
    good = molecule("H2O")
    overlapping = System([1, 1, 8], [[0, 0, 0], [1, 0, 0], [1, 0, 0]])
    with pytest.raises(ValueError, match=r"system 1: atoms 1 and 2 overlap"):
        calculator.compute([good, overlapping])

    nan = ase.build.molecule("H2O")
    nan.positions[2, 0] = np.nan
    with pytest.raises(ValueError, match=r"systems\[1\].*finite.*\[2\]"):
        calculator.compute([good, nan])

    singular = ase.Atoms("Si2", positions=[[0, 0, 0], [1, 1, 1]], cell=[[1, 0, 0], [2, 0, 0],
                         [0, 0, 3]], pbc=True)
    with pytest.raises(ValueError, match=r"systems\[0\].*singular"):
        calculator.compute([singular])

    with pytest.raises(ValueError, match="matches no key.*types in these systems are"):
        calculator.compute(good, selected_keys=Labels(["center_type"], [[7]]))
    with pytest.raises(ValueError, match="unknown dimension"):
        calculator.compute(good, selected_keys=Labels(["species_center"], [[1]]))
    with pytest.raises(ValueError, match="o3_lambda 9"):
        calculator.compute(
            good,
            selected_keys=Labels(
                ["o3_lambda", "o3_sigma", "center_type", "neighbor_type"], [[9, 1, 1, 1]]
            ),
        )
    with pytest.raises(ValueError, match="gradients"):
        calculator.compute(good, gradients=["stress"])
    with pytest.raises(TypeError, match="selected_samples"):
        calculator.compute(good, selected_samples=[0, 1])


# ---------------------------------------------------------------------------------------
# per-atom density weights (charges, occupancies, alchemical weights)
# ---------------------------------------------------------------------------------------
def _with_weights(system, weights):
    return System(system.types, system.positions, system.cell, system.pbc, weights=weights)


def test_unit_weights_change_nothing():
    system = molecule()
    calculator = SphericalExpansion(**hypers(max_angular=2, max_radial=2))
    reference = calculator.compute(system, gradients=["positions"])
    weighted = calculator.compute(
        _with_weights(system, torch.ones(len(system), dtype=torch.float64)),
        gradients=["positions"],
    )
    for key, block in reference.items():
        torch.testing.assert_close(weighted.block(key).values, block.values, rtol=0, atol=0)
        torch.testing.assert_close(weighted.block(key).gradient("positions").values,
                                   block.gradient("positions").values, rtol=0, atol=0)


@pytest.mark.parametrize("cls", [SphericalExpansion, SphericalExpansionByPair])
def test_expansion_is_linear_in_weights(cls):
    system = periodic_system(seed=3)
    calculator = cls(**hypers(max_angular=2, max_radial=2, center_atom_weight=0.7))
    generator = torch.Generator().manual_seed(0)
    first = torch.rand(len(system), dtype=torch.float64, generator=generator)
    second = torch.rand(len(system), dtype=torch.float64, generator=generator) - 0.5
    results = [calculator.compute(_with_weights(system, w), gradients=["positions", "strain"])
               for w in (first, second, 2.0 * first + 3.0 * second)]
    for key, block in results[2].items():
        for get in (lambda b: b.values, lambda b: b.gradient("positions").values,
                    lambda b: b.gradient("strain").values):
            expected = 2.0 * get(results[0].block(key)) + 3.0 * get(results[1].block(key))
            torch.testing.assert_close(get(block), expected, atol=1e-12, rtol=1e-12)


def test_weights_scale_each_neighbor_and_the_center():
    # two atoms: each centre sees one neighbour, so every coefficient of a (centre,
    # neighbour) block is proportional to the neighbour's weight, and the centre's own
    # λ = 0 term to the centre's weight
    system = System([1, 8], [[0.0, 0.0, 0.0], [0.3, 0.5, 0.9]])
    calculator = SphericalExpansion(**hypers(max_angular=2, max_radial=2))
    plain = calculator.compute(system)
    charges = torch.tensor([0.4, -0.8], dtype=torch.float64)
    weighted = calculator.compute(_with_weights(system, charges))
    isolated = calculator.compute(System([1, 8], [[0.0, 0.0, 0.0], [10.0, 10.0, 10.0]]))
    for key, block in plain.items():
        center_type, neighbor_type = key["center_type"], key["neighbor_type"]
        values = block.values
        if center_type == neighbor_type:  # only the centre's own term (λ = 0)
            expected = charges[[1, 8].index(center_type)] * values
        else:
            expected = charges[[1, 8].index(neighbor_type)] * values
        torch.testing.assert_close(weighted.block(key).values, expected, atol=1e-14, rtol=1e-12)
        if center_type == neighbor_type:
            torch.testing.assert_close(values, isolated.block(key).values)


def test_learnable_weights_get_autograd_gradients():
    system = molecule("H2O")
    calculator = SphericalExpansion(**hypers(max_angular=2, max_radial=2))
    per_type = torch.tensor([0.5, 1.5], dtype=torch.float64, requires_grad=True)
    index = torch.tensor([0 if t == 1 else 1 for t in system.types.tolist()])
    expansion = calculator.compute(_with_weights(system, per_type[index]))
    total = sum((block.values ** 2).sum() for block in expansion.blocks())
    (gradient,) = torch.autograd.grad(total, per_type)
    delta = 1e-6
    for i in range(2):
        shifted = []
        for sign in (1, -1):
            table = per_type.detach().clone()
            table[i] += sign * delta
            result = calculator.compute(_with_weights(system, table[index]))
            shifted.append(sum((block.values ** 2).sum() for block in result.blocks()))
        finite = (shifted[0] - shifted[1]) / (2 * delta)
        torch.testing.assert_close(gradient[i], finite, atol=1e-7, rtol=1e-6)


def test_weighted_positions_gradient_finite_differences():
    system = _with_weights(molecule(seed=4), torch.linspace(-1.0, 2.0, len(molecule())))
    calculator = SphericalExpansion(**hypers(max_angular=2, max_radial=2))
    expansion = calculator.compute(system, gradients=["positions"])
    delta = 1e-5
    for atom, xyz in [(0, 1), (3, 2)]:
        shifted = []
        for sign in (1, -1):
            positions = system.positions.clone()
            positions[atom, xyz] += sign * delta
            shifted.append(calculator.compute(
                System(system.types, positions, system.cell, system.pbc,
                       weights=system.weights)))
        for key, block in expansion.items():
            numerical = (shifted[0].block(key).values
                         - shifted[1].block(key).values).numpy() / (2 * delta)
            analytic = _dense_positions_gradient(block, len(system))[:, atom, xyz]
            np.testing.assert_allclose(analytic, numerical, atol=2e-7)


@pytest.mark.parametrize("gradients", [["positions"], ["positions", "strain", "cell"],
                                       ["strain", "cell"]])
def test_small_chunks_and_pair_blocks_change_nothing(monkeypatch, gradients):
    """Rows go through padded chunks and, within a chunk, the pairs' gradients a few rows
    at a time: with both budgets tiny (many chunks, one row per block, padding) the
    result must be the same as in one go. The small cell has several images of an atom
    in one row (rows summed rather than copied)."""
    import calculators.spherical_expansion as expansion_module

    calculator = SphericalExpansion(**hypers(radius=4.0, max_angular=2, max_radial=2))
    atoms = ase.build.bulk("Si", "diamond", a=5.43)
    atoms.rattle(0.1, seed=4)
    water = ase.build.molecule("H2O")
    water.cell = np.eye(3) * 6.0
    water.pbc = True
    systems = [System.from_ase(atoms), System.from_ase(water), periodic_system(seed=2)]
    expected = calculator.compute(systems, gradients=gradients)
    monkeypatch.setattr(expansion_module, "_PADDED_CHUNK_ELEMENTS", 8000)
    monkeypatch.setattr(expansion_module, "_PAIR_GRADIENT_ELEMENTS", 1)
    chunked = calculator.compute(systems, gradients=gradients)
    for key, block in expected.items():
        other = chunked.block(key)
        torch.testing.assert_close(other.values, block.values, atol=1e-14, rtol=0)
        for parameter in gradients:
            mine, reference = other.gradient(parameter), block.gradient(parameter)
            assert mine.samples == reference.samples
            torch.testing.assert_close(mine.values, reference.values, atol=1e-14, rtol=0)
