"""Typed hyper-parameters (calculators.hypers) give the same calculators as the dicts."""

import ase.build
import numpy as np
import pytest

from blocktensor.testing import assert_tensor_maps_equal
from calculators import SoapPowerSpectrum, SoapRadialSpectrum, SphericalExpansion
from calculators.hypers import (
    Cutoff,
    DiracDelta,
    Gaussian,
    Gto,
    LaplacianEigenstate,
    ShiftedCosine,
    Step,
    TensorProduct,
    Willatt2018,
    as_hypers_dict,
)

CASES = [
    (
        dict(cutoff=Cutoff(radius=3.5, smoothing=ShiftedCosine(width=0.5)),
             density=Gaussian(width=0.3, center_atom_weight=0.5,
                              scaling=Willatt2018(exponent=3, rate=1.5, scale=2.0)),
             basis=TensorProduct(max_angular=3, radial=Gto(max_radial=3))),
        dict(cutoff={"radius": 3.5, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
             density={"type": "Gaussian", "width": 0.3, "center_atom_weight": 0.5,
                      "scaling": {"type": "Willatt2018", "exponent": 3, "rate": 1.5,
                                  "scale": 2.0}},
             basis={"type": "TensorProduct", "max_angular": 3,
                    "radial": {"type": "Gto", "max_radial": 3}}),
    ),
    (
        dict(cutoff=Cutoff(radius=3.0, smoothing=Step()),
             density=DiracDelta(),
             basis=LaplacianEigenstate(max_radial=4, max_angular=3)),
        dict(cutoff={"radius": 3.0, "smoothing": {"type": "Step"}},
             density={"type": "DiracDelta"},
             basis={"type": "LaplacianEigenstate", "max_radial": 4, "max_angular": 3}),
    ),
]


@pytest.mark.parametrize("typed, plain", CASES)
@pytest.mark.parametrize("calculator_class", [SphericalExpansion, SoapPowerSpectrum])
def test_typed_hypers_give_the_dict_calculator(calculator_class, typed, plain):
    atoms = ase.build.molecule("CH3OH")
    atoms.rattle(0.05, seed=4)
    from_typed = calculator_class(**typed).compute(atoms, gradients=["positions"])
    from_dicts = calculator_class(**plain).compute(atoms, gradients=["positions"])
    assert_tensor_maps_equal(from_typed, from_dicts)
    assert from_typed.block(0).values.abs().max() > 0


def test_radial_spectrum_takes_typed_radial_basis():
    atoms = ase.build.molecule("H2O")
    typed = SoapRadialSpectrum(cutoff=Cutoff(radius=3.0, smoothing=ShiftedCosine(width=0.5)),
                               density=Gaussian(width=0.3), basis={"radial": Gto(max_radial=3)})
    plain = SoapRadialSpectrum(
        cutoff={"radius": 3.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
        density={"type": "Gaussian", "width": 0.3},
        basis={"radial": {"type": "Gto", "max_radial": 3}},
    )
    assert_tensor_maps_equal(typed.compute(atoms), plain.compute(atoms))


def test_hypers_are_frozen_and_checked():
    cutoff = Cutoff(radius=3.0, smoothing=Step())
    with pytest.raises(AttributeError):
        cutoff.radius = 4.0
    with pytest.raises(TypeError):
        Gaussian(0.3)  # keyword-only, as featomic
    with pytest.raises(TypeError, match="`basis` must be a dict or a calculators.hypers"):
        as_hypers_dict([1, 2], "basis")
    with pytest.raises(ValueError, match="cutoff.radius"):
        SphericalExpansion(cutoff=Cutoff(radius=-1.0), density=Gaussian(width=0.3),
                           basis=TensorProduct(max_angular=1, radial=Gto(max_radial=1)))
    nested = as_hypers_dict({"radius": 2.0, "smoothing": ShiftedCosine(width=0.25)}, "cutoff")
    assert nested == {"radius": 2.0, "smoothing": {"type": "ShiftedCosine", "width": 0.25}}
    assert np.isclose(TensorProduct(max_angular=1, radial=Gto(max_radial=1)).to_dict()[
        "spline_accuracy"], 1e-8)
