"""Reference outputs of featomic's ``clebsch_gordan`` module, for blocktensor.o3 products.

Run with a Python that has featomic installed (0.6.7 was used)::

    /work/refenv/bin/python tests/data/generate_clebsch_gordan_products.py

Writes under ``tests/data/clebsch_gordan_products/`` (metatensor archives):

- ``density.mts``: featomic ``SphericalExpansion`` of two small periodic structures (H, C,
  O; hyper-parameters in ``input.json``) with positions and strain gradients;
- ``density_correlations_nu2.mts``: ``DensityCorrelations(n_correlations=1,
  max_angular=4)`` of the density with ``neighbor_type`` moved to properties (gradients
  removed, featomic does not propagate them);
- ``density_correlations_nu3.mts``: ``DensityCorrelations(n_correlations=2,
  max_angular=4)`` with ``angular_cutoff=1`` on the same input;
- ``equivariant_power_spectrum.mts`` / ``equivariant_power_spectrum_dense.mts``:
  ``EquivariantPowerSpectrum(calculator)`` with ``neighbors_to_properties`` False / True;
- ``power_spectrum.mts``: ``clebsch_gordan.PowerSpectrum(calculator)`` with positions
  gradients;
- ``soap_power_spectrum.mts``: ``SoapPowerSpectrum`` with the same hyper-parameters.
"""

import json
import os

import ase
import featomic
import featomic.clebsch_gordan as cg
import metatensor
import numpy as np

HYPERS = {
    "cutoff": {"radius": 3.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
    "density": {"type": "Gaussian", "width": 0.3},
    "basis": {
        "type": "TensorProduct",
        "max_angular": 2,
        "radial": {"type": "Gto", "max_radial": 1},
    },
}


def structures():
    rng = np.random.default_rng(20240607)
    first = ase.Atoms(
        "CHHO",
        positions=rng.uniform(0.0, 3.2, size=(4, 3)),
        cell=[[3.4, 0.0, 0.0], [0.3, 3.3, 0.0], [-0.2, 0.4, 3.5]],
        pbc=True,
    )
    second = ase.Atoms(
        "OHC",
        positions=rng.uniform(0.0, 3.0, size=(3, 3)),
        cell=[[3.1, 0.2, 0.0], [0.0, 3.6, 0.1], [0.3, 0.0, 3.2]],
        pbc=True,
    )
    return [first, second]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    output = os.path.join(here, "clebsch_gordan_products")
    os.makedirs(output, exist_ok=True)
    frames = structures()

    calculator = featomic.SphericalExpansion(**HYPERS)
    density = calculator.compute(frames, gradients=["positions", "strain"])
    metatensor.save(os.path.join(output, "density.mts"), density)

    dense = metatensor.remove_gradients(density).keys_to_properties("neighbor_type")
    nu2 = cg.DensityCorrelations(n_correlations=1, max_angular=4).compute(dense)
    metatensor.save(os.path.join(output, "density_correlations_nu2.mts"), nu2)
    nu3 = cg.DensityCorrelations(n_correlations=2, max_angular=4).compute(
        dense, angular_cutoff=1
    )
    metatensor.save(os.path.join(output, "density_correlations_nu3.mts"), nu3)

    lsoap = cg.EquivariantPowerSpectrum(calculator)
    metatensor.save(
        os.path.join(output, "equivariant_power_spectrum.mts"), lsoap.compute(frames)
    )
    metatensor.save(
        os.path.join(output, "equivariant_power_spectrum_dense.mts"),
        lsoap.compute(frames, neighbors_to_properties=True),
    )

    power_spectrum = cg.PowerSpectrum(calculator).compute(frames, gradients=["positions"])
    metatensor.save(os.path.join(output, "power_spectrum.mts"), power_spectrum)

    soap = featomic.SoapPowerSpectrum(**HYPERS).compute(frames)
    metatensor.save(os.path.join(output, "soap_power_spectrum.mts"), soap)

    description = {
        "generator": f"featomic {featomic.__version__} (clebsch_gordan)",
        "hypers": HYPERS,
        "structures": [
            {
                "symbols": atoms.get_chemical_symbols(),
                "positions": atoms.positions.tolist(),
                "cell": np.asarray(atoms.cell).tolist(),
            }
            for atoms in frames
        ],
    }
    with open(os.path.join(output, "input.json"), "w") as file:
        json.dump(description, file, indent=1)
    total = sum(os.path.getsize(os.path.join(output, f)) for f in os.listdir(output))
    print(f"wrote {len(os.listdir(output))} files ({total / 1e6:.2f} MB) to {output}")


if __name__ == "__main__":
    main()
