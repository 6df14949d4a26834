"""Density correlations: iterated Clebsch–Gordan self-products of a density.

``ρ^{⊗(ν)} = ρ ⊗ ρ ⊗ ... ⊗ ρ`` (``ν = n_correlations + 1`` factors), with the conventions of
featomic's ``DensityCorrelations``: before the first product, the property dimensions of
the density get a ``_1`` suffix (``n → n_1``, ``neighbor_type → neighbor_1_type``), and
the copy multiplied in at step ``k`` gets ``_{k+1}``. The ``o3_lambda`` of the factors are
kept in the keys as ``l_1, l_2`` for the first product, then ``k_2, l_3``, ``k_3, l_4``,
... (``k_i`` the degree of the intermediate, ``l_i`` the degree of the ``i``-th density).
"""

from typing import Optional

import numpy as np
import torch

from ..labels import Labels
from ..operations import rename_dimension
from ..operations._utils import check_tensor_map
from ..tensor import TensorMap
from .products import ClebschGordanProduct

__all__ = ["DensityCorrelations", "filter_redundant_keys", "increment_numeric_suffix"]


def filter_redundant_keys(keys: Labels) -> np.ndarray:
    """Indices of the keys whose ``l_1, l_2, ..., l_ν`` are sorted (non-decreasing).

    In a self-correlation, swapping two density factors gives the same features up to a
    sign; keeping only sorted ``l`` lists removes these redundant blocks (the norm of the
    full product is not preserved, the information is). Keys without ``l_1``/``l_2`` are
    all kept.

    Examples
    --------
    >>> keys = Labels(["o3_lambda", "l_1", "l_2"], [[1, 0, 1], [1, 1, 0], [0, 1, 1]])
    >>> filter_redundant_keys(keys).tolist()
    [0, 2]
    """
    if not isinstance(keys, Labels):
        raise TypeError(f"`keys` must be Labels, got {type(keys).__name__}")
    order = 1
    while f"l_{order + 1}" in keys.names:
        order += 1
    if order < 2:
        return np.arange(len(keys), dtype=np.int64)
    columns = keys.values[:, [keys.names.index(f"l_{i}") for i in range(1, order + 1)]]
    sorted_rows = np.all(np.diff(columns, axis=1) >= 0, axis=1)
    return np.nonzero(sorted_rows)[0].astype(np.int64)


def increment_numeric_suffix(name: str, increment: int = 1) -> str:
    """Add ``increment`` to the numeric suffix of a dimension name (``_0`` if none).

    Names ending in ``_type`` carry their number before that suffix.

    Examples
    --------
    >>> increment_numeric_suffix("n"), increment_numeric_suffix("n_1", 2)
    ('n_1', 'n_3')
    >>> increment_numeric_suffix("neighbor_type"), increment_numeric_suffix("neighbor_1_type")
    ('neighbor_1_type', 'neighbor_2_type')
    """
    if not isinstance(increment, (int, np.integer)) or isinstance(increment, bool):
        raise TypeError(f"`increment` must be an integer, got {type(increment).__name__}")
    suffix = ""
    stem = name
    if name.endswith("_type"):
        stem, suffix = name[: -len("_type")], "_type"
    head, separator, number = stem.rpartition("_")
    if separator and number.isdigit():
        return f"{head}_{int(number) + increment}{suffix}"
    return f"{stem}_{increment}{suffix}"


def _increment_property_names(tensor: TensorMap, increment: int) -> TensorMap:
    for name in tensor.property_names:
        tensor = rename_dimension(
            tensor, "properties", name, increment_numeric_suffix(name, increment)
        )
    return tensor


class DensityCorrelations(torch.nn.Module):
    """``n_correlations`` iterated CG products of a density with itself.

    Parameters
    ----------
    n_correlations : int
        Number of products: the output has correlation order ``ν = n_correlations + 1``.
    max_angular : int
        Largest ``o3_lambda`` of any block computed (intermediates and output).
    angular_cutoff : int, optional
        Largest ``o3_lambda`` kept at every step; when ``selected_keys`` is given to
        :py:meth:`compute`, it only applies to intermediate steps (as in featomic).
    skip_redundant : bool
        Only compute blocks with sorted ``l_1 <= l_2 <= ...`` (see
        :func:`filter_redundant_keys`).

    Examples
    --------
    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> rng = np.random.default_rng(0)
    >>> blocks = [
    ...     TensorBlock(rng.normal(size=(4, 2 * l + 1, 3)), Labels.range("atom", 4),
    ...                 [Labels.range("o3_mu", 2 * l + 1)], Labels.range("n", 3))
    ...     for l in range(3)
    ... ]
    >>> density = TensorMap(Labels(["o3_lambda", "o3_sigma"], [[0, 1], [1, 1], [2, 1]]),
    ...                     blocks)
    >>> nu_3 = DensityCorrelations(n_correlations=2, max_angular=2).compute(density)
    >>> nu_3.keys.names
    ['o3_lambda', 'o3_sigma', 'l_1', 'l_2', 'k_2', 'l_3']
    >>> nu_3.property_names
    ['n_1', 'n_2', 'n_3']
    """

    def __init__(
        self,
        n_correlations: int,
        max_angular: int,
        angular_cutoff: Optional[int] = None,
        skip_redundant: bool = True,
    ):
        super().__init__()
        for name, value in (("n_correlations", n_correlations), ("max_angular", max_angular)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"`{name}` must be a non-negative integer, got {value!r}")
        if n_correlations < 1:
            raise ValueError(f"`n_correlations` must be at least 1, got {n_correlations}")
        if angular_cutoff is not None and (
            isinstance(angular_cutoff, bool)
            or not isinstance(angular_cutoff, (int, np.integer))
            or angular_cutoff < 0
        ):
            raise ValueError(
                f"`angular_cutoff` must be None or a non-negative integer, got {angular_cutoff!r}"
            )
        if not isinstance(skip_redundant, bool):
            raise TypeError(
                f"`skip_redundant` must be a bool, got {type(skip_redundant).__name__}"
            )
        self.n_correlations = int(n_correlations)
        self.max_angular = int(max_angular)
        self.angular_cutoff = None if angular_cutoff is None else int(angular_cutoff)
        self.skip_redundant = skip_redundant
        self.product = ClebschGordanProduct(
            max_angular=self.max_angular,
            keys_filter=filter_redundant_keys if skip_redundant else None,
        )

    def extra_repr(self) -> str:
        return (
            f"n_correlations={self.n_correlations}, max_angular={self.max_angular}, "
            f"angular_cutoff={self.angular_cutoff}, skip_redundant={self.skip_redundant}"
        )

    def forward(self, density, angular_cutoff=None, selected_keys=None):
        """Same as :py:meth:`compute`."""
        return self.compute(density, angular_cutoff=angular_cutoff, selected_keys=selected_keys)

    def compute(self, density: TensorMap, angular_cutoff: Optional[int] = None,
                selected_keys: Optional[Labels] = None) -> TensorMap:
        """Correlate ``density`` with itself ``n_correlations`` times.

        Parameters
        ----------
        density : TensorMap
            Keys with ``o3_lambda``, ``o3_sigma`` (other key dimensions are matched between
            the factors: move ``neighbor_type`` to properties first to correlate all
            neighbour types), a single ``o3_mu`` component.
        angular_cutoff : int, optional
            Overrides the constructor's ``angular_cutoff`` for this call.
        selected_keys : Labels, optional
            Output keys to compute at the last step.

        Returns
        -------
        TensorMap
        """
        check_tensor_map(density, "density", "DensityCorrelations.compute")
        if angular_cutoff is None:
            angular_cutoff = self.angular_cutoff
        correlated = _increment_property_names(density, 1)
        factor = correlated
        for step in range(self.n_correlations):
            factor = _increment_property_names(factor, 1)
            name_1 = "l_1" if step == 0 else f"k_{step + 1}"
            name_2 = f"l_{step + 2}"
            last = step == self.n_correlations - 1
            if last and selected_keys is not None:
                selection = selected_keys
            elif angular_cutoff is not None:
                selection = Labels(
                    ["o3_lambda"], np.arange(angular_cutoff + 1, dtype=np.int32).reshape(-1, 1)
                )
            else:
                selection = None
            correlated = self.product.compute(correlated, factor, name_1, name_2, selection)
        return correlated
