"""
SOAP: spherical expansion and power spectrum
============================================

The *smooth overlap of atomic positions* (SOAP) describes the environment of every atom by
the density of its neighbours, expanded on radial functions and spherical harmonics
(the **spherical expansion**), and turns it into rotation-invariant features by contracting
pairs of coefficients over :math:`m` (the **power spectrum**).

This tutorial computes both for a few molecules with
:class:`calculators.spherical_expansion.SphericalExpansion` and
:class:`calculators.power_spectrum.SoapPowerSpectrum`, checks the symmetries and gradients,
builds per-structure descriptors and a similarity kernel, and follows the features along the
stretching of a bond. The hyper-parameters use featomic's names, so a featomic
hyper-parameter dictionary works unchanged and the results agree with featomic's.
"""

# %%
import os
import tempfile

import ase.build
import matplotlib.pyplot as plt
import numpy as np
import torch

import blocktensor
from blocktensor import Labels
from blocktensor.o3 import random_rotation, rotate_atoms, wigner_d_matrices
from calculators.power_spectrum import SoapPowerSpectrum
from calculators.spherical_expansion import SphericalExpansion

torch.set_num_threads(2)

# %%
# Hyper-parameters
# ----------------
#
# A cutoff radius with a smooth switching function, Gaussian atomic densities, and a basis
# of GTO radial functions times spherical harmonics. ``max_radial`` and ``max_angular`` are
# inclusive: 6 radial functions (``n = 0..5``) and ``l = 0..4``.

hypers = {
    "cutoff": {"radius": 4.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
    "density": {"type": "Gaussian", "width": 0.3},
    "basis": {
        "type": "TensorProduct",
        "max_angular": 4,
        "radial": {"type": "Gto", "max_radial": 5},
    },
}

# %%
# The same hyper-parameters as typed objects (featomic 0.6's class names and fields, from
# :mod:`calculators.hypers`) give the same calculators:

from calculators.hypers import Cutoff, Gaussian, Gto, ShiftedCosine, TensorProduct  # noqa: E402

typed_hypers = {
    "cutoff": Cutoff(radius=4.0, smoothing=ShiftedCosine(width=0.5)),
    "density": Gaussian(width=0.3),
    "basis": TensorProduct(max_angular=4, radial=Gto(max_radial=5)),
}
print(SphericalExpansion(**typed_hypers).hypers["basis"])

# %%
names = ["H2O", "CH4", "NH3", "CH3OH", "C2H6", "CH3CH2OH", "HCOOH", "C6H6"]
molecules = [ase.build.molecule(name) for name in names]

# %%
# Spherical expansion
# -------------------
#
# One block per ``(o3_lambda, o3_sigma, center_type, neighbor_type)``; samples are the
# ``(system, atom)`` centres, the component ``o3_mu`` runs over the ``2λ + 1`` values of
# :math:`m`, and properties are the radial index ``n``.

expansion_calculator = SphericalExpansion(**hypers)
expansion = expansion_calculator.compute(molecules, gradients=["positions"])
print(expansion.keys.names, len(expansion.keys), "blocks")

block = expansion.block(o3_lambda=1, center_type=8, neighbor_type=1)
print("samples", block.samples.names, "components", block.components[0].names,
      "properties", block.properties.names)
print("values", tuple(block.values.shape),
      "position gradients", tuple(block.gradient("positions").values.shape))

# %%
# The coefficients of degree λ are covariant: rotating the molecule multiplies them by the
# Wigner matrix :math:`D_\lambda(R)` along ``o3_mu``.

rotation = random_rotation(seed=3)
rotated_expansion = expansion_calculator.compute(
    [rotate_atoms(molecule, rotation) for molecule in molecules]
)
d1 = torch.tensor(wigner_d_matrices(rotation, max_angular=1)[1])
rotated_block = rotated_expansion.block(o3_lambda=1, center_type=8, neighbor_type=1)
print("c(R r) = D(R) c(r):",
      torch.allclose(rotated_block.values, torch.einsum("mk,skn->smn", d1, block.values),
                     atol=1e-10))

# %%
# Power spectrum
# --------------
#
# The power spectrum combines the expansions of neighbour types ``neighbor_1_type ≤
# neighbor_2_type`` for every centre type:
#
# .. math::
#
#     p^{ab}_{l n_1 n_2}(i) = \frac{(-1)^l}{\sqrt{2l + 1}}
#         \sum_m c^a_{n_1 l m}(i) \, c^b_{n_2 l m}(i)
#
# (times :math:`\sqrt 2` when :math:`a \ne b`). Properties are ``(l, n_1, n_2)``.

calculator = SoapPowerSpectrum(**hypers)
spectrum = calculator.compute(molecules, gradients=["positions"])
print(spectrum.keys.names)
print(spectrum.block(center_type=6, neighbor_1_type=1, neighbor_2_type=6))

# %%
# It is invariant: the rotated molecules have the same features.

rotated_spectrum = calculator.compute([rotate_atoms(m, rotation) for m in molecules])
print("invariant under rotation:",
      blocktensor.allclose(blocktensor.remove_gradients(spectrum), rotated_spectrum,
                           rtol=1e-8, atol=1e-10))

# %%
# Gradients
# ---------
#
# The ``positions`` gradient blocks hold :math:`\partial p(i) / \partial r_k` for every
# centre ``i`` and every atom ``k`` within its cutoff. They are computed analytically
# alongside the values; here we compare one of them with finite differences.

water = molecules[0]
step = 1e-5
displaced = [water.copy(), water.copy()]
displaced[0].positions[1, 2] += step  # move the first hydrogen along z
displaced[1].positions[1, 2] -= step
plus, minus = (calculator.compute(frame) for frame in displaced)

key = dict(center_type=8, neighbor_1_type=1, neighbor_2_type=1)
finite_difference = (plus.block(**key).values - minus.block(**key).values) / (2 * step)
gradient = spectrum.block(**key).gradient("positions")
# row of the gradient block: sample 0 (the oxygen of system 0), moved atom 1 of system 0
row = gradient.samples.position((0, 0, 1))
error = (gradient.values[row, 2] - finite_difference[0]).abs().max()
print(f"max |explicit - finite difference| = {float(error):.2e}")

# %%
# Per-structure descriptors and a similarity kernel
# -------------------------------------------------
#
# Models of extensive properties sum atomic contributions; to compare *structures* we average
# the atomic features. First all blocks are merged into one (the neighbour types move to the
# properties, the centre type to the samples), then the ``atom`` and ``center_type`` sample
# dimensions are averaged out. Giving the neighbour pairs as Labels makes every centre type
# use the same properties, zero-filled for pairs absent around that type.

pairs = np.unique(spectrum.keys.values[:, 1:], axis=0)
features = spectrum.keys_to_properties(Labels(["neighbor_1_type", "neighbor_2_type"], pairs))
features = features.keys_to_samples("center_type")
per_structure = blocktensor.mean_over_samples(features, ["atom", "center_type"])
descriptors = per_structure.block().values
print("descriptors:", tuple(descriptors.shape), "gradients:",
      tuple(per_structure.block().gradient("positions").values.shape))

normalized = descriptors / torch.linalg.norm(descriptors, dim=1, keepdim=True)
kernel = (normalized @ normalized.T).numpy()

fig, ax = plt.subplots(figsize=(5.5, 4.5))
image = ax.imshow(kernel, cmap="viridis", vmin=kernel.min(), vmax=1)
ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
ax.set_yticks(range(len(names)), names)
ax.set_title("cosine similarity of mean SOAP features")
fig.colorbar(image, ax=ax)
fig.tight_layout()
plt.show()

# %%
# Following a bond stretch
# ------------------------
#
# We stretch one O–H bond of water until the hydrogen leaves the cutoff sphere of the oxygen,
# and follow a few power spectrum components of the oxygen, together with their derivative
# along the stretch, obtained from the explicit gradients by the chain rule:
# :math:`dp/dd = \nabla_{r_H} p \cdot \hat u` with :math:`\hat u` the bond direction.
# The smoothing function brings the features and their derivatives to their one-neighbour
# values continuously between 3.5 Å and the 4 Å cutoff (grey lines).

distances = np.linspace(0.8, 4.4, 73)
bond = water.positions[1] - water.positions[0]
direction = bond / np.linalg.norm(bond)
frames = []
for distance in distances:
    frame = water.copy()
    frame.positions[1] = frame.positions[0] + distance * direction
    frames.append(frame)

stretch = calculator.compute(frames, gradients=["positions"])
oxygen = stretch.block(center_type=8, neighbor_1_type=1, neighbor_2_type=1)
properties = oxygen.properties
chosen = [properties.position((l, 1, 1)) for l in range(3)]

gradient = oxygen.gradient("positions")
samples = gradient.samples.values
# rows differentiating with respect to the stretched hydrogen; beyond the cutoff there are
# none (gradient blocks are sparse) and the derivative is zero
rows = np.nonzero(samples[:, 2] == 1)[0]
derivatives = torch.zeros(len(frames), len(properties), dtype=oxygen.values.dtype)
frame_of_sample = torch.as_tensor(oxygen.samples["system"][samples[rows, 0]].astype(np.int64))
derivatives[frame_of_sample] = torch.einsum(
    "rak,a->rk", gradient.values[rows], torch.tensor(direction)
)

fig, (ax_values, ax_derivatives) = plt.subplots(1, 2, figsize=(10, 3.8))
for l, column in enumerate(chosen):
    values = oxygen.values[:, column].numpy()
    ax_values.plot(distances, values, label=f"l={l}, n1=n2=1")
    ax_derivatives.plot(distances, derivatives[:, column].numpy(), label=f"explicit, l={l}")
    ax_derivatives.plot(distances, np.gradient(values, distances), "k:", lw=1)
ax_values.set_xlabel("O–H distance (Å)")
ax_values.set_ylabel("power spectrum of O")
for ax in (ax_values, ax_derivatives):
    ax.axvline(hypers["cutoff"]["radius"], color="grey", lw=1)
    ax.axvline(hypers["cutoff"]["radius"] - hypers["cutoff"]["smoothing"]["width"],
               color="grey", lw=1, ls="--")
ax_values.legend()
ax_derivatives.set_xlabel("O–H distance (Å)")
ax_derivatives.set_ylabel("d/d(distance)")
ax_derivatives.set_title("dotted: finite differences")
ax_derivatives.legend()
fig.tight_layout()
plt.show()

# %%
# Saving
# ------
#
# The result is an ordinary map: it can be saved (gradients included) and read back by
# blocktensor or by metatensor.

with tempfile.TemporaryDirectory() as directory:
    path = os.path.join(directory, "soap.mts")
    blocktensor.save(path, spectrum)
    loaded = blocktensor.load(path, arrays="torch")
    print(f"{os.path.getsize(path) / 1e6:.1f} MB;", "round trip exact:",
          blocktensor.equal(loaded, spectrum))
