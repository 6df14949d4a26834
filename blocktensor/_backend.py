"""The one place that knows about numpy versus torch.

Everything else in :mod:`blocktensor` manipulates arrays through these helpers, so that a
:class:`~blocktensor.TensorMap` works the same whether its values are :class:`numpy.ndarray`
or :class:`torch.Tensor` (on any device, with autograd intact).
"""

import numpy as np
import torch

Array = (np.ndarray, torch.Tensor)


def is_array(value) -> bool:
    """True for a numpy array or a torch tensor."""
    return isinstance(value, (np.ndarray, torch.Tensor))


def is_torch(value) -> bool:
    return isinstance(value, torch.Tensor)


def backend_name(value) -> str:
    """``"torch"`` or ``"numpy"``; a ``TypeError`` naming the type for anything else."""
    if isinstance(value, torch.Tensor):
        return "torch"
    if isinstance(value, np.ndarray):
        return "numpy"
    raise TypeError(
        f"expected a numpy.ndarray or a torch.Tensor, got {type(value).__name__}"
    )


def device_of(value):
    """The device of an array: ``"cpu"`` for numpy, ``tensor.device`` for torch."""
    if isinstance(value, torch.Tensor):
        return value.device
    return "cpu"


def zeros(like, shape, dtype=None):
    """Zeros of ``shape`` with the backend, dtype and device of ``like``."""
    if isinstance(like, torch.Tensor):
        return torch.zeros(shape, dtype=like.dtype if dtype is None else dtype, device=like.device)
    return np.zeros(shape, dtype=like.dtype if dtype is None else dtype)


def ones(like, shape, dtype=None):
    if isinstance(like, torch.Tensor):
        return torch.ones(shape, dtype=like.dtype if dtype is None else dtype, device=like.device)
    return np.ones(shape, dtype=like.dtype if dtype is None else dtype)


def empty(like, shape, dtype=None):
    if isinstance(like, torch.Tensor):
        return torch.empty(shape, dtype=like.dtype if dtype is None else dtype, device=like.device)
    return np.empty(shape, dtype=like.dtype if dtype is None else dtype)


def concatenate(arrays, axis=0):
    if isinstance(arrays[0], torch.Tensor):
        return torch.cat(list(arrays), dim=axis)
    return np.concatenate(arrays, axis=axis)


def stack(arrays, axis=0):
    if isinstance(arrays[0], torch.Tensor):
        return torch.stack(list(arrays), dim=axis)
    return np.stack(arrays, axis=axis)


def index_array(like, indices):
    """Integer indices (a numpy array) ready to index an array like ``like``.

    Metadata lives on the host as numpy; torch values on a device need the indices there.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if isinstance(like, torch.Tensor):
        return torch.from_numpy(indices).to(like.device)
    return indices


def take(array, indices, axis=0):
    """``array`` indexed by integer ``indices`` (numpy) along ``axis``."""
    idx = index_array(array, indices)
    if isinstance(array, torch.Tensor):
        return torch.index_select(array, axis, idx)
    return np.take(array, idx, axis=axis)


def index_add(output, axis, indices, source):
    """``output[indices] += source`` along ``axis``, accumulating repeated indices; in place
    for numpy, out of place (autograd-safe) for torch. Returns the result."""
    idx = index_array(output, indices)
    if isinstance(output, torch.Tensor):
        return output.index_add(axis, idx, source)
    if axis != 0:
        output = np.moveaxis(output, axis, 0)
        np.add.at(output, idx, np.moveaxis(source, axis, 0))
        return np.moveaxis(output, 0, axis)
    np.add.at(output, idx, source)
    return output


def to_numpy(array) -> np.ndarray:
    """A numpy view/copy of any array (detached, on the host)."""
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    return np.asarray(array)


def convert(array, arrays: str, device=None, dtype=None):
    """Convert ``array`` to the ``arrays`` backend (``"numpy"`` or ``"torch"``), optionally
    moving it to ``device`` and casting to ``dtype`` (a numpy or torch dtype)."""
    if arrays == "numpy":
        if device is not None and str(device) != "cpu":
            raise ValueError(f"numpy arrays live on 'cpu', got device={device!r}")
        out = to_numpy(array)
        if dtype is not None:
            out = out.astype(to_numpy_dtype(dtype), copy=False)
        return out
    if arrays == "torch":
        if isinstance(array, torch.Tensor):
            out = array
        else:
            out = torch.from_numpy(np.ascontiguousarray(array))
        return out.to(
            device=device if device is not None else out.device,
            dtype=to_torch_dtype(dtype) if dtype is not None else out.dtype,
        )
    raise ValueError(f"`arrays` must be 'numpy' or 'torch', got {arrays!r}")


_NUMPY_TO_TORCH = {
    np.dtype(np.float64): torch.float64,
    np.dtype(np.float32): torch.float32,
    np.dtype(np.float16): torch.float16,
    np.dtype(np.int64): torch.int64,
    np.dtype(np.int32): torch.int32,
    np.dtype(np.int16): torch.int16,
    np.dtype(np.int8): torch.int8,
    np.dtype(np.uint8): torch.uint8,
    np.dtype(np.bool_): torch.bool,
    np.dtype(np.complex128): torch.complex128,
    np.dtype(np.complex64): torch.complex64,
}
_TORCH_TO_NUMPY = {value: key for key, value in _NUMPY_TO_TORCH.items()}


def to_torch_dtype(dtype):
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _NUMPY_TO_TORCH[np.dtype(dtype)]
    except (KeyError, TypeError):
        raise TypeError(f"no torch dtype corresponds to {dtype!r}") from None


def to_numpy_dtype(dtype):
    if isinstance(dtype, torch.dtype):
        try:
            return _TORCH_TO_NUMPY[dtype]
        except KeyError:
            raise TypeError(f"no numpy dtype corresponds to {dtype!r}") from None
    return np.dtype(dtype)


def same_dtype(dtype, like):
    """Express ``dtype`` in the backend of ``like``."""
    if isinstance(like, torch.Tensor):
        return to_torch_dtype(dtype)
    return to_numpy_dtype(dtype)
