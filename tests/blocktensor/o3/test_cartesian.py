import os

import numpy as np
import pytest
import torch

from blocktensor import Labels, TensorBlock, TensorMap
from blocktensor.o3 import (
    cartesian_to_spherical,
    random_rotation,
    spherical_harmonics,
    spherical_to_cartesian,
    wigner_d_matrices,
)

REFERENCE = os.path.join(
    os.path.dirname(__file__), "..", "..", "data", "clebsch_gordan_reference.npz"
)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def random_tensor(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip(backend, dtype):
    vectors = random_tensor((5, 3)).astype(dtype)
    matrices = random_tensor((2, 5, 3, 3), seed=1).astype(dtype)
    if backend == "torch":
        vectors, matrices = torch.from_numpy(vectors), torch.from_numpy(matrices)
    parts_1 = cartesian_to_spherical(vectors, rank=1)
    assert list(parts_1) == [(1, 1)]
    parts_2 = cartesian_to_spherical(matrices, rank=2)
    assert sorted(parts_2) == [(0, 1), (1, -1), (2, 1)]
    assert [tuple(parts_2[k].shape) for k in sorted(parts_2)] == [(2, 5, 1), (2, 5, 3), (2, 5, 5)]
    for part in parts_2.values():
        assert part.dtype == matrices.dtype and type(part) is type(matrices)
    tolerance = 1e-6 if dtype == "float32" else 1e-14
    back_1 = spherical_to_cartesian(parts_1)
    back_2 = spherical_to_cartesian(parts_2)
    np.testing.assert_allclose(np.asarray(back_1), np.asarray(vectors), atol=tolerance)
    np.testing.assert_allclose(np.asarray(back_2), np.asarray(matrices), atol=tolerance)
    # orthogonal transform: norms are preserved
    norm = sum(float((p**2).sum()) for p in parts_2.values())
    assert abs(norm - float((matrices**2).sum())) < 1e3 * tolerance


def test_vector_follows_harmonics_order():
    vector = np.array([[0.3, -1.2, 0.7]])
    (spherical,) = cartesian_to_spherical(vector, rank=1).values()
    expected = spherical_harmonics(vector, 1, normalized=False)[:, 1:] / np.sqrt(3 / (4 * np.pi))
    np.testing.assert_allclose(spherical, expected, atol=1e-15)


def test_known_parts():
    rng = np.random.default_rng(2)
    symmetric = rng.normal(size=(3, 3))
    symmetric = symmetric + symmetric.T
    antisymmetric = rng.normal(size=(3, 3))
    antisymmetric = antisymmetric - antisymmetric.T
    parts = cartesian_to_spherical(symmetric, rank=2)
    assert np.abs(parts[(1, -1)]).max() < 1e-15
    np.testing.assert_allclose(parts[(0, 1)], [-np.trace(symmetric) / np.sqrt(3)], atol=1e-14)
    parts = cartesian_to_spherical(antisymmetric, rank=2)
    assert np.abs(parts[(0, 1)]).max() < 1e-15 and np.abs(parts[(2, 1)]).max() < 1e-15
    # the antisymmetric part is the axial vector (y, z, x order), up to √2
    axial = np.array([antisymmetric[2, 1], antisymmetric[0, 2], antisymmetric[1, 0]])
    np.testing.assert_allclose(np.abs(parts[(1, -1)]), np.abs(axial[[1, 2, 0]]) * np.sqrt(2))

    reduced = cartesian_to_spherical(symmetric, rank=2, symmetric=True)
    assert sorted(reduced) == [(0, 1), (2, 1)]
    np.testing.assert_allclose(spherical_to_cartesian(reduced), symmetric, atol=1e-14)
    with pytest.raises(ValueError, match="not symmetric"):
        cartesian_to_spherical(symmetric + antisymmetric, rank=2, symmetric=True)


@pytest.mark.parametrize("improper", [False, True])
def test_equivariance(improper):
    rotations = random_rotation(seed=3, n=5, improper=improper)
    tensors = random_tensor((5, 3, 3), seed=4)
    vectors = random_tensor((5, 3), seed=5)
    rotated_tensors = np.einsum("nab,nbc,ndc->nad", rotations, tensors, rotations)
    rotated_vectors = np.einsum("nab,nb->na", rotations, vectors)
    wigner = wigner_d_matrices(rotations, 2)

    parts, rotated_parts = (cartesian_to_spherical(t, rank=2) for t in (tensors, rotated_tensors))
    for (o3_lambda, o3_sigma), part in parts.items():
        # a σ block picks up σ·(-1)^λ under inversion on top of the proper rotation
        parity = o3_sigma * (-1) ** o3_lambda if improper else 1
        proper = wigner_d_matrices(-rotations if improper else rotations, 2)[o3_lambda]
        expected = parity * np.einsum("nMN,nN->nM", proper, part)
        np.testing.assert_allclose(rotated_parts[(o3_lambda, o3_sigma)], expected, atol=1e-12)
        # equivalently σ D(R) with D of the improper rotation itself
        np.testing.assert_allclose(
            rotated_parts[(o3_lambda, o3_sigma)],
            (o3_sigma if improper else 1) * np.einsum("nMN,nN->nM", wigner[o3_lambda], part),
            atol=1e-12,
        )
    (vector_part,) = cartesian_to_spherical(vectors, rank=1).values()
    (rotated_vector_part,) = cartesian_to_spherical(rotated_vectors, rank=1).values()
    np.testing.assert_allclose(
        rotated_vector_part, np.einsum("nMN,nN->nM", wigner[1], vector_part), atol=1e-12
    )


def test_matches_featomic_reference():
    if not os.path.exists(REFERENCE):
        pytest.skip("reference file tests/data/clebsch_gordan_reference.npz is missing")
    reference = np.load(REFERENCE)
    if "cartesian_input" not in reference.files:
        pytest.skip("reference file has no cartesian data")
    cartesian = reference["cartesian_input"]
    block = TensorBlock(
        cartesian,
        Labels.range("system", 4),
        [Labels.range("xyz_1", 3), Labels.range("xyz_2", 3)],
        Labels.range("n", 2),
    )
    spherical = cartesian_to_spherical(TensorMap(Labels.single(), [block]), ["xyz_1", "xyz_2"])
    assert spherical.keys.names == ["o3_lambda", "o3_sigma", "_"]
    assert spherical.keys.values.tolist() == [[0, 1, 0], [1, -1, 0], [2, 1, 0]]
    for o3_lambda in range(3):
        np.testing.assert_allclose(
            spherical.block(o3_lambda=o3_lambda).values,
            reference[f"cartesian_lambda_{o3_lambda}"],
            atol=1e-12,
        )
    # the array-level function agrees
    parts = cartesian_to_spherical(np.moveaxis(cartesian, -1, 1), rank=2)
    np.testing.assert_allclose(
        np.moveaxis(parts[(1, -1)], 1, -1), reference["cartesian_lambda_1"], atol=1e-12
    )


def make_map(values, component_names, with_gradients, backend="numpy"):
    n_samples = values.shape[0]
    if backend == "torch":
        values = torch.from_numpy(values)
    block = TensorBlock(
        values,
        Labels.range("system", n_samples),
        [Labels([name], np.arange(3).reshape(-1, 1)) for name in component_names],
        Labels.range("n", values.shape[-1]),
    )
    if with_gradients:
        gradient_values = random_tensor((4, 3) + tuple(values.shape[1:]), seed=9)
        if backend == "torch":
            gradient_values = torch.from_numpy(gradient_values)
        block.add_gradient(
            "positions",
            TensorBlock(
                gradient_values,
                Labels(["sample", "system", "atom"], [[0, 0, 0], [0, 0, 1], [1, 1, 0], [2, 2, 3]]),
                [Labels(["xyz"], np.arange(3).reshape(-1, 1))] + block.components,
                block.properties,
            ),
        )
    other = TensorBlock(
        values * 2,
        block.samples,
        block.components,
        block.properties,
    )
    if with_gradients:
        gradient = block.gradient("positions")
        other.add_gradient(
            "positions",
            TensorBlock(
                gradient.values * 2, gradient.samples, gradient.components, gradient.properties
            ),
        )
    return TensorMap(Labels(["center_type"], [[1], [8]]), [block, other])


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_tensor_map_round_trip_rank_2(backend):
    tensor = make_map(random_tensor((3, 3, 3, 2), seed=6), ["xyz_1", "xyz_2"], True, backend)
    spherical = cartesian_to_spherical(tensor, ["xyz_1", "xyz_2"])
    assert spherical.keys.names == ["o3_lambda", "o3_sigma", "center_type"]
    assert len(spherical) == 6
    assert spherical.component_names == ["o3_mu"]
    block = spherical.block(o3_lambda=2, center_type=8)
    assert block.values.shape == (3, 5, 2)
    assert block.components[0].values[:, 0].tolist() == [-2, -1, 0, 1, 2]
    gradient = block.gradient("positions")
    assert [c.names[0] for c in gradient.components] == ["xyz", "o3_mu"]
    expected = cartesian_to_spherical(
        np.moveaxis(np.asarray(tensor.block(1).gradient("positions").values), -1, 2), rank=2
    )[(2, 1)]
    np.testing.assert_allclose(
        np.asarray(gradient.values), np.moveaxis(expected, 2, -1), atol=1e-14
    )

    back = spherical_to_cartesian(spherical)
    assert back.keys == tensor.keys
    for original, recovered in zip(tensor.blocks(), back.blocks()):
        assert [c.names[0] for c in recovered.components] == ["xyz_1", "xyz_2"]
        np.testing.assert_allclose(
            np.asarray(recovered.values), np.asarray(original.values), atol=1e-14
        )
        np.testing.assert_allclose(
            np.asarray(recovered.gradient("positions").values),
            np.asarray(original.gradient("positions").values),
            atol=1e-14,
        )


def test_tensor_map_symmetric_drops_zero_blocks():
    matrices = random_tensor((3, 3, 3, 1), seed=7)
    matrices = matrices + matrices.transpose(0, 2, 1, 3)
    tensor = make_map(matrices, ["xyz_1", "xyz_2"], False)
    spherical = cartesian_to_spherical(tensor, ["xyz_1", "xyz_2"])
    assert sorted(set(spherical.keys.column("o3_sigma").tolist())) == [1]
    kept = cartesian_to_spherical(tensor, ["xyz_1", "xyz_2"], remove_blocks_threshold=None)
    assert len(kept) == 6
    back = spherical_to_cartesian(spherical)
    np.testing.assert_allclose(back.block(center_type=1).values, matrices, atol=1e-14)


def test_tensor_map_rank_1_and_block_input():
    vectors = random_tensor((4, 3, 2), seed=8)
    tensor = make_map(vectors, ["xyz"], False)
    spherical = cartesian_to_spherical(tensor, ["xyz"])
    assert spherical.keys.values.tolist() == [[1, 1, 1], [1, 1, 8]]
    np.testing.assert_allclose(spherical.block(0).values, vectors[:, [1, 2, 0]])
    back = spherical_to_cartesian(spherical)
    assert back.component_names == ["xyz"]
    np.testing.assert_allclose(back.block(0).values, vectors)

    from_block = cartesian_to_spherical(tensor.block(0), "xyz")
    assert from_block.keys.names == ["o3_lambda", "o3_sigma"]
    back = spherical_to_cartesian(from_block, new_component_names=["dipole"])
    assert back.keys == Labels.single() and back.component_names == ["dipole"]


def test_autograd_through_conversion():
    matrices = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t: cartesian_to_spherical(t, rank=2)[(2, 1)], (matrices,)
    )


def test_errors():
    with pytest.raises(ValueError, match="rank"):
        cartesian_to_spherical(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        cartesian_to_spherical(np.zeros((3, 2)), rank=2)
    with pytest.raises(ValueError, match="`rank` must be 1 or 2"):
        cartesian_to_spherical(np.zeros((3, 3, 3)), rank=3)
    with pytest.raises(ValueError, match="parts"):
        spherical_to_cartesian({(3, 1): np.zeros(7)})
    with pytest.raises(ValueError, match="2λ\\+1"):
        spherical_to_cartesian({(1, 1): np.zeros(5)})
    tensor = make_map(random_tensor((2, 3, 1)), ["xyz"], False)
    with pytest.raises(ValueError, match="not a component"):
        cartesian_to_spherical(tensor, ["abc"])
    with pytest.raises(ValueError, match="already"):
        cartesian_to_spherical(cartesian_to_spherical(tensor, ["xyz"]), ["o3_mu"])
    with pytest.raises(TypeError, match="TensorMap"):
        cartesian_to_spherical([1.0, 2.0, 3.0], rank=1)
