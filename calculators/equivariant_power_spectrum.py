"""λ-SOAP computed from atomic structures: the spherical expansion of
:class:`~calculators.spherical_expansion.SphericalExpansion` coupled with itself by
:class:`blocktensor.o3.EquivariantPowerSpectrum` (the Clebsch–Gordan machinery lives in
:mod:`blocktensor.o3`; this module only chains the two)."""

from typing import List, Optional

import torch

from blocktensor import Labels, TensorMap
from blocktensor.o3 import EquivariantPowerSpectrum as _DensityEquivariantPowerSpectrum

from .spherical_expansion import SphericalExpansion

__all__ = ["EquivariantPowerSpectrum"]


class EquivariantPowerSpectrum(torch.nn.Module):
    """Equivariant power spectrum (λ-SOAP) of atomic structures.

    .. math::

        ρ^{\\otimes 2}_{λ μ}(i) = (-1)^{l_1 + l_2 + λ}
            \\sum_{m_1 m_2} C^{λ μ}_{l_1 m_1 l_2 m_2}\\,
            c^{a}_{n_1 l_1 m_1}(i)\\, c^{b}_{n_2 l_2 m_2}(i)

    with ``c`` the spherical expansion of featomic-style hyper-parameters and ``C`` the
    real Clebsch–Gordan coefficients. Output metadata is that of featomic's
    ``clebsch_gordan.EquivariantPowerSpectrum``: keys ``o3_lambda, o3_sigma, center_type``
    (plus ``neighbor_1_type, neighbor_2_type`` unless ``neighbors_to_properties``),
    properties ``l_1, l_2, [neighbor_1_type,] n_1, [neighbor_2_type,] n_2``. Explicit
    ``positions``/``strain`` gradients of the expansion are carried through the product
    (product rule); values are differentiable by autograd.

    Parameters
    ----------
    cutoff, density, basis:
        hyper-parameters of the spherical expansion, as for
        :class:`~calculators.spherical_expansion.SphericalExpansion`.
    max_angular:
        largest ``o3_lambda`` of the output (default: twice the expansion's).
    neighbors_to_properties:
        move ``neighbor_type`` to the properties before coupling.
    neighbor_types:
        with ``neighbors_to_properties``, the neighbour types of the properties (pass them
        to get the same properties for any set of structures).

    Examples
    --------
    >>> import ase
    >>> calculator = EquivariantPowerSpectrum(
    ...     cutoff={"radius": 3.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
    ...     density={"type": "Gaussian", "width": 0.3},
    ...     basis={"type": "TensorProduct", "max_angular": 2,
    ...            "radial": {"type": "Gto", "max_radial": 2}},
    ...     max_angular=1, neighbors_to_properties=True,
    ... )
    >>> water = ase.Atoms("OH2", positions=[[0, 0, 0], [0, 0.76, 0.59], [0, -0.76, 0.59]])
    >>> lsoap = calculator.compute(water, gradients=["positions"])
    >>> lsoap.keys.names
    ['o3_lambda', 'o3_sigma', 'center_type']
    >>> sorted({int(k["o3_lambda"]) for k in lsoap.keys})
    [0, 1]
    """

    def __init__(self, *, cutoff, density, basis, max_angular: Optional[int] = None,
                 neighbors_to_properties: bool = False,
                 neighbor_types: Optional[List[int]] = None):
        super().__init__()
        self.spherical_expansion = SphericalExpansion(cutoff=cutoff, density=density,
                                                      basis=basis)
        self.product = _DensityEquivariantPowerSpectrum(
            max_angular=max_angular,
            neighbors_to_properties=neighbors_to_properties,
            neighbor_types=neighbor_types,
        )

    def compute(self, systems, gradients=None, selected_keys: Optional[Labels] = None,
                selected_samples: Optional[Labels] = None) -> TensorMap:
        """λ-SOAP of ``systems`` (``ase.Atoms``, :class:`~calculators.system.System` or a
        list of them) with the requested explicit ``gradients``; ``selected_keys`` restricts
        the output blocks (before they are computed), ``selected_samples`` the centres."""
        density = self.spherical_expansion.compute(
            systems, gradients=gradients, selected_samples=selected_samples
        )
        return self.product.compute(density, selected_keys=selected_keys)

    def forward(self, systems, gradients=None, selected_keys: Optional[Labels] = None,
                selected_samples: Optional[Labels] = None) -> TensorMap:
        return self.compute(systems, gradients, selected_keys, selected_samples)
