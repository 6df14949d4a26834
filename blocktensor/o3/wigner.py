"""Wigner D matrices acting on real spherical harmonics.

For an orthogonal matrix ``R`` (proper or improper), the real Wigner matrix of degree ``l``
is the unique ``D_l(R)`` with

.. math:: Y_l(R r) = D_l(R) \\, Y_l(r)

for the real harmonics of :mod:`blocktensor.o3.harmonics`. It is computed as the
projection

.. math:: D_l(R)_{m m'} = \\int_{S^2} Y_l^m(R \\hat r) \\, Y_l^{m'}(\\hat r) \\, d\\hat r

with a product quadrature (Gauss–Legendre in ``cos θ`` × uniform in ``φ``) that is exact for
polynomials of degree ``2 max_angular`` on the sphere, so the result is exact to rounding
(about 1e-14 in float64 up to ``l = 20``). Because ``Y_l(-r) = (-1)^l Y_l(r)``, improper
rotations get their ``(-1)^l`` automatically. The map is a representation:
``D(R1 R2) = D(R1) D(R2)`` and ``D(R^T) = D(R)^T``.
"""

import functools
from typing import List

import numpy as np
import torch

from .rotations import rotation_from_euler
from .harmonics import lm_slice, spherical_harmonics

__all__ = ["wigner_d_matrices", "wigner_d_matrix", "wigner_d_from_euler"]


@functools.lru_cache(maxsize=None)
def _quadrature(max_angular: int):
    """Points ``(P, 3)`` and weights ``(P,)`` exact for degree ``2 max_angular``, with the
    harmonics at the points, all float64 and read-only."""
    n_theta = max_angular + 1
    n_phi = 2 * max_angular + 1
    cos_theta, theta_weights = np.polynomial.legendre.leggauss(n_theta)
    phi = 2.0 * np.pi * np.arange(n_phi) / n_phi
    sin_theta = np.sqrt(1.0 - cos_theta**2)
    points = np.stack(
        [
            np.outer(sin_theta, np.cos(phi)),
            np.outer(sin_theta, np.sin(phi)),
            np.outer(cos_theta, np.ones(n_phi)),
        ],
        axis=-1,
    ).reshape(-1, 3)
    weights = np.outer(theta_weights, np.full(n_phi, 2.0 * np.pi / n_phi)).reshape(-1)
    harmonics = spherical_harmonics(points, max_angular)
    weighted = np.ascontiguousarray(harmonics * weights[:, None])
    for array in (points, weighted):
        array.setflags(write=False)
    return points, weighted


def _check_rotation(rotation):
    if not isinstance(rotation, (np.ndarray, torch.Tensor)):
        rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.ndim < 2 or tuple(rotation.shape[-2:]) != (3, 3):
        raise ValueError(f"`rotation` must have shape (..., 3, 3), got {tuple(rotation.shape)}")
    if rotation.dtype not in (np.float32, np.float64, torch.float32, torch.float64):
        raise TypeError(f"`rotation` must be float32 or float64, got {rotation.dtype}")
    return rotation


def _check_degree(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer, got {value!r}")
    return int(value)


def wigner_d_matrices(rotation, max_angular: int) -> List:
    """Real Wigner D matrices of all degrees ``0..max_angular`` for (batches of) rotations.

    Parameters
    ----------
    rotation : numpy.ndarray or torch.Tensor, shape ``(..., 3, 3)``
        Orthogonal matrices acting on column vectors (``r' = R @ r``); improper ones
        (determinant -1) are accepted. Torch tensors keep their dtype/device and the result
        is differentiable with respect to them.
    max_angular : int
        Largest degree (inclusive).

    Returns
    -------
    list
        ``D[l]`` of shape ``(..., 2l+1, 2l+1)`` (same backend as ``rotation``), with
        ``Y_l(R r) = D[l] @ Y_l(r)``.

    Examples
    --------
    >>> import numpy as np
    >>> from blocktensor.o3 import random_rotation, spherical_harmonics
    >>> R = random_rotation(seed=0)
    >>> D = wigner_d_matrices(R, 2)
    >>> r = np.array([[0.3, -0.2, 0.9]])
    >>> rotated = spherical_harmonics(r @ R.T, 2)[0, 4:9]
    >>> np.allclose(rotated, D[2] @ spherical_harmonics(r, 2)[0, 4:9])
    True
    """
    rotation = _check_rotation(rotation)
    max_angular = _check_degree("max_angular", max_angular)
    points, weighted = _quadrature(max_angular)
    batch_shape = tuple(rotation.shape[:-2])
    if isinstance(rotation, torch.Tensor):
        points_t = torch.tensor(points, dtype=rotation.dtype, device=rotation.device)
        weighted_t = torch.tensor(weighted, dtype=rotation.dtype, device=rotation.device)
        rotated = torch.einsum("...ab,pb->...pa", rotation, points_t)
        harmonics = spherical_harmonics(rotated, max_angular)
        result = []
        for l in range(max_angular + 1):  # noqa: E741
            columns = lm_slice(l)
            result.append(
                torch.einsum("...pk,pj->...kj", harmonics[..., columns], weighted_t[:, columns])
            )
        return result
    dtype = rotation.dtype
    rotated = np.einsum("...ab,pb->...pa", rotation.astype(np.float64), points)
    harmonics = spherical_harmonics(np.ascontiguousarray(rotated), max_angular)
    result = []
    for l in range(max_angular + 1):  # noqa: E741
        columns = lm_slice(l)
        flat = harmonics[..., columns].reshape(-1, points.shape[0], 2 * l + 1)
        # a batched matmul; einsum here would fall back to a slow path for tiny batches
        matrices = np.matmul(flat.transpose(0, 2, 1), weighted[:, columns])
        result.append(matrices.reshape(batch_shape + (2 * l + 1, 2 * l + 1)).astype(dtype))
    return result


def wigner_d_matrix(rotation, o3_lambda: int):
    """Real Wigner D matrix of one degree, shape ``(..., 2λ+1, 2λ+1)``.

    Examples
    --------
    >>> import numpy as np
    >>> D = wigner_d_matrix(-np.eye(3), 3)  # inversion
    >>> np.allclose(D, -np.eye(7))
    True
    """
    o3_lambda = _check_degree("o3_lambda", o3_lambda)
    return wigner_d_matrices(rotation, o3_lambda)[o3_lambda]


def wigner_d_from_euler(alpha, beta, gamma, max_angular: int) -> List[np.ndarray]:
    """Real Wigner D matrices of ``R_z(α) R_y(β) R_z(γ)`` (ZYZ Euler angles, radians).

    Angles may be arrays (broadcast together); the result is a list over ``l`` of float64
    arrays ``(..., 2l+1, 2l+1)``.

    Examples
    --------
    >>> import numpy as np
    >>> D = wigner_d_from_euler(0.0, 0.0, np.pi / 2, 1)[1]  # rotation by 90° about z
    >>> (np.round(D, 12) + 0.0).tolist()  # acting on (y, z, x)
    [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]
    """
    return wigner_d_matrices(rotation_from_euler(alpha, beta, gamma), max_angular)
