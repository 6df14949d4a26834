"""Real spherical harmonics and their Cartesian gradients, for any ``max_angular``.

Convention (the one of featomic and sphericart): orthonormal on the unit sphere, ``m`` runs
from ``-l`` to ``l``, no Condon–Shortley phase, so that for ``l = 1`` the three functions are
``sqrt(3/4π) (y, z, x) / r``. The packed layout stores ``Y_l^m`` in column
``lm_index(l, m) = l² + l + m``.

The evaluation follows the Cartesian recurrence popularised by sphericart: with
``Q_l^m(z, r²) = r^(l-m) P_l^m(z/r) / sin^m θ`` (a polynomial in ``z`` and ``r²``) and
``C_m + i S_m = (x + i y)^m``,

* ``r^l Y_l^m = K_lm Q_l^|m| C_m`` for ``m > 0``, ``K_lm Q_l^|m| S_|m|`` for ``m < 0``;
* ``Q_l^m`` obeys the three-term Legendre recurrence in ``l``, ``(C_m, S_m)`` a complex one in m;
* ``∂_x Q_l^m = -x Q_{l-1}^{m+1}``, ``∂_y Q_l^m = -y Q_{l-1}^{m+1}``,
  ``∂_z Q_l^m = (l+m) Q_{l-1}^m``, which gives exact gradients from the same tables.

The normalisation ``K_lm`` is folded into the recurrence coefficients (computed exactly with
rational arithmetic) so that every intermediate stays of order one even at high ``l`` and in
float32. All work is done on whole columns of points (rows of a ``(functions, points)``
table), in chunks that stay in cache; nothing loops over points.
"""

import math
from fractions import Fraction
from typing import List, Optional, Tuple, Union

import numpy as np
import torch

__all__ = [
    "lm_index",
    "lm_slice",
    "split_per_l",
    "spherical_harmonics",
    "solid_harmonics",
    "SphericalHarmonics",
]

# points per chunk in the no-autograd path: chosen so that a chunk's tables fit in L2 cache
# while each torch operation still processes enough data to amortise its overhead.
_DEFAULT_CHUNK = 16384


def lm_index(l: int, m: int) -> int:  # noqa: E741
    """Column of ``Y_l^m`` in the packed ``(N, (max_angular + 1)²)`` layout.

    Parameters
    ----------
    l : int
        Degree, ``l >= 0``.
    m : int
        Order, ``-l <= m <= l``.

    Returns
    -------
    int
        ``l * l + l + m``.

    Examples
    --------
    >>> lm_index(0, 0), lm_index(1, -1), lm_index(2, 2)
    (0, 1, 8)
    """
    if l < 0 or abs(m) > l:
        raise ValueError(f"expected l >= 0 and -l <= m <= l, got l={l} and m={m}")
    return l * l + l + m


def lm_slice(l: int) -> slice:  # noqa: E741
    """Columns holding all ``m`` of degree ``l`` in the packed layout.

    Examples
    --------
    >>> lm_slice(2)
    slice(4, 9, None)
    """
    if l < 0:
        raise ValueError(f"expected l >= 0, got l={l}")
    return slice(l * l, (l + 1) * (l + 1))


def split_per_l(packed, max_angular: Optional[int] = None) -> list:
    """Split a packed array (last axis ``(max_angular+1)²``) into one view per ``l``.

    Parameters
    ----------
    packed : numpy.ndarray or torch.Tensor
        Array whose last axis is in the packed ``lm_index`` layout (values ``(N, K)`` or
        gradients ``(N, 3, K)``).
    max_angular : int, optional
        Checked against the size of the last axis when given.

    Returns
    -------
    list
        ``[packed[..., 0:1], packed[..., 1:4], ...]``, views of shape ``(..., 2l+1)``.

    Examples
    --------
    >>> import numpy as np
    >>> [a.shape for a in split_per_l(np.zeros((5, 9)))]
    [(5, 1), (5, 3), (5, 5)]
    """
    size = packed.shape[-1]
    inferred = math.isqrt(size) - 1
    if (inferred + 1) ** 2 != size:
        raise ValueError(
            f"the last axis of `packed` should have (max_angular + 1)² entries, got {size}"
        )
    if max_angular is not None and max_angular != inferred:
        raise ValueError(
            f"`max_angular` is {max_angular} but the last axis of `packed` has {size} "
            f"entries, which corresponds to max_angular={inferred}"
        )
    return [packed[..., lm_slice(l)] for l in range(inferred + 1)]  # noqa: E741


# --------------------------------------------------------------------------------------
# exact coefficients


def _k_squared(l: int, m: int) -> Fraction:  # noqa: E741
    """Square of the normalisation K_lm (including the factor 2 for m != 0) over 1/(4π)."""
    m = abs(m)
    value = Fraction((2 * l + 1) * math.factorial(l - m), math.factorial(l + m))
    return 2 * value if m > 0 else value


def _sqrt(value) -> float:
    return math.sqrt(float(value))


class _Coefficients:
    """Recurrence and gradient constants for one ``max_angular``, as torch tensors."""

    def __init__(self, max_angular: int, dtype: torch.dtype, device: torch.device):
        inv_4pi = 1.0 / (4.0 * math.pi)
        self.max_angular = max_angular
        # Q̃_l^l = K_ll (2l-1)!!, a constant
        self.diagonal = []
        for l in range(max_angular + 1):  # noqa: E741
            double_factorial = math.prod(range(2 * l - 1, 0, -2)) if l > 0 else 1
            self.diagonal.append(
                math.sqrt(float(_k_squared(l, l) * double_factorial**2) * inv_4pi)
            )
        # Q̃_l^{l-1} = sqrt(2l+1) z Q̃_{l-1}^{l-1}
        self.subdiagonal = [math.sqrt(2 * l + 1) for l in range(max_angular + 1)]  # noqa: E741

        def column(values):
            return torch.tensor(values, dtype=torch.float64).to(dtype=dtype, device=device)[
                :, None
            ]

        def index(values):
            return torch.tensor(values, dtype=torch.int64, device=device)

        self.recurrence_a = [None, None]
        self.recurrence_b = [None, None]
        self.abs_m = []
        self.alpha_index = [None]
        self.alpha = [None]
        self.beta_index = [None]
        self.beta = [None]
        self.x_rows = [None]
        self.x_coefficient = [None]
        self.y_rows = [None]
        self.y_coefficient = [None]
        self.l_times = []
        for l in range(max_angular + 1):  # noqa: E741
            self.abs_m.append(index([abs(m) for m in range(-l, l + 1)]))
            if l >= 2:
                a, b = [], []
                for m in range(l - 1):
                    a.append(
                        (2 * l - 1) / (l - m) * _sqrt(_k_squared(l, m) / _k_squared(l - 1, m))
                    )
                    b.append(
                        (l + m - 1) / (l - m) * _sqrt(_k_squared(l, m) / _k_squared(l - 2, m))
                    )
                self.recurrence_a.append(column(a))
                self.recurrence_b.append(column(b))
            if l >= 1:
                alpha_index, alpha, beta_index, beta = [], [], [], []
                x_rows, x_coefficient, y_rows, y_coefficient = [], [], [], []
                for m in range(-l, l + 1):
                    p = abs(m)
                    # ∂_{x,y} Q̃_l^p = -{x,y} α Q̃_{l-1}^{p+1}; α vanishes for p >= l-1
                    alpha_index.append(min(p + 1, l - 1))
                    if p + 1 <= l - 1:
                        alpha.append(_sqrt(_k_squared(l, p) / _k_squared(l - 1, p + 1)))
                    else:
                        alpha.append(0.0)
                    # ∂_z Q̃_l^p = β Q̃_{l-1}^p; β vanishes for p = l
                    beta_index.append(min(p, l - 1))
                    if p <= l - 1:
                        beta.append((l + p) * _sqrt(_k_squared(l, p) / _k_squared(l - 1, p)))
                    else:
                        beta.append(0.0)
                    # derivatives of (x+iy)^p: ∂_x C_p = p C_{p-1}, ∂_x S_p = p S_{p-1},
                    # ∂_y C_p = -p S_{p-1}, ∂_y S_p = p C_{p-1}; S_0 = 0.
                    # rows of the CS table: row max_angular + k is C_k (k >= 0), and
                    # row max_angular - k is S_k (k >= 1).
                    if m > 0:
                        x_rows.append(max_angular + m - 1)
                        x_coefficient.append(float(p))
                        y_rows.append(max_angular - (m - 1) if m > 1 else max_angular)
                        y_coefficient.append(-float(p) if m > 1 else 0.0)
                    elif m < 0:
                        x_rows.append(max_angular - (p - 1) if p > 1 else max_angular)
                        x_coefficient.append(float(p) if p > 1 else 0.0)
                        y_rows.append(max_angular + p - 1)
                        y_coefficient.append(float(p))
                    else:
                        x_rows.append(max_angular)
                        x_coefficient.append(0.0)
                        y_rows.append(max_angular)
                        y_coefficient.append(0.0)
                self.alpha_index.append(index(alpha_index))
                self.alpha.append(column(alpha))
                self.beta_index.append(index(beta_index))
                self.beta.append(column(beta))
                self.x_rows.append(index(x_rows))
                self.x_coefficient.append(column(x_coefficient))
                self.y_rows.append(index(y_rows))
                self.y_coefficient.append(column(y_coefficient))


_COEFFICIENTS_CACHE = {}


def _coefficients(max_angular: int, dtype: torch.dtype, device: torch.device) -> _Coefficients:
    key = (max_angular, dtype, str(device))
    cached = _COEFFICIENTS_CACHE.get(key)
    if cached is None:
        cached = _Coefficients(max_angular, dtype, device)
        _COEFFICIENTS_CACHE[key] = cached
    return cached


# --------------------------------------------------------------------------------------
# kernel: works on rows (one row per function, one column per point); built from
# out-of-place torch operations only, so that it is differentiable when run under autograd.


def _kernel(
    xyz_rows: torch.Tensor,
    coefficients: _Coefficients,
    normalized: bool,
    compute_gradients: bool,
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Values ``(K, n)`` and gradients ``(3, K, n)`` for points given as ``(3, n)`` rows."""
    max_angular = coefficients.max_angular
    x, y, z = xyz_rows[0], xyz_rows[1], xyz_rows[2]
    if normalized:
        r = torch.sqrt(x * x + y * y + z * z)
        inverse_r = 1.0 / r
        x, y, z = x * inverse_r, y * inverse_r, z * inverse_r
        r2 = None
    else:
        r2 = x * x + y * y + z * z

    ones = torch.ones_like(x)

    # C_m + i S_m = (x + i y)^m
    cosines = [ones]
    sines = [None]
    for _ in range(1, max_angular + 1):
        c, s = cosines[-1], sines[-1]
        if s is None:
            cosines.append(x)
            sines.append(y)
        else:
            cosines.append(x * c - y * s)
            sines.append(x * s + y * c)
    cs_table = torch.stack(sines[:0:-1] + cosines, dim=0) if max_angular > 0 else ones[None]

    # Q̃_l^m for m = 0..l, one (l+1, n) table per l
    q_tables: List[torch.Tensor] = []
    for l in range(max_angular + 1):  # noqa: E741
        diagonal = torch.full_like(x, coefficients.diagonal[l])[None]
        if l == 0:
            q_tables.append(diagonal)
            continue
        subdiagonal = (coefficients.subdiagonal[l] * coefficients.diagonal[l - 1]) * z
        if l == 1:
            q_tables.append(torch.cat([subdiagonal[None], diagonal], dim=0))
            continue
        previous = q_tables[l - 1][: l - 1]
        before = q_tables[l - 2]
        if r2 is None:
            rest = coefficients.recurrence_a[l] * (z * previous) - (
                coefficients.recurrence_b[l] * before
            )
        else:
            rest = coefficients.recurrence_a[l] * (z * previous) - (
                coefficients.recurrence_b[l] * (r2 * before)
            )
        q_tables.append(torch.cat([rest, subdiagonal[None], diagonal], dim=0))

    values_per_l = []
    gradients_per_l = []
    for l in range(max_angular + 1):  # noqa: E741
        cs_l = cs_table[max_angular - l : max_angular + l + 1]
        q_l = q_tables[l].index_select(0, coefficients.abs_m[l])
        values_l = q_l * cs_l
        values_per_l.append(values_l)
        if not compute_gradients:
            continue
        if l == 0:
            zeros = torch.zeros_like(values_l)
            gradients_per_l.append(torch.stack([zeros, zeros, zeros], dim=0))
            continue
        q_previous = q_tables[l - 1]
        transverse = (
            q_previous.index_select(0, coefficients.alpha_index[l]) * coefficients.alpha[l]
        ) * cs_l
        d_x = (q_l * coefficients.x_coefficient[l]) * cs_table.index_select(
            0, coefficients.x_rows[l]
        ) - x * transverse
        d_y = (q_l * coefficients.y_coefficient[l]) * cs_table.index_select(
            0, coefficients.y_rows[l]
        ) - y * transverse
        d_z = (
            q_previous.index_select(0, coefficients.beta_index[l]) * coefficients.beta[l]
        ) * cs_l
        if normalized:
            # Y(r) = R(r/|r|): ∇Y = (∇R(u) - l R(u) u) / r
            radial = l * values_l
            d_x = (d_x - radial * x) * inverse_r
            d_y = (d_y - radial * y) * inverse_r
            d_z = (d_z - radial * z) * inverse_r
        gradients_per_l.append(torch.stack([d_x, d_y, d_z], dim=0))

    values = torch.cat(values_per_l, dim=0) if max_angular > 0 else values_per_l[0]
    if not compute_gradients:
        return values, None
    gradients = torch.cat(gradients_per_l, dim=1) if max_angular > 0 else gradients_per_l[0]
    return values, gradients


class _MirroredCoefficients:
    """Recurrence constants of the in-place kernel, laid out for "mirrored" Q̃ blocks.

    The in-place kernel stores Q̃_l^|m| for m = -l..l (a block of 2l+1 rows, symmetric in m)
    so that ``values_l = Q_l * CS_l`` is a single operation on contiguous rows, without any
    gather.
    """

    def __init__(self, coefficients: _Coefficients, dtype, device):
        def column(values):
            return torch.tensor(values, dtype=torch.float64).to(dtype=dtype, device=device)[
                :, None
            ]

        self.recurrence_a = [None, None]
        self.recurrence_b = [None, None]
        for l in range(2, coefficients.max_angular + 1):  # noqa: E741
            a = coefficients.recurrence_a[l][:, 0].tolist()
            b = coefficients.recurrence_b[l][:, 0].tolist()
            self.recurrence_a.append(column(a[:0:-1] + a))
            self.recurrence_b.append(column(b[:0:-1] + b))


_MIRRORED_CACHE = {}


def _mirrored_coefficients(coefficients, dtype, device):
    key = (coefficients.max_angular, dtype, str(device))
    cached = _MIRRORED_CACHE.get(key)
    if cached is None:
        cached = _MirroredCoefficients(coefficients, dtype, device)
        _MIRRORED_CACHE[key] = cached
    return cached


class _Ladder:
    """Gradients of solid harmonics as sparse maps between degrees: ``∂_a R_l = M_a R_{l-1}``.

    ``∂_a R_l^m`` is a harmonic homogeneous polynomial of degree ``l - 1``, hence a linear
    combination of the ``R_{l-1}^{m'}``. The matrices are obtained by projecting the exact
    analytic gradients (``_kernel``) on the ``Y_{l-1}`` with a quadrature exact for these
    degrees, so they are exact to rounding; each row has at most two non-zero entries,
    stored as ``indices[a][j]`` (rows of the packed values) and ``factors[a][j]`` columns.
    """

    def __init__(self, max_angular: int, dtype, device):
        n_functions = (max_angular + 1) ** 2
        matrices = np.zeros((3, n_functions, n_functions))
        if max_angular >= 1:
            n_theta, n_phi = max_angular + 1, 2 * max_angular + 1
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
            coefficients = _coefficients(max_angular, torch.float64, torch.device("cpu"))
            with torch.no_grad():
                harmonics, _ = _kernel(
                    torch.from_numpy(points.T.copy()), coefficients, True, False
                )
                _, solid_gradients = _kernel(
                    torch.from_numpy(points.T.copy()), coefficients, False, True
                )
            harmonics = harmonics.numpy() * weights
            solid_gradients = solid_gradients.numpy()
            for l in range(1, max_angular + 1):  # noqa: E741
                rows, columns = lm_slice(l), lm_slice(l - 1)
                for a in range(3):
                    matrices[a, rows, columns] = solid_gradients[a, rows] @ harmonics[columns].T
            matrices[np.abs(matrices) < 1e-12] = 0.0

        self.indices = []
        self.factors = []
        for a in range(3):
            n_terms = max(1, int((matrices[a] != 0).sum(axis=1).max()))
            indices = np.zeros((n_terms, n_functions), dtype=np.int64)
            factors = np.zeros((n_terms, n_functions))
            for row in range(n_functions):
                (nonzero,) = np.nonzero(matrices[a, row])
                indices[: len(nonzero), row] = nonzero
                factors[: len(nonzero), row] = matrices[a, row, nonzero]
            self.indices.append([torch.tensor(i, device=device) for i in indices])
            self.factors.append(
                [torch.tensor(f[:, None], dtype=dtype, device=device) for f in factors]
            )
        degrees = np.concatenate(
            [np.full(2 * l + 1, float(l)) for l in range(max_angular + 1)]  # noqa: E741
        )
        self.degrees = torch.tensor(degrees[:, None], dtype=dtype, device=device)


_LADDER_CACHE = {}


def _ladder(max_angular, dtype, device):
    key = (max_angular, dtype, str(device))
    cached = _LADDER_CACHE.get(key)
    if cached is None:
        cached = _Ladder(max_angular, dtype, device)
        _LADDER_CACHE[key] = cached
    return cached


def _fast_kernel(rows, values, gradients, coefficients, mirrored, ladder, normalized, buffers):
    """In-place evaluation for one chunk.

    ``rows`` is ``(3, n)``; results go to ``values`` ``(K, n)`` and ``gradients``
    ``(3, K, n)`` (or ``None``), views into the caller's function-major outputs.
    """
    max_angular = coefficients.max_angular
    n = rows.shape[1]
    cs = buffers["cs"][:, :n]
    scratch = buffers["scratch"][:, :n]

    if normalized:
        unit = buffers["unit"][:, :n]
        torch.mul(rows, rows, out=unit)
        inverse_r = buffers["inverse_r"][:n]
        torch.sum(unit, dim=0, out=inverse_r)
        inverse_r.rsqrt_()
        torch.mul(rows, inverse_r, out=unit)
        x, y, z = unit[0], unit[1], unit[2]
        r2 = None
    else:
        x, y, z = rows[0], rows[1], rows[2]
        r2 = buffers["r2"][:n]
        torch.sum(rows * rows, dim=0, out=r2)

    # CS table: row max_angular + k is C_k, row max_angular - k is S_k
    center = max_angular
    cs[center].fill_(1.0)
    if max_angular >= 1:
        cs[center + 1].copy_(x)
        cs[center - 1].copy_(y)
    for k in range(2, max_angular + 1):
        c_previous, s_previous = cs[center + k - 1], cs[center - k + 1]
        c, s = cs[center + k], cs[center - k]
        torch.mul(x, c_previous, out=c)
        c.addcmul_(y, s_previous, value=-1.0)
        torch.mul(x, s_previous, out=s)
        s.addcmul_(y, c_previous)

    # three rolling mirrored Q̃ blocks: q_blocks[l % 3] holds rows m = -l..l of degree l
    q_blocks = [buffers["q"][i] for i in range(3)]
    for l in range(max_angular + 1):  # noqa: E741
        size = 2 * l + 1
        q_l = q_blocks[l % 3][:size, :n]
        # |m| = l: constants; |m| = l - 1: constant times z; |m| <= l - 2: recurrence
        if l == 0:
            q_l.fill_(coefficients.diagonal[0])
        else:
            q_l[0 :: 2 * l].fill_(coefficients.diagonal[l])
            subdiagonal = coefficients.subdiagonal[l] * coefficients.diagonal[l - 1]
            if l == 1:
                torch.mul(z, subdiagonal, out=q_l[1])
            else:
                torch.mul(z.expand(2, n), subdiagonal, out=q_l[1 :: 2 * l - 2])
        if l >= 2:
            previous = q_blocks[(l - 1) % 3][1 : 2 * l - 2, :n]
            before = q_blocks[(l - 2) % 3][: 2 * l - 3, :n]
            rest = q_l[2 : 2 * l - 1]
            temporary = scratch[: 2 * l - 3]
            torch.mul(previous, z, out=temporary)
            temporary.mul_(mirrored.recurrence_a[l])
            if r2 is not None:
                torch.mul(before, r2, out=rest)
                rest.mul_(mirrored.recurrence_b[l])
                torch.sub(temporary, rest, out=rest)
            else:
                torch.addcmul(temporary, before, mirrored.recurrence_b[l], value=-1.0, out=rest)

        target = values[l * l : l * l + size]
        torch.mul(q_l, cs[center - l : center + l + 1], out=target)

    if gradients is None:
        return
    # ∂_a R_l = M_a R_{l-1} (each row of M_a has at most two non-zeros), and for the
    # normalised harmonics ∇Y(r) = (∇R(u) - l Y(u) u) / r with R_{l-1}(u) = Y_{l-1}(u)
    gathered = buffers["gathered"][:, :n]
    if normalized:
        l_times_values = buffers["l_times_values"][:, :n]
        torch.mul(values, ladder.degrees, out=l_times_values)
    for a, u_a in enumerate((x, y, z)):
        d_a = gradients[a]
        indices, factors = ladder.indices[a], ladder.factors[a]
        torch.index_select(values, 0, indices[0], out=gathered)
        torch.mul(gathered, factors[0], out=d_a)
        for index, factor in zip(indices[1:], factors[1:]):
            torch.index_select(values, 0, index, out=gathered)
            d_a.addcmul_(gathered, factor)
        if normalized:
            d_a.addcmul_(l_times_values, u_a, value=-1.0)
            d_a.mul_(inverse_r)


_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def _empty_output(shape, dtype, device):
    """Uninitialised output; large CPU outputs are allocated by numpy.

    numpy advises the kernel to back large allocations with transparent huge pages, which
    makes the first write to the memory several times cheaper than with torch's allocator;
    for a 10^6-point result the page faults are otherwise a large part of the run time.
    """
    if device.type == "cpu" and math.prod(shape) * 8 >= (1 << 22):
        return torch.from_numpy(np.empty(shape, dtype=_NUMPY_DTYPES[dtype]))
    return torch.empty(shape, dtype=dtype, device=device)


def _compute_fast(xyz, max_angular, normalized, compute_gradients, chunk_size):
    """No-autograd evaluation, chunk by chunk, into function-major outputs.

    The outputs are stored as ``(K, N)`` and ``(3, K, N)`` and returned as transposed views
    ``(N, K)`` / ``(N, 3, K)``: every operation then works on contiguous rows, and no
    transposing copy of the (large) result is needed.
    """
    n_points = xyz.shape[0]
    n_functions = (max_angular + 1) ** 2
    dtype, device = xyz.dtype, xyz.device
    coefficients = _coefficients(max_angular, dtype, device)
    mirrored = _mirrored_coefficients(coefficients, dtype, device)
    ladder = _ladder(max_angular, dtype, device) if compute_gradients else None
    values = _empty_output((n_functions, n_points), dtype, device)
    gradients = None
    if compute_gradients:
        gradients = _empty_output((3, n_functions, n_points), dtype, device)
    if device.type != "cpu":
        # on accelerators one launch over all points beats cache-sized chunks
        chunk_size = max(n_points, 1)
    chunk_size = max(min(chunk_size, n_points), 1)

    def buffer(*shape):
        return torch.empty(shape, dtype=dtype, device=device)

    size = 2 * max_angular + 1
    buffers = {
        "cs": buffer(size, chunk_size),
        "q": buffer(3, size, chunk_size),
        "scratch": buffer(size, chunk_size),
        "unit": buffer(3, chunk_size),
        "inverse_r": buffer(chunk_size),
        "r2": buffer(chunk_size),
    }
    if compute_gradients:
        buffers["gathered"] = buffer(n_functions, chunk_size)
        buffers["l_times_values"] = buffer(n_functions, chunk_size)
    with torch.no_grad():
        rows = xyz.T.contiguous()
        for start in range(0, n_points, chunk_size):
            stop = min(start + chunk_size, n_points)
            _fast_kernel(
                rows[:, start:stop],
                values[:, start:stop],
                gradients[:, :, start:stop] if compute_gradients else None,
                coefficients,
                mirrored,
                ladder,
                normalized,
                buffers,
            )
    values = values.T
    if gradients is not None:
        gradients = gradients.permute(2, 0, 1)
    return values, gradients


def _compute_differentiable(xyz, max_angular, normalized, compute_gradients):
    coefficients = _coefficients(max_angular, xyz.dtype, xyz.device)
    values, gradients = _kernel(xyz.T, coefficients, normalized, compute_gradients)
    values = values.T
    if gradients is not None:
        gradients = gradients.permute(2, 0, 1)
    return values, gradients


class _HarmonicsFunction(torch.autograd.Function):
    """Fast forward; backward contracts with analytic gradients.

    The first backward uses the gradients computed in the forward pass. When a graph of the
    backward pass is requested (double backward), the gradients are recomputed with
    differentiable operations so that higher derivatives are exact.
    """

    @staticmethod
    def forward(ctx, xyz, max_angular, normalized, chunk_size):
        values, gradients = _compute_fast(xyz, max_angular, normalized, True, chunk_size)
        ctx.save_for_backward(xyz, gradients)
        ctx.max_angular = max_angular
        ctx.normalized = normalized
        return values

    @staticmethod
    def backward(ctx, grad_values):
        xyz, gradients = ctx.saved_tensors
        if torch.is_grad_enabled():
            _, gradients = _compute_differentiable(xyz, ctx.max_angular, ctx.normalized, True)
        grad_xyz = torch.einsum("nak,nk->na", gradients, grad_values)
        return grad_xyz, None, None, None


def _check_inputs(xyz, max_angular, chunk_size):
    if isinstance(max_angular, bool) or not isinstance(max_angular, (int, np.integer)):
        raise TypeError(f"`max_angular` must be an integer, got {type(max_angular).__name__}")
    if max_angular < 0:
        raise ValueError(f"`max_angular` must be >= 0, got {max_angular}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"`chunk_size` must be a positive integer, got {chunk_size!r}")
    if not isinstance(xyz, (np.ndarray, torch.Tensor)):
        raise TypeError(
            f"`xyz` must be a numpy.ndarray or a torch.Tensor, got {type(xyz).__name__}"
        )
    if xyz.ndim < 1 or xyz.shape[-1] != 3:
        raise ValueError(f"`xyz` must have shape (..., 3), got {tuple(xyz.shape)}")
    if isinstance(xyz, np.ndarray):
        if xyz.dtype not in (np.float32, np.float64):
            raise TypeError(f"`xyz` must be float32 or float64, got {xyz.dtype}")
    elif xyz.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"`xyz` must be float32 or float64, got {xyz.dtype}")


def _harmonics(xyz, max_angular, normalized, compute_gradients, chunk_size):
    _check_inputs(xyz, max_angular, chunk_size)
    max_angular = int(max_angular)
    chunk_size = _DEFAULT_CHUNK if chunk_size is None else chunk_size
    is_numpy = isinstance(xyz, np.ndarray)
    tensor = torch.from_numpy(np.ascontiguousarray(xyz)) if is_numpy else xyz
    batch_shape = tuple(tensor.shape[:-1])
    tensor = tensor.reshape(-1, 3)

    needs_graph = torch.is_grad_enabled() and tensor.requires_grad
    if not needs_graph:
        values, gradients = _compute_fast(
            tensor.detach(), max_angular, normalized, compute_gradients, chunk_size
        )
    elif compute_gradients:
        # the explicit gradients must themselves be differentiable
        values, gradients = _compute_differentiable(tensor, max_angular, normalized, True)
        values = values.contiguous()
        gradients = gradients.contiguous()
    else:
        values = _HarmonicsFunction.apply(tensor, max_angular, normalized, chunk_size)
        gradients = None

    n_functions = (max_angular + 1) ** 2
    values = values.reshape(batch_shape + (n_functions,))
    if gradients is not None:
        gradients = gradients.reshape(batch_shape + (3, n_functions))
    if is_numpy:
        values = values.numpy()
        gradients = gradients.numpy() if gradients is not None else None
    if compute_gradients:
        return values, gradients
    return values


def spherical_harmonics(
    xyz: Union[np.ndarray, torch.Tensor],
    max_angular: int,
    normalized: bool = True,
    compute_gradients: bool = False,
    chunk_size: Optional[int] = None,
):
    """Real spherical harmonics ``Y_l^m`` for all ``l <= max_angular``, packed.

    Parameters
    ----------
    xyz : numpy.ndarray or torch.Tensor
        Points, shape ``(..., 3)``, float32 or float64, any torch device. Numpy in gives
        numpy out.
    max_angular : int
        Largest degree ``l`` (inclusive).
    normalized : bool
        ``True`` (default): ``Y_l^m(r/|r|)``, orthonormal on the unit sphere (undefined,
        NaN, at the origin). ``False``: solid harmonics ``|r|^l Y_l^m(r/|r|)``, polynomials
        in x, y, z.
    compute_gradients : bool
        Also return the Cartesian gradients ``∂Y_l^m/∂r_a``.
    chunk_size : int, optional
        Number of points processed together on CPU (tuning knob, default 16384).

    Returns
    -------
    values : same type as ``xyz``, shape ``(..., (max_angular+1)²)``
        Column ``lm_index(l, m) = l² + l + m`` holds ``Y_l^m``.
    gradients : shape ``(..., 3, (max_angular+1)²)``, only if ``compute_gradients``
        ``gradients[..., a, k] = ∂ values[..., k] / ∂ xyz[..., a]``.

    Notes
    -----
    The results are stored function-major and returned as transposed views: ``values`` is
    ``(N, K)`` with strides ``(1, N)`` (gradients ``(N, 3, K)`` with strides
    ``(1, K N, N)``), so that each ``Y_l^m`` column is contiguous and no transposing copy is
    made. Use ``.reshape`` rather than ``.view`` (or call ``.contiguous()``) on them.

    Autograd through ``values`` works to any order (a custom backward uses the analytic
    gradients). When ``xyz`` requires grad and ``compute_gradients=True``, the returned
    gradients are differentiable too.

    Examples
    --------
    >>> import numpy as np
    >>> values = spherical_harmonics(np.array([[0.0, 0.0, 2.0]]), max_angular=1)
    >>> np.allclose(values, [[0.5 / np.sqrt(np.pi), 0.0, np.sqrt(3 / (4 * np.pi)), 0.0]])
    True
    >>> values, gradients = spherical_harmonics(
    ...     np.ones((4, 3)), max_angular=2, compute_gradients=True
    ... )
    >>> values.shape, gradients.shape
    ((4, 9), (4, 3, 9))
    """
    return _harmonics(xyz, max_angular, normalized, compute_gradients, chunk_size)


def solid_harmonics(
    xyz: Union[np.ndarray, torch.Tensor],
    max_angular: int,
    compute_gradients: bool = False,
    chunk_size: Optional[int] = None,
):
    """Solid harmonics ``|r|^l Y_l^m(r/|r|)``: :func:`spherical_harmonics` with
    ``normalized=False``.

    Examples
    --------
    >>> import numpy as np
    >>> value = solid_harmonics(np.array([[3.0, 0.0, 0.0]]), max_angular=1)[0, 3]
    >>> round(float(value / np.sqrt(3 / (4 * np.pi))), 12)
    3.0
    """
    return _harmonics(xyz, max_angular, False, compute_gradients, chunk_size)


class SphericalHarmonics(torch.nn.Module):
    """Module computing real spherical (or solid) harmonics up to ``max_angular``.

    Parameters
    ----------
    max_angular : int
        Largest degree (inclusive).
    normalized : bool
        ``True`` for orthonormal harmonics of the direction, ``False`` for solid harmonics.

    Examples
    --------
    >>> import torch
    >>> module = SphericalHarmonics(3)
    >>> module(torch.randn(10, 3, dtype=torch.float64)).shape
    torch.Size([10, 16])
    >>> values, gradients = module.compute_with_gradients(torch.randn(10, 3))
    >>> gradients.shape
    torch.Size([10, 3, 16])
    """

    def __init__(self, max_angular: int, normalized: bool = True):
        super().__init__()
        _check_inputs(torch.zeros(1, 3), max_angular, None)
        self.max_angular = int(max_angular)
        self.normalized = bool(normalized)

    def forward(self, xyz):
        return self.compute(xyz)

    def compute(self, xyz):
        """Packed values, shape ``(..., (max_angular+1)²)``."""
        return _harmonics(xyz, self.max_angular, self.normalized, False, None)

    def compute_with_gradients(self, xyz):
        """Packed values and gradients ``(..., 3, (max_angular+1)²)``."""
        return _harmonics(xyz, self.max_angular, self.normalized, True, None)

    def extra_repr(self) -> str:
        return f"max_angular={self.max_angular}, normalized={self.normalized}"
