"""Shared validation helpers for the operations.

Every check comes in two flavours: ``*_impl`` returns an empty string when the check passes
and a precise message otherwise (naming the function, the key, the axis and the first
differing entry); ``*_raise`` raises :class:`NotEqualError` with that message. Operations
call the ``_raise`` variants up front, before touching any value; ``equal_metadata`` and
friends turn the ``_impl`` messages into booleans.

>>> import numpy as np
>>> from blocktensor import Labels
>>> from blocktensor.operations._utils import labels_difference
>>> labels_difference(Labels.range("n", 3), Labels("n", [[0], [2], [1]]), "properties")
'properties differ at entry 1: (n=1) in the first and (n=2) in the second'
"""

import numpy as np

from ..block import TensorBlock
from ..labels import Labels
from ..tensor import TensorMap

__all__ = ["NotEqualError"]


class NotEqualError(ValueError):
    """Two maps or blocks differ where an operation needs them equal.

    A subclass of :class:`ValueError`, so ``except ValueError`` catches it too.
    """


# shown (and importable) as part of the public operations namespace
NotEqualError.__module__ = "blocktensor.operations"


# --------------------------------------------------------------------------- describing
def describe_entry(names, values):
    """``(name=value, ...)`` for one row of metadata."""
    return "(" + ", ".join(f"{n}={int(v)}" for n, v in zip(names, values)) + ")"


def describe_key(keys, index):
    """``(name=value, ...)`` for the key at position ``index``."""
    return describe_entry(keys.names, keys.values[index])


def labels_difference(first, second, what):
    """Empty string when ``first == second``; otherwise a message naming ``what`` (e.g.
    ``"samples"``) and the first difference: names, length or the first differing entry."""
    if first.names != second.names:
        return (f"{what} have different names: {first.names} in the first and "
                f"{second.names} in the second")
    a, b = first.values, second.values
    if a.shape[0] != b.shape[0]:
        # the first entry present in one and not the other is the most useful culprit
        if not first.is_view() and not second.is_view():
            missing = second.positions(a)
            if np.any(missing < 0):
                row = int(np.nonzero(missing < 0)[0][0])
                extra = (f"; entry {describe_entry(first.names, a[row])} of the first is "
                         "missing from the second")
            else:
                others = first.positions(b)
                row = int(np.nonzero(others < 0)[0][0]) if np.any(others < 0) else None
                extra = ("" if row is None else
                         f"; entry {describe_entry(second.names, b[row])} of the second is "
                         "missing from the first")
        else:
            extra = ""
        return (f"{what} have different lengths: {a.shape[0]} in the first and "
                f"{b.shape[0]} in the second{extra}")
    if np.array_equal(a, b):
        return ""
    row = int(np.nonzero(np.any(a != b, axis=1))[0][0])
    return (f"{what} differ at entry {row}: {describe_entry(first.names, a[row])} in the "
            f"first and {describe_entry(second.names, b[row])} in the second")


# --------------------------------------------------------------------------- arguments
def check_tensor_map(value, argument, fname):
    if not isinstance(value, TensorMap):
        raise TypeError(
            f"`{argument}` in '{fname}' must be a TensorMap, got {type(value).__name__}"
        )


def check_tensor_block(value, argument, fname):
    if not isinstance(value, TensorBlock):
        raise TypeError(
            f"`{argument}` in '{fname}' must be a TensorBlock, got {type(value).__name__}"
        )


_ALL_METADATA = ("samples", "components", "properties")


def parse_check(check, fname="check"):
    """Turn ``check`` (``"all"`` or a list among samples/components/properties) into a
    list, with a ``ValueError`` naming a bad entry."""
    if isinstance(check, str):
        if check == "all":
            return list(_ALL_METADATA)
        if check in _ALL_METADATA:
            return [check]
        raise ValueError(
            f"`check` in '{fname}' must be 'all' or a list of 'samples', 'components', "
            f"'properties', got {check!r}"
        )
    check = list(check)
    for item in check:
        if item not in _ALL_METADATA:
            raise ValueError(
                f"`check` in '{fname}' contains {item!r}, expected any of 'samples', "
                "'components' and 'properties'"
            )
    return check


def names_list(names, argument, fname):
    """A list of names from a string or list of strings, with a TypeError otherwise."""
    if isinstance(names, str):
        return [names]
    if isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
        return list(names)
    raise TypeError(
        f"`{argument}` in '{fname}' must be a string or a list of strings, got {names!r}"
    )


# --------------------------------------------------------------------------- keys
def check_same_keys_impl(a, b, fname):
    """Same key names and the same set of keys (order may differ)."""
    keys_a, keys_b = a.keys, b.keys
    if keys_a.names != keys_b.names:
        return (f"inputs to '{fname}' should have the same keys names, got "
                f"{keys_a.names} and {keys_b.names}")
    in_a = keys_a.positions(keys_b) if len(keys_b) else np.zeros(0, dtype=np.int64)
    if np.any(in_a < 0):
        row = int(np.nonzero(in_a < 0)[0][0])
        return (f"inputs to '{fname}' should have the same keys: the key "
                f"{describe_key(keys_b, row)} of the second is not in the first")
    if len(keys_a) != len(keys_b):
        in_b = keys_b.positions(keys_a)
        row = int(np.nonzero(in_b < 0)[0][0])
        return (f"inputs to '{fname}' should have the same keys: the key "
                f"{describe_key(keys_a, row)} of the first is not in the second")
    return ""


def check_same_keys(a, b, fname):
    return check_same_keys_impl(a, b, fname) == ""


def check_same_keys_raise(a, b, fname):
    message = check_same_keys_impl(a, b, fname)
    if message:
        raise NotEqualError(message)


def check_same_arrays(first, second, first_name, second_name, fname, dtype=True):
    """Blocks ``first`` and ``second`` (named ``first_name``/``second_name`` in messages)
    use the same array backend, device and — with ``dtype`` — dtype, so that combining
    them neither fails deep inside numpy/torch nor silently promotes."""
    if first.array_backend != second.array_backend:
        raise TypeError(
            f"inputs to '{fname}' must use the same array backend, got "
            f"{first.array_backend} arrays for {first_name} and {second.array_backend} "
            f"arrays for {second_name}"
        )
    if dtype and first.values.dtype != second.values.dtype:
        raise TypeError(
            f"inputs to '{fname}' must have the same dtype, got dtype {first.values.dtype} "
            f"for {first_name} and dtype {second.values.dtype} for {second_name}"
        )
    if str(first.device) != str(second.device):
        raise ValueError(
            f"inputs to '{fname}' must be on the same device, got {first.device} for "
            f"{first_name} and {second.device} for {second_name}"
        )


# --------------------------------------------------------------------------- blocks
def _where(key):
    return "" if not key else f" for key {key}"


def _metadata_difference(a, b, metadata):
    """How the ``metadata`` axis (``"samples"``, ``"components"`` or ``"properties"``) of
    blocks ``a`` and ``b`` differ, or ``""``."""
    if metadata == "samples":
        return labels_difference(a.samples, b.samples, "samples")
    if metadata == "properties":
        return labels_difference(a.properties, b.properties, "properties")
    if len(a.components) != len(b.components):
        return (f"components have different counts: {len(a.components)} in the "
                f"first and {len(b.components)} in the second")
    for i, (ca, cb) in enumerate(zip(a.components, b.components)):
        message = labels_difference(ca, cb, f"components[{i}]")
        if message:
            return message
    return ""


def check_blocks_impl(a, b, fname, check="all", key=""):
    """Same samples / components / properties (values and order) as listed in ``check``.
    ``key`` (a description such as ``(center_type=1)``) is included in the message."""
    for metadata in parse_check(check, fname):
        message = _metadata_difference(a, b, metadata)
        if message:
            return (f"inputs to '{fname}' should have the same {metadata}{_where(key)}, "
                    f"but {message}")
    return ""


def check_blocks(a, b, fname, check="all", key=""):
    return check_blocks_impl(a, b, fname, check, key) == ""


def check_blocks_raise(a, b, fname, check="all", key=""):
    message = check_blocks_impl(a, b, fname, check, key)
    if message:
        raise NotEqualError(message)


def check_same_gradients_impl(a, b, fname, check="all", key=""):
    """Same gradient parameters and, for each, the same metadata listed in ``check``."""
    metadata_to_check = parse_check(check, fname) if check != [] else []
    params_a, params_b = sorted(a.gradients_list()), sorted(b.gradients_list())
    if params_a != params_b:
        return (f"inputs to '{fname}' should have the same gradient parameters{_where(key)}, "
                f"got {params_a} and {params_b}")
    for parameter in params_a:
        grad_a, grad_b = a.gradient(parameter), b.gradient(parameter)
        for metadata in metadata_to_check:
            message = _metadata_difference(grad_a, grad_b, metadata)
            if message:
                return (f"inputs to '{fname}' should have the same gradients{_where(key)}: "
                        f"gradient '{parameter}' {message}")
    return ""


def check_same_gradients(a, b, fname, check="all", key=""):
    return check_same_gradients_impl(a, b, fname, check, key) == ""


def check_same_gradients_raise(a, b, fname, check="all", key=""):
    message = check_same_gradients_impl(a, b, fname, check, key)
    if message:
        raise NotEqualError(message)


def check_gradient_presence_raise(block, parameters, fname):
    for parameter in parameters:
        if parameter not in block.gradients_list():
            raise ValueError(
                f"requested gradient '{parameter}' in '{fname}' is not defined in this "
                f"tensor, available: {sorted(block.gradients_list())}"
            )


# --------------------------------------------------------------------------- building
def attach_gradient(block, parameter, values, samples, components, properties=None):
    """Attach a gradient block built from known-consistent metadata (no checks)."""
    gradient = TensorBlock._unchecked(
        values, samples, components, block.properties if properties is None else properties
    )
    gradient._is_gradient = True
    block._gradients[parameter] = gradient
    return gradient


def same_metadata_block(block, values):
    """A block with the metadata of ``block`` (no gradients) and new ``values``."""
    return TensorBlock._unchecked(values, block.samples, block.components, block.properties)


def broadcast_parent(values, gradient, block_values):
    """``values`` (an array shaped like the parent block's values) gathered at the
    ``"sample"`` of each gradient row and reshaped to broadcast against the gradient values
    (one singleton axis per gradient-only component)."""
    from .. import _backend

    rows = gradient.samples.values[:, 0]
    gathered = _backend.take(values, rows, axis=0)
    n_own = gradient.values.ndim - block_values.ndim
    return gathered.reshape((gathered.shape[0],) + (1,) * n_own + tuple(gathered.shape[1:]))


def single_labels():
    return Labels.single()
