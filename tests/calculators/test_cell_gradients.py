"""``cell`` gradients (∂/∂cell[a, x], Cartesian positions fixed) of the spherical
expansion and the power spectrum: against featomic 0.6.7 (committed reference), finite
differences, and the product rule through the expansion."""

import json
import os

import ase
import numpy as np
import pytest

import blocktensor
from calculators import SoapPowerSpectrum, SphericalExpansion, SphericalExpansionByPair
from calculators.power_spectrum import power_spectrum_from_expansion

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "cell_gradients")
with open(os.path.join(DATA, "hypers.json")) as _file:
    HYPERS = json.load(_file)


def _structure():
    with open(os.path.join(DATA, "structure.json")) as fd:
        data = json.load(fd)
    return ase.Atoms(numbers=data["numbers"], positions=data["positions"],
                     cell=data["cell"], pbc=data["pbc"])


def _as_numpy(array):
    return array.detach().cpu().numpy() if hasattr(array, "detach") else np.asarray(array)


@pytest.mark.parametrize("calculator_class, name", [
    (SphericalExpansion, "expansion"),
    (SphericalExpansionByPair, "expansion_by_pair"),
    (SoapPowerSpectrum, "power_spectrum"),
])
def test_cell_gradients_match_featomic(calculator_class, name):
    reference = blocktensor.load(os.path.join(DATA, f"{name}.mts"))
    ours = calculator_class(**HYPERS).compute(_structure(), gradients=["cell"])
    for key, expected in reference.items():
        block = ours.block(key)
        gradient, expected_gradient = block.gradient("cell"), expected.gradient("cell")
        assert [c.names for c in gradient.components] == \
            [c.names for c in expected_gradient.components]
        # our expansions may list more samples; compare the ones featomic has
        rows = block.samples.positions(expected.samples)
        assert np.all(rows >= 0)
        ours_by_sample = np.zeros((len(block.samples),) + tuple(gradient.values.shape[1:]))
        ours_by_sample[gradient.samples.column("sample")] = _as_numpy(gradient.values)
        expected_values = np.zeros((len(expected.samples),)
                                   + tuple(expected_gradient.values.shape[1:]))
        expected_values[expected_gradient.samples.column("sample")] = expected_gradient.values
        scale = np.abs(expected_values).max()
        # the references use featomic's exact radial integrals (no spline)
        np.testing.assert_allclose(ours_by_sample[rows], expected_values, rtol=0,
                                   atol=1e-6 * scale)


@pytest.mark.parametrize("calculator_class",
                         [SphericalExpansion, SphericalExpansionByPair, SoapPowerSpectrum])
def test_cell_gradients_finite_differences(calculator_class):
    calculator = calculator_class(**HYPERS)
    atoms = _structure()
    spectrum = calculator.compute(atoms, gradients=["positions", "cell"])
    step = 1e-6
    for vector, direction in [(0, 0), (0, 1), (1, 2), (2, 0)]:
        moved = []
        for sign in (1, -1):
            deformed = atoms.copy()
            cell = deformed.cell.array.copy()
            cell[vector, direction] += sign * step
            deformed.set_cell(cell, scale_atoms=False)
            moved.append(calculator.compute(deformed))
        for key, block in spectrum.items():
            finite_difference = (_as_numpy(moved[0].block(key).values)
                                 - _as_numpy(moved[1].block(key).values)) / (2 * step)
            gradient = block.gradient("cell")
            analytic = np.zeros_like(finite_difference)
            analytic[gradient.samples.column("sample")] = _as_numpy(
                gradient.values[:, vector, direction])
            np.testing.assert_allclose(analytic, finite_difference, rtol=0, atol=1e-8)


def test_cell_gradients_from_pairs_equal_the_product_rule():
    calculator = SoapPowerSpectrum(**HYPERS)
    atoms = _structure()
    gradients = ["cell", "positions", "strain"]
    from_pairs = calculator.compute(atoms, gradients=gradients)
    expansion = calculator.spherical_expansion.compute(atoms, gradients=gradients)
    product_rule = power_spectrum_from_expansion(expansion)
    for key, block in from_pairs.items():
        assert block.gradients_list() == gradients
        for parameter in gradients:
            mine, expected = block.gradient(parameter), product_rule.block(key).gradient(
                parameter)
            assert mine.samples == expected.samples
            assert mine.components == expected.components
            np.testing.assert_allclose(_as_numpy(mine.values), _as_numpy(expected.values),
                                       rtol=0, atol=1e-12)
