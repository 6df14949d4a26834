import ase
import numpy as np
import pytest
import torch

from blocktensor.o3 import EquivariantPowerSpectrum as DensityEquivariantPowerSpectrum
from blocktensor.o3 import check_equivariance
from calculators import EquivariantPowerSpectrum, SphericalExpansion

HYPERS = {
    "cutoff": {"radius": 3.5, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
    "density": {"type": "Gaussian", "width": 0.3},
    "basis": {"type": "TensorProduct", "max_angular": 2, "radial": {"type": "Gto", "max_radial": 2}},
}


def molecules():
    rng = np.random.default_rng(7)
    water = ase.Atoms("OH2", positions=[[0, 0, 0], [0, 0.76, 0.59], [0, -0.76, 0.59]])
    ammonia = ase.Atoms("NH3", positions=[[0, 0, 0], [0.94, 0, 0.3], [-0.47, 0.81, 0.3],
                                          [-0.47, -0.81, 0.3]])
    for atoms in (water, ammonia):
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
    return [water, ammonia]


@pytest.mark.parametrize("neighbors_to_properties", [False, True])
def test_chains_expansion_and_product(neighbors_to_properties):
    calculator = EquivariantPowerSpectrum(**HYPERS, max_angular=2,
                                          neighbors_to_properties=neighbors_to_properties)
    result = calculator.compute(molecules(), gradients=["positions"])
    density = SphericalExpansion(**HYPERS).compute(molecules(), gradients=["positions"])
    expected = DensityEquivariantPowerSpectrum(
        max_angular=2, neighbors_to_properties=neighbors_to_properties).compute(density)
    assert result.keys == expected.keys
    for block, reference in zip(result.blocks(), expected.blocks()):
        assert block.properties == reference.properties
        torch.testing.assert_close(block.values, reference.values, rtol=0, atol=0)
        torch.testing.assert_close(block.gradient("positions").values,
                                   reference.gradient("positions").values, rtol=0, atol=0)


def test_equivariance_with_gradients():
    calculator = EquivariantPowerSpectrum(**HYPERS, max_angular=3, neighbors_to_properties=True)
    report = check_equivariance(
        lambda frames: calculator.compute(frames, gradients=["positions"]), molecules(),
        n_rotations=2, atol=1e-12, rtol=1e-12)
    assert report, report
    # σ = -1 blocks exist and are tested too
    assert -1 in calculator.compute(molecules()).keys.column("o3_sigma")


def test_position_gradients_against_finite_differences():
    calculator = EquivariantPowerSpectrum(**HYPERS, max_angular=2, neighbors_to_properties=True)
    frame = molecules()[1]
    result = calculator.compute(frame, gradients=["positions"])
    delta = 1e-5
    for atom, direction in [(0, 2), (2, 0)]:
        plus, minus = frame.copy(), frame.copy()
        plus.positions[atom, direction] += delta
        minus.positions[atom, direction] -= delta
        value_plus, value_minus = calculator.compute(plus), calculator.compute(minus)
        for key, block in result.items():
            gradient = block.gradient("positions")
            finite = (value_plus.block(key).values - value_minus.block(key).values) / (2 * delta)
            analytic = torch.zeros_like(finite)
            rows = np.nonzero(gradient.samples.column("atom") == atom)[0]
            parents = gradient.samples.column("sample")[rows]
            analytic[torch.from_numpy(parents.astype(np.int64))] = \
                gradient.values[torch.from_numpy(rows), direction]
            torch.testing.assert_close(analytic, finite, atol=1e-7, rtol=1e-6)
