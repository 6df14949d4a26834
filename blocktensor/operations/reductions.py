"""Reductions over samples and over properties: sum, mean, standard deviation, variance.

``*_over_samples(tensor, sample_names)`` merges the rows of every block that share the
values of the *remaining* sample dimensions (those not in ``sample_names``): the result's
samples are the unique remaining rows, sorted. Reducing over every sample dimension leaves
one row labelled ``_ = 0``. ``*_over_properties(tensor, property_names)`` does the same on
the last axis. Components are untouched. A block without samples (properties) keeps its
values, with empty Labels of the remaining names.

The variance is the population variance (divided by N, not N − 1); ``std`` is its square
root.

Gradients are exact derivatives of the reduced values, vectorised with ``index_add``. For a
group ``k`` of ``N_k`` rows ``i``:

* sum: ∇S_k = Σ_i ∇x_i — gradient rows are re-pointed to the reduced row and rows that then
  coincide (same reduced row, same remaining gradient sample) are added;
* mean: ∇M_k = Σ_i ∇x_i / N_k;
* var: ∇V_k = (2 / N_k) Σ_i (x_i − M_k) ∇x_i;
* std: ∇σ_k = ∇V_k / (2 σ_k), set to 0 where σ_k = 0 (like metatensor).

metatensor-operations 0.5.0 divides the mean/var/std gradients by the number of *gradient
rows* merged instead of ``N_k``, which only agrees when every row has a gradient with
respect to every parameter entry; here the derivative is exact in all cases. It also fails
for std/var over properties when blocks have components; here they work.
"""

import numpy as np
import torch

from .. import _backend
from ..block import TensorBlock
from ..labels import Labels
from ..tensor import TensorMap
from ._utils import attach_gradient, broadcast_parent, check_tensor_block, \
    check_tensor_map, names_list

__all__ = [
    "sum_over_samples",
    "sum_over_samples_block",
    "mean_over_samples",
    "mean_over_samples_block",
    "std_over_samples",
    "std_over_samples_block",
    "var_over_samples",
    "var_over_samples_block",
    "sum_over_properties",
    "sum_over_properties_block",
    "mean_over_properties",
    "mean_over_properties_block",
    "std_over_properties",
    "std_over_properties_block",
    "var_over_properties",
    "var_over_properties_block",
]


def _like(array, like):
    """A numpy ``array`` with the backend, dtype and device of ``like``."""
    if _backend.is_torch(like):
        return torch.from_numpy(np.asarray(array)).to(dtype=like.dtype, device=like.device)
    return np.asarray(array, dtype=like.dtype)


def _sqrt(values):
    """Square root whose autograd derivative is 0 (not NaN) where ``values`` is 0, matching
    the explicit std gradients of constant groups."""
    if _backend.is_torch(values):
        positive = values > 0
        return torch.where(positive, torch.sqrt(torch.where(positive, values,
                                                            torch.ones_like(values))),
                           torch.zeros_like(values))
    return np.sqrt(values)


def _safe_inverse(values):
    """1 / values, with 0 where values is 0 (std gradients of constant groups)."""
    if _backend.is_torch(values):
        zero = values == 0
        return torch.where(zero, torch.zeros_like(values), 1.0 / torch.where(
            zero, torch.ones_like(values), values))
    with np.errstate(divide="ignore"):
        inverse = 1.0 / values
    inverse[values == 0] = 0.0
    return inverse


def _groups(labels, reduced_names, argument, fname):
    """Remaining Labels after removing ``reduced_names`` and, for every entry, its group."""
    for name in reduced_names:
        if name not in labels.names:
            raise ValueError(
                f"`{argument}` in '{fname}' contains {name!r} which is not one of the "
                f"{argument.split('_')[0]} names {labels.names}"
            )
    remaining = [name for name in labels.names if name not in reduced_names]
    if len(remaining) == 0:
        return Labels.single(), np.zeros(len(labels), dtype=np.int64), remaining
    grouped, index = labels.view(remaining).unique()
    return Labels._unchecked(remaining, grouped.values), index, remaining


def _reduce_values(values, index, n_groups, axis, reduction):
    """Reduced values and the intermediate (mean, counts, std) needed by the gradients."""
    shape = list(values.shape)
    shape[axis] = n_groups
    summed = _backend.index_add(_backend.zeros(values, tuple(shape)), axis, index, values)
    if reduction == "sum":
        return summed, None
    counts_shape = [1] * values.ndim
    counts_shape[axis] = n_groups
    counts = _like(np.bincount(index, minlength=n_groups).reshape(counts_shape), values)
    mean = summed / counts
    if reduction == "mean":
        return mean, counts
    centered = values - _backend.take(mean, index, axis)
    variance = _backend.index_add(
        _backend.zeros(values, tuple(shape)), axis, index, centered * centered
    ) / counts
    if reduction == "var":
        return variance, (counts, centered)
    return _sqrt(variance), (counts, centered)


def _reduce_over_samples_block(block, sample_names, reduction, fname):
    samples, index, remaining = _groups(block.samples, sample_names, "sample_names", fname)
    if len(block.samples) == 0:
        result = TensorBlock._unchecked(block.values, Labels.empty(remaining) if remaining
                                        else Labels.empty(["_"]), block.components,
                                        block.properties)
        for parameter, gradient in block.gradients():
            attach_gradient(result, parameter, gradient.values, gradient.samples,
                            gradient.components)
        return result
    values, extra = _reduce_values(block.values, index, len(samples), 0, reduction)
    result = TensorBlock._unchecked(values, samples, block.components, block.properties)
    for parameter, gradient in block.gradients():
        rows = gradient.samples.values[:, 0]
        moved = gradient.samples.values.copy()
        moved[:, 0] = index[rows]
        gradient_samples, gradient_index = Labels._unchecked(
            gradient.samples.names, moved, is_view=True
        ).unique()
        contribution = gradient.values
        if reduction == "mean":
            contribution = contribution / broadcast_parent(
                _backend.take(extra, index, 0), gradient, block.values
            )
        elif reduction in ("var", "std"):
            counts, centered = extra
            scale = 2.0 * centered / _backend.take(counts, index, 0)
            if reduction == "std":
                scale = 0.5 * scale * _backend.take(_safe_inverse(values), index, 0)
            contribution = contribution * broadcast_parent(scale, gradient, block.values)
        gradient_values = _backend.index_add(
            _backend.zeros(contribution, (len(gradient_samples),) + tuple(
                contribution.shape[1:])),
            0, gradient_index, contribution,
        )
        attach_gradient(result, parameter, gradient_values, gradient_samples,
                        gradient.components)
    return result


def _reduce_over_properties_block(block, property_names, reduction, fname):
    properties, index, remaining = _groups(block.properties, property_names,
                                           "property_names", fname)
    if len(block.properties) == 0:
        empty = Labels.empty(remaining) if remaining else Labels.empty(["_"])
        result = TensorBlock._unchecked(block.values, block.samples, block.components, empty)
        for parameter, gradient in block.gradients():
            attach_gradient(result, parameter, gradient.values, gradient.samples,
                            gradient.components, empty)
        return result
    axis = block.values.ndim - 1
    values, extra = _reduce_values(block.values, index, len(properties), axis, reduction)
    result = TensorBlock._unchecked(values, block.samples, block.components, properties)
    for parameter, gradient in block.gradients():
        contribution = gradient.values
        if reduction in ("var", "std"):
            counts, centered = extra
            scale = 2.0 * centered / _backend.take(counts, index, axis)
            if reduction == "std":
                scale = 0.5 * scale * _backend.take(_safe_inverse(values), index, axis)
            contribution = contribution * broadcast_parent(scale, gradient, block.values)
        gradient_axis = gradient.values.ndim - 1
        shape = tuple(gradient.values.shape[:-1]) + (len(properties),)
        gradient_values = _backend.index_add(
            _backend.zeros(contribution, shape), gradient_axis, index, contribution
        )
        if reduction == "mean":
            gradient_values = gradient_values / extra.reshape(
                (1,) * gradient_axis + (len(properties),)
            )
        attach_gradient(result, parameter, gradient_values, gradient.samples,
                        gradient.components, properties)
    return result


def _over_samples(tensor, sample_names, reduction, fname):
    check_tensor_map(tensor, "tensor", fname)
    names = names_list(sample_names, "sample_names", fname)
    if len(tensor) != 0:
        for name in names:
            if name not in tensor.sample_names:
                raise ValueError(
                    f"`sample_names` in '{fname}' contains {name!r} which is not one of the "
                    f"sample names {tensor.sample_names}"
                )
    return TensorMap._unchecked(
        tensor.keys,
        [_reduce_over_samples_block(block, names, reduction, fname)
         for block in tensor.blocks()],
    )


def _over_properties(tensor, property_names, reduction, fname):
    check_tensor_map(tensor, "tensor", fname)
    names = names_list(property_names, "property_names", fname)
    if len(tensor) != 0:
        for name in names:
            if name not in tensor.property_names:
                raise ValueError(
                    f"`property_names` in '{fname}' contains {name!r} which is not one of "
                    f"the property names {tensor.property_names}"
                )
    return TensorMap._unchecked(
        tensor.keys,
        [_reduce_over_properties_block(block, names, reduction, fname)
         for block in tensor.blocks()],
    )


def _block_samples(block, sample_names, reduction, fname):
    check_tensor_block(block, "block", fname)
    return _reduce_over_samples_block(
        block, names_list(sample_names, "sample_names", fname), reduction, fname
    )


def _block_properties(block, property_names, reduction, fname):
    check_tensor_block(block, "block", fname)
    return _reduce_over_properties_block(
        block, names_list(property_names, "property_names", fname), reduction, fname
    )


# =========================================================================== samples
def sum_over_samples(tensor, sample_names):
    """Sum the rows of every block that differ only in ``sample_names``.

    Parameters
    ----------
    tensor:
        the input :class:`~blocktensor.TensorMap`.
    sample_names:
        a sample dimension name or a list of them, to reduce over.

    Returns
    -------
    TensorMap
        same keys, components and properties; samples are the sorted unique values of the
        remaining sample dimensions. Gradient rows are re-pointed to the reduced rows and
        summed where they coincide.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import sum_over_samples
    >>> block = TensorBlock(
    ...     np.array([[1.0, 2.0], [3.0, 5.0], [7.0, 8.0]]),
    ...     Labels(["system", "atom"], [[0, 0], [0, 1], [1, 0]]), [], Labels.range("n", 2))
    >>> summed = sum_over_samples(TensorMap(Labels.range("key", 1), [block]), "atom")
    >>> summed.block().samples["system"].tolist(), summed.block().values.tolist()
    ([0, 1], [[4.0, 7.0], [7.0, 8.0]])
    """
    return _over_samples(tensor, sample_names, "sum", "sum_over_samples")


def mean_over_samples(tensor, sample_names):
    """Mean of the rows of every block that differ only in ``sample_names``; gradients are
    the mean of the gradients (see :func:`sum_over_samples` for the layout).

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import mean_over_samples
    >>> block = TensorBlock(
    ...     np.array([[1.0], [3.0], [7.0]]),
    ...     Labels(["system", "atom"], [[0, 0], [0, 1], [1, 0]]), [], Labels.range("n", 1))
    >>> mean_over_samples(TensorMap(Labels.range("key", 1), [block]), "atom").block().values
    array([[2.],
           [7.]])
    """
    return _over_samples(tensor, sample_names, "mean", "mean_over_samples")


def var_over_samples(tensor, sample_names):
    """Population variance of the rows that differ only in ``sample_names``; gradients
    ∇V = (2/N) Σ (x − mean) ∇x.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import var_over_samples
    >>> block = TensorBlock(np.array([[1.0], [3.0]]), Labels.range("atom", 2), [],
    ...                     Labels.range("n", 1))
    >>> var_over_samples(TensorMap(Labels.range("key", 1), [block]), "atom").block().values
    array([[1.]])
    """
    return _over_samples(tensor, sample_names, "var", "var_over_samples")


def std_over_samples(tensor, sample_names):
    """Population standard deviation of the rows that differ only in ``sample_names``;
    gradients ∇σ = ∇V / (2σ), zero where σ = 0.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import std_over_samples
    >>> block = TensorBlock(np.array([[1.0], [5.0]]), Labels.range("atom", 2), [],
    ...                     Labels.range("n", 1))
    >>> std_over_samples(TensorMap(Labels.range("key", 1), [block]), "atom").block().values
    array([[2.]])
    """
    return _over_samples(tensor, sample_names, "std", "std_over_samples")


def sum_over_samples_block(block, sample_names):
    """:func:`sum_over_samples` for a single :class:`~blocktensor.TensorBlock`.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.ones((3, 1)), Labels.range("atom", 3), [], Labels.range("n", 1))
    >>> sum_over_samples_block(block, "atom").values.tolist()
    [[3.0]]
    """
    return _block_samples(block, sample_names, "sum", "sum_over_samples_block")


def mean_over_samples_block(block, sample_names):
    """:func:`mean_over_samples` for a single block.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.array([[1.0], [2.0]]), Labels.range("atom", 2), [],
    ...                     Labels.range("n", 1))
    >>> mean_over_samples_block(block, "atom").values.tolist()
    [[1.5]]
    """
    return _block_samples(block, sample_names, "mean", "mean_over_samples_block")


def var_over_samples_block(block, sample_names):
    """:func:`var_over_samples` for a single block.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.array([[1.0], [3.0]]), Labels.range("atom", 2), [],
    ...                     Labels.range("n", 1))
    >>> var_over_samples_block(block, "atom").values.tolist()
    [[1.0]]
    """
    return _block_samples(block, sample_names, "var", "var_over_samples_block")


def std_over_samples_block(block, sample_names):
    """:func:`std_over_samples` for a single block.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.array([[1.0], [3.0]]), Labels.range("atom", 2), [],
    ...                     Labels.range("n", 1))
    >>> std_over_samples_block(block, "atom").values.tolist()
    [[1.0]]
    """
    return _block_samples(block, sample_names, "std", "std_over_samples_block")


# =========================================================================== properties
def sum_over_properties(tensor, property_names):
    """Sum the properties of every block that differ only in ``property_names``.

    The result's properties are the sorted unique values of the remaining property
    dimensions (``_ = 0`` when none remain). Gradients are summed the same way.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import sum_over_properties
    >>> block = TensorBlock(np.array([[1.0, 2.0, 4.0]]), Labels.range("s", 1), [],
    ...                     Labels(["l", "n"], [[0, 0], [0, 1], [1, 0]]))
    >>> summed = sum_over_properties(TensorMap(Labels.range("key", 1), [block]), "n")
    >>> summed.block().properties["l"].tolist(), summed.block().values.tolist()
    ([0, 1], [[3.0, 4.0]])
    """
    return _over_properties(tensor, property_names, "sum", "sum_over_properties")


def mean_over_properties(tensor, property_names):
    """Mean over the properties that differ only in ``property_names``.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import mean_over_properties
    >>> block = TensorBlock(np.array([[1.0, 2.0]]), Labels.range("s", 1), [],
    ...                     Labels.range("n", 2))
    >>> mean_over_properties(TensorMap(Labels.range("k", 1), [block]), "n").block().values
    array([[1.5]])
    """
    return _over_properties(tensor, property_names, "mean", "mean_over_properties")


def var_over_properties(tensor, property_names):
    """Population variance over the properties that differ only in ``property_names``.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import var_over_properties
    >>> block = TensorBlock(np.array([[1.0, 3.0]]), Labels.range("s", 1), [],
    ...                     Labels.range("n", 2))
    >>> var_over_properties(TensorMap(Labels.range("k", 1), [block]), "n").block().values
    array([[1.]])
    """
    return _over_properties(tensor, property_names, "var", "var_over_properties")


def std_over_properties(tensor, property_names):
    """Population standard deviation over the properties that differ only in
    ``property_names``.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import std_over_properties
    >>> block = TensorBlock(np.array([[1.0, 5.0]]), Labels.range("s", 1), [],
    ...                     Labels.range("n", 2))
    >>> std_over_properties(TensorMap(Labels.range("k", 1), [block]), "n").block().values
    array([[2.]])
    """
    return _over_properties(tensor, property_names, "std", "std_over_properties")


def sum_over_properties_block(block, property_names):
    """:func:`sum_over_properties` for a single block.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.ones((1, 3)), Labels.range("s", 1), [], Labels.range("n", 3))
    >>> sum_over_properties_block(block, "n").values.tolist()
    [[3.0]]
    """
    return _block_properties(block, property_names, "sum", "sum_over_properties_block")


def mean_over_properties_block(block, property_names):
    """:func:`mean_over_properties` for a single block.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.array([[1.0, 2.0]]), Labels.range("s", 1), [],
    ...                     Labels.range("n", 2))
    >>> mean_over_properties_block(block, "n").values.tolist()
    [[1.5]]
    """
    return _block_properties(block, property_names, "mean", "mean_over_properties_block")


def var_over_properties_block(block, property_names):
    """:func:`var_over_properties` for a single block.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.array([[1.0, 3.0]]), Labels.range("s", 1), [],
    ...                     Labels.range("n", 2))
    >>> var_over_properties_block(block, "n").values.tolist()
    [[1.0]]
    """
    return _block_properties(block, property_names, "var", "var_over_properties_block")


def std_over_properties_block(block, property_names):
    """:func:`std_over_properties` for a single block.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.array([[1.0, 3.0]]), Labels.range("s", 1), [],
    ...                     Labels.range("n", 2))
    >>> std_over_properties_block(block, "n").values.tolist()
    [[1.0]]
    """
    return _block_properties(block, property_names, "std", "std_over_properties_block")
