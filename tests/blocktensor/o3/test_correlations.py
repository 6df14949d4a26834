import os

import numpy as np
import pytest
import torch

import blocktensor
from blocktensor import Labels
from blocktensor.o3.correlations import (
    DensityCorrelations,
    filter_redundant_keys,
    increment_numeric_suffix,
)
from blocktensor.o3.rotate import check_equivariance
from blocktensor.operations import allclose_raise

from .density_utils import cluster, density

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data", "clebsch_gordan_products")


@pytest.fixture(scope="module")
def featomic_density():
    source = blocktensor.load(os.path.join(DATA, "density.mts"))
    return blocktensor.remove_gradients(source).keys_to_properties("neighbor_type")


def test_nu2_matches_featomic(featomic_density):
    result = DensityCorrelations(n_correlations=1, max_angular=4).compute(featomic_density)
    reference = blocktensor.load(os.path.join(DATA, "density_correlations_nu2.mts"))
    assert result.keys.names == ["o3_lambda", "o3_sigma", "center_type", "l_1", "l_2"]
    assert result.property_names == ["neighbor_1_type", "n_1", "neighbor_2_type", "n_2"]
    assert result.keys == reference.keys
    allclose_raise(result, reference, rtol=0, atol=1e-10)


def test_nu3_with_angular_cutoff_matches_featomic(featomic_density):
    calculator = DensityCorrelations(n_correlations=2, max_angular=4, angular_cutoff=1)
    result = calculator.compute(featomic_density)
    reference = blocktensor.load(os.path.join(DATA, "density_correlations_nu3.mts"))
    assert result.keys.names == ["o3_lambda", "o3_sigma", "center_type", "l_1", "l_2",
                                 "k_2", "l_3"]
    assert result.keys == reference.keys
    allclose_raise(result, reference, rtol=0, atol=1e-10)
    # the same from the per-call argument, on torch
    on_torch = DensityCorrelations(n_correlations=2, max_angular=4).compute(
        featomic_density.to(arrays="torch"), angular_cutoff=1
    )
    allclose_raise(on_torch.to(arrays="numpy"), reference, rtol=0, atol=1e-10)


def test_redundant_blocks_are_swapped_copies(featomic_density):
    full = DensityCorrelations(n_correlations=1, max_angular=4, skip_redundant=False)
    full = full.compute(featomic_density)
    reduced = DensityCorrelations(n_correlations=1, max_angular=4).compute(featomic_density)
    assert len(full.keys) > len(reduced.keys)
    names = full.keys.names
    for key, block in full.items():
        l1, l2, o3_lambda = key["l_1"], key["l_2"], key["o3_lambda"]
        if l1 <= l2:
            assert key.values.tolist() in reduced.keys.values.tolist()
            continue
        swapped = key.values.copy()
        swapped[names.index("l_1")], swapped[names.index("l_2")] = l2, l1
        partner = full.block(full.keys.position(swapped))
        n = int(np.sqrt(len(block.properties)))
        # swapping the factors transposes the properties and gives (−1)^(l1+l2+λ)
        transposed = partner.values.reshape(*partner.values.shape[:2], n, n).swapaxes(2, 3)
        np.testing.assert_allclose(
            block.values, (-1) ** (l1 + l2 + o3_lambda) * transposed.reshape(block.values.shape),
            atol=1e-12,
        )


def test_nu3_equivariant_with_gradients():
    calculator = DensityCorrelations(n_correlations=2, max_angular=3, angular_cutoff=2)

    def function(frames):
        dense = density(frames, max_angular=1, n_radial=1).keys_to_properties("neighbor_type")
        return calculator.compute(dense)

    report = check_equivariance(function, [cluster(4, "HOC")], n_rotations=1, atol=1e-12,
                                rtol=1e-12)
    assert report, report.worst()
    assert any(key[0] == 2 for key in report.errors)


def test_nu2_lambda_0_is_the_soap_power_spectrum():
    """DESIGN.md: p = Σ_m c¹_m c²_m (−1)^l/√(2l+1), √2 for different neighbour types."""
    source = blocktensor.load(os.path.join(DATA, "density.mts"))
    nu2 = DensityCorrelations(n_correlations=1, max_angular=2).compute(
        blocktensor.remove_gradients(source).keys_to_properties("neighbor_type"),
        selected_keys=Labels(["o3_lambda"], [[0]]),
    )
    soap = blocktensor.load(os.path.join(DATA, "soap_power_spectrum.mts"))
    checked = 0
    for key, block in soap.items():
        for row, (l, n1, n2) in enumerate(block.properties.values.tolist()):
            coupled = nu2.block({"center_type": key["center_type"], "l_1": l, "l_2": l})
            column = coupled.properties.position(
                (key["neighbor_1_type"], n1, key["neighbor_2_type"], n2)
            )
            factor = 1.0 if key["neighbor_1_type"] == key["neighbor_2_type"] else np.sqrt(2)
            np.testing.assert_allclose(block.values[:, row],
                                       factor * coupled.values[:, 0, column], atol=1e-12)
            checked += 1
    assert checked == sum(len(b.properties) for b in soap.blocks())


def test_redundant_filter_and_suffixes():
    keys = Labels(["o3_lambda", "l_1", "l_2", "k_2", "l_3"],
                  [[0, 0, 1, 1, 1], [0, 1, 0, 1, 1], [1, 1, 1, 1, 0], [2, 0, 0, 0, 2]])
    assert filter_redundant_keys(keys).tolist() == [0, 3]
    assert filter_redundant_keys(Labels(["o3_lambda"], [[0], [1]])).tolist() == [0, 1]
    assert increment_numeric_suffix("center_type", 3) == "center_3_type"
    assert increment_numeric_suffix("first_atom_1_type") == "first_atom_2_type"
    assert increment_numeric_suffix("n_9") == "n_10"


def test_errors(featomic_density):
    with pytest.raises(ValueError, match="n_correlations"):
        DensityCorrelations(n_correlations=0, max_angular=2)
    with pytest.raises(ValueError, match="max_angular"):
        DensityCorrelations(n_correlations=1, max_angular=-2)
    with pytest.raises(ValueError, match="angular_cutoff"):
        DensityCorrelations(n_correlations=1, max_angular=2, angular_cutoff=-1)
    with pytest.raises(TypeError, match="density"):
        DensityCorrelations(n_correlations=1, max_angular=2).compute(featomic_density.block(0))


def test_is_a_module():
    calculator = DensityCorrelations(n_correlations=1, max_angular=2)
    assert isinstance(calculator, torch.nn.Module)
    assert "n_correlations=1" in repr(calculator)
