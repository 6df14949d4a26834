"""SOAP power spectrum and radial spectrum: values and gradients against featomic 0.6.7
(reference files from ``tests/data/generate_power_spectrum.py``), the product rule on
featomic's own expansion, finite differences, invariances and autograd."""

import json
import os

import ase
import ase.build
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
import torch

import blocktensor
from blocktensor import Labels, TensorBlock, TensorMap
from calculators.system import System
import calculators.power_spectrum as power_spectrum_module
from calculators.power_spectrum import (
    SoapPowerSpectrum,
    SoapRadialSpectrum,
    power_spectrum_from_expansion,
    radial_spectrum_from_expansion,
)

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "power_spectrum")
NAMES = ["methanol", "water_methane", "nacl", "silicon"]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

with open(os.path.join(DATA, "hypers.json")) as _file:
    HYPERS = json.load(_file)["soap"]
with open(os.path.join(DATA, "structures.json")) as _file:
    STRUCTURES = json.load(_file)


def structure(name):
    data = STRUCTURES[name]
    return ase.Atoms(numbers=data["numbers"], positions=data["positions"],
                     cell=data["cell"], pbc=data["pbc"])


def reference(name, suffix):
    return blocktensor.load(os.path.join(DATA, f"{name}_{suffix}.mts"))


def gradients_for(name):
    return ["positions"] + (["strain"] if structure(name).pbc.any() else [])


def as_numpy(values):
    return values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else values


def assert_same(mine, expected, rtol, gradient_rtol=None):
    """Same metadata (including order), values within ``rtol`` of the largest reference
    value of each block, gradients within ``gradient_rtol``."""
    gradient_rtol = rtol if gradient_rtol is None else gradient_rtol
    assert mine.keys == expected.keys
    for (key, block), (_, ref) in zip(mine.items(), expected.items()):
        assert block.samples == ref.samples, key
        assert block.properties == ref.properties, key
        scale = max(np.abs(ref.values).max(), 1e-300)
        np.testing.assert_allclose(as_numpy(block.values), ref.values, rtol=0,
                                   atol=rtol * scale, err_msg=str(key))
        assert sorted(block.gradients_list()) == sorted(ref.gradients_list())
        for parameter, ref_gradient in ref.gradients():
            gradient = block.gradient(parameter)
            assert gradient.samples == ref_gradient.samples, (key, parameter)
            assert [c.names for c in gradient.components] == [
                c.names for c in ref_gradient.components
            ]
            scale = max(np.abs(ref_gradient.values).max(), 1e-300)
            np.testing.assert_allclose(as_numpy(gradient.values), ref_gradient.values,
                                       rtol=0, atol=gradient_rtol * scale,
                                       err_msg=f"{key} {parameter}")


def expansion_to_torch(expansion, device="cpu"):
    return expansion.to(arrays="torch", device=device)


# ----------------------------------------------------------------- from featomic's expansion
@pytest.mark.parametrize("name", NAMES)
def test_power_spectrum_of_featomic_expansion(name):
    spectrum = SoapPowerSpectrum.compute_from_expansion(reference(name, "expansion"))
    assert isinstance(spectrum.block(0).values, np.ndarray)
    assert_same(spectrum, reference(name, "power_spectrum"), rtol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["water_methane", "nacl"])
def test_power_spectrum_of_torch_expansion(name, device):
    expansion = expansion_to_torch(reference(name, "expansion"), device)
    spectrum = power_spectrum_from_expansion(expansion)
    assert isinstance(spectrum.block(0).values, torch.Tensor)
    assert str(spectrum.block(0).values.device).startswith(device)
    assert_same(spectrum, reference(name, "power_spectrum"), rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_radial_spectrum_of_featomic_expansion(name):
    spectrum = SoapRadialSpectrum.compute_from_expansion(reference(name, "expansion"))
    assert_same(spectrum, reference(name, "radial_spectrum"), rtol=1e-14)


def test_normalisation_by_hand():
    """p = (-1)^l / sqrt(2l + 1) Σ_m c1_m c2_m, times sqrt(2) across neighbour types."""
    expansion = reference("water_methane", "expansion")
    spectrum = power_spectrum_from_expansion(expansion)
    block = spectrum.block(center_type=1, neighbor_1_type=1, neighbor_2_type=8)
    sample = block.samples.values[0]
    for o3_lambda in range(HYPERS["basis"]["max_angular"] + 1):
        c_1 = expansion.block(o3_lambda=o3_lambda, center_type=1, neighbor_type=1)
        c_8 = expansion.block(o3_lambda=o3_lambda, center_type=1, neighbor_type=8)
        v_1 = c_1.values[c_1.samples.position(sample)]
        v_8 = c_8.values[c_8.samples.position(sample)]
        expected = (-1) ** o3_lambda / np.sqrt(2 * o3_lambda + 1) * np.sqrt(2) * v_1.T @ v_8
        columns = block.properties.select(Labels("l", [[o3_lambda]]))
        np.testing.assert_allclose(block.values[0, columns], expected.ravel(), rtol=1e-13)


def _padded_to_all_centers(expansion):
    """Every block lists every centre of its type, with zero rows for missing ones (the
    layout of blocktensor's SphericalExpansion)."""
    keys = expansion.keys
    blocks = []
    for key, block in expansion.items():
        same_center = [
            b.samples.values for k, b in expansion.items()
            if k["center_type"] == key["center_type"]
        ]
        all_samples = np.unique(np.concatenate(same_center), axis=0)
        samples = Labels(["system", "atom"], all_samples)
        rows = samples.positions(block.samples)
        values = np.zeros((len(samples),) + block.values.shape[1:])
        values[rows] = block.values
        new = TensorBlock(values, samples, block.components, block.properties)
        for parameter, gradient in block.gradients():
            metadata = gradient.samples.values.copy()
            metadata[:, 0] = rows[metadata[:, 0]]
            if parameter == "positions":
                # the centre's own (zero) row for the added samples
                missing = np.setdiff1d(np.arange(len(samples)), rows)
                extra = np.stack([missing, all_samples[missing, 0], all_samples[missing, 1]],
                                 axis=1)
                metadata = np.concatenate([metadata, extra])
                gradient_values = np.concatenate(
                    [gradient.values, np.zeros((len(missing),) + gradient.values.shape[1:])]
                )
            else:
                full = np.zeros((len(samples),) + gradient.values.shape[1:])
                full[rows] = gradient.values
                metadata = np.arange(len(samples)).reshape(-1, 1)
                gradient_values = full
            order = np.lexsort(metadata.T[::-1])
            new.add_gradient(parameter, TensorBlock(
                gradient_values[order], Labels(gradient.samples.names, metadata[order]),
                gradient.components, gradient.properties,
            ))
        blocks.append(new)
    return TensorMap(keys, blocks)


@pytest.mark.parametrize("name", ["water_methane", "nacl"])
def test_expansion_with_zero_rows_gives_featomic_samples(name):
    padded = _padded_to_all_centers(reference(name, "expansion"))
    assert_same(power_spectrum_from_expansion(padded), reference(name, "power_spectrum"),
                rtol=1e-12)
    assert_same(radial_spectrum_from_expansion(padded), reference(name, "radial_spectrum"),
                rtol=1e-14)


@pytest.mark.parametrize("name, parameter", [("water_methane", "positions"),
                                             ("nacl", "positions"), ("nacl", "strain")])
def test_gradients_are_the_product_rule(name, parameter):
    """Moving the expansion along its own gradient and differencing the power spectrum
    (quadratic in the expansion, so central differences are exact) gives the gradient."""
    expansion = reference(name, "expansion")
    spectrum = power_spectrum_from_expansion(expansion)
    step = 1e-3
    if parameter == "positions":
        directions = [(atom, xyz) for atom in (0, 3) for xyz in range(3)]
    else:
        directions = [((a, b),) for a, b in [(0, 0), (0, 1), (2, 1)]]
    for direction in directions:
        moved = []
        for sign in (+1, -1):
            blocks = []
            for block in expansion.blocks():
                gradient = block.gradient(parameter)
                values = block.values.copy()
                if parameter == "positions":
                    atom, xyz = direction
                    rows = np.nonzero(gradient.samples.column("atom") == atom)[0]
                    parents = gradient.samples.column("sample")[rows]
                    values[parents] += sign * step * gradient.values[rows, xyz]
                else:
                    (a, b), = direction
                    parents = gradient.samples.column("sample")
                    values[parents] += sign * step * gradient.values[:, a, b]
                blocks.append(TensorBlock(values, block.samples, block.components,
                                          block.properties))
            moved.append(power_spectrum_from_expansion(TensorMap(expansion.keys, blocks)))
        for key, block in spectrum.items():
            difference = (moved[0].block(key).values - moved[1].block(key).values) / (2 * step)
            gradient = block.gradient(parameter)
            expected = np.zeros_like(block.values)
            if parameter == "positions":
                atom, xyz = direction
                rows = np.nonzero(gradient.samples.column("atom") == atom)[0]
                expected[gradient.samples.column("sample")[rows]] = gradient.values[rows, xyz]
            else:
                (a, b), = direction
                expected[gradient.samples.column("sample")] = gradient.values[:, a, b]
            np.testing.assert_allclose(difference, expected, rtol=1e-9, atol=1e-12)


def test_selected_keys():
    expansion = reference("water_methane", "expansion")
    selection = Labels(["neighbor_1_type"], [[8]])
    spectrum = power_spectrum_from_expansion(expansion, selected_keys=selection)
    assert spectrum.keys.values.tolist() == [[1, 8, 8], [8, 8, 8]]
    full = power_spectrum_from_expansion(expansion)
    np.testing.assert_array_equal(
        spectrum.block(0).values,
        full.block(center_type=1, neighbor_1_type=8, neighbor_2_type=8).values,
    )


def test_bad_expansions():
    expansion = reference("methanol", "expansion")
    with pytest.raises(TypeError, match="`expansion` must be a blocktensor.TensorMap"):
        power_spectrum_from_expansion(expansion.block(0))
    spectrum = power_spectrum_from_expansion(expansion)
    with pytest.raises(ValueError, match="must have keys .*found \\['center_type'"):
        power_spectrum_from_expansion(spectrum)
    with pytest.raises(ValueError, match="`selected_keys` may only use the names"):
        power_spectrum_from_expansion(expansion, selected_keys=Labels("l", [[0]]))
    pseudo = TensorMap(
        Labels(expansion.keys.names, expansion.keys.values * np.array([1, -1, 1, 1])),
        [block.copy() for block in expansion.blocks()],
    )
    with pytest.raises(ValueError, match="o3_sigma = 1"):
        power_spectrum_from_expansion(pseudo)


# ----------------------------------------------------------------- the full calculators
def _calculator():
    return SoapPowerSpectrum(**HYPERS)


@pytest.fixture(scope="module")
def calculator():
    return _calculator()


@pytest.fixture(scope="module")
def radial_calculator():
    return SoapRadialSpectrum(cutoff=HYPERS["cutoff"], density=HYPERS["density"],
                              basis={"radial": HYPERS["basis"]["radial"]})


# The references use featomic's exact radial integrals (no spline): what is left is the
# error of our spline.
@pytest.mark.parametrize("name", NAMES)
def test_power_spectrum_matches_featomic(calculator, name):
    spectrum = calculator.compute(structure(name), gradients=gradients_for(name))
    assert_same(spectrum, reference(name, "power_spectrum"), rtol=1e-8, gradient_rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_radial_spectrum_matches_featomic(radial_calculator, name):
    spectrum = radial_calculator.compute(structure(name), gradients=gradients_for(name))
    assert_same(spectrum, reference(name, "radial_spectrum"), rtol=1e-8, gradient_rtol=1e-6)


def _displaced(atoms, atom, xyz, step):
    moved = atoms.copy()
    moved.positions[atom, xyz] += step
    return moved


@pytest.mark.parametrize("name", ["water_methane", "nacl"])
def test_positions_gradients_finite_differences(calculator, name):
    atoms = structure(name)
    spectrum = calculator.compute(atoms, gradients=["positions"])
    step = 1e-5
    directions = [(atom, xyz) for atom in (0, 5) for xyz in range(3)]
    frames = []
    for atom, xyz in directions:
        frames += [_displaced(atoms, atom, xyz, step), _displaced(atoms, atom, xyz, -step)]
    moved = calculator.compute(frames)
    for index, (atom, xyz) in enumerate(directions):
        for key, block in spectrum.items():
            values = {}
            for sign, system in ((+1, 2 * index), (-1, 2 * index + 1)):
                moved_block = moved.block(key)
                rows = moved_block.samples.select(Labels("system", [[system]]))
                atoms_of = moved_block.samples.values[rows, 1]
                full = np.zeros(block.values.shape)
                full[block.samples.positions(np.stack([np.zeros_like(atoms_of), atoms_of], 1))] = (
                    as_numpy(moved_block.values[rows])
                )
                values[sign] = full
            difference = (values[1] - values[-1]) / (2 * step)
            gradient = block.gradient("positions")
            expected = np.zeros(block.values.shape)
            rows = np.nonzero(gradient.samples.column("atom") == atom)[0]
            expected[gradient.samples.column("sample")[rows]] = as_numpy(
                gradient.values[rows, xyz]
            )
            scale = max(np.abs(as_numpy(gradient.values)).max(), 1e-12)
            np.testing.assert_allclose(difference, expected, rtol=0, atol=1e-6 * scale)


@pytest.mark.parametrize("name", ["nacl", "silicon"])
def test_strain_gradients_finite_differences(calculator, name):
    atoms = structure(name)
    spectrum = calculator.compute(atoms, gradients=["strain"])
    step = 1e-5
    directions = [(0, 0), (0, 1), (1, 2), (2, 2)]
    frames = []
    for a, b in directions:
        for sign in (+1, -1):
            strain = np.eye(3)
            strain[a, b] += sign * step
            moved = atoms.copy()
            moved.set_cell(atoms.cell[:] @ strain, scale_atoms=False)
            moved.positions = atoms.positions @ strain
            frames.append(moved)
    moved = calculator.compute(frames)
    for index, (a, b) in enumerate(directions):
        for key, block in spectrum.items():
            moved_block = moved.block(key)
            plus = moved_block.samples.select(Labels("system", [[2 * index]]))
            minus = moved_block.samples.select(Labels("system", [[2 * index + 1]]))
            difference = as_numpy(moved_block.values[plus] - moved_block.values[minus])
            difference /= 2 * step
            gradient = as_numpy(block.gradient("strain").values)
            # featomic's layout: components (xyz_2, xyz_1), r' = r (1 + ε)
            expected = gradient[:, a, b]
            scale = max(np.abs(gradient).max(), 1e-12)
            np.testing.assert_allclose(difference, expected, rtol=0, atol=1e-6 * scale)


def test_rotation_translation_permutation_invariance(calculator):
    atoms = structure("water_methane")
    spectrum = calculator.compute(atoms)
    rng = np.random.default_rng(7)
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    moved = atoms.copy()
    moved.positions = atoms.positions @ rotation.T + np.array([1.0, -2.0, 0.5])
    rotated = calculator.compute(moved)
    permutation = rng.permutation(len(atoms))
    permuted = calculator.compute(atoms[permutation])
    for key, block in spectrum.items():
        np.testing.assert_allclose(as_numpy(rotated.block(key).values),
                                   as_numpy(block.values), rtol=0, atol=1e-12)
        other = permuted.block(key)
        # permuted atom p is original atom permutation[p]
        original = np.stack([other.samples.values[:, 0],
                             permutation[other.samples.values[:, 1]]], axis=1)
        rows = block.samples.positions(original)
        assert np.all(rows >= 0)
        np.testing.assert_allclose(as_numpy(other.values), as_numpy(block.values)[rows],
                                   rtol=0, atol=1e-13)


def test_autograd_agrees_with_explicit_gradients(calculator):
    from calculators.system import System

    atoms = structure("nacl")
    system = System.from_ase(atoms)
    system.positions.requires_grad_(True)
    spectrum = calculator.compute(system, gradients=["positions"])
    rng = np.random.default_rng(3)
    loss = 0.0
    explicit = torch.zeros((len(atoms), 3), dtype=torch.float64)
    for block in spectrum.blocks():
        weights = torch.from_numpy(rng.normal(size=block.values.shape))
        loss = loss + (weights * block.values).sum()
        gradient = block.gradient("positions")
        atoms_index = torch.from_numpy(gradient.samples.column("atom").astype(np.int64))
        parents = torch.from_numpy(gradient.samples.column("sample").astype(np.int64))
        contribution = (gradient.values.detach() * weights[parents][:, None, :]).sum(-1)
        explicit.index_add_(0, atoms_index, contribution)
    (autograd,) = torch.autograd.grad(loss, system.positions)
    torch.testing.assert_close(autograd, explicit, rtol=1e-10, atol=1e-10)


def test_calculator_errors(calculator):
    with pytest.raises(ValueError, match="`gradients` of SoapPowerSpectrum may contain"):
        calculator.compute(structure("methanol"), gradients=["cell_vectors"])
    with pytest.raises(ValueError, match="`basis` of the radial spectrum only takes"):
        SoapRadialSpectrum(cutoff=HYPERS["cutoff"], density=HYPERS["density"],
                           basis=HYPERS["basis"])


def test_selected_samples(calculator):
    atoms = structure("water_methane")
    full = calculator.compute(atoms, gradients=["positions"])
    selection = Labels(["atom"], [[0], [4], [6]])
    selected = calculator.compute(atoms, gradients=["positions"], selected_samples=selection)
    for key, block in selected.items():
        assert set(block.samples.column("atom").tolist()) <= {0, 4, 6}
        reference_block = full.block(key)
        rows = reference_block.samples.positions(block.samples)
        np.testing.assert_allclose(as_numpy(block.values),
                                   as_numpy(reference_block.values)[rows], atol=1e-14)


def assert_same_as_product_rule(from_pairs, product_rule, gradients, tolerance,
                                dtype=torch.float64):
    """The gradients ``compute`` takes from the pairs equal the product rule through the
    expansion's gradient blocks: same keys, samples, gradient order, rows and components,
    values within ``tolerance / 10``, gradients within ``tolerance`` relative to each
    gradient's largest entry."""
    assert from_pairs.keys == product_rule.keys
    assert len(from_pairs.keys) > 0
    for (key, block), (_, expected) in zip(from_pairs.items(), product_rule.items()):
        assert block.values.dtype == dtype
        assert block.samples == expected.samples, key
        assert block.gradients_list() == list(gradients)
        np.testing.assert_allclose(as_numpy(block.values), as_numpy(expected.values),
                                   rtol=0, atol=tolerance / 10)
        for parameter in gradients:
            mine, reference_gradient = block.gradient(parameter), expected.gradient(parameter)
            assert mine.samples == reference_gradient.samples, (key, parameter)
            assert mine.components == reference_gradient.components
            scale = max(1.0, float(np.abs(as_numpy(reference_gradient.values)).max()))
            np.testing.assert_allclose(as_numpy(mine.values),
                                       as_numpy(reference_gradient.values),
                                       rtol=0, atol=tolerance * scale)


@pytest.mark.parametrize("pairs_per_chunk, radial", [
    (1, None), (7, None), (1024, None),
    # fewer radial functions for higher l: the outer products go one l at a time
    (64, {"type": "LaplacianEigenstate", "max_radial": 4, "max_angular": 3}),
])
def test_gradients_from_pairs_equal_the_product_rule(calculator, monkeypatch,
                                                      pairs_per_chunk, radial):
    """``compute`` takes positions and strain gradients from the pairs; the product rule
    through the expansion's gradient blocks must give the same rows and values (small
    periodic cells, where several images of a neighbour share a row, included; padded
    and unpadded)."""
    import calculators._soap_pair_gradients as pairs_module

    monkeypatch.setattr(pairs_module, "_PAIRS_PER_CHUNK", pairs_per_chunk)
    if radial is not None:
        hypers = {**HYPERS, "density": {"type": "DiracDelta"},
                  "basis": radial}
        calculator = SoapPowerSpectrum(**hypers)
        sizes = calculator.spherical_expansion.radial_sizes
        assert len(set(sizes)) > 1
    systems = [structure("nacl"), structure("methanol"), structure("silicon"),
               structure("water_methane")]
    selection = Labels(["system", "atom"], [[0, 1], [1, 0], [1, 3], [3, 2], [3, 5]])
    for gradients, selected_samples in [(["positions"], None),
                                        (["strain", "positions"], None),
                                        (["positions"], selection)]:
        chosen = systems if "strain" not in gradients else [systems[0], systems[2]]
        from_pairs = calculator.compute(chosen, gradients=gradients,
                                        selected_samples=selected_samples)
        expansion = calculator.spherical_expansion.compute(
            chosen, gradients=gradients, selected_samples=selected_samples)
        assert_same_as_product_rule(from_pairs, power_spectrum_from_expansion(expansion),
                                    gradients, 1e-12)


def test_compact_and_padded_pair_gradients_agree(calculator, monkeypatch):
    """Batches with much padding build only their real pairs' rows (positions only): the
    result must not depend on that choice, nor on the batch sizes."""
    import calculators._soap_pair_gradients as pairs_module

    water = ase.build.molecule("H2O")
    methanol = ase.build.molecule("CH3OH")
    methanol.translate([2.8, 0.0, 0.0])
    frames = [water + methanol, ase.build.molecule("C6H6"), structure("methanol")]
    results = []
    for threshold, pairs_per_chunk in [(1.0, 1024), (0.0, 1024), (0.0, 5)]:
        monkeypatch.setattr(pairs_module, "_COMPACT_ABOVE_PADDING", threshold)
        monkeypatch.setattr(pairs_module, "_PAIRS_PER_CHUNK", pairs_per_chunk)
        results.append(calculator.compute(frames, gradients=["positions"]))
    expansion = calculator.spherical_expansion.compute(frames, gradients=["positions"])
    for result in results:
        assert_same_as_product_rule(result, power_spectrum_from_expansion(expansion),
                                    ["positions"], 1e-12)


@pytest.mark.parametrize("gradients", [["strain"], ["cell"], ["cell", "positions"],
                                       ["strain", "cell"]])
def test_gradients_from_pairs_any_combination(calculator, gradients):
    """Only the requested sums over the pairs are computed (their columns depend on the
    combination): each combination must still match the product rule."""
    systems = [structure("nacl"), structure("silicon")]
    from_pairs = calculator.compute(systems, gradients=gradients)
    expansion = calculator.spherical_expansion.compute(systems, gradients=gradients)
    assert_same_as_product_rule(from_pairs, power_spectrum_from_expansion(expansion),
                                gradients, 1e-12)


def test_gradients_from_pairs_with_weights_float32_and_selected_keys():
    """Per-atom density weights go into the pair factors; float32 and a key selection go
    through the same path: both gradient routes must still agree."""
    calculator = SoapPowerSpectrum(**HYPERS)
    rng = np.random.default_rng(7)
    systems = []
    for name in ("nacl", "water_methane"):
        atoms = structure(name)
        systems.append(System.from_ase(atoms, weights=rng.uniform(0.5, 2.0, len(atoms))))
    selected_keys = Labels(["neighbor_1_type"], [[1], [11]])
    for dtype, tolerance in ((torch.float64, 1e-12), (torch.float32, 1e-4)):
        calculator = calculator.to(dtype=dtype)
        gradients = ["positions", "strain"]
        from_pairs = calculator.compute(systems, gradients=gradients,
                                        selected_keys=selected_keys)
        expansion = calculator.spherical_expansion.compute(systems, gradients=gradients)
        product_rule = power_spectrum_from_expansion(expansion, selected_keys=selected_keys)
        assert_same_as_product_rule(from_pairs, product_rule, gradients, tolerance, dtype)


@pytest.mark.parametrize("system", ["crystal", "molecules"])
def test_padded_and_one_sample_per_product_gradients_agree(calculator, monkeypatch, system):
    """Samples with different numbers of gradient rows share products by padding; with a
    single sample per chunk nothing is padded: both must give the same gradients."""
    if system == "crystal":
        # compressed and rattled: second neighbours cross the cutoff here and there
        frames = ase.build.bulk("Si", "diamond", a=4.9, cubic=True) * (2, 1, 1)
        frames.rattle(0.2, seed=3)
        gradients = ["positions", "strain"]
    else:
        water = ase.build.molecule("H2O")
        methanol = ase.build.molecule("CH3OH")
        methanol.translate([2.8, 0.0, 0.0])
        frames = [water + methanol, ase.build.molecule("C6H6")]
        gradients = ["positions"]
    expansion = calculator.spherical_expansion.compute(frames, gradients=gradients)
    padded = power_spectrum_from_expansion(expansion)
    counts = np.bincount(padded.block(0).gradient("positions").samples.column("sample"))
    assert not np.all(counts == counts[0])
    monkeypatch.setattr(power_spectrum_module, "_ROWS_PER_SAMPLE_CHUNK", 1)
    unpadded = power_spectrum_from_expansion(expansion)
    for (key, block), (_, other) in zip(padded.items(), unpadded.items()):
        for parameter in gradients:
            mine, expected = block.gradient(parameter), other.gradient(parameter)
            assert mine.samples == expected.samples
            np.testing.assert_allclose(as_numpy(mine.values), as_numpy(expected.values),
                                       rtol=0, atol=1e-13)


@pytest.mark.parametrize("variable", ["positions", "weights"])
def test_explicit_gradients_are_differentiable(variable):
    """Training on forces differentiates the positions gradients again, with respect to
    the positions or to learnable (alchemical) density weights: autograd through the pair
    path must match finite differences."""
    calculator = SoapPowerSpectrum(**HYPERS)
    atoms = structure("water_methane")
    rng = np.random.default_rng(3)
    projections = {}

    def loss_of(value):
        if variable == "positions":
            system = System(atoms.numbers, value, atoms.cell.array, atoms.pbc)
        else:
            system = System.from_ase(atoms, weights=value)
        spectrum = calculator.compute(system, gradients=["positions"])
        total = 0.0
        for key, block in spectrum.items():
            values = block.gradient("positions").values
            if key not in projections:
                projections[key] = torch.from_numpy(rng.normal(size=values.shape))
            total = total + (projections[key] * values).sum()
        return total

    if variable == "positions":
        value = torch.tensor(atoms.positions, dtype=torch.float64, requires_grad=True)
        entries, step = [(0, 0), (2, 1), (5, 2)], 1e-5
    else:
        value = torch.tensor(rng.uniform(0.5, 1.5, len(atoms)), requires_grad=True)
        entries, step = [0, 3, 6], 1e-6
    (autograd,) = torch.autograd.grad(loss_of(value), value)
    for entry in entries:
        moved = value.detach().clone()
        moved[entry] += step
        forward = float(loss_of(moved))
        moved[entry] -= 2 * step
        backward = float(loss_of(moved))
        finite_difference = (forward - backward) / (2 * step)
        assert abs(float(autograd[entry]) - finite_difference) <= 1e-6 * max(
            1.0, abs(finite_difference)), entry


@st.composite
def _random_cells(draw):
    """2–6 atoms of 1–3 types in a random triclinic cell, any pbc, small enough that
    periodic images of one neighbour often share a gradient row."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_atoms = draw(st.integers(2, 6))
    types = rng.choice([1, 6, 8][: draw(st.integers(1, 3))], size=n_atoms)
    scale = draw(st.floats(2.5, 5.0))
    cell = scale * (np.eye(3) + 0.2 * rng.normal(size=(3, 3)))
    atoms = ase.Atoms(numbers=types, scaled_positions=rng.uniform(0, 1, size=(n_atoms, 3)),
                      cell=cell, pbc=draw(st.lists(st.booleans(), min_size=3, max_size=3)))
    distances = atoms.get_all_distances(mic=True)[np.triu_indices(n_atoms, 1)]
    assume(distances.min() > 0.5)
    return atoms


_SMALL = SoapPowerSpectrum(
    cutoff={"radius": 3.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
    density={"type": "Gaussian", "width": 0.4},
    basis={"type": "TensorProduct", "max_angular": 2,
           "radial": {"type": "Gto", "max_radial": 2}},
)


@settings(max_examples=25, deadline=None)
@given(_random_cells())
def test_gradients_from_pairs_equal_the_product_rule_on_random_cells(atoms):
    gradients = ["positions", "strain", "cell"]
    from_pairs = _SMALL.compute(atoms, gradients=gradients)
    product_rule = power_spectrum_from_expansion(
        _SMALL.spherical_expansion.compute(atoms, gradients=gradients))
    assert_same_as_product_rule(from_pairs, product_rule, gradients, 1e-11)
