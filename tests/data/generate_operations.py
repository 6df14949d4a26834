"""Generate reference outputs of metatensor-operations (operation tests).

Run with the reference environment (metatensor-core 0.2.6, metatensor-operations 0.5.0)::

    /work/refenv/bin/python tests/data/generate_operations.py

Outputs go to ``tests/data/metatensor/operations/``: the fixture input maps, one file per
operation output, and ``manifest.json`` describing every call so that a test can loop over
it. The manifest is a list of entries::

    {
      "name": "add_map_map",                 # unique case name
      "function": "add",                     # metatensor.operations function (or a
                                             # TensorMap method when "method" is true)
      "method": false,
      "call": "metatensor.operations.add(A, B)",   # human-readable call
      "inputs": ["A.mts", "B.mts"],          # positional TensorMap arguments (files)
      "kwargs": {...},                       # other arguments, JSON; Labels are written as
                                             # {"__labels__": {"names": [...], "values":
                                             # [[...], ...]}}, a list of TensorMap inputs
                                             # as {"__tensors__": [file, ...]}
      "output": "add_map_map.mts",           # or a list of files, or null
      "output_type": "TensorMap",            # TensorMap | Labels | list[TensorMap] |
                                             # ndarray (.npy) | bool | error
      "result": ...                          # for bool outputs: the value; for errors:
                                             # the exception type and message
    }

TensorMaps and Labels are written with ``metatensor.save`` (a Labels file is a bare .npy,
with the ``.mts`` extension metatensor insists on); numpy arrays with ``numpy.save``.
"""

import json
import os

import numpy as np

import metatensor
import metatensor.operations as mops
from metatensor import Labels, TensorBlock, TensorMap


HERE = os.path.dirname(os.path.abspath(__file__))
OUTPUT = os.path.join(HERE, "metatensor", "operations")


def labels(names, values):
    if isinstance(names, str):
        names = [names]
    return Labels(names, np.asarray(values, dtype=np.int32).reshape(-1, len(names)))


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------

# samples of each block, per center_type; the (6, 6) block lacks (1, 0) on purpose, so
# that merging blocks in keys_to_properties has to fill a missing sample
SAMPLES = {
    1: [[0, 1], [0, 0], [1, 0], [1, 2]],  # not sorted on purpose
    6: [[0, 2], [1, 1], [1, 0]],
}
MISSING_IN_6_6 = [1, 0]
PROPERTIES = {1: [0, 1, 2], 6: [2, 0, 1, 3]}  # per neighbor_type; (6, ...) not sorted


def make_pair(seed):
    """Two maps A and B with identical metadata (and gradient metadata), different
    random values. Keys (center_type, neighbor_type); samples (system, atom);
    components o3_mu = [-1, 0, 1]; properties n; positions gradients with samples
    (sample, system, atom) and components (xyz, o3_mu)."""
    rng = np.random.default_rng(seed)
    keys = labels(["center_type", "neighbor_type"], [[1, 1], [1, 6], [6, 1], [6, 6]])
    o3_mu = labels("o3_mu", [-1, 0, 1])
    xyz = labels("xyz", [0, 1, 2])
    A_blocks, B_blocks = [], []
    for center_type, neighbor_type in keys.values:
        sample_values = [
            s
            for s in SAMPLES[int(center_type)]
            if not (center_type == 6 and neighbor_type == 6 and s == MISSING_IN_6_6)
        ]
        samples = labels(["system", "atom"], sample_values)
        properties = labels("n", PROPERTIES[int(neighbor_type)])
        # gradient w.r.t. the atom itself and atom 0 of the same system (if different);
        # gradient rows are sorted by "sample" as featomic writes them
        grad_rows = []
        for i, (system, atom) in enumerate(sample_values):
            grad_rows.append([i, system, atom])
            if atom != 0:
                grad_rows.append([i, system, 0])
        grad_samples = labels(["sample", "system", "atom"], grad_rows)
        shape = (len(samples), 3, len(properties))
        grad_shape = (len(grad_samples), 3, 3, len(properties))
        for blocks, offset in ((A_blocks, 0.0), (B_blocks, 2.0)):
            # B is kept away from zero so that A / B is well conditioned
            values = rng.normal(size=shape)
            if offset:
                values = np.sign(values) * (np.abs(values) + 0.5)
            block = TensorBlock(values, samples, [o3_mu], properties)
            block.add_gradient(
                "positions",
                TensorBlock(
                    rng.normal(size=grad_shape), grad_samples, [xyz, o3_mu], properties
                ),
            )
            blocks.append(block)
    return TensorMap(keys, A_blocks), TensorMap(keys, B_blocks)


def make_dense_gradients(tensor, seed):
    """Same values, but every sample has a positions gradient row for every atom of its
    system (rows sorted). With such dense gradients the gradients of
    mean/std/var_over_samples in metatensor are the exact derivatives (see
    SEMANTICS.md)."""
    rng = np.random.default_rng(seed)
    blocks = []
    for block in tensor.blocks():
        atoms_per_system = {}
        for system, atom in block.samples.values:
            atoms_per_system.setdefault(int(system), set()).add(int(atom))
        rows = [
            [i, int(system), atom]
            for i, (system, _) in enumerate(block.samples.values)
            for atom in sorted(atoms_per_system[int(system)])
        ]
        gradient = block.gradient("positions")
        new = TensorBlock(
            block.values.copy(), block.samples, block.components, block.properties
        )
        new.add_gradient(
            "positions",
            TensorBlock(
                rng.normal(size=(len(rows),) + gradient.values.shape[1:]),
                labels(["sample", "system", "atom"], rows),
                gradient.components,
                gradient.properties,
            ),
        )
        blocks.append(new)
    return TensorMap(tensor.keys, blocks)


def make_positive(tensor):
    """Same metadata, values replaced by |values| + 0.5 (for pow with fractional
    exponents)."""
    blocks = []
    for block in tensor.blocks():
        new = TensorBlock(
            np.abs(block.values) + 0.5,
            block.samples,
            block.components,
            block.properties,
        )
        gradient = block.gradient("positions")
        new.add_gradient(
            "positions",
            TensorBlock(
                gradient.values.copy(),
                gradient.samples,
                gradient.components,
                gradient.properties,
            ),
        )
        blocks.append(new)
    return TensorMap(tensor.keys, blocks)


def make_invariant_pair(seed):
    """Maps without components, for dot / lstsq / solve. X: samples (system), 5
    properties; Y: same samples, 2 properties; both with positions gradients (same
    gradient samples). S: square X (4 samples x 4 properties), T: 4 x 2, no gradients
    (solve does not handle them)."""
    rng = np.random.default_rng(seed)
    keys = labels("center_type", [[1], [8]])
    xyz = labels("xyz", [0, 1, 2])
    X_blocks, Y_blocks, S_blocks, T_blocks = [], [], [], []
    for (center_type,) in keys.values:
        n_samples = 6 if center_type == 1 else 7
        samples = labels("system", list(range(n_samples)))
        grad_samples = labels(
            ["sample", "system", "atom"],
            [[i, i, a] for i in range(n_samples) for a in range(2)],
        )
        for blocks, n_properties, name in ((X_blocks, 5, "n"), (Y_blocks, 2, "target")):
            properties = labels(name, list(range(n_properties)))
            block = TensorBlock(
                rng.normal(size=(n_samples, n_properties)), samples, [], properties
            )
            block.add_gradient(
                "positions",
                TensorBlock(
                    rng.normal(size=(len(grad_samples), 3, n_properties)),
                    grad_samples,
                    [xyz],
                    properties,
                ),
            )
            blocks.append(block)
        square_samples = labels("system", [0, 1, 2, 3])
        S_blocks.append(
            TensorBlock(
                rng.normal(size=(4, 4)) + 3 * np.eye(4),
                square_samples,
                [],
                labels("n", [0, 1, 2, 3]),
            )
        )
        T_blocks.append(
            TensorBlock(
                rng.normal(size=(4, 2)), square_samples, [], labels("target", [0, 1])
            )
        )
    return (
        TensorMap(keys, X_blocks),
        TensorMap(keys, Y_blocks),
        TensorMap(keys, S_blocks),
        TensorMap(keys, T_blocks),
    )


def make_reference(tensor, seed, gradients=False):
    """3 "reference" samples with the properties of ``tensor`` (no components), the
    second argument of ``dot``."""
    rng = np.random.default_rng(seed)
    blocks = []
    for block in tensor.blocks():
        samples = labels("reference", [0, 1, 2])
        new = TensorBlock(
            rng.normal(size=(3, len(block.properties))), samples, [], block.properties
        )
        if gradients:
            new.add_gradient(
                "positions",
                TensorBlock(
                    rng.normal(size=(2, 3, len(block.properties))),
                    labels(["sample", "system", "atom"], [[0, 0, 0], [2, 0, 1]]),
                    [labels("xyz", [0, 1, 2])],
                    block.properties,
                ),
            )
        blocks.append(new)
    return TensorMap(tensor.keys, blocks)


def make_disjoint_properties(tensor, offset):
    """Same map with property values shifted by ``offset`` (to join along properties
    without collisions)."""
    blocks = []
    for block in tensor.blocks():
        properties = Labels(block.properties.names, block.properties.values + offset)
        new = TensorBlock(block.values * 2, block.samples, block.components, properties)
        for parameter, gradient in block.gradients():
            new.add_gradient(
                parameter,
                TensorBlock(
                    gradient.values * 2, gradient.samples, gradient.components, properties
                ),
            )
        blocks.append(new)
    return TensorMap(tensor.keys, blocks)


def make_disjoint_samples(tensor, offset):
    """Same map with system indices shifted by ``offset`` (to join along samples without
    collisions). Gradient samples keep pointing to the same rows."""
    blocks = []
    for block in tensor.blocks():
        values = block.samples.values.copy()
        values[:, 0] += offset
        samples = Labels(block.samples.names, values)
        new = TensorBlock(block.values - 1, samples, block.components, block.properties)
        for parameter, gradient in block.gradients():
            grad_values = gradient.samples.values.copy()
            grad_values[:, 1] += offset
            new.add_gradient(
                parameter,
                TensorBlock(
                    gradient.values - 1,
                    Labels(gradient.samples.names, grad_values),
                    gradient.components,
                    gradient.properties,
                ),
            )
        blocks.append(new)
    return TensorMap(tensor.keys, blocks)


# --------------------------------------------------------------------------------------
# recording
# --------------------------------------------------------------------------------------


def encode(value):
    """Turn an argument into JSON (Labels -> {"__labels__": ...})."""
    if isinstance(value, Labels):
        return {
            "__labels__": {
                "names": list(value.names),
                "values": np.asarray(value.values).tolist(),
            }
        }
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value


def as_text(value):
    if isinstance(value, Labels):
        return f"Labels({list(value.names)!r}, {np.asarray(value.values).tolist()!r})"
    if isinstance(value, list):
        return "[" + ", ".join(as_text(v) for v in value) + "]"
    return repr(value)


class Recorder:
    def __init__(self):
        self.inputs = {}  # file name -> object
        self.entries = []

    def add_input(self, name, tensor):
        file = f"{name}.mts"
        metatensor.save(os.path.join(OUTPUT, file), tensor)
        self.inputs[file] = tensor
        return file

    def record(
        self, name, function, inputs, kwargs=None, method=False, call=None, note=None
    ):
        """Run ``function`` on the loaded inputs, save its output and add an entry."""
        kwargs = kwargs or {}
        args = []
        for item in inputs:
            if isinstance(item, list):
                args.append([self.inputs[file] for file in item])
            else:
                args.append(self.inputs[item])
        if call is None:
            inputs_text = ", ".join(
                "[" + ", ".join(f[:-4] for f in i) + "]" if isinstance(i, list) else i[:-4]
                for i in inputs
            )
            kwargs_text = "".join(f", {k}={as_text(v)}" for k, v in kwargs.items())
            if method:
                call = f"{inputs_text}.{function}({kwargs_text[2:]})"
            else:
                call = f"metatensor.operations.{function}({inputs_text}{kwargs_text})"

        entry = {
            "name": name,
            "function": function,
            "method": method,
            "call": call,
            "inputs": [
                {"__tensors__": item} if isinstance(item, list) else item
                for item in inputs
            ],
            "kwargs": encode(kwargs),
        }
        if note is not None:
            entry["note"] = note
        call_kwargs = dict(kwargs)
        if isinstance(call_kwargs.get("values"), list):
            # new dimension values must be arrays, not lists
            call_kwargs["values"] = np.array(call_kwargs["values"], dtype=np.int32)
        try:
            if method:
                result = getattr(args[0], function)(*args[1:], **call_kwargs)
            else:
                result = getattr(mops, function)(*args, **call_kwargs)
        except Exception as error:  # record expected failures too
            entry.update(
                output=None,
                output_type="error",
                result={"type": type(error).__name__, "message": str(error)},
            )
            self.entries.append(entry)
            return None

        if isinstance(result, TensorMap):
            file = f"{name}.mts"
            metatensor.save(os.path.join(OUTPUT, file), result)
            self.inputs[file] = result
            entry.update(output=file, output_type="TensorMap")
        elif isinstance(result, Labels):
            file = f"{name}.mts"
            metatensor.save(os.path.join(OUTPUT, file), result)
            entry.update(output=file, output_type="Labels")
        elif isinstance(result, (list, tuple)):
            files = []
            for i, tensor in enumerate(result):
                file = f"{name}_{i}.mts"
                metatensor.save(os.path.join(OUTPUT, file), tensor)
                self.inputs[file] = tensor
                files.append(file)
            entry.update(output=files, output_type="list[TensorMap]")
        elif isinstance(result, (bool, np.bool_)):
            entry.update(output=None, output_type="bool", result=bool(result))
        elif isinstance(result, np.ndarray):
            file = f"{name}.npy"
            np.save(os.path.join(OUTPUT, file), result)
            entry.update(output=file, output_type="ndarray")
        else:
            raise TypeError(f"unexpected result type {type(result)} for {name}")
        self.entries.append(entry)
        return result


# --------------------------------------------------------------------------------------


def main():
    # remove previous outputs, but keep the hand-written SEMANTICS.md
    os.makedirs(OUTPUT, exist_ok=True)
    for file in os.listdir(OUTPUT):
        if file.endswith((".mts", ".npy")) or file == "manifest.json":
            os.remove(os.path.join(OUTPUT, file))

    A, B = make_pair(seed=12345)
    X, Y, S, T = make_invariant_pair(seed=678)
    rec = Recorder()
    a = rec.add_input("A", A)
    b = rec.add_input("B", B)
    p = rec.add_input("A_positive", make_positive(A))
    a_dense = rec.add_input("A_dense_gradients", make_dense_gradients(A, seed=4))
    x = rec.add_input("X", X)
    y = rec.add_input("Y", Y)
    s = rec.add_input("S", S)
    t = rec.add_input("T", T)
    a_props = rec.add_input("A_shifted_properties", make_disjoint_properties(A, 10))
    a_samples = rec.add_input("A_shifted_samples", make_disjoint_samples(A, 5))
    a_sub = rec.add_input(
        "A_without_1_6",
        mops.drop_blocks(A, labels(["center_type", "neighbor_type"], [[1, 6]])),
    )
    b_sub = rec.add_input(
        "B_without_6_1",
        mops.drop_blocks(
            make_disjoint_samples(B, 5),
            labels(["center_type", "neighbor_type"], [[6, 1]]),
        ),
    )

    # arithmetic
    rec.record("add_map_map", "add", [a, b])
    rec.record("add_map_scalar", "add", [a], {"B": 2.5})
    rec.record("subtract_map_map", "subtract", [a, b])
    rec.record("subtract_map_scalar", "subtract", [a], {"B": 2.5})
    rec.record("multiply_map_map", "multiply", [a, b])
    rec.record("multiply_map_scalar", "multiply", [a], {"B": -3.0})
    rec.record("divide_map_map", "divide", [a, b])
    rec.record("divide_map_scalar", "divide", [a], {"B": 4.0})
    rec.record("pow_3", "pow", [a], {"B": 3})
    rec.record("pow_half", "pow", [p], {"B": 0.5})
    rec.record("abs", "abs", [a])
    rec.record("dot", "dot", [x, rec.add_input("Z", make_reference(X, seed=9))])
    rec.record(
        "dot_both_gradients",
        "dot",
        [x, rec.add_input("Z_gradients", make_reference(X, seed=10, gradients=True))],
    )
    rec.record("dot_components_error", "dot", [a, b])


    # reductions
    for reduction in ["sum", "mean", "std", "var"]:
        rec.record(
            f"{reduction}_over_samples",
            f"{reduction}_over_samples",
            [a],
            {"sample_names": "atom"},
            note=None
            if reduction == "sum"
            else "sparse gradient rows: metatensor's gradients are NOT the exact "
            "derivative here (divides by the number of gradient rows, see "
            "SEMANTICS.md); values are exact",
        )
        rec.record(
            f"{reduction}_over_properties",
            f"{reduction}_over_properties",
            [a],
            {"property_names": "n"},
            note="metatensor-operations 0.5.0 fails for std/var over properties "
            "when the blocks have components (broadcasting bug)"
            if reduction in ("std", "var")
            else None,
        )
        rec.record(
            f"{reduction}_over_samples_dense_gradients",
            f"{reduction}_over_samples",
            [a_dense],
            {"sample_names": "atom"},
        )
        rec.record(
            f"{reduction}_over_properties_no_components",
            f"{reduction}_over_properties",
            [x],
            {"property_names": "n"},
        )
    rec.record(
        "sum_over_samples_all", "sum_over_samples", [a], {"sample_names": ["system", "atom"]}
    )

    # join
    rec.record("join_samples", "join", [[a, a_samples]], {"axis": "samples"})
    rec.record("join_samples_same_values", "join", [[a, b]], {"axis": "samples"})
    rec.record("join_properties", "join", [[a, a_props]], {"axis": "properties"})
    rec.record("join_properties_same_values", "join", [[a, b]], {"axis": "properties"})
    rec.record(
        "join_properties_add_dimension",
        "join",
        [[a, b]],
        {"axis": "properties", "add_dimension": "tensor"},
    )
    rec.record(
        "join_samples_add_dimension",
        "join",
        [[a, b]],
        {"axis": "samples", "add_dimension": "tensor"},
    )
    for different_keys in ["error", "intersection", "union"]:
        rec.record(
            f"join_samples_different_keys_{different_keys}",
            "join",
            [[a_sub, b_sub]],
            {"axis": "samples", "different_keys": different_keys},
        )
    rec.record(
        "join_properties_different_keys_union",
        "join",
        [[a_sub, rec.add_input("A_shifted_properties_without_6_1", mops.drop_blocks(
            make_disjoint_properties(A, 10),
            labels(["center_type", "neighbor_type"], [[6, 1]]),
        ))]],
        {"axis": "properties", "different_keys": "union"},
    )

    # selection
    rec.record(
        "split_samples",
        "split",
        [a],
        {
            "axis": "samples",
            "selections": [labels("system", [[0]]), labels("system", [[1], [7]])],
        },
    )
    rec.record(
        "split_properties",
        "split",
        [a],
        {"axis": "properties", "selections": [labels("n", [[0], [1]]), labels("n", [[2]])]},
    )
    rec.record(
        "slice_samples",
        "slice",
        [a],
        {"axis": "samples", "selection": labels(["atom"], [[0], [2]])},
    )
    rec.record(
        "slice_properties",
        "slice",
        [a],
        {"axis": "properties", "selection": labels("n", [[2], [0], [9]])},
    )
    rec.record("sort", "sort", [a])
    rec.record("sort_descending", "sort", [a], {"descending": True})
    rec.record("sort_samples", "sort", [a], {"axes": "samples"})
    rec.record(
        "drop_blocks",
        "drop_blocks",
        [a],
        {"keys": labels(["center_type", "neighbor_type"], [[1, 6], [6, 6]])},
    )
    rec.record(
        "drop_blocks_partial_key",
        "drop_blocks",
        [a],
        {"keys": labels(["neighbor_type"], [[6]])},
    )
    rec.record(
        "filter_blocks",
        "filter_blocks",
        [a],
        {"keys": labels(["center_type"], [[6]])},
    )
    rec.record("remove_gradients", "remove_gradients", [a])
    rec.record(
        "unique_metadata_samples",
        "unique_metadata",
        [a],
        {"axis": "samples", "names": ["atom"]},
    )
    rec.record(
        "unique_metadata_properties",
        "unique_metadata",
        [a],
        {"axis": "properties", "names": "n"},
    )
    rec.record(
        "unique_metadata_gradient",
        "unique_metadata",
        [a],
        {"axis": "samples", "names": ["system", "atom"], "gradient": "positions"},
    )

    # keys / components moves (TensorMap methods of metatensor-core)
    rec.record(
        "keys_to_properties", "keys_to_properties", [a], {"keys_to_move": "neighbor_type"},
        method=True,
    )
    rec.record(
        "keys_to_properties_sort_false",
        "keys_to_properties",
        [a],
        {"keys_to_move": "neighbor_type", "sort_samples": False},
        method=True,
    )
    rec.record(
        "keys_to_samples", "keys_to_samples", [a], {"keys_to_move": "center_type"},
        method=True,
    )
    rec.record(
        "keys_to_samples_sort_false",
        "keys_to_samples",
        [a],
        {"keys_to_move": "center_type", "sort_samples": False},
        method=True,
    )
    rec.record(
        "keys_to_properties_all",
        "keys_to_properties",
        [a],
        {"keys_to_move": ["center_type", "neighbor_type"]},
        method=True,
    )
    rec.record(
        "components_to_properties",
        "components_to_properties",
        [a],
        {"dimensions": "o3_mu"},
        method=True,
    )

    # dimensions
    rec.record(
        "append_dimension_keys",
        "append_dimension",
        [a],
        {"axis": "keys", "name": "extra", "values": [7, 7, 8, 8]},
    )
    rec.record(
        "append_dimension_samples",
        "append_dimension",
        [a],
        {"axis": "samples", "name": "frame", "values": 3},
    )
    rec.record(
        "insert_dimension_properties",
        "insert_dimension",
        [a],
        {"axis": "properties", "index": 0, "name": "l", "values": 2},
    )
    rec.record(
        "insert_dimension_samples",
        "insert_dimension",
        [a],
        {"axis": "samples", "index": 1, "name": "frame", "values": 3},
    )
    rec.record(
        "remove_dimension_keys",
        "remove_dimension",
        ["append_dimension_keys.mts"],
        {"axis": "keys", "name": "extra"},
    )
    rec.record(
        "remove_dimension_samples",
        "remove_dimension",
        ["append_dimension_samples.mts"],
        {"axis": "samples", "name": "frame"},
    )
    rec.record(
        "remove_dimension_not_unique_error",
        "remove_dimension",
        [a],
        {"axis": "samples", "name": "atom"},
    )
    rec.record(
        "rename_dimension_keys",
        "rename_dimension",
        [a],
        {"axis": "keys", "old": "neighbor_type", "new": "species_neighbor"},
    )
    rec.record(
        "rename_dimension_samples",
        "rename_dimension",
        [a],
        {"axis": "samples", "old": "atom", "new": "center"},
    )
    rec.record(
        "rename_dimension_components",
        "rename_dimension",
        [a],
        {"axis": "components", "old": "o3_mu", "new": "m"},
    )
    rec.record(
        "permute_dimensions_keys",
        "permute_dimensions",
        [a],
        {"axis": "keys", "dimensions_indexes": [1, 0]},
    )
    rec.record(
        "permute_dimensions_samples",
        "permute_dimensions",
        [a],
        {"axis": "samples", "dimensions_indexes": [1, 0]},
    )

    # linear algebra
    rec.record("lstsq", "lstsq", [x, y], {"rcond": 1e-10})
    rec.record("solve", "solve", [s, t])

    # creation / comparison
    rec.record("zeros_like", "zeros_like", [a])
    rec.record("ones_like", "ones_like", [a])
    rec.record("zeros_like_no_gradients", "zeros_like", [a], {"gradients": []})
    rec.record("equal_metadata_same", "equal_metadata", [a, b])
    rec.record("equal_metadata_different", "equal_metadata", [a, a_props])
    rec.record(
        "equal_metadata_different_properties_only_samples",
        "equal_metadata",
        [a, a_props],
        {"check": ["samples", "components"]},
    )
    rec.record("equal_metadata_different_keys", "equal_metadata", [a, a_sub])

    # one_hot works on Labels, not TensorMaps
    one_hot_labels = labels(["atom", "type"], [[0, 6], [1, 1], [2, 8], [3, 6]])
    one_hot = mops.one_hot(one_hot_labels, labels("type", [1, 6, 8]))
    np.save(os.path.join(OUTPUT, "one_hot.npy"), one_hot)
    rec.entries.append(
        {
            "name": "one_hot",
            "function": "one_hot",
            "method": False,
            "call": "metatensor.operations.one_hot(Labels(['atom', 'type'], "
            "[[0, 6], [1, 1], [2, 8], [3, 6]]), Labels('type', [[1], [6], [8]]))",
            "inputs": [],
            "kwargs": {
                "labels": encode(one_hot_labels),
                "dimension": encode(labels("type", [1, 6, 8])),
            },
            "output": "one_hot.npy",
            "output_type": "ndarray",
        }
    )

    with open(os.path.join(OUTPUT, "manifest.json"), "w") as fd:
        json.dump(
            {
                "generator": "tests/data/generate_operations.py",
                "metatensor-core": metatensor.__version__,
                "metatensor-operations": mops.__version__,
                "entries": rec.entries,
            },
            fd,
            indent=1,
        )
        fd.write("\n")

    total = 0
    for file in sorted(os.listdir(OUTPUT)):
        total += os.path.getsize(os.path.join(OUTPUT, file))
    errors = [e["name"] for e in rec.entries if e["output_type"] == "error"]
    print(f"{len(rec.entries)} entries, {total} bytes; errors recorded: {errors}")


if __name__ == "__main__":
    main()
