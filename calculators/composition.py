"""Atomic composition: how many atoms of each type, per atom or per system.

The same output as featomic's ``AtomicComposition``: one block per atomic type
(key ``center_type``) with the single property ``count``. Counts do not depend on the
positions or on the cell, so explicit gradients are empty (``positions``: no rows) or
zeros (``strain``/``cell``: one row per sample), exactly as featomic writes them.
"""

from __future__ import annotations

from typing import List

import numpy as np
import torch

from blocktensor import Labels, TensorBlock, TensorMap

from ._gradients import XYZ, cell_deformation_gradient, check_gradients
from .system import as_systems

__all__ = ["AtomicComposition"]

_SUPPORTED_GRADIENTS = ("positions", "strain", "cell")


def _check_gradients(gradients) -> List[str]:
    return check_gradients(gradients, _SUPPORTED_GRADIENTS, "AtomicComposition")


def zero_gradient(parameter: str, n_samples: int, properties: Labels, dtype, device,
                  empty_positions: bool = True) -> TensorBlock:
    """The gradient block of a quantity that does not depend on ``parameter``: no rows for
    ``positions``, one zero row per sample for ``strain`` and ``cell``."""
    n_properties = len(properties)
    if parameter == "positions":
        samples = Labels.empty(["sample", "system", "atom"])
        return TensorBlock(
            torch.zeros((0, 3, n_properties), dtype=dtype, device=device),
            samples, [XYZ], properties,
        )
    return cell_deformation_gradient(
        parameter, torch.zeros((n_samples, 3, 3, n_properties), dtype=dtype, device=device),
        properties,
    )


class AtomicComposition(torch.nn.Module):
    """Stoichiometry of atomic systems, as featomic's ``AtomicComposition``.

    Parameters
    ----------
    per_system : bool
        ``False``: one sample ``(system, atom)`` per atom of the key's type, with
        ``count = 1``. ``True``: one sample ``(system)`` per system (all systems, also those
        without the type), with the number of atoms of the key's type.

    Examples
    --------
    >>> import ase
    >>> water = ase.Atoms("OH2", positions=[[0, 0, 0], [0, 0.76, 0.59], [0, -0.76, 0.59]])
    >>> composition = AtomicComposition(per_system=True).compute([water, ase.Atoms("H")])
    >>> composition.keys.values.tolist()
    [[1], [8]]
    >>> composition.block(center_type=1).values.tolist()
    [[2.0], [1.0]]
    """

    def __init__(self, *, per_system: bool):
        super().__init__()
        if not isinstance(per_system, bool):
            raise TypeError(f"`per_system` must be a bool, found {type(per_system).__name__}")
        self.per_system = per_system

    def extra_repr(self) -> str:
        return f"per_system={self.per_system}"

    def compute(self, systems, gradients=None) -> TensorMap:
        """Composition of ``systems`` (``ase.Atoms``, :class:`~calculators.system.System`
        or a list of them) with the requested (trivial) ``gradients``."""
        gradients = _check_gradients(gradients)
        systems = as_systems(systems)
        if len(systems) == 0:
            raise ValueError("`systems` must contain at least one system, found none")
        dtype = systems[0].dtype
        device = systems[0].device
        types = torch.cat([system.types for system in systems]).cpu().numpy()
        system_index = np.repeat(
            np.arange(len(systems), dtype=np.int64), [len(system) for system in systems]
        )
        atom_index = np.concatenate(
            [np.arange(len(system), dtype=np.int64) for system in systems]
        )
        all_types = np.unique(types)
        properties = Labels("count", np.zeros((1, 1), dtype=np.int32))

        blocks = []
        for atomic_type in all_types.tolist():
            selected = types == atomic_type
            if self.per_system:
                counts = np.bincount(system_index[selected], minlength=len(systems))
                samples = Labels("system", np.arange(len(systems), dtype=np.int32)[:, None])
                values = torch.tensor(counts, dtype=dtype, device=device).reshape(-1, 1)
            else:
                samples = Labels(
                    ["system", "atom"],
                    np.stack([system_index[selected], atom_index[selected]], axis=1),
                )
                values = torch.ones((int(selected.sum()), 1), dtype=dtype, device=device)
            block = TensorBlock(values, samples, [], properties)
            for parameter in gradients:
                block.add_gradient(
                    parameter,
                    zero_gradient(parameter, len(samples), properties, dtype, device),
                )
            blocks.append(block)

        keys = Labels("center_type", all_types.astype(np.int32).reshape(-1, 1))
        return TensorMap(keys, blocks)

    def forward(self, systems, gradients=None) -> TensorMap:
        return self.compute(systems, gradients=gradients)
