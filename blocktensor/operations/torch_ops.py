"""Autograd and array-backend helpers: detach, requires_grad, remove_gradients, to.

Two different notions of "gradient" live on a TensorMap and these functions keep them apart:

* *explicit* gradient blocks (``block.gradient("positions")``), forward-mode derivatives
  stored as data — :func:`remove_gradients` drops them;
* torch *autograd* graphs attached to the arrays (values and gradient blocks alike) —
  :func:`detach` cuts them and :func:`requires_grad` starts new ones.
"""

import warnings

import numpy as np

from .. import _backend
from ..tensor import TensorMap
from ._utils import attach_gradient, check_tensor_block, check_tensor_map, same_metadata_block

__all__ = [
    "detach",
    "detach_block",
    "requires_grad",
    "requires_grad_block",
    "remove_gradients",
    "remove_gradients_block",
    "to",
    "to_block",
]


def _map_arrays(block, function):
    """Apply ``function`` to the values and every gradient array of ``block``."""
    result = same_metadata_block(block, function(block.values))
    for parameter, gradient in block.gradients():
        attach_gradient(result, parameter, function(gradient.values), gradient.samples,
                        gradient.components)
    return result


def _detach_array(array):
    return array.detach() if _backend.is_torch(array) else array


def detach_block(block):
    """``block`` with values and gradient arrays detached from any autograd graph (numpy
    arrays are returned as they are).

    >>> import torch
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(torch.ones(1, 1, requires_grad=True), Labels.range("s", 1), [],
    ...                     Labels.range("n", 1))
    >>> detach_block(block).values.requires_grad
    False
    """
    check_tensor_block(block, "block", "detach_block")
    return _map_arrays(block, _detach_array)


def detach(tensor):
    """``tensor`` with every array detached from any autograd graph (for example before
    :func:`blocktensor.save`). Explicit gradient blocks are kept: see
    :func:`remove_gradients` to drop them.

    >>> import torch
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import detach
    >>> values = torch.ones(1, 1, requires_grad=True) * 2
    >>> block = TensorBlock(values, Labels.range("s", 1), [], Labels.range("n", 1))
    >>> detach(TensorMap(Labels.range("key", 1), [block])).block().values.grad_fn is None
    True
    """
    check_tensor_map(tensor, "tensor", "detach")
    return TensorMap._unchecked(tensor.keys, [detach_block(b) for b in tensor.blocks()])


def _requires_grad_array(flag):
    def function(array):
        if _backend.is_torch(array):
            if flag and array.requires_grad:
                warnings.warn(
                    "setting `requires_grad=True` again on a tensor detaches it from its "
                    "current graph",
                    stacklevel=4,
                )
            return array.detach().requires_grad_(flag)
        if flag:
            warnings.warn("`requires_grad=True` does nothing for numpy arrays", stacklevel=4)
        return array

    return function


def requires_grad_block(block, requires_grad=True):
    """``block`` with ``requires_grad`` set on its values and gradient arrays. Torch arrays
    are detached first (they become leaves); numpy arrays are unchanged (with a warning when
    ``requires_grad`` is True).

    >>> import torch
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(torch.ones(1, 1), Labels.range("s", 1), [], Labels.range("n", 1))
    >>> requires_grad_block(block).values.requires_grad
    True
    """
    check_tensor_block(block, "block", "requires_grad_block")
    if not isinstance(requires_grad, (bool, np.bool_)):
        raise TypeError(f"`requires_grad` must be a bool, got {type(requires_grad).__name__}")
    return _map_arrays(block, _requires_grad_array(bool(requires_grad)))


def requires_grad(tensor, requires_grad=True):
    """``tensor`` with ``requires_grad`` set on every array (see
    :func:`requires_grad_block`).

    >>> import torch
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import requires_grad
    >>> block = TensorBlock(torch.ones(1, 1), Labels.range("s", 1), [], Labels.range("n", 1))
    >>> requires_grad(TensorMap(Labels.range("key", 1), [block])).block().values.requires_grad
    True
    """
    check_tensor_map(tensor, "tensor", "requires_grad")
    if not isinstance(requires_grad, (bool, np.bool_)):
        raise TypeError(f"`requires_grad` must be a bool, got {type(requires_grad).__name__}")
    function = _requires_grad_array(bool(requires_grad))
    return TensorMap._unchecked(
        tensor.keys, [_map_arrays(block, function) for block in tensor.blocks()]
    )


def remove_gradients_block(block, remove=None):
    """``block`` without the explicit gradient blocks listed in ``remove`` (all when
    ``None``). Arrays are shared with the input, autograd graphs are kept.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.ones((1, 1)), Labels.range("s", 1), [], Labels.range("n", 1))
    >>> block.add_gradient("positions", TensorBlock(
    ...     np.ones((1, 3, 1)), Labels(["sample", "atom"], [[0, 0]]), [Labels.range("xyz", 3)],
    ...     Labels.range("n", 1)))
    >>> remove_gradients_block(block).gradients_list()
    []
    """
    check_tensor_block(block, "block", "remove_gradients_block")
    if remove is None:
        remove = block.gradients_list()
    elif isinstance(remove, str):
        remove = [remove]
    else:
        remove = list(remove)
    unknown = [parameter for parameter in remove if parameter not in block.gradients_list()]
    if unknown:
        raise ValueError(
            f"`remove` names gradients {unknown} which this block does not have; available: "
            f"{block.gradients_list()}"
        )
    result = same_metadata_block(block, block.values)
    for parameter, gradient in block.gradients():
        if parameter not in remove:
            attach_gradient(result, parameter, gradient.values, gradient.samples,
                            gradient.components)
    return result


def remove_gradients(tensor, remove=None):
    """``tensor`` without the explicit gradient blocks listed in ``remove`` (a name or list
    of names; all when ``None``).

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import remove_gradients
    >>> block = TensorBlock(np.ones((1, 1)), Labels.range("s", 1), [], Labels.range("n", 1))
    >>> remove_gradients(TensorMap(Labels.range("key", 1), [block])).gradients_list()
    []
    """
    check_tensor_map(tensor, "tensor", "remove_gradients")
    return TensorMap._unchecked(
        tensor.keys, [remove_gradients_block(block, remove) for block in tensor.blocks()]
    )


def to_block(block, arrays=None, dtype=None, device=None):
    """``block`` (and its gradients) converted to the ``arrays`` backend (``"numpy"`` or
    ``"torch"``, default unchanged), ``dtype`` (numpy or torch dtype) and ``device``.
    Converting torch to torch keeps the autograd graph.

    >>> import numpy as np, torch
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.ones((1, 1)), Labels.range("s", 1), [], Labels.range("n", 1))
    >>> to_block(block, arrays="torch", dtype=torch.float32).values.dtype
    torch.float32
    """
    check_tensor_block(block, "block", "to_block")
    if arrays is not None and arrays not in ("numpy", "torch"):
        raise ValueError(f"`arrays` must be 'numpy', 'torch' or None, got {arrays!r}")
    return block.to(device=device, dtype=dtype, arrays=arrays)


def to(tensor, arrays=None, dtype=None, device=None):
    """``tensor`` converted to the ``arrays`` backend, ``dtype`` and ``device`` (see
    :func:`to_block`).

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import to
    >>> block = TensorBlock(np.ones((1, 1)), Labels.range("s", 1), [], Labels.range("n", 1))
    >>> to(TensorMap(Labels.range("key", 1), [block]), arrays="torch").array_backend
    'torch'
    """
    check_tensor_map(tensor, "tensor", "to")
    if arrays is not None and arrays not in ("numpy", "torch"):
        raise ValueError(f"`arrays` must be 'numpy', 'torch' or None, got {arrays!r}")
    return tensor.to(device=device, dtype=dtype, arrays=arrays)
