"""Wrap a plain array into a :class:`~blocktensor.TensorBlock` with integer-range metadata.

Semantics follow metatensor-operations 0.5.0: the first ``len(sample_names)`` axes are
samples (flattened, row-major, when there are several), the last ``len(property_names)``
axes are properties, the axes in between are components; every dimension is labelled
``0 .. size - 1``. Default names: ``"sample"``, ``"component_1"``, ``"component_2"``, ...,
``"property"``. The values keep their backend, device and autograd graph (they are only
reshaped).
"""

import numpy as np

from .. import _backend
from ..block import TensorBlock
from ..labels import Labels, _check_names

__all__ = ["block_from_array"]


def _ranges(shape):
    """All index tuples of ``shape`` in row-major order, as an int32 (n, len(shape)) array."""
    if len(shape) == 1:
        return np.arange(shape[0], dtype=np.int32).reshape(-1, 1)
    return np.indices(shape, dtype=np.int32).reshape(len(shape), -1).T


def block_from_array(array, sample_names=None, component_names=None, property_names=None):
    """A block whose values are ``array`` and whose metadata are integer ranges.

    Parameters
    ----------
    array:
        numpy array or torch tensor with at least two axes.
    sample_names, component_names, property_names:
        dimension names; ``None`` for the defaults (one sample dimension, one property
        dimension, every remaining axis a component).

    >>> import numpy as np
    >>> from blocktensor.operations import block_from_array
    >>> block = block_from_array(np.zeros((6, 5, 2)))
    >>> block.samples.names, [c.names[0] for c in block.components], block.properties.names
    (['sample'], ['component_1'], ['property'])
    >>> block = block_from_array(np.zeros((2, 3, 4)), sample_names=["a", "b"])
    >>> block.samples.values.tolist()
    [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    """
    if not _backend.is_array(array):
        raise TypeError(
            "`array` in 'block_from_array' must be a numpy array or a torch tensor, got "
            f"{type(array).__name__}"
        )
    shape = tuple(array.shape)
    if len(shape) < 2:
        raise ValueError(
            f"`array` in 'block_from_array' must have at least two dimensions, got shape "
            f"{shape}"
        )
    sample_names = _check_names(["sample"] if sample_names is None else sample_names,
                                "sample_names")
    property_names = _check_names(["property"] if property_names is None else property_names,
                                  "property_names")
    if len(sample_names) == 0 or len(property_names) == 0:
        raise ValueError(
            "`sample_names` and `property_names` in 'block_from_array' must name at least "
            "one dimension each"
        )
    n_components = len(shape) - len(sample_names) - len(property_names)
    if n_components < 0:
        raise ValueError(
            f"`array` in 'block_from_array' has shape {shape}, too few dimensions for "
            f"{len(sample_names)} sample and {len(property_names)} property names"
        )
    if component_names is None:
        component_names = [f"component_{i + 1}" for i in range(n_components)]
    component_names = _check_names(component_names, "component_names")
    if len(component_names) != n_components:
        raise ValueError(
            f"`array` in 'block_from_array' has shape {shape}: {len(sample_names)} sample "
            f"and {len(property_names)} property dimensions leave {n_components} component "
            f"axes, but {len(component_names)} component names were given"
        )
    sample_shape = shape[:len(sample_names)]
    property_shape = shape[len(shape) - len(property_names):]
    component_shape = shape[len(sample_names):len(sample_names) + n_components]
    samples = Labels._unchecked(sample_names, _ranges(sample_shape))
    properties = Labels._unchecked(property_names, _ranges(property_shape))
    components = [
        Labels._unchecked([name], np.arange(size, dtype=np.int32).reshape(-1, 1))
        for name, size in zip(component_names, component_shape)
    ]
    values = array
    if len(sample_names) > 1 or len(property_names) > 1:
        values = array.reshape(len(samples), *component_shape, len(properties))
    return TensorBlock._unchecked(values, samples, components, properties)
