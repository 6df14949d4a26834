import math

import numpy as np
import pytest
import sympy
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from blocktensor.o3 import (
    SphericalHarmonics,
    lm_index,
    lm_slice,
    solid_harmonics,
    spherical_harmonics,
    split_per_l,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def sympy_real_harmonic(l, m, point):  # noqa: E741
    """Real Y_l^m from sympy's complex Ynm (Condon–Shortley phase) at a 3-d point."""
    x, y, z = (float(v) for v in point)
    r = math.sqrt(x * x + y * y + z * z)
    theta = sympy.Float(math.acos(z / r), 30)
    phi = sympy.Float(math.atan2(y, x), 30)
    value = complex(sympy.Ynm(l, abs(m), theta, phi).evalf(30))
    if m == 0:
        return value.real
    if m > 0:
        return math.sqrt(2) * (-1) ** m * value.real
    return math.sqrt(2) * (-1) ** m * value.imag


def sphere_quadrature(max_degree):
    """Points and weights integrating polynomials up to ``max_degree`` exactly on S²."""
    n_theta = max_degree // 2 + 1
    n_phi = max_degree + 1
    cos_theta, w_theta = np.polynomial.legendre.leggauss(n_theta)
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    sin_theta = np.sqrt(1 - cos_theta**2)
    points = np.stack(
        [np.outer(sin_theta, np.cos(phi)), np.outer(sin_theta, np.sin(phi)),
         np.outer(cos_theta, np.ones(n_phi))],
        axis=-1,
    ).reshape(-1, 3)
    weights = np.outer(w_theta, np.full(n_phi, 2 * np.pi / n_phi)).reshape(-1)
    return points, weights


@pytest.mark.parametrize("max_angular", [0, 1, 3, 8, 13, 20])
def test_against_sympy(max_angular):
    rng = np.random.default_rng(max_angular)
    points = rng.normal(size=(3, 3)) * rng.uniform(0.5, 3.0, size=(3, 1))
    values = spherical_harmonics(points, max_angular)
    # checking every l up to 20 would take long: all m of a few l
    for l in sorted({0, min(1, max_angular), max_angular // 2, max_angular}):  # noqa: E741
        for m in range(-l, l + 1):
            expected = [sympy_real_harmonic(l, m, p) for p in points]
            np.testing.assert_allclose(
                values[:, lm_index(l, m)], expected, rtol=1e-10, atol=1e-12
            )


def test_l1_convention():
    points = np.array([[0.3, -0.5, 0.8], [1.0, 2.0, -2.0]])
    values = spherical_harmonics(points, 1)
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    np.testing.assert_allclose(values[:, 1:4], math.sqrt(3 / (4 * math.pi)) * unit[:, [1, 2, 0]])
    solid = solid_harmonics(points, 1)
    np.testing.assert_allclose(solid[:, 1:4], math.sqrt(3 / (4 * math.pi)) * points[:, [1, 2, 0]])


def test_orthonormal_on_sphere():
    max_angular = 20
    points, weights = sphere_quadrature(2 * max_angular)
    values = spherical_harmonics(points, max_angular)
    gram = values.T @ (weights[:, None] * values)
    np.testing.assert_allclose(gram, np.eye((max_angular + 1) ** 2), atol=1e-12)


@pytest.mark.parametrize("max_angular", [0, 4, 11])
def test_solid_is_r_power_l_times_normalized(max_angular):
    rng = np.random.default_rng(1)
    points = rng.normal(size=(20, 3)) * 1.7
    r = np.linalg.norm(points, axis=1)
    powers = np.concatenate([np.full(2 * l + 1, l) for l in range(max_angular + 1)])
    np.testing.assert_allclose(
        solid_harmonics(points, max_angular),
        spherical_harmonics(points, max_angular) * r[:, None] ** powers,
        rtol=1e-11,
        atol=1e-12,
    )


@pytest.mark.parametrize("normalized", [True, False])
@pytest.mark.parametrize("max_angular", [1, 6, 10])
def test_gradients_finite_differences(normalized, max_angular):
    rng = np.random.default_rng(2)
    points = rng.normal(size=(10, 3))
    values, gradients = spherical_harmonics(
        points, max_angular, normalized=normalized, compute_gradients=True
    )
    assert gradients.shape == (10, 3, (max_angular + 1) ** 2)
    np.testing.assert_allclose(values, spherical_harmonics(points, max_angular, normalized))
    delta = 1e-5
    for a in range(3):
        shift = np.zeros(3)
        shift[a] = delta
        plus = spherical_harmonics(points + shift, max_angular, normalized)
        minus = spherical_harmonics(points - shift, max_angular, normalized)
        np.testing.assert_allclose(
            gradients[:, a], (plus - minus) / (2 * delta), rtol=1e-6, atol=1e-7
        )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("normalized", [True, False])
def test_autograd(device, normalized):
    points = torch.randn(6, 3, dtype=torch.float64, device=device, requires_grad=True)

    def function(xyz):
        return spherical_harmonics(xyz, 5, normalized=normalized)

    assert torch.autograd.gradcheck(function, (points,))
    assert torch.autograd.gradgradcheck(function, (points,))

    # backward of the values agrees with the explicit gradients
    values = function(points)
    weights = torch.randn_like(values)
    (grad,) = torch.autograd.grad((values * weights).sum(), points)
    _, explicit = spherical_harmonics(
        points.detach(), 5, normalized=normalized, compute_gradients=True
    )
    torch.testing.assert_close(grad, torch.einsum("nak,nk->na", explicit, weights))


def test_explicit_gradients_are_differentiable():
    points = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda xyz: spherical_harmonics(xyz, 4, compute_gradients=True)[1], (points,)
    )


@pytest.mark.parametrize("device", DEVICES)
def test_float32_matches_float64(device):
    points = torch.randn(200, 3, dtype=torch.float64, device=device)
    values64, gradients64 = spherical_harmonics(points, 10, compute_gradients=True)
    values32, gradients32 = spherical_harmonics(points.float(), 10, compute_gradients=True)
    assert values32.dtype == torch.float32 and gradients32.dtype == torch.float32
    assert values32.device == points.device
    torch.testing.assert_close(values32.double(), values64, atol=1e-5, rtol=1e-4)
    scale = gradients64.abs().max()
    torch.testing.assert_close(
        gradients32.double() / scale, gradients64 / scale, atol=1e-5, rtol=1e-4
    )


def test_numpy_in_numpy_out_and_matches_torch():
    points = np.random.default_rng(3).normal(size=(7, 3))
    values, gradients = spherical_harmonics(points, 3, compute_gradients=True)
    assert isinstance(values, np.ndarray) and isinstance(gradients, np.ndarray)
    assert values.dtype == np.float64
    torch_values, torch_gradients = spherical_harmonics(
        torch.from_numpy(points), 3, compute_gradients=True
    )
    np.testing.assert_allclose(values, torch_values.numpy())
    np.testing.assert_allclose(gradients, torch_gradients.numpy())
    assert spherical_harmonics(points.astype(np.float32), 3).dtype == np.float32


def test_batch_shapes_and_chunking():
    points = torch.randn(4, 5, 3, dtype=torch.float64)
    values, gradients = spherical_harmonics(points, 4, compute_gradients=True)
    assert values.shape == (4, 5, 25) and gradients.shape == (4, 5, 3, 25)
    flat_values, flat_gradients = spherical_harmonics(
        points.reshape(-1, 3), 4, compute_gradients=True, chunk_size=3
    )
    torch.testing.assert_close(values.reshape(20, 25), flat_values)
    torch.testing.assert_close(gradients.reshape(20, 3, 25), flat_gradients)
    assert spherical_harmonics(torch.zeros(0, 3), 2).shape == (0, 9)


@settings(max_examples=20, deadline=None)
@given(
    max_angular=st.integers(0, 12),
    seed=st.integers(0, 2**31),
    chunk_size=st.integers(1, 50),
)
def test_fast_and_differentiable_paths_agree(max_angular, seed, chunk_size):
    generator = torch.Generator().manual_seed(seed)
    points = torch.randn(37, 3, dtype=torch.float64, generator=generator)
    for normalized in (True, False):
        fast = spherical_harmonics(
            points, max_angular, normalized, compute_gradients=True, chunk_size=chunk_size
        )
        graph = spherical_harmonics(
            points.clone().requires_grad_(), max_angular, normalized, compute_gradients=True
        )
        for a, b in zip(fast, graph):
            scale = b.abs().max().clamp(min=1.0)
            torch.testing.assert_close(a / scale, b.detach() / scale, rtol=1e-12, atol=1e-13)


def test_module():
    module = SphericalHarmonics(3, normalized=False)
    points = torch.randn(5, 3, dtype=torch.float64)
    torch.testing.assert_close(module(points), solid_harmonics(points, 3))
    values, gradients = module.compute_with_gradients(points)
    assert gradients.shape == (5, 3, 16)
    assert "max_angular=3" in repr(module)


def test_index_helpers():
    assert [lm_index(l, m) for l in range(3) for m in range(-l, l + 1)] == list(range(9))
    assert lm_slice(3) == slice(9, 16)
    parts = split_per_l(torch.zeros(2, 3, 16), 3)
    assert [p.shape[-1] for p in parts] == [1, 3, 5, 7]
    with pytest.raises(ValueError, match="max_angular"):
        split_per_l(np.zeros((2, 16)), 2)
    with pytest.raises(ValueError, match="m=3"):
        lm_index(2, 3)


def test_errors():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        spherical_harmonics(np.zeros((4, 2)), 2)
    with pytest.raises(TypeError, match="float32 or float64"):
        spherical_harmonics(np.zeros((4, 3), dtype=np.int64), 2)
    with pytest.raises(ValueError, match="max_angular"):
        spherical_harmonics(np.zeros((4, 3)), -1)
    with pytest.raises(TypeError, match="max_angular"):
        spherical_harmonics(np.zeros((4, 3)), 2.0)
    with pytest.raises(TypeError, match="numpy.ndarray or a torch.Tensor"):
        spherical_harmonics([[0.0, 0.0, 1.0]], 2)


def test_against_sphericart():
    sphericart = pytest.importorskip("sphericart")
    points = np.random.default_rng(4).normal(size=(50, 3))
    for normalized, cls in ((True, sphericart.SphericalHarmonics), (False, sphericart.SolidHarmonics)):
        reference_values, reference_gradients = cls(8).compute_with_gradients(points)
        values, gradients = spherical_harmonics(points, 8, normalized, compute_gradients=True)
        np.testing.assert_allclose(values, reference_values, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gradients, reference_gradients, rtol=1e-10, atol=1e-10)
