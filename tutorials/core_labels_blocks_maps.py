"""
Labels, blocks and maps
=======================

This tutorial builds a :class:`~blocktensor.TensorMap` by hand: per-atom features of two
small molecules, split by atomic type, with explicit gradients with respect to the atomic
positions. It then selects part of the data, moves a key dimension into the properties,
and saves the result to a file that metatensor can read.

The three containers are

* :class:`~blocktensor.Labels` — names and unique integer rows describing one axis;
* :class:`~blocktensor.TensorBlock` — a dense array ``(samples, *components, properties)``
  with one Labels per axis and optional gradient blocks;
* :class:`~blocktensor.TensorMap` — blocks indexed by key Labels.
"""

# %%
import os
import tempfile

import numpy as np

import blocktensor
from blocktensor import Labels, TensorBlock, TensorMap

# %%
# Labels
# ------
#
# Labels are names plus a 2-D integer array of unique rows. They are immutable and support
# fast lookups.

samples = Labels(["system", "atom"], np.array([[0, 0], [0, 1], [0, 2], [1, 0], [1, 1]]))
print(samples.names, len(samples))
print("position of (1, 0):", samples.position((1, 0)))
print("rows of system 1:", samples.select(Labels(["system"], [[1]])))
print("atom column:", samples["atom"])

# %%
# Duplicated rows are refused, with a message that says where they are:

try:
    Labels(["system", "atom"], [[0, 0], [0, 1], [0, 0]])
except ValueError as error:
    print("ValueError:", error)

# %%
# A toy descriptor
# ----------------
#
# As data, we use a water molecule and a methane molecule. For every atom ``i`` the
# feature ``n`` is a Gaussian-weighted count of its neighbours,
#
# .. math:: f_n(i) = \sum_{j \neq i} \exp\left(-\frac{r_{ij}^2}{2 (n + 1)^2}\right),
#
# whose derivative with respect to the position of atom ``k`` is known analytically. This
# is exactly the kind of data calculators produce, in a form small enough to build here.

water = {
    "types": np.array([8, 1, 1]),
    "positions": np.array([[0.0, 0.0, 0.0], [0.76, 0.59, 0.0], [-0.76, 0.59, 0.0]]),
}
methane = {
    "types": np.array([6, 1, 1, 1, 1]),
    "positions": 0.63 * np.array(
        [[0, 0, 0], [1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.float64
    ),
}
systems = [water, methane]
n_features = 4
widths = np.arange(1, n_features + 1, dtype=np.float64)


def features_and_gradients(positions):
    """Features (n_atoms, n_features) and their gradients (n_atoms, n_atoms, 3, n_features):
    ``gradients[i, k, α, n] = ∂ f_n(i) / ∂ r_k^α``."""
    vectors = positions[None, :, :] - positions[:, None, :]  # r_j - r_i, (i, j, 3)
    distances2 = np.sum(vectors**2, axis=-1)
    weights = np.exp(-distances2[..., None] / (2 * widths**2))  # (i, j, n)
    np.einsum("iin->in", weights)[...] = 0.0  # no self-interaction
    features = weights.sum(axis=1)
    # ∂w_ij/∂r_j = -w_ij (r_j - r_i)/σ², and the opposite for r_i
    d_weights = -weights[:, :, None, :] * vectors[..., None] / widths**2  # (i, j, 3, n)
    n_atoms = len(positions)
    gradients = np.zeros((n_atoms, n_atoms, 3, n_features))
    gradients += d_weights  # derivative with respect to r_j (k = j)
    diagonal = np.arange(n_atoms)
    gradients[diagonal, diagonal] -= d_weights.sum(axis=1)  # with respect to r_i (k = i)
    return features, gradients


# %%
# Building blocks with gradients
# ------------------------------
#
# We make one block per atomic type (the key ``center_type``). Samples are
# ``(system, atom)`` pairs. The position-gradient block has one row per (sample, atom moved)
# pair: its samples are ``sample`` (the row of the parent block), ``system`` and ``atom``;
# its components start with the Cartesian direction ``xyz``.

per_type = {}
for system_index, system in enumerate(systems):
    features, gradients = features_and_gradients(system["positions"])
    for atom, atomic_type in enumerate(system["types"]):
        per_type.setdefault(int(atomic_type), []).append(
            (system_index, atom, features[atom], gradients[atom])
        )

keys = []
blocks = []
xyz = Labels.range("xyz", 3)
properties = Labels.range("n", n_features)
for atomic_type, rows in sorted(per_type.items()):
    block = TensorBlock(
        values=np.stack([row[2] for row in rows]),
        samples=Labels(["system", "atom"], [[row[0], row[1]] for row in rows]),
        components=[],
        properties=properties,
    )
    gradient_samples = []
    gradient_values = []
    for sample, (system_index, _, _, gradient) in enumerate(rows):
        for moved_atom in range(gradient.shape[0]):
            gradient_samples.append([sample, system_index, moved_atom])
            gradient_values.append(gradient[moved_atom])
    block.add_gradient(
        "positions",
        TensorBlock(
            values=np.stack(gradient_values),
            samples=Labels(["sample", "system", "atom"], gradient_samples),
            components=[xyz],
            properties=properties,
        ),
    )
    keys.append([atomic_type])
    blocks.append(block)

tensor = TensorMap(Labels(["center_type"], keys), blocks)
print(tensor)

# %%
# Accessing blocks
# ----------------
#
# Blocks are found by key, with keyword arguments, a dict or Labels:

hydrogen = tensor.block(center_type=1)
print("hydrogen samples:\n", hydrogen.samples.values)
print("gradient of the hydrogen block:", hydrogen.gradient("positions").shape)
print("sample names:", tensor.sample_names, "property names:", tensor.property_names)

# %%
# The explicit gradients agree with finite differences. We move the oxygen (atom 0) of the
# water molecule along ``y`` and look at the first hydrogen of water (sample ``(0, 1)``):

step = 1e-6
displaced = water["positions"].copy()
displaced[0, 1] += step
plus, _ = features_and_gradients(displaced)
displaced[0, 1] -= 2 * step
minus, _ = features_and_gradients(displaced)
finite_difference = (plus[1] - minus[1]) / (2 * step)

gradient = hydrogen.gradient("positions")
row = gradient.samples.position((hydrogen.samples.position((0, 1)), 0, 0))
print("explicit:          ", gradient.values[row, 1])
print("finite difference: ", finite_difference)
assert np.allclose(gradient.values[row, 1], finite_difference, atol=1e-8)

# %%
# Selecting data
# --------------
#
# Operations in :mod:`blocktensor.operations` are pure functions on maps. Here we keep only
# the atoms of the methane molecule; gradient blocks are sliced consistently.

methane_only = blocktensor.slice(
    tensor, axis="samples", selection=Labels(["system"], [[1]])
)
print(methane_only)

# %%
# Moving keys into properties
# ---------------------------
#
# Models usually want one block holding every atom. ``keys_to_samples`` merges the blocks by
# moving ``center_type`` into the samples (one row per atom, ``center_type`` as a new sample
# dimension):

merged = tensor.keys_to_samples("center_type")
print(merged.block().samples.names, merged.block().values.shape)

# %%
# ``keys_to_properties`` moves it into the properties instead: every atom gets one group of
# ``n`` features per type, filled with zeros for the types it does not have. A linear model
# on these features learns separate weights per atomic type.

one_hot = tensor.keys_to_properties("center_type")
block = one_hot.block()
print(block.properties.names, block.values.shape)
print(block.properties.values[:: n_features])

# %%
# Saving and loading
# ------------------
#
# Maps are saved in the metatensor archive format (a zip of ``.npy`` files), gradients
# included. The files can be read by ``metatensor.load`` and vice versa.

with tempfile.TemporaryDirectory() as directory:
    path = os.path.join(directory, "features.mts")
    blocktensor.save(path, tensor)
    loaded = blocktensor.load(path)
    print(f"{os.path.getsize(path)} bytes;", "same data:", blocktensor.equal(tensor, loaded))

    # with ``arrays="torch"`` the values are torch tensors, ready for autograd or a GPU
    loaded_torch = blocktensor.load(path, arrays="torch")
    print(type(loaded_torch.block(center_type=8).values), loaded_torch.dtype)
