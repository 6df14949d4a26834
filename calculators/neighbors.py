"""Neighbour lists with a vectorised cell-list algorithm.

Pairs ``(i, j, S)`` are reported when ``|r_j - r_i + S · cell| < cutoff`` (strictly, as
``ase.neighborlist.neighbor_list`` does), where ``S`` is an integer cell shift that is
zero along non-periodic directions. Self pairs ``(i, i, 0)`` are never reported; periodic
self-images ``(i, i, S ≠ 0)`` are when the cutoff exceeds the cell.

Algorithm (O(N) in the number of atoms, no N × N matrix):

1. A *binning cell* is built: the periodic lattice vectors, completed along non-periodic
   directions by an orthonormal complement (so molecules and slabs need no cell).
2. Atoms are wrapped into the cell along periodic directions and sorted into bins whose
   thickness (distance between bin faces) is at least half the cutoff, or the whole cell
   when it is thinner than that.
3. Along periodic directions the grid of bins is padded by ``s_k = ceil(cutoff /
   thickness_k)`` bins on each side, filled with periodic images of the atoms ("ghosts"):
   an image ``S`` of an atom in bin ``b`` sits in bin ``b + S n``, so the stencil of bin
   offsets needs no wrapping and one linear offset per stencil entry finds every
   candidate, periodic or not.
4. Two atoms closer than the cutoff differ by at most ``s_k`` bins along each direction:
   half of the stencil (offsets lexicographically ≥ 0) is expanded for every atom at once
   with ``repeat_interleave``, the candidates are filtered by distance, and each pair
   found ``(i, j, S)`` is also reported as ``(j, i, -S)``.

The search runs on detached float64 copies, so the set of pairs does not depend on the
requested dtype; the returned vectors are recomputed from the original ``positions`` and
``cell`` and are differentiable with respect to both.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import List, Optional

import torch

from .system import System, as_systems

__all__ = [
    "NeighborPairs",
    "BatchedNeighborPairs",
    "neighbor_list",
    "neighbor_lists",
    "batched_neighbor_list",
    "compute_pairs",
]

# Upper bound on candidate pairs handled at once; bounds the peak memory to a few
# hundred MiB whatever the system size.
_MAX_CANDIDATES_PER_CHUNK = 4_000_000
# Bins are 1/_BINS_PER_CUTOFF of the cutoff thick: a stencil of (2·2 + 1)³ half-size
# bins covers 15.6 cutoff³ instead of 27 cutoff³ with full-size bins.
_BINS_PER_CUTOFF = 2
# Distances below this are considered overlapping atoms.
_OVERLAP_DISTANCE = 1e-10


#: sample names of pair quantities (featomic's convention): the two atoms of a pair and the
#: periodic image of the second one
PAIR_SAMPLE_NAMES = [
    "system",
    "first_atom",
    "second_atom",
    "cell_shift_a",
    "cell_shift_b",
    "cell_shift_c",
]


@dataclass
class NeighborPairs:
    """Pairs of one system.

    Attributes
    ----------
    first_atom, second_atom : torch.Tensor
        int64, shape (n_pairs,).
    cell_shifts : torch.Tensor
        int64, shape (n_pairs, 3): ``S`` in ``r_j - r_i + S · cell``.
    vectors : torch.Tensor
        shape (n_pairs, 3), dtype of the positions, differentiable with respect to
        positions and cell.
    """

    first_atom: torch.Tensor
    second_atom: torch.Tensor
    cell_shifts: torch.Tensor
    vectors: torch.Tensor

    @property
    def distances(self) -> torch.Tensor:
        """Pair distances, shape (n_pairs,)."""
        return torch.linalg.vector_norm(self.vectors, dim=1)

    def __len__(self) -> int:
        return self.first_atom.shape[0]


@dataclass
class BatchedNeighborPairs:
    """Pairs of several systems, concatenated system after system.

    Attributes
    ----------
    system : torch.Tensor
        int64 (n_pairs,), index of the system of each pair.
    first_atom, second_atom : torch.Tensor
        int64 (n_pairs,), atom indices *inside* their system.
    cell_shifts : torch.Tensor
        int64 (n_pairs, 3).
    vectors : torch.Tensor
        (n_pairs, 3) pair vectors.
    atom_offsets : torch.Tensor
        int64 (n_systems,), index of the first atom of each system in the concatenation
        of all systems: ``first_atom + atom_offsets[system]`` is a global index.
    """

    system: torch.Tensor
    first_atom: torch.Tensor
    second_atom: torch.Tensor
    cell_shifts: torch.Tensor
    vectors: torch.Tensor
    atom_offsets: torch.Tensor

    @property
    def distances(self) -> torch.Tensor:
        return torch.linalg.vector_norm(self.vectors, dim=1)

    @property
    def first_atom_global(self) -> torch.Tensor:
        return self.first_atom + self.atom_offsets[self.system]

    @property
    def second_atom_global(self) -> torch.Tensor:
        return self.second_atom + self.atom_offsets[self.system]

    def __len__(self) -> int:
        return self.first_atom.shape[0]


def _check_cutoff(cutoff) -> float:
    try:
        cutoff = float(cutoff)
    except (TypeError, ValueError) as error:
        raise TypeError(f"`cutoff` must be a number, found {type(cutoff).__name__}") from error
    if not (cutoff > 0.0) or cutoff == float("inf"):
        raise ValueError(f"`cutoff` must be positive and finite, found {cutoff}")
    return cutoff


def _binning_cell(cell: torch.Tensor, periodic: List[bool]) -> torch.Tensor:
    """Periodic lattice vectors completed by an orthonormal complement."""
    binning = torch.empty((3, 3), dtype=torch.float64, device=cell.device)
    periodic_dims = [k for k in range(3) if periodic[k]]
    other_dims = [k for k in range(3) if not periodic[k]]
    if len(periodic_dims) == 0:
        return torch.eye(3, dtype=torch.float64, device=cell.device)
    vectors = cell[periodic_dims]
    binning[periodic_dims] = vectors
    if other_dims:
        q, _ = torch.linalg.qr(vectors.T.cpu(), mode="complete")
        complement = q[:, len(periodic_dims) :].T.to(cell.device)
        binning[other_dims] = complement
    return binning


def compute_pairs(
    positions: torch.Tensor,
    cell: torch.Tensor,
    pbc,
    cutoff: float,
    full_list: bool = True,
    system_index: Optional[int] = None,
):
    """Find pairs closer than ``cutoff``; indices only, no gradient.

    Parameters
    ----------
    positions : torch.Tensor (n_atoms, 3)
    cell : torch.Tensor (3, 3), rows are lattice vectors
    pbc : sequence of 3 bools or bool tensor
    cutoff : float
    full_list : bool
        ``True``: both ``(i, j, S)`` and ``(j, i, -S)``. ``False``: only pairs with
        ``i < j``, or ``i == j`` and ``S`` lexicographically positive.
    system_index : int, optional
        Used in error messages.

    Returns
    -------
    first_atom, second_atom : int64 tensors (n_pairs,)
    cell_shifts : int64 tensor (n_pairs, 3)
        Sorted by (first_atom, second_atom, cell_shifts).

    Raises
    ------
    ValueError
        When two atoms overlap (zero distance), naming the system and the atoms.

    Examples
    --------
    >>> import torch
    >>> positions = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 5.0]])
    >>> i, j, S = compute_pairs(positions, torch.zeros(3, 3), [False] * 3, cutoff=2.0)
    >>> i.tolist(), j.tolist()
    ([0, 1], [1, 0])
    """
    cutoff = _check_cutoff(cutoff)
    device = positions.device
    if isinstance(pbc, torch.Tensor):
        periodic = [bool(p) for p in pbc.tolist()]
    else:
        periodic = [bool(p) for p in pbc]
    n_atoms = positions.shape[0]
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    if n_atoms == 0:
        return empty, empty.clone(), torch.zeros((0, 3), dtype=torch.int64, device=device)

    work_dtype = torch.float64 if device.type != "mps" else torch.float32
    with torch.no_grad():
        pos = positions.detach().to(work_dtype)
        binning = _binning_cell(cell.detach().to(torch.float64), periodic).to(work_dtype)
        inverse = torch.linalg.inv(binning)
        fractional = pos @ inverse

        periodic_mask = torch.tensor(periodic, device=device)
        wrap = torch.where(
            periodic_mask, torch.floor(fractional), torch.zeros_like(fractional)
        )
        fractional = fractional - wrap
        wrap = wrap.to(torch.int64)
        # non-periodic directions: start the coordinates at zero
        minimum = fractional.min(dim=0).values
        fractional = torch.where(
            periodic_mask, fractional, fractional - minimum[None, :]
        )
        extent = torch.where(
            periodic_mask,
            torch.ones(3, dtype=work_dtype, device=device),
            fractional.max(dim=0).values,
        )
        # distance between lattice planes of the binning cell
        spacing = 1.0 / torch.linalg.vector_norm(inverse, dim=0)
        thickness = (extent * spacing).tolist()
        extent_host = extent.tolist()
        spacing_host = spacing.tolist()

        n_bins = [max(1, int(_BINS_PER_CUTOFF * t / cutoff)) for t in thickness]
        max_bins = max(64, 8 * n_atoms)
        while n_bins[0] * n_bins[1] * n_bins[2] > max_bins:
            n_bins = [max(1, b // 2) for b in n_bins]
        bin_width = [
            (extent_host[k] / n_bins[k]) if extent_host[k] > 0 else 1.0 for k in range(3)
        ]
        search = []
        for k in range(3):
            ratio = cutoff / (spacing_host[k] * bin_width[k])
            # the tiny margin only ever adds candidates, never loses one
            reach = math.ceil(ratio * (1.0 + 1e-10))
            if not periodic[k]:
                reach = min(reach, n_bins[k] - 1)
            search.append(max(reach, 0))

        # bins are 1/n of the binning cell along each direction, padded by `search` bins
        # on both sides; along periodic directions the padding holds periodic images of
        # the atoms ("ghosts"), so that the stencil needs no wrapping and an image of an
        # atom in bin b sits exactly in bin b + S·n
        n_bins_t = torch.tensor(n_bins, dtype=torch.int64, device=device)
        search_t = torch.tensor(search, dtype=torch.int64, device=device)
        padded = [n_bins[k] + 2 * search[k] for k in range(3)]
        width_t = torch.tensor(bin_width, dtype=work_dtype, device=device)
        atom_bin3 = torch.floor(fractional / width_t).to(torch.int64)
        atom_bin3 = torch.minimum(torch.clamp(atom_bin3, min=0), n_bins_t - 1)
        wrapped_positions = fractional @ binning  # positions inside the binning cell

        image_range = [
            range(-((search[k] + n_bins[k] - 1) // n_bins[k]),
                  (search[k] + n_bins[k] - 1) // n_bins[k] + 1)
            if periodic[k] else range(1)
            for k in range(3)
        ]
        images = torch.tensor(
            [s for s in itertools.product(*image_range) if any(s)],
            dtype=torch.int64,
            device=device,
        ).reshape(-1, 3)
        ghost_bin3 = atom_bin3[None, :, :] + (images * n_bins_t)[:, None, :]
        inside = ((ghost_bin3 >= -search_t) & (ghost_bin3 < n_bins_t + search_t)).all(dim=2)
        ghost_image, ghost_atom = torch.nonzero(inside, as_tuple=True)
        image_shifts = images.to(work_dtype) @ binning
        all_atoms = torch.arange(n_atoms, device=device)
        extended_atom = torch.cat([all_atoms, ghost_atom])
        extended_image = torch.cat([torch.zeros_like(atom_bin3), images[ghost_image]])
        # (r_j - r_i) + shift, in this order: with the shift added first, an image at
        # exactly the cutoff could round to just inside it
        extended_positions = wrapped_positions.index_select(0, extended_atom)
        extended_shifts = torch.cat(
            [torch.zeros_like(wrapped_positions), image_shifts[ghost_image]]
        )
        extended_bin3 = torch.cat([atom_bin3, ghost_bin3[ghost_image, ghost_atom]]) + search_t
        extended_bin = (
            extended_bin3[:, 0] * padded[1] + extended_bin3[:, 1]
        ) * padded[2] + extended_bin3[:, 2]
        atom_bin = extended_bin[:n_atoms]
        extended_by_bin = torch.argsort(extended_bin, stable=True)
        bin_count = torch.bincount(extended_bin, minlength=padded[0] * padded[1] * padded[2])
        bin_start = torch.cumsum(bin_count, 0) - bin_count

        # half of the stencil: the zero offset first, then the offsets lexicographically
        # after it; the other half gives the same pairs in the opposite direction
        offsets = [
            (dx * padded[1] + dy) * padded[2] + dz
            for dx, dy, dz in itertools.product(*[range(-s, s + 1) for s in search])
            if (dx, dy, dz) >= (0, 0, 0)
        ]
        offsets = torch.tensor(offsets, dtype=torch.int64, device=device)
        n_offsets = offsets.shape[0]
        max_count = int(bin_count.max())
        chunk = max(1, _MAX_CANDIDATES_PER_CHUNK // max(1, n_offsets * max_count))

        all_first, all_second = [], []
        cutoff_sq = cutoff * cutoff
        for start in range(0, n_atoms, chunk):
            stop = min(start + chunk, n_atoms)
            target_bin = (atom_bin[start:stop, None] + offsets[None, :]).reshape(-1)
            counts = bin_count.index_select(0, target_bin)
            n_candidates = int(counts.sum())
            if n_candidates == 0:
                continue
            owner = torch.repeat_interleave(
                torch.arange(counts.shape[0], device=device), counts, output_size=n_candidates
            )
            owner_start = torch.cumsum(counts, 0) - counts
            rank = torch.arange(n_candidates, device=device) - owner_start.index_select(0, owner)
            second = extended_by_bin.index_select(
                0, bin_start.index_select(0, target_bin).index_select(0, owner) + rank
            )
            first = torch.div(owner, n_offsets, rounding_mode="floor") + start
            vectors = extended_positions.index_select(0, second) - wrapped_positions.index_select(
                0, first
            )
            vectors += extended_shifts.index_select(0, second)
            # a reduction over a length-3 axis is slow in torch; sum the columns instead
            squares = vectors * vectors
            distance_sq = squares[:, 0] + squares[:, 1] + squares[:, 2]
            # inside the own bin (offset 0: only atoms, no ghosts) keep each pair once
            keep = (distance_sq < cutoff_sq) & ((owner % n_offsets != 0) | (second > first))
            kept = torch.nonzero(keep).flatten()
            all_first.append(first.index_select(0, kept))
            all_second.append(second.index_select(0, kept))
            kept_distance_sq = distance_sq.index_select(0, kept)
            overlapping = kept_distance_sq < _OVERLAP_DISTANCE**2
            if bool(overlapping.any()):
                where = int(kept[torch.nonzero(overlapping)[0, 0]])
                i, j = int(first[where]), int(extended_atom[second[where]])
                prefix = "" if system_index is None else f"system {system_index}: "
                raise ValueError(
                    f"{prefix}atoms {i} and {j} overlap (distance "
                    f"{float(distance_sq[where]) ** 0.5:.3g} < {_OVERLAP_DISTANCE}); "
                    "two atoms can not share a position"
                )

        if not all_first:
            return empty, empty.clone(), torch.zeros((0, 3), dtype=torch.int64, device=device)
        half_first = torch.cat(all_first)
        extended_second = torch.cat(all_second)
        half_second = extended_atom.index_select(0, extended_second)
        half_shifts = (
            extended_image.index_select(0, extended_second)
            - wrap.index_select(0, half_second)
            + wrap.index_select(0, half_first)
        )
        # every pair (i, j, S) of the half stencil is also (j, i, -S)
        first_atom = torch.cat([half_first, half_second])
        second_atom = torch.cat([half_second, half_first])
        cell_shifts = torch.cat([half_shifts, -half_shifts])

        if not full_list:
            s0, s1, s2 = cell_shifts.unbind(dim=1)
            positive_shift = (s0 > 0) | ((s0 == 0) & (s1 > 0)) | (
                (s0 == 0) & (s1 == 0) & (s2 > 0)
            )
            half = (first_atom < second_atom) | ((first_atom == second_atom) & positive_shift)
            first_atom = first_atom[half]
            second_atom = second_atom[half]
            cell_shifts = cell_shifts[half]

        order = _lexicographic_order(first_atom, second_atom, cell_shifts, n_atoms)
        return first_atom[order], second_atom[order], cell_shifts[order].contiguous()


def _lexicographic_order(first_atom, second_atom, cell_shifts, n_atoms):
    """Permutation sorting pairs by (first_atom, second_atom, cell_shifts)."""
    if first_atom.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64, device=first_atom.device)
    low = cell_shifts.min(dim=0).values
    shifted = cell_shifts - low
    span = (shifted.max(dim=0).values + 1).tolist()
    n_keys = n_atoms * n_atoms * span[0] * span[1] * span[2]
    if n_keys < 2**62:
        # one sort on a packed key is much cheaper than five stable sorts
        key = ((first_atom * n_atoms + second_atom) * span[0] + shifted[:, 0]) * span[1]
        key = (key + shifted[:, 1]) * span[2] + shifted[:, 2]
        return torch.argsort(key)
    order = torch.arange(first_atom.shape[0], device=first_atom.device)
    for key in (cell_shifts[:, 2], cell_shifts[:, 1], cell_shifts[:, 0], second_atom, first_atom):
        order = order[torch.argsort(key[order], stable=True)]
    return order


def neighbor_list(
    system: System, cutoff: float, full_list: bool = True, system_index: Optional[int] = None
) -> NeighborPairs:
    """Neighbour list of one :class:`~calculators.system.System`.

    Parameters
    ----------
    system : System
    cutoff : float
        Pairs strictly closer than this are reported.
    full_list : bool
        Whether to report both ``(i, j, S)`` and ``(j, i, -S)``.
    system_index : int, optional
        Index used in error messages.

    Returns
    -------
    NeighborPairs
        Sorted by (first_atom, second_atom, cell_shifts); ``vectors`` are
        ``r_j - r_i + S · cell``, differentiable with respect to positions and cell.

    Examples
    --------
    >>> import ase
    >>> from calculators.system import System
    >>> atoms = ase.Atoms("Cu", cell=[2.0, 2.0, 2.0], pbc=True)
    >>> pairs = neighbor_list(System.from_ase(atoms), cutoff=2.1)
    >>> len(pairs), pairs.cell_shifts[0].tolist(), float(pairs.distances[0])
    (6, [-1, 0, 0], 2.0)
    """
    if not isinstance(system, System):
        raise TypeError(f"`system` must be a calculators.System, found {type(system).__name__}")
    first, second, shifts = compute_pairs(
        system.positions, system.cell, system.pbc, cutoff, full_list, system_index
    )
    vectors = (
        system.positions[second]
        - system.positions[first]
        + shifts.to(system.positions.dtype) @ system.cell
    )
    return NeighborPairs(first, second, shifts, vectors)


def neighbor_lists(systems, cutoff: float, full_list: bool = True) -> List[NeighborPairs]:
    """:func:`neighbor_list` for each of ``systems`` (anything :func:`as_systems` takes)."""
    systems = as_systems(systems)
    return [
        neighbor_list(system, cutoff, full_list, system_index=index)
        for index, system in enumerate(systems)
    ]


# non-periodic systems up to this size use one all-pairs search for all of them (n²
# candidates each): with many small molecules the per-system overhead of the cell list
# would dominate
_SMALL_SYSTEM = 128


def _small_systems_pairs(systems: List[System], indexes: List[int], cutoff: float):
    """All-pairs search over the non-periodic ``systems[indexes]`` at once.

    Returns ``(system, first_atom, second_atom, vectors)`` with atom indices local to
    their system, ordered by system then (first_atom, second_atom).
    """
    device = systems[0].device
    sizes = torch.tensor([len(systems[i]) for i in indexes], dtype=torch.int64, device=device)
    system_index = torch.tensor(indexes, dtype=torch.int64, device=device)
    counts = sizes * sizes
    total = int(counts.sum())
    owner = torch.repeat_interleave(
        torch.arange(len(indexes), device=device), counts, output_size=total
    )
    rank = torch.arange(total, device=device) - (torch.cumsum(counts, 0) - counts)[owner]
    owner_size = sizes[owner]
    first = torch.div(rank, owner_size, rounding_mode="floor")
    second = rank - first * owner_size
    different = first != second
    owner, first, second = owner[different], first[different], second[different]
    positions = torch.cat([systems[i].positions for i in indexes])
    local_offsets = torch.cumsum(sizes, 0) - sizes
    first_global = first + local_offsets[owner]
    second_global = second + local_offsets[owner]
    with torch.no_grad():
        detached = positions.detach().to(torch.float64)
        difference = detached[second_global] - detached[first_global]
        squares = difference * difference
        distance_sq = squares[:, 0] + squares[:, 1] + squares[:, 2]
        keep = distance_sq < cutoff * cutoff
        overlapping = keep & (distance_sq < _OVERLAP_DISTANCE**2)
        if bool(overlapping.any()):
            where = int(torch.nonzero(overlapping)[0, 0])
            raise ValueError(
                f"system {int(system_index[owner[where]])}: atoms {int(first[where])} and "
                f"{int(second[where])} overlap (distance "
                f"{float(distance_sq[where]) ** 0.5:.3g} < {_OVERLAP_DISTANCE}); two atoms "
                "can not share a position"
            )
    kept = torch.nonzero(keep).flatten()
    vectors = positions[second_global[kept]] - positions[first_global[kept]]
    return system_index[owner[kept]], first[kept], second[kept], vectors


def batched_neighbor_list(systems, cutoff: float, full_list: bool = True) -> BatchedNeighborPairs:
    """Neighbour lists of many systems, concatenated with a ``system`` index.

    Each system's pairs are ordered as :func:`neighbor_list` orders them. Small
    non-periodic systems (molecules) are searched all together, so that datasets of many
    molecules do not pay a per-system cost.

    Examples
    --------
    >>> import ase
    >>> molecules = [ase.Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.7]]), ase.Atoms("He")]
    >>> pairs = batched_neighbor_list(molecules, cutoff=1.0)
    >>> pairs.system.tolist(), pairs.first_atom_global.tolist(), pairs.atom_offsets.tolist()
    ([0, 0], [0, 1], [0, 2])
    """
    cutoff = _check_cutoff(cutoff)
    systems = as_systems(systems)
    if len(systems) == 0:
        raise ValueError("`systems` must contain at least one system, found none")
    device = systems[0].device
    n_atoms = torch.tensor([len(s) for s in systems], dtype=torch.int64, device=device)
    small = [
        index
        for index, system in enumerate(systems)
        if 0 < len(system) <= _SMALL_SYSTEM and not bool(system.pbc.any())
    ]
    small_set = set(small)
    parts = []  # (system, first, second, shifts, vectors)
    if small:
        system, first, second, vectors = _small_systems_pairs(systems, small, cutoff)
        if not full_list:
            half = first < second
            system, first, second, vectors = system[half], first[half], second[half], vectors[half]
        shifts = torch.zeros((len(first), 3), dtype=torch.int64, device=device)
        parts.append((system, first, second, shifts, vectors))
    for index, system in enumerate(systems):
        if index in small_set:
            continue
        pairs = neighbor_list(system, cutoff, full_list, system_index=index)
        parts.append(
            (
                torch.full_like(pairs.first_atom, index),
                pairs.first_atom,
                pairs.second_atom,
                pairs.cell_shifts,
                pairs.vectors,
            )
        )
    merged = [torch.cat(column) for column in zip(*parts)]
    if small and len(parts) > 1:
        order = torch.argsort(merged[0], stable=True)
        merged = [column[order] for column in merged]
    return BatchedNeighborPairs(*merged, atom_offsets=torch.cumsum(n_atoms, 0) - n_atoms)
