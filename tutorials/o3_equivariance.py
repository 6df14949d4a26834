"""
Spherical harmonics, Wigner D matrices and equivariant blocks
=============================================================

Equivariant features and targets are stored in blocks whose key carries ``o3_lambda``
(:math:`\\lambda`) and ``o3_sigma`` (:math:`\\sigma`) and whose component axis ``o3_mu``
runs over :math:`\\mu = -\\lambda, \\dots, \\lambda`. Under a rotation :math:`R` of the
input structure such a block transforms with the real Wigner matrix :math:`D_\\lambda(R)`.

This tutorial shows the conventions of :mod:`blocktensor.o3` at work:

1. real spherical harmonics and their :math:`(y, z, x)` order for :math:`l = 1`;
2. Wigner D matrices, :math:`Y_l(R r) = D_l(R) Y_l(r)`;
3. rotating a :math:`\\lambda = 1` block;
4. turning a Cartesian dipole (and a quadrupole) into spherical blocks;
5. coupling two vectors with Clebsch–Gordan coefficients, and the parity ``o3_sigma``.
"""

# %%
import ase.build
import matplotlib.pyplot as plt
import numpy as np

from blocktensor import Labels, TensorBlock, TensorMap
from blocktensor.o3 import (
    ClebschGordanProduct,
    cartesian_to_spherical,
    lm_slice,
    random_rotation,
    rotate_atoms,
    rotate_block,
    rotation_from_euler,
    spherical_harmonics,
    wigner_d_matrices,
)

# %%
# Real spherical harmonics
# ------------------------
#
# :func:`~blocktensor.o3.spherical_harmonics` evaluates all :math:`Y_l^m` up to
# ``max_angular`` in one packed array, column :math:`l^2 + l + m`. They are orthonormal
# and, for :math:`l = 1`, equal :math:`\sqrt{3/4\pi}\,(y, z, x)/r` (no Condon–Shortley
# phase), the convention of featomic and sphericart.

rng = np.random.default_rng(0)
points = rng.normal(size=(5, 3))
harmonics = spherical_harmonics(points, max_angular=3)
print("shape:", harmonics.shape)

unit = points / np.linalg.norm(points, axis=1, keepdims=True)
expected_l1 = np.sqrt(3 / (4 * np.pi)) * unit[:, [1, 2, 0]]
print("l = 1 is sqrt(3/4π) (y, z, x):", np.allclose(harmonics[:, lm_slice(1)], expected_l1))

# %%
# Orthonormality, checked with a quadrature on a (θ, φ) grid (Gauss–Legendre in
# :math:`\cos\theta`, uniform in :math:`\phi`):

cos_theta, weights_theta = np.polynomial.legendre.leggauss(16)
phi = np.linspace(0, 2 * np.pi, 32, endpoint=False)
cos_grid, phi_grid = np.meshgrid(cos_theta, phi, indexing="ij")
sin_grid = np.sqrt(1 - cos_grid**2)
sphere = np.stack(
    [sin_grid * np.cos(phi_grid), sin_grid * np.sin(phi_grid), cos_grid], axis=-1
).reshape(-1, 3)
weights = (weights_theta[:, None] * np.full(phi.shape, 2 * np.pi / len(phi))).reshape(-1)
on_sphere = spherical_harmonics(sphere, max_angular=3)
overlap = on_sphere.T @ (weights[:, None] * on_sphere)
print("max |<Y|Y> - 1| =", np.abs(overlap - np.eye(16)).max())

# %%
# The functions of degree :math:`l = 2` on the sphere, as maps of :math:`(\phi, \theta)`:

theta = np.linspace(0, np.pi, 60)
phi = np.linspace(-np.pi, np.pi, 120)
theta_grid, phi_grid = np.meshgrid(theta, phi, indexing="ij")
directions = np.stack(
    [np.sin(theta_grid) * np.cos(phi_grid), np.sin(theta_grid) * np.sin(phi_grid),
     np.cos(theta_grid)],
    axis=-1,
)
y2 = spherical_harmonics(directions.reshape(-1, 3), max_angular=2)[:, lm_slice(2)]

fig, axes = plt.subplots(1, 5, figsize=(12, 2.8), sharey=True, layout="constrained")
limit = np.abs(y2).max()
for m, ax in zip(range(-2, 3), axes):
    image = ax.imshow(
        y2[:, m + 2].reshape(theta_grid.shape), extent=(-180, 180, 180, 0),
        cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto",
    )
    ax.set_title(f"$Y_2^{{{m}}}$")
    ax.set_xlabel("φ (degrees)")
axes[0].set_ylabel("θ (degrees)")
fig.colorbar(image, ax=axes, shrink=0.9)
plt.show()

# %%
# Wigner D matrices
# -----------------
#
# :func:`~blocktensor.o3.wigner_d_matrices` gives, for a rotation matrix :math:`R`, one real
# matrix per degree such that :math:`Y_l(R r) = D_l(R) Y_l(r)`. Rotations can be built from
# ZYZ Euler angles, :math:`R = R_z(\alpha) R_y(\beta) R_z(\gamma)`, or drawn uniformly.

rotation = rotation_from_euler(0.3, 1.1, -0.7)
wigner = wigner_d_matrices(rotation, max_angular=3)
rotated = spherical_harmonics(points @ rotation.T, max_angular=3)
for l, d_matrix in enumerate(wigner):
    error = np.abs(rotated[:, lm_slice(l)] - harmonics[:, lm_slice(l)] @ d_matrix.T).max()
    print(f"l = {l}: D is {d_matrix.shape}, orthogonal: "
          f"{np.allclose(d_matrix @ d_matrix.T, np.eye(2 * l + 1))}, max error {error:.1e}")

# %%
# For :math:`l = 1` the Wigner matrix is the rotation matrix itself, with rows and columns
# in the :math:`(y, z, x)` order:

yzx = [1, 2, 0]
print(np.allclose(wigner[1], rotation[np.ix_(yzx, yzx)]))

# %%
# Rotating a λ = 1 block
# ----------------------
#
# A block of :math:`\lambda = 1` features: for every atom of a molecule, the sum of the
# :math:`l = 1` harmonics of the vectors to its neighbours (a crude "bond dipole"). Samples
# are atoms, the component is ``o3_mu``, one property.



def mu_labels(o3_lambda):
    """The ``o3_mu`` component of degree ``o3_lambda``: μ from -λ to λ."""
    return Labels(["o3_mu"], np.arange(-o3_lambda, o3_lambda + 1).reshape(-1, 1))


def bond_vectors_block(atoms):
    positions = atoms.positions
    vectors = positions[None, :, :] - positions[:, None, :]
    # the self-pair has no direction: give it a dummy one, masked below
    vectors[np.arange(len(atoms)), np.arange(len(atoms))] = 1.0
    y1 = spherical_harmonics(vectors.reshape(-1, 3), max_angular=1)[:, lm_slice(1)]
    y1 = y1.reshape(len(atoms), len(atoms), 3)
    y1[np.arange(len(atoms)), np.arange(len(atoms))] = 0.0
    return TensorBlock(
        values=y1.sum(axis=1)[:, :, None],
        samples=Labels.range("atom", len(atoms)),
        components=[mu_labels(1)],
        properties=Labels.range("n", 1),
    )


molecule = ase.build.molecule("CH3OH")
block = bond_vectors_block(molecule)

rotation = random_rotation(seed=42)
rotated_block = bond_vectors_block(rotate_atoms(molecule, rotation))

# rotating the features directly: c -> D_1(R) c along o3_mu
d1 = wigner_d_matrices(rotation, max_angular=1)[1]
rotated_features = np.einsum("mn,anp->amp", d1, block.values)
print("features of the rotated molecule = D(R) features:",
      np.allclose(rotated_block.values, rotated_features, atol=1e-12))

# %%
# :func:`~blocktensor.o3.rotate_block` does the same for any block with an ``o3_mu``
# component (and its gradient blocks); :func:`~blocktensor.o3.rotate_tensor_map` does it for
# a whole map, reading :math:`\lambda` and :math:`\sigma` from the keys.

print(np.allclose(rotate_block(block, rotation, o3_lambda=1).values, rotated_block.values,
                  atol=1e-12))

# %%
# A Cartesian dipole as a spherical tensor
# ----------------------------------------
#
# A dipole moment :math:`d = \sum_i q_i r_i` is a vector, i.e. a :math:`\lambda = 1`,
# :math:`\sigma = +1` tensor. We store the dipoles of a few rotated water molecules (with
# toy partial charges) as a map with an ``xyz`` component, and convert it with
# :func:`~blocktensor.o3.cartesian_to_spherical`.

charges = {8: -0.8, 1: 0.4}
water = ase.build.molecule("H2O")
rotations = random_rotation(seed=7, n=4)
frames = [rotate_atoms(water, r) for r in rotations]


def dipole(atoms):
    q = np.array([charges[z] for z in atoms.numbers])
    return q @ atoms.positions


dipoles = np.stack([dipole(frame) for frame in frames])
cartesian = TensorMap(
    Labels.single(),
    [TensorBlock(dipoles[:, :, None], Labels.range("system", len(frames)),
                 [Labels.range("xyz", 3)], Labels(["dipole"], [[0]]))],
)
spherical = cartesian_to_spherical(cartesian, components=["xyz"])
print(spherical)
block = spherical.block(o3_lambda=1, o3_sigma=1)
print("component:", block.components[0].names, block.components[0].values[:, 0])
print("(d_y, d_z, d_x) order:", np.allclose(block.values[:, :, 0], dipoles[:, [1, 2, 0]]))

# %%
# The spherical dipole of each rotated frame is the Wigner matrix of its rotation applied to
# the dipole of the reference molecule:

reference = cartesian_to_spherical(dipole(water), rank=1)[(1, 1)]
for frame_index, r in enumerate(rotations):
    d1 = wigner_d_matrices(r, max_angular=1)[1]
    assert np.allclose(block.values[frame_index, :, 0], d1 @ reference)
print("all dipoles transform as D_1(R) d")

# %%
# Rank-2 tensors split into irreducible parts: the quadrupole-like tensor
# :math:`Q = \sum_i q_i r_i r_i^T` is symmetric, so it has a :math:`\lambda = 0` part (its
# trace) and a :math:`\lambda = 2` part (its traceless part), and no
# :math:`\lambda = 1, \sigma = -1` antisymmetric part.

quadrupoles = np.stack([
    np.einsum("i,ia,ib->ab", np.array([charges[z] for z in f.numbers]), f.positions,
              f.positions)
    for f in frames
])
cartesian_2 = TensorMap(
    Labels.single(),
    [TensorBlock(quadrupoles[:, :, :, None], Labels.range("system", len(frames)),
                 [Labels.range("xyz_1", 3), Labels.range("xyz_2", 3)],
                 Labels(["quadrupole"], [[0]]))],
)
parts = cartesian_to_spherical(cartesian_2, components=["xyz_1", "xyz_2"])
print(parts.keys.names, parts.keys.values.tolist())

# the λ = 0 part is rotation invariant: the same for every frame
invariant = parts.block(o3_lambda=0).values[:, 0, 0]
print("λ = 0 part of each frame:", invariant.round(10))
print("∝ trace:", np.allclose(invariant, -np.trace(quadrupoles, axis1=1, axis2=2) / np.sqrt(3)))

# %%
# Clebsch–Gordan products and parity
# ----------------------------------
#
# :class:`~blocktensor.o3.ClebschGordanProduct` couples every pair of blocks of two maps,
# :math:`\lambda_1 \otimes \lambda_2 \to |\lambda_1 - \lambda_2|, \dots, \lambda_1 +
# \lambda_2`. For two vectors :math:`u` and :math:`v` (both :math:`\lambda = 1`,
# :math:`\sigma = +1`), the three parts are their dot product (:math:`\lambda = 0`), their
# cross product (:math:`\lambda = 1`) and a symmetric traceless tensor
# (:math:`\lambda = 2`). The cross product is a *pseudovector*: it does not change sign under
# inversion, which ``o3_sigma`` :math:`= \sigma_1 \sigma_2 (-1)^{\lambda_1 + \lambda_2 +
# \lambda} = -1` records.


def vectors_map(vectors, property_name):
    """Vectors (n, 3) as a λ = 1 map, components in the (y, z, x) order of o3_mu."""
    block = TensorBlock(
        vectors[:, [1, 2, 0], None], Labels.range("system", len(vectors)), [mu_labels(1)],
        Labels([property_name], [[0]]),
    )
    return TensorMap(Labels(["o3_lambda", "o3_sigma"], [[1, 1]]), [block])


u = rng.normal(size=(6, 3))
v = rng.normal(size=(6, 3))
coupled = ClebschGordanProduct(max_angular=2).compute(
    vectors_map(u, "u"), vectors_map(v, "v"), "l_1", "l_2"
)
print(coupled)

dot = coupled.block(o3_lambda=0).values[:, 0, 0]
cross = coupled.block(o3_lambda=1).values[:, :, 0]
print("λ=0 part = -(u·v)/√3:", np.allclose(dot, -np.sum(u * v, axis=1) / np.sqrt(3)))
print("λ=1 part = -(u×v)/√2:", np.allclose(cross, -np.cross(u, v)[:, [1, 2, 0]] / np.sqrt(2)))
