"""Clebsch–Gordan coefficients in the real spherical-harmonics basis.

The complex coefficients ``<l1 m1; l2 m2 | L M>`` are evaluated exactly with Racah's formula
(rational arithmetic, one square root at the end), then turned into the real basis used
throughout :mod:`blocktensor` (see :mod:`blocktensor.o3.harmonics`) by the
complex→real change of basis ``U_l``:

.. math::

    C^{real}_{m_1 m_2 M} = \\sum_{m'_1 m'_2 M'} U^{L}_{M M'}
        \\langle l_1 m'_1; l_2 m'_2 | L M' \\rangle
        (U^{l_1})^\\dagger_{m'_1 m_1} (U^{l_2})^\\dagger_{m'_2 m_2}

The result is purely real when ``l1 + l2 + L`` is even and purely imaginary when it is odd;
the real (respectively imaginary) part is kept. This is exactly what featomic does, so that
coupled features agree with featomic's to rounding. For each ``(l1, l2, L)`` the
coefficients are orthonormal over ``(m1, m2)`` and couple products of real harmonics:
``Σ_{m1 m2} C_{m1 m2 M} Y_{l1}^{m1}(r) Y_{l2}^{m2}(r) ∝ Y_L^M(r)``.

Arrays are indexed by position: ``array[m1 + l1, m2 + l2, M + L]``.
"""

import functools
import math
from typing import Dict, NamedTuple, Optional, Tuple

import numpy as np
import torch

__all__ = [
    "complex_to_real_matrix",
    "real_to_complex_matrix",
    "complex_clebsch_gordan",
    "clebsch_gordan",
    "clebsch_gordan_sparse",
    "clebsch_gordan_dict",
    "SparseClebschGordan",
]


def _check_degrees(l1, l2, o3_lambda):
    for name, value in (("l1", l1), ("l2", l2), ("o3_lambda", o3_lambda)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"`{name}` must be an integer, got {type(value).__name__}")
        if value < 0:
            raise ValueError(f"`{name}` must be >= 0, got {value}")
    if not abs(l1 - l2) <= o3_lambda <= l1 + l2:
        raise ValueError(
            f"`o3_lambda` must satisfy |l1 - l2| <= o3_lambda <= l1 + l2, got "
            f"l1={l1}, l2={l2}, o3_lambda={o3_lambda}"
        )
    return int(l1), int(l2), int(o3_lambda)


@functools.lru_cache(maxsize=None)
def _complex_to_real_matrix(l: int) -> np.ndarray:  # noqa: E741
    inv_sqrt_2 = 1.0 / math.sqrt(2.0)
    matrix = np.zeros((2 * l + 1, 2 * l + 1), dtype=np.complex128)
    matrix[l, l] = 1.0
    for m in range(1, l + 1):
        sign = (-1.0) ** m
        # Y_m^real = (Y_{-m} + (-1)^m Y_m) / sqrt(2)
        matrix[l + m, l - m] = inv_sqrt_2
        matrix[l + m, l + m] = sign * inv_sqrt_2
        # Y_{-m}^real = i (Y_{-m} - (-1)^m Y_m) / sqrt(2)
        matrix[l - m, l - m] = 1j * inv_sqrt_2
        matrix[l - m, l + m] = -1j * sign * inv_sqrt_2
    matrix.setflags(write=False)
    return matrix


def complex_to_real_matrix(l: int) -> np.ndarray:  # noqa: E741
    """Unitary ``U_l`` with ``Y_real = U_l @ Y_complex`` (complex ones with Condon–Shortley).

    Parameters
    ----------
    l : int
        Degree.

    Returns
    -------
    numpy.ndarray
        complex128, shape ``(2l+1, 2l+1)``, rows and columns indexed by ``m + l``.

    Examples
    --------
    >>> import numpy as np
    >>> U = complex_to_real_matrix(1)
    >>> np.allclose(U @ U.conj().T, np.eye(3))
    True
    """
    if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or l < 0:
        raise ValueError(f"`l` must be a non-negative integer, got {l!r}")
    return _complex_to_real_matrix(int(l))


def real_to_complex_matrix(l: int) -> np.ndarray:  # noqa: E741
    """``U_l^†``: ``Y_complex = real_to_complex_matrix(l) @ Y_real``.

    Examples
    --------
    >>> import numpy as np
    >>> np.allclose(real_to_complex_matrix(2) @ complex_to_real_matrix(2), np.eye(5))
    True
    """
    return complex_to_real_matrix(l).conj().T


_FACTORIALS = [1]


def _ensure_factorials(n: int) -> list:
    while len(_FACTORIALS) <= n:
        _FACTORIALS.append(_FACTORIALS[-1] * len(_FACTORIALS))
    return _FACTORIALS


def _racah(l1: int, m1: int, l2: int, m2: int, big_l: int, big_m: int) -> float:
    """Exact complex CG coefficient <l1 m1; l2 m2 | L M> (Condon–Shortley phase).

    Everything is kept as Python integers; the only rounding is the final correctly-rounded
    integer division and square root.
    """
    if m1 + m2 != big_m or abs(m1) > l1 or abs(m2) > l2 or abs(big_m) > big_l:
        return 0.0
    f = _ensure_factorials(l1 + l2 + big_l + 1).__getitem__
    numerator = (
        (2 * big_l + 1)
        * f(big_l + l1 - l2)
        * f(big_l - l1 + l2)
        * f(l1 + l2 - big_l)
        * f(big_l + big_m)
        * f(big_l - big_m)
        * f(l1 - m1)
        * f(l1 + m1)
        * f(l2 - m2)
        * f(l2 + m2)
    )
    denominator = f(l1 + l2 + big_l + 1)
    k_min = max(0, l2 - big_l - m1, l1 - big_l + m2)
    k_max = min(l1 + l2 - big_l, l1 - m1, l2 + m2)
    terms = [
        f(k)
        * f(l1 + l2 - big_l - k)
        * f(l1 - m1 - k)
        * f(l2 + m2 - k)
        * f(big_l - l2 + m1 + k)
        * f(big_l - l1 - m2 + k)
        for k in range(k_min, k_max + 1)
    ]
    common = math.lcm(*terms) if terms else 1
    total = sum((-1) ** (k_min + i) * (common // term) for i, term in enumerate(terms))
    if total == 0:
        return 0.0
    magnitude = math.sqrt((numerator * total * total) / (denominator * common * common))
    return magnitude if total > 0 else -magnitude


@functools.lru_cache(maxsize=None)
def _complex_cg(l1: int, l2: int, big_l: int) -> np.ndarray:
    array = np.zeros((2 * l1 + 1, 2 * l2 + 1, 2 * big_l + 1))
    for m1 in range(-l1, l1 + 1):
        for m2 in range(max(-l2, -big_l - m1), min(l2, big_l - m1) + 1):
            array[m1 + l1, m2 + l2, m1 + m2 + big_l] = _racah(l1, m1, l2, m2, big_l, m1 + m2)
    array.setflags(write=False)
    return array


def complex_clebsch_gordan(l1: int, l2: int, o3_lambda: int) -> np.ndarray:
    """Standard (complex-basis) Clebsch–Gordan coefficients ``<l1 m1; l2 m2 | L M>``.

    Returns
    -------
    numpy.ndarray
        float64, read-only, shape ``(2l1+1, 2l2+1, 2L+1)``, indexed ``[m1+l1, m2+l2, M+L]``.

    Examples
    --------
    >>> import numpy as np
    >>> cg = complex_clebsch_gordan(1, 1, 0)
    >>> bool(np.isclose(cg[2, 0, 0], 1 / np.sqrt(3)))  # <1 1; 1 -1 | 0 0>
    True
    """
    l1, l2, o3_lambda = _check_degrees(l1, l2, o3_lambda)
    return _complex_cg(l1, l2, o3_lambda)


def _apply_change_of_basis(array, l, axis, conjugate):  # noqa: E741
    """``U_l`` (or its conjugate) applied along ``axis``.

    Row ``a`` of ``U_l`` only has entries in columns ``a`` and ``2l - a``: applying it is a
    weighted sum of the array and its mirror along ``axis``, with no matrix product (tiny
    BLAS calls cost far more than this in thread start-up).
    """
    matrix = _complex_to_real_matrix(l)
    if conjugate:
        matrix = matrix.conj()
    positions = np.arange(2 * l + 1)
    diagonal = matrix[positions, positions]
    mirror = matrix[positions, 2 * l - positions].copy()
    mirror[l] = 0.0
    shape = [1, 1, 1]
    shape[axis] = 2 * l + 1
    return diagonal.reshape(shape) * array + mirror.reshape(shape) * np.flip(array, axis=axis)


@functools.lru_cache(maxsize=None)
def _real_cg(l1: int, l2: int, big_l: int) -> np.ndarray:
    complex_cg = _complex_cg(l1, l2, big_l)
    # C_real[a, b, M] = sum_ijk U_L[M, k] C[i, j, k] conj(U_l1[a, i]) conj(U_l2[b, j])
    coupled = complex_cg.astype(np.complex128)
    coupled = _apply_change_of_basis(coupled, l1, axis=0, conjugate=True)
    coupled = _apply_change_of_basis(coupled, l2, axis=1, conjugate=True)
    coupled = _apply_change_of_basis(coupled, big_l, axis=2, conjugate=False)
    if (l1 + l2 + big_l) % 2 == 0:
        real = np.ascontiguousarray(coupled.real)
    else:
        real = np.ascontiguousarray(coupled.imag)
    real.setflags(write=False)
    return real


_TORCH_CACHE: Dict[Tuple, torch.Tensor] = {}


def _resolve_output(like, dtype, device):
    """(backend, dtype, device) from ``like`` or explicit ``dtype`` / ``device``."""
    if like is not None:
        if isinstance(like, torch.Tensor):
            return "torch", like.dtype, like.device
        if isinstance(like, np.ndarray):
            return "numpy", like.dtype, None
        raise TypeError(
            f"`like` must be a numpy.ndarray or a torch.Tensor, got {type(like).__name__}"
        )
    if isinstance(dtype, torch.dtype) or device is not None:
        return "torch", dtype if dtype is not None else torch.float64, torch.device(device or "cpu")
    return "numpy", np.dtype(dtype) if dtype is not None else np.dtype(np.float64), None


def clebsch_gordan(
    l1: int,
    l2: int,
    o3_lambda: int,
    like=None,
    dtype=None,
    device=None,
):
    """Dense real Clebsch–Gordan coefficients for one ``(l1, l2, o3_lambda)``.

    Parameters
    ----------
    l1, l2, o3_lambda : int
        Degrees, with ``|l1 - l2| <= o3_lambda <= l1 + l2``.
    like : numpy.ndarray or torch.Tensor, optional
        Return an array of the same backend, dtype (and device).
    dtype, device : optional
        Alternatively, a numpy or torch dtype and a torch device. Default: numpy float64.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Shape ``(2l1+1, 2l2+1, 2L+1)``, indexed ``[m1+l1, m2+l2, M+L]``. Cached and
        read-only (numpy) / shared (torch): do not modify in place.

    Examples
    --------
    >>> import numpy as np
    >>> cg = clebsch_gordan(2, 3, 4)
    >>> cg.shape
    (5, 7, 9)
    >>> np.allclose(np.einsum("abM,abN->MN", cg, cg), np.eye(9))
    True
    """
    l1, l2, o3_lambda = _check_degrees(l1, l2, o3_lambda)
    backend, dtype, device = _resolve_output(like, dtype, device)
    real = _real_cg(l1, l2, o3_lambda)
    if backend == "numpy":
        if dtype == np.float64:
            return real
        converted = real.astype(dtype)
        converted.setflags(write=False)
        return converted
    key = (l1, l2, o3_lambda, dtype, str(device))
    cached = _TORCH_CACHE.get(key)
    if cached is None:
        cached = torch.tensor(real, dtype=dtype, device=device)
        _TORCH_CACHE[key] = cached
    return cached


class SparseClebschGordan(NamedTuple):
    """Non-zero real CG coefficients of one ``(l1, l2, L)``.

    ``m1``, ``m2``, ``mu`` are *positions* (``m + l``, from 0 to 2l) along the three axes
    of the dense array, as int64 arrays/tensors; ``values`` the coefficients.
    """

    m1: object
    m2: object
    mu: object
    values: object


def clebsch_gordan_sparse(
    l1: int,
    l2: int,
    o3_lambda: int,
    like=None,
    dtype=None,
    device=None,
    threshold: float = 1e-15,
) -> SparseClebschGordan:
    """Non-zero real Clebsch–Gordan coefficients as ``(m1, m2, mu, values)``.

    Entries are sorted by ``mu``, then ``m1``, then ``m2``. Indices are positions
    (``m + l``). Same ``like``/``dtype``/``device`` rules as :func:`clebsch_gordan`.

    Examples
    --------
    >>> sparse = clebsch_gordan_sparse(1, 1, 0)
    >>> sparse.m1.tolist(), sparse.m2.tolist(), sparse.mu.tolist()
    ([0, 1, 2], [0, 1, 2], [0, 0, 0])
    """
    l1, l2, o3_lambda = _check_degrees(l1, l2, o3_lambda)
    dense = _real_cg(l1, l2, o3_lambda)
    mu, m1, m2 = np.nonzero(np.abs(dense.transpose(2, 0, 1)) > threshold)
    values = dense[m1, m2, mu]
    backend, dtype, device = _resolve_output(like, dtype, device)
    if backend == "numpy":
        return SparseClebschGordan(
            m1.astype(np.int64), m2.astype(np.int64), mu.astype(np.int64), values.astype(dtype)
        )

    def index(array):
        return torch.tensor(array, dtype=torch.int64, device=device)

    return SparseClebschGordan(
        index(m1), index(m2), index(mu), torch.tensor(values, dtype=dtype, device=device)
    )


def clebsch_gordan_dict(
    max_angular: int,
    max_lambda: Optional[int] = None,
    like=None,
    dtype=None,
    device=None,
) -> Dict[Tuple[int, int, int], object]:
    """Dense real CG arrays for every ``l1, l2 <= max_angular`` and allowed
    ``o3_lambda <= max_lambda`` (default ``max_angular``), keyed by ``(l1, l2, o3_lambda)``.

    With ``max_lambda = max_angular`` this is the set featomic's
    ``calculate_cg_coefficients(lambda_max=max_angular)`` produces.

    Examples
    --------
    >>> coefficients = clebsch_gordan_dict(1)
    >>> sorted(coefficients)
    [(0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 0), (1, 1, 1)]
    """
    if max_lambda is None:
        max_lambda = max_angular
    if max_angular < 0 or max_lambda < 0:
        raise ValueError(
            f"`max_angular` and `max_lambda` must be >= 0, got {max_angular} and {max_lambda}"
        )
    result = {}
    for l1 in range(max_angular + 1):
        for l2 in range(max_angular + 1):
            for o3_lambda in range(abs(l1 - l2), min(max_lambda, l1 + l2) + 1):
                result[(l1, l2, o3_lambda)] = clebsch_gordan(
                    l1, l2, o3_lambda, like=like, dtype=dtype, device=device
                )
    return result
