"""Atomic systems as torch tensors.

A :class:`System` is the input of every calculator: Cartesian ``positions``, atomic
``types`` (atomic numbers), a ``cell`` whose *rows* are the lattice vectors (the ase
convention) and per-direction periodic boundary conditions ``pbc``. Optional per-atom
``weights`` (charges, alchemical weights, ...) travel with the system so that densities
can use them.

:func:`as_systems` turns whatever the user handed to a calculator (one ``ase.Atoms``, a
list of them, :class:`System` objects) into a list of :class:`System` with one dtype and
device.
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np
import torch

__all__ = ["System", "as_systems"]

_FLOAT_DTYPES = (torch.float32, torch.float64)


def _as_tensor(value, name, dtype, device, index_text):
    if isinstance(value, torch.Tensor):
        tensor = value
        if device is not None:
            tensor = tensor.to(device=device)
        if dtype is not None:
            tensor = tensor.to(dtype=dtype)
        return tensor
    try:
        array = np.asarray(value)
    except Exception as error:  # pragma: no cover - numpy raises many types
        raise TypeError(
            f"{index_text}`{name}` must be array-like, found {type(value).__name__}"
        ) from error
    if array.dtype == object:
        raise TypeError(
            f"{index_text}`{name}` must be a numeric array, found an object array"
        )
    return torch.as_tensor(array, dtype=dtype, device=device)


def _all_finite(tensor: torch.Tensor) -> bool:
    """``torch.isfinite(tensor).all()`` as a bool; through numpy on the CPU, several times
    cheaper for the few numbers of a small system (calculators take hundreds of them)."""
    if tensor.requires_grad:
        tensor = tensor.detach()
    if tensor.device.type == "cpu":
        return bool(np.isfinite(tensor.numpy()).all())
    return bool(torch.isfinite(tensor).all())


class System:
    """One atomic structure, stored as torch tensors.

    Parameters
    ----------
    types : array-like of int, shape (n_atoms,)
        Atomic types (atomic numbers).
    positions : array-like of float, shape (n_atoms, 3)
        Cartesian positions. May require grad; everything computed from it then is
        differentiable.
    cell : array-like of float, shape (3, 3), optional
        Lattice vectors as rows. Defaults to zeros (no cell).
    pbc : array-like of bool, shape (3,), optional
        Periodicity along each lattice vector (a single bool applies to all three).
        Defaults to all ``False``.
    weights : array-like of float, shape (n_atoms,), optional
        Per-atom weights (charges, alchemical weights) that densities may use.
    dtype : torch.dtype, optional
        float32 or float64. Defaults to ``positions.dtype`` for tensors and float64
        otherwise.
    device : torch.device or str, optional
        Device of all tensors. Defaults to the device of ``positions``.

    Raises
    ------
    ValueError
        For wrong shapes, non-finite positions or cell, or a cell that is singular
        along its periodic directions.
    TypeError
        For non-integer types, non-floating dtypes.

    Examples
    --------
    >>> import torch
    >>> system = System(
    ...     types=[8, 1, 1],
    ...     positions=[[0.0, 0.0, 0.0], [0.0, 0.76, 0.59], [0.0, -0.76, 0.59]],
    ... )
    >>> len(system), system.positions.dtype, system.pbc.tolist()
    (3, torch.float64, [False, False, False])
    >>> system.to(dtype=torch.float32).positions.dtype
    torch.float32
    """

    def __init__(
        self,
        types,
        positions,
        cell=None,
        pbc=None,
        weights=None,
        *,
        dtype: Optional[torch.dtype] = None,
        device=None,
        _index: Optional[int] = None,
    ):
        index_text = "" if _index is None else f"system {_index}: "

        if dtype is None:
            if isinstance(positions, torch.Tensor) and positions.is_floating_point():
                dtype = positions.dtype
            else:
                dtype = torch.float64
        if dtype not in _FLOAT_DTYPES:
            raise TypeError(
                f"{index_text}`dtype` must be torch.float32 or torch.float64, "
                f"found {dtype}"
            )
        if device is None and isinstance(positions, torch.Tensor):
            device = positions.device
        device = torch.device("cpu") if device is None else torch.device(device)

        positions = _as_tensor(positions, "positions", dtype, device, index_text)
        if positions.dim() != 2 or positions.shape[1] != 3:
            raise ValueError(
                f"{index_text}`positions` must have shape (n_atoms, 3), "
                f"found {tuple(positions.shape)}"
            )
        n_atoms = positions.shape[0]

        types = _as_tensor(types, "types", None, device, index_text)
        if types.is_floating_point() or types.is_complex() or types.dtype == torch.bool:
            raise TypeError(
                f"{index_text}`types` must contain integers, found dtype {types.dtype}"
            )
        if types.dtype != torch.int32:
            types = types.to(torch.int32)
        if types.shape != (n_atoms,):
            raise ValueError(
                f"{index_text}`types` must have shape ({n_atoms},) to match "
                f"positions, found {tuple(types.shape)}"
            )

        if cell is None:
            cell = torch.zeros((3, 3), dtype=dtype, device=device)
        else:
            cell = _as_tensor(cell, "cell", dtype, device, index_text)
        if cell.shape != (3, 3):
            raise ValueError(
                f"{index_text}`cell` must have shape (3, 3), found {tuple(cell.shape)}"
            )

        if pbc is None:
            pbc = torch.zeros(3, dtype=torch.bool, device=device)
        else:
            pbc = _as_tensor(pbc, "pbc", None, device, index_text)
            if pbc.shape == ():
                pbc = pbc.expand(3)
            if pbc.shape != (3,):
                raise ValueError(
                    f"{index_text}`pbc` must have shape (3,), found {tuple(pbc.shape)}"
                )
            if pbc.is_floating_point():
                raise TypeError(
                    f"{index_text}`pbc` must contain booleans, found dtype {pbc.dtype}"
                )
            if pbc.dtype != torch.bool:
                pbc = pbc.to(torch.bool)

        if weights is not None:
            weights = _as_tensor(weights, "weights", dtype, device, index_text)
            if weights.shape != (n_atoms,):
                raise ValueError(
                    f"{index_text}`weights` must have shape ({n_atoms},), "
                    f"found {tuple(weights.shape)}"
                )

        self.types = types
        self.positions = positions
        self.cell = cell
        self.pbc = pbc
        self.weights = weights
        self._validate(index_text)

    def _validate(self, index_text=""):
        # one check (and one device synchronisation) in the common, valid case; the
        # culprits are looked for only when it fails
        if not _all_finite(self.positions):
            finite = torch.isfinite(self.positions.detach()).all(dim=1)
            bad = torch.nonzero(~finite).flatten().tolist()
            raise ValueError(
                f"{index_text}`positions` must be finite, found NaN or infinity "
                f"for atom(s) {bad[:10]}"
            )
        if not _all_finite(self.cell):
            raise ValueError(
                f"{index_text}`cell` must be finite, found {self.cell.tolist()}"
            )
        if self.weights is not None and not _all_finite(self.weights):
            raise ValueError(f"{index_text}`weights` must be finite")
        if not any(self.pbc.tolist()):
            return
        periodic_vectors = self.cell.detach()[self.pbc].to(torch.float64)
        if periodic_vectors.shape[0] > 0:
            # The Gram determinant measures the volume spanned by the periodic
            # vectors relative to their lengths, so it is scale-free.
            lengths = periodic_vectors.norm(dim=1)
            if bool((lengths == 0).any()):
                raise ValueError(
                    f"{index_text}`cell` is singular: lattice vector(s) "
                    f"{torch.nonzero(self.pbc).flatten()[lengths == 0].tolist()} "
                    "are zero but periodic (pbc=True)"
                )
            unit = periodic_vectors / lengths[:, None]
            gram = torch.linalg.det(unit @ unit.T)
            if float(gram) < 1e-12:
                raise ValueError(
                    f"{index_text}`cell` is singular along its periodic directions "
                    f"(pbc={self.pbc.tolist()}): found cell {self.cell.tolist()}"
                )

    # construction helpers -------------------------------------------------------------
    @classmethod
    def from_ase(cls, atoms, *, dtype=torch.float64, device=None, weights=None):
        """Build a :class:`System` from an ``ase.Atoms``.

        Parameters
        ----------
        atoms : ase.Atoms
        dtype : torch.dtype
            float32 or float64 (default).
        device : torch.device or str, optional
        weights : array-like or str, optional
            Per-atom weights, or the name of an ``atoms.arrays`` entry (e.g.
            ``"initial_charges"``).

        Examples
        --------
        >>> import ase
        >>> system = System.from_ase(ase.Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.7]]))
        >>> system.types.tolist()
        [1, 1]
        """
        try:
            import ase
        except ImportError as error:  # pragma: no cover
            raise ImportError("System.from_ase requires ase") from error
        if not isinstance(atoms, ase.Atoms):
            raise TypeError(
                f"`atoms` must be an ase.Atoms, found {type(atoms).__name__}"
            )
        if isinstance(weights, str):
            if weights not in atoms.arrays:
                raise ValueError(
                    f"`weights`: atoms have no array named '{weights}', available: "
                    f"{sorted(atoms.arrays)}"
                )
            weights = atoms.arrays[weights]
        return cls(
            types=atoms.numbers.astype(np.int32),
            positions=atoms.positions,
            cell=np.asarray(atoms.cell[:]),
            pbc=np.asarray(atoms.pbc, dtype=bool),
            weights=weights,
            dtype=dtype,
            device=device,
        )

    def __len__(self) -> int:
        return self.positions.shape[0]

    def __repr__(self) -> str:
        return (
            f"System(n_atoms={len(self)}, pbc={self.pbc.tolist()}, "
            f"dtype={self.dtype}, device={self.device})"
        )

    @property
    def dtype(self) -> torch.dtype:
        return self.positions.dtype

    @property
    def device(self) -> torch.device:
        return self.positions.device

    def to(self, device=None, dtype=None) -> "System":
        """Return a copy on ``device`` with floating tensors in ``dtype``.

        Gradients flow through the conversion (``Tensor.to`` is differentiable).
        """
        if dtype is not None and dtype not in _FLOAT_DTYPES:
            raise TypeError(f"`dtype` must be torch.float32 or torch.float64, found {dtype}")
        new = System.__new__(System)
        new.positions = self.positions.to(device=device, dtype=dtype)
        new.cell = self.cell.to(device=device, dtype=dtype)
        new.types = self.types.to(device=device)
        new.pbc = self.pbc.to(device=device)
        new.weights = (
            None if self.weights is None else self.weights.to(device=device, dtype=dtype)
        )
        return new


def as_systems(systems, dtype: Optional[torch.dtype] = None, device=None) -> List[System]:
    """Convert calculator inputs to a list of :class:`System`.

    Parameters
    ----------
    systems : System, ase.Atoms, or a list/tuple of them
    dtype : torch.dtype, optional
        Target float dtype; by default :class:`System` keep theirs and ``ase.Atoms``
        become float64.
    device : optional
        Target device; by default kept (``ase.Atoms`` go to the CPU).

    Examples
    --------
    >>> import ase, torch
    >>> systems = as_systems([ase.Atoms("H"), ase.Atoms("O")], dtype=torch.float32)
    >>> [len(s) for s in systems], systems[0].dtype
    ([1, 1], torch.float32)
    """
    if isinstance(systems, (list, tuple)):
        items = list(systems)
    else:
        items = [systems]
    result = []
    for index, item in enumerate(items):
        if isinstance(item, System):
            if dtype is not None or device is not None:
                try:
                    item = item.to(device=device, dtype=dtype)
                except (ValueError, TypeError, RuntimeError) as error:
                    raise type(error)(f"system {index}: {error}") from error
            result.append(item)
            continue
        try:
            import ase
        except ImportError:  # pragma: no cover
            ase = None
        if ase is not None and isinstance(item, ase.Atoms):
            try:
                system = System.from_ase(
                    item, dtype=torch.float64 if dtype is None else dtype, device=device
                )
            except (ValueError, TypeError) as error:
                raise type(error)(f"system {index}: {error}") from error
            result.append(system)
            continue
        raise TypeError(
            f"`systems[{index}]` must be a calculators.System or an ase.Atoms, "
            f"found {type(item).__name__}"
        )
    for index, system in enumerate(result[1:], start=1):
        if system.dtype != result[0].dtype:
            raise TypeError(
                f"`systems` must all share one dtype: system {index} is {system.dtype}, "
                f"system 0 is {result[0].dtype}; pass dtype= to convert them"
            )
        if system.device != result[0].device:
            raise ValueError(
                f"`systems` must all live on one device: system {index} is on "
                f"{system.device}, system 0 on {result[0].device}; pass device= to move them"
            )
    return result
