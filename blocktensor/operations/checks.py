"""Comparisons of TensorMaps and blocks: exact equality, closeness, equal metadata,
contiguity.

``equal``/``allclose`` compare keys as sets (block order may differ, blocks are matched by
key), then for every block its samples, components and properties (same entries in the
same order), its values, and its gradients (same parameters, metadata and values). The
``*_raise`` variants raise :class:`~blocktensor.operations.NotEqualError` (a
``ValueError``) with a message stating exactly what differs: the key, the axis and first
differing entry for metadata; the position, metadata and both numbers of the largest
difference for values.

Values in different backends, devices or dtypes are compared after conversion to numpy
(float64 for floating point), so a numpy map can be checked against its torch twin.
"""

import numpy as np
import torch

from .. import _backend
from ..tensor import TensorMap
from ._utils import (
    NotEqualError,
    attach_gradient,
    same_metadata_block,
    check_blocks_impl,
    check_same_gradients_impl,
    check_same_keys_impl,
    check_tensor_block,
    check_tensor_map,
    describe_entry,
    describe_key,
    parse_check,
)

__all__ = [
    "equal",
    "equal_raise",
    "equal_block",
    "equal_block_raise",
    "allclose",
    "allclose_raise",
    "allclose_block",
    "allclose_block_raise",
    "equal_metadata",
    "equal_metadata_raise",
    "equal_metadata_block",
    "equal_metadata_block_raise",
    "is_contiguous",
    "is_contiguous_block",
    "make_contiguous",
    "make_contiguous_block",
]


# =========================================================================== values
def _fast_same(first, second):
    """Both torch on one device with one dtype (compared there, no host round trip)."""
    return (_backend.is_torch(first) and _backend.is_torch(second)
            and first.device == second.device and first.dtype == second.dtype)


def _as_numpy(array):
    array = _backend.to_numpy(array)
    if array.dtype.kind == "f" or array.dtype.kind == "c":
        return array.astype(np.complex128 if array.dtype.kind == "c" else np.float64)
    return array


def _describe_position(block, index):
    """``sample (system=0, atom=1), o3_mu=-1, property (n=2)`` for a multi-index into the
    values of ``block``."""
    parts = [f"sample {describe_entry(block.samples.names, block.samples.values[index[0]])}"]
    for axis, component in enumerate(block.components, start=1):
        parts.append(f"{component.names[0]}={int(component.values[index[axis], 0])}")
    parts.append(
        f"property {describe_entry(block.properties.names, block.properties.values[index[-1]])}"
    )
    return ", ".join(parts)


def _values_difference(first, second, block, what, rtol, atol, equal_nan, exact):
    """Empty string when the arrays match; else where and by how much they differ."""
    if tuple(first.shape) != tuple(second.shape):
        return f"{what} shapes are different: {tuple(first.shape)} and {tuple(second.shape)}"
    if _fast_same(first, second):
        if exact:
            same = bool(torch.equal(first, second))
        else:
            same = bool(torch.allclose(first.detach(), second.detach(), rtol=rtol, atol=atol,
                                       equal_nan=equal_nan))
        if same:
            return ""
    a, b = _as_numpy(first), _as_numpy(second)
    if exact:
        bad = ~((a == b) | (np.isnan(a) & np.isnan(b) if a.dtype.kind in "fc" and equal_nan
                            else False))
    else:
        with np.errstate(invalid="ignore"):
            bad = ~np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    if not np.any(bad):
        return ""
    flat = int(np.flatnonzero(bad)[0])
    if a.dtype.kind in "fc":
        with np.errstate(invalid="ignore"):
            difference = np.where(bad, np.abs(a - b), -1.0)
        if not np.all(np.isnan(difference[bad])):
            flat = int(np.nanargmax(difference))
    index = np.unravel_index(flat, a.shape)
    n_bad = int(bad.sum())
    kind = "equal" if exact else "close"
    return (f"{what} are not {kind} at {n_bad} of {a.size} entries; the largest difference is "
            f"at {tuple(int(i) for i in index)} ({_describe_position(block, index)}): "
            f"{a[index].item()!r} and {b[index].item()!r}")


def _compare_blocks(block_1, block_2, fname, rtol, atol, equal_nan, exact, key=""):
    message = check_blocks_impl(block_1, block_2, fname, key=key)
    if message:
        return message
    message = check_same_gradients_impl(block_1, block_2, fname, key=key)
    if message:
        return message
    where = f" for key {key}" if key else ""
    message = _values_difference(block_1.values, block_2.values, block_1, "values", rtol, atol,
                                 equal_nan, exact)
    if message:
        return f"inputs to '{fname}' are different{where}: {message}"
    for parameter, gradient_1 in block_1.gradients():
        gradient_2 = block_2.gradient(parameter)
        message = _values_difference(
            gradient_1.values, gradient_2.values, gradient_1, f"gradient '{parameter}' values",
            rtol, atol, equal_nan, exact,
        )
        if message:
            return f"inputs to '{fname}' are different{where}: {message}"
    return ""


def _compare_maps(tensor_1, tensor_2, fname, rtol, atol, equal_nan, exact):
    check_tensor_map(tensor_1, "tensor_1", fname)
    check_tensor_map(tensor_2, "tensor_2", fname)
    message = check_same_keys_impl(tensor_1, tensor_2, fname)
    if message:
        return message
    positions = tensor_2.keys.positions(tensor_1.keys) if len(tensor_1) else []
    for i, j in enumerate(positions):
        message = _compare_blocks(
            tensor_1.block_by_id(i), tensor_2.block_by_id(int(j)), fname, rtol, atol,
            equal_nan, exact, key=describe_key(tensor_1.keys, i),
        )
        if message:
            return message
    return ""


def _raise(message):
    if message:
        raise NotEqualError(message)


def equal(tensor_1, tensor_2):
    """True when both maps have the same keys (any order) and, key by key, identical
    metadata, values and gradients.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import equal
    >>> block = TensorBlock(np.ones((1, 1)), Labels.range("s", 1), [], Labels.range("n", 1))
    >>> tensor = TensorMap(Labels.range("key", 1), [block])
    >>> equal(tensor, tensor.copy()), equal(tensor, tensor.to(arrays="torch"))
    (True, True)
    """
    return _compare_maps(tensor_1, tensor_2, "equal", 0.0, 0.0, False, True) == ""


def equal_raise(tensor_1, tensor_2):
    """Raise :class:`NotEqualError` describing the first difference unless
    :func:`equal` holds.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import equal_raise
    >>> def tensor(value):
    ...     block = TensorBlock(np.full((1, 1), value), Labels.range("s", 1), [],
    ...                         Labels.range("n", 1))
    ...     return TensorMap(Labels.range("key", 1), [block])
    >>> try:
    ...     equal_raise(tensor(1.0), tensor(2.0))
    ... except ValueError as error:
    ...     print(error)
    inputs to 'equal' are different for key (key=0): values are not equal at 1 of 1 entries; \
the largest difference is at (0, 0) (sample (s=0), property (n=0)): 1.0 and 2.0
    """
    _raise(_compare_maps(tensor_1, tensor_2, "equal", 0.0, 0.0, False, True))


def equal_block(block_1, block_2):
    """:func:`equal` for two blocks.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.ones((1, 1)), Labels.range("s", 1), [], Labels.range("n", 1))
    >>> equal_block(block, block.copy())
    True
    """
    check_tensor_block(block_1, "block_1", "equal_block")
    check_tensor_block(block_2, "block_2", "equal_block")
    return _compare_blocks(block_1, block_2, "equal_block", 0.0, 0.0, False, True) == ""


def equal_block_raise(block_1, block_2):
    """:func:`equal_raise` for two blocks.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.ones((1, 1)), Labels.range("s", 1), [], Labels.range("n", 1))
    >>> equal_block_raise(block, block.copy())
    """
    check_tensor_block(block_1, "block_1", "equal_block_raise")
    check_tensor_block(block_2, "block_2", "equal_block_raise")
    _raise(_compare_blocks(block_1, block_2, "equal_block", 0.0, 0.0, False, True))


def allclose(tensor_1, tensor_2, rtol=1e-13, atol=1e-12, equal_nan=False):
    """True when both maps have the same keys (any order), identical metadata and values
    (and gradients) passing ``|a − b| <= atol + rtol |b|``.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import allclose
    >>> def tensor(value):
    ...     block = TensorBlock(np.full((1, 1), value), Labels.range("s", 1), [],
    ...                         Labels.range("n", 1))
    ...     return TensorMap(Labels.range("key", 1), [block])
    >>> allclose(tensor(1.0), tensor(1.0 + 1e-9)), allclose(tensor(1.0), tensor(1.0 + 1e-9),
    ...                                                      rtol=1e-6)
    (False, True)
    """
    return _compare_maps(tensor_1, tensor_2, "allclose", rtol, atol, equal_nan, False) == ""


def allclose_raise(tensor_1, tensor_2, rtol=1e-13, atol=1e-12, equal_nan=False):
    """Raise :class:`NotEqualError` describing the first difference (key, axis and entry for
    metadata; position, labels and both numbers of the largest deviation for values) unless
    :func:`allclose` holds.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import allclose_raise
    >>> block = TensorBlock(np.ones((1, 1)), Labels.range("s", 1), [], Labels.range("n", 1))
    >>> allclose_raise(TensorMap(Labels.range("key", 1), [block]),
    ...                TensorMap(Labels.range("key", 1), [block]))
    """
    _raise(_compare_maps(tensor_1, tensor_2, "allclose", rtol, atol, equal_nan, False))


def allclose_block(block_1, block_2, rtol=1e-13, atol=1e-12, equal_nan=False):
    """:func:`allclose` for two blocks.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.ones((1, 1)), Labels.range("s", 1), [], Labels.range("n", 1))
    >>> allclose_block(block, block.copy())
    True
    """
    check_tensor_block(block_1, "block_1", "allclose_block")
    check_tensor_block(block_2, "block_2", "allclose_block")
    return _compare_blocks(block_1, block_2, "allclose_block", rtol, atol, equal_nan,
                           False) == ""


def allclose_block_raise(block_1, block_2, rtol=1e-13, atol=1e-12, equal_nan=False):
    """:func:`allclose_raise` for two blocks.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.ones((1, 1)), Labels.range("s", 1), [], Labels.range("n", 1))
    >>> allclose_block_raise(block, block.copy())
    """
    check_tensor_block(block_1, "block_1", "allclose_block_raise")
    check_tensor_block(block_2, "block_2", "allclose_block_raise")
    _raise(_compare_blocks(block_1, block_2, "allclose_block", rtol, atol, equal_nan, False))


# =========================================================================== metadata
def _metadata_blocks(block_1, block_2, fname, check, check_gradients, key=""):
    check = parse_check(check, fname)
    message = check_blocks_impl(block_1, block_2, fname, check=check, key=key)
    if message or not check_gradients:
        return message
    return check_same_gradients_impl(block_1, block_2, fname, check=check, key=key)


def _metadata_maps(tensor_1, tensor_2, fname, check, check_gradients):
    check_tensor_map(tensor_1, "tensor_1", fname)
    check_tensor_map(tensor_2, "tensor_2", fname)
    parse_check(check, fname)
    message = check_same_keys_impl(tensor_1, tensor_2, fname)
    if message:
        return message
    positions = tensor_2.keys.positions(tensor_1.keys) if len(tensor_1) else []
    for i, j in enumerate(positions):
        message = _metadata_blocks(
            tensor_1.block_by_id(i), tensor_2.block_by_id(int(j)), fname, check,
            check_gradients, key=describe_key(tensor_1.keys, i),
        )
        if message:
            return message
    return ""


def equal_metadata(tensor_1, tensor_2, check="all", check_gradients=True):
    """True when both maps have the same keys (any order) and, key by key, the same
    metadata listed in ``check`` (``"all"`` or a list among ``"samples"``,
    ``"components"``, ``"properties"``), including the gradients' when
    ``check_gradients``. Values are not compared.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import equal_metadata
    >>> def tensor(properties):
    ...     block = TensorBlock(np.ones((1, 1)), Labels.range("s", 1), [],
    ...                         Labels("n", [[properties]]))
    ...     return TensorMap(Labels.range("key", 1), [block])
    >>> equal_metadata(tensor(0), tensor(1)), equal_metadata(tensor(0), tensor(1),
    ...                                                      check=["samples"])
    (False, True)
    """
    return _metadata_maps(tensor_1, tensor_2, "equal_metadata", check, check_gradients) == ""


def equal_metadata_raise(tensor_1, tensor_2, check="all", check_gradients=True):
    """Raise :class:`NotEqualError` naming the key, axis and first differing entry unless
    :func:`equal_metadata` holds.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import equal_metadata_raise
    >>> def tensor(properties):
    ...     block = TensorBlock(np.ones((1, 1)), Labels.range("s", 1), [],
    ...                         Labels("n", [[properties]]))
    ...     return TensorMap(Labels.range("key", 1), [block])
    >>> try:
    ...     equal_metadata_raise(tensor(0), tensor(1))
    ... except ValueError as error:
    ...     print(error)
    inputs to 'equal_metadata' should have the same properties for key (key=0), but \
properties differ at entry 0: (n=0) in the first and (n=1) in the second
    """
    _raise(_metadata_maps(tensor_1, tensor_2, "equal_metadata", check, check_gradients))


def equal_metadata_block(block_1, block_2, check="all", check_gradients=True):
    """:func:`equal_metadata` for two blocks.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.ones((1, 1)), Labels.range("s", 1), [], Labels.range("n", 1))
    >>> equal_metadata_block(block, block)
    True
    """
    check_tensor_block(block_1, "block_1", "equal_metadata_block")
    check_tensor_block(block_2, "block_2", "equal_metadata_block")
    return _metadata_blocks(block_1, block_2, "equal_metadata_block", check,
                            check_gradients) == ""


def equal_metadata_block_raise(block_1, block_2, check="all", check_gradients=True):
    """:func:`equal_metadata_raise` for two blocks.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.ones((1, 1)), Labels.range("s", 1), [], Labels.range("n", 1))
    >>> equal_metadata_block_raise(block, block)
    """
    check_tensor_block(block_1, "block_1", "equal_metadata_block_raise")
    check_tensor_block(block_2, "block_2", "equal_metadata_block_raise")
    _raise(_metadata_blocks(block_1, block_2, "equal_metadata_block", check, check_gradients))


# =========================================================================== contiguity
def _is_contiguous_array(array):
    if _backend.is_torch(array):
        return array.is_contiguous()
    return bool(array.flags["C_CONTIGUOUS"])


def _make_contiguous_array(array):
    if _backend.is_torch(array):
        return array.contiguous()
    return np.ascontiguousarray(array)


def is_contiguous_block(block):
    """Whether the values and all gradient values of ``block`` are C-contiguous.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.ones((2, 3)).T, Labels.range("s", 3), [], Labels.range("n", 2))
    >>> is_contiguous_block(block), is_contiguous_block(make_contiguous_block(block))
    (False, True)
    """
    check_tensor_block(block, "block", "is_contiguous_block")
    return _is_contiguous_array(block.values) and all(
        _is_contiguous_array(gradient.values) for _, gradient in block.gradients()
    )


def is_contiguous(tensor):
    """Whether every values and gradient array of ``tensor`` is C-contiguous.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> block = TensorBlock(np.ones((2, 3)).T, Labels.range("s", 3), [], Labels.range("n", 2))
    >>> is_contiguous(TensorMap(Labels.range("key", 1), [block]))
    False
    """
    check_tensor_map(tensor, "tensor", "is_contiguous")
    return all(is_contiguous_block(block) for block in tensor.blocks())


def make_contiguous_block(block):
    """A block whose values and gradient values are C-contiguous (arrays already contiguous
    are reused, torch autograd is kept).

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.ones((2, 3)).T, Labels.range("s", 3), [], Labels.range("n", 2))
    >>> make_contiguous_block(block).values.flags["C_CONTIGUOUS"]
    True
    """
    check_tensor_block(block, "block", "make_contiguous_block")
    result = same_metadata_block(block, _make_contiguous_array(block.values))
    for parameter, gradient in block.gradients():
        attach_gradient(result, parameter, _make_contiguous_array(gradient.values),
                        gradient.samples, gradient.components)
    return result


def make_contiguous(tensor):
    """A map whose every values and gradient array is C-contiguous.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import make_contiguous, is_contiguous
    >>> block = TensorBlock(np.ones((2, 3)).T, Labels.range("s", 3), [], Labels.range("n", 2))
    >>> is_contiguous(make_contiguous(TensorMap(Labels.range("key", 1), [block])))
    True
    """
    check_tensor_map(tensor, "tensor", "make_contiguous")
    return TensorMap._unchecked(tensor.keys,
                                [make_contiguous_block(block) for block in tensor.blocks()])
