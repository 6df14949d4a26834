"""Speed of the core container: Labels construction and lookup, archive save/load.

Prints the figures for blocktensor and, where metatensor-core is importable, the ratio
blocktensor / metatensor measured in the same run (below 1 means blocktensor is faster).
File I/O is also compared to plain ``numpy.save``/``numpy.load`` of the same arrays.

    python benchmarks/core.py [--size-mb 160] [--repeat 3]
"""

import argparse
import os
import tempfile

import numpy as np

import blocktensor
from _timing import best_time  # noqa: E402

try:
    import metatensor
except ImportError:  # the reference is optional
    metatensor = None




def report(name, ours, theirs=None, unit="s"):
    line = f"{name:<48s} blocktensor {ours:8.4f} {unit}"
    if theirs is not None:
        line += f"   metatensor {theirs:8.4f} {unit}   ratio {ours / theirs:5.2f}"
    print(line, flush=True)


def labels_benchmarks(repeat):
    rng = np.random.default_rng(0)
    n = 1_000_000
    values = np.stack([np.arange(n) // 1000, np.arange(n) % 1000, rng.integers(0, 10, n)], 1)
    values = values.astype(np.int32)
    rng.shuffle(values)
    ours = best_time(lambda: blocktensor.Labels(["system", "atom", "type"], values), repeat)
    theirs = None
    if metatensor is not None:
        theirs = best_time(lambda: metatensor.Labels(["system", "atom", "type"], values), repeat)
    report("Labels: 1e6 rows x 3 with uniqueness check", ours, theirs)

    queries = values[rng.integers(0, n, 100_000)]
    labels = blocktensor.Labels(["system", "atom", "type"], values)
    labels.positions(queries[:1])  # the sorted index is built once, on first lookup
    ours = best_time(lambda: labels.positions(queries), repeat)
    theirs = None
    if metatensor is not None:
        reference = metatensor.Labels(["system", "atom", "type"], values)

        def lookup():
            return [reference.position(q) for q in queries]

        theirs = best_time(lookup, 1)
    report("Labels.positions: 100,000 queries", ours, theirs)


def big_tensor(size_mb):
    """A spherical-expansion-like map (4 keys, 7 components, 64 properties) with position and
    strain gradients, about ``size_mb`` MB in all."""
    rng = np.random.default_rng(1)
    n_properties, n_components = 64, 7
    # values + 3*positions(2 neighbours per sample) + 9*strain per sample -> 16 rows per sample
    n_samples = int(size_mb * 1e6 / (8 * n_properties * n_components * 16 * 4))
    blocks = []
    for _ in range(4):
        samples = blocktensor.Labels(
            ["system", "atom"], np.stack([np.arange(n_samples) // 100, np.arange(n_samples)], 1))
        component = blocktensor.Labels.range("o3_mu", n_components)
        properties = blocktensor.Labels.range("n", n_properties)
        block = blocktensor.TensorBlock(
            rng.random((n_samples, n_components, n_properties)), samples, [component], properties)
        gradient_samples = np.stack([
            np.repeat(np.arange(n_samples), 2), np.repeat(np.arange(n_samples) // 100, 2),
            np.stack([np.arange(n_samples), (np.arange(n_samples) + 1) % n_samples], 1).ravel(),
        ], 1)
        block.add_gradient("positions", blocktensor.TensorBlock(
            rng.random((2 * n_samples, 3, n_components, n_properties)),
            blocktensor.Labels(["sample", "system", "atom"], gradient_samples),
            [blocktensor.Labels.range("xyz", 3), component], properties))
        block.add_gradient("strain", blocktensor.TensorBlock(
            rng.random((n_samples, 3, 3, n_components, n_properties)),
            blocktensor.Labels(["sample"], np.arange(n_samples).reshape(-1, 1)),
            [blocktensor.Labels.range("xyz_2", 3), blocktensor.Labels.range("xyz_1", 3),
             component], properties))
        blocks.append(block)
    return blocktensor.TensorMap(blocktensor.Labels.range("key", 4), blocks)


def io_benchmarks(size_mb, repeat):
    tensor = big_tensor(size_mb)
    arrays = []
    for block in tensor.blocks():
        arrays.append(block.values)
        arrays.extend(g.values for _, g in block.gradients())
    n_bytes = sum(a.nbytes for a in arrays)
    print(f"map of {n_bytes / 1e6:.0f} MB ({len(tensor)} blocks, positions+strain gradients)")
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "tensor.mts")

        def raw_save():
            for i, array in enumerate(arrays):
                np.save(os.path.join(directory, f"raw{i}.npy"), array)

        def raw_load():
            return [np.load(os.path.join(directory, f"raw{i}.npy")) for i in range(len(arrays))]

        def remove_outputs():
            # every writer is timed writing new files: deleting the previous ones frees
            # their page cache, a cost of the deletion that would otherwise land on
            # whichever writer replaces them
            for name in os.listdir(directory):
                if name.startswith(("raw", "theirs")) or name == "tensor.mts":
                    os.remove(os.path.join(directory, name))

        raw_save_time = best_time(raw_save, repeat, setup=remove_outputs)
        raw_load_time = best_time(raw_load, repeat)
        save_time = best_time(lambda: blocktensor.save(path, tensor), repeat,
                              setup=remove_outputs)
        load_time = best_time(lambda: blocktensor.load(path), repeat)
        their_save = their_load = None
        if metatensor is not None:
            reference = metatensor.load(path)
            their_path = os.path.join(directory, "theirs.mts")
            their_save = best_time(lambda: metatensor.save(their_path, reference), repeat,
                                   setup=remove_outputs)
            their_load = best_time(lambda: metatensor.load(their_path), repeat)
        report("save", save_time, their_save)
        report("load", load_time, their_load)
        print(f"{'throughput vs numpy.save / numpy.load':<48s} save {raw_save_time / save_time:5.0%}"
              f"   load {raw_load_time / load_time:5.0%}   (numpy: {n_bytes / 1e6 / raw_save_time:.0f}"
              f" / {n_bytes / 1e6 / raw_load_time:.0f} MB/s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=160)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"metatensor-core: {'v' + metatensor.__version__ if metatensor else 'not installed'}")
    labels_benchmarks(args.repeat)
    io_benchmarks(args.size_mb, args.repeat)


if __name__ == "__main__":
    main()
