import json
import math
import os

import numpy as np
import pytest
import scipy.special
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from calculators.cutoff import (
    ShiftedCosine,
    Step,
    Willatt2018,
    scaling_from_hypers,
    smoothing_from_hypers,
)
from calculators.radial import (
    DiracDelta,
    Gaussian,
    GtoBasis,
    LaplacianEigenstateBasis,
    RadialIntegral,
    numerical_gaussian_integral,
    spherical_bessel_zeros,
)
from calculators.splines import CubicHermiteSpline

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DATA = os.path.join(os.path.dirname(__file__), "..", "data", "radial_reference.npz")


def central_difference(fn, x, h=1e-6):
    return (fn(x + h) - fn(x - h)) / (2 * h)


# ----------------------------------------------------------------------------- cutoffs
@pytest.mark.parametrize("device", DEVICES)
def test_shifted_cosine(device):
    smoothing = ShiftedCosine(width=0.8)
    r = torch.linspace(0.1, 4.5, 301, dtype=torch.float64, device=device)
    values, derivatives = smoothing.compute(r, radius=4.0)
    expected = np.where(
        r.cpu() <= 3.2, 1.0,
        np.where(r.cpu() < 4.0, 0.5 * (1 + np.cos(np.pi * (r.cpu().numpy() - 3.2) / 0.8)), 0.0),
    )
    np.testing.assert_allclose(values.cpu().numpy(), expected, atol=1e-14)
    fd = central_difference(lambda x: smoothing.compute(x, 4.0)[0], r)
    np.testing.assert_allclose(derivatives.cpu().numpy(), fd.cpu().numpy(), atol=1e-8)
    r.requires_grad_(True)
    values, derivatives = smoothing.compute(r, 4.0)
    (grad,) = torch.autograd.grad(values.sum(), r)
    assert torch.allclose(grad, derivatives)
    with pytest.raises(ValueError, match="must not exceed the cutoff"):
        smoothing.compute(r, radius=0.5)
    with pytest.raises(ValueError, match="`width` must be a finite positive"):
        ShiftedCosine(width=-1.0)


def test_step():
    values, derivatives = Step().compute(torch.tensor([0.5, 3.0, 3.5]), radius=3.0)
    assert values.tolist() == [1.0, 1.0, 0.0] and derivatives.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("rate, scale, exponent", [(1.5, 1.2, 3), (0.0, 2.0, 2), (0.3, 0.7, 1)])
def test_willatt2018(rate, scale, exponent):
    scaling = Willatt2018(rate=rate, scale=scale, exponent=exponent)
    r = torch.linspace(0.2, 5.0, 97, dtype=torch.float64)
    values, derivatives = scaling.compute(r)
    if rate == 0:
        expected = (scale / r) ** exponent
    else:
        expected = rate / (rate + (r / scale) ** exponent)
    assert torch.allclose(values, expected, atol=1e-14)
    fd = central_difference(lambda x: scaling.compute(x)[0], r)
    assert torch.allclose(derivatives, fd, atol=1e-7)
    # guard against featomic's Python swap of value and derivative
    assert bool((values > 0).all()) and bool((derivatives < 0).all())
    with pytest.raises(ValueError, match="`exponent` must be a positive integer, found 0"):
        Willatt2018(rate=1.0, scale=1.0, exponent=0)


def test_hypers_parsing():
    assert isinstance(smoothing_from_hypers(None), Step)
    assert smoothing_from_hypers({"type": "ShiftedCosine", "width": 0.3}).width == 0.3
    assert scaling_from_hypers(None) is None
    with pytest.raises(ValueError, match="'Step' or 'ShiftedCosine', found 'Tanh'"):
        smoothing_from_hypers({"type": "Tanh"})
    with pytest.raises(ValueError, match="Willatt2018"):
        scaling_from_hypers({"type": "Other"})


# ------------------------------------------------------------------------------ bases
# the overlap's condition number (~1e6 at max_radial = 10) limits the orthonormality
@pytest.mark.parametrize("max_radial, radius, atol", [(0, 2.0, 1e-13), (5, 4.0, 1e-11), (10, 6.0, 1e-8)])
def test_gto_basis_is_orthonormal(max_radial, radius, atol):
    basis = GtoBasis(max_radial, radius)
    nodes, weights = np.polynomial.legendre.leggauss(200)
    r = 0.5 * (nodes + 1) * 10 * radius
    w = 0.5 * weights * 10 * radius
    values, derivatives = basis.compute(r)
    overlap = (values * (w * r**2)[:, None]).T @ values
    np.testing.assert_allclose(overlap, np.eye(max_radial + 1), atol=atol)
    fd = central_difference(lambda x: basis.compute(x)[0], r)
    np.testing.assert_allclose(derivatives, fd, atol=1e-6 * np.abs(values).max())
    # σ_n as featomic defines it
    n = np.arange(max_radial + 1)
    np.testing.assert_allclose(basis.sigmas, radius * np.maximum(np.sqrt(n), 1) / (max_radial + 1))


def test_spherical_bessel_zeros():
    zeros = spherical_bessel_zeros(4, 5)
    for l in range(5):
        np.testing.assert_allclose(scipy.special.spherical_jn(l, zeros[l]), 0.0, atol=1e-13)
        assert bool(np.all(np.diff(zeros[l]) > 0)) and zeros[l, 0] > l
    np.testing.assert_allclose(zeros[1, :2], [4.493409457909064, 7.725251836937707], rtol=1e-13)


def test_laplacian_eigenstate_basis():
    basis = LaplacianEigenstateBasis(radius=3.0, max_radial=3)
    # same sizes as featomic.basis.LaplacianEigenstate(radius=3, max_radial=3)
    assert [basis.radial_size(l) for l in range(basis.max_angular + 1)] == [4, 3, 3, 2, 2, 1, 1, 1]
    nodes, weights = np.polynomial.legendre.leggauss(100)
    r = 0.5 * (nodes + 1) * 3.0
    w = 0.5 * weights * 3.0
    for l in range(basis.max_angular + 1):
        values, derivatives = basis.compute(r, l)
        overlap = (values * (w * r**2)[:, None]).T @ values
        np.testing.assert_allclose(overlap, np.eye(basis.radial_size(l)), atol=1e-12)
        # every function vanishes at the cutoff (Dirichlet condition)
        np.testing.assert_allclose(basis.compute(np.array([3.0]), l)[0], 0.0, atol=1e-12)
        fd = central_difference(lambda x: basis.compute(x, l)[0], r)
        np.testing.assert_allclose(derivatives, fd, atol=1e-6)
    truncated = LaplacianEigenstateBasis(radius=3.0, max_radial=3, max_angular=2)
    assert truncated.max_angular == 2
    with pytest.raises(ValueError, match="above the largest angular channel"):
        LaplacianEigenstateBasis(radius=3.0, max_radial=3, max_angular=9)


# ------------------------------------------------------------------- radial integrals
@pytest.mark.parametrize("width, radius, max_radial", [(0.3, 4.0, 6), (0.6, 3.0, 3), (0.15, 5.0, 4)])
def test_analytic_gaussian_integral_matches_quadrature(width, radius, max_radial):
    basis = GtoBasis(max_radial, radius)
    d = np.linspace(0.0, radius, 41)
    numeric_values, numeric_derivatives = numerical_gaussian_integral(
        basis, d, 6, width, radius=6 * radius + 10 * width
    )
    for l in range(7):
        values, derivatives = basis.gaussian_integral(d, l, width)
        scale = np.abs(values).max()
        np.testing.assert_allclose(values, numeric_values[l], atol=1e-12 * scale)
        np.testing.assert_allclose(derivatives, numeric_derivatives[l], atol=1e-11 * scale / width)
        fd = central_difference(lambda x: basis.gaussian_integral(x, l, width)[0], d[1:])
        np.testing.assert_allclose(derivatives[1:], fd, atol=1e-6 * scale / width)


def test_gaussian_integral_is_stable_for_narrow_densities():
    # exp(+b²/4a) would overflow without Kummer's transformation here
    basis = GtoBasis(8, 8.0)
    values, derivatives = basis.gaussian_integral(np.linspace(0, 8, 9), 5, 0.05)
    assert np.all(np.isfinite(values)) and np.all(np.isfinite(derivatives))
    assert np.abs(values).max() > 1e-3


def test_narrow_gaussian_tends_to_delta():
    basis = GtoBasis(3, 3.0)
    d = np.linspace(0.5, 3.0, 11)
    delta, _ = basis.compute(d)
    width = 0.02
    gaussian, _ = basis.gaussian_integral(d, 0, width)
    # a narrow density is (∫ g d³r) δ = 2^{3/2} π^{3/4} σ^{3/2} δ
    weight = 2**1.5 * np.pi**0.75 * width**1.5
    np.testing.assert_allclose(gaussian / weight, delta, atol=2e-3 * np.abs(delta).max())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "basis, density, max_angular",
    [
        (GtoBasis(5, 3.5), Gaussian(0.3), 5),
        (GtoBasis(3, 3.0), DiracDelta(), 3),
        (LaplacianEigenstateBasis(3.0, 3), DiracDelta(), None),
        (LaplacianEigenstateBasis(3.0, 2, max_angular=3), Gaussian(0.5), None),
    ],
)
def test_spline_accuracy(device, basis, density, max_angular):
    integral = RadialIntegral(basis, density, cutoff=basis.radius, max_angular=max_angular).to(device)
    rng = np.random.default_rng(0)
    d = np.concatenate([rng.uniform(0, basis.radius, 2000), [0.0, basis.radius]])
    exact_values, exact_derivatives = integral.compute_exact(d)
    values, derivatives = integral.compute(torch.tensor(d, device=device))
    for l in range(integral.max_angular + 1):
        assert values[l].shape == (len(d), integral.radial_sizes[l])
        np.testing.assert_allclose(values[l].cpu().numpy(), exact_values[l], atol=1e-8, rtol=0)
        np.testing.assert_allclose(derivatives[l].cpu().numpy(), exact_derivatives[l], atol=1e-6, rtol=0)


def test_spline_derivatives_are_autograd_derivatives():
    integral = RadialIntegral(GtoBasis(4, 3.0), Gaussian(0.4), cutoff=3.0, max_angular=2)
    d = torch.linspace(0.01, 2.99, 50, dtype=torch.float64, requires_grad=True)
    values, derivatives = integral.compute(d)
    for l in range(3):
        for n in range(5):
            (grad,) = torch.autograd.grad(values[l][:, n].sum(), d, retain_graph=True)
            assert torch.allclose(grad, derivatives[l][:, n], atol=1e-12)
    # float32 runs too, with float32 outputs
    values32, _ = integral.compute(d.detach().float())
    assert values32[0].dtype == torch.float32
    assert torch.allclose(values32[1].double(), values[1].detach(), atol=1e-5)


@pytest.mark.parametrize("n_points", [7, 100_000])  # one block, and three blocks
def test_spline_weights_and_blocks_match_the_autograd_path(n_points):
    """The block-wise evaluation (no autograd) equals the differentiable one, and the
    ``weights`` give ``w f`` and ``(w f)' = w' f + w f'``, the latter checked by autograd."""
    spline = CubicHermiteSpline.with_accuracy(
        lambda x: np.stack([np.sin(2 * x), np.exp(-x) * x, x**2], axis=1),
        lambda x: np.stack([2 * np.cos(2 * x), np.exp(-x) * (1 - x), 2 * x], axis=1),
        0.0, 4.0, accuracy=1e-9,
    )
    x = torch.tensor(np.random.default_rng(2).uniform(0, 4, n_points), requires_grad=True)
    weight = torch.cos(x) ** 2
    (weight_derivative,) = torch.autograd.grad(weight.sum(), x, retain_graph=True)

    values, derivatives = spline.compute(x, weights=(weight, weight_derivative))
    for column in range(3):
        (grad,) = torch.autograd.grad(values[:, column].sum(), x, retain_graph=True)
        assert torch.allclose(grad, derivatives[:, column], atol=1e-12, rtol=0)

    with torch.no_grad():
        plain_values, plain_derivatives = spline.compute(x.detach())
        block_values, block_derivatives = spline.compute(
            x.detach(), weights=(weight.detach(), weight_derivative)
        )
        only_values, none = spline.compute(x.detach(), compute_derivatives=False)
    assert none is None
    assert torch.allclose(only_values, plain_values, atol=1e-15, rtol=0)
    assert torch.allclose(block_values, values.detach(), atol=1e-14, rtol=0)
    assert torch.allclose(block_derivatives, derivatives.detach(), atol=1e-12, rtol=0)
    assert torch.allclose(block_values, weight.detach()[:, None] * plain_values, atol=1e-14)


@settings(max_examples=20, deadline=None)
@given(st.floats(0.05, 2.0), st.floats(0.0, 1.0))
def test_generic_spline_accuracy(frequency, shift):
    spline = CubicHermiteSpline.with_accuracy(
        lambda x: np.stack([np.sin(frequency * x + shift), np.exp(-x) * x], axis=1),
        lambda x: np.stack([frequency * np.cos(frequency * x + shift), np.exp(-x) * (1 - x)], axis=1),
        0.0, 10.0, accuracy=1e-9,
    )
    x = np.random.default_rng(1).uniform(0, 10, 500)
    values, derivatives = spline.compute(torch.tensor(x))
    assert np.abs(values[:, 0].numpy() - np.sin(frequency * x + shift)).max() < 1e-9
    assert np.abs(derivatives[:, 1].numpy() - np.exp(-x) * (1 - x)).max() < 1e-7


def test_spline_errors():
    with pytest.raises(ValueError, match="NaN or infinity"):
        CubicHermiteSpline(0, 1, [[0.0], [np.nan]], [[0.0], [0.0]])
    with pytest.raises(ValueError, match="`derivatives` must have the shape"):
        CubicHermiteSpline(0, 1, [[0.0], [1.0]], [[0.0]])
    with pytest.raises(TypeError, match="`basis` must be a GtoBasis"):
        RadialIntegral("gto", Gaussian(0.3), 3.0)
    with pytest.raises(ValueError, match="`max_angular` is required"):
        RadialIntegral(GtoBasis(2, 3.0), Gaussian(0.3), 3.0)


# ------------------------------------------------------------------ featomic reference
REFERENCE_CASES = ["gto_gaussian_cosine", "gto_gaussian_scaling", "gto_delta", "le_delta"]


@pytest.mark.parametrize("name", REFERENCE_CASES)
def test_matches_featomic_spherical_expansion(name):
    """Two-atom expansions: c_nlm = f_cut s I_nl Y_lm, centre term w I_n0(0) Y_00."""
    reference = np.load(DATA)
    hypers = json.loads(str(reference[f"{name}/hypers"]))
    distances = reference["distances"]
    integral = RadialIntegral.from_hypers(hypers["cutoff"], hypers["density"], hypers["basis"])
    d = torch.tensor(distances)
    cutoff, _ = smoothing_from_hypers(hypers["cutoff"].get("smoothing")).compute(d, hypers["cutoff"]["radius"])
    scaling = scaling_from_hypers(hypers["density"].get("scaling"))
    factor = cutoff * (scaling.compute(d)[0] if scaling is not None else 1.0)
    splined, _ = integral.compute(d)
    exact, _ = integral.compute_exact(distances)
    # featomic's native GTO + Gaussian is exact; the others went through its splines
    native = name.startswith("gto_gaussian")
    for l in integral.angular_channels:
        expected = reference[f"{name}/l{l}"]
        assert expected.shape == (len(distances), 2 * l + 1, integral.radial_sizes[l])
        y_l0 = math.sqrt((2 * l + 1) / (4 * math.pi))  # neighbour along +z
        for values, atol in [(splined[l].numpy(), 1e-8), (exact[l], 1e-12 if native else 1e-8)]:
            ours = np.zeros_like(expected)
            ours[:, l, :] = factor.numpy()[:, None] * values * y_l0
            np.testing.assert_allclose(ours, expected, atol=atol, rtol=0)
    weight = hypers["density"].get("center_atom_weight", 1.0)
    center = weight * integral.center_contribution().numpy() / math.sqrt(4 * math.pi)
    np.testing.assert_allclose(center, reference[f"{name}/center"], atol=1e-12)
