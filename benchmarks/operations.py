"""Speed of structural operations: join, keys_to_properties, sum_over_samples.

Prints the figures for blocktensor and, where metatensor-operations is importable (run with
the reference environment), the ratio blocktensor / metatensor measured in the same run on
the same arrays (below 1 means blocktensor is faster).

    python benchmarks/operations.py [--repeat 5]
    /work/refenv/bin/python benchmarks/operations.py

Cases:

- ``join``: 1,000 small maps (4 keys, 10-30 samples, 3 components, 16 properties) joined
  along samples;
- ``keys_to_properties``: ``neighbor_type`` moved to properties in a spherical-expansion-like
  map of 512 atoms (8 systems of 64, 3 atomic types, lambda 0..3, 8 radial channels) with
  ``positions`` gradients (self + 8 neighbours of each type per centre);
- ``sum_over_samples``: ``atom`` summed out of a power-spectrum-like map of 100 molecules
  of 10 atoms (3 types, 96 properties) with ``positions`` gradients.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import blocktensor  # noqa: E402
from _timing import best_time  # noqa: E402
import blocktensor.operations as operations  # noqa: E402

try:
    import metatensor
    import metatensor.operations as metatensor_operations
except ImportError:  # the reference is optional
    metatensor = None




def report(name, ours, theirs=None):
    line = f"{name:<52s} blocktensor {ours * 1e3:9.2f} ms"
    if theirs is not None:
        line += f"   metatensor {theirs * 1e3:9.2f} ms   ratio {ours / theirs:5.2f}"
    print(line, flush=True)


# --------------------------------------------------------------------------- building
def build(library, spec):
    """A map of ``library`` (blocktensor or metatensor) from a plain description:
    ``(key_names, key_values, blocks)`` with blocks as dicts of numpy arrays."""
    key_names, key_values, blocks = spec
    built = []
    for data in blocks:
        block = library.TensorBlock(
            values=data["values"],
            samples=library.Labels(data["sample_names"], data["samples"]),
            components=[library.Labels([name], values) for name, values in data["components"]],
            properties=library.Labels(data["property_names"], data["properties"]),
        )
        for parameter, gradient in data.get("gradients", {}).items():
            block.add_gradient(parameter, library.TensorBlock(
                values=gradient["values"],
                samples=library.Labels(["sample", "system", "atom"], gradient["samples"]),
                components=[library.Labels([name], values)
                            for name, values in gradient["components"]],
                properties=block.properties,
            ))
        built.append(block)
    return library.TensorMap(library.Labels(key_names, key_values), built)


def small_maps(rng, count=1000):
    maps = []
    component = [("o3_mu", np.arange(-1, 2, dtype=np.int32).reshape(-1, 1))]
    properties = np.arange(16, dtype=np.int32).reshape(-1, 1)
    keys = np.arange(4, dtype=np.int32).reshape(-1, 1)
    for index in range(count):
        blocks = []
        for _ in range(4):
            n = int(rng.integers(10, 31))
            samples = np.stack([np.full(n, index), np.arange(n)], axis=1).astype(np.int32)
            blocks.append(dict(
                values=rng.standard_normal((n, 3, 16)), sample_names=["system", "atom"],
                samples=samples, components=component, property_names=["n"],
                properties=properties,
            ))
        maps.append((["key"], keys, blocks))
    return maps


def spherical_expansion(rng, n_systems=8, atoms_per_system=64, types=(1, 6, 8),
                        max_angular=3, n_radial=8, neighbors=8):
    n_atoms = n_systems * atoms_per_system
    atom_types = rng.choice(types, size=n_atoms)
    systems = np.repeat(np.arange(n_systems), atoms_per_system)
    atom_in_system = np.tile(np.arange(atoms_per_system), n_systems)
    xyz = [("xyz", np.arange(3, dtype=np.int32).reshape(-1, 1))]
    keys, blocks = [], []
    for l in range(max_angular + 1):
        o3_mu = [("o3_mu", np.arange(-l, l + 1, dtype=np.int32).reshape(-1, 1))]
        for center in types:
            centers = np.nonzero(atom_types == center)[0]
            samples = np.stack([systems[centers], atom_in_system[centers]], 1).astype(np.int32)
            for neighbor in types:
                # self + `neighbors` atoms of type `neighbor` from the same system
                rows = []
                for row, atom in enumerate(centers):
                    same = np.nonzero((systems == systems[atom]) & (atom_types == neighbor))[0]
                    chosen = np.union1d(rng.choice(same, size=min(neighbors, len(same)),
                                                   replace=False), [atom])
                    rows.append(np.stack([np.full(len(chosen), row), systems[chosen],
                                          atom_in_system[chosen]], 1))
                gradient_samples = np.concatenate(rows).astype(np.int32)
                keys.append([l, 1, center, neighbor])
                blocks.append(dict(
                    values=rng.standard_normal((len(centers), 2 * l + 1, n_radial)),
                    sample_names=["system", "atom"], samples=samples, components=o3_mu,
                    property_names=["n"],
                    properties=np.arange(n_radial, dtype=np.int32).reshape(-1, 1),
                    gradients={"positions": dict(
                        values=rng.standard_normal((len(gradient_samples), 3, 2 * l + 1,
                                                    n_radial)),
                        samples=gradient_samples, components=xyz + o3_mu,
                    )},
                ))
    names = ["o3_lambda", "o3_sigma", "center_type", "neighbor_type"]
    return names, np.asarray(keys, dtype=np.int32), blocks


def power_spectrum(rng, n_molecules=100, atoms_per_molecule=10, types=(1, 6, 8),
                   n_properties=96):
    n_atoms = n_molecules * atoms_per_molecule
    atom_types = rng.choice(types, size=n_atoms)
    systems = np.repeat(np.arange(n_molecules), atoms_per_molecule)
    atom_in_system = np.tile(np.arange(atoms_per_molecule), n_molecules)
    xyz = [("xyz", np.arange(3, dtype=np.int32).reshape(-1, 1))]
    properties = np.arange(n_properties, dtype=np.int32).reshape(-1, 1)
    keys, blocks = [], []
    for center in types:
        centers = np.nonzero(atom_types == center)[0]
        samples = np.stack([systems[centers], atom_in_system[centers]], 1).astype(np.int32)
        # every atom of the molecule moves every centre of the molecule
        row = np.repeat(np.arange(len(centers)), atoms_per_molecule)
        system = np.repeat(systems[centers], atoms_per_molecule)
        atom = np.tile(np.arange(atoms_per_molecule), len(centers))
        gradient_samples = np.stack([row, system, atom], 1).astype(np.int32)
        keys.append([center])
        blocks.append(dict(
            values=rng.standard_normal((len(centers), n_properties)),
            sample_names=["system", "atom"], samples=samples, components=[],
            property_names=["p"], properties=properties,
            gradients={"positions": dict(
                values=rng.standard_normal((len(gradient_samples), 3, n_properties)),
                samples=gradient_samples, components=xyz,
            )},
        ))
    return ["center_type"], np.asarray(keys, dtype=np.int32), blocks


# --------------------------------------------------------------------------- cases
def bench_join(repeat):
    specs = small_maps(np.random.default_rng(0))
    ours_maps = [build(blocktensor, spec) for spec in specs]
    ours = best_time(lambda: operations.join(ours_maps, axis="samples"), repeat)
    theirs = None
    if metatensor is not None:
        their_maps = [build(metatensor, spec) for spec in specs]
        theirs = best_time(lambda: metatensor_operations.join(their_maps, axis="samples"),
                           repeat)
        check(operations.join(ours_maps, axis="samples"),
              metatensor_operations.join(their_maps, axis="samples"))
    report("join: 1000 maps x 4 blocks along samples", ours, theirs)


def bench_keys_to_properties(repeat):
    spec = spherical_expansion(np.random.default_rng(1))
    tensor = build(blocktensor, spec)
    ours = best_time(lambda: tensor.keys_to_properties("neighbor_type"), repeat)
    theirs = None
    if metatensor is not None:
        reference = build(metatensor, spec)
        theirs = best_time(lambda: reference.keys_to_properties("neighbor_type"), repeat)
        check(tensor.keys_to_properties("neighbor_type"),
              reference.keys_to_properties("neighbor_type"))
    report("keys_to_properties: 512-atom expansion, gradients", ours, theirs)


def bench_sum_over_samples(repeat):
    if not hasattr(operations, "sum_over_samples"):
        print("sum_over_samples: not available in blocktensor.operations yet")
        return
    spec = power_spectrum(np.random.default_rng(2))
    tensor = build(blocktensor, spec)
    ours = best_time(lambda: operations.sum_over_samples(tensor, "atom"), repeat)
    theirs = None
    if metatensor is not None:
        reference = build(metatensor, spec)
        theirs = best_time(lambda: metatensor_operations.sum_over_samples(reference, "atom"),
                           repeat)
        check(operations.sum_over_samples(tensor, "atom"),
              metatensor_operations.sum_over_samples(reference, "atom"))
    report("sum_over_samples: 100 molecules, gradients", ours, theirs)


def check(ours, theirs):
    """Same result as the reference (so the timings compare the same work)."""
    assert np.array_equal(ours.keys.values, np.asarray(theirs.keys.values))
    for block, reference in zip(ours.blocks(), theirs.blocks()):
        assert np.array_equal(block.samples.values, np.asarray(reference.samples.values))
        assert np.array_equal(block.properties.values, np.asarray(reference.properties.values))
        np.testing.assert_allclose(block.values, reference.values, rtol=1e-12, atol=1e-12)
        for parameter, gradient in block.gradients():
            other = reference.gradient(parameter)
            assert np.array_equal(gradient.samples.values, np.asarray(other.samples.values))
            np.testing.assert_allclose(gradient.values, other.values, rtol=1e-12, atol=1e-12)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    arguments = parser.parse_args()
    if metatensor is None:
        print("metatensor-operations not importable: printing blocktensor timings only")
    bench_join(arguments.repeat)
    bench_keys_to_properties(arguments.repeat)
    bench_sum_over_samples(arguments.repeat)


if __name__ == "__main__":
    main()
