"""Generate ``neighbor_list_reference.npz`` with featomic 0.6's NeighborList.

Run with the reference environment::

    /work/refenv/bin/python tests/data/generate_neighbor_list.py

featomic does not support mixed periodicity. Cases avoid periodic self-images (featomic writes duplicated gradient samples for
them). Stored per case ``<case>`` (``full`` / ``half``): ``<case>/keys`` and, per block
``b``, ``<case>/<b>/samples``, ``values``, ``gradient_samples``, ``gradient_values``.
"""

import os

import ase
import ase.build
import numpy as np

import featomic

HERE = os.path.dirname(os.path.abspath(__file__))


def systems():
    rng = np.random.default_rng(12)
    bulk = ase.build.bulk("NaCl", "rocksalt", a=5.6, cubic=True)
    bulk.positions += rng.normal(scale=0.1, size=bulk.positions.shape)
    molecule = ase.build.molecule("CH3CH2OH")
    triclinic = ase.Atoms(
        "HOCO",
        positions=rng.uniform(0, 4, size=(4, 3)),
        cell=[[4.5, 0, 0], [0.8, 4.2, 0], [0.3, -0.5, 4.4]],
        pbc=True,
    )
    return [bulk, molecule, triclinic]


def main():
    arrays = {}
    for case, full in [("full", True), ("half", False)]:
        calculator = featomic.NeighborList(cutoff=2.9, full_neighbor_list=full)
        descriptor = calculator.compute(systems(), gradients=["positions"])
        arrays[f"{case}/keys"] = np.asarray(descriptor.keys.values)
        for b, block in enumerate(descriptor.blocks()):
            gradient = block.gradient("positions")
            arrays[f"{case}/{b}/samples"] = np.asarray(block.samples.values)
            arrays[f"{case}/{b}/values"] = np.asarray(block.values)
            arrays[f"{case}/{b}/gradient_samples"] = np.asarray(gradient.samples.values)
            arrays[f"{case}/{b}/gradient_values"] = np.asarray(gradient.values)
            samples = block.samples.values
            assert not np.any(samples[:, 1] == samples[:, 2]), "self image in reference"
    np.savez_compressed(os.path.join(HERE, "neighbor_list_reference.npz"), **arrays)


if __name__ == "__main__":
    main()
