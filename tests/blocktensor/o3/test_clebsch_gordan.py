import math
import os

import numpy as np
import pytest
import sympy
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sympy.physics.quantum.cg import CG

from blocktensor.o3 import (
    clebsch_gordan,
    clebsch_gordan_dict,
    clebsch_gordan_sparse,
    complex_clebsch_gordan,
    complex_to_real_matrix,
    lm_slice,
    random_rotation,
    real_to_complex_matrix,
    spherical_harmonics,
    wigner_d_matrices,
)

REFERENCE = os.path.join(
    os.path.dirname(__file__), "..", "..", "data", "clebsch_gordan_reference.npz"
)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@st.composite
def triples(draw, max_l=10):
    l1 = draw(st.integers(0, max_l))
    l2 = draw(st.integers(0, max_l))
    o3_lambda = draw(st.integers(abs(l1 - l2), min(l1 + l2, max_l)))
    return l1, l2, o3_lambda


def test_matches_featomic_reference():
    if not os.path.exists(REFERENCE):
        pytest.skip("reference file tests/data/clebsch_gordan_reference.npz is missing")
    reference = np.load(REFERENCE)
    keys = [k for k in reference.files if not k.startswith("cartesian")]
    assert len(keys) == 65
    for key in keys:
        l1, l2, o3_lambda = (int(v) for v in key.split(","))
        np.testing.assert_allclose(
            clebsch_gordan(l1, l2, o3_lambda), reference[key], rtol=0, atol=1e-12
        )


@pytest.mark.parametrize("l1,l2,o3_lambda", [(1, 1, 0), (2, 1, 2), (3, 4, 5), (7, 5, 9)])
def test_complex_against_sympy(l1, l2, o3_lambda):
    array = complex_clebsch_gordan(l1, l2, o3_lambda)
    for m1 in range(-l1, l1 + 1):
        for m2 in range(-l2, l2 + 1):
            big_m = m1 + m2
            if abs(big_m) > o3_lambda:
                continue
            expected = float(CG(l1, m1, l2, m2, o3_lambda, big_m).doit())
            assert abs(array[m1 + l1, m2 + l2, big_m + o3_lambda] - expected) < 1e-14


def test_change_of_basis_is_unitary_and_matches_harmonics():
    points = np.random.default_rng(0).normal(size=(5, 3))
    values = spherical_harmonics(points, 4)
    r = np.linalg.norm(points, axis=1)
    theta, phi = np.arccos(points[:, 2] / r), np.arctan2(points[:, 1], points[:, 0])
    for l in range(5):  # noqa: E741
        U = complex_to_real_matrix(l)
        np.testing.assert_allclose(U @ U.conj().T, np.eye(2 * l + 1), atol=1e-15)
        np.testing.assert_allclose(real_to_complex_matrix(l), U.conj().T)
        complex_values = np.array(
            [[complex(sympy.Ynm(l, m, t, p).evalf()) for m in range(-l, l + 1)]
             for t, p in zip(theta, phi)]
        )
        np.testing.assert_allclose(complex_values @ U.T, values[:, lm_slice(l)], atol=1e-13)


@settings(max_examples=40, deadline=None)
@given(triples())
def test_orthonormal_over_m1_m2(triple):
    cg = clebsch_gordan(*triple)
    size = 2 * triple[2] + 1
    np.testing.assert_allclose(np.einsum("abM,abN->MN", cg, cg), np.eye(size), atol=1e-13)


@pytest.mark.parametrize("l1,l2", [(0, 3), (2, 2), (3, 5), (6, 4)])
def test_complete_change_of_basis(l1, l2):
    """All L together form an orthogonal (2l1+1)(2l2+1) square matrix."""
    matrix = np.concatenate(
        [clebsch_gordan(l1, l2, L).reshape((2 * l1 + 1) * (2 * l2 + 1), -1)
         for L in range(abs(l1 - l2), l1 + l2 + 1)],
        axis=1,
    )
    np.testing.assert_allclose(matrix @ matrix.T, np.eye(matrix.shape[0]), atol=1e-13)


@pytest.mark.parametrize("l1,l2", [(1, 1), (2, 3), (4, 4), (5, 2)])
def test_coupling_of_harmonics(l1, l2):
    """Σ C Y_l1 Y_l2 = sqrt((2l1+1)(2l2+1)/(4π(2L+1))) <l1 0 l2 0|L 0> Y_L."""
    points = np.random.default_rng(1).normal(size=(30, 3))
    max_l = l1 + l2
    values = spherical_harmonics(points, max_l)
    y1, y2 = values[:, lm_slice(l1)], values[:, lm_slice(l2)]
    for big_l in range(abs(l1 - l2), l1 + l2 + 1):
        coupled = np.einsum("abM,na,nb->nM", clebsch_gordan(l1, l2, big_l), y1, y2)
        factor = math.sqrt((2 * l1 + 1) * (2 * l2 + 1) / (4 * math.pi * (2 * big_l + 1)))
        factor *= complex_clebsch_gordan(l1, l2, big_l)[l1, l2, big_l]
        np.testing.assert_allclose(coupled, factor * values[:, lm_slice(big_l)], atol=1e-13)


@settings(max_examples=25, deadline=None)
@given(triples(max_l=8), st.integers(0, 2**31), st.booleans())
def test_equivariance(triple, seed, improper):
    """Coupling commutes with rotations: C (D1 ⊗ D2) = D_L C, up to the parity
    (-1)^(l1+l2+L) (the σ of the product) for improper ones."""
    l1, l2, big_l = triple
    rotation = random_rotation(seed, improper=improper)
    wigner = wigner_d_matrices(rotation, max(triple))
    cg = clebsch_gordan(l1, l2, big_l)
    left = np.einsum("abM,ai,bj->ijM", cg, wigner[l1], wigner[l2])
    right = np.einsum("ijN,MN->ijM", cg, wigner[big_l])
    if improper:
        right *= (-1) ** (l1 + l2 + big_l)
    np.testing.assert_allclose(left, right, atol=1e-12)


def test_sparse_matches_dense():
    for (l1, l2, big_l), dense in clebsch_gordan_dict(4).items():
        sparse = clebsch_gordan_sparse(l1, l2, big_l)
        rebuilt = np.zeros_like(dense)
        rebuilt[sparse.m1, sparse.m2, sparse.mu] = sparse.values
        np.testing.assert_array_equal(rebuilt, dense)
        assert np.all(np.abs(sparse.values) > 1e-15)
        assert np.all(np.diff(sparse.mu) >= 0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_outputs(device, dtype):
    like = torch.zeros(1, dtype=dtype, device=device)
    dense = clebsch_gordan(2, 3, 3, like=like)
    assert dense.dtype == dtype and dense.device == like.device
    np.testing.assert_allclose(dense.cpu().double().numpy(), clebsch_gordan(2, 3, 3), atol=1e-7)
    assert clebsch_gordan(2, 3, 3, dtype=dtype, device=device) is dense  # cached
    sparse = clebsch_gordan_sparse(2, 3, 3, like=like)
    assert sparse.m1.dtype == torch.int64 and sparse.values.dtype == dtype
    numpy32 = clebsch_gordan(1, 1, 2, dtype=np.float32)
    assert numpy32.dtype == np.float32 and not numpy32.flags.writeable


def test_dict_keys_like_featomic():
    keys = sorted(clebsch_gordan_dict(2))
    expected = sorted(
        (l1, l2, L)
        for l1 in range(3)
        for l2 in range(3)
        for L in range(abs(l1 - l2), min(2, l1 + l2) + 1)
    )
    assert keys == expected
    assert max(k[2] for k in clebsch_gordan_dict(2, max_lambda=4)) == 4


def test_errors():
    with pytest.raises(ValueError, match=r"\|l1 - l2\| <= o3_lambda <= l1 \+ l2"):
        clebsch_gordan(1, 1, 3)
    with pytest.raises(ValueError, match="l2"):
        clebsch_gordan(1, -1, 0)
    with pytest.raises(TypeError, match="o3_lambda"):
        clebsch_gordan(1, 1, 1.0)
    with pytest.raises(TypeError, match="like"):
        clebsch_gordan(1, 1, 1, like=[1.0])
