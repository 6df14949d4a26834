import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from blocktensor.o3 import (
    lm_slice,
    random_rotation,
    rotation_from_euler,
    spherical_harmonics,
    wigner_d_from_euler,
    wigner_d_matrices,
    wigner_d_matrix,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("improper", [False, True])
def test_rotates_harmonics(improper):
    max_angular = 10
    rotations = random_rotation(seed=7, n=4, improper=improper)
    wigner = wigner_d_matrices(rotations, max_angular)
    points = np.random.default_rng(0).normal(size=(20, 3))
    values = spherical_harmonics(points, max_angular)
    for rotation_index, rotation in enumerate(rotations):
        rotated = spherical_harmonics(points @ rotation.T, max_angular)
        for l in range(max_angular + 1):  # noqa: E741
            np.testing.assert_allclose(
                rotated[:, lm_slice(l)],
                values[:, lm_slice(l)] @ wigner[l][rotation_index].T,
                atol=1e-12,
            )


@settings(max_examples=30, deadline=None)
@given(
    o3_lambda=st.integers(0, 10),
    seed=st.integers(0, 2**31),
    improper_1=st.booleans(),
    improper_2=st.booleans(),
)
def test_representation_properties(o3_lambda, seed, improper_1, improper_2):
    rng = np.random.default_rng(seed)
    r1 = random_rotation(rng, improper=improper_1)
    r2 = random_rotation(rng, improper=improper_2)
    d1 = wigner_d_matrix(r1, o3_lambda)
    d2 = wigner_d_matrix(r2, o3_lambda)
    identity = np.eye(2 * o3_lambda + 1)
    np.testing.assert_allclose(wigner_d_matrix(r1 @ r2, o3_lambda), d1 @ d2, atol=1e-12)
    np.testing.assert_allclose(d1 @ d1.T, identity, atol=1e-12)
    np.testing.assert_allclose(wigner_d_matrix(r1.T, o3_lambda), d1.T, atol=1e-12)
    np.testing.assert_allclose(wigner_d_matrix(np.eye(3), o3_lambda), identity, atol=1e-13)
    # improper = inversion times proper
    np.testing.assert_allclose(
        wigner_d_matrix(-r1, o3_lambda), (-1) ** o3_lambda * d1, atol=1e-12
    )


def test_euler_angles():
    alpha, beta, gamma = np.array([0.3, -2.0]), np.array([1.1, 2.5]), np.array([2.9, 0.1])
    from_euler = wigner_d_from_euler(alpha, beta, gamma, 3)
    from_matrix = wigner_d_matrices(rotation_from_euler(alpha, beta, gamma), 3)
    for a, b in zip(from_euler, from_matrix):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-14)
    # rotation about z mixes only ±m: D_{m,m'} for Rz(α) has cos/sin(mα) blocks
    d2 = wigner_d_from_euler(0.4, 0.0, 0.0, 2)[2]
    np.testing.assert_allclose(d2[2, 2], 1.0, atol=1e-14)
    np.testing.assert_allclose(d2[4, 4], np.cos(0.8), atol=1e-14)
    np.testing.assert_allclose(abs(d2[4, 0]), np.sin(0.8), atol=1e-14)


def test_batches_and_single():
    rotations = random_rotation(seed=3, n=6).reshape(2, 3, 3, 3)
    wigner = wigner_d_matrices(rotations, 2)
    assert [w.shape for w in wigner] == [(2, 3, 1, 1), (2, 3, 3, 3), (2, 3, 5, 5)]
    single = wigner_d_matrix(rotations[1, 2], 2)
    np.testing.assert_allclose(single, wigner[2][1, 2], atol=1e-15)
    assert wigner_d_matrix(rotations[0, 0].astype(np.float32), 1).dtype == np.float32


@pytest.mark.parametrize("device", DEVICES)
def test_torch(device):
    rotation = torch.tensor(random_rotation(seed=4), device=device)
    wigner = wigner_d_matrices(rotation, 4)
    reference = wigner_d_matrices(rotation.cpu().numpy(), 4)
    for a, b in zip(wigner, reference):
        assert a.device == rotation.device and a.dtype == torch.float64
        np.testing.assert_allclose(a.cpu().numpy(), b, atol=1e-13)
    angles = torch.tensor([0.2, 0.7, -0.4], dtype=torch.float64, requires_grad=True)
    # differentiable w.r.t. the rotation
    matrix = torch.linalg.matrix_exp(
        torch.stack([
            torch.stack([torch.zeros(()), -angles[2], angles[1]]),
            torch.stack([angles[2], torch.zeros(()), -angles[0]]),
            torch.stack([-angles[1], angles[0], torch.zeros(())]),
        ]).double()
    )
    wigner_d_matrix(matrix, 2).sum().backward()
    assert angles.grad is not None and torch.isfinite(angles.grad).all()


def test_errors():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        wigner_d_matrices(np.eye(2), 2)
    with pytest.raises(ValueError, match="max_angular"):
        wigner_d_matrices(np.eye(3), -1)
    with pytest.raises(TypeError, match="float32 or float64"):
        wigner_d_matrices(np.eye(3, dtype=np.int64), 1)
