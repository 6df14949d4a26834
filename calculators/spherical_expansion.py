r"""Spherical expansion of the neighbour density (SOAP), per atom and per pair.

For every centre atom :math:`i` and neighbour type :math:`\alpha`,

.. math::

    c^{i\alpha}_{nlm} = \sum_{j \in \alpha,\, r_{ij} < r_c} q_j\, f_\mathrm{cut}(r_{ij})\,
        s(r_{ij})\, I_{nl}(r_{ij})\, Y_{lm}(\hat r_{ij})
        \;+\; \delta_{l0}\,\delta_{\alpha, \mathrm{type}(i)}\, q_i\, w_\mathrm{center}\,
        I_{n0}(0)\, Y_{00}

with :math:`r_{ij} = r_j - r_i + S \cdot \mathrm{cell}` over all periodic images,
:math:`q_j` the per-atom density weight of the systems (``System.weights``: charges,
partial occupancies, learnable alchemical weights — values stay differentiable with respect
to them; 1 when a system has none), :math:`f_\mathrm{cut}` the smoothing function,
:math:`s` the optional radial scaling,
:math:`I_{nl}` the splined radial integral of the atomic density
(:class:`calculators.radial.RadialIntegral`) and :math:`Y_{lm}` the real spherical harmonics
of :mod:`blocktensor.o3`. This is the definition, normalisation and metadata of featomic 0.6
(``SphericalExpansion`` / ``SphericalExpansionByPair``), whose hyper-parameter dictionaries
are accepted unchanged.

How it is computed: one neighbour list for all systems; spherical harmonics, radial
integrals and cutoff values of all pairs; the pairs are sorted by output row
``(neighbour type, centre)`` (centres sorted by type, so that every block is a contiguous
slice of one array) and the sums over neighbours are batched matrix products per ``l``
over zero-padded per-row pair lists. Position gradients ``∂c_i/∂r_j = −∂c_i/∂r_i =
∂c/∂r_ij`` (one element-wise row per pair, the centre's row as a sum) and strain gradients
``Σ_j r_ij ⊗ ∂c/∂r_ij`` come from the same pair quantities (the analytic derivatives of the
spherical harmonics and of the splines), and the values
stay differentiable by torch autograd with respect to positions and cell.

Metadata differs from featomic in one documented way: every block of a given
``center_type`` lists *every* centre of that type as a sample, with zero rows for centres
that have no neighbour of ``neighbor_type`` (featomic omits those rows); all blocks of one
centre type therefore share their samples.
"""

from __future__ import annotations

import copy
import functools
import math
from typing import List, Optional, Sequence

import numpy as np
import torch

from blocktensor import Labels, TensorBlock, TensorMap
from blocktensor.o3 import spherical_harmonics

from ._gradients import XYZ, cell_deformation_gradient, check_gradients
from .cutoff import scaling_from_hypers, smoothing_from_hypers
from .neighbors import PAIR_SAMPLE_NAMES, batched_neighbor_list
from ._buffers import Workspace, gathered, scratch, sum_of_products, zeros
from .hypers import as_hypers_dict
from ._selection import with_selections
from .radial import RadialIntegral
from .system import System, as_systems

__all__ = ["SphericalExpansion", "SphericalExpansionByPair"]

_KEY_NAMES = ["o3_lambda", "o3_sigma", "center_type", "neighbor_type"]
_PAIR_KEY_NAMES = ["o3_lambda", "o3_sigma", "first_atom_type", "second_atom_type"]
_PAIR_SAMPLE_NAMES = PAIR_SAMPLE_NAMES
_KNOWN_GRADIENTS = ("positions", "strain", "cell")
_Y00 = 1.0 / math.sqrt(4.0 * math.pi)
# elements of the padded per-chunk temporaries of SphericalExpansion (~32 MB in float64)
_PADDED_CHUNK_ELEMENTS = 1 << 22
# per-pair positions gradients computed at once (8 MiB in float64; 2-8 MiB measured alike)
_PAIR_GRADIENT_ELEMENTS = 1 << 20


# ---------------------------------------------------------------------------------------
# hyper-parameters
# ---------------------------------------------------------------------------------------
def _check_dict(value, name, required, optional):
    if not isinstance(value, dict):
        raise TypeError(f"`{name}` must be a dict, found {type(value).__name__}")
    missing = [key for key in required if key not in value]
    if missing:
        raise ValueError(f"`{name}` is missing the key(s) {missing}, found {sorted(value)}")
    unknown = [key for key in value if key not in required and key not in optional]
    if unknown:
        raise ValueError(
            f"`{name}` has unknown key(s) {unknown}; expected {list(required) + list(optional)}"
        )


def _parse_hypers(cutoff, density, basis):
    """Validate featomic-0.6 hyper dicts; returns the pieces the calculators need."""
    _check_dict(cutoff, "cutoff", ["radius"], ["smoothing"])
    radius = cutoff["radius"]
    if isinstance(radius, bool) or not isinstance(radius, (int, float)):
        raise TypeError(f"`cutoff.radius` must be a number, found {type(radius).__name__}")
    radius = float(radius)
    if not (radius > 0 and math.isfinite(radius)):
        raise ValueError(f"`cutoff.radius` must be positive and finite, found {radius}")
    smoothing = smoothing_from_hypers(cutoff.get("smoothing"))

    _check_dict(density, "density", ["type"], ["width", "scaling", "center_atom_weight"])
    if density["type"] not in ("Gaussian", "DiracDelta"):
        raise ValueError(
            f"`density.type` must be 'Gaussian' or 'DiracDelta', found {density['type']!r}"
        )
    if density["type"] == "Gaussian" and "width" not in density:
        raise ValueError("`density` of type 'Gaussian' needs a 'width'")
    scaling = scaling_from_hypers(density.get("scaling"))
    center_atom_weight = float(density.get("center_atom_weight", 1.0))
    if not math.isfinite(center_atom_weight):
        raise ValueError(
            f"`density.center_atom_weight` must be finite, found {center_atom_weight}"
        )

    if not isinstance(basis, dict):
        raise TypeError(f"`basis` must be a dict, found {type(basis).__name__}")
    if basis.get("type") == "TensorProduct":
        _check_dict(basis, "basis", ["type", "max_angular", "radial"], ["spline_accuracy"])
    max_angular = basis.get("max_angular")
    if max_angular is not None:
        if isinstance(max_angular, bool) or int(max_angular) != max_angular:
            raise TypeError(f"`basis.max_angular` must be an integer, found {max_angular!r}")
        if max_angular < 0:
            raise ValueError(f"`basis.max_angular` must be >= 0, found {max_angular}")
    radial_density = {key: value for key, value in density.items() if key in ("type", "width")}
    radial_integral = RadialIntegral.from_hypers(cutoff, radial_density, basis)
    return radius, smoothing, scaling, center_atom_weight, radial_integral


def _check_gradients(gradients, calculator="SphericalExpansion"):
    return check_gradients(gradients, _KNOWN_GRADIENTS, calculator)


# ---------------------------------------------------------------------------------------
# systems and pairs
# ---------------------------------------------------------------------------------------
class _Batch:
    """All systems of one ``compute`` call, concatenated (host metadata + device tensors)."""

    def __init__(self, systems: List[System]):
        self.systems = systems
        self.n_atoms = np.array([len(s) for s in systems], dtype=np.int64)
        self.offsets = np.cumsum(self.n_atoms) - self.n_atoms
        self.total = int(self.n_atoms.sum())
        self.types = np.concatenate(
            [s.types.detach().cpu().numpy().astype(np.int64) for s in systems]
        ) if systems else np.zeros(0, dtype=np.int64)
        self.system_of = np.repeat(np.arange(len(systems), dtype=np.int64), self.n_atoms)
        self.local_index = np.arange(self.total, dtype=np.int64) - self.offsets[self.system_of]
        # per-atom density weights (charges, occupancies, alchemical weights); atoms of
        # systems without weights count 1. ``None`` when no system has weights.
        self.weights = None
        if any(s.weights is not None for s in systems):
            self.weights = torch.cat(
                [
                    s.weights if s.weights is not None else torch.ones_like(s.positions[:, 0])
                    for s in systems
                ]
            )


def _convert_systems(systems, dtype, device) -> List[System]:
    if isinstance(systems, (System,)) or not isinstance(systems, (list, tuple)):
        systems = [systems]
    result = []
    for index, item in enumerate(systems):
        try:
            converted = as_systems([item], dtype=dtype, device=device)[0]
            if converted is item:
                # built earlier and possibly changed since: check it again
                converted._validate()
        except (ValueError, TypeError) as error:
            raise type(error)(f"systems[{index}]: {error}") from error
        result.append(converted)
    if len(result) == 0:
        raise ValueError("`systems` must contain at least one system, found none")
    return result


def _labels(names, columns) -> Labels:
    values = np.stack([np.asarray(c, dtype=np.int32) for c in columns], axis=1)
    return Labels(names, values.reshape(-1, len(names)), assume_unique=True)


@functools.lru_cache(maxsize=None)
def _component(l) -> Labels:  # noqa: E741
    # one Labels per l, shared by every block (Labels are immutable)
    return Labels("o3_mu", np.arange(-l, l + 1, dtype=np.int32).reshape(-1, 1))



class _ExpansionBase(torch.nn.Module):
    """Hyper-parameters, system handling, key selection and pair expansion shared by the
    per-atom and per-pair calculators."""

    _key_names: List[str] = _KEY_NAMES

    def __init__(self, cutoff: dict, density: dict, basis: dict):
        super().__init__()
        cutoff = as_hypers_dict(cutoff, "cutoff")
        density = as_hypers_dict(density, "density")
        basis = as_hypers_dict(basis, "basis")
        self._hypers = {
            "cutoff": copy.deepcopy(cutoff),
            "density": copy.deepcopy(density),
            "basis": copy.deepcopy(basis),
        }
        (
            self.radius,
            self.smoothing,
            self.scaling,
            self.center_atom_weight,
            self.radial_integral,
        ) = _parse_hypers(cutoff, density, basis)
        self.max_angular = self.radial_integral.max_angular
        self.radial_sizes = list(self.radial_integral.radial_sizes)
        # tracks the dtype/device the module was moved to with .to()
        self.register_buffer("_reference", torch.zeros(0, dtype=torch.float64))

    @property
    def hypers(self) -> dict:
        """A copy of the hyper-parameters given at construction."""
        return copy.deepcopy(self._hypers)

    def extra_repr(self) -> str:
        return f"hypers={self._hypers}"

    # ---------------------------------------------------------------- keys
    def _select_keys(self, default_type_pairs, selected_keys, present_types):
        """Output keys as a list of ``(o3_lambda, first_type, second_type)``."""
        names = self._key_names
        default = np.array(
            [
                (l, 1, a, b)
                for a, b in default_type_pairs
                for l in range(self.max_angular + 1)  # noqa: E741
            ],
            dtype=np.int64,
        ).reshape(-1, 4)
        if selected_keys is None:
            return [(int(r[0]), int(r[2]), int(r[3])) for r in default]
        if not isinstance(selected_keys, Labels):
            raise TypeError(
                f"`selected_keys` must be Labels, found {type(selected_keys).__name__}"
            )
        unknown = [n for n in selected_keys.names if n not in names]
        if unknown:
            raise ValueError(
                f"`selected_keys` has unknown dimension(s) {unknown}; expected a subset of "
                f"{names}"
            )
        if sorted(selected_keys.names) == sorted(names):
            rows = selected_keys.view(names).values.astype(np.int64)
            for row in rows:
                if not 0 <= row[0] <= self.max_angular:
                    raise ValueError(
                        f"`selected_keys` entry {row.tolist()} has o3_lambda {row[0]} outside "
                        f"0..{self.max_angular} (max_angular)"
                    )
                if row[1] != 1:
                    raise ValueError(
                        f"`selected_keys` entry {row.tolist()} has o3_sigma {row[1]}; the "
                        "spherical expansion only has o3_sigma = 1"
                    )
            return [(int(r[0]), int(r[2]), int(r[3])) for r in rows]
        default_labels = Labels(names, default.astype(np.int32), assume_unique=True)
        for position in range(len(selected_keys)):
            entry = selected_keys.values[position : position + 1]
            if len(default_labels.select(Labels(selected_keys.names, entry))) == 0:
                description = dict(zip(selected_keys.names, entry[0].tolist()))
                raise ValueError(
                    f"`selected_keys` entry {description} matches no key: the atomic types "
                    f"in these systems are {present_types}, o3_lambda goes up to "
                    f"{self.max_angular}, o3_sigma is 1 (give all of {names} to request "
                    "blocks for absent types)"
                )
        chosen = np.zeros(len(default), dtype=bool)
        chosen[default_labels.select(selected_keys)] = True
        return [(int(r[0]), int(r[2]), int(r[3])) for r in default[chosen]]

    # ---------------------------------------------------------------- pairs
    def _prepare(self, systems):
        dtype = self._reference.dtype
        device = self._reference.device
        systems = _convert_systems(systems, dtype, device)
        batch = _Batch(systems)
        pairs = batched_neighbor_list(systems, self.radius)
        return batch, pairs

    def _distance_weights(self, distances, weights=None):
        """``w_j f_cut(r) s(r)`` for every pair and its derivative with respect to ``r``:
        smoothing, optional radial scaling and optional per-atom density weights of the
        neighbours (``weights``, one per pair)."""
        weight, weight_derivative = self.smoothing.compute(distances, self.radius)
        if self.scaling is not None:
            scale, scale_derivative = self.scaling.compute(distances)
            weight_derivative = weight_derivative * scale + weight * scale_derivative
            weight = weight * scale
        if weights is not None:
            weight = weight * weights
            weight_derivative = weight_derivative * weights
        return weight, weight_derivative

    def _pair_expansion(self, vectors, angular_channels, need_gradients, weights=None):
        """Per-pair radial × angular factors.

        Returns ``(harmonics, harmonics_gradients, radial, radial_derivatives, unit)``
        where ``radial[l] = f_cut s I_l`` (n_pairs, n_radial_l) and the derivatives are
        with respect to the distance.
        """
        max_l = max(angular_channels) if angular_channels else 0
        distances = torch.linalg.vector_norm(vectors, dim=1)
        if need_gradients:
            harmonics, harmonics_gradients = spherical_harmonics(
                vectors, max_l, compute_gradients=True
            )
        else:
            harmonics = spherical_harmonics(vectors, max_l)
            harmonics_gradients = None
        integrals, integral_derivatives = self.radial_integral.compute(distances)
        weight, weight_derivative = self._distance_weights(distances, weights)
        radial, radial_derivatives = {}, {}
        for l in angular_channels:  # noqa: E741
            radial[l] = weight[:, None] * integrals[l]
            if need_gradients:
                radial_derivatives[l] = (
                    weight_derivative[:, None] * integrals[l]
                    + weight[:, None] * integral_derivatives[l]
                )
        unit = vectors / distances[:, None] if need_gradients else None
        return harmonics, harmonics_gradients, radial, radial_derivatives, unit

    def _center_values(self, dtype, device):
        """``w I_n0(0) Y_00``: the centre's own density in the λ = 0 coefficients."""
        center = self.radial_integral.center_contribution(dtype=dtype, device=device)
        return self.center_atom_weight * _Y00 * center

    def forward(self, systems, gradients=None, selected_keys=None, selected_samples=None,
                selected_properties=None):
        return self.compute(systems, gradients, selected_keys, selected_samples,
                            selected_properties)


def _pair_gradients(l, harmonics_l, harmonics_gradients_l, radial_l, radial_derivative_l, unit):
    """∂(R_l ⊗ Y_l)/∂r_ij for every pair: (n_pairs, 3, 2l + 1, n_radial)."""
    angular = unit[:, :, None] * harmonics_l[:, None, :]
    return (
        angular[:, :, :, None] * radial_derivative_l[:, None, None, :]
        + harmonics_gradients_l[:, :, :, None] * radial_l[:, None, None, :]
    )


def _deformation_contribution(factors, pair_gradient):
    """``factors[a] ∂c/∂r_ij[b]``, ``a`` first: with the pair vectors, featomic's strain
    gradients (``xyz_2`` is the pair-vector direction, ``xyz_1`` the derivative one); with
    the cell shifts ``S`` (``r_ij = r_j - r_i + S · cell``), its cell gradients
    ``∂c/∂cell[a, b]``."""
    return factors[:, :, None, None, None] * pair_gradient[:, None]


# ---------------------------------------------------------------------------------------
# per atom
# ---------------------------------------------------------------------------------------
class SphericalExpansion(_ExpansionBase):
    r"""Spherical expansion of the neighbour density around each atom (SOAP coefficients).

    Parameters use the names and nesting of featomic 0.6, so a featomic hypers dict works
    unchanged:

    Parameters
    ----------
    cutoff : dict
        ``{"radius": r_c, "smoothing": {"type": "ShiftedCosine", "width": w}}``
        (or ``{"type": "Step"}``).
    density : dict
        ``{"type": "Gaussian", "width": σ}`` or ``{"type": "DiracDelta"}``, with optional
        ``"scaling": {"type": "Willatt2018", "rate", "scale", "exponent"}`` and
        ``"center_atom_weight"`` (default 1).
    basis : dict
        ``{"type": "TensorProduct", "max_angular": L, "radial": {"type": "Gto",
        "max_radial": N}}`` (optional ``"spline_accuracy"``), or
        ``{"type": "LaplacianEigenstate", "max_radial": N, "max_angular": L}``.

    The module moves with ``.to(device, dtype)``; inputs (``ase.Atoms`` or
    :class:`calculators.system.System`) are converted to its dtype and device.

    Output of :meth:`compute`: keys ``(o3_lambda, o3_sigma, center_type, neighbor_type)``;
    samples ``(system, atom)`` listing every atom of ``center_type`` (zero rows for atoms
    without neighbours of ``neighbor_type``); components ``o3_mu``; properties ``n``.

    Examples
    --------
    >>> import ase.build
    >>> calculator = SphericalExpansion(
    ...     cutoff={"radius": 3.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
    ...     density={"type": "Gaussian", "width": 0.3},
    ...     basis={"type": "TensorProduct", "max_angular": 2,
    ...            "radial": {"type": "Gto", "max_radial": 3}},
    ... )
    >>> expansion = calculator.compute(ase.build.molecule("H2O"), gradients=["positions"])
    >>> expansion.keys.names
    ['o3_lambda', 'o3_sigma', 'center_type', 'neighbor_type']
    >>> block = expansion.block(o3_lambda=1, center_type=8, neighbor_type=1)
    >>> block.values.shape, block.samples.values.tolist()
    (torch.Size([1, 3, 4]), [[0, 0]])
    >>> block.gradient("positions").samples.values.tolist()
    [[0, 0, 0], [0, 0, 1], [0, 0, 2]]
    """

    def compute(
        self,
        systems,
        gradients: Optional[Sequence[str]] = None,
        selected_keys: Optional[Labels] = None,
        selected_samples: Optional[Labels] = None,
        selected_properties: Optional[Labels] = None,
    ) -> TensorMap:
        """Compute the expansion of ``systems`` (an ``ase.Atoms``, a ``System`` or a list).

        Parameters
        ----------
        systems :
            One system or a list of them.
        gradients : list of str
            ``"positions"``, ``"strain"`` and/or ``"cell"`` (``values[s, a, x] =
            ∂c/∂cell[a, x]`` with the Cartesian positions fixed, components ``xyz``,
            ``abc`` as featomic): explicit gradient blocks.
        selected_keys : Labels, optional
            With all four key names: exactly these blocks (types absent from the systems
            give empty or zero blocks). With a subset of the names: the default keys
            matching any entry (an entry matching none is an error).
        selected_samples : Labels or TensorMap, optional
            Labels over a subset of ``(system, atom)``: only matching centres are
            computed. A TensorMap with the output's keys: each block keeps the samples
            of the selection block with its key (featomic's per-block selection).
        selected_properties : Labels or TensorMap, optional
            The ``n`` to keep, in the same two forms (the selection is applied to the
            computed blocks, with their gradients).

        Returns
        -------
        TensorMap
        """
        return with_selections(
            lambda samples: self._compute(systems, gradients, selected_keys, samples)[0],
            selected_samples, selected_properties,
        )

    def _compute(self, systems, gradients, selected_keys, selected_samples,
                 keep_pairs: bool = False):
        """:meth:`compute`, and the :class:`_ExpansionPairs` behind the result when
        ``keep_pairs`` (else ``None``), for gradients computed from the pairs."""
        gradients = _check_gradients(gradients)
        batch, pairs = self._prepare(systems)
        device = batch.systems[0].device
        dtype = batch.systems[0].dtype

        first = pairs.first_atom_global.cpu().numpy()
        second = pairs.second_atom_global.cpu().numpy()
        present_types = np.unique(batch.types)
        keys = self._select_keys(
            _type_pairs(batch.types[first], batch.types[second], present_types),
            selected_keys,
            present_types.tolist(),
        )

        # centres: selected atoms whose type is a key's center_type, sorted by type
        center_types = np.unique(np.array([k[1] for k in keys], dtype=np.int64))
        neighbor_types = np.unique(np.array([k[2] for k in keys], dtype=np.int64))
        is_center = np.isin(batch.types, center_types)
        if selected_samples is not None:
            if not isinstance(selected_samples, Labels):
                raise TypeError(
                    "`selected_samples` must be Labels, found "
                    f"{type(selected_samples).__name__}"
                )
            all_samples = _labels(["system", "atom"], [batch.system_of, batch.local_index])
            chosen = np.zeros(batch.total, dtype=bool)
            chosen[all_samples.select(selected_samples)] = True
            is_center &= chosen
        centers = np.nonzero(is_center)[0]
        centers = centers[np.argsort(batch.types[centers], kind="stable")]
        n_centers = len(centers)
        center_row = np.full(batch.total, -1, dtype=np.int64)
        center_row[centers] = np.arange(n_centers)
        center_type_start = np.searchsorted(batch.types[centers], center_types, side="left")
        center_type_stop = np.searchsorted(batch.types[centers], center_types, side="right")

        neighbor_index = _index_in(neighbor_types, batch.types)
        keep = (center_row[first] >= 0) & (neighbor_index[second] >= 0)
        kept = np.nonzero(keep)[0]
        # value rows: (neighbour type, centre); each block is a contiguous range of rows
        pair_rows_np = neighbor_index[second[kept]] * n_centers + center_row[first[kept]]
        vectors = pairs.vectors
        if len(kept) != len(first):
            vectors = vectors.index_select(0, torch.from_numpy(kept).to(device))
        n_rows = len(neighbor_types) * n_centers
        pair_weights = None
        if batch.weights is not None:
            pair_weights = batch.weights.index_select(
                0, torch.from_numpy(second[kept]).to(device)
            )

        want_positions = "positions" in gradients
        want_strain = "strain" in gradients
        want_cell = "cell" in gradients
        cell_shifts = None
        if want_cell or keep_pairs:
            cell_shifts = pairs.cell_shifts
            if len(kept) != len(first):
                cell_shifts = cell_shifts.index_select(0, torch.from_numpy(kept).to(device))
            cell_shifts = cell_shifts.to(dtype)
        max_l = max(k[0] for k in keys) if keys else 0

        gradient_rows = None
        if want_positions:
            # gradient rows: (value row, atom) for every neighbour atom and for the centre
            # itself; sorting the packed key puts each block's rows together, ordered by
            # sample then atom
            all_value_rows = np.arange(n_rows, dtype=np.int64)
            self_atoms = centers[all_value_rows % n_centers] if n_centers else all_value_rows
            entry_keys = np.concatenate(
                [
                    pair_rows_np * batch.total + second[kept],
                    all_value_rows * batch.total + self_atoms,
                ]
            )
            gradient_keys, inverse = np.unique(entry_keys, return_inverse=True)
            inverse = inverse.reshape(-1)
            gradient_rows = (inverse[: len(kept)], inverse[len(kept) :])
            gradient_value_row = gradient_keys // max(batch.total, 1)
            gradient_atom = gradient_keys - gradient_value_row * batch.total

        values, positions_gradient, strain_gradient, cell_gradient = self._accumulate(
            vectors,
            pair_rows_np,
            n_rows,
            max_l,
            gradient_rows,
            len(gradient_keys) if want_positions else 0,
            want_strain,
            pair_weights,
            cell_shifts if want_cell else None,
        )

        center_values = self._center_values(dtype, device)
        blocks = []
        properties = [Labels.range("n", size) for size in self.radial_sizes]
        sample_labels = {}
        gradient_labels = {}
        for l, center_type, neighbor_type in keys:  # noqa: E741
            lm = slice(l * l, (l + 1) * (l + 1))
            n_radial = self.radial_sizes[l]
            t = int(np.searchsorted(center_types, center_type))
            k = int(np.searchsorted(neighbor_types, neighbor_type))
            start = k * n_centers + int(center_type_start[t])
            stop = k * n_centers + int(center_type_stop[t])
            if center_type not in sample_labels:
                atoms = centers[center_type_start[t] : center_type_stop[t]]
                sample_labels[center_type] = _labels(
                    ["system", "atom"], [batch.system_of[atoms], batch.local_index[atoms]]
                )
            block_values = values[start:stop, lm, :n_radial]
            if l == 0 and center_type == neighbor_type:
                center_term = center_values[None, None, :]
                if batch.weights is not None:
                    atoms = centers[center_type_start[t] : center_type_stop[t]]
                    center_weights = batch.weights.index_select(
                        0, torch.from_numpy(atoms).to(device)
                    )
                    center_term = center_weights[:, None, None] * center_term
                block_values = block_values + center_term
            # the metadata is consistent by construction: the blocks skip their checks
            # (a call can make hundreds of blocks)
            block = TensorBlock._unchecked(
                block_values, sample_labels[center_type], [_component(l)], properties[l]
            )
            if want_positions:
                if (start, stop) not in gradient_labels:
                    # the same rows for every l of a (center_type, neighbor_type)
                    first_row, last_row = np.searchsorted(gradient_value_row, [start, stop])
                    atoms = gradient_atom[first_row:last_row]
                    gradient_labels[(start, stop)] = first_row, last_row, _labels(
                        ["sample", "system", "atom"],
                        [
                            gradient_value_row[first_row:last_row] - start,
                            batch.system_of[atoms],
                            batch.local_index[atoms],
                        ],
                    )
                first_row, last_row, gradient_samples = gradient_labels[(start, stop)]
                block._add_gradient_unchecked(
                    "positions",
                    TensorBlock._unchecked(
                        positions_gradient[first_row:last_row, :, lm, :n_radial],
                        gradient_samples,
                        [XYZ, _component(l)],
                        properties[l],
                    ),
                )
            for parameter, deformation in (("strain", strain_gradient),
                                           ("cell", cell_gradient)):
                if deformation is not None:
                    block._add_gradient_unchecked(parameter, cell_deformation_gradient(
                        parameter, deformation[start:stop, :, :, lm, :n_radial],
                        properties[l], [_component(l)]))
            blocks.append(block)

        key_labels = Labels(
            _KEY_NAMES,
            np.array([(l, 1, a, b) for l, a, b in keys], dtype=np.int32).reshape(-1, 4),
        )
        expansion_pairs = None
        if keep_pairs:
            expansion_pairs = _ExpansionPairs(self, batch, first[kept], second[kept], vectors,
                                              cell_shifts)
        return TensorMap._unchecked(key_labels, blocks), expansion_pairs

    def _accumulate(
        self,
        vectors,
        pair_rows,
        n_rows,
        max_l,
        gradient_rows,
        n_gradient_rows,
        want_strain,
        pair_weights=None,
        cell_shifts=None,
    ):
        """Sum the pair contributions of all ``l ≤ max_l`` into their rows.

        ``gradient_rows`` is ``None`` or ``(row of each pair's neighbour atom, row of
        each value row's centre atom)`` in the positions-gradient array. ``pair_weights``
        (optional, one per pair) multiplies each neighbour's density.

        ``cell_shifts`` (optional, one float row per pair) asks for cell gradients.

        Returns arrays ``values (n_rows, (max_l+1)², n_max)``, positions gradients
        ``(n_gradient_rows, 3, (max_l+1)², n_max)``, strain gradients
        ``(n_rows, 3, 3, (max_l+1)², n_max)`` and cell gradients of the same shape
        (``None`` when not requested), where
        ``n_max`` is the largest radial size (smaller ``l`` channels are zero-padded).

        Sums over the neighbours of a row are batched matrix products: the pairs are
        sorted by row and laid out as a padded ``(rows, slots)`` array (padding pairs
        have a zero density weight, hence zero radial functions) in which every factor is
        computed, so that ``Σ_j Y_lm(j) R_ln(j)`` is ``Y_lᵀ R_l`` per row — a BLAS call
        per ``l`` instead of materialising ``(pairs, lm, n)`` products and scattering
        them. With positions gradients, each pair's gradient (one row of the output) is
        computed element-wise in the same layout, a few rows at a time, and one product
        with the factors ``(-1, r_ij, S_ij)`` over each row's pairs gives the centre's own
        gradient row ``−Σ_j ∂c/∂r_ij``, the strain ``Σ_j r_ij ⊗ ∂c/∂r_ij`` and the cell
        terms while they are in cache; without them the strain and cell sums are the
        batched products of the angular and (factor-weighted) radial parts. Rows are
        processed in chunks so that the padded temporaries stay small.
        """
        dtype, device = vectors.dtype, vectors.device
        n_lm = (max_l + 1) ** 2
        n_max = max(self.radial_sizes[: max_l + 1])
        want_positions = gradient_rows is not None
        want_cell = cell_shifts is not None
        need_gradients = want_positions or want_strain or want_cell
        n_pairs = vectors.shape[0]
        values = torch.zeros((n_rows, n_lm, n_max), dtype=dtype, device=device)
        positions_gradient = strain_gradient = cell_gradient = None
        if want_positions:
            # the last row is scratch, for padding pairs
            positions_gradient = zeros((n_gradient_rows + 1, 3, n_lm, n_max), dtype, device)
        if want_strain:
            strain_gradient = zeros((n_rows, 3, 3, n_lm, n_max), dtype, device)
        if want_cell:
            cell_gradient = zeros((n_rows, 3, 3, n_lm, n_max), dtype, device)
        if n_pairs == 0:
            if want_positions:
                positions_gradient = positions_gradient[:n_gradient_rows]
            return values, positions_gradient, strain_gradient, cell_gradient

        # non-empty rows, most pairs first: chunks of rows with similar numbers of pairs
        # pad little; results are copied back to the rows afterwards
        counts = np.bincount(pair_rows, minlength=n_rows)
        row_order = np.argsort(-counts, kind="stable")
        row_order = row_order[counts[row_order] > 0]
        position_of_row = np.zeros(n_rows, dtype=np.int64)
        position_of_row[row_order] = np.arange(len(row_order))
        pair_position = position_of_row[pair_rows]
        order = np.argsort(pair_position, kind="stable")
        sorted_position = pair_position[order]
        ordered_counts = counts[row_order]
        row_start = np.zeros(len(row_order) + 1, dtype=np.int64)
        np.cumsum(ordered_counts, out=row_start[1:])
        rank = np.arange(n_pairs, dtype=np.int64) - row_start[sorted_position]
        vectors = vectors.index_select(0, torch.from_numpy(order).to(device))
        if want_cell:
            cell_shifts = cell_shifts.index_select(0, torch.from_numpy(order).to(device))
        if pair_weights is not None:
            pair_weights = pair_weights.index_select(0, torch.from_numpy(order).to(device))
        rows_t = torch.from_numpy(row_order).to(device)
        if want_positions:
            neighbor_rows = gradient_rows[0][order]
            self_rows = torch.from_numpy(gradient_rows[1][row_order]).to(device)
            # unless several images of a neighbour (or of the centre) share a row, every
            # row is written once: copied rather than added (index_add_ costs more)
            rows_written_once = bool(
                np.bincount(np.concatenate(gradient_rows), minlength=n_gradient_rows).max()
                <= 1
            )
            write = (positions_gradient.index_copy_ if rows_written_once
                     else positions_gradient.index_add_)
            pair_block = max(1, _PAIR_GRADIENT_ELEMENTS // (3 * n_lm * n_max))
        # padded elements per slot: harmonics, and the angular parts of the gradients
        slot_size = n_lm * (2 * 3 + 1 if need_gradients else 1)
        if want_positions:
            # plus the element-wise gradient of each pair
            slot_size += 3 * n_lm * n_max
        slots_per_chunk = max(1, _PADDED_CHUNK_ELEMENTS // slot_size)
        # a chunk stops when its padded size reaches the budget or when rows have half
        # the slots of its first row (at most half of any chunk is padding)
        negative_counts = -ordered_counts
        boundaries = [0]
        while boundaries[-1] < len(row_order):
            first = boundaries[-1]
            slots = int(ordered_counts[first])
            halved = int(np.searchsorted(negative_counts, -(slots // 2), side="left"))
            boundaries.append(max(first + 1, min(first + slots_per_chunk // slots, halved)))
        differentiable = torch.is_grad_enabled() and (
            vectors.requires_grad or (pair_weights is not None and pair_weights.requires_grad)
        )
        workspace = None if differentiable else Workspace(dtype, device)
        l_of_column = torch.tensor(
            [l for l in range(max_l + 1) for _ in range(2 * l + 1)],  # noqa: E741
            dtype=torch.int64,
            device=device,
        )
        padding_vector = self._padding_vector(dtype, device)
        for row_begin, row_end in zip(boundaries[:-1], boundaries[1:]):
            begin, end = int(row_start[row_begin]), int(row_start[row_end])
            n_chunk_rows = row_end - row_begin
            slots = int(ordered_counts[row_begin])
            n_padded = n_chunk_rows * slots
            padded = n_padded != end - begin
            chunk_rows = rows_t[row_begin:row_end]
            # every factor is computed in the padded (rows, slots) layout of the products,
            # the real pairs at `slot`, rather than computed per pair and copied there
            slot_np = (sorted_position[begin:end] - row_begin) * slots + rank[begin:end]
            slot = torch.from_numpy(slot_np).to(device)
            chunk_vectors = vectors[begin:end]
            chunk_weights = None if pair_weights is None else pair_weights[begin:end]
            chunk_shifts = cell_shifts[begin:end] if want_cell else None
            if padded:
                chunk_vectors = padding_vector.repeat(n_padded, 1).index_copy(
                    0, slot, chunk_vectors)
                chunk_weights = chunk_vectors.new_zeros(n_padded).index_copy(
                    0, slot,
                    chunk_vectors.new_ones(end - begin) if chunk_weights is None
                    else chunk_weights,
                )
                if want_cell:
                    chunk_shifts = chunk_shifts.new_zeros((n_padded, 3)).index_copy(
                        0, slot, chunk_shifts)
            distances = torch.linalg.vector_norm(chunk_vectors, dim=1)
            radial, radial_derivative = self._radial(
                distances, max_l, n_max, need_gradients, chunk_weights
            )
            if need_gradients:
                harmonics, harmonics_gradients = spherical_harmonics(
                    chunk_vectors, max_l, compute_gradients=True
                )
            else:
                harmonics = spherical_harmonics(chunk_vectors, max_l)

            chunk_values = torch.empty((n_chunk_rows, n_lm, n_max), dtype=dtype, device=device)
            _row_products(
                chunk_values,
                harmonics.view(n_chunk_rows, slots, n_lm),
                radial.view(n_chunk_rows, slots, max_l + 1, n_max),
                max_l,
                1,
            )
            values.index_copy_(0, chunk_rows, chunk_values)
            if not need_gradients:
                continue

            # ∂(R_l(r) Y_lm(r̂))/∂r_a = R_l ∂_a Y_lm + R'_l u_a Y_lm
            harmonics_gradients = harmonics_gradients.contiguous()
            unit = chunk_vectors / distances[:, None]
            unit_harmonics = unit[:, :, None] * harmonics[:, None, :]
            # sums over the row's pairs of factor × gradient, factors (r_x, r_y, r_z)
            # for the strain, (S_a, S_b, S_c) for the cell and -1 for the centre's own
            # row. Padding pairs have zero radial functions: whatever their factors,
            # they add nothing.
            factors = []
            if want_strain:
                factors.append(chunk_vectors)
            if want_cell:
                factors.append(chunk_shifts)
            if want_positions:
                factors.append(torch.full_like(distances, -1.0)[:, None])
            factors = torch.cat(factors, dim=1)
            n_factors = factors.shape[1]
            first_cell = 3 if want_strain else 0

            if want_positions:
                # the gradient of every pair, padding included, a few rows of the chunk at
                # a time (the whole chunk under autograd, where nothing is reused): they
                # stay in the cache between being computed, copied to their rows and
                # summed (one product with the factors) for the centre, strain and cell
                destination = np.full(n_padded, n_gradient_rows, dtype=np.int64)
                destination[slot_np] = neighbor_rows[begin:end]
                destination = torch.from_numpy(destination).to(device)
                rows_per_block = (max(1, pair_block // slots) if workspace is not None
                                  else n_chunk_rows)
                for first_row in range(0, n_chunk_rows, rows_per_block):
                    last_row = min(first_row + rows_per_block, n_chunk_rows)
                    n_block_rows = last_row - first_row
                    pairs = slice(first_row * slots, last_row * slots)
                    spread, spread_derivative = (
                        gathered(x[pairs], l_of_column, workspace, name, dim=1)
                        for name, x in (("spread", radial),
                                        ("spread_derivative", radial_derivative))
                    )
                    pair_gradient = scratch(workspace, "pair_gradient",
                                            (pairs.stop - pairs.start, 3, n_lm, n_max),
                                            vectors)
                    sum_of_products(pair_gradient,
                                    [(harmonics_gradients[pairs][..., None], spread[:, None]),
                                     (unit_harmonics[pairs][..., None],
                                      spread_derivative[:, None])],
                                    differentiable)
                    write(0, destination[pairs], pair_gradient)
                    block_sums = torch.bmm(
                        factors[pairs].view(n_block_rows, slots, n_factors).transpose(1, 2),
                        pair_gradient.view(n_block_rows, slots, -1),
                    ).view(n_block_rows, n_factors, 3, n_lm, n_max)
                    sum_rows = chunk_rows[first_row:last_row]
                    if want_strain:
                        # strain[b, a] = Σ_j r_b ∂c/∂r_a: xyz_2 is b, the pair-vector
                        # direction
                        strain_gradient.index_copy_(0, sum_rows, block_sums[:, :3])
                    if want_cell:
                        cell_gradient.index_copy_(
                            0, sum_rows, block_sums[:, first_cell:first_cell + 3])
                    write(0, self_rows[row_begin + first_row:row_begin + last_row],
                          block_sums[:, -1])
                continue

            # without positions gradients, the pairs' gradients are never built: the
            # angular parts of R and R' go in the first and second half of the slots,
            # the factors on the (smaller) radial side
            padded_angular = (
                torch.stack(
                    [harmonics_gradients.view(n_chunk_rows, slots, 3, n_lm),
                     unit_harmonics.view(n_chunk_rows, slots, 3, n_lm)],
                    dim=1,
                )
                .transpose(3, 4)
                .reshape(n_chunk_rows, 2 * slots, n_lm * 3)
            )
            padded_weighted_radial = (
                torch.stack(
                    [radial.view(n_chunk_rows, slots, max_l + 1, 1, n_max),
                     radial_derivative.view(n_chunk_rows, slots, max_l + 1, 1, n_max)],
                    dim=1,
                )
                * factors.view(n_chunk_rows, 1, slots, 1, n_factors, 1)
            ).view(n_chunk_rows, 2 * slots, max_l + 1, n_factors * n_max)
            sums = torch.empty(
                (n_chunk_rows, n_lm, 3, n_factors, n_max), dtype=dtype, device=device
            )
            _row_products(sums, padded_angular, padded_weighted_radial, max_l, 3)
            if want_strain:
                # strain[b, a] = Σ_j r_b ∂c/∂r_a: xyz_2 is b, the pair-vector direction
                strain_gradient.index_copy_(
                    0, chunk_rows, sums[:, :, :, :3].permute(0, 3, 2, 1, 4).contiguous()
                )
            if want_cell:
                # cell[a, x] = ∂c/∂cell[a, x] = Σ_j S_a ∂c/∂r_x (r_ij = r_j - r_i + S · cell,
                # positions fixed); featomic names the first component xyz, the second abc
                cell_gradient.index_copy_(
                    0,
                    chunk_rows,
                    sums[:, :, :, first_cell:first_cell + 3]
                    .permute(0, 3, 2, 1, 4).contiguous(),
                )
        if want_positions:
            positions_gradient = positions_gradient[:n_gradient_rows]
        return values, positions_gradient, strain_gradient, cell_gradient

    def _padding_vector(self, dtype, device):
        """The vector of padding pairs, (1, 3): inside the cutoff, so that all their
        factors are finite; they are given a zero density weight, so that their radial
        functions are exactly zero."""
        return torch.tensor([[0.0, 0.0, 0.5 * self.radius]], dtype=dtype, device=device)

    def _radial(self, distances, max_l, n_max, need_derivatives, weights=None):
        """``w f_cut s I_nl`` and its distance derivative, (pairs, max_l + 1, n_max)."""
        weight, weight_derivative = self._distance_weights(distances, weights)
        # the weights (one per pair) go on inside the spline's evaluation, in the same
        # pass; choosing and ordering columns afterwards commutes with them
        radial, radial_derivative = self.radial_integral.spline.compute(
            distances, need_derivatives, weights=(weight, weight_derivative)
        )
        layout = _radial_layout(self.radial_sizes, max_l, n_max)
        columns = (max_l + 1) * n_max
        if layout is None:
            radial = radial[:, :columns].reshape(-1, max_l + 1, n_max)
            if need_derivatives:
                radial_derivative = radial_derivative[:, :columns].reshape(-1, max_l + 1, n_max)
            return radial, radial_derivative
        layout = layout.to(distances.device)
        padding = radial.new_zeros((radial.shape[0], 1))
        radial = torch.cat([radial, padding], dim=1)[:, layout].reshape(-1, max_l + 1, n_max)
        if need_derivatives:
            radial_derivative = torch.cat([radial_derivative, padding], dim=1)[:, layout]
            radial_derivative = radial_derivative.reshape(-1, max_l + 1, n_max)
        return radial, radial_derivative


class _ExpansionPairs:
    """The pairs behind a :class:`SphericalExpansion` (those of its centres and neighbour
    types), with what is needed to evaluate their radial and angular factors again.

    ``first``/``second`` are the centre/neighbour atoms as indices into all the atoms of
    the call (``offsets[system] + atom``), ``vectors`` the pair vectors and
    ``cell_shifts`` their cell shifts (device, floating point)."""

    def __init__(self, calculator: SphericalExpansion, batch: _Batch, first: np.ndarray,
                 second: np.ndarray, vectors: torch.Tensor, cell_shifts: torch.Tensor):
        self.calculator = calculator
        self.first = first
        self.second = second
        self.vectors = vectors
        self.cell_shifts = cell_shifts
        self.types = batch.types
        self.offsets = batch.offsets
        self.system_of = batch.system_of
        self.local_index = batch.local_index
        self.total = batch.total
        self.weights = batch.weights
        self._cache = {}
        self._shared = ([], [])

    def factors(self, pairs: np.ndarray, max_l: int, neighbor_type: Optional[int] = None):
        """``(angular, unit, radial, radial_derivative)`` of the pairs ``pairs``
        (indices; ``-1`` for padding): ``[Y_lm; ∂Y_lm/∂r]`` (n, 4, (max_l + 1)²),
        ``r/|r|`` (n, 3) and the weighted radial functions with their distance
        derivatives (n, max_l + 1, n_max), which are zero for padding.

        With ``neighbor_type`` (that of every pair in ``pairs``, one given to
        :meth:`share_factors`), the factors of all the pairs of the shared centre and
        neighbour types are computed at once and kept until :meth:`clear_cache`: for
        pairs that several blocks use (one evaluation of the harmonics and splines for
        all of them costs a fraction of one per block)."""
        if neighbor_type is None:
            return self._factors(pairs, max_l)
        if max_l not in self._cache:
            center_types, neighbor_types = self._shared
            members = np.nonzero(np.isin(self.types[self.first], center_types)
                                 & np.isin(self.types[self.second], neighbor_types))[0]
            # the last position (for index -1) is a padding row
            position = np.full(len(self.first) + 1, -1, dtype=np.int64)
            position[members] = np.arange(len(members))
            position[-1] = len(members)
            self._cache[max_l] = (position, self._factors(np.append(members, -1), max_l))
        position, factors = self._cache[max_l]
        rows = torch.from_numpy(position[pairs]).to(self.vectors.device)
        return tuple(factor.index_select(0, rows) for factor in factors)

    def share_factors(self, center_types, neighbor_types):
        """The pairs whose factors :meth:`factors` keeps: those between the given centre
        and neighbour types."""
        self._shared = (sorted(center_types), sorted(neighbor_types))
        self._cache = {}

    def clear_cache(self):
        """Forget the factors kept by :meth:`factors`."""
        self._cache = {}

    def _factors(self, pairs: np.ndarray, max_l: int):
        calculator = self.calculator
        device = self.vectors.device
        padding = pairs < 0
        any_padding = bool(padding.any())
        rows = torch.from_numpy(np.where(padding, 0, pairs)).to(device)
        vectors = self.vectors.index_select(0, rows)
        if any_padding:
            # the expansion's padding pair (finite factors); its zero weight is set below
            kept = torch.from_numpy(~padding).to(device)
            vectors = torch.where(kept[:, None], vectors,
                                  calculator._padding_vector(vectors.dtype, device))
        distances = torch.linalg.vector_norm(vectors, dim=1)
        weights = None
        if self.weights is not None:
            second = torch.from_numpy(self.second).to(device).index_select(0, rows)
            weights = self.weights.index_select(0, second)
        if any_padding:
            # a zero density weight: the radial factors of padding are exactly zero
            weights = kept.to(vectors.dtype) if weights is None else weights * kept
        n_max = max(calculator.radial_sizes[: max_l + 1])
        radial, radial_derivative = calculator._radial(distances, max_l, n_max, True, weights)
        harmonics, harmonics_gradients = spherical_harmonics(vectors, max_l,
                                                             compute_gradients=True)
        angular = torch.cat([harmonics[:, None, :], harmonics_gradients], dim=1)
        unit = vectors / distances[:, None]
        return angular, unit, radial, radial_derivative


def _row_products(output, left, right, max_l, width):
    """``output[r, lm, ...] = Σ_s left[r, s, lm, ...] right[r, s, l, :]`` for every ``l``.

    ``left`` is (rows, slots, lm · width), ``right`` (rows, slots, max_l + 1, n);
    ``output`` is (rows, lm, ..., n) with ``width`` elements between ``lm`` and ``n``.
    """
    n_rows = left.shape[0]
    n_max = right.shape[-1]
    left = left.reshape(n_rows, left.shape[1], -1)
    flat_output = output.view(n_rows, -1, n_max)
    for l in range(max_l + 1):  # noqa: E741
        columns = slice(l * l * width, (l + 1) * (l + 1) * width)
        flat_output[:, columns] = torch.bmm(left[:, :, columns].transpose(1, 2), right[:, :, l, :])


def _radial_layout(radial_sizes, max_l, n_max):
    """Columns of the concatenated spline output forming a zero-padded
    ``(max_l + 1, n_max)`` table, or ``None`` when all sizes are equal (plain reshape)."""
    sizes = radial_sizes[: max_l + 1]
    if all(size == n_max for size in sizes):
        return None
    total = sum(radial_sizes)
    offsets = np.cumsum([0] + list(radial_sizes))
    layout = np.full((max_l + 1, n_max), total, dtype=np.int64)
    for l, size in enumerate(sizes):  # noqa: E741
        layout[l, :size] = offsets[l] + np.arange(size)
    return torch.from_numpy(layout.reshape(-1))


def _type_pairs(first_types, second_types, present_types):
    """Sorted unique ``(first, second)`` type pairs, plus ``(t, t)`` for present types."""
    first_types = np.concatenate([first_types, present_types]).astype(np.int64)
    second_types = np.concatenate([second_types, present_types]).astype(np.int64)
    if len(first_types) == 0:
        return []
    low = min(first_types.min(), second_types.min())
    span = max(first_types.max(), second_types.max()) - low + 1
    packed = np.unique((first_types - low) * span + (second_types - low))
    return [(int(p // span + low), int(p % span + low)) for p in packed]


def _index_in(sorted_values, queries):
    """Position of each query in ``sorted_values`` (int64), -1 when absent."""
    if len(sorted_values) == 0:
        return np.full(len(queries), -1, dtype=np.int64)
    index = np.searchsorted(sorted_values, queries)
    clipped = np.minimum(index, len(sorted_values) - 1)
    return np.where(sorted_values[clipped] == queries, clipped, -1).astype(np.int64)


# ---------------------------------------------------------------------------------------
# per pair
# ---------------------------------------------------------------------------------------
class SphericalExpansionByPair(_ExpansionBase):
    r"""Spherical expansion of each pair's contribution, before the sum over neighbours.

    Same hyper-parameters as :class:`SphericalExpansion`. Keys
    ``(o3_lambda, o3_sigma, first_atom_type, second_atom_type)``; samples
    ``(system, first_atom, second_atom, cell_shift_a, cell_shift_b, cell_shift_c)`` for
    every pair ``i → j`` closer than the cutoff (both directions), plus the self pairs
    ``(i, i, 0, 0, 0)`` carrying the centre contribution in the λ = 0 blocks with equal
    types (featomic's convention); components ``o3_mu``; properties ``n``. Summing a
    block's rows over ``second_atom`` and the cell shifts gives
    :class:`SphericalExpansion`.

    Position gradients have two rows per pair (``first_atom`` then ``second_atom``; one
    zero row for a periodic image of the atom itself) and none for self pairs.

    Examples
    --------
    >>> import ase.build
    >>> calculator = SphericalExpansionByPair(
    ...     cutoff={"radius": 3.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
    ...     density={"type": "Gaussian", "width": 0.3},
    ...     basis={"type": "TensorProduct", "max_angular": 2,
    ...            "radial": {"type": "Gto", "max_radial": 3}},
    ... )
    >>> by_pair = calculator.compute(ase.build.molecule("H2O"))
    >>> by_pair.block(o3_lambda=0, first_atom_type=1, second_atom_type=1).samples.values.tolist()
    [[0, 1, 2, 0, 0, 0], [0, 2, 1, 0, 0, 0], [0, 1, 1, 0, 0, 0], [0, 2, 2, 0, 0, 0]]
    """

    _key_names = _PAIR_KEY_NAMES

    def compute(
        self,
        systems,
        gradients: Optional[Sequence[str]] = None,
        selected_keys: Optional[Labels] = None,
        selected_samples: Optional[Labels] = None,
        selected_properties: Optional[Labels] = None,
    ) -> TensorMap:
        """Compute the per-pair expansion; arguments as :meth:`SphericalExpansion.compute`
        (``selected_samples`` may use any subset of the pair sample names)."""
        return with_selections(
            lambda samples: self._compute_pairs(systems, gradients, selected_keys, samples),
            selected_samples, selected_properties,
        )

    def _compute_pairs(self, systems, gradients, selected_keys, selected_samples):
        gradients = _check_gradients(gradients, "SphericalExpansionByPair")
        batch, pairs = self._prepare(systems)
        device = batch.systems[0].device
        dtype = batch.systems[0].dtype

        first = pairs.first_atom_global.cpu().numpy()
        second = pairs.second_atom_global.cpu().numpy()
        shifts = pairs.cell_shifts.cpu().numpy()
        present_types = np.unique(batch.types)
        type_pairs = np.unique(
            np.concatenate(
                [
                    np.stack([batch.types[first], batch.types[second]], axis=1),
                    np.stack([present_types, present_types], axis=1),
                ]
            ),
            axis=0,
        )
        keys = self._select_keys(
            [tuple(p) for p in type_pairs.tolist()], selected_keys, present_types.tolist()
        )

        # self pairs after the real ones, as featomic orders them
        atoms = np.arange(batch.total, dtype=np.int64)
        all_first = np.concatenate([first, atoms])
        all_second = np.concatenate([second, atoms])
        all_shifts = np.concatenate([shifts, np.zeros((batch.total, 3), dtype=np.int64)])
        is_self = np.concatenate(
            [np.zeros(len(first), dtype=bool), np.ones(batch.total, dtype=bool)]
        )
        sample_values = np.concatenate(
            [
                batch.system_of[all_first][:, None],
                batch.local_index[all_first][:, None],
                batch.local_index[all_second][:, None],
                all_shifts,
            ],
            axis=1,
        )
        selected = np.ones(len(all_first), dtype=bool)
        if selected_samples is not None:
            if not isinstance(selected_samples, Labels):
                raise TypeError(
                    "`selected_samples` must be Labels, found "
                    f"{type(selected_samples).__name__}"
                )
            all_samples = Labels(_PAIR_SAMPLE_NAMES, sample_values, assume_unique=True)
            selected[:] = False
            selected[all_samples.select(selected_samples)] = True

        pair_types = np.stack([batch.types[all_first], batch.types[all_second]], axis=1)
        angular_channels = sorted({k[0] for k in keys})
        want_positions = "positions" in gradients
        want_strain = "strain" in gradients
        want_cell = "cell" in gradients
        need_gradients = want_positions or want_strain or want_cell

        vectors = pairs.vectors
        pair_weights = None
        if batch.weights is not None:
            pair_weights = batch.weights.index_select(0, pairs.second_atom_global)
        harmonics, harmonics_gradients, radial, radial_derivatives, unit = self._pair_expansion(
            vectors, angular_channels, need_gradients, pair_weights
        )
        center_values = self._center_values(dtype, device)

        blocks = []
        properties = {l: Labels.range("n", self.radial_sizes[l]) for l in angular_channels}
        for l, first_type, second_type in keys:  # noqa: E741
            size = 2 * l + 1
            n_radial = self.radial_sizes[l]
            mask = selected & (pair_types[:, 0] == first_type) & (pair_types[:, 1] == second_type)
            if not (l == 0 and first_type == second_type):
                mask &= ~is_self
            rows = np.nonzero(mask)[0]
            real_rows = rows[rows < len(first)]
            n_self = len(rows) - len(real_rows)
            index = torch.from_numpy(real_rows).to(device)
            harmonics_l = harmonics[:, l * l : (l + 1) * (l + 1)].index_select(0, index)
            radial_l = radial[l].index_select(0, index)
            values = harmonics_l[:, :, None] * radial_l[:, None, :]
            if n_self > 0:
                center_term = center_values.expand(n_self, 1, n_radial).to(values.dtype)
                if batch.weights is not None:
                    self_atoms = torch.from_numpy(all_first[rows[rows >= len(first)]]).to(device)
                    center_term = batch.weights.index_select(0, self_atoms)[:, None, None] \
                        * center_term
                values = torch.cat([values, center_term])
            block = TensorBlock(
                values,
                Labels(_PAIR_SAMPLE_NAMES, sample_values[rows], assume_unique=True),
                [_component(l)],
                properties[l],
            )
            if need_gradients:
                pair_gradient = _pair_gradients(
                    l,
                    harmonics_l,
                    harmonics_gradients[:, :, l * l : (l + 1) * (l + 1)].index_select(0, index),
                    radial_l,
                    radial_derivatives[l].index_select(0, index),
                    unit.index_select(0, index),
                )
            if want_positions:
                n_real = len(real_rows)
                same = first[real_rows] == second[real_rows]
                # rows: first atom (−g) then second atom (+g); a periodic image of the
                # atom itself moves with it, so its single row is zero
                grad = torch.stack([-pair_gradient, pair_gradient], dim=1)
                keep_row = np.ones((n_real, 2), dtype=bool)
                keep_row[same, 1] = False
                if same.any():
                    same_t = torch.from_numpy(np.nonzero(same)[0]).to(device)
                    grad = grad.index_fill(0, same_t, 0.0)
                flat_keep = torch.from_numpy(np.nonzero(keep_row.reshape(-1))[0]).to(device)
                grad = grad.reshape(2 * n_real, 3, size, n_radial).index_select(0, flat_keep)
                sample = np.repeat(np.arange(n_real), 2).reshape(n_real, 2)
                atom = np.stack([first[real_rows], second[real_rows]], axis=1)
                sample, atom = sample[keep_row], atom[keep_row]
                block.add_gradient(
                    "positions",
                    TensorBlock(
                        grad,
                        _labels(
                            ["sample", "system", "atom"],
                            [sample, batch.system_of[atom], batch.local_index[atom]],
                        ),
                        [XYZ, _component(l)],
                        properties[l],
                    ),
                )
            # strain: the pair vectors; cell: the cell shifts (r_ij = r_j - r_i + S · cell)
            for parameter, wanted, factors in (
                ("strain", want_strain, vectors),
                ("cell", want_cell, pairs.cell_shifts),
            ):
                if not wanted:
                    continue
                factors = factors.index_select(0, index).to(pair_gradient.dtype)
                deformation = _deformation_contribution(factors, pair_gradient)
                if n_self > 0:  # self pairs do not move
                    deformation = torch.cat(
                        [deformation, deformation.new_zeros((n_self, 3, 3, size, n_radial))]
                    )
                block.add_gradient(parameter, cell_deformation_gradient(
                    parameter, deformation, properties[l], [_component(l)]))
            blocks.append(block)

        key_labels = Labels(
            _PAIR_KEY_NAMES,
            np.array([(l, 1, a, b) for l, a, b in keys], dtype=np.int32).reshape(-1, 4),
        )
        return TensorMap(key_labels, blocks)
