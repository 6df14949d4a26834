"""Speed of the descriptor calculators, compared to featomic when it is importable.

Systems (:func:`build_systems`): 512 rattled diamond-silicon atoms, a periodic box of 100
water molecules (about 1 g/cm³) and 100 small organic molecules of the ase g2 set.
Hyper-parameters (:func:`hypers`): cutoff 5 Å with a 0.5 Å shifted-cosine smoothing,
Gaussian densities of width 0.3 Å, ``max_angular = 6`` and 8 GTO radial functions.

Both blocktensor (``torch.set_num_threads``) and featomic (``RAYON_NUM_THREADS``, set before
featomic is imported) run on the same number of threads, 2 by default. Times are the best of
``--repeat`` calls after a warm-up call, blocktensor and featomic calls interleaved (this
machine's speed drifts during a run) with a 20 ms pause before each, so that the other
library's idle worker threads are asleep; both keep their default thread wait policies (as
in a user's session). The ratio is blocktensor / featomic (below 1 means blocktensor is
faster).

    python benchmarks/calculators.py                      # blocktensor only
    /work/refenv/bin/python benchmarks/calculators.py     # with the featomic ratio

Other calculators add a function ``bench_<name>(systems, args)`` and register it in
``SECTIONS``; they can import :func:`build_systems`, :func:`hypers` and :func:`best_times`.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

DEFAULT_THREADS = 2
# rayon reads its thread count once, when featomic's library is loaded
os.environ.setdefault("RAYON_NUM_THREADS", str(DEFAULT_THREADS))
# torch's OpenMP threads keep their default wait policy (spin a little while after each
# parallel region, then sleep), as in a user's session: the many ~1 ms operations of a
# call each pay a thread wake-up with OMP_WAIT_POLICY=PASSIVE (2-10x on the harmonics).
# best_times pauses between the two libraries' calls so that neither runs against the
# other's spinning threads

import ase  # noqa: E402
import ase.build  # noqa: E402
import ase.collections  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from _timing import best_times  # noqa: E402
from calculators.spherical_expansion import SphericalExpansion  # noqa: E402

try:
    import featomic  # noqa: E402
except ImportError:  # the reference is optional
    featomic = None


def hypers():
    """featomic-0.6-style hyper-parameters shared by all calculator benchmarks."""
    return {
        "cutoff": {"radius": 5.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
        "density": {"type": "Gaussian", "width": 0.3},
        "basis": {
            "type": "TensorProduct",
            "max_angular": 6,
            "radial": {"type": "Gto", "max_radial": 7},
        },
    }


def _water_box(n_molecules=100, seed=0):
    """Randomly oriented water molecules on a grid in a cubic box at about 1 g/cm³."""
    generator = np.random.default_rng(seed)
    # 18.015 g/mol at 1 g/cm³: 29.9 Å³ per molecule
    length = (n_molecules * 18.015 / 0.6022) ** (1 / 3)
    per_side = int(np.ceil(n_molecules ** (1 / 3)))
    grid = np.stack(
        np.meshgrid(*[np.arange(per_side)] * 3, indexing="ij"), axis=-1
    ).reshape(-1, 3)[:n_molecules]
    centers = (grid + 0.5) * (length / per_side)
    water = ase.build.molecule("H2O")
    reference = water.positions - water.positions[0]
    positions, numbers = [], []
    for center in centers:
        q = generator.standard_normal(4)
        q /= np.linalg.norm(q)
        w, x, y, z = q
        rotation = np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
            ]
        )
        positions.append(center + reference @ rotation.T)
        numbers.extend(water.numbers.tolist())
    return ase.Atoms(
        numbers=numbers,
        positions=np.concatenate(positions),
        cell=np.eye(3) * length,
        pbc=True,
    )


def _organic_molecules(count=100):
    """The first ``count`` g2 molecules made only of H, C, N and O (cycled if needed)."""
    organic = []
    for name in ase.collections.g2.names:
        atoms = ase.build.molecule(name)
        if len(atoms) > 1 and set(atoms.numbers.tolist()) <= {1, 6, 7, 8}:
            organic.append(atoms)
    return [organic[i % len(organic)] for i in range(count)]


def build_systems():
    """``{name: list of ase.Atoms}`` for the benchmark systems (deterministic)."""
    silicon = ase.build.bulk("Si", "diamond", a=5.43, cubic=True) * (4, 4, 4)
    silicon.rattle(0.05, seed=0)
    return {
        "silicon (512 atoms)": [silicon],
        "water box (300 atoms)": [_water_box()],
        "100 g2 molecules": _organic_molecules(),
    }




def report(name, seconds, reference_seconds, reference_name="featomic"):
    line = f"  {name:<34s} {seconds * 1e3:9.1f} ms"
    if reference_seconds is not None:
        line += (
            f"   {reference_name}: {reference_seconds * 1e3:9.1f} ms"
            f"   ratio: {seconds / reference_seconds:5.2f}"
        )
    print(line, flush=True)


def bench_calculator(title, calculator, reference, systems, args):
    """Time ``calculator.compute`` (and the featomic ``reference`` when given) on every
    group of ``systems``: values, + positions gradients, + strain where periodic."""
    print(title)
    for name, frames in systems.items():
        print(f" {name}")
        periodic = all(frame.pbc.all() for frame in frames)
        cases = [("values", []), ("values + positions gradients", ["positions"])]
        if periodic:
            cases.append(("values + positions + strain", ["positions", "strain"]))
        for label, gradients in cases:
            seconds, reference_seconds = best_times(
                [
                    lambda: calculator.compute(frames, gradients=gradients),
                    None if reference is None
                    else lambda: reference.compute(frames, gradients=gradients),
                ],
                args.repeat,
            )
            report(label, seconds, reference_seconds)


def bench_spherical_expansion(systems, args):
    bench_calculator(
        "SphericalExpansion (cutoff 5, max_angular 6, 8 GTO radial functions, float64)",
        SphericalExpansion(**hypers()),
        featomic.SphericalExpansion(**hypers()) if featomic is not None else None,
        systems,
        args,
    )


def bench_power_spectrum(systems, args):
    from calculators.power_spectrum import SoapPowerSpectrum

    bench_calculator(
        "SoapPowerSpectrum (cutoff 5, max_angular 6, 8 GTO radial functions, float64)",
        SoapPowerSpectrum(**hypers()),
        featomic.SoapPowerSpectrum(**hypers()) if featomic is not None else None,
        systems,
        args,
    )


SECTIONS = {
    "spherical_expansion": bench_spherical_expansion,
    "power_spectrum": bench_power_spectrum,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--sections", nargs="*", default=list(SECTIONS), choices=list(SECTIONS)
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if featomic is not None and os.environ["RAYON_NUM_THREADS"] != str(args.threads):
        print(
            f"warning: featomic runs on RAYON_NUM_THREADS={os.environ['RAYON_NUM_THREADS']} "
            f"threads, blocktensor on {args.threads}"
        )
    print(
        f"threads: {args.threads}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'default')}, "
        f"featomic: {featomic.__version__ if featomic else 'absent'}"
    )
    systems = build_systems()
    for section in args.sections:
        SECTIONS[section](systems, args)


if __name__ == "__main__":
    main()
