import ase
import numpy as np
import pytest

from blocktensor.o3 import (
    euler_from_rotation,
    random_rotation,
    rotate_atoms,
    rotation_from_euler,
)


def test_random_rotations_are_rotations():
    rotations = random_rotation(seed=0, n=500)
    assert rotations.shape == (500, 3, 3) and rotations.dtype == np.float64
    np.testing.assert_allclose(
        rotations @ rotations.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (500, 3, 3)),
        atol=1e-14,
    )
    np.testing.assert_allclose(np.linalg.det(rotations), 1.0, atol=1e-14)
    improper = random_rotation(seed=0, n=3, improper=True)
    np.testing.assert_allclose(np.linalg.det(improper), -1.0, atol=1e-14)
    np.testing.assert_allclose(improper, -rotations[:3])


def test_random_rotation_seeding():
    np.testing.assert_array_equal(random_rotation(seed=5), random_rotation(seed=5))
    assert not np.allclose(random_rotation(seed=5), random_rotation(seed=6))
    generator = np.random.default_rng(1)
    first, second = random_rotation(generator), random_rotation(generator)
    assert not np.allclose(first, second)
    assert random_rotation().shape == (3, 3)
    with pytest.raises(TypeError, match="seed"):
        random_rotation(seed="zero")
    with pytest.raises(ValueError, match="`n`"):
        random_rotation(n=-1)


def test_random_rotations_are_uniform():
    # Haar measure: E[R] = 0 and E[R_ij²] = 1/3; the rotated z axis is uniform on the
    # sphere, so its z component is uniform in [-1, 1]
    rotations = random_rotation(seed=2, n=20000)
    assert np.abs(rotations.mean(axis=0)).max() < 0.02
    assert np.abs((rotations**2).mean(axis=0) - 1 / 3).max() < 0.02
    z = rotations[:, 2, 2]
    histogram, _ = np.histogram(z, bins=10, range=(-1, 1))
    assert np.abs(histogram / len(z) - 0.1).max() < 0.01
    # rotation angle θ has density (1 - cos θ)/π
    angles = np.arccos(np.clip((np.trace(rotations, axis1=1, axis2=2) - 1) / 2, -1, 1))
    assert abs(np.mean(angles) - (np.pi / 2 + 2 / np.pi)) < 0.02


def test_euler_round_trip():
    rotations = random_rotation(seed=3, n=200)
    alpha, beta, gamma = euler_from_rotation(rotations)
    assert np.all((beta >= 0) & (beta <= np.pi))
    np.testing.assert_allclose(rotation_from_euler(alpha, beta, gamma), rotations, atol=1e-13)
    for beta_value in (0.0, np.pi):
        rotation = rotation_from_euler(0.4, beta_value, 1.1)
        np.testing.assert_allclose(
            rotation_from_euler(*euler_from_rotation(rotation)), rotation, atol=1e-14
        )


def test_euler_is_zyz():
    def rz(angle):
        c, s = np.cos(angle), np.sin(angle)
        return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])

    def ry(angle):
        c, s = np.cos(angle), np.sin(angle)
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])

    np.testing.assert_allclose(
        rotation_from_euler(0.3, 1.2, -0.7), rz(0.3) @ ry(1.2) @ rz(-0.7), atol=1e-15
    )
    with pytest.raises(ValueError, match="proper"):
        euler_from_rotation(-np.eye(3))


def test_rotate_atoms():
    atoms = ase.Atoms(
        "H2O",
        positions=[[0.0, 0.0, 0.0], [0.9, 0.3, 0.1], [-0.2, 1.0, 0.4]],
        cell=[[3.0, 0.0, 0.0], [0.5, 4.0, 0.0], [0.2, 0.3, 5.0]],
        pbc=True,
    )
    atoms.set_momenta(np.arange(9.0).reshape(3, 3))
    original = atoms.copy()
    rotation = random_rotation(seed=4)
    rotated = rotate_atoms(atoms, rotation)
    np.testing.assert_array_equal(atoms.positions, original.positions)
    np.testing.assert_allclose(rotated.positions, original.positions @ rotation.T)
    np.testing.assert_allclose(np.asarray(rotated.cell), np.asarray(original.cell) @ rotation.T)
    np.testing.assert_allclose(rotated.get_scaled_positions(), original.get_scaled_positions())
    np.testing.assert_allclose(rotated.get_all_distances(mic=True), original.get_all_distances(mic=True))
    np.testing.assert_allclose(rotated.get_momenta(), original.get_momenta() @ rotation.T)
    assert list(rotated.numbers) == list(original.numbers)
    with pytest.raises(ValueError, match="orthogonal"):
        rotate_atoms(atoms, 2 * np.eye(3))
    with pytest.raises(TypeError, match="ase.Atoms"):
        rotate_atoms(atoms.positions, rotation)
