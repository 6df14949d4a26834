"""Reference ``cell`` gradients of featomic 0.6.7's SphericalExpansion,
SphericalExpansionByPair and SoapPowerSpectrum (∂/∂cell[a, x] with the Cartesian positions
fixed; components named ``xyz``, ``abc``), written with metatensor-core 0.2.6.

Run with the reference venv (deterministic)::

    /work/refenv/bin/python tests/data/generate_cell_gradients.py

Writes ``tests/data/cell_gradients/``: ``structure.json`` (a rattled, sheared two-cell
rocksalt NaCl), ``hypers.json``, ``expansion.mts``, ``expansion_by_pair.mts`` and
``power_spectrum.mts``.
"""

import json
import logging
import os

import ase.build
import featomic
import metatensor

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cell_gradients")

HYPERS = {
    "cutoff": {"radius": 3.5, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
    "density": {"type": "Gaussian", "width": 0.3},
    "basis": {"type": "TensorProduct", "max_angular": 3,
              "radial": {"type": "Gto", "max_radial": 3}},
}


# featomic computes the radial integrals exactly (no spline, whose derivatives carry
# ~2e-6 relative errors), so the test can hold ours to 1e-6
EXACT_HYPERS = {**HYPERS, "basis": {**HYPERS["basis"], "spline_accuracy": None}}


def main():
    # featomic warns that "cell" changed meaning in 0.6; that meaning is the one wanted
    logging.disable(logging.WARNING)
    os.makedirs(HERE, exist_ok=True)
    atoms = ase.build.bulk("NaCl", "rocksalt", a=5.0) * (2, 1, 1)
    atoms.rattle(0.1, seed=2)
    atoms.cell[0, 1] += 0.3
    with open(os.path.join(HERE, "structure.json"), "w") as fd:
        json.dump({"numbers": atoms.numbers.tolist(), "positions": atoms.positions.tolist(),
                   "cell": atoms.cell.array.tolist(), "pbc": atoms.pbc.tolist()}, fd)
    with open(os.path.join(HERE, "hypers.json"), "w") as fd:
        json.dump(HYPERS, fd, indent=1)
    for name, calculator in [
        ("expansion", featomic.SphericalExpansion(**EXACT_HYPERS)),
        ("expansion_by_pair", featomic.SphericalExpansionByPair(**EXACT_HYPERS)),
        ("power_spectrum", featomic.SoapPowerSpectrum(**EXACT_HYPERS)),
    ]:
        tensor = calculator.compute(atoms, gradients=["cell"])
        metatensor.save(os.path.join(HERE, f"{name}.mts"), tensor)


if __name__ == "__main__":
    main()
