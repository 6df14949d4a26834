"""The main job: SOAP power spectrum, with position gradients, of a set of structures.

By default it reads the structures shipped with the package (water, methane, ammonia,
ethanol and an 8-atom periodic diamond-silicon cell), computes the SOAP power spectrum with
its position gradients using fast demonstration hyper-parameters, saves the result as a
metatensor-compatible archive and prints a summary::

    blocktensor-soap                                  # or: python -m calculators.main
    blocktensor-soap --structures my.xyz --hypers hypers.json --output soap.mts

``--hypers`` takes a JSON file with any of the featomic 0.6 sections ``cutoff``,
``density``, ``basis``; a section given there replaces the default one. Structures can be
in any format ase reads (all frames are used).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from typing import List, Optional

import torch

DEFAULT_STRUCTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                                  "default_structures.xyz")
DEFAULT_OUTPUT = "soap_power_spectrum.mts"
DEFAULT_HYPERS = {
    "cutoff": {"radius": 5.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
    "density": {"type": "Gaussian", "width": 0.3},
    "basis": {
        "type": "TensorProduct",
        "max_angular": 4,
        "radial": {"type": "Gto", "max_radial": 5},
    },
}
_SECTIONS = ("cutoff", "density", "basis")


def load_hypers(path: Optional[str]) -> dict:
    """Default hyper-parameters, with the sections found in the JSON file ``path`` replaced.

    >>> load_hypers(None)["basis"]["max_angular"]
    4
    """
    hypers = copy.deepcopy(DEFAULT_HYPERS)
    if path is None:
        return hypers
    try:
        with open(path) as file:
            overrides = json.load(file)
    except OSError as error:
        raise ValueError(f"`--hypers`: can not read {path!r}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"`--hypers`: {path!r} is not valid JSON: {error}") from None
    if not isinstance(overrides, dict):
        raise ValueError(
            f"`--hypers`: expected a JSON object with sections {list(_SECTIONS)}, found "
            f"{type(overrides).__name__}"
        )
    unknown = sorted(set(overrides) - set(_SECTIONS))
    if unknown:
        raise ValueError(
            f"`--hypers`: expected only the sections {list(_SECTIONS)}, found {unknown}"
        )
    hypers.update(copy.deepcopy(overrides))
    return hypers


def read_structures(path: str) -> list:
    """All frames of ``path`` (any format ase reads)."""
    import ase.io

    if not os.path.exists(path):
        raise ValueError(f"`--structures`: the file {path!r} does not exist")
    try:
        frames = ase.io.read(path, index=":")
    except Exception as error:  # ase raises many exception types for bad files
        raise ValueError(f"`--structures`: ase could not read {path!r}: {error}") from None
    if not isinstance(frames, list):
        frames = [frames]
    if len(frames) == 0:
        raise ValueError(f"`--structures`: {path!r} contains no structure")
    return frames


def summary(tensor, frames, elapsed: float, output: str) -> str:
    """A human-readable description of the computed power spectrum."""
    n_atoms = sum(len(atoms) for atoms in frames)
    periodic = sum(bool(atoms.pbc.any()) for atoms in frames)
    lines = [
        f"SOAP power spectrum of {len(frames)} structures ({n_atoms} atoms, "
        f"{periodic} periodic) in {elapsed:.2f} s",
        f"keys {tensor.keys.names}: {len(tensor.keys)} blocks",
        f"samples {tensor.sample_names}, properties {tensor.property_names}, "
        f"gradients {tensor.block_by_id(0).gradients_list()}",
        f"{'key':>16s} {'values':>14s} {'gradients':>22s}",
    ]
    total_values = total_gradients = 0
    for key, block in tensor.items():
        shape = "x".join(str(size) for size in block.values.shape)
        text = f"{str(tuple(key.values.tolist())):>16s} {shape:>14s}"
        total_values += block.values.numel()
        for parameter, gradient in block.gradients():
            text += f" {'x'.join(str(size) for size in gradient.values.shape):>22s}"
            total_gradients += gradient.values.numel()
        lines.append(text)
    size = os.path.getsize(output) if os.path.exists(output) else 0
    lines.append(
        f"{total_values} values, {total_gradients} gradient entries; "
        f"saved to {output} ({size / 1e6:.2f} MB)"
    )
    return "\n".join(lines)


def run(structures: str = DEFAULT_STRUCTURES, hypers: Optional[str] = None,
        output: str = DEFAULT_OUTPUT, gradients: Optional[List[str]] = None,
        dtype: torch.dtype = torch.float64):
    """Compute, save and return ``(power_spectrum, frames, seconds)``."""
    import blocktensor

    from .power_spectrum import SoapPowerSpectrum

    gradients = ["positions"] if gradients is None else gradients
    frames = read_structures(structures)
    calculator = SoapPowerSpectrum(**load_hypers(hypers)).to(dtype=dtype)
    start = time.perf_counter()
    spectrum = calculator.compute(frames, gradients=gradients)
    elapsed = time.perf_counter() - start
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        raise ValueError(f"`--output`: the directory {directory!r} does not exist")
    blocktensor.save(output, spectrum)
    return spectrum, frames, elapsed


def main(argv: Optional[List[str]] = None) -> int:
    """Command line entry point (``blocktensor-soap``); returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="blocktensor-soap",
        description="SOAP power spectrum (with position gradients) of atomic structures",
    )
    parser.add_argument("--structures", default=DEFAULT_STRUCTURES,
                        help="structure file, any ase-readable format "
                             "(default: the bundled molecules and silicon cell)")
    parser.add_argument("--hypers", default=None,
                        help="JSON file with featomic-style 'cutoff', 'density', 'basis' "
                             "sections replacing the defaults")
    parser.add_argument("--output", default=DEFAULT_OUTPUT,
                        help=f"output archive (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--gradients", nargs="*", default=["positions"],
                        choices=["positions", "strain"],
                        help="explicit gradients to compute (default: positions)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        spectrum, frames, elapsed = run(args.structures, args.hypers, args.output,
                                        args.gradients)
    except ValueError as error:
        print(f"blocktensor-soap: error: {error}", file=sys.stderr)
        return 2
    output = args.output if args.output.endswith((".mts", ".npz")) else args.output + ".mts"
    print(summary(spectrum, frames, elapsed, output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
