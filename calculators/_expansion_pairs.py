"""Full neighbour lists of many systems at once, for the spherical expansion.

Periodic or large systems go through :func:`calculators.neighbors.neighbor_list` one by
one. Small non-periodic systems (molecules) are all handled together by one vectorised
all-pairs search: with datasets of many small molecules the per-system overhead of a
cell list would otherwise dominate the whole calculation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

import torch

from .neighbors import neighbor_list
from .system import System

# same threshold as calculators.neighbors: closer atoms are an error
_OVERLAP_DISTANCE = 1e-10
# non-periodic systems up to this size use the all-pairs search (n² candidates each)
_SMALL_SYSTEM = 128


@dataclass
class Pairs:
    """Pairs of all systems, ordered by system then as the neighbour list orders them.

    ``first_atom_global`` / ``second_atom_global`` index the concatenation of all atoms;
    ``vectors`` are ``r_j - r_i + S · cell``, differentiable with respect to positions and
    cells.
    """

    system: torch.Tensor
    first_atom_global: torch.Tensor
    second_atom_global: torch.Tensor
    cell_shifts: torch.Tensor
    vectors: torch.Tensor


def _small_molecule_pairs(systems: List[System], indexes: List[int], offsets, cutoff):
    device = systems[0].device
    sizes = torch.tensor([len(systems[i]) for i in indexes], dtype=torch.int64, device=device)
    atom_offsets = torch.tensor([offsets[i] for i in indexes], dtype=torch.int64, device=device)
    system_index = torch.tensor(indexes, dtype=torch.int64, device=device)
    counts = sizes * sizes
    total = int(counts.sum())
    owner = torch.repeat_interleave(
        torch.arange(len(indexes), device=device), counts, output_size=total
    )
    rank = torch.arange(total, device=device) - (torch.cumsum(counts, 0) - counts)[owner]
    owner_size = sizes[owner]
    first = rank // owner_size
    second = rank - first * owner_size
    different = first != second
    owner, first, second = owner[different], first[different], second[different]
    positions = torch.cat([systems[i].positions for i in indexes])
    local_offsets = torch.cumsum(sizes, 0) - sizes
    first_local_global = first + local_offsets[owner]
    second_local_global = second + local_offsets[owner]
    with torch.no_grad():
        detached = positions.detach().to(torch.float64)
        difference = detached[second_local_global] - detached[first_local_global]
        distance_sq = (difference * difference).sum(dim=1)
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
    owner, first, second = owner[keep], first[keep], second[keep]
    vectors = positions[second_local_global[keep]] - positions[first_local_global[keep]]
    return Pairs(
        system=system_index[owner],
        first_atom_global=first + atom_offsets[owner],
        second_atom_global=second + atom_offsets[owner],
        cell_shifts=torch.zeros((len(owner), 3), dtype=torch.int64, device=device),
        vectors=vectors,
    )


def all_pairs(systems: List[System], cutoff: float) -> Pairs:
    """Full neighbour list (both ``i → j`` and ``j → i``) of all ``systems``."""
    device = systems[0].device
    sizes = [len(system) for system in systems]
    offsets = [0] * len(systems)
    for index in range(1, len(systems)):
        offsets[index] = offsets[index - 1] + sizes[index - 1]

    small = [
        index
        for index, system in enumerate(systems)
        if 0 < sizes[index] <= _SMALL_SYSTEM and not bool(system.pbc.any())
    ]
    small_set = set(small)
    parts = []
    if small:
        parts.append(_small_molecule_pairs(systems, small, offsets, cutoff))
    for index, system in enumerate(systems):
        if index in small_set or sizes[index] == 0:
            continue
        pairs = neighbor_list(system, cutoff, full_list=True, system_index=index)
        parts.append(
            Pairs(
                system=torch.full_like(pairs.first_atom, index),
                first_atom_global=pairs.first_atom + offsets[index],
                second_atom_global=pairs.second_atom + offsets[index],
                cell_shifts=pairs.cell_shifts,
                vectors=pairs.vectors,
            )
        )
    if not parts:
        empty = torch.zeros(0, dtype=torch.int64, device=device)
        return Pairs(
            empty,
            empty,
            empty,
            torch.zeros((0, 3), dtype=torch.int64, device=device),
            torch.zeros((0, 3), dtype=systems[0].dtype, device=device),
        )
    if len(parts) == 1:
        return parts[0]
    merged = Pairs(*(torch.cat([getattr(p, name) for p in parts]) for name in (
        "system", "first_atom_global", "second_atom_global", "cell_shifts", "vectors"
    )))
    order = torch.argsort(merged.system, stable=True)
    return Pairs(
        merged.system[order],
        merged.first_atom_global[order],
        merged.second_atom_global[order],
        merged.cell_shifts[order],
        merged.vectors[order],
    )
