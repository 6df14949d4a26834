"""Generate reference archives written by metatensor-core (file format tests).

Run with the reference environment (metatensor-core 0.2.6, featomic 0.6.7)::

    /work/refenv/bin/python tests/data/generate_metatensor_files.py

Outputs go to ``tests/data/metatensor/``:

* ``<name>.mts`` written by ``metatensor.save`` (the native writer unless the name says
  ``numpy_writer``);
* ``expected_<name>.npz``: the raw content of each archive as plain arrays, so a test can
  check what it loaded without metatensor (naming scheme in ``tests/data/README.md``);
* ``FORMAT.txt``: zip member order, names, compression and header bytes of every archive;
* ``featomic_spherical_expansion.mts`` + ``featomic_spherical_expansion_input.json``
  (structure and hyper-parameters used).

Everything is seeded, so rerunning gives the same arrays (and byte-identical archives).
"""

import json
import os
import zipfile

import numpy as np

import metatensor
from metatensor import Labels, TensorBlock, TensorMap


HERE = os.path.dirname(os.path.abspath(__file__))
OUTPUT = os.path.join(HERE, "metatensor")


def labels(names, values):
    return Labels(names, np.asarray(values, dtype=np.int32).reshape(-1, len(names)))


# --------------------------------------------------------------------------------------
# flattening into "expected" dictionaries
# --------------------------------------------------------------------------------------


def _flatten_labels(prefix, lab, out):
    out[f"{prefix}.names"] = np.array(lab.names, dtype=str)
    out[f"{prefix}.values"] = np.asarray(lab.values, dtype=np.int32).reshape(
        len(lab), len(lab.names)
    )


def _flatten_block(prefix, block, out, is_gradient=False):
    out[f"{prefix}values"] = np.asarray(block.values)
    _flatten_labels(f"{prefix}samples", block.samples, out)
    for i, component in enumerate(block.components):
        _flatten_labels(f"{prefix}components/{i}", component, out)
    out[f"{prefix}n_components"] = np.array(len(block.components))
    if not is_gradient:
        _flatten_labels(f"{prefix}properties", block.properties, out)
    parameters = sorted(block.gradients_list())
    out[f"{prefix}gradients"] = np.array(parameters, dtype=str)
    for parameter in parameters:
        _flatten_block(
            f"{prefix}gradients/{parameter}/",
            block.gradient(parameter),
            out,
            is_gradient=True,
        )


def flatten_tensor(tensor):
    out = {}
    _flatten_labels("keys", tensor.keys, out)
    out["n_blocks"] = np.array(len(tensor.keys))
    for i, block in enumerate(tensor.blocks()):
        _flatten_block(f"blocks/{i}/", block, out)
    info = tensor.info()
    out["info"] = np.array(json.dumps(dict(sorted(info.items()))))
    return out


def flatten_block(block):
    out = {}
    _flatten_block("", block, out)
    return out


# --------------------------------------------------------------------------------------
# the reference maps
# --------------------------------------------------------------------------------------


def make_gradient_tensor(rng, dtype=np.float64, with_strain=True):
    """Keys (o3_lambda, center_type); samples (system, atom); components o3_mu;
    properties n; positions gradients (sample, system, atom | xyz, o3_mu) and strain
    gradients (sample | xyz_2, xyz_1, o3_mu), like a featomic spherical expansion."""
    keys = labels(["o3_lambda", "center_type"], [[0, 1], [1, 1], [1, 6], [2, 8]])
    blocks = []
    for o3_lambda, center_type in keys.values:
        o3_lambda = int(o3_lambda)
        # a different number of samples / properties per block
        n_atoms = {1: 3, 6: 2, 8: 1}[int(center_type)]
        samples = labels(
            ["system", "atom"],
            [[s, a] for s in range(2) for a in range(n_atoms)],
        )
        # properties are not sorted on purpose: the order must be preserved
        n_values = [3, 0, 2] if o3_lambda != 2 else [1, 4]
        properties = labels(["n"], n_values)
        o3_mu = labels(["o3_mu"], list(range(-o3_lambda, o3_lambda + 1)))
        values = rng.normal(size=(len(samples), len(o3_mu), len(properties)))
        block = TensorBlock(values.astype(dtype), samples, [o3_mu], properties)

        # positions: derivative of sample i w.r.t. atoms of the same system (all of
        # them for the first sample of each system, only itself for the others)
        grad_rows = []
        for i, (system, atom) in enumerate(samples.values):
            neighbours = range(n_atoms) if atom == 0 else [int(atom)]
            grad_rows.extend([i, int(system), j] for j in neighbours)
        grad_samples = labels(["sample", "system", "atom"], grad_rows)
        xyz = labels(["xyz"], [0, 1, 2])
        gradient = TensorBlock(
            rng.normal(size=(len(grad_samples), 3, len(o3_mu), len(properties))).astype(
                dtype
            ),
            grad_samples,
            [xyz, o3_mu],
            properties,
        )
        block.add_gradient("positions", gradient)

        if with_strain:
            strain_samples = labels(["sample"], list(range(len(samples))))
            strain = TensorBlock(
                rng.normal(
                    size=(len(strain_samples), 3, 3, len(o3_mu), len(properties))
                ).astype(dtype),
                strain_samples,
                [labels(["xyz_2"], [0, 1, 2]), labels(["xyz_1"], [0, 1, 2]), o3_mu],
                properties,
            )
            block.add_gradient("strain", strain)
        blocks.append(block)
    return TensorMap(keys, blocks)


def make_simple_tensor(rng, dtype, integer=False):
    """Two blocks, no components, no gradients, negative label values."""
    keys = labels(["key_a", "key_b"], [[-1, 2], [3, -4]])
    blocks = []
    for n_samples, n_properties in [(3, 2), (2, 4)]:
        samples = labels(["structure", "center"], [[s, -s] for s in range(n_samples)])
        properties = labels(["p"], [100 * p - 7 for p in range(n_properties)])
        if integer:
            values = rng.integers(-1000, 1000, size=(n_samples, n_properties))
        else:
            values = rng.normal(size=(n_samples, n_properties))
        blocks.append(TensorBlock(values.astype(dtype), samples, [], properties))
    return TensorMap(keys, blocks)


def make_empty_block_tensor(rng):
    """One normal block, one block with 0 samples (with an empty positions gradient),
    and one block with 0 properties."""
    keys = labels(["key"], [[0], [1], [2]])
    xyz = labels(["xyz"], [0, 1, 2])
    blocks = []
    for n_samples, n_properties in [(2, 3), (0, 3), (2, 0)]:
        samples = labels(["system", "atom"], [[0, a] for a in range(n_samples)])
        properties = labels(["n"], list(range(n_properties)))
        block = TensorBlock(
            rng.normal(size=(n_samples, 3, n_properties)), samples, [xyz], properties
        )
        grad_samples = labels(
            ["sample", "system", "atom"], [[a, 0, a] for a in range(n_samples)]
        )
        block.add_gradient(
            "positions",
            TensorBlock(
                rng.normal(size=(n_samples, 3, 3, n_properties)),
                grad_samples,
                [labels(["xyz_grad"], [0, 1, 2]), xyz],
                properties,
            ),
        )
        blocks.append(block)
    return TensorMap(keys, blocks)


def make_zero_keys_tensor():
    return TensorMap(Labels.empty(["center_type", "neighbor_type"]), [])


def make_block():
    rng = np.random.default_rng(7)
    samples = labels(["system", "atom"], [[0, 0], [0, 1], [1, 0]])
    components = [labels(["o3_mu"], [-1, 0, 1])]
    properties = labels(["n_1", "n_2"], [[0, 0], [0, 1], [1, 1], [2, 0]])
    block = TensorBlock(rng.normal(size=(3, 3, 4)), samples, components, properties)
    grad_samples = labels(["sample", "system", "atom"], [[0, 0, 0], [0, 0, 1], [2, 1, 0]])
    block.add_gradient(
        "positions",
        TensorBlock(
            rng.normal(size=(3, 3, 3, 4)),
            grad_samples,
            [labels(["xyz"], [0, 1, 2])] + components,
            properties,
        ),
    )
    return block


# --------------------------------------------------------------------------------------
# featomic
# --------------------------------------------------------------------------------------

FEATOMIC_HYPERS = {
    "cutoff": {
        "radius": 3.5,
        "smoothing": {"type": "ShiftedCosine", "width": 0.5},
    },
    "density": {"type": "Gaussian", "width": 0.3},
    "basis": {
        "type": "TensorProduct",
        "max_angular": 2,
        "radial": {"type": "Gto", "max_radial": 2},
    },
}


def make_featomic_expansion():
    import ase
    import featomic

    # a small triclinic periodic cell with 3 atoms of 2 types, positions not symmetric
    cell = np.array([[3.2, 0.0, 0.0], [0.4, 3.0, 0.0], [-0.3, 0.5, 3.4]])
    positions = np.array([[0.1, 0.2, 0.3], [1.7, 1.4, 0.9], [0.6, 2.1, 2.2]])
    numbers = [1, 8, 8]
    atoms = ase.Atoms(numbers=numbers, positions=positions, cell=cell, pbc=True)
    calculator = featomic.SphericalExpansion(**FEATOMIC_HYPERS)
    descriptor = calculator.compute(atoms, gradients=["positions", "strain"])
    description = {
        "generator": f"featomic {featomic.__version__} SphericalExpansion",
        "gradients": ["positions", "strain"],
        "hypers": FEATOMIC_HYPERS,
        "cell": cell.tolist(),
        "positions": positions.tolist(),
        "numbers": numbers,
        "pbc": [True, True, True],
    }
    return descriptor, description


# --------------------------------------------------------------------------------------
# FORMAT.txt
# --------------------------------------------------------------------------------------

COMPRESSION = {zipfile.ZIP_STORED: "STORED", zipfile.ZIP_DEFLATED: "DEFLATED"}


def _npy_header(member):
    header_length = int.from_bytes(member[8:10], "little")
    return member[:8], member[10 : 10 + header_length].decode("latin1")


def describe_archive(path, max_members=None):
    name = os.path.basename(path)
    lines = [f"== {name} ({os.path.getsize(path)} bytes)"]
    with open(path, "rb") as fd:
        raw = fd.read()
    if not zipfile.is_zipfile(path):
        magic, header = _npy_header(raw)
        lines.append("not a zip archive: a bare .npy file")
        lines.append(f"magic+version {magic!r}, header ({len(header)} bytes) {header!r}")
        return lines

    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        uniform = {
            (
                COMPRESSION.get(info.compress_type),
                info.date_time,
                info.create_system,
                info.create_version,
                info.extract_version,
                hex(info.flag_bits),
                hex(info.external_attr),
                info.extra,
            )
            for info in infos
        }
        lines.append(
            "members (compression, date_time, create_system, create_version, "
            f"extract_version, flag_bits, external_attr, central extra): {sorted(uniform)}"
        )
        local_extra = set()
        for info in infos:
            offset = info.header_offset
            name_length = int.from_bytes(raw[offset + 26 : offset + 28], "little")
            extra_length = int.from_bytes(raw[offset + 28 : offset + 30], "little")
            extra = raw[offset + 30 + name_length : offset + 30 + name_length + extra_length]
            local_extra.add(
                (raw[offset + 18 : offset + 26].hex(), extra_length, extra[:4].hex())
            )
        lines.append(
            "local headers (compressed+uncompressed size field hex, extra length, "
            f"extra tag+size hex): {sorted(local_extra)}"
        )
        lines.append(f"archive comment: {archive.comment!r}")
        lines.append("index | name | file_size | header_offset | npy header")
        for index, info in enumerate(infos):
            if max_members is not None and index >= max_members:
                lines.append(f"... {len(infos) - max_members} more members, same pattern")
                break
            member = archive.read(info)
            if info.filename.endswith(".npy"):
                magic, header = _npy_header(member)
                npy = f"{magic!r} {header.rstrip()!r} (header {len(header)} bytes)"
            else:
                npy = f"content {member!r}"
            lines.append(
                f"{index} | {info.filename} | {info.file_size} | {info.header_offset} | "
                f"{npy}"
            )
    end = raw.rfind(b"PK\x05\x06")
    lines.append(f"end of central directory record (hex): {raw[end:].hex()}")
    zip64 = raw.rfind(b"PK\x06\x06") >= 0
    lines.append(f"zip64 end of central directory present: {zip64}")
    return lines


FORMAT_SUMMARY = """\
Summary (native writer, metatensor.save(path, x) with the default use_numpy=False):
- TensorMap: an uncompressed (STORED) zip. Member order: keys.npy, then for each block i in
  order: blocks/<i>/values.npy, blocks/<i>/samples.npy, blocks/<i>/components/<k>.npy for
  k = 0.., blocks/<i>/properties.npy, then for each gradient parameter in sorted order
  blocks/<i>/gradients/<p>/values.npy, .../samples.npy, .../components/<k>.npy (no
  properties for gradients). A gradient of a gradient would nest the same way. info.json
  (UTF-8 JSON object {key: value}) is the LAST member when the map has info.
- A TensorBlock saved alone: same layout without the "blocks/<i>/" prefix and without keys.npy.
- Labels saved alone: NOT a zip; a bare .npy file (metatensor.save appends ".mts" to the
  path if it does not end with it).
- Labels members: 1-D structured array, one '<i4' field per dimension, named after it;
  shape (n,) (0 rows -> shape (0,)). Values: plain '<f8' / '<f4' / '<i4' / ... C-order.
- Every member: date_time 2000-01-01 00:00:00 (DOS time 0x0000, date 0x2821), create_system 3
  (Unix), create_version 46, extract_version 20, flag_bits 0, external_attr 0x81a40000
  (regular file 0o644), no central-directory extra field. Local file headers store crc32,
  0xFFFFFFFF in both size fields, and a 20-byte zip64 extra field (tag 0x0001, size 16,
  uncompressed size u64, compressed size u64); the central directory stores the real 32-bit
  sizes and no extra. Plain end-of-central-directory record, no zip64 EOCD, no comment.
- npy headers are written by metatensor, NOT numpy: format 1.0, text like
  "{ 'descr': '<f8', 'fortran_order': False, 'shape': (3, 3, 4, ) }" (space after '{', every
  shape entry followed by ", ", no trailing comma after the shape; structured descr
  "[('system', '<i4'), ('atom', '<i4'), ]"), padded with spaces + '\\n' so that
  10 + header length is a multiple of 64 (header length 118 for short headers).
- The numpy writer (use_numpy=True, tensor_gradients_numpy_writer.mts) differs: date
  1980-01-01, create/extract_version 45, external_attr 0x1800000, numpy's own npy header
  text "{'descr': '<f8', 'fortran_order': False, 'shape': (6, 1, 3), }". Same member order.
  Both load with metatensor.load; a reader must not depend on these byte details.
"""

# --------------------------------------------------------------------------------------


def save_tensor(name, tensor, use_numpy=False, write_expected=True):
    path = os.path.join(OUTPUT, f"{name}.mts")
    metatensor.save(path, tensor, use_numpy=use_numpy)
    if write_expected:
        np.savez_compressed(
            os.path.join(OUTPUT, f"expected_{name}.npz"), **flatten_tensor(tensor)
        )
    # round trip through metatensor itself, to be sure the file is valid
    loaded = metatensor.load(path)
    assert metatensor.equal_metadata(loaded, tensor) if len(tensor) else True
    return path


def main():
    os.makedirs(OUTPUT, exist_ok=True)
    paths = []

    # Labels alone: metatensor.save appends ".mts" to any other extension, but the
    # content is a bare .npy (structured array, one <i4 field per dimension)
    keys = labels(["system", "atom", "cell_shift_a"], [[0, 0, 0], [0, 1, -1], [3, 2, 5]])
    path = os.path.join(OUTPUT, "labels.mts")
    metatensor.save(path, keys)
    paths.append(path)
    out = {}
    _flatten_labels("labels", keys, out)
    empty = Labels.empty(["a", "b"])
    path = os.path.join(OUTPUT, "labels_empty.mts")
    metatensor.save(path, empty)
    paths.append(path)
    _flatten_labels("labels_empty", empty, out)
    np.savez_compressed(os.path.join(OUTPUT, "expected_labels.npz"), **out)
    assert metatensor.load_labels(os.path.join(OUTPUT, "labels.mts")) == keys

    block = make_block()
    path = os.path.join(OUTPUT, "block.mts")
    metatensor.save(path, block)
    paths.append(path)
    np.savez_compressed(os.path.join(OUTPUT, "expected_block.npz"), **flatten_block(block))
    loaded = metatensor.load_block(path)
    assert np.array_equal(loaded.values, block.values)

    rng = np.random.default_rng(20240501)
    tensor = make_gradient_tensor(rng)
    paths.append(save_tensor("tensor_gradients", tensor))
    # the same map written by the numpy-based writer (np.savez), to document the
    # differences between the two writers (both load in metatensor)
    # (its content is expected_tensor_gradients.npz)
    paths.append(
        save_tensor(
            "tensor_gradients_numpy_writer", tensor, use_numpy=True, write_expected=False
        )
    )

    with_info = make_simple_tensor(rng, np.float64)
    with_info.set_info("creator", "generate_metatensor_files.py")
    with_info.set_info("units", "eV")
    paths.append(save_tensor("tensor_info", with_info))

    paths.append(save_tensor("tensor_float32", make_gradient_tensor(rng, np.float32)))
    paths.append(
        save_tensor("tensor_int32", make_simple_tensor(rng, np.int32, integer=True))
    )
    paths.append(
        save_tensor("tensor_int64", make_simple_tensor(rng, np.int64, integer=True))
    )
    paths.append(save_tensor("tensor_empty_blocks", make_empty_block_tensor(rng)))
    paths.append(save_tensor("tensor_zero_keys", make_zero_keys_tensor()))

    descriptor, description = make_featomic_expansion()
    paths.append(save_tensor("featomic_spherical_expansion", descriptor))
    with open(
        os.path.join(OUTPUT, "featomic_spherical_expansion_input.json"), "w"
    ) as fd:
        json.dump(description, fd, indent=2)
        fd.write("\n")

    lines = [
        "Zip layout of the archives in this directory, as written by metatensor-core "
        f"{metatensor.__version__} (metatensor.save).",
        "Generated by tests/data/generate_metatensor_files.py; do not edit by hand.",
        "",
        FORMAT_SUMMARY,
    ]
    for path in paths:
        max_members = 20 if "featomic" in path else None
        lines.extend(describe_archive(path, max_members))
        lines.append("")
    with open(os.path.join(OUTPUT, "FORMAT.txt"), "w") as fd:
        fd.write("\n".join(lines))

    for path in sorted(os.listdir(OUTPUT)):
        full = os.path.join(OUTPUT, path)
        if os.path.isfile(full):
            print(f"{os.path.getsize(full):>8}  {path}")


if __name__ == "__main__":
    main()
