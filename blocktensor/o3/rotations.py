"""Rotations: uniform random sampling, ZYZ Euler angles, rotating structures.

Rotation matrices act on column vectors, ``r' = R @ r``; a set of points stored as rows
``(N, 3)`` is rotated by ``points @ R.T``. Euler angles follow the ZYZ convention,
``R(α, β, γ) = R_z(α) R_y(β) R_z(γ)``, with ``α, γ ∈ (-π, π]`` and ``β ∈ [0, π]``.
"""

from typing import Optional, Tuple, Union

import numpy as np

__all__ = [
    "random_rotation",
    "rotation_from_euler",
    "euler_from_rotation",
    "rotate_atoms",
]


def _generator(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    raise TypeError(
        f"`seed` must be None, an integer or a numpy.random.Generator, got {type(seed).__name__}"
    )


def random_rotation(
    seed: Union[None, int, np.random.Generator] = None,
    n: Optional[int] = None,
    improper: bool = False,
) -> np.ndarray:
    """Rotation matrices drawn uniformly (Haar measure) from SO(3).

    Uses a normalised 4-d Gaussian, which is uniform on the unit quaternions.

    Parameters
    ----------
    seed : None, int or numpy.random.Generator
        Randomness source; an integer gives reproducible results.
    n : int, optional
        Number of rotations; ``None`` (default) returns a single ``(3, 3)`` matrix.
    improper : bool
        Return ``-R`` (uniform over the improper component, determinant -1).

    Returns
    -------
    numpy.ndarray
        float64, shape ``(3, 3)`` or ``(n, 3, 3)``.

    Examples
    --------
    >>> import numpy as np
    >>> R = random_rotation(seed=0)
    >>> np.allclose(R @ R.T, np.eye(3)), bool(np.isclose(np.linalg.det(R), 1.0))
    (True, True)
    >>> random_rotation(seed=1, n=5).shape
    (5, 3, 3)
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0):
        raise ValueError(f"`n` must be None or a non-negative integer, got {n!r}")
    generator = _generator(seed)
    count = 1 if n is None else int(n)
    quaternions = generator.standard_normal((count, 4))
    quaternions /= np.linalg.norm(quaternions, axis=1, keepdims=True)
    w, x, y, z = quaternions.T
    matrices = np.empty((count, 3, 3))
    matrices[:, 0, 0] = 1 - 2 * (y * y + z * z)
    matrices[:, 0, 1] = 2 * (x * y - z * w)
    matrices[:, 0, 2] = 2 * (x * z + y * w)
    matrices[:, 1, 0] = 2 * (x * y + z * w)
    matrices[:, 1, 1] = 1 - 2 * (x * x + z * z)
    matrices[:, 1, 2] = 2 * (y * z - x * w)
    matrices[:, 2, 0] = 2 * (x * z - y * w)
    matrices[:, 2, 1] = 2 * (y * z + x * w)
    matrices[:, 2, 2] = 1 - 2 * (x * x + y * y)
    if improper:
        matrices = -matrices
    return matrices[0] if n is None else matrices


def rotation_from_euler(alpha, beta, gamma) -> np.ndarray:
    """Rotation matrix ``R_z(α) R_y(β) R_z(γ)`` (ZYZ Euler angles, radians).

    Parameters
    ----------
    alpha, beta, gamma : float or array-like
        Angles; arrays (broadcast together) give a batch of matrices.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(..., 3, 3)``.

    Examples
    --------
    >>> import numpy as np
    >>> R = rotation_from_euler(np.pi / 2, 0.0, 0.0)
    >>> np.allclose(R @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    True
    """
    alpha, beta, gamma = np.broadcast_arrays(
        *(np.asarray(angle, dtype=np.float64) for angle in (alpha, beta, gamma))
    )
    ca, sa = np.cos(alpha), np.sin(alpha)
    cb, sb = np.cos(beta), np.sin(beta)
    cg, sg = np.cos(gamma), np.sin(gamma)
    matrices = np.empty(alpha.shape + (3, 3))
    matrices[..., 0, 0] = ca * cb * cg - sa * sg
    matrices[..., 0, 1] = -ca * cb * sg - sa * cg
    matrices[..., 0, 2] = ca * sb
    matrices[..., 1, 0] = sa * cb * cg + ca * sg
    matrices[..., 1, 1] = -sa * cb * sg + ca * cg
    matrices[..., 1, 2] = sa * sb
    matrices[..., 2, 0] = -sb * cg
    matrices[..., 2, 1] = sb * sg
    matrices[..., 2, 2] = cb
    return matrices


def euler_from_rotation(rotation) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ZYZ Euler angles ``(α, β, γ)`` of proper rotation matrices.

    For ``β = 0`` or ``π`` (gimbal lock) only ``α ± γ`` is defined; ``γ = 0`` is chosen.

    Parameters
    ----------
    rotation : array-like, shape ``(..., 3, 3)``
        Proper rotation matrices (determinant +1).

    Returns
    -------
    tuple of numpy.ndarray
        ``alpha, beta, gamma``, each of shape ``(...)`` (0-d arrays for a single matrix).

    Examples
    --------
    >>> import numpy as np
    >>> angles = euler_from_rotation(rotation_from_euler(0.3, 1.2, -2.0))
    >>> np.allclose(angles, (0.3, 1.2, -2.0))
    True
    """
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape[-2:] != (3, 3):
        raise ValueError(f"`rotation` must have shape (..., 3, 3), got {rotation.shape}")
    if np.any(np.linalg.det(rotation) < 0):
        raise ValueError(
            "`rotation` must be proper (determinant +1); for an improper R use -R and the "
            "parity (-1)^l separately"
        )
    cos_beta = np.clip(rotation[..., 2, 2], -1.0, 1.0)
    sin_beta = np.hypot(rotation[..., 0, 2], rotation[..., 1, 2])
    beta = np.arctan2(sin_beta, cos_beta)
    locked = sin_beta < 1e-12
    alpha = np.where(
        locked,
        # β = 0: R = R_z(α + γ); β = π: R = R_z(α - γ) R_y(π); in both cases the
        # upper-left 2x2 block's second column is (-sin, cos) of the angle
        np.arctan2(-rotation[..., 0, 1], rotation[..., 1, 1]),
        np.arctan2(rotation[..., 1, 2], rotation[..., 0, 2]),
    )
    gamma = np.where(locked, 0.0, np.arctan2(rotation[..., 2, 1], -rotation[..., 2, 0]))
    return alpha, beta, gamma


def rotate_atoms(atoms, rotation):
    """A rotated copy of an :class:`ase.Atoms`: positions and cell (rows) become ``x @ R.T``.

    The original is not modified; other per-atom arrays (numbers, tags, ...) are copied
    as they are (vector-valued arrays such as momenta are rotated too).

    Parameters
    ----------
    atoms : ase.Atoms
        Structure to rotate.
    rotation : array-like, shape ``(3, 3)``
        Orthogonal matrix (proper or improper).

    Returns
    -------
    ase.Atoms

    Examples
    --------
    >>> import ase, numpy as np
    >>> atoms = ase.Atoms("H2", positions=[[0, 0, 0], [1, 0, 0]], cell=np.eye(3), pbc=True)
    >>> rotated = rotate_atoms(atoms, rotation_from_euler(np.pi / 2, 0.0, 0.0))
    >>> np.round(rotated.positions[1], 12).tolist(), np.round(rotated.cell[0], 12).tolist()
    ([0.0, 1.0, 0.0], [0.0, 1.0, 0.0])
    """
    import ase

    if not isinstance(atoms, ase.Atoms):
        raise TypeError(f"`atoms` must be an ase.Atoms, got {type(atoms).__name__}")
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape != (3, 3):
        raise ValueError(f"`rotation` must have shape (3, 3), got {rotation.shape}")
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-10):
        raise ValueError("`rotation` must be an orthogonal matrix (R @ R.T == identity)")
    rotated = atoms.copy()
    rotated.positions = atoms.positions @ rotation.T
    rotated.cell = np.asarray(atoms.cell) @ rotation.T
    if atoms.has("momenta"):
        rotated.set_momenta(atoms.get_momenta() @ rotation.T, apply_constraint=False)
    return rotated
