"""The ``NeighborList`` calculator: pair vectors as a TensorMap (featomic layout).

Output, as featomic 0.6's ``NeighborList`` writes it:

- keys ``first_atom_type, second_atom_type``: one block per pair of types that has
  at least one pair (``first_atom_type ≤ second_atom_type`` for half lists);
- samples ``system, first_atom, second_atom, cell_shift_a, cell_shift_b,
  cell_shift_c`` sorted in this order;
- components ``pair_xyz`` (0, 1, 2); properties ``distance`` (0);
- values the pair vectors ``r_j − r_i + S · cell``, shape (n_pairs, 3, 1), differentiable
  by autograd with respect to positions and cell;
- ``positions`` gradients: samples ``sample, system, atom`` (the first atom, with
  ``−I``, then the second, with ``+I``), components ``xyz, pair_xyz``.

Deliberate differences from featomic: a periodic self-image pair ``(i, i, S)`` gets a
single, zero, gradient row (featomic writes two rows with the same sample, which is not
valid Labels).
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np
import torch

from blocktensor import Labels, TensorBlock, TensorMap

from ._gradients import XYZ
from .neighbors import PAIR_SAMPLE_NAMES, neighbor_list
from .system import as_systems

__all__ = ["NeighborList"]

_SAMPLE_NAMES = PAIR_SAMPLE_NAMES


class NeighborList(torch.nn.Module):
    """Pairs of atoms within a cutoff, as a TensorMap.

    Parameters
    ----------
    cutoff : float
        Pairs strictly closer than this are included.
    full_neighbor_list : bool
        ``True``: both ``i → j`` and ``j → i``. ``False``: each pair once, oriented so
        that ``first_atom_type ≤ second_atom_type`` (and ``first_atom < second_atom``
        for equal types).
    self_pairs : bool
        Also include every atom paired with itself (zero vector).

    Examples
    --------
    >>> import ase
    >>> water = ase.Atoms("OH2", positions=[[0, 0, 0], [0, 0.76, 0.59], [0, -0.76, 0.59]])
    >>> pairs = NeighborList(cutoff=1.2, full_neighbor_list=False).compute(water)
    >>> pairs.keys.values.tolist()
    [[1, 8]]
    >>> block = pairs.block(0)
    >>> block.samples.values.tolist()
    [[0, 1, 0, 0, 0, 0], [0, 2, 0, 0, 0, 0]]
    >>> (block.values[0, :, 0] + 0.0).tolist()  # + 0.0 turns -0.0 into 0.0
    [0.0, -0.76, -0.59]
    """

    def __init__(self, cutoff: float, full_neighbor_list: bool, self_pairs: bool = False):
        super().__init__()
        cutoff = float(cutoff)
        if not (cutoff > 0 and np.isfinite(cutoff)):
            raise ValueError(f"`cutoff` must be positive and finite, found {cutoff}")
        self.cutoff = cutoff
        self.full_neighbor_list = bool(full_neighbor_list)
        self.self_pairs = bool(self_pairs)

    def extra_repr(self) -> str:
        return (
            f"cutoff={self.cutoff}, full_neighbor_list={self.full_neighbor_list}, "
            f"self_pairs={self.self_pairs}"
        )

    def compute(self, systems, gradients: Optional[List[str]] = None) -> TensorMap:
        """Compute the pairs of ``systems`` (System, ase.Atoms or a list of them).

        Parameters
        ----------
        systems
        gradients : list of str, optional
            Only ``"positions"`` is supported.
        """
        gradients = [] if gradients is None else list(gradients)
        for parameter in gradients:
            if parameter != "positions":
                raise ValueError(
                    f"`gradients` may only contain 'positions', found '{parameter}'"
                )
        systems = as_systems(systems)
        device = systems[0].device if systems else torch.device("cpu")
        dtype = systems[0].dtype if systems else torch.float64

        parts = {"system": [], "first": [], "second": [], "shifts": [], "vectors": []}
        parts["types_first"], parts["types_second"] = [], []
        for index, system in enumerate(systems):
            pairs = neighbor_list(
                system, self.cutoff, self.full_neighbor_list, system_index=index
            )
            first, second = pairs.first_atom, pairs.second_atom
            shifts, vectors = pairs.cell_shifts, pairs.vectors
            types = system.types.to(torch.int64)
            if not self.full_neighbor_list:
                # orient every pair from the lower to the higher type
                flip = types[first] > types[second]
                first, second = (
                    torch.where(flip, second, first),
                    torch.where(flip, first, second),
                )
                shifts = torch.where(flip[:, None], -shifts, shifts)
                vectors = torch.where(flip[:, None], -vectors, vectors)
            if self.self_pairs:
                atoms = torch.arange(len(system), device=device)
                first = torch.cat([first, atoms])
                second = torch.cat([second, atoms])
                shifts = torch.cat([shifts, torch.zeros((len(system), 3), dtype=shifts.dtype, device=device)])
                # 0 · positions keeps the autograd connection for the self pairs
                vectors = torch.cat([vectors, 0.0 * system.positions])
            parts["system"].append(torch.full_like(first, index))
            parts["first"].append(first)
            parts["second"].append(second)
            parts["shifts"].append(shifts)
            parts["vectors"].append(vectors)
            parts["types_first"].append(types[first])
            parts["types_second"].append(types[second])

        if not systems or sum(len(f) for f in parts["first"]) == 0:
            return self._empty_map(gradients, dtype, device)

        system = torch.cat(parts["system"])
        first = torch.cat(parts["first"])
        second = torch.cat(parts["second"])
        shifts = torch.cat(parts["shifts"])
        vectors = torch.cat(parts["vectors"])
        type_pairs = torch.stack(
            [torch.cat(parts["types_first"]), torch.cat(parts["types_second"])], dim=1
        )

        # one lexicographic sort of everything by (types, system, first, second, S):
        # each block is then a contiguous, sorted, slice
        order = torch.arange(first.shape[0], device=device)
        for key in (shifts[:, 2], shifts[:, 1], shifts[:, 0], second, first, system,
                    type_pairs[:, 1], type_pairs[:, 0]):
            order = order[torch.argsort(key[order], stable=True)]
        system, first, second = system[order], first[order], second[order]
        shifts, vectors, type_pairs = shifts[order], vectors[order], type_pairs[order]

        unique_types, counts = torch.unique_consecutive(type_pairs, dim=0, return_counts=True)
        keys = Labels(["first_atom_type", "second_atom_type"], unique_types.cpu().numpy())
        sample_values = torch.cat(
            [system[:, None], first[:, None], second[:, None], shifts], dim=1
        ).cpu().numpy()
        components = [Labels.range("pair_xyz", 3)]
        properties = Labels.range("distance", 1)

        blocks = []
        start = 0
        for count in counts.tolist():
            rows = slice(start, start + count)
            start += count
            block = TensorBlock(
                values=vectors[rows].reshape(count, 3, 1),
                samples=Labels(_SAMPLE_NAMES, sample_values[rows], assume_unique=True),
                components=components,
                properties=properties,
            )
            if "positions" in gradients:
                block.add_gradient(
                    "positions",
                    self._positions_gradient(system[rows], first[rows], second[rows], dtype),
                )
            blocks.append(block)
        return TensorMap(keys, blocks)

    @staticmethod
    def _positions_gradient(system, first, second, dtype) -> TensorBlock:
        n_pairs = first.shape[0]
        device = first.device
        pair = torch.arange(n_pairs, device=device)
        distinct = first != second
        # rows: (pair, first) then (pair, second) unless the pair is a self image
        atom = torch.stack([first, second], dim=1).reshape(-1)
        sample = pair.repeat_interleave(2)
        keep = torch.stack([torch.ones_like(distinct), distinct], dim=1).reshape(-1)
        sign = torch.tensor([-1.0, 1.0], dtype=dtype, device=device).repeat(n_pairs)
        sign = torch.where(
            torch.stack([distinct, distinct], dim=1).reshape(-1), sign, torch.zeros_like(sign)
        )
        sample, atom, sign = sample[keep], atom[keep], sign[keep]
        identity = torch.eye(3, dtype=dtype, device=device)
        values = (sign[:, None, None] * identity).reshape(-1, 3, 3, 1)
        samples = torch.stack([sample, system[sample], atom], dim=1).cpu().numpy()
        return TensorBlock(
            values=values,
            samples=Labels(["sample", "system", "atom"], samples, assume_unique=True),
            components=[XYZ, Labels.range("pair_xyz", 3)],
            properties=Labels.range("distance", 1),
        )

    @staticmethod
    def _empty_map(gradients, dtype, device) -> TensorMap:
        return TensorMap(Labels.empty(["first_atom_type", "second_atom_type"]), [])
