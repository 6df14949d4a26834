"""Element-wise arithmetic and linear algebra on TensorMaps.

Every function returns a new :class:`~blocktensor.TensorMap`; inputs are never modified.
Values may be numpy arrays or torch tensors (any device): the operations use the array's
own arithmetic, so torch autograd flows through them. Explicit gradient blocks (``"positions"``,
``"strain"``, ...) are propagated with the chain rule:

=================  ========================================================
operation          gradient of the result
=================  ========================================================
``add``            ∇A + ∇B
``subtract``       ∇A − ∇B
``multiply``       B ∇A + A ∇B
``divide``         ∇A / B − A ∇B / B²
``pow``            B A^(B−1) ∇A (scalar exponent)
``abs``            sign(A) ∇A
``negative``       −∇A
``dot``            ∇A · Bᵀ (``B`` without gradients)
=================  ========================================================

Gradient rows only exist where a value depends on a parameter: when the gradient samples of
``A`` and ``B`` differ, the result has their union (rows of ``A`` first) and a row missing
from one input counts as zero.

Beyond metatensor-operations, the binary operations accept ``missing="union"``: keys present
in only one map, and samples or properties present in only one block, are kept, the absent
side being filled with ``fill_value`` (with zero gradient). The default ``missing="error"``
reproduces metatensor's behaviour: both maps must have the same keys, and blocks the same
samples, components and properties.
"""

import numbers

import numpy as np
import torch

from .. import _backend
from ..block import TensorBlock
from ..labels import Labels
from ..tensor import TensorMap
from ._utils import (
    check_same_arrays,
    NotEqualError,
    attach_gradient,
    broadcast_parent,
    check_blocks_raise,
    check_same_gradients_raise,
    check_same_keys_raise,
    check_tensor_map,
    describe_key,
    labels_difference,
    same_metadata_block,
)

__all__ = [
    "add",
    "subtract",
    "multiply",
    "divide",
    "pow",
    "abs",
    "negative",
    "dot",
    "lstsq",
    "solve",
]


# =========================================================================== helpers
def _check_same_backend(A, B, fname):
    if len(A) == 0 or len(B) == 0:
        return
    # dtypes may differ: the arithmetic promotes them like numpy/torch do
    check_same_arrays(A.block_by_id(0), B.block_by_id(0), "`A`", "`B`", fname, dtype=False)


def _scalar(B, A, fname):
    """``B`` as something that broadcasts against the values of ``A``: a Python float, or a
    0-d torch tensor (kept as is so that autograd flows into it)."""
    if isinstance(B, bool):
        raise TypeError(f"`B` in '{fname}' must be a TensorMap or a number, got a bool")
    if isinstance(B, numbers.Real):
        return float(B)
    if isinstance(B, np.ndarray) and B.ndim == 0:
        return float(B)
    if isinstance(B, torch.Tensor) and B.ndim == 0:
        if len(A) != 0 and A.array_backend != "torch":
            raise TypeError(
                f"`B` in '{fname}' is a torch scalar but `A` uses numpy arrays"
            )
        return B
    raise TypeError(
        f"`B` in '{fname}' must be a TensorMap or a scalar, got {type(B).__name__}"
        + (f" with shape {tuple(B.shape)}" if _backend.is_array(B) else "")
    )


def _check_missing(missing, fname):
    if missing not in ("error", "union"):
        raise ValueError(
            f"`missing` in '{fname}' must be 'error' or 'union', got {missing!r}"
        )


def _map_blocks(A, function):
    """Apply ``function`` to every block of ``A``."""
    return TensorMap._unchecked(A.keys, [function(block) for block in A.blocks()])


def _unary(block, values, gradient_factor):
    """New block with ``values``; each gradient multiplied by ``gradient_factor``: ``None``
    (gradients kept), a scalar, or a function of the parent values whose result is gathered
    at the ``"sample"`` of every gradient row."""
    result = same_metadata_block(block, values)
    factor = None
    for parameter, gradient in block.gradients():
        if gradient_factor is None:
            gradient_values = gradient.values
        elif callable(gradient_factor):
            if factor is None:
                factor = gradient_factor(block.values)
            gradient_values = gradient.values * broadcast_parent(factor, gradient, block.values)
        else:
            gradient_values = gradient.values * gradient_factor
        attach_gradient(result, parameter, gradient_values, gradient.samples,
                        gradient.components)
    return result


# ------------------------------------------------------------------ block ⊗ block
def _add_contributions(A, B, ga, gb):
    return ga.values, gb.values


def _subtract_contributions(A, B, ga, gb):
    return ga.values, -gb.values


def _multiply_contributions(A, B, ga, gb):
    return (ga.values * broadcast_parent(B, ga, A),
            gb.values * broadcast_parent(A, gb, A))


def _divide_contributions(A, B, ga, gb):
    B_at_b = broadcast_parent(B, gb, A)
    return (ga.values / broadcast_parent(B, ga, A),
            -gb.values * broadcast_parent(A, gb, A) / (B_at_b * B_at_b))


_OPERATIONS = {
    "add": (lambda a, b: a + b, _add_contributions),
    "subtract": (lambda a, b: a - b, _subtract_contributions),
    "multiply": (lambda a, b: a * b, _multiply_contributions),
    "divide": (lambda a, b: a / b, _divide_contributions),
}


def _binary_block(block_a, block_b, fname):
    """``block_a ⊗ block_b`` for blocks with identical samples, components, properties and
    gradient parameters; gradient samples may differ (their union is used)."""
    value_op, contributions = _OPERATIONS[fname]
    result = same_metadata_block(block_a, value_op(block_a.values, block_b.values))
    for parameter, ga in block_a.gradients():
        gb = block_b.gradient(parameter)
        ca, cb = contributions(block_a.values, block_b.values, ga, gb)
        if ga.samples == gb.samples:
            samples = ga.samples
            gradient_values = ca + cb
        else:
            samples, rows_a, rows_b = ga.samples.union_and_mapping(gb.samples)
            gradient_values = _backend.zeros(ca, (len(samples),) + tuple(ca.shape[1:]))
            gradient_values = _backend.index_add(gradient_values, 0, rows_a, ca)
            gradient_values = _backend.index_add(gradient_values, 0, rows_b, cb)
        attach_gradient(result, parameter, gradient_values, samples, ga.components)
    return result


def _embed(block, samples, sample_rows, properties, property_columns, fill_value):
    """``block`` placed in a bigger block with ``samples``/``properties`` (its rows at
    ``sample_rows``, its columns at ``property_columns``); the rest is ``fill_value``, with
    no gradient rows."""
    if len(samples) == len(block.samples) and len(properties) == len(block.properties) and \
            np.array_equal(sample_rows, np.arange(len(samples))) and \
            np.array_equal(property_columns, np.arange(len(properties))):
        return block
    shape = (len(samples),) + tuple(block.values.shape[1:-1]) + (len(properties),)
    values = _filled(block.values, shape, fill_value)
    values = _place(values, sample_rows, property_columns, block.values)
    result = TensorBlock._unchecked(values, samples, block.components, properties)
    for parameter, gradient in block.gradients():
        gradient_samples = gradient.samples.values.copy()
        gradient_samples[:, 0] = sample_rows[gradient_samples[:, 0]]
        gradient_shape = tuple(gradient.values.shape[:-1]) + (len(properties),)
        gradient_values = _backend.zeros(gradient.values, gradient_shape)
        gradient_values = _place(
            gradient_values, np.arange(gradient_shape[0]), property_columns, gradient.values
        )
        attach_gradient(
            result, parameter, gradient_values,
            Labels._unchecked(gradient.samples.names, gradient_samples),
            gradient.components, properties,
        )
    return result


def _filled(like, shape, fill_value):
    if fill_value == 0.0:
        return _backend.zeros(like, shape)
    values = _backend.empty(like, shape)
    values[...] = fill_value
    return values


def _place(values, rows, columns, source):
    """``values`` with ``source`` written at ``rows`` (first axis) and ``columns`` (last
    axis); out of place for torch so that autograd reaches ``source``."""
    if _backend.is_torch(values):
        last = values.ndim - 1
        row_block = _backend.take(values, rows, 0).index_copy(
            last, _backend.index_array(values, columns), source
        )
        return values.index_copy(0, _backend.index_array(values, rows), row_block)
    middle = [np.arange(n) for n in values.shape[1:-1]]
    values[np.ix_(np.asarray(rows), *middle, np.asarray(columns))] = source
    return values


def _zero_gradient_like(block, other):
    """``block`` given empty gradients with the parameters and metadata of ``other``."""
    for parameter, gradient in other.gradients():
        if parameter in block._gradients:
            continue
        shape = (0,) + tuple(gradient.values.shape[1:-1]) + (len(block.properties),)
        attach_gradient(
            block, parameter, _backend.zeros(block.values, shape),
            Labels.empty(gradient.samples.names), gradient.components,
        )
    return block


def _missing_block(present, fill_value):
    """A block with the metadata of ``present``, values ``fill_value`` and no gradient
    rows (a constant)."""
    values = _filled(present.values, tuple(present.values.shape), fill_value)
    block = same_metadata_block(present, values)
    return _zero_gradient_like(block, present)


def _union_blocks(block_a, block_b, fill_value, fname, key):
    if len(block_a.components) != len(block_b.components) or any(
        ca != cb for ca, cb in zip(block_a.components, block_b.components)
    ):
        check_blocks_raise(block_a, block_b, fname, check=["components"], key=key)
    check_same_gradients_raise(block_a, block_b, fname, check=["components"], key=key)
    for what in ("samples", "properties"):
        first, second = getattr(block_a, what), getattr(block_b, what)
        if first.names != second.names:
            raise NotEqualError(
                f"inputs to '{fname}' should have the same {what} names for key {key}: "
                f"{labels_difference(first, second, what)}"
            )
    samples, rows_a, rows_b = block_a.samples.union_and_mapping(block_b.samples)
    properties, cols_a, cols_b = block_a.properties.union_and_mapping(block_b.properties)
    return (
        _embed(block_a, samples, rows_a, properties, cols_a, fill_value),
        _embed(block_b, samples, rows_b, properties, cols_b, fill_value),
    )


def _binary(A, B, fname, missing, fill_value):
    check_tensor_map(A, "A", fname)
    if not isinstance(B, TensorMap):
        constant = _scalar(B, A, fname)
        value_op = _OPERATIONS[fname][0]
        if fname in ("add", "subtract"):
            factor = None
        elif fname == "multiply":
            factor = constant
        else:
            factor = 1.0 / constant
        return _map_blocks(A, lambda block: _unary(block, value_op(block.values, constant),
                                                   factor))
    _check_missing(missing, fname)
    _check_same_backend(A, B, fname)
    if missing == "error":
        check_same_keys_raise(A, B, fname)
        blocks = []
        positions = B.keys.positions(A.keys) if len(A.keys) else []
        for i, (block_a, j) in enumerate(zip(A.blocks(), positions)):
            block_b = B.block_by_id(int(j))
            key = describe_key(A.keys, i)
            check_blocks_raise(block_a, block_b, fname, key=key)
            check_same_gradients_raise(block_a, block_b, fname, check=["components"], key=key)
            blocks.append(_binary_block(block_a, block_b, fname))
        return TensorMap._unchecked(A.keys, blocks)

    if A.keys.names != B.keys.names:
        raise NotEqualError(
            f"inputs to '{fname}' should have the same keys names, got {A.keys.names} and "
            f"{B.keys.names}"
        )
    keys, rows_a, rows_b = A.keys.union_and_mapping(B.keys)
    block_of_a = np.full(len(keys), -1, dtype=np.int64)
    block_of_a[rows_a] = np.arange(len(A.keys))
    block_of_b = np.full(len(keys), -1, dtype=np.int64)
    block_of_b[rows_b] = np.arange(len(B.keys))
    blocks = []
    for i in range(len(keys)):
        key = describe_key(keys, i)
        ia, ib = int(block_of_a[i]), int(block_of_b[i])
        if ia >= 0 and ib >= 0:
            block_a, block_b = _union_blocks(A.block_by_id(ia), B.block_by_id(ib),
                                             fill_value, fname, key)
        elif ia >= 0:
            block_a = A.block_by_id(ia)
            block_b = _missing_block(block_a, fill_value)
        else:
            block_b = B.block_by_id(ib)
            block_a = _missing_block(block_b, fill_value)
        blocks.append(_binary_block(block_a, block_b, fname))
    return TensorMap(keys, blocks)


# =========================================================================== public
def add(A, B, *, missing="error", fill_value=0.0):
    """Element-wise ``A + B``; ``B`` is a TensorMap or a scalar.

    Gradients: ∇(A + B) = ∇A + ∇B (∇A for a scalar ``B``).

    Parameters
    ----------
    A:
        a :class:`~blocktensor.TensorMap`.
    B:
        a TensorMap, or a number (or a 0-d torch tensor, which keeps its autograd graph).
        With ``missing="error"`` a TensorMap ``B`` must have the same keys (any order) as
        ``A`` and, key by key, the same samples, components and properties (same order).
    missing:
        ``"error"`` (default, metatensor behaviour) or ``"union"``: keep keys, samples and
        properties present in only one input, the other side counting as ``fill_value``.
    fill_value:
        value of absent entries with ``missing="union"``.

    Returns
    -------
    TensorMap
        with the keys of ``A`` (followed, for ``"union"``, by the new keys of ``B``).

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import add
    >>> block = TensorBlock(np.array([[1.0, 2.0]]), Labels.range("s", 1), [],
    ...                     Labels.range("p", 2))
    >>> A = TensorMap(Labels.range("key", 1), [block])
    >>> add(A, A).block().values.tolist(), add(A, 1).block().values.tolist()
    ([[2.0, 4.0]], [[2.0, 3.0]])
    """
    return _binary(A, B, "add", missing, fill_value)


def subtract(A, B, *, missing="error", fill_value=0.0):
    """Element-wise ``A - B``; ``B`` is a TensorMap or a scalar.

    Gradients: ∇(A − B) = ∇A − ∇B. Arguments as in :func:`add`.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import subtract
    >>> block = TensorBlock(np.array([[1.0, 2.0]]), Labels.range("s", 1), [],
    ...                     Labels.range("p", 2))
    >>> A = TensorMap(Labels.range("key", 1), [block])
    >>> subtract(A, 0.5).block().values.tolist()
    [[0.5, 1.5]]
    """
    return _binary(A, B, "subtract", missing, fill_value)


def multiply(A, B, *, missing="error", fill_value=0.0):
    """Element-wise ``A * B``; ``B`` is a TensorMap or a scalar.

    Gradients (product rule): ∇(A B) = B ∇A + A ∇B (B ∇A for a scalar). Arguments as in
    :func:`add`.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import multiply
    >>> block = TensorBlock(np.array([[1.0, 2.0]]), Labels.range("s", 1), [],
    ...                     Labels.range("p", 2))
    >>> A = TensorMap(Labels.range("key", 1), [block])
    >>> multiply(A, A).block().values.tolist()
    [[1.0, 4.0]]
    """
    return _binary(A, B, "multiply", missing, fill_value)


def divide(A, B, *, missing="error", fill_value=0.0):
    """Element-wise ``A / B``; ``B`` is a TensorMap or a scalar.

    Gradients (quotient rule): ∇(A / B) = ∇A / B − A ∇B / B². Arguments as in :func:`add`
    (with ``missing="union"`` a ``fill_value`` of 0 in ``B`` divides by zero).

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import divide
    >>> block = TensorBlock(np.array([[1.0, 2.0]]), Labels.range("s", 1), [],
    ...                     Labels.range("p", 2))
    >>> A = TensorMap(Labels.range("key", 1), [block])
    >>> divide(A, 4).block().values.tolist()
    [[0.25, 0.5]]
    """
    return _binary(A, B, "divide", missing, fill_value)


def pow(A, B):
    """Element-wise ``A ** B`` for a scalar exponent ``B``.

    Gradients: ∇(A^B) = B A^(B−1) ∇A.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import pow
    >>> block = TensorBlock(np.array([[3.0, 2.0]]), Labels.range("s", 1), [],
    ...                     Labels.range("p", 2))
    >>> A = TensorMap(Labels.range("key", 1), [block])
    >>> pow(A, 2).block().values.tolist()
    [[9.0, 4.0]]
    """
    check_tensor_map(A, "A", "pow")
    exponent = _scalar(B, A, "pow")
    return _map_blocks(
        A,
        lambda block: _unary(block, block.values ** exponent,
                             lambda values: exponent * values ** (exponent - 1)),
    )


def abs(A):
    """Element-wise absolute value.

    Gradients: ∇|A| = sign(A) ∇A (zero where A is zero).

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import abs
    >>> block = TensorBlock(np.array([[-3.0, 2.0]]), Labels.range("s", 1), [],
    ...                     Labels.range("p", 2))
    >>> abs(TensorMap(Labels.range("key", 1), [block])).block().values.tolist()
    [[3.0, 2.0]]
    """
    check_tensor_map(A, "A", "abs")

    def sign(values):
        return torch.sign(values) if _backend.is_torch(values) else np.sign(values)

    return _map_blocks(
        A,
        lambda block: _unary(
            block,
            block.values.abs() if _backend.is_torch(block.values) else np.abs(block.values),
            sign,
        ),
    )


def negative(A):
    """Element-wise ``-A`` (not in metatensor-operations; ``multiply(A, -1)`` there).

    Gradients: ∇(−A) = −∇A.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import negative
    >>> block = TensorBlock(np.array([[-3.0, 2.0]]), Labels.range("s", 1), [],
    ...                     Labels.range("p", 2))
    >>> negative(TensorMap(Labels.range("key", 1), [block])).block().values.tolist()
    [[3.0, -2.0]]
    """
    check_tensor_map(A, "A", "negative")

    def negate(block):
        result = same_metadata_block(block, -block.values)
        for parameter, gradient in block.gradients():
            attach_gradient(result, parameter, -gradient.values, gradient.samples,
                            gradient.components)
        return result

    return _map_blocks(A, negate)


def dot(tensor_1, tensor_2):
    """Block-wise ``tensor_1 · tensor_2ᵀ`` contracting the properties.

    Both maps must have the same keys; each pair of blocks the same properties; the second
    map must have no components and no gradients. The result has the samples and components
    of ``tensor_1`` and, as properties, the samples of ``tensor_2``.

    Gradients: ∇(A·Bᵀ) = ∇A·Bᵀ (B is a constant).

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import dot
    >>> block = TensorBlock(np.array([[1.0, 2.0], [3.0, 4.0]]), Labels.range("system", 2),
    ...                     [], Labels.range("p", 2))
    >>> A = TensorMap(Labels.range("key", 1), [block])
    >>> result = dot(A, A).block()
    >>> result.values.tolist(), result.properties.names
    ([[5.0, 11.0], [11.0, 25.0]], ['system'])
    """
    check_tensor_map(tensor_1, "tensor_1", "dot")
    check_tensor_map(tensor_2, "tensor_2", "dot")
    check_same_keys_raise(tensor_1, tensor_2, "dot")
    _check_same_backend(tensor_1, tensor_2, "dot")
    blocks = []
    positions = tensor_2.keys.positions(tensor_1.keys) if len(tensor_1) else []
    for i, (block_1, j) in enumerate(zip(tensor_1.blocks(), positions)):
        block_2 = tensor_2.block_by_id(int(j))
        key = describe_key(tensor_1.keys, i)
        difference = labels_difference(block_1.properties, block_2.properties, "properties")
        if difference:
            raise ValueError(
                f"TensorBlocks in `dot` should have the same properties (key {key}): "
                f"{difference}"
            )
        if len(block_2.components) > 0:
            raise ValueError(
                f"the second TensorMap in `dot` should not have components, the block for "
                f"key {key} has {[c.names[0] for c in block_2.components]}"
            )
        if len(block_2.gradients_list()) > 0:
            raise ValueError(
                f"the second TensorMap in `dot` should not have gradients, the block for key "
                f"{key} has {block_2.gradients_list()}"
            )
        transposed = block_2.values.T
        result = TensorBlock._unchecked(
            block_1.values @ transposed, block_1.samples, block_1.components, block_2.samples
        )
        for parameter, gradient in block_1.gradients():
            attach_gradient(result, parameter, gradient.values @ transposed,
                            gradient.samples, gradient.components, block_2.samples)
        blocks.append(result)
    return TensorMap._unchecked(tensor_1.keys, blocks)


def _stacked_system(X, Y, fname, key):
    """Rows of the linear system: values (components folded into samples) followed by the
    gradient rows, for ``X`` and ``Y``."""
    check_blocks_raise(X, Y, fname, check=["samples", "components"], key=key)
    check_same_gradients_raise(X, Y, fname, check=["samples", "components"], key=key)
    nx, ny = X.values.shape[-1], Y.values.shape[-1]
    xs, ys = [X.values.reshape(-1, nx)], [Y.values.reshape(-1, ny)]
    for parameter, gradient in X.gradients():
        xs.append(gradient.values.reshape(-1, nx))
        ys.append(Y.gradient(parameter).values.reshape(-1, ny))
    return _backend.concatenate(xs, 0), _backend.concatenate(ys, 0)


def lstsq(X, Y, rcond, driver=None):
    """Least-squares solution ``w`` of ``X w = Y``, block by block.

    Components are folded into the rows; gradient rows (present in both maps, with the same
    samples) are appended, so that the fit covers values and gradients together. The result
    block has ``Y``'s properties as samples and ``X``'s properties as properties
    (``w`` transposed, as metatensor stores it) and no gradients.

    Parameters
    ----------
    X, Y:
        TensorMaps with the same keys; blocks with the same samples and components.
    rcond:
        cut-off ratio for small singular values (``None`` for the backend default, which
        differs between numpy and torch).
    driver:
        torch only: the ``torch.linalg.lstsq`` driver.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import lstsq
    >>> def tmap(values, name):
    ...     return TensorMap(Labels.range("key", 1), [TensorBlock(
    ...         np.array(values), Labels.range("system", 2), [], Labels.range(name, 2))])
    >>> w = lstsq(tmap([[1.0, 2.0], [3.0, 1.0]], "x"), tmap([[1.0, 0.0], [0.0, 1.0]], "y"),
    ...           rcond=1e-10)
    >>> np.round(w.block().values, 6).tolist()
    [[-0.2, 0.6], [0.4, -0.2]]
    """
    check_tensor_map(X, "X", "lstsq")
    check_tensor_map(Y, "Y", "lstsq")
    check_same_keys_raise(X, Y, "lstsq")
    _check_same_backend(X, Y, "lstsq")
    blocks = []
    positions = Y.keys.positions(X.keys) if len(X) else []
    for i, (block_x, j) in enumerate(zip(X.blocks(), positions)):
        block_y = Y.block_by_id(int(j))
        x, y = _stacked_system(block_x, block_y, "lstsq", describe_key(X.keys, i))
        if _backend.is_torch(x):
            weights = torch.linalg.lstsq(x, y, rcond=rcond, driver=driver).solution
        else:
            weights = np.linalg.lstsq(x, y, rcond=rcond)[0]
        blocks.append(TensorBlock._unchecked(weights.T, block_y.properties, [],
                                             block_x.properties))
    return TensorMap._unchecked(X.keys, blocks)


def solve(X, Y):
    """Solve ``X w = Y`` block by block, for square 2-D blocks of ``X``.

    The result block has ``Y``'s properties as samples and ``X``'s properties as
    properties (``w`` transposed). Gradients are not supported (the stacked system would not
    be square): use :func:`lstsq`.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import solve
    >>> X = TensorMap(Labels.range("key", 1), [TensorBlock(
    ...     np.array([[2.0, 0.0], [0.0, 4.0]]), Labels.range("s", 2), [],
    ...     Labels.range("x", 2))])
    >>> Y = TensorMap(Labels.range("key", 1), [TensorBlock(
    ...     np.array([[2.0], [2.0]]), Labels.range("s", 2), [], Labels.range("y", 1))])
    >>> solve(X, Y).block().values.tolist()
    [[1.0, 0.5]]
    """
    check_tensor_map(X, "X", "solve")
    check_tensor_map(Y, "Y", "solve")
    check_same_keys_raise(X, Y, "solve")
    _check_same_backend(X, Y, "solve")
    blocks = []
    positions = Y.keys.positions(X.keys) if len(X) else []
    for i, (block_x, j) in enumerate(zip(X.blocks(), positions)):
        key = describe_key(X.keys, i)
        shape = tuple(block_x.values.shape)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(
                f"the values in each block of X should be a square 2D array, the block for "
                f"key {key} has shape {shape}"
            )
        block_y = Y.block_by_id(int(j))
        if block_x.gradients_list() or block_y.gradients_list():
            raise ValueError(
                f"'solve' does not support gradients (the block for key {key} has "
                f"{sorted(set(block_x.gradients_list()) | set(block_y.gradients_list()))}); "
                "use `remove_gradients` first or `lstsq`"
            )
        x, y = _stacked_system(block_x, block_y, "solve", key)
        if _backend.is_torch(x):
            weights = torch.linalg.solve(x, y)
        else:
            weights = np.linalg.solve(x, y)
        blocks.append(TensorBlock._unchecked(weights.T, block_y.properties, [],
                                             block_x.properties))
    return TensorMap._unchecked(X.keys, blocks)
