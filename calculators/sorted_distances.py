"""Sorted distances: each atom described by the sorted distances to its neighbours.

The same output as featomic's ``SortedDistances``: for every centre, the distances to the
neighbours strictly inside ``cutoff`` (periodic images included), sorted from the smallest,
truncated to ``max_neighbors`` and padded with ``cutoff``. With
``separate_neighbor_types=True`` each neighbour type gets its own block (and its own
``max_neighbors`` entries).

Unlike featomic, explicit gradients with respect to ``positions`` and ``strain`` are
available: ``∂r_ij/∂r_j = r̂_ij = −∂r_ij/∂r_i`` and ``∂r_ij/∂ε_ab = (r_ij)_a (r_ij)_b / r_ij``;
padding entries have zero gradients.
"""

from __future__ import annotations

from typing import List

import numpy as np
import torch

from blocktensor import Labels, TensorBlock, TensorMap
from blocktensor.labels import unique_rows

from ._gradients import XYZ, cell_deformation_gradient, check_gradients
from .neighbors import batched_neighbor_list
from .system import as_systems

__all__ = ["SortedDistances"]

_SUPPORTED_GRADIENTS = ("positions", "strain")


def _check_gradients(gradients) -> List[str]:
    return check_gradients(gradients, _SUPPORTED_GRADIENTS, "SortedDistances")




class SortedDistances(torch.nn.Module):
    """Sorted distances to the neighbours of each atom (featomic's ``SortedDistances``).

    Parameters
    ----------
    cutoff : float
        Spherical cutoff radius (Å); also the padding value.
    max_neighbors : int
        Number of distances per atom (per neighbour type when separated).
    separate_neighbor_types : bool
        Whether each neighbour type gets its own block, keys
        ``(center_type, neighbor_type)`` instead of ``center_type``.

    Examples
    --------
    >>> import ase
    >>> water = ase.Atoms("OH2", positions=[[0, 0, 0], [0, 0.8, 0.6], [0, -0.8, 0.6]])
    >>> calculator = SortedDistances(cutoff=3.0, max_neighbors=3,
    ...                              separate_neighbor_types=False)
    >>> calculator.compute(water).block(center_type=8).values.tolist()
    [[1.0, 1.0, 3.0]]
    """

    def __init__(self, *, cutoff: float, max_neighbors: int, separate_neighbor_types: bool):
        super().__init__()
        try:
            cutoff = float(cutoff)
        except (TypeError, ValueError):
            raise TypeError(
                f"`cutoff` must be a number, found {type(cutoff).__name__}"
            ) from None
        if not cutoff > 0.0 or not np.isfinite(cutoff):
            raise ValueError(f"`cutoff` must be positive and finite, found {cutoff}")
        if isinstance(max_neighbors, bool) or not isinstance(max_neighbors, (int, np.integer)):
            raise TypeError(
                f"`max_neighbors` must be an integer, found {type(max_neighbors).__name__}"
            )
        if max_neighbors < 1:
            raise ValueError(f"`max_neighbors` must be at least 1, found {max_neighbors}")
        if not isinstance(separate_neighbor_types, bool):
            raise TypeError(
                "`separate_neighbor_types` must be a bool, found "
                f"{type(separate_neighbor_types).__name__}"
            )
        self.cutoff = cutoff
        self.max_neighbors = int(max_neighbors)
        self.separate_neighbor_types = separate_neighbor_types

    def extra_repr(self) -> str:
        return (
            f"cutoff={self.cutoff}, max_neighbors={self.max_neighbors}, "
            f"separate_neighbor_types={self.separate_neighbor_types}"
        )

    def forward(self, systems, gradients=None) -> TensorMap:
        return self.compute(systems, gradients=gradients)

    def compute(self, systems, gradients=None) -> TensorMap:
        """Sorted distances of ``systems`` (``ase.Atoms``,
        :class:`~calculators.system.System` or a list of them), with optional explicit
        ``gradients`` (``"positions"``, ``"strain"``)."""
        gradients = _check_gradients(gradients)
        systems = as_systems(systems)
        if len(systems) == 0:
            raise ValueError("`systems` must contain at least one system, found none")
        pairs = batched_neighbor_list(systems, self.cutoff, full_list=True)
        device = systems[0].device
        dtype = systems[0].dtype
        max_neighbors = self.max_neighbors

        types = torch.cat([system.types for system in systems]).to(torch.int64)
        types_host = types.cpu().numpy()
        n_atoms_total = types_host.shape[0]
        atom_system = np.repeat(
            np.arange(len(systems), dtype=np.int64), [len(system) for system in systems]
        )
        atom_index = np.concatenate(
            [np.arange(len(system), dtype=np.int64) for system in systems]
        )
        unique_types, type_index = np.unique(types_host, return_inverse=True)
        type_index = torch.from_numpy(type_index.reshape(-1)).to(device)

        centers = pairs.first_atom_global
        neighbors = pairs.second_atom_global
        vectors = pairs.vectors
        distances = torch.linalg.vector_norm(vectors, dim=1)

        # a "group" is the list a centre sorts: all its neighbours, or those of one type
        if self.separate_neighbor_types:
            groups = centers * len(unique_types) + type_index[neighbors]
        else:
            groups = centers
        by_distance = torch.argsort(distances.detach(), stable=True)
        order = by_distance[torch.argsort(groups[by_distance], stable=True)]
        sorted_groups = groups[order]
        first_in_group = torch.searchsorted(sorted_groups, sorted_groups)
        rank = torch.arange(order.shape[0], device=device) - first_in_group
        kept = rank < max_neighbors
        order = order[kept]
        rank = rank[kept]

        centers_kept = centers[order].cpu().numpy()
        neighbors_kept = neighbors[order].cpu().numpy()
        rank_host = rank.cpu().numpy()
        distances_kept = distances[order]
        vectors_kept = vectors[order]

        # keys and, for each key, its samples and the (row, rank) of each kept pair
        if self.separate_neighbor_types:
            pair_keys = np.stack(
                [types_host[centers_kept], types_host[neighbors_kept]], axis=1
            )
            keys = np.unique(pair_keys, axis=0) if len(pair_keys) else np.zeros((0, 2))
            key_names = ["center_type", "neighbor_type"]
        else:
            keys = unique_types.reshape(-1, 1)
            key_names = ["center_type"]
        keys = np.asarray(keys, dtype=np.int32).reshape(-1, len(key_names))

        properties = Labels("neighbor", np.arange(max_neighbors, dtype=np.int32)[:, None])
        blocks = []
        for key in keys:
            if self.separate_neighbor_types:
                pair_mask = np.all(pair_keys == key[None, :], axis=1)
                sample_atoms = np.unique(centers_kept[pair_mask])
            else:
                pair_mask = types_host[centers_kept] == key[0]
                sample_atoms = np.nonzero(types_host == key[0])[0]
            # global atom index -> row of this block
            row_of_atom = np.full(n_atoms_total, -1, dtype=np.int64)
            row_of_atom[sample_atoms] = np.arange(sample_atoms.shape[0])
            pair_ids = np.nonzero(pair_mask)[0]
            rows = row_of_atom[centers_kept[pair_ids]]
            ranks = rank_host[pair_ids]
            n_samples = sample_atoms.shape[0]

            pair_ids_torch = torch.from_numpy(pair_ids).to(device)
            rows_torch = torch.from_numpy(rows).to(device)
            ranks_torch = torch.from_numpy(ranks).to(device)
            values = torch.full((n_samples, max_neighbors), self.cutoff, dtype=dtype,
                                device=device)
            values = values.index_put(
                (rows_torch, ranks_torch), distances_kept[pair_ids_torch]
            )
            samples = Labels(
                ["system", "atom"],
                np.stack([atom_system[sample_atoms], atom_index[sample_atoms]], axis=1),
            )
            block = TensorBlock(values, samples, [], properties)

            if len(gradients) != 0:
                with torch.no_grad():
                    pair_vectors = vectors_kept[pair_ids_torch]
                    pair_distances = distances_kept[pair_ids_torch]
                flat = rows_torch * max_neighbors + ranks_torch
            if "positions" in gradients:
                center_rows = np.stack(
                    [np.arange(n_samples), atom_system[sample_atoms], atom_index[sample_atoms]],
                    axis=1,
                )
                neighbor_atoms = neighbors_kept[pair_ids]
                neighbor_rows = np.stack(
                    [rows, atom_system[neighbor_atoms], atom_index[neighbor_atoms]], axis=1
                )
                all_rows = np.concatenate([center_rows, neighbor_rows], axis=0)
                if all_rows.shape[0] == 0:
                    gradient_samples = np.zeros((0, 3), dtype=np.int64)
                    inverse = np.zeros(0, dtype=np.int64)
                else:
                    gradient_samples, inverse = unique_rows(all_rows)
                n_rows = gradient_samples.shape[0]
                # center row of each pair's sample, and the neighbour's own row
                center_target = torch.from_numpy(inverse[:n_samples][rows]).to(device)
                neighbor_target = torch.from_numpy(inverse[n_samples:]).to(device)
                unit = pair_vectors / pair_distances[:, None]
                buffer = torch.zeros((n_rows * max_neighbors, 3), dtype=dtype, device=device)
                buffer.index_add_(0, neighbor_target * max_neighbors + ranks_torch, unit)
                buffer.index_add_(0, center_target * max_neighbors + ranks_torch, -unit)
                gradient_values = buffer.reshape(n_rows, max_neighbors, 3).transpose(1, 2)
                block.add_gradient(
                    "positions",
                    TensorBlock(
                        gradient_values.contiguous(),
                        Labels(["sample", "system", "atom"], gradient_samples),
                        [XYZ],
                        properties,
                    ),
                )
            if "strain" in gradients:
                outer = pair_vectors[:, :, None] * pair_vectors[:, None, :]
                outer = outer / pair_distances[:, None, None]
                buffer = torch.zeros((n_samples * max_neighbors, 9), dtype=dtype,
                                     device=device)
                buffer.index_add_(0, flat, outer.reshape(-1, 9))
                gradient_values = buffer.reshape(n_samples, max_neighbors, 3, 3)
                block.add_gradient("strain", cell_deformation_gradient(
                    "strain", gradient_values.permute(0, 2, 3, 1).contiguous(), properties))
            blocks.append(block)

        return TensorMap(Labels(key_names, keys), blocks)
