r"""Radial bases, atomic densities and splined radial integrals (featomic 0.6 conventions).

Normalisation (checked against featomic 0.6.7 to ~1e-14, see
``tests/data/generate_radial.py``)
-----------------------------------------------------------------------------------
featomic's ``SphericalExpansion`` is

.. math::

    c^{i}_{nlm} = \sum_{j} f_\mathrm{cut}(r_{ij})\, s(r_{ij})\, I_{nl}(r_{ij})\,
                  Y_{lm}(\hat r_{ij})
                  \;+\; \delta_{l0}\, w_\mathrm{center}\, I_{n0}(0)\, Y_{00}

with :math:`Y_{lm}` the real spherical harmonics orthonormal on the sphere
(:math:`Y_{00} = 1/\sqrt{4\pi}`), :math:`s` the optional radial scaling (not applied to
the centre term) and the *radial integral*

.. math::

    I_{nl}(d) = 4\pi \int_0^\infty r^2 R_{nl}(r)\, g_l(r; d)\, \mathrm dr,
    \qquad
    g_l(r; d) = \frac{1}{(\pi\sigma^2)^{3/4}} e^{-(r^2 + d^2)/(2\sigma^2)}\,
                i_l\!\left(\frac{r d}{\sigma^2}\right)

for a Gaussian density :math:`(\pi\sigma^2)^{-3/4} e^{-r^2/(2\sigma^2)}` (``i_l`` the
modified spherical Bessel function of the first kind); for a Dirac delta density
:math:`I_{nl}(d) = R_{nl}(d)`. No other factor of :math:`4\pi` or :math:`\sqrt{4\pi}`
appears.

GTO basis: primitives :math:`r^n e^{-r^2/(2\sigma_n^2)}` with
:math:`\sigma_n = r_c \max(\sqrt n, 1)/(n_\mathrm{max} + 1)`, normalised so that
:math:`\int_0^\infty r^2 R_n^2 = 1` (:math:`N_n^2 = 2 / (\Gamma(n + 3/2)\,\sigma_n^{2n+3})`)
and Löwdin-orthonormalised with the analytic overlap
:math:`S_{nm} = N_n N_m \Gamma(\tfrac{n+m+3}{2}) / (2\, \alpha_{nm}^{(n+m+3)/2})`,
:math:`\alpha_{nm} = (\sigma_n^{-2} + \sigma_m^{-2})/2`. With a Gaussian density the
primitive integral is analytic:

.. math::

    4\pi \int_0^\infty r^{2+n} N_n e^{-a r^2 - d^2/(2\sigma^2)} i_l(b r)\,\mathrm dr
    = C_{nl}\, d^l\, e^{-d^2 / (2(\sigma^2 + \sigma_n^2))}\,
      {}_1F_1\!\left(\tfrac{l - n}{2};\, l + \tfrac32;\, -\tfrac{b^2}{4a}\right)

with :math:`a = \tfrac{1}{2\sigma^2} + \tfrac{1}{2\sigma_n^2}`, :math:`b = d/\sigma^2`,
:math:`C_{nl} = \frac{4\pi N_n}{(\pi\sigma^2)^{3/4}}\frac{\sqrt\pi}{4}
\frac{\Gamma((n+l+3)/2)}{\Gamma(l+3/2)\,(2\sigma^2)^l\, a^{(n+l+3)/2}}`, written with
Kummer's transformation so nothing overflows.

Laplacian eigenstate (LE) basis (Bigi et al. 2022):
:math:`R_{nl}(r) = j_l(z_{ln} r / r_c) \big/ \sqrt{r_c^3 j_{l+1}(z_{ln})^2 / 2}`
(orthonormal on :math:`[0, r_c]` with weight :math:`r^2`), :math:`z_{ln}` the n-th
positive zero of :math:`j_l`; every :math:`(l, n)` with
:math:`z_{ln} \le z_{0, n_\mathrm{max}}` is kept. Its Gaussian-density integral is
computed by Gauss–Legendre quadrature over :math:`[0, r_c]` (as featomic does).

At run time only :class:`RadialIntegral` is used: it tabulates :math:`I_{nl}` and
:math:`\partial_d I_{nl}` in cubic Hermite splines with a guaranteed maximal error.
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np
import scipy.optimize
import scipy.special
import torch

from .splines import CubicHermiteSpline

__all__ = [
    "GtoBasis",
    "LaplacianEigenstateBasis",
    "DiracDelta",
    "Gaussian",
    "RadialIntegral",
    "spherical_bessel_zeros",
]


# ---------------------------------------------------------------------------------------
# densities
# ---------------------------------------------------------------------------------------
class DiracDelta:
    """Point-like atomic density: the radial integral is the radial basis itself.

    Examples
    --------
    >>> DiracDelta()
    DiracDelta()
    """

    def __repr__(self) -> str:
        return "DiracDelta()"


class Gaussian:
    """Gaussian atomic density ``(π σ²)^(-3/4) exp(-r² / (2 σ²))``.

    Parameters
    ----------
    width : float
        ``σ > 0``.

    Examples
    --------
    >>> Gaussian(width=0.3)
    Gaussian(width=0.3)
    """

    def __init__(self, width: float):
        width = float(width)
        if not (width > 0 and math.isfinite(width)):
            raise ValueError(f"`width` must be a positive number, found {width}")
        self.width = width

    def __repr__(self) -> str:
        return f"Gaussian(width={self.width})"


# ---------------------------------------------------------------------------------------
# bases
# ---------------------------------------------------------------------------------------
def _check_max_radial(max_radial):
    if int(max_radial) != max_radial or max_radial < 0:
        raise ValueError(f"`max_radial` must be a non-negative integer, found {max_radial}")
    return int(max_radial)


def _check_radius(radius):
    radius = float(radius)
    if not (radius > 0 and math.isfinite(radius)):
        raise ValueError(f"`radius` must be a positive number, found {radius}")
    return radius


class GtoBasis:
    """Orthonormalised Gaussian-type-orbital radial basis (featomic ``Gto``).

    Parameters
    ----------
    max_radial : int
        Inclusive: ``max_radial + 1`` functions.
    radius : float
        ``r_c`` in the widths ``σ_n = r_c max(√n, 1) / (max_radial + 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> basis = GtoBasis(max_radial=3, radius=4.0)
    >>> r = np.linspace(0, 30, 30001)
    >>> values, _ = basis.compute(r)
    >>> overlap = (values * r[:, None] ** 2).T @ values * (r[1] - r[0])
    >>> bool(np.allclose(overlap, np.eye(4), atol=1e-6))
    True
    """

    def __init__(self, max_radial: int, radius: float):
        self.max_radial = _check_max_radial(max_radial)
        self.radius = _check_radius(radius)
        n = np.arange(self.max_radial + 1, dtype=np.float64)
        self.sigmas = self.radius * np.maximum(np.sqrt(n), 1.0) / (self.max_radial + 1)
        log_norm = 0.5 * (
            math.log(2.0) - scipy.special.gammaln(n + 1.5) - (2 * n + 3) * np.log(self.sigmas)
        )
        self.normalizations = np.exp(log_norm)
        alpha = 0.5 * (1 / self.sigmas[:, None] ** 2 + 1 / self.sigmas[None, :] ** 2)
        power = (n[:, None] + n[None, :] + 3) / 2
        overlap = np.exp(
            log_norm[:, None]
            + log_norm[None, :]
            + scipy.special.gammaln(power)
            - math.log(2.0)
            - power * np.log(alpha)
        )
        eigenvalues, eigenvectors = np.linalg.eigh(overlap)
        if np.any(eigenvalues < 1e-12):
            raise ValueError(
                f"GTO basis with max_radial={self.max_radial} is numerically linearly "
                "dependent (overlap matrix singular); use fewer radial functions"
            )
        self.overlap = overlap
        #: maps normalised primitives to orthonormal functions: R = O @ primitives
        self.orthonormalization = (eigenvectors / np.sqrt(eigenvalues)) @ eigenvectors.T

    @property
    def size(self) -> int:
        return self.max_radial + 1

    def radial_size(self, angular: int) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"GtoBasis(max_radial={self.max_radial}, radius={self.radius})"

    def compute_primitive(self, r: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Normalised (not orthogonalised) primitives and derivatives, (len(r), size)."""
        r = np.asarray(r, dtype=np.float64)[:, None]
        n = np.arange(self.size)[None, :]
        gaussian = np.exp(-0.5 * (r / self.sigmas) ** 2) * self.normalizations
        values = r**n * gaussian
        # n r^(n-1) written so that n = 0 gives 0 rather than 0 * inf at r = 0
        lower = np.where(n > 0, n * r ** np.maximum(n - 1, 0), 0.0)
        derivatives = (lower - r ** (n + 1) / self.sigmas**2) * gaussian
        return values, derivatives

    def compute(self, r: np.ndarray, angular: int = 0) -> Tuple[np.ndarray, np.ndarray]:
        """Orthonormal basis values and derivatives at ``r``: (len(r), size) each."""
        values, derivatives = self.compute_primitive(r)
        return values @ self.orthonormalization.T, derivatives @ self.orthonormalization.T

    def gaussian_integral(
        self, distances: np.ndarray, angular: int, width: float
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Analytic radial integral of a Gaussian density (module docstring).

        Returns values and derivatives with respect to the distance, (len(d), size).
        """
        d = np.asarray(distances, dtype=np.float64)[:, None]
        n = np.arange(self.size, dtype=np.float64)[None, :]
        l = float(angular)
        sigma_sq = width**2
        a = 0.5 / sigma_sq + 0.5 / self.sigmas**2
        k = 1.0 / (4 * sigma_sq**2 * a)  # b² / (4a) = k d²
        upper = (n + l + 3) / 2
        lower = l + 1.5
        log_prefactor = (
            math.log(4 * math.pi)
            - 0.75 * math.log(math.pi * sigma_sq)
            + np.log(self.normalizations)
            + 0.5 * math.log(math.pi)
            - math.log(4.0)
            - l * math.log(2 * sigma_sq)
            - upper * np.log(a)
            + scipy.special.gammaln(upper)
            - scipy.special.gammaln(lower)
        )
        prefactor = np.exp(log_prefactor)
        x = -k * d**2
        envelope = np.exp(-(d**2) / (2 * (sigma_sq + self.sigmas**2)))
        m0 = scipy.special.hyp1f1(lower - upper, lower, x)
        m1 = scipy.special.hyp1f1(lower - upper + 1, lower + 1, x)
        d_l = d**l
        values = prefactor * d_l * envelope * m0
        d_l_minus_1 = (l * d ** max(l - 1, 0)) if l > 0 else np.zeros_like(d)
        derivatives = prefactor * envelope * (
            d_l_minus_1 * m0
            - d_l * d / (sigma_sq + self.sigmas**2) * m0
            - 2 * k * d_l * d * (lower - upper) / lower * m1
        )
        return values @ self.orthonormalization.T, derivatives @ self.orthonormalization.T


def spherical_bessel_zeros(max_angular: int, count: int) -> np.ndarray:
    """First ``count`` positive zeros of ``j_l`` for ``l = 0..max_angular``.

    Uses the interlacing of the zeros of ``j_l`` and ``j_(l+1)``.

    Examples
    --------
    >>> zeros = spherical_bessel_zeros(1, 2)
    >>> bool(np.allclose(zeros[0], [np.pi, 2 * np.pi])), round(float(zeros[1, 0]), 6)
    (True, 4.493409)
    """
    total = count + max_angular
    zeros = np.zeros((max_angular + 1, count))
    previous = np.pi * np.arange(1, total + 1)
    zeros[0] = previous[:count]
    for l in range(1, max_angular + 1):
        brackets = np.concatenate([previous, [previous[-1] + np.pi]])
        current = np.array(
            [
                scipy.optimize.brentq(
                    lambda z: scipy.special.spherical_jn(l, z),
                    brackets[i],
                    brackets[i + 1],
                    xtol=1e-15,
                    rtol=4 * np.finfo(float).eps,
                )
                for i in range(total - l)
            ]
        )
        zeros[l] = current[:count]
        previous = current
    return zeros


class LaplacianEigenstateBasis:
    """Laplacian eigenstate radial basis (Bigi et al., J. Chem. Phys. 2022).

    ``R_nl(r) ∝ j_l(z_ln r / r_c)``, orthonormal on ``[0, r_c]``; keeps all ``(l, n)``
    whose Laplacian eigenvalue ``z_ln²`` does not exceed ``z_{0,max_radial}²``.

    Parameters
    ----------
    radius : float
        ``r_c``.
    max_radial : int
        Largest ``n`` for ``l = 0``; other ``l`` get fewer functions.
    max_angular : int, optional
        Truncate at this ``l``; by default all ``l`` with at least one function.

    Examples
    --------
    >>> basis = LaplacianEigenstateBasis(radius=5.0, max_radial=3)
    >>> basis.max_angular, [basis.radial_size(l) for l in range(basis.max_angular + 1)]
    (7, [4, 3, 3, 2, 2, 1, 1, 1])
    """

    def __init__(self, radius: float, max_radial: int, max_angular: Optional[int] = None):
        self.radius = _check_radius(radius)
        self.max_radial = _check_max_radial(max_radial)
        max_eigenvalue = np.pi * (self.max_radial + 1)  # zero n of j_0 is (n + 1) π
        # zeros of j_l start above l + 1/2 (roughly), so this bounds the useful l
        l_bound = int(max_eigenvalue) + 1
        if max_angular is not None:
            if int(max_angular) != max_angular or max_angular < 0:
                raise ValueError(
                    f"`max_angular` must be a non-negative integer, found {max_angular}"
                )
            l_bound = min(l_bound, int(max_angular))
        zeros = spherical_bessel_zeros(l_bound, self.max_radial + 1)
        sizes = (zeros <= max_eigenvalue * (1 + 1e-12)).sum(axis=1)
        last = int(np.nonzero(sizes)[0][-1])
        self.max_angular = last if max_angular is None else int(max_angular)
        if self.max_angular > last:
            raise ValueError(
                f"`max_angular` ({max_angular}) is above the largest angular channel with "
                f"a Laplacian eigenvalue below the cutoff ({last})"
            )
        self.zeros = [zeros[l, : sizes[l]] for l in range(self.max_angular + 1)]
        self.normalizations = [
            1.0 / np.sqrt(self.radius**3 / 2 * scipy.special.spherical_jn(l + 1, z) ** 2)
            for l, z in enumerate(self.zeros)
        ]

    def radial_size(self, angular: int) -> int:
        return len(self.zeros[angular])

    def __repr__(self) -> str:
        return (
            f"LaplacianEigenstateBasis(radius={self.radius}, max_radial={self.max_radial}, "
            f"max_angular={self.max_angular})"
        )

    def compute(self, r: np.ndarray, angular: int) -> Tuple[np.ndarray, np.ndarray]:
        """Values and derivatives of ``R_nl`` for one ``l``: (len(r), radial_size(l))."""
        r = np.asarray(r, dtype=np.float64)[:, None]
        scale = self.zeros[angular][None, :] / self.radius
        values = scipy.special.spherical_jn(angular, r * scale) * self.normalizations[angular]
        derivatives = (
            scipy.special.spherical_jn(angular, r * scale, derivative=True)
            * scale
            * self.normalizations[angular]
        )
        return values, derivatives


# ---------------------------------------------------------------------------------------
# radial integrals
# ---------------------------------------------------------------------------------------
def _scaled_spherical_in(l, z: np.ndarray) -> np.ndarray:
    """``exp(-z) i_l(z)`` for z ≥ 0 (``l`` int or broadcastable int array)."""
    safe = np.where(z > 0, z, 1.0)
    result = np.sqrt(0.5 * np.pi / safe) * scipy.special.ive(l + 0.5, safe)
    at_zero = np.where(np.asarray(l) == 0, 1.0, 0.0)
    return np.where(z > 0, result, at_zero)


def numerical_gaussian_integral(
    basis,
    distances: np.ndarray,
    max_angular: int,
    width: float,
    radius: float,
    panels: Optional[int] = None,
) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """Gaussian-density radial integrals of any basis by Gauss–Legendre quadrature.

    Integrates ``r`` over ``[0, radius]`` with ``panels`` panels of 16 nodes (by default
    panels of width ≤ σ, which converges to machine precision for the smooth
    integrand). Returns lists over ``l = 0..max_angular`` of values and distance
    derivatives, (len(distances), radial_size(l)).
    """
    if panels is None:
        panels = max(16, math.ceil(radius / width))
    nodes, weights = np.polynomial.legendre.leggauss(16)
    edges = np.linspace(0.0, radius, panels + 1)
    half = 0.5 * np.diff(edges)
    r = ((edges[:-1] + half)[:, None] + half[:, None] * nodes[None, :]).ravel()
    w = (half[:, None] * weights[None, :]).ravel()

    sigma_sq = width**2
    d = np.asarray(distances, dtype=np.float64)
    # e^{-(r² + d²)/2σ²} i_l(z) = e^{-(r - d)²/2σ²} (e^{-z} i_l(z)) and the Gaussian
    # factor is below 1e-16 beyond 8.6σ: only those (d, r) entries are evaluated
    rows, cols = np.nonzero(np.abs(r[None, :] - d[:, None]) < 8.6 * width)
    z = d[rows] * r[cols] / sigma_sq
    gauss = np.exp(-((r[cols] - d[rows]) ** 2) / (2 * sigma_sq))
    orders = np.arange(max_angular + 2)[:, None]
    bessel = _scaled_spherical_in(orders, z[None, :])  # (max_angular + 2, n_entries)
    prefactor = 4 * np.pi / (np.pi * sigma_sq) ** 0.75
    values, derivatives = [], []
    for l in range(max_angular + 1):
        if l == 0:
            bessel_derivative = bessel[1]
        else:
            bessel_derivative = (l * bessel[l - 1] + (l + 1) * bessel[l + 1]) / (2 * l + 1)
        kernel = np.zeros((len(d), len(r)))
        kernel[rows, cols] = gauss * bessel[l]
        kernel_derivative = np.zeros((len(d), len(r)))
        kernel_derivative[rows, cols] = (
            gauss * (r[cols] * bessel_derivative - d[rows] * bessel[l]) / sigma_sq
        )
        basis_values, _ = basis.compute(r, l)
        weighted = (w * r**2)[:, None] * basis_values
        values.append(prefactor * kernel @ weighted)
        derivatives.append(prefactor * kernel_derivative @ weighted)
    return values, derivatives


class RadialIntegral(torch.nn.Module):
    """Splined radial integrals ``I_nl(d)`` for all angular channels.

    Parameters
    ----------
    basis : GtoBasis or LaplacianEigenstateBasis
    density : DiracDelta or Gaussian
    cutoff : float
        Splines cover ``[0, cutoff]``.
    max_angular : int, optional
        Required for :class:`GtoBasis`; defaults to ``basis.max_angular`` for the LE
        basis.
    accuracy : float
        Maximal absolute error of the splined values (derivatives: 100 × that).

    Examples
    --------
    >>> import torch
    >>> integral = RadialIntegral(
    ...     GtoBasis(max_radial=4, radius=3.0), Gaussian(width=0.4), cutoff=3.0,
    ...     max_angular=2,
    ... )
    >>> values, derivatives = integral.compute(torch.tensor([1.0, 2.0], dtype=torch.float64))
    >>> len(values), tuple(values[2].shape)
    (3, (2, 5))
    >>> exact, _ = integral.compute_exact(np.array([1.0, 2.0]))
    >>> bool(torch.allclose(values[2], torch.from_numpy(exact[2]), atol=1e-8))
    True
    """

    def __init__(
        self,
        basis,
        density=None,
        cutoff: Optional[float] = None,
        max_angular: Optional[int] = None,
        accuracy: float = 1e-8,
    ):
        super().__init__()
        if not isinstance(basis, (GtoBasis, LaplacianEigenstateBasis)):
            raise TypeError(
                "`basis` must be a GtoBasis or a LaplacianEigenstateBasis, "
                f"found {type(basis).__name__}"
            )
        if density is None:
            density = DiracDelta()
        if not isinstance(density, (DiracDelta, Gaussian)):
            raise TypeError(
                f"`density` must be a DiracDelta or a Gaussian, found {type(density).__name__}"
            )
        if max_angular is None:
            if isinstance(basis, GtoBasis):
                raise ValueError("`max_angular` is required with a GtoBasis")
            max_angular = basis.max_angular
        if int(max_angular) != max_angular or max_angular < 0:
            raise ValueError(f"`max_angular` must be a non-negative integer, found {max_angular}")
        if isinstance(basis, LaplacianEigenstateBasis) and max_angular > basis.max_angular:
            raise ValueError(
                f"`max_angular` ({max_angular}) exceeds the basis' max_angular "
                f"({basis.max_angular})"
            )
        self.basis = basis
        self.density = density
        self.cutoff = _check_radius(basis.radius if cutoff is None else cutoff)
        self.max_angular = int(max_angular)
        self.accuracy = float(accuracy)
        self.radial_sizes: List[int] = [
            basis.radial_size(l) for l in range(self.max_angular + 1)
        ]
        self._split = np.cumsum([0] + self.radial_sizes).tolist()

        cache = {}

        def evaluate(x):
            # the spline builder asks for values then derivatives at the same points
            key = (x.shape[0], x[0], x[-1])
            if key not in cache:
                cache.clear()
                values, derivatives = self.compute_exact(x)
                cache[key] = (np.concatenate(values, axis=1), np.concatenate(derivatives, axis=1))
            return cache[key]

        def values_fn(x):
            return evaluate(x)[0]

        def derivatives_fn(x):
            return evaluate(x)[1]

        self.spline = CubicHermiteSpline.with_accuracy(
            values_fn, derivatives_fn, 0.0, self.cutoff, accuracy=self.accuracy
        )
        center, _ = self.compute_exact(np.zeros(1))
        self.register_buffer("_center", torch.from_numpy(center[0][0].copy()))

    def extra_repr(self) -> str:
        return (
            f"basis={self.basis!r}, density={self.density!r}, cutoff={self.cutoff}, "
            f"max_angular={self.max_angular}, spline_points={self.spline.n_points}"
        )

    @property
    def angular_channels(self) -> List[int]:
        return list(range(self.max_angular + 1))

    def compute_exact(self, distances: np.ndarray) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Direct (unsplined) float64 evaluation: lists over ``l`` of (n, n_radial_l)."""
        distances = np.asarray(distances, dtype=np.float64)
        if isinstance(self.density, Gaussian) and not isinstance(self.basis, GtoBasis):
            return numerical_gaussian_integral(
                self.basis, distances, self.max_angular, self.density.width, self.basis.radius
            )
        values, derivatives = [], []
        for l in range(self.max_angular + 1):
            if isinstance(self.density, DiracDelta):
                v, d = self.basis.compute(distances, l)
            else:
                v, d = self.basis.gaussian_integral(distances, l, self.density.width)
            values.append(v)
            derivatives.append(d)
        return values, derivatives

    def compute(self, distances: torch.Tensor) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """Splined ``I_nl(d)`` and ``dI_nl/dd`` at ``distances`` (1-D tensor).

        Returns
        -------
        values, derivatives : list over l of tensors (n_pairs, radial_sizes[l])
            In the dtype/device of ``distances``; values are differentiable by autograd
            and ``derivatives`` is their exact derivative.
        """
        values, derivatives = self.spline.compute(distances)
        split = [values[:, a:b] for a, b in zip(self._split[:-1], self._split[1:])]
        split_d = [derivatives[:, a:b] for a, b in zip(self._split[:-1], self._split[1:])]
        return split, split_d

    def forward(self, distances: torch.Tensor):
        return self.compute(distances)

    def center_contribution(self, dtype=None, device=None) -> torch.Tensor:
        """``I_n0(0)`` (shape (radial_sizes[0],)): multiply by ``Y_00 = 1/√(4π)`` and
        the centre weight for the centre's own density."""
        return self._center.to(device=device, dtype=dtype)

    @classmethod
    def from_hypers(cls, cutoff: dict, density: dict, basis: dict) -> "RadialIntegral":
        """Build from featomic-0.6-style hyper dicts.

        Examples
        --------
        >>> integral = RadialIntegral.from_hypers(
        ...     cutoff={"radius": 3.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
        ...     density={"type": "Gaussian", "width": 0.3},
        ...     basis={"type": "TensorProduct", "max_angular": 2,
        ...            "radial": {"type": "Gto", "max_radial": 3}},
        ... )
        >>> integral.radial_sizes
        [4, 4, 4]
        """
        radius = _check_radius(cutoff["radius"])
        kind = density.get("type")
        if kind == "Gaussian":
            density_obj = Gaussian(density["width"])
        elif kind == "DiracDelta":
            density_obj = DiracDelta()
        else:
            raise ValueError(f"`density` type must be 'Gaussian' or 'DiracDelta', found {kind!r}")
        accuracy = basis.get("spline_accuracy", 1e-8) or 1e-8
        if basis.get("type") == "TensorProduct":
            radial = basis["radial"]
            if radial.get("type") != "Gto":
                raise ValueError(f"`basis.radial` type must be 'Gto', found {radial.get('type')!r}")
            basis_obj = GtoBasis(radial["max_radial"], radial.get("radius", radius))
            return cls(basis_obj, density_obj, radius, basis["max_angular"], accuracy)
        if basis.get("type") == "LaplacianEigenstate":
            basis_obj = LaplacianEigenstateBasis(
                basis.get("radius", radius), basis["max_radial"], basis.get("max_angular")
            )
            return cls(basis_obj, density_obj, radius, None, accuracy)
        raise ValueError(
            "`basis` type must be 'TensorProduct' (with a Gto radial basis) or "
            f"'LaplacianEigenstate', found {basis.get('type')!r}"
        )
