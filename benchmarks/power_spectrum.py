"""Speed and memory of the SOAP power spectrum, compared to featomic when it is importable.

Systems and hyper-parameters come from ``benchmarks/calculators.py`` (512 rattled silicon
atoms, a periodic box of 100 water molecules, 100 small organic molecules; cutoff 5 Å,
width 0.5 Å, Gaussian 0.3 Å, ``max_angular = 6``, 8 GTO radial functions). blocktensor
(``torch.set_num_threads``) and featomic (``RAYON_NUM_THREADS``) use the same number of
threads, 2 by default. Times are the best of ``--repeat`` calls after a warm-up, the calls of
both interleaved; the ratio is blocktensor / featomic (below 1: blocktensor is faster).

The memory figure is the peak resident memory added by one power spectrum computation with
position gradients of the silicon cell (measured in a fresh process), divided by the size of
the arrays of its output.

    python benchmarks/power_spectrum.py                      # blocktensor only
    /work/refenv/bin/python benchmarks/power_spectrum.py     # with the featomic ratio
    python benchmarks/power_spectrum.py --large              # + 10,648 atoms (GPU if any)
"""

import argparse
import importlib.util
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def _load_calculators_benchmark():
    """benchmarks/calculators.py, imported under another name: ``calculators`` is the
    package. Importing it also sets RAYON_NUM_THREADS before featomic loads."""
    spec = importlib.util.spec_from_file_location(
        "calculators_benchmark", os.path.join(HERE, "calculators.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_bench = _load_calculators_benchmark()

import torch  # noqa: E402

from calculators.power_spectrum import SoapPowerSpectrum  # noqa: E402

featomic = _bench.featomic
build_systems = _bench.build_systems
hypers = _bench.hypers


_MEMORY_SCRIPT = """
import importlib.util, os, sys
sys.path.insert(0, {root!r})
sys.path.insert(0, {benchmarks!r})
spec = importlib.util.spec_from_file_location("calculators_benchmark",
                                              os.path.join({benchmarks!r}, "calculators.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
import torch
torch.set_num_threads({threads})
from calculators.power_spectrum import SoapPowerSpectrum
frames = bench.build_systems()["silicon (512 atoms)"]
calculator = SoapPowerSpectrum(**bench.hypers())
small = [frames[0][:16]]
calculator.compute(small, gradients=["positions"])  # load code paths and splines
def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
# reset the peak resident size (VmHWM) so that it measures this computation only
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS")
spectrum = calculator.compute(frames, gradients=["positions"])
peak = status("VmHWM")
size = 0
for block in spectrum.blocks():
    size += block.values.numel() * block.values.element_size()
    for _, gradient in block.gradients():
        size += gradient.values.numel() * gradient.values.element_size()
print(peak - before, size)
"""


def bench_memory(args):
    script = _MEMORY_SCRIPT.format(benchmarks=HERE, root=os.path.dirname(HERE),
                                   threads=args.threads)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if result.returncode != 0:
        print("memory measurement failed:", result.stderr[-2000:])
        return
    peak, size = (int(x) for x in result.stdout.split()[-2:])
    print("Peak memory, silicon (512 atoms), power spectrum + positions gradients")
    print(f"  output arrays: {size / 2**20:8.1f} MiB   peak added: {peak / 2**20:8.1f} MiB"
          f"   ratio: {peak / size:5.2f}")


def bench_large(args):
    """10,648 rattled silicon atoms (11 × 11 × 11 cubic cells), power spectrum with
    positions gradients on ``args.device`` (the issue's GPU benchmark when one is there)."""
    import ase.build

    silicon = ase.build.bulk("Si", "diamond", a=5.43, cubic=True) * (11, 11, 11)
    silicon.rattle(0.05, seed=0)
    device = torch.device(args.device)
    calculator = SoapPowerSpectrum(**hypers()).to(device=device)

    def run():
        spectrum = calculator.compute(silicon, gradients=["positions"])
        if device.type == "cuda":
            torch.cuda.synchronize()
        return spectrum

    reference_run = None
    if featomic is not None and device.type == "cpu":
        reference = featomic.SoapPowerSpectrum(**hypers())

        def reference_run():
            return reference.compute(silicon, gradients=["positions"])

    print(f"Large system: silicon ({len(silicon)} atoms) on {device}, power spectrum")
    seconds, reference_seconds = _bench.best_times([run, reference_run], 1)
    _bench.report("values + positions gradients", seconds, reference_seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=_bench.DEFAULT_THREADS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--large", action="store_true",
                        help="also time 10,648 silicon atoms with positions gradients")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="device of the --large run")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if featomic is not None and os.environ["RAYON_NUM_THREADS"] != str(args.threads):
        print(
            f"warning: featomic runs on RAYON_NUM_THREADS={os.environ['RAYON_NUM_THREADS']} "
            f"threads, blocktensor on {args.threads}"
        )
    print(f"threads: {args.threads}, featomic: {featomic.__version__ if featomic else 'absent'}")
    _bench.bench_power_spectrum(build_systems(), args)
    if not args.skip_memory:
        bench_memory(args)
    if args.large:
        bench_large(args)


if __name__ == "__main__":
    main()
