"""Reference data for the SOAP power/radial spectrum, AtomicComposition and SortedDistances
calculators, written with featomic 0.6.7 and metatensor-core 0.2.6.

Run with the reference venv (seeded, gives the same files again)::

    /work/refenv/bin/python tests/data/generate_power_spectrum.py

Writes ``tests/data/power_spectrum/``:

- ``structures.json``: the input structures (``{name: {numbers, positions, cell, pbc}}``:
  ``methanol``,
  ``water_methane`` (two molecules, some centres lack some neighbour types), ``nacl``
  (rattled rocksalt cell, periodic), ``silicon`` (rattled diamond cell, periodic)).
- ``hypers.json``: the hyper-parameters (featomic 0.6 names) used for every calculator.
- ``<name>_expansion.mts``: featomic ``SphericalExpansion`` (positions gradients, plus
  strain gradients for periodic structures).
- ``<name>_power_spectrum.mts``, ``<name>_radial_spectrum.mts``: the same gradients.
- ``<name>_composition_per_atom.mts``, ``<name>_composition_per_system.mts``:
  ``AtomicComposition`` with positions (and strain for periodic) gradients.
- ``<name>_sorted_distances.mts``, ``<name>_sorted_distances_separate.mts``:
  ``SortedDistances`` (featomic computes no gradients for it).
"""

import json
import os

import ase
import ase.build
import featomic
import metatensor
import numpy as np

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "power_spectrum")

HYPERS = {
    "cutoff": {"radius": 4.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
    "density": {"type": "Gaussian", "width": 0.3},
    "basis": {
        "type": "TensorProduct",
        "max_angular": 3,
        "radial": {"type": "Gto", "max_radial": 2},
    },
}
SORTED_DISTANCES = {"cutoff": 3.0, "max_neighbors": 6}
# what featomic is given: the same, with exact radial integrals instead of its spline
# (whose derivatives carry ~2e-6 relative errors), so the tests can ask for 1e-6
EXACT_HYPERS = {**HYPERS, "basis": {**HYPERS["basis"], "spline_accuracy": None}}


def structures():
    rng = np.random.default_rng(20240601)

    methanol = ase.build.molecule("CH3OH")
    methanol.positions += rng.normal(scale=0.05, size=methanol.positions.shape)

    water = ase.build.molecule("H2O")
    methane = ase.build.molecule("CH4")
    methane.positions += np.array([4.2, 0.3, -0.2])
    water_methane = water + methane
    water_methane.positions += rng.normal(scale=0.05, size=water_methane.positions.shape)

    nacl = ase.build.bulk("NaCl", "rocksalt", a=5.0, cubic=True)
    nacl.positions += rng.normal(scale=0.1, size=nacl.positions.shape)
    # a slightly triclinic cell exercises the general strain/cell-shift code paths
    nacl.set_cell(nacl.cell[:] + np.array([[0, 0, 0], [0.3, 0, 0], [0, 0.2, 0]]),
                  scale_atoms=True)

    silicon = ase.build.bulk("Si", "diamond", a=5.43, cubic=True)
    silicon.positions += rng.normal(scale=0.1, size=silicon.positions.shape)

    return {
        "methanol": methanol,
        "water_methane": water_methane,
        "nacl": nacl,
        "silicon": silicon,
    }


def radial_hypers(exact=False):
    basis = {"radial": HYPERS["basis"]["radial"]}
    if exact:
        basis["spline_accuracy"] = None
    return {"cutoff": HYPERS["cutoff"], "density": HYPERS["density"], "basis": basis}


def main():
    os.makedirs(HERE, exist_ok=True)
    systems = structures()
    # JSON keeps every bit of the positions (extended XYZ rounds them to 1e-8 Å)
    with open(os.path.join(HERE, "structures.json"), "w") as file:
        json.dump(
            {
                name: {
                    "numbers": atoms.numbers.tolist(),
                    "positions": atoms.positions.tolist(),
                    "cell": atoms.cell[:].tolist(),
                    "pbc": atoms.pbc.tolist(),
                }
                for name, atoms in systems.items()
            },
            file,
        )
    with open(os.path.join(HERE, "hypers.json"), "w") as file:
        json.dump({"soap": HYPERS, "sorted_distances": SORTED_DISTANCES}, file, indent=2)

    for name, atoms in systems.items():
        gradients = ["positions"] + (["strain"] if atoms.pbc.any() else [])
        outputs = {
            "expansion": featomic.SphericalExpansion(**EXACT_HYPERS),
            "power_spectrum": featomic.SoapPowerSpectrum(**EXACT_HYPERS),
            "radial_spectrum": featomic.SoapRadialSpectrum(**radial_hypers(exact=True)),
            "composition_per_atom": featomic.AtomicComposition(per_system=False),
            "composition_per_system": featomic.AtomicComposition(per_system=True),
        }
        for suffix, calculator in outputs.items():
            tensor = calculator.compute([atoms], gradients=gradients)
            metatensor.save(os.path.join(HERE, f"{name}_{suffix}.mts"), tensor)
        for suffix, separate in [("sorted_distances", False),
                                 ("sorted_distances_separate", True)]:
            calculator = featomic.SortedDistances(
                **SORTED_DISTANCES, separate_neighbor_types=separate
            )
            tensor = calculator.compute([atoms])
            metatensor.save(os.path.join(HERE, f"{name}_{suffix}.mts"), tensor)

    total = sum(os.path.getsize(os.path.join(HERE, f)) for f in os.listdir(HERE))
    print(f"wrote {len(os.listdir(HERE))} files, {total / 1e6:.2f} MB, in {HERE}")


if __name__ == "__main__":
    main()
