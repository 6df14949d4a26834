"""Power spectra of density-like maps: invariant (SOAP) and equivariant (λ-SOAP).

Both act on any density :class:`~blocktensor.TensorMap` with keys ``o3_lambda``,
``o3_sigma``, ``center_type``, ``neighbor_type``, one ``o3_mu`` component and properties
``n`` (e.g. a spherical expansion), and give the same metadata and values as featomic's
``clebsch_gordan.PowerSpectrum`` and ``clebsch_gordan.EquivariantPowerSpectrum`` given the
same densities. Gradient blocks of the densities (positions, strain) propagate.
"""

from typing import List, Optional

import numpy as np
import torch

from ..labels import Labels
from ..operations import rename_dimension
from ..operations._utils import check_tensor_map
from ..block import TensorBlock
from ..tensor import TensorMap
from .correlations import filter_redundant_keys, increment_numeric_suffix
from .products import ClebschGordanProduct

__all__ = ["PowerSpectrum", "EquivariantPowerSpectrum"]

_DENSITY_KEYS = ["o3_lambda", "o3_sigma", "center_type", "neighbor_type"]


def _check_density(density, argument, fname):
    check_tensor_map(density, argument, fname)
    for name in _DENSITY_KEYS:
        if name not in density.keys.names:
            raise ValueError(
                f"`{argument}` in '{fname}' must have the key dimensions {_DENSITY_KEYS}, "
                f"got {density.keys.names}"
            )


def _suffixed(density, suffix, neighbors_to_properties, neighbor_types):
    """``neighbor_type`` → ``neighbor_<suffix>_type`` and every property name ``x`` →
    ``x_<suffix>``; optionally move the neighbour types to the properties."""
    new_name = f"neighbor_{suffix}_type"
    density = rename_dimension(density, "keys", "neighbor_type", new_name)
    for name in density.property_names:
        density = rename_dimension(
            density, "properties", name, increment_numeric_suffix(name, suffix)
        )
    if neighbors_to_properties:
        if neighbor_types is None:
            density = density.keys_to_properties(new_name)
        else:
            density = density.keys_to_properties(
                Labels([new_name], np.asarray(neighbor_types, dtype=np.int64).reshape(-1, 1))
            )
    return density


class PowerSpectrum(torch.nn.Module):
    """Invariant power spectrum (SOAP) of one density, or of two.

    .. math::

        p^{l}_{(a n_1)(b n_2)} = \\frac{(-1)^l}{\\sqrt{2l+1}}
            \\sum_m ρ^{a}_{n_1 l m} \\, ν^{b}_{n_2 l m}

    the λ = 0 part of a Clebsch–Gordan product, with every pair of neighbour types
    ``(a, b)`` stored (featomic's ``clebsch_gordan.PowerSpectrum`` convention; featomic's
    ``SoapPowerSpectrum`` instead stores ``a <= b`` only and the sum without the
    ``(-1)^l/√(2l+1)`` factor, times √2 for ``a != b``).

    Parameters
    ----------
    neighbor_types : list of int, optional
        Neighbour types making the properties; default: those present in the density
        (pass them explicitly to get the same properties for any set of structures).

    Examples
    --------
    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> rng = np.random.default_rng(0)
    >>> keys = Labels(_DENSITY_KEYS, [[l, 1, 1, 8] for l in range(3)])
    >>> blocks = [TensorBlock(rng.normal(size=(2, 2 * l + 1, 4)), Labels.range("atom", 2),
    ...                       [Labels.range("o3_mu", 2 * l + 1)], Labels.range("n", 4))
    ...           for l in range(3)]
    >>> soap = PowerSpectrum().compute(TensorMap(keys, blocks))
    >>> soap.keys.names, soap.block().properties.names
    (['center_type'], ['l', 'neighbor_1_type', 'n_1', 'neighbor_2_type', 'n_2'])
    >>> soap.block().values.shape
    (2, 48)
    """

    def __init__(self, neighbor_types: Optional[List[int]] = None):
        super().__init__()
        if neighbor_types is not None:
            neighbor_types = [int(t) for t in neighbor_types]
        self.neighbor_types = neighbor_types
        self._product = ClebschGordanProduct(max_angular=0)

    def forward(self, density_1, density_2=None):
        """Same as :py:meth:`compute`."""
        return self.compute(density_1, density_2)

    def compute(self, density_1: TensorMap, density_2: Optional[TensorMap] = None) -> TensorMap:
        """Power spectrum of ``density_1`` with itself, or with ``density_2``.

        Returns
        -------
        TensorMap
            Keys ``center_type``; properties ``l, neighbor_1_type, n_1, neighbor_2_type,
            n_2``; no components; gradients of the densities propagated.
        """
        fname = "PowerSpectrum.compute"
        _check_density(density_1, "density_1", fname)
        if density_2 is None:
            density_2 = density_1
        else:
            _check_density(density_2, "density_2", fname)
        for argument, density in (("density_1", density_1), ("density_2", density_2)):
            if np.any(density.keys.column("o3_sigma") != 1):
                raise ValueError(
                    f"`{argument}` in '{fname}' must only have o3_sigma = 1 blocks (a "
                    "density), found pseudotensor blocks"
                )
        types_1 = self.neighbor_types
        if types_1 is None:
            types_1 = np.unique(density_1.keys.column("neighbor_type")).tolist()
        types_2 = self.neighbor_types
        if types_2 is None:
            types_2 = np.unique(density_2.keys.column("neighbor_type")).tolist()
        first = _suffixed(density_1, 1, True, types_1)
        second = _suffixed(density_2, 2, True, types_2)
        product = self._product.compute(first, second, "l_1", "l_2")

        # λ = 0 only pairs equal l: keep (l, center_type) and drop the o3_mu axis
        names = product.keys.names
        key_values = product.keys.values[:, [names.index("l_1"), names.index("center_type")]]
        blocks = []
        for block in product.blocks():
            new = TensorBlock._unchecked(
                block.values.reshape(block.values.shape[0], block.values.shape[2]),
                block.samples, [], block.properties,
            )
            for parameter, gradient in block.gradients():
                shape = tuple(gradient.values.shape)
                values = gradient.values.reshape(shape[:-2] + shape[-1:])
                gradient_block = TensorBlock._unchecked(
                    values, gradient.samples, gradient.components[:-1], block.properties
                )
                gradient_block._is_gradient = True
                new._gradients[parameter] = gradient_block
            blocks.append(new)
        invariants = TensorMap(Labels(["l", "center_type"], key_values), blocks)
        return invariants.keys_to_properties("l")


class EquivariantPowerSpectrum(torch.nn.Module):
    """Equivariant power spectrum (λ-SOAP): the CG product of two densities.

    Same output as featomic's ``clebsch_gordan.EquivariantPowerSpectrum`` computed from the
    same densities: keys ``o3_lambda, o3_sigma, center_type`` (plus ``neighbor_1_type,
    neighbor_2_type`` unless ``neighbors_to_properties``), properties ``l_1, l_2,
    [neighbor_1_type,] n_1, [neighbor_2_type,] n_2``. As in featomic, only ``l_1 <= l_2``
    is computed (``skip_redundant``).

    Parameters
    ----------
    max_angular : int, optional
        Largest output ``o3_lambda``; default all (``2 × the densities' largest``).
    neighbors_to_properties : bool
        Move ``neighbor_type`` to the properties before the product (denser, and every
        pair of neighbour types is correlated in one block).
    neighbor_types : list of int, optional
        With ``neighbors_to_properties``: the neighbour types of the properties (default:
        those present in the densities).
    skip_redundant : bool
        Keep only ``l_1 <= l_2`` (featomic always does).

    Examples
    --------
    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> rng = np.random.default_rng(0)
    >>> keys = Labels(_DENSITY_KEYS, [[l, 1, 1, 8] for l in range(2)])
    >>> blocks = [TensorBlock(rng.normal(size=(2, 2 * l + 1, 3)), Labels.range("atom", 2),
    ...                       [Labels.range("o3_mu", 2 * l + 1)], Labels.range("n", 3))
    ...           for l in range(2)]
    >>> lsoap = EquivariantPowerSpectrum(neighbors_to_properties=True).compute(
    ...     TensorMap(keys, blocks))
    >>> lsoap.keys.values.tolist()
    [[0, 1, 1], [1, 1, 1], [1, -1, 1], [2, 1, 1]]
    >>> lsoap.block(0).properties.names
    ['l_1', 'l_2', 'neighbor_1_type', 'n_1', 'neighbor_2_type', 'n_2']
    """

    def __init__(
        self,
        max_angular: Optional[int] = None,
        neighbors_to_properties: bool = False,
        neighbor_types: Optional[List[int]] = None,
        skip_redundant: bool = True,
    ):
        super().__init__()
        if not isinstance(neighbors_to_properties, bool):
            raise TypeError(
                "`neighbors_to_properties` must be a bool, got "
                f"{type(neighbors_to_properties).__name__}"
            )
        if neighbor_types is not None:
            neighbor_types = [int(t) for t in neighbor_types]
        self.neighbors_to_properties = neighbors_to_properties
        self.neighbor_types = neighbor_types
        self.skip_redundant = bool(skip_redundant)
        self.product = ClebschGordanProduct(
            max_angular=max_angular,
            keys_filter=filter_redundant_keys if skip_redundant else None,
        )

    def forward(self, density_1, density_2=None, selected_keys=None):
        """Same as :py:meth:`compute`."""
        return self.compute(density_1, density_2, selected_keys)

    def compute(self, density_1: TensorMap, density_2: Optional[TensorMap] = None,
                selected_keys: Optional[Labels] = None) -> TensorMap:
        """λ-SOAP of ``density_1`` with itself, or with ``density_2``.

        ``selected_keys`` (Labels over a subset of ``o3_lambda, o3_sigma, center_type,
        ...``) restricts the output blocks before they are computed.
        """
        fname = "EquivariantPowerSpectrum.compute"
        _check_density(density_1, "density_1", fname)
        if density_2 is None:
            density_2 = density_1
        else:
            _check_density(density_2, "density_2", fname)
        first = _suffixed(density_1, 1, self.neighbors_to_properties, self.neighbor_types)
        second = _suffixed(density_2, 2, self.neighbors_to_properties, self.neighbor_types)
        product = self.product.compute(first, second, "l_1", "l_2", selected_keys)
        return product.keys_to_properties(["l_1", "l_2"])
