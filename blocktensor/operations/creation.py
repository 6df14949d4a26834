"""New TensorMaps with the metadata of an existing one: zeros, ones, uninitialised or
uniform random values.

Every function takes the same options:

* ``gradients``: which gradient blocks the result has (``None``: all of the input's; a name
  or a list of names; ``[]``: none). Gradient values are filled like the values (zeros for
  ``zeros_like``, ones for ``ones_like``, ...), with the input's gradient metadata.
* ``requires_grad``: torch only, sets ``requires_grad`` on the new values (not on the
  gradient blocks, like metatensor). With numpy arrays ``True`` is an error.
* ``dtype`` / ``device``: override the input's (a numpy or torch dtype; numpy arrays live on
  ``"cpu"``). Not in metatensor-operations.
"""

import numpy as np
import torch

from .. import _backend
from ..tensor import TensorMap
from ._utils import attach_gradient, check_gradient_presence_raise, check_tensor_block, \
    check_tensor_map, same_metadata_block

__all__ = [
    "zeros_like",
    "zeros_like_block",
    "ones_like",
    "ones_like_block",
    "empty_like",
    "empty_like_block",
    "random_uniform_like",
    "random_uniform_like_block",
]


def _new_array(like, kind, dtype, device, generator):
    shape = tuple(like.shape)
    if _backend.is_torch(like):
        dtype = like.dtype if dtype is None else _backend.to_torch_dtype(dtype)
        device = like.device if device is None else torch.device(device)
        if kind == "zeros":
            return torch.zeros(shape, dtype=dtype, device=device)
        if kind == "ones":
            return torch.ones(shape, dtype=dtype, device=device)
        if kind == "empty":
            return torch.empty(shape, dtype=dtype, device=device)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                f"`generator` must be a torch.Generator for torch arrays, got "
                f"{type(generator).__name__}"
            )
        if generator is not None and generator.device != device:
            # draw where the generator lives, then move (keeps seeded results reproducible)
            return torch.rand(shape, dtype=dtype, device=generator.device,
                              generator=generator).to(device)
        return torch.rand(shape, dtype=dtype, device=device, generator=generator)
    if device is not None and str(device) != "cpu":
        raise ValueError(f"`device` must be 'cpu' for numpy arrays, got {device!r}")
    dtype = like.dtype if dtype is None else _backend.to_numpy_dtype(dtype)
    if kind == "zeros":
        return np.zeros(shape, dtype=dtype)
    if kind == "ones":
        return np.ones(shape, dtype=dtype)
    if kind == "empty":
        return np.empty(shape, dtype=dtype)
    if generator is None:
        generator = np.random.default_rng()
    elif isinstance(generator, (int, np.integer)):
        generator = np.random.default_rng(generator)
    elif not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"`generator` must be a numpy.random.Generator or a seed for numpy arrays, got "
            f"{type(generator).__name__}"
        )
    return generator.random(shape).astype(dtype, copy=False)


def _like_block(block, kind, gradients, requires_grad, dtype, device, generator, fname):
    if isinstance(gradients, str):
        gradients = [gradients]
    if gradients is None:
        gradients = block.gradients_list()
    else:
        gradients = list(gradients)
        check_gradient_presence_raise(block, gradients, fname)
    if requires_grad and not _backend.is_torch(block.values):
        raise ValueError(
            f"`requires_grad=True` in '{fname}' needs torch arrays, this block uses numpy"
        )
    if isinstance(generator, (int, np.integer)) and _backend.is_torch(block.values):
        generator = torch.Generator(device=block.values.device).manual_seed(int(generator))
    values = _new_array(block.values, kind, dtype, device, generator)
    if requires_grad:
        values.requires_grad_(True)
    result = same_metadata_block(block, values)
    for parameter in gradients:
        gradient = block.gradient(parameter)
        attach_gradient(
            result, parameter,
            _new_array(gradient.values, kind, dtype, device, generator),
            gradient.samples, gradient.components,
        )
    return result


def _like(tensor, kind, gradients, requires_grad, dtype, device, generator, fname):
    check_tensor_map(tensor, "tensor", fname)
    if isinstance(generator, (int, np.integer)):
        # one generator shared by all blocks, so blocks get different values
        if tensor.array_backend == "torch":
            generator = torch.Generator(device=tensor.device).manual_seed(int(generator))
        else:
            generator = np.random.default_rng(int(generator))
    return TensorMap._unchecked(
        tensor.keys,
        [
            _like_block(block, kind, gradients, requires_grad, dtype, device, generator,
                        fname)
            for block in tensor.blocks()
        ],
    )


def zeros_like(tensor, gradients=None, requires_grad=False, *, dtype=None, device=None):
    """A map with the metadata of ``tensor`` and all values (and gradients) zero.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import zeros_like
    >>> block = TensorBlock(np.ones((2, 1)), Labels.range("s", 2), [], Labels.range("n", 1))
    >>> zeros_like(TensorMap(Labels.range("key", 1), [block])).block().values.tolist()
    [[0.0], [0.0]]
    """
    return _like(tensor, "zeros", gradients, requires_grad, dtype, device, None, "zeros_like")


def zeros_like_block(block, gradients=None, requires_grad=False, *, dtype=None, device=None):
    """:func:`zeros_like` for a single block.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.ones((1, 1)), Labels.range("s", 1), [], Labels.range("n", 1))
    >>> zeros_like_block(block, dtype=np.float32).values.dtype
    dtype('float32')
    """
    check_tensor_block(block, "block", "zeros_like_block")
    return _like_block(block, "zeros", gradients, requires_grad, dtype, device, None,
                       "zeros_like_block")


def ones_like(tensor, gradients=None, requires_grad=False, *, dtype=None, device=None):
    """A map with the metadata of ``tensor`` and all values (and gradients) one.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import ones_like
    >>> block = TensorBlock(np.zeros((2, 1)), Labels.range("s", 2), [], Labels.range("n", 1))
    >>> ones_like(TensorMap(Labels.range("key", 1), [block])).block().values.tolist()
    [[1.0], [1.0]]
    """
    return _like(tensor, "ones", gradients, requires_grad, dtype, device, None, "ones_like")


def ones_like_block(block, gradients=None, requires_grad=False, *, dtype=None, device=None):
    """:func:`ones_like` for a single block.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.zeros((1, 2)), Labels.range("s", 1), [], Labels.range("n", 2))
    >>> ones_like_block(block).values.tolist()
    [[1.0, 1.0]]
    """
    check_tensor_block(block, "block", "ones_like_block")
    return _like_block(block, "ones", gradients, requires_grad, dtype, device, None,
                       "ones_like_block")


def empty_like(tensor, gradients=None, requires_grad=False, *, dtype=None, device=None):
    """A map with the metadata of ``tensor`` and uninitialised values (and gradients).

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import empty_like
    >>> block = TensorBlock(np.zeros((2, 1)), Labels.range("s", 2), [], Labels.range("n", 1))
    >>> empty_like(TensorMap(Labels.range("key", 1), [block])).block().values.shape
    (2, 1)
    """
    return _like(tensor, "empty", gradients, requires_grad, dtype, device, None, "empty_like")


def empty_like_block(block, gradients=None, requires_grad=False, *, dtype=None, device=None):
    """:func:`empty_like` for a single block.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.zeros((1, 2)), Labels.range("s", 1), [], Labels.range("n", 2))
    >>> empty_like_block(block).values.shape
    (1, 2)
    """
    check_tensor_block(block, "block", "empty_like_block")
    return _like_block(block, "empty", gradients, requires_grad, dtype, device, None,
                       "empty_like_block")


def random_uniform_like(tensor, gradients=None, requires_grad=False, *, dtype=None,
                        device=None, generator=None):
    """A map with the metadata of ``tensor`` and values (and gradients) drawn uniformly in
    ``[0, 1)``.

    ``generator`` (not in metatensor) makes the draw reproducible: an integer seed, a
    :class:`numpy.random.Generator` (numpy maps) or a :class:`torch.Generator` (torch maps).

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> from blocktensor.operations import random_uniform_like
    >>> block = TensorBlock(np.zeros((2, 1)), Labels.range("s", 2), [], Labels.range("n", 1))
    >>> tensor = TensorMap(Labels.range("key", 1), [block])
    >>> first = random_uniform_like(tensor, generator=7).block().values
    >>> bool(np.all((first >= 0) & (first < 1)))
    True
    >>> np.array_equal(first, random_uniform_like(tensor, generator=7).block().values)
    True
    """
    return _like(tensor, "random", gradients, requires_grad, dtype, device, generator,
                 "random_uniform_like")


def random_uniform_like_block(block, gradients=None, requires_grad=False, *, dtype=None,
                              device=None, generator=None):
    """:func:`random_uniform_like` for a single block.

    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(np.zeros((1, 2)), Labels.range("s", 1), [], Labels.range("n", 2))
    >>> random_uniform_like_block(block, generator=0).values.shape
    (1, 2)
    """
    check_tensor_block(block, "block", "random_uniform_like_block")
    if isinstance(generator, (int, np.integer)) and not _backend.is_torch(block.values):
        generator = np.random.default_rng(int(generator))
    return _like_block(block, "random", gradients, requires_grad, dtype, device, generator,
                       "random_uniform_like_block")
