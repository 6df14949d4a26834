"""
Operations: join, slice, reduce — with gradients
================================================

Operations in :mod:`blocktensor.operations` are pure functions on
:class:`~blocktensor.TensorMap` objects. They work on numpy arrays and on torch tensors, and
they carry *explicit* gradient blocks along with the chain rule, so derived quantities keep
exact derivatives without autograd.

We use a toy per-atom pair energy for a few small molecules,

.. math:: e_i = \\frac{1}{2} \\sum_{j \\neq i} \\varepsilon_n \\, e^{-r_{ij} / a_n},

with a few parameter sets ``n`` as properties, store it as a map with position gradients, and
reduce it to per-structure energies and forces. Values are torch tensors, so at every step we
can compare the explicit gradients with torch autograd.
"""

# %%
import ase.build
import numpy as np
import torch

import blocktensor
from blocktensor import Labels, TensorBlock, TensorMap

torch.set_default_dtype(torch.float64)

# %%
# A per-atom map with position gradients
# --------------------------------------
#
# One block per atomic type (key ``center_type``), samples ``(system, atom)``, properties
# ``n``. The gradient with respect to the positions is dense here (every atom moves every
# energy) and computed analytically, vectorised over atoms.

scales = torch.tensor([0.5, 1.0, 2.0])
depths = torch.tensor([1.0, 0.5, 0.25])


def atomic_energies(positions):
    """(n_atoms, n) energies and (n_atoms, n_atoms, 3, n) gradients ∂e_i/∂r_k."""
    vectors = positions[None, :, :] - positions[:, None, :]  # r_j - r_i
    n_atoms = positions.shape[0]
    distances = torch.linalg.norm(vectors + torch.eye(n_atoms)[..., None], dim=-1)
    pair = 0.5 * depths * torch.exp(-distances[..., None] / scales)  # (i, j, n)
    pair = pair * (1.0 - torch.eye(n_atoms))[..., None]
    energies = pair.sum(dim=1)
    # ∂pair_ij/∂r_j = -pair_ij / a_n · (r_j - r_i) / r_ij, and the opposite for r_i
    d_pair = -(pair / scales)[:, :, None, :] * (vectors / distances[..., None])[..., None]
    gradients = d_pair.clone()
    gradients[torch.arange(n_atoms), torch.arange(n_atoms)] -= d_pair.sum(dim=1)
    return energies, gradients


def energies_map(frames):
    values, samples, gradients, gradient_samples, types = [], [], [], [], []
    for system, frame in enumerate(frames):
        positions = torch.tensor(frame.positions)
        energies, gradient = atomic_energies(positions)
        n_atoms = len(frame)
        atoms = np.arange(n_atoms)
        values.append(energies)
        samples.append(np.stack([np.full(n_atoms, system), atoms], axis=1))
        types.append(frame.numbers)
        gradients.append(gradient.reshape(n_atoms * n_atoms, 3, -1))
        # row (i, k): derivative of atom i's energy with respect to atom k
        gradient_samples.append(
            np.stack(
                [np.repeat(atoms, n_atoms), np.full(n_atoms**2, system), np.tile(atoms, n_atoms)],
                axis=1,
            )
        )
    values = torch.cat(values)
    samples = np.concatenate(samples)
    types = np.concatenate(types)
    gradients = torch.cat(gradients)
    gradient_samples = np.concatenate(gradient_samples)
    # the "sample" column so far counts atoms within each system: make it the global row
    sizes = [len(frame) for frame in frames]
    offsets = np.repeat(np.cumsum([0] + sizes)[:-1], [size**2 for size in sizes])
    gradient_samples[:, 0] += offsets

    properties = Labels.range("n", len(scales))
    keys, blocks = [], []
    for atomic_type in np.unique(types):
        rows = np.nonzero(types == atomic_type)[0]
        block = TensorBlock(
            values[rows], Labels(["system", "atom"], samples[rows]), [], properties
        )
        # gradient rows of the selected samples, renumbered to rows of this block
        new_row = np.full(len(types), -1)
        new_row[rows] = np.arange(len(rows))
        keep = np.nonzero(new_row[gradient_samples[:, 0]] >= 0)[0]
        kept_samples = gradient_samples[keep].copy()
        kept_samples[:, 0] = new_row[kept_samples[:, 0]]
        block.add_gradient(
            "positions",
            TensorBlock(
                gradients[keep],
                Labels(["sample", "system", "atom"], kept_samples),
                [Labels.range("xyz", 3)],
                properties,
            ),
        )
        keys.append([int(atomic_type)])
        blocks.append(block)
    return TensorMap(Labels(["center_type"], keys), blocks)


molecules = [ase.build.molecule(name) for name in ["H2O", "NH3", "CH4"]]
energies = energies_map(molecules)
print(energies)

# %%
# Reductions: per-structure energies and forces
# ---------------------------------------------
#
# ``sum_over_samples(tensor, "atom")`` adds the rows that share the remaining sample
# dimensions — here, all atoms of one system. Gradient rows are summed the same way, so the
# result holds the derivative of each structure's energy with respect to every atom
# position: minus the forces.

per_structure = blocktensor.sum_over_samples(energies, "atom")
print(per_structure.block(center_type=1).samples.names, per_structure.block(center_type=1).values)

# %%
# Merging the type blocks first (``keys_to_samples``) gives the total energy of each structure.

total = blocktensor.sum_over_samples(
    energies.keys_to_samples("center_type"), ["atom", "center_type"]
)
block = total.block()
print("total energies:\n", block.values)
forces = -block.gradient("positions").values
print("forces on the atoms of H2O (parameter set n=1):\n", forces[:3, :, 1])

# %%
# Check against autograd: the total energy of H2O as a function of its positions.

positions = torch.tensor(molecules[0].positions, requires_grad=True)
reference_energy = atomic_energies(positions)[0].sum(dim=0)[1]
(reference_gradient,) = torch.autograd.grad(reference_energy, positions)
gradient = block.gradient("positions")
water_rows = gradient.samples.select(Labels(["sample"], [[0]]))
order = np.argsort(gradient.samples["atom"][water_rows])
explicit = gradient.values[water_rows][order, :, 1]
print("max |explicit - autograd| =", float((explicit - reference_gradient).abs().max()))
assert torch.allclose(explicit, reference_gradient, atol=1e-12)

# %%
# Means and standard deviations over samples work the same way, with exact gradients
# (the mean divides by the number of rows of each group, the standard deviation uses
# :math:`\nabla\sigma = \sum_i (x_i - \bar x) \nabla x_i / (N \sigma)`):

mean_per_type = blocktensor.mean_over_samples(energies, ["system", "atom"])
std_per_type = blocktensor.std_over_samples(energies, ["system", "atom"])
for key, mean_block in mean_per_type.items():
    std_block = std_per_type.block(key)
    print(f"center_type={key['center_type']}:", "mean", mean_block.values[0, :].numpy().round(4),
          "std", std_block.values[0, :].numpy().round(4))

# %%
# Arithmetic
# ----------
#
# Element-wise operations apply the chain rule to the gradient blocks. The squared energies
# have gradients :math:`2 e \nabla e`:

squared = blocktensor.multiply(energies, energies)
hydrogen = energies.block(center_type=1)
hydrogen_squared = squared.block(center_type=1)
sample_rows = torch.as_tensor(hydrogen.gradient("positions").samples["sample"].astype(np.int64))
expected = 2 * hydrogen.values[sample_rows][:, None, :] * hydrogen.gradient("positions").values
assert torch.allclose(hydrogen_squared.gradient("positions").values, expected)
n_rows = hydrogen_squared.gradient("positions").values.shape[0]
print(f"∇(e²) = 2 e ∇e holds for all {n_rows} gradient rows")

# %%
# Slicing and joining
# -------------------
#
# ``slice`` keeps the samples (or properties) matching a selection. Here: only the second
# parameter set, and only the first structure.

n1 = blocktensor.slice(energies, axis="properties", selection=Labels(["n"], [[1]]))
water_only = blocktensor.slice(n1, axis="samples", selection=Labels(["system"], [[0]]))
print(water_only)

# %%
# ``join`` stacks maps along the samples or the properties. To join two *datasets* whose
# ``system`` indices overlap, ``add_dimension`` adds a sample dimension telling them apart.
# The gradient rows follow their samples.

stretched = []
for molecule in molecules:
    molecule = molecule.copy()
    molecule.positions *= 1.1
    stretched.append(molecule)

joined = blocktensor.join(
    [energies, energies_map(stretched)], axis="samples", add_dimension="dataset"
)
print(joined.sample_names)
print(joined)

# %%
# The joined data reduce like any other map — per dataset and structure:

per_dataset = blocktensor.sum_over_samples(
    joined.keys_to_samples("center_type"), ["atom", "center_type"]
)
print(per_dataset.block().samples.names, per_dataset.block().samples.values.tolist())
print(per_dataset.block().values[:, 1])

# %%
# Autograd flows through every operation as well: the values of the reduced map can be
# differentiated with respect to torch parameters.

energies_with_grad = blocktensor.requires_grad(energies)
result = blocktensor.sum_over_samples(energies_with_grad, ["system", "atom"])
loss = sum(block.values.sum() for block in result.blocks())
loss.backward()
print("gradient of the loss w.r.t. the hydrogen energies:",
      energies_with_grad.block(center_type=1).values.grad[0])
