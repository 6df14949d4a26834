import os

import numpy as np
import pytest

import blocktensor
from blocktensor import Labels
from blocktensor.o3.correlations import DensityCorrelations
from blocktensor.o3.power_spectrum import EquivariantPowerSpectrum, PowerSpectrum
from blocktensor.o3.rotate import check_equivariance
from blocktensor.operations import allclose_raise

from .density_utils import cluster, density

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data", "clebsch_gordan_products")


@pytest.fixture(scope="module")
def featomic_density():
    return blocktensor.load(os.path.join(DATA, "density.mts"))


def _reference(name):
    return blocktensor.load(os.path.join(DATA, f"{name}.mts"))


def test_power_spectrum_matches_featomic_with_gradients(featomic_density):
    result = PowerSpectrum().compute(
        blocktensor.remove_gradients(featomic_density, ["strain"])
    )
    reference = _reference("power_spectrum")
    assert result.keys == reference.keys
    assert result.property_names == ["l", "neighbor_1_type", "n_1", "neighbor_2_type", "n_2"]
    allclose_raise(result, reference, rtol=0, atol=1e-10)


def test_equivariant_power_spectrum_matches_featomic(featomic_density):
    plain = blocktensor.remove_gradients(featomic_density)
    sparse = EquivariantPowerSpectrum().compute(plain)
    reference = _reference("equivariant_power_spectrum")
    assert sparse.keys == reference.keys
    allclose_raise(sparse, reference, rtol=0, atol=1e-10)

    dense = EquivariantPowerSpectrum(neighbors_to_properties=True).compute(plain)
    reference = _reference("equivariant_power_spectrum_dense")
    assert dense.keys == reference.keys
    assert dense.property_names == ["l_1", "l_2", "neighbor_1_type", "n_1",
                                    "neighbor_2_type", "n_2"]
    allclose_raise(dense, reference, rtol=0, atol=1e-10)


def test_explicit_neighbor_types_and_selection(featomic_density):
    plain = blocktensor.remove_gradients(featomic_density)
    widened = EquivariantPowerSpectrum(neighbors_to_properties=True,
                                       neighbor_types=[1, 6, 8, 14])
    selected = widened.compute(plain, selected_keys=Labels(["o3_lambda"], [[1]]))
    assert np.all(selected.keys.column("o3_lambda") == 1)
    types = np.unique(selected.block(0).properties.column("neighbor_1_type"))
    assert types.tolist() == [1, 6, 8, 14]
    reference = _reference("equivariant_power_spectrum_dense")
    for key, block in selected.items():
        expected = reference.block(key)
        columns = block.properties.positions(expected.properties)
        np.testing.assert_allclose(block.values[..., columns], expected.values, atol=1e-10)

    invariants = PowerSpectrum(neighbor_types=[1, 6, 8, 14]).compute(plain)
    assert len(invariants.block(0).properties) == 3 * 16 * 2 * 2


def test_power_spectrum_is_lambda_0_of_the_product(featomic_density):
    plain = blocktensor.remove_gradients(featomic_density)
    invariants = PowerSpectrum().compute(plain)
    nu2 = DensityCorrelations(n_correlations=1, max_angular=0, skip_redundant=False).compute(
        plain.keys_to_properties("neighbor_type")
    )
    for key, block in nu2.items():
        target = invariants.block(center_type=key["center_type"])
        columns = target.properties.select(Labels(["l"], [[key["l_1"]]]))
        np.testing.assert_allclose(target.values[:, columns], block.values[:, 0], atol=1e-14)


def test_invariant_and_equivariant_under_rotations():
    def invariants(frames):
        return PowerSpectrum().compute(density(frames, max_angular=2, n_radial=2))

    frames = [cluster(5, "HHOC")]
    report = check_equivariance(invariants, frames, n_rotations=2, atol=1e-12, rtol=1e-12)
    assert report, report.worst()

    def lsoap(frames):
        return EquivariantPowerSpectrum(neighbors_to_properties=True).compute(
            density(frames, max_angular=2, n_radial=1)
        )

    report = check_equivariance(lsoap, frames, n_rotations=2, atol=1e-12, rtol=1e-12)
    assert report, report.worst()
    assert {key[1] for key in report.errors} == {-1, 1}


def test_cross_power_spectrum_and_errors(featomic_density):
    plain = blocktensor.remove_gradients(featomic_density)
    doubled = blocktensor.multiply(plain, 2.0)
    cross = PowerSpectrum().compute(plain, doubled)
    auto = PowerSpectrum().compute(plain)
    allclose_raise(cross, blocktensor.multiply(auto, 2.0), atol=1e-12)

    with pytest.raises(ValueError, match="neighbor_type"):
        PowerSpectrum().compute(plain.keys_to_properties("neighbor_type"))
    with pytest.raises(TypeError, match="density_1"):
        EquivariantPowerSpectrum().compute(plain.block(0))
    with pytest.raises(TypeError, match="neighbors_to_properties"):
        EquivariantPowerSpectrum(neighbors_to_properties="yes")
