"""Neighbour-list timings: calculators.neighbors vs ase.neighborlist.neighbor_list.

Run ``python benchmarks/neighbors.py`` (add ``--threads 1`` to pin torch to one thread).
Prints, per system, the median time of both and the ratio ase / ours (> 1: we are
faster), after checking that both found the same number of pairs.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import ase
import ase.build
import numpy as np
import torch
from ase.neighborlist import neighbor_list as ase_neighbor_list

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calculators.neighbors import neighbor_list  # noqa: E402
from calculators.system import System  # noqa: E402


def median_time(fn, repeats):
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cases():
    rng = np.random.default_rng(0)
    copper = ase.build.bulk("Cu", cubic=True).repeat((7, 7, 5))
    copper.rattle(0.05, seed=1)
    yield "Cu fcc, 980 atoms, cutoff 5", copper, 5.0
    big = ase.build.bulk("Cu", cubic=True).repeat((12, 12, 12))
    big.rattle(0.05, seed=1)
    yield "Cu fcc, 6912 atoms, cutoff 5", big, 5.0
    small = ase.Atoms("SiO2", positions=rng.uniform(0, 2, size=(3, 3)),
                      cell=[[2.5, 0, 0], [0.7, 2.3, 0], [0.2, 0.4, 2.6]], pbc=True)
    yield "triclinic 3 atoms, cutoff 8 (many images)", small, 8.0
    molecule = ase.Atoms(numbers=[6] * 2000, positions=rng.uniform(0, 30, size=(2000, 3)))
    yield "2000-atom cluster, no cell, cutoff 4", molecule, 4.0


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"{'system':45s} {'pairs':>9s} {'ours (ms)':>10s} {'ase (ms)':>10s} {'ase/ours':>9s}")
    for name, atoms, cutoff in cases():
        system = System.from_ase(atoms)
        pairs = neighbor_list(system, cutoff)
        reference = ase_neighbor_list("i", atoms, cutoff)
        assert len(pairs) == len(reference), (name, len(pairs), len(reference))
        ours = median_time(lambda: neighbor_list(system, cutoff), args.repeats)
        theirs = median_time(lambda: ase_neighbor_list("ijSD", atoms, cutoff), args.repeats)
        print(f"{name:45s} {len(pairs):9d} {1e3 * ours:10.1f} {1e3 * theirs:10.1f} {theirs / ours:9.2f}")


if __name__ == "__main__":
    main()
