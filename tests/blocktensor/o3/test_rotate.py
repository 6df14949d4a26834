import numpy as np
import pytest
import torch

from blocktensor import Labels, TensorBlock, TensorMap
from blocktensor.o3 import random_rotation, rotate_atoms
from blocktensor.o3.rotate import check_equivariance, rotate_block, rotate_tensor_map
from blocktensor.operations import allclose_raise

from .density_utils import cluster, density

ROTATIONS = [random_rotation(seed=s) for s in range(3)]


@pytest.mark.parametrize("improper", [False, True])
def test_rotating_a_density_equals_the_density_of_rotated_atoms(improper):
    """Values (o3_mu), position gradients (xyz) and strain gradients (xyz_1, xyz_2) all
    transform as the density of the rotated structure."""
    frames = [cluster(0), cluster(1, "OCH")]
    reference = density(frames)
    for rotation in ROTATIONS:
        rotation = -rotation if improper else rotation
        expected = density([rotate_atoms(atoms, rotation) for atoms in frames])
        allclose_raise(rotate_tensor_map(reference, rotation), expected, rtol=0, atol=1e-12)


def test_pseudotensors_flip_sign_under_inversion():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(2, 3, 1))
    block = TensorBlock(values, Labels.range("s", 2), [Labels.range("o3_mu", 3)],
                        Labels.range("p", 1))
    keys = Labels(["o3_lambda", "o3_sigma"], [[1, 1], [1, -1]])
    tensor = TensorMap(keys, [block, block.copy()])
    inverted = rotate_tensor_map(tensor, -np.eye(3))
    np.testing.assert_allclose(inverted.block(0).values, -values, atol=1e-14)
    np.testing.assert_allclose(inverted.block(1).values, values, atol=1e-14)
    # a proper rotation does not see σ
    rotation = ROTATIONS[0]
    rotated = rotate_tensor_map(tensor, rotation)
    np.testing.assert_allclose(rotated.block(0).values, rotated.block(1).values, atol=1e-14)


def test_composition_and_inverse():
    frames = [cluster(2)]
    tensor = density(frames, gradients=("positions",))
    first, second = ROTATIONS[0], -ROTATIONS[1]
    twice = rotate_tensor_map(rotate_tensor_map(tensor, first), second)
    allclose_raise(twice, rotate_tensor_map(tensor, second @ first), rtol=0, atol=1e-12)
    back = rotate_tensor_map(rotate_tensor_map(tensor, first), first.T)
    allclose_raise(back, tensor, rtol=0, atol=1e-12)


def test_invariants_and_cartesian_values():
    rng = np.random.default_rng(1)
    scalars = TensorBlock(rng.normal(size=(2, 3)), Labels.range("s", 2), [],
                          Labels.range("p", 3))
    vectors = TensorBlock(rng.normal(size=(2, 3, 1)), Labels.range("s", 2),
                          [Labels.range("xyz", 3)], Labels.range("p", 1))
    rotation = -ROTATIONS[2]
    rotated = rotate_tensor_map(TensorMap(Labels.range("k", 1), [scalars]), rotation)
    np.testing.assert_array_equal(rotated.block().values, scalars.values)
    rotated = rotate_tensor_map(TensorMap(Labels.range("k", 1), [vectors]), rotation)
    np.testing.assert_allclose(rotated.block().values[:, :, 0],
                               vectors.values[:, :, 0] @ rotation.T, atol=1e-14)
    block = rotate_block(vectors, rotation)
    np.testing.assert_allclose(block.values, rotated.block().values)


def test_torch_keeps_device_and_autograd(device):
    tensor = density([cluster(0)], arrays="torch", device=device, gradients=())
    leaf = tensor.block(1).values.requires_grad_(True)
    rotated = rotate_tensor_map(tensor, ROTATIONS[0])
    assert rotated.block(1).values.device.type == torch.device(device).type
    rotated.block(1).values.sum().backward()
    assert leaf.grad is not None
    expected = rotate_tensor_map(tensor.to(arrays="numpy"), ROTATIONS[0])
    allclose_raise(rotated.to(arrays="numpy"), expected, atol=1e-13)


def test_errors():
    tensor = density([cluster(0)], gradients=())
    with pytest.raises(ValueError, match="orthogonal"):
        rotate_tensor_map(tensor, np.diag([1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="shape"):
        rotate_tensor_map(tensor, np.eye(2))
    with pytest.raises(TypeError, match="TensorMap"):
        rotate_tensor_map(tensor.block(0), np.eye(3))
    no_lambda = TensorMap(Labels(["k"], [[0]]), [tensor.block(1).copy()])
    with pytest.raises(ValueError, match="o3_lambda"):
        rotate_tensor_map(no_lambda, ROTATIONS[0])


def test_check_equivariance_reports_per_key():
    frames = [cluster(0)]

    def equivariant(frames):
        return density(frames, max_angular=2, n_radial=1)

    report = check_equivariance(equivariant, frames, atol=1e-12, rtol=1e-12)
    assert report and report.passed
    assert report.key_names == ["o3_lambda", "o3_sigma", "center_type", "neighbor_type"]
    assert len(report.errors) == len(equivariant(frames).keys)
    assert report.max_error < 1e-12

    def broken(frames):
        # claims the l = 1 blocks are pseudotensors: fails only under improper rotations
        tensor = equivariant(frames)
        keys = tensor.keys.values.copy()
        keys[keys[:, 0] == 1, 1] = -1
        return TensorMap(Labels(tensor.keys.names, keys), [b.copy() for b in tensor.blocks()])

    assert check_equivariance(broken, frames, inversion=False)
    report = check_equivariance(broken, frames)
    assert not report
    failing = {key for key, error in report.errors.items() if error > 1e-8}
    assert failing and all(key[0] == 1 for key in failing)
    assert report.worst(1)[0][0] in failing
    assert "FAILED" in repr(report)

    with pytest.raises(TypeError, match="TensorMap"):
        check_equivariance(lambda frames: 1.0, frames)
    with pytest.raises(TypeError, match="ase.Atoms"):
        check_equivariance(equivariant, [1, 2])
