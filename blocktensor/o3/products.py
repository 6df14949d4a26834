"""Clebsch–Gordan products of :class:`~blocktensor.TensorMap` s.

Every compatible pair of blocks of two maps is coupled, ``λ1 ⊗ λ2 → |λ1 − λ2| .. λ1 + λ2``:

.. math::

    T^{λ}_{μ, (a b)} = (-1)^{λ_1 + λ_2 + λ}
        \\sum_{m_1 m_2} C^{λ_1 λ_2 λ}_{m_1 m_2 μ} A^{λ_1}_{m_1 a} B^{λ_2}_{m_2 b}

with the real coefficients of :func:`~blocktensor.o3.clebsch_gordan` and the sign factor
of featomic's ``clebsch_gordan`` module, so that values and metadata agree with featomic
0.6 on the same inputs: output keys ``(o3_lambda, o3_sigma, <matched keys>,
<other keys of the first>, <name for λ1>, <other keys of the second>, <name for λ2>)``,
``o3_sigma = σ1 σ2 (−1)^(λ1 + λ2 + λ)``, properties the outer product of the two inputs'
properties (first input's varying slowest), samples matched by metadata.

The arithmetic is one tensor contraction and one batched matrix product per pair of blocks
(all output ``λ`` of a pair at once, with the coefficients stacked along ``μ``), for values
and for each gradient; nothing loops over samples. Gradient blocks follow the product rule.
Values keep their torch autograd graph and stay on their device; only metadata (Labels)
is handled on the host.
"""

from typing import Callable, Dict, Optional, Tuple

import numpy as np
import torch

from .. import _backend
from ..block import TensorBlock
from ..labels import Labels
from ..operations._utils import check_same_arrays, check_tensor_map, describe_key
from ..tensor import TensorMap
from .cg_coefficients import clebsch_gordan

__all__ = ["ClebschGordanProduct", "cg_couple_arrays"]

_CG_NAMES = ["o3_lambda", "o3_sigma"]


# --------------------------------------------------------------------------- coefficients
_STACKED_CACHE: Dict[Tuple, object] = {}


def _stacked_coefficients(l1, l2, o3_lambdas, like):
    """``(2l1+1, 2l2+1, Σ(2λ+1))``: the signed coefficients of every ``λ`` side by side, in
    the backend, dtype and device of ``like``."""
    if _backend.is_torch(like):
        key = (l1, l2, tuple(o3_lambdas), "torch", like.dtype, str(like.device))
    else:
        key = (l1, l2, tuple(o3_lambdas), "numpy", like.dtype.str, None)
    cached = _STACKED_CACHE.get(key)
    if cached is None:
        parts = [
            (-1.0) ** (l1 + l2 + o3_lambda) * clebsch_gordan(l1, l2, o3_lambda)
            for o3_lambda in o3_lambdas
        ]
        stacked = np.ascontiguousarray(np.concatenate(parts, axis=2))
        if _backend.is_torch(like):
            cached = torch.tensor(stacked, dtype=like.dtype, device=like.device)
        else:
            cached = stacked.astype(like.dtype)
            cached.setflags(write=False)
        _STACKED_CACHE[key] = cached
    return cached


def _couple(values_1, values_2, coefficients):
    """``out[..., μ, a, b] = Σ C[m1, m2, μ] values_1[..., m1, a] values_2[..., m2, b]``.

    ``values_1`` is ``(..., M1, P1)``, ``values_2`` is ``(..., M2, P2)`` with broadcastable
    leading dimensions; the result is ``(..., Λ, P1, P2)``. Contracting ``m2`` first and
    then ``m1`` in batched matrix products never builds the ``M1·M2·P1·P2`` outer product.
    The products are stacked over the leading dimensions (many small matrices) rather than
    folded into one tall matrix: BLAS threads nothing for small matrices, which keeps the
    cost stable on a loaded machine.
    """
    n_m1, n_m2, n_lambda = coefficients.shape
    if _backend.is_torch(values_1):
        flat = coefficients.transpose(0, 1).reshape(n_m2, n_m1 * n_lambda)
        partial = values_2.transpose(-1, -2) @ flat  # (..., P2, M1·Λ)
        partial = partial.reshape(partial.shape[:-1] + (n_m1, n_lambda))
        depth = partial.ndim - 3
        partial = partial.permute(*range(depth), depth + 2, depth + 1, depth)
        left = values_1.transpose(-1, -2).unsqueeze(-3)
    else:
        flat = coefficients.transpose(1, 0, 2).reshape(n_m2, n_m1 * n_lambda)
        partial = np.matmul(np.swapaxes(values_2, -1, -2), flat)
        partial = partial.reshape(partial.shape[:-1] + (n_m1, n_lambda))
        depth = partial.ndim - 3
        partial = partial.transpose(*range(depth), depth + 2, depth + 1, depth)
        left = np.swapaxes(values_1, -1, -2)[..., None, :, :]
    return left @ partial  # (..., Λ, P1, P2)


def cg_couple_arrays(values_1, values_2, o3_lambdas):
    """CG products of two arrays of spherical components, for several output ``λ``.

    Parameters
    ----------
    values_1 : numpy.ndarray or torch.Tensor
        Shape ``(..., 2l1+1, P1)``.
    values_2 : same type as ``values_1``
        Shape ``(..., 2l2+1, P2)``, leading dimensions broadcastable with ``values_1``'s.
    o3_lambdas : list of int
        Output degrees, each with ``|l1 - l2| <= λ <= l1 + l2``.

    Returns
    -------
    list
        One array per ``λ``, shape ``(..., 2λ+1, P1 * P2)`` (first properties slowest),
        including featomic's sign ``(-1)^(l1+l2+λ)``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(4, 3, 2)), rng.normal(size=(4, 3, 5))
    >>> scalar, vector = cg_couple_arrays(a, b, [0, 1])
    >>> scalar.shape, vector.shape
    ((4, 1, 10), (4, 3, 10))
    >>> # λ = 0 of two l = 1 arrays is their dot product over m, times -1/√3
    >>> np.allclose(scalar[:, 0], -np.einsum("sma,smb->sab", a, b).reshape(4, 10) / np.sqrt(3))
    True
    """
    l1 = (values_1.shape[-2] - 1) // 2
    l2 = (values_2.shape[-2] - 1) // 2
    for name, values in (("values_1", values_1), ("values_2", values_2)):
        if values.ndim < 2 or values.shape[-2] % 2 != 1:
            raise ValueError(
                f"`{name}` must have shape (..., 2l+1, properties), got {tuple(values.shape)}"
            )
    for o3_lambda in o3_lambdas:
        if not abs(l1 - l2) <= o3_lambda <= l1 + l2:
            raise ValueError(
                f"`o3_lambdas` contains {o3_lambda}, which can not be made from l1={l1} and "
                f"l2={l2}"
            )
    coefficients = _stacked_coefficients(l1, l2, list(o3_lambdas), values_1)
    coupled = _couple(values_1, values_2, coefficients)
    return _split_lambdas(coupled, o3_lambdas)


def _split_lambdas(coupled, o3_lambdas):
    """``(..., Σ(2λ+1), P1, P2)`` -> list of ``(..., 2λ+1, P1·P2)``."""
    result = []
    start = 0
    leading = tuple(coupled.shape[:-3])
    n_properties = coupled.shape[-1] * coupled.shape[-2]
    for o3_lambda in o3_lambdas:
        size = 2 * o3_lambda + 1
        part = coupled[..., start:start + size, :, :]
        result.append(part.reshape(leading + (size, n_properties)))
        start += size
    return result


# --------------------------------------------------------------------------- metadata
def _lambda_range(l1, l2, max_angular):
    high = l1 + l2 if max_angular is None else min(l1 + l2, max_angular)
    return list(range(abs(l1 - l2), high + 1))


def _output_keys(keys_1, keys_2, name_1, name_2, max_angular):
    """All output keys with, for each, the pair of input blocks it comes from."""
    match_names = [n for n in keys_1.names if n not in _CG_NAMES and n in keys_2.names]
    other_1 = [n for n in keys_1.names if n not in _CG_NAMES and n not in match_names]
    other_2 = [n for n in keys_2.names if n not in _CG_NAMES and n not in match_names]
    names = _CG_NAMES + match_names + other_1 + [name_1] + other_2 + [name_2]
    for new_name, argument in ((name_1, "o3_lambda_1_new_name"),
                               (name_2, "o3_lambda_2_new_name")):
        if names.count(new_name) != 1:
            raise ValueError(
                f"`{argument}` is {new_name!r}, which is already a key name of the output "
                f"(key names: {_CG_NAMES + match_names + other_1 + other_2})"
            )

    values_1, values_2 = keys_1.values, keys_2.values
    if len(match_names) == 0:
        matching = np.ones((len(keys_1), len(keys_2)), dtype=bool)
    else:
        columns_1 = values_1[:, [keys_1.names.index(n) for n in match_names]]
        columns_2 = values_2[:, [keys_2.names.index(n) for n in match_names]]
        matching = np.all(columns_1[:, None, :] == columns_2[None, :, :], axis=2)
    first, second = np.nonzero(matching)

    lambda_1 = values_1[:, keys_1.names.index("o3_lambda")]
    sigma_1 = values_1[:, keys_1.names.index("o3_sigma")]
    lambda_2 = values_2[:, keys_2.names.index("o3_lambda")]
    sigma_2 = values_2[:, keys_2.names.index("o3_sigma")]
    head_1 = values_1[:, [keys_1.names.index(n) for n in match_names + other_1]]
    tail_2 = values_2[:, [keys_2.names.index(n) for n in other_2]]

    rows = []
    pairs = []
    for i, j in zip(first.tolist(), second.tolist()):
        l1, l2 = int(lambda_1[i]), int(lambda_2[j])
        for o3_lambda in _lambda_range(l1, l2, max_angular):
            sigma = int(sigma_1[i]) * int(sigma_2[j]) * (-1) ** (l1 + l2 + o3_lambda)
            rows.append([o3_lambda, sigma, *head_1[i].tolist(), l1, *tail_2[j].tolist(), l2])
            pairs.append((i, j))
    values = np.array(rows, dtype=np.int32).reshape(len(rows), len(names))
    return Labels(names, values), np.array(pairs, dtype=np.int64).reshape(-1, 2)


def _cartesian_product(labels_1, labels_2):
    values = np.concatenate(
        [
            np.repeat(labels_1.values, len(labels_2), axis=0),
            np.tile(labels_2.values, (len(labels_1), 1)),
        ],
        axis=1,
    )
    return Labels._unchecked(labels_1.names + labels_2.names, values)


def _match_samples(block_1, block_2):
    """Output samples and, for each output row, the source row in each block (``-1`` when
    the block has no such sample: its values count as zero there).

    Same sample names: the union (nothing to do when equal). Otherwise the names of one must
    be a subset of the other's; the smaller block is broadcast onto the rows of the larger
    one that it matches (as featomic does)."""
    samples_1, samples_2 = block_1.samples, block_2.samples
    if samples_1.names == samples_2.names:
        if samples_1 == samples_2:
            rows = np.arange(len(samples_1), dtype=np.int64)
            return samples_1, rows, rows
        union, map_1, map_2 = samples_1.union_and_mapping(samples_2)
        rows_1 = np.full(len(union), -1, dtype=np.int64)
        rows_2 = np.full(len(union), -1, dtype=np.int64)
        rows_1[map_1] = np.arange(len(samples_1))
        rows_2[map_2] = np.arange(len(samples_2))
        return union, rows_1, rows_2

    swapped = len(samples_1.names) > len(samples_2.names)
    small, large = (samples_2, samples_1) if swapped else (samples_1, samples_2)
    missing = [n for n in small.names if n not in large.names]
    if missing:
        raise ValueError(
            "the samples of the two blocks can not be matched: the sample names of one "
            f"must be a subset of the other's, got {samples_1.names} and {samples_2.names} "
            f"({missing[0]!r} is missing from the block with more dimensions)"
        )
    found = small.positions(np.ascontiguousarray(large.view(small.names).values))
    large_rows = np.nonzero(found >= 0)[0].astype(np.int64)
    small_rows = found[large_rows]
    samples = Labels._unchecked(large.names, large.values[large_rows])
    if swapped:
        return samples, large_rows, small_rows
    return samples, small_rows, large_rows


def _gather_rows(values, rows, identity):
    """``values[rows]`` with zero rows where ``rows == -1`` (autograd-safe)."""
    if identity:
        return values
    present = rows >= 0
    if np.all(present):
        return _backend.take(values, rows, axis=0)
    shape = (len(rows),) + tuple(values.shape[1:])
    destination = np.nonzero(present)[0]
    if _backend.is_torch(values):
        output = torch.zeros(shape, dtype=values.dtype, device=values.device)
        return output.index_copy(
            0,
            _backend.index_array(values, destination),
            values.index_select(0, _backend.index_array(values, rows[present])),
        )
    output = np.zeros(shape, dtype=values.dtype)
    output[destination] = values[rows[present]]
    return output


def _expand_gradient_rows(source_rows, gradient_sample):
    """Pairs (output sample, gradient row) such that the gradient row differentiates the
    input row feeding that output sample; sorted by output sample, then gradient row."""
    order = np.argsort(gradient_sample, kind="stable")
    sorted_sample = gradient_sample[order]
    starts = np.searchsorted(sorted_sample, source_rows, side="left")
    ends = np.searchsorted(sorted_sample, source_rows, side="right")
    counts = np.where(source_rows >= 0, ends - starts, 0)
    output_rows = np.repeat(np.arange(len(source_rows), dtype=np.int64), counts)
    offsets = np.arange(len(output_rows), dtype=np.int64) - np.repeat(
        np.cumsum(counts) - counts, counts
    )
    gradient_rows = order[np.repeat(starts, counts) + offsets]
    return output_rows, gradient_rows


def _lexsort_rows(values):
    if values.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    return np.lexsort(values.T[::-1]).astype(np.int64)


# --------------------------------------------------------------------------- the product
class ClebschGordanProduct(torch.nn.Module):
    """Clebsch–Gordan tensor product of two :class:`~blocktensor.TensorMap`.

    Both inputs need ``o3_lambda`` and ``o3_sigma`` key dimensions and a single
    ``o3_mu`` component. Pairs of blocks are combined when they agree on every other key
    dimension the two maps share; key dimensions present in only one map are combined in a
    full product. Property names of the two maps must differ (rename them first); the
    output properties are their outer product. Samples with the same names are matched
    (union; a sample missing from one block contributes zeros); otherwise the sample names
    of one map must be a subset of the other's and its blocks are broadcast.

    Gradients (``"positions"``, ``"strain"``, ...) present in both maps propagate by the
    product rule; the gradient samples of the two inputs are merged.

    Parameters
    ----------
    max_angular : int or None
        Largest output ``o3_lambda`` computed: the couplings ``λ1 ⊗ λ2`` only produce
        ``|λ1 − λ2| <= λ <= min(λ1 + λ2, max_angular)``. ``None``: no limit.
    keys_filter : callable, optional
        ``keys_filter(keys: Labels) -> indices`` of the output keys to keep, applied after
        ``selected_keys`` and before anything is computed (e.g.
        :func:`~blocktensor.o3.correlations.filter_redundant_keys`).

    Examples
    --------
    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> def density(property_name):
    ...     blocks = [
    ...         TensorBlock(np.random.default_rng(l).normal(size=(3, 2 * l + 1, 2)),
    ...                     Labels.range("atom", 3), [Labels.range("o3_mu", 2 * l + 1)],
    ...                     Labels.range(property_name, 2))
    ...         for l in (0, 1)
    ...     ]
    ...     return TensorMap(Labels(["o3_lambda", "o3_sigma"], [[0, 1], [1, 1]]), blocks)
    >>> product = ClebschGordanProduct(max_angular=2)
    >>> result = product.compute(density("n_1"), density("n_2"), "l_1", "l_2")
    >>> result.keys.names
    ['o3_lambda', 'o3_sigma', 'l_1', 'l_2']
    >>> result.keys.values.tolist()
    [[0, 1, 0, 0], [1, 1, 0, 1], [1, 1, 1, 0], [0, 1, 1, 1], [1, -1, 1, 1], [2, 1, 1, 1]]
    >>> result.block(0).properties.names
    ['n_1', 'n_2']
    """

    def __init__(
        self,
        max_angular: Optional[int],
        *,
        keys_filter: Optional[Callable[[Labels], object]] = None,
    ):
        super().__init__()
        if max_angular is not None and (
            isinstance(max_angular, bool)
            or not isinstance(max_angular, (int, np.integer))
            or max_angular < 0
        ):
            raise ValueError(
                f"`max_angular` must be None or a non-negative integer, got {max_angular!r}"
            )
        if keys_filter is not None and not callable(keys_filter):
            raise TypeError(
                f"`keys_filter` must be a callable or None, got {type(keys_filter).__name__}"
            )
        self.max_angular = None if max_angular is None else int(max_angular)
        self.keys_filter = keys_filter

    def extra_repr(self) -> str:
        return f"max_angular={self.max_angular}"

    def forward(self, tensor_1, tensor_2, o3_lambda_1_new_name, o3_lambda_2_new_name,
                selected_keys=None):
        """Same as :py:meth:`compute`."""
        return self.compute(
            tensor_1, tensor_2, o3_lambda_1_new_name, o3_lambda_2_new_name, selected_keys
        )

    def compute_keys(self, tensor_1, tensor_2, o3_lambda_1_new_name, o3_lambda_2_new_name,
                     selected_keys=None):
        """The keys :py:meth:`compute` would produce, without computing anything."""
        keys, _ = self._plan(
            tensor_1, tensor_2, o3_lambda_1_new_name, o3_lambda_2_new_name, selected_keys
        )
        return keys

    def compute(self, tensor_1, tensor_2, o3_lambda_1_new_name, o3_lambda_2_new_name,
                selected_keys=None):
        """CG product of ``tensor_1`` and ``tensor_2``.

        Parameters
        ----------
        tensor_1, tensor_2 : TensorMap
            Inputs (same array backend, dtype and device).
        o3_lambda_1_new_name, o3_lambda_2_new_name : str
            Output key dimensions storing the ``o3_lambda`` of the block of each input.
        selected_keys : Labels, optional
            Output keys to compute, over any subset of the output key names (e.g. only
            ``o3_lambda`` to restrict the output degrees).

        Returns
        -------
        TensorMap
            Keys ordered by pair of input blocks (in the order of ``tensor_1``'s keys,
            then ``tensor_2``'s), then by ``λ``.
        """
        keys, plan = self._plan(
            tensor_1, tensor_2, o3_lambda_1_new_name, o3_lambda_2_new_name, selected_keys
        )
        blocks = []
        for first, second, o3_lambdas in plan:
            blocks.extend(
                _product_blocks(tensor_1.block_by_id(first), tensor_2.block_by_id(second),
                                o3_lambdas)
            )
        return TensorMap._unchecked(keys, blocks)

    # ------------------------------------------------------------------ planning
    def _plan(self, tensor_1, tensor_2, name_1, name_2, selected_keys):
        fname = "ClebschGordanProduct"
        check_tensor_map(tensor_1, "tensor_1", fname)
        check_tensor_map(tensor_2, "tensor_2", fname)
        for argument, name in (("o3_lambda_1_new_name", name_1),
                               ("o3_lambda_2_new_name", name_2)):
            if not isinstance(name, str):
                raise TypeError(f"`{argument}` must be a string, got {type(name).__name__}")
        if name_1 == name_2:
            raise ValueError(
                f"`o3_lambda_1_new_name` and `o3_lambda_2_new_name` must differ, both are "
                f"{name_1!r}"
            )
        _check_input(tensor_1, "tensor_1")
        _check_input(tensor_2, "tensor_2")
        _check_compatible(tensor_1, tensor_2)

        keys, pairs = _output_keys(tensor_1.keys, tensor_2.keys, name_1, name_2,
                                   self.max_angular)
        if selected_keys is not None:
            if not isinstance(selected_keys, Labels):
                raise TypeError(
                    f"`selected_keys` must be Labels or None, got {type(selected_keys).__name__}"
                )
            unknown = [n for n in selected_keys.names if n not in keys.names]
            if unknown:
                raise ValueError(
                    f"`selected_keys` has the dimension {unknown[0]!r}, which is not one of "
                    f"the output key names {keys.names}"
                )
            kept = keys.select(selected_keys)
            keys = Labels._unchecked(keys.names, keys.values[kept])
            pairs = pairs[kept]
        if self.keys_filter is not None:
            kept = np.asarray(self.keys_filter(keys), dtype=np.int64).reshape(-1)
            if len(kept) and (kept.min() < 0 or kept.max() >= len(keys)):
                raise ValueError(
                    f"`keys_filter` returned the index {int(kept.max())}, but there are only "
                    f"{len(keys)} output keys"
                )
            keys = Labels._unchecked(keys.names, keys.values[kept])
            pairs = pairs[kept]

        # all the λ made by one pair of blocks are computed together: group them,
        # keeping the order in which pairs first appear
        pair_ids = pairs[:, 0] * max(len(tensor_2.keys), 1) + pairs[:, 1]
        _, first_seen, inverse = np.unique(pair_ids, return_index=True, return_inverse=True)
        group_order = np.argsort(first_seen, kind="stable")
        rank = np.empty_like(group_order)
        rank[group_order] = np.arange(len(group_order))
        order = np.argsort(rank[inverse.reshape(-1)], kind="stable")
        keys = Labels._unchecked(keys.names, keys.values[order])
        pairs = pairs[order]
        lambdas = keys.column("o3_lambda")

        plan = []
        start = 0
        while start < len(pairs):
            end = start
            while end < len(pairs) and np.array_equal(pairs[end], pairs[start]):
                end += 1
            plan.append((int(pairs[start, 0]), int(pairs[start, 1]),
                         [int(v) for v in lambdas[start:end]]))
            start = end
        return keys, plan


def _check_input(tensor, argument):
    for name in _CG_NAMES:
        if name not in tensor.keys.names:
            raise ValueError(
                f"`{argument}` must have a key dimension named {name!r}, its key names are "
                f"{tensor.keys.names}"
            )
    if len(tensor.keys) and tensor.component_names != ["o3_mu"]:
        raise ValueError(
            f"`{argument}` must have a single component named 'o3_mu', got components "
            f"{tensor.component_names}"
        )
    sigmas = tensor.keys.column("o3_sigma")
    if np.any((sigmas != 1) & (sigmas != -1)):
        raise ValueError(f"`{argument}` has o3_sigma values other than +1 and -1")
    for i, block in enumerate(tensor.blocks()):
        o3_lambda = int(tensor.keys.column("o3_lambda")[i])
        if block.values.shape[1] != 2 * o3_lambda + 1:
            raise ValueError(
                f"the block of `{argument}` for key {describe_key(tensor.keys, i)} has "
                f"{block.values.shape[1]} o3_mu components, expected {2 * o3_lambda + 1}"
            )


def _check_compatible(tensor_1, tensor_2):
    common = [n for n in tensor_1.property_names if n in tensor_2.property_names]
    if len(tensor_1.keys) and len(tensor_2.keys) and common:
        raise ValueError(
            f"the property name {common[0]!r} is in both `tensor_1` and `tensor_2`: the "
            "output properties are their product, rename the properties of one of them"
        )
    if len(tensor_1.keys) == 0 or len(tensor_2.keys) == 0:
        return
    block_1, block_2 = tensor_1.block_by_id(0), tensor_2.block_by_id(0)
    check_same_arrays(block_1, block_2, "`tensor_1`", "`tensor_2`", "ClebschGordanProduct")
    gradients_1 = sorted(block_1.gradients_list())
    gradients_2 = sorted(block_2.gradients_list())
    if gradients_1 != gradients_2:
        raise ValueError(
            f"`tensor_1` has gradients with respect to {gradients_1} and `tensor_2` with "
            f"respect to {gradients_2}: both must have the same gradients (remove the "
            "others with `remove_gradients`)"
        )


def _product_blocks(block_1, block_2, o3_lambdas):
    """The blocks (one per λ) of the CG product of two blocks."""
    l1 = (block_1.values.shape[1] - 1) // 2
    l2 = (block_2.values.shape[1] - 1) // 2
    samples, rows_1, rows_2 = _match_samples(block_1, block_2)
    identity_1 = len(rows_1) == len(block_1.samples) and np.array_equal(
        rows_1, np.arange(len(block_1.samples)))
    identity_2 = len(rows_2) == len(block_2.samples) and np.array_equal(
        rows_2, np.arange(len(block_2.samples)))
    values_1 = _gather_rows(block_1.values, rows_1, identity_1)
    values_2 = _gather_rows(block_2.values, rows_2, identity_2)
    properties = _cartesian_product(block_1.properties, block_2.properties)
    coefficients = _stacked_coefficients(l1, l2, o3_lambdas, values_1)

    coupled = _couple(values_1, values_2, coefficients)
    blocks = [
        TensorBlock._unchecked(
            values, samples, [_mu_labels(o3_lambda)], properties
        )
        for values, o3_lambda in zip(_split_lambdas(coupled, o3_lambdas), o3_lambdas)
    ]

    for parameter in block_1.gradients_list():
        gradient_1 = block_1.gradient(parameter)
        gradient_2 = block_2.gradient(parameter)
        own_1 = gradient_1.components[:-1]
        own_2 = gradient_2.components[:-1]
        if len(own_1) != len(own_2) or any(a != b for a, b in zip(own_1, own_2)):
            raise ValueError(
                f"the '{parameter}' gradients of the two inputs have different components: "
                f"{[c.names[0] for c in own_1]} and {[c.names[0] for c in own_2]}"
            )
        if gradient_1.samples.names != gradient_2.samples.names:
            raise ValueError(
                f"the '{parameter}' gradients of the two inputs have different sample "
                f"names: {gradient_1.samples.names} and {gradient_2.samples.names}"
            )
        gradient_samples, gradient_values = _product_gradient(
            gradient_1, gradient_2, values_1, values_2, rows_1, rows_2, coefficients
        )
        for block, values, o3_lambda in zip(
            blocks, _split_lambdas(gradient_values, o3_lambdas), o3_lambdas
        ):
            gradient = TensorBlock._unchecked(
                values, gradient_samples, own_1 + [_mu_labels(o3_lambda)], properties
            )
            gradient._is_gradient = True
            block._gradients[parameter] = gradient
    return blocks


def _product_gradient(gradient_1, gradient_2, values_1, values_2, rows_1, rows_2,
                      coefficients):
    """Product rule: ∂(A ⊗ B) = ∂A ⊗ B + A ⊗ ∂B, on the merged gradient samples."""
    output_1, source_1 = _expand_gradient_rows(rows_1, gradient_1.samples.column("sample"))
    output_2, source_2 = _expand_gradient_rows(rows_2, gradient_2.samples.column("sample"))
    samples_1 = np.concatenate(
        [output_1[:, None], gradient_1.samples.values[source_1, 1:]], axis=1
    )
    samples_2 = np.concatenate(
        [output_2[:, None], gradient_2.samples.values[source_2, 1:]], axis=1
    )
    names = gradient_1.samples.names
    labels_1 = Labels._unchecked(names, samples_1)
    labels_2 = Labels._unchecked(names, samples_2)
    if labels_1 == labels_2:
        merged, map_1, map_2 = labels_1, None, None
    else:
        merged, map_1, map_2 = labels_1.union_and_mapping(labels_2)
        if len(merged) > len(labels_1):
            # rows only the second input has were appended: restore the sorted order
            order = _lexsort_rows(merged.values)
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            merged = Labels._unchecked(names, merged.values[order])
            map_1, map_2 = rank[map_1], rank[map_2]

    n_own = gradient_1.values.ndim - 3

    def broadcast_parent(values, rows):
        gathered = _backend.take(values, rows, axis=0)
        return gathered.reshape((len(rows),) + (1,) * n_own + tuple(gathered.shape[1:]))

    term_1 = _couple(
        _backend.take(gradient_1.values, source_1, axis=0),
        broadcast_parent(values_2, output_1),
        coefficients,
    )
    term_2 = _couple(
        broadcast_parent(values_1, output_2),
        _backend.take(gradient_2.values, source_2, axis=0),
        coefficients,
    )
    if map_1 is None:
        return merged, term_1 + term_2
    # each merged row receives at most one row of each term: gathering (with a zero row
    # for "absent") is much faster than scattering with index_add
    return merged, (_gather_rows(term_1, _inverse_mapping(map_1, len(merged)), False)
                    + _gather_rows(term_2, _inverse_mapping(map_2, len(merged)), False))


def _inverse_mapping(mapping, length):
    """For every row of the target, the source row mapped there, or ``-1``."""
    inverse = np.full(length, -1, dtype=np.int64)
    inverse[mapping] = np.arange(len(mapping), dtype=np.int64)
    return inverse


_MU_CACHE: Dict[int, Labels] = {}


def _mu_labels(o3_lambda):
    labels = _MU_CACHE.get(o3_lambda)
    if labels is None:
        labels = Labels._unchecked(
            ["o3_mu"], np.arange(-o3_lambda, o3_lambda + 1, dtype=np.int32).reshape(-1, 1)
        )
        _MU_CACHE[o3_lambda] = labels
    return labels
