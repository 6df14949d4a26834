"""Reference spherical expansions computed with featomic 0.6.7.

Run with the reference environment (featomic is not a dependency of blocktensor):

    /work/refenv/bin/python tests/data/generate_spherical_expansion.py

Writes ``tests/data/spherical_expansion/``:

* ``cases.json``: for every case its structures (types, positions, cell, pbc), the
  featomic hyper-parameters, the calculator (``SphericalExpansion`` or
  ``SphericalExpansionByPair``), the gradients and the output file name;
* ``<case>.mts``: the featomic output (metatensor archive, loadable with
  ``blocktensor.load``).

Everything is deterministic (seeded), so rerunning gives the same data.

featomic is asked for *exact* radial integrals (``"spline_accuracy": None``): its default
spline stops refining on the mean error of the values, which leaves ~2e-6 relative
errors in the gradients; the exact references let the tests hold our (splined) values
and gradients to 1e-6 of the true featomic result. ``cases.json`` lists the hypers
without that switch: they are what a user passes to either package.
"""

import copy
import json
import os

import ase
import ase.build
import featomic
import metatensor
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUTPUT = os.path.join(HERE, "spherical_expansion")


def hypers(radius, max_angular, max_radial, width=0.3, smoothing=None, scaling=None,
           center_atom_weight=None, density_type="Gaussian"):
    density = {"type": density_type}
    if density_type == "Gaussian":
        density["width"] = width
    if scaling is not None:
        density["scaling"] = scaling
    if center_atom_weight is not None:
        density["center_atom_weight"] = center_atom_weight
    return {
        "cutoff": {
            "radius": radius,
            "smoothing": smoothing or {"type": "ShiftedCosine", "width": 0.5},
        },
        "density": density,
        "basis": {
            "type": "TensorProduct",
            "max_angular": max_angular,
            "radial": {"type": "Gto", "max_radial": max_radial},
        },
    }


def water():
    atoms = ase.build.molecule("H2O")
    atoms.rattle(0.05, seed=1)
    return [atoms]


def methane_ammonia():
    methane = ase.build.molecule("CH4")
    ammonia = ase.build.molecule("NH3")
    ammonia.positions += np.array([2.6, 0.4, -0.3])
    methane.rattle(0.03, seed=2)
    return [methane + ammonia]


def silicon_carbide():
    """A triclinic periodic SiC cell (8 atoms) and a 2-atom Si cell smaller than the
    cutoff (so atoms see periodic images of themselves)."""
    sic = ase.build.bulk("SiC", "zincblende", a=4.36, cubic=True)
    generator = np.random.default_rng(3)
    cell = sic.cell[:] @ (np.eye(3) + 0.06 * generator.standard_normal((3, 3)))
    sic.set_cell(cell, scale_atoms=True)
    sic.rattle(0.05, seed=4)
    si = ase.build.bulk("Si", "diamond", a=5.43)
    si.set_cell(si.cell[:] @ (np.eye(3) + 0.04 * generator.standard_normal((3, 3))),
                scale_atoms=True)
    si.rattle(0.05, seed=5)
    return [sic, si]


CASES = {
    "water": dict(
        structures=water,
        hypers=hypers(3.5, 4, 4),
        calculator="SphericalExpansion",
        gradients=["positions", "strain"],
    ),
    "methane_ammonia": dict(
        structures=methane_ammonia,
        hypers=hypers(
            4.0, 4, 3, width=0.4,
            scaling={"type": "Willatt2018", "rate": 1.5, "scale": 2.0, "exponent": 3},
            center_atom_weight=0.7,
        ),
        calculator="SphericalExpansion",
        gradients=["positions"],
    ),
    "methane_ammonia_step": dict(
        structures=methane_ammonia,
        hypers=hypers(3.0, 3, 3, width=0.5, smoothing={"type": "Step"}),
        calculator="SphericalExpansion",
        gradients=[],
    ),
    "silicon_carbide": dict(
        structures=silicon_carbide,
        hypers=hypers(4.0, 4, 4),
        calculator="SphericalExpansion",
        gradients=["positions", "strain"],
    ),
    "water_by_pair": dict(
        structures=water,
        hypers=hypers(3.5, 3, 3),
        calculator="SphericalExpansionByPair",
        gradients=["positions", "strain"],
    ),
    "silicon_carbide_by_pair": dict(
        structures=lambda: silicon_carbide()[:1],
        hypers=hypers(3.0, 2, 2),
        calculator="SphericalExpansionByPair",
        gradients=["positions"],
    ),
}


def exact(hypers):
    """The same hypers with featomic's radial spline switched off."""
    hypers = copy.deepcopy(hypers)
    hypers["basis"]["spline_accuracy"] = None
    return hypers


def describe(atoms):
    return {
        "types": atoms.numbers.tolist(),
        "positions": atoms.positions.tolist(),
        "cell": np.asarray(atoms.cell[:]).tolist(),
        "pbc": [bool(p) for p in atoms.pbc],
    }


def main():
    os.makedirs(OUTPUT, exist_ok=True)
    manifest = {"generator": f"featomic {featomic.__version__}", "cases": {}}
    for name, case in CASES.items():
        structures = case["structures"]()
        calculator = getattr(featomic, case["calculator"])(**exact(case["hypers"]))
        descriptor = calculator.compute(structures, gradients=case["gradients"])
        metatensor.save(os.path.join(OUTPUT, f"{name}.mts"), descriptor)
        manifest["cases"][name] = {
            "calculator": case["calculator"],
            "hypers": case["hypers"],
            "gradients": case["gradients"],
            "structures": [describe(atoms) for atoms in structures],
            "file": f"{name}.mts",
        }
    with open(os.path.join(OUTPUT, "cases.json"), "w") as fd:
        json.dump(manifest, fd, indent=1)
        fd.write("\n")


if __name__ == "__main__":
    main()
