"""Rotating :class:`~blocktensor.TensorMap` s, and checking that functions are equivariant.

A block with key ``o3_lambda = λ`` and ``o3_sigma = σ`` and an ``o3_mu`` component
transforms under an orthogonal matrix ``R`` as

.. math:: T \\to s(R) \\, D^{λ}(R) \\, T, \\qquad s(R) = σ \\text{ if } \\det R < 0
          \\text{ else } 1

where the real Wigner matrix ``D^λ`` of :func:`~blocktensor.o3.wigner_d_matrices` already
contains the ``(−1)^λ`` of an improper ``R``: the inversion multiplies a block by
``σ (−1)^λ``, so ``σ = −1`` marks pseudotensors. Cartesian components (``xyz``, ``xyz_1``,
``xyz_2``) rotate with ``R``. In gradient blocks, the gradient's own Cartesian components
rotate with ``R`` too: for positions, ``∂(D c)/∂(R r) = D (∂c/∂r) R^T``; for strain both
``xyz`` indices of ``∂c/∂ε`` rotate. Other components (``abc`` of cell gradients) and
blocks without ``o3_lambda`` (invariants) do not change.
"""

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .. import _backend
from ..block import TensorBlock
from ..operations._utils import check_tensor_map, describe_key
from ..tensor import TensorMap
from .rotations import random_rotation, rotate_atoms
from .wigner import wigner_d_matrices

__all__ = ["rotate_tensor_map", "rotate_block", "check_equivariance", "EquivarianceReport"]

_CARTESIAN = ("xyz", "xyz_1", "xyz_2")


def _check_orthogonal(rotation):
    if isinstance(rotation, torch.Tensor):
        rotation = rotation.detach().cpu().numpy()
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape != (3, 3):
        raise ValueError(f"`rotation` must have shape (3, 3), got {rotation.shape}")
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-10):
        raise ValueError("`rotation` must be orthogonal (R @ R.T == identity)")
    return rotation


def _apply(values, axis, matrix):
    """``values`` with ``matrix`` applied along ``axis``:
    ``out[..., i, ...] = Σ_j matrix[i, j] values[..., j, ...]``."""
    if _backend.is_torch(values):
        matrix = torch.as_tensor(matrix, dtype=values.dtype, device=values.device)
        return torch.movedim(torch.tensordot(matrix, values, dims=([1], [axis])), 0, axis)
    return np.moveaxis(np.tensordot(matrix.astype(values.dtype), values, axes=([1], [axis])),
                       0, axis)


def _rotate_values(values, components, rotation, wigner, where):
    """Rotate every axis of ``values`` whose component is ``o3_mu`` (by ``wigner``) or
    Cartesian (by ``rotation``); axis ``i + 1`` holds component ``i``."""
    for i, component in enumerate(components):
        name = component.names[0]
        if name == "o3_mu":
            if wigner is None:
                raise ValueError(
                    f"{where} has an 'o3_mu' component but the keys have no 'o3_lambda'"
                )
            if wigner.shape[0] != len(component):
                raise ValueError(
                    f"{where} has {len(component)} o3_mu components, which does not match "
                    f"its o3_lambda ({(wigner.shape[0] - 1) // 2})"
                )
            values = _apply(values, i + 1, wigner)
        elif name in _CARTESIAN:
            if len(component) != 3:
                raise ValueError(f"{where}: the component {name!r} must have 3 entries")
            values = _apply(values, i + 1, rotation)
    return values


def rotate_block(block, rotation, o3_lambda=None, o3_sigma=1):
    """One block rotated by ``rotation`` (see :func:`rotate_tensor_map`).

    Parameters
    ----------
    block : TensorBlock
    rotation : array-like, shape (3, 3)
        Orthogonal matrix, proper or improper.
    o3_lambda : int, optional
        Degree of the block's ``o3_mu`` component (required when it has one).
    o3_sigma : int
        ``+1`` (tensor) or ``-1`` (pseudotensor).

    Returns
    -------
    TensorBlock
    """
    rotation = _check_orthogonal(rotation)
    return _rotate_block(block, rotation, o3_lambda, o3_sigma, "the block", {})


def _rotate_block(block, rotation, o3_lambda, o3_sigma, where, wigner_cache):
    wigner = None
    if o3_lambda is not None:
        wigner = wigner_cache.get(o3_lambda)
        if wigner is None:
            wigner = wigner_d_matrices(rotation, int(o3_lambda))[int(o3_lambda)]
            wigner_cache[o3_lambda] = wigner
        if np.linalg.det(rotation) < 0:
            wigner = o3_sigma * wigner
    values = _rotate_values(block.values, block.components, rotation, wigner, where)
    rotated = TensorBlock._unchecked(values, block.samples, block.components, block.properties)
    for parameter, gradient in block.gradients():
        gradient_values = _rotate_values(
            gradient.values, gradient.components, rotation, wigner,
            f"the '{parameter}' gradient of {where}",
        )
        new = TensorBlock._unchecked(
            gradient_values, gradient.samples, gradient.components, gradient.properties
        )
        new._is_gradient = True
        rotated._gradients[parameter] = new
    return rotated


def rotate_tensor_map(tensor, rotation):
    """Apply an orthogonal transformation to every block of an equivariant map.

    Blocks with ``o3_lambda``/``o3_sigma`` keys and an ``o3_mu`` component are multiplied
    by the real Wigner matrix of ``R`` (and by ``o3_sigma`` when ``R`` is improper);
    Cartesian components ``xyz``, ``xyz_1``, ``xyz_2`` (of the values or of gradient blocks)
    are multiplied by ``R``. This is what happens to a covariant feature when the input
    structure is rotated by ``R`` (positions ``r → R r``).

    Parameters
    ----------
    tensor : TensorMap
        numpy or torch values (any dtype/device; torch autograd is kept).
    rotation : array-like, shape (3, 3)
        Orthogonal matrix (``det = ±1``).

    Returns
    -------
    TensorMap
        Same metadata, rotated values and gradients.

    Examples
    --------
    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.o3 import spherical_harmonics, random_rotation
    >>> r = np.array([[0.2, -0.5, 0.7]])
    >>> block = TensorBlock(spherical_harmonics(r, 1)[:, 1:4, None], Labels.range("i", 1),
    ...                     [Labels.range("o3_mu", 3)], Labels.range("n", 1))
    >>> tensor = TensorMap(Labels(["o3_lambda", "o3_sigma"], [[1, 1]]), [block])
    >>> R = random_rotation(seed=3)
    >>> rotated = rotate_tensor_map(tensor, R)
    >>> np.allclose(rotated.block().values[:, :, 0], spherical_harmonics(r @ R.T, 1)[:, 1:4])
    True
    """
    check_tensor_map(tensor, "tensor", "rotate_tensor_map")
    rotation = _check_orthogonal(rotation)
    names = tensor.keys.names
    has_lambda = "o3_lambda" in names
    has_sigma = "o3_sigma" in names
    cache: Dict[int, np.ndarray] = {}
    blocks = []
    for i, block in enumerate(tensor.blocks()):
        o3_lambda = int(tensor.keys.values[i, names.index("o3_lambda")]) if has_lambda else None
        o3_sigma = int(tensor.keys.values[i, names.index("o3_sigma")]) if has_sigma else 1
        blocks.append(_rotate_block(
            block, rotation, o3_lambda, o3_sigma,
            f"the block for key {describe_key(tensor.keys, i)}", cache,
        ))
    return TensorMap._unchecked(tensor.keys, blocks, tensor.info())


# --------------------------------------------------------------------------- checking
class EquivarianceReport:
    """Result of :func:`check_equivariance`.

    Attributes
    ----------
    passed : bool
        Every deviation is within tolerance (also ``bool(report)``).
    errors : dict
        ``{key tuple: largest absolute deviation}`` over all rotations, values and
        gradients of that block.
    key_names : list of str
    max_error : float
        Largest deviation overall.
    scale : float
        Largest absolute value of the unrotated output (the relative tolerance's scale).
    """

    def __init__(self, passed, errors, key_names, scale):
        self.passed = bool(passed)
        self.errors = errors
        self.key_names = key_names
        self.scale = scale
        self.max_error = max(errors.values(), default=0.0)

    def __bool__(self):
        return self.passed

    def worst(self, n=5) -> List[Tuple[tuple, float]]:
        """The ``n`` keys with the largest deviations."""
        return sorted(self.errors.items(), key=lambda item: -item[1])[:n]

    def __repr__(self):
        status = "passed" if self.passed else "FAILED"
        return (f"EquivarianceReport({status}, max_error={self.max_error:.3e} over "
                f"{len(self.errors)} keys {self.key_names}, scale={self.scale:.3e})")


def _as_numpy(values):
    return _backend.to_numpy(values).astype(np.float64)


def _difference(expected, actual, where):
    if expected.keys != actual.keys:
        raise ValueError(f"{where}: the output keys changed when rotating the inputs")
    errors = []
    for i, (block_e, block_a) in enumerate(zip(expected.blocks(), actual.blocks())):
        if block_e.samples != block_a.samples or block_e.properties != block_a.properties:
            raise ValueError(
                f"{where}: the samples or properties of the block for key "
                f"{describe_key(expected.keys, i)} changed when rotating the inputs"
            )
        error = float(np.max(np.abs(_as_numpy(block_e.values) - _as_numpy(block_a.values)),
                             initial=0.0))
        for parameter, gradient_e in block_e.gradients():
            gradient_a = block_a.gradient(parameter)
            if gradient_e.samples != gradient_a.samples:
                raise ValueError(
                    f"{where}: the '{parameter}' gradient samples of the block for key "
                    f"{describe_key(expected.keys, i)} changed when rotating the inputs"
                )
            error = max(error, float(np.max(
                np.abs(_as_numpy(gradient_e.values) - _as_numpy(gradient_a.values)),
                initial=0.0)))
        errors.append(error)
    return errors


def _scale(tensor):
    scale = 0.0
    for block in tensor.blocks():
        scale = max(scale, float(np.max(np.abs(_as_numpy(block.values)), initial=0.0)))
        for _, gradient in block.gradients():
            scale = max(scale, float(np.max(np.abs(_as_numpy(gradient.values)), initial=0.0)))
    return scale


def check_equivariance(
    function,
    systems,
    rotations: Optional[Sequence] = None,
    inversion: bool = True,
    n_rotations: int = 3,
    seed: int = 0,
    atol: float = 1e-10,
    rtol: float = 1e-10,
) -> EquivarianceReport:
    """Check that ``function(systems) -> TensorMap`` is O(3)-equivariant.

    For every rotation ``R``, the structures are rotated (:func:`rotate_atoms`), the
    function evaluated on them, and compared with :func:`rotate_tensor_map` of the output
    on the unrotated structures. Deviations are collected per output key, over values and
    gradient blocks.

    Parameters
    ----------
    function : callable
        Takes a list of :class:`ase.Atoms` (or what ``systems`` is) and returns a TensorMap.
    systems : ase.Atoms or list of ase.Atoms
    rotations : sequence of (3, 3) arrays, optional
        Rotations to test; default ``n_rotations`` random proper ones (seeded by ``seed``).
    inversion : bool
        Also test the improper ``-R`` of every rotation (and the bare inversion).
    atol, rtol : float
        A deviation passes when ``<= atol + rtol * scale`` (``scale``: largest absolute
        value of the unrotated output).

    Returns
    -------
    EquivarianceReport
        Truthy when every deviation is within tolerance.

    Examples
    --------
    >>> import ase, numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.o3 import spherical_harmonics
    >>> def dipole(frames):  # Σ_i q_i r_i as an l = 1 spherical tensor, per structure
    ...     values = np.stack([
    ...         (atoms.get_initial_charges() @ spherical_harmonics(atoms.positions, 1,
    ...                                                            normalized=False))[1:4]
    ...         for atoms in frames])
    ...     block = TensorBlock(values[:, :, None], Labels.range("system", len(frames)),
    ...                         [Labels.range("o3_mu", 3)], Labels.range("n", 1))
    ...     return TensorMap(Labels(["o3_lambda", "o3_sigma"], [[1, 1]]), [block])
    >>> water = ase.Atoms("OH2", positions=[[0, 0, 0.1], [0.8, 0, -0.5], [-0.8, 0, -0.5]],
    ...                   charges=[-0.8, 0.4, 0.4])
    >>> report = check_equivariance(dipole, [water])
    >>> bool(report), report.max_error < 1e-12
    (True, True)
    """
    import ase

    if isinstance(systems, ase.Atoms):
        frames = [systems]
    else:
        frames = list(systems)
        if not all(isinstance(atoms, ase.Atoms) for atoms in frames):
            raise TypeError("`systems` must be an ase.Atoms or a list of ase.Atoms")
    if rotations is None:
        rotations = list(random_rotation(seed=seed, n=n_rotations))
    rotations = [_check_orthogonal(rotation) for rotation in rotations]
    if inversion:
        rotations = rotations + [-rotation for rotation in rotations] + [-np.eye(3)]

    reference = function(frames)
    if not isinstance(reference, TensorMap):
        raise TypeError(
            f"`function` must return a TensorMap, got {type(reference).__name__}"
        )
    scale = _scale(reference)
    errors = np.zeros(len(reference.keys))
    for index, rotation in enumerate(rotations):
        rotated_frames = [rotate_atoms(atoms, rotation) for atoms in frames]
        actual = function(rotated_frames)
        expected = rotate_tensor_map(reference, rotation)
        errors = np.maximum(
            errors, _difference(expected, actual, f"rotation {index}")
        )
    by_key = {
        tuple(int(v) for v in key): float(error)
        for key, error in zip(reference.keys.values, errors)
    }
    passed = bool(np.all(errors <= atol + rtol * scale))
    return EquivarianceReport(passed, by_key, reference.keys.names, scale)
