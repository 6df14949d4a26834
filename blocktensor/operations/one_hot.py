"""One-hot encoding of one dimension of a :class:`~blocktensor.Labels`.

Semantics follow metatensor-operations 0.5.0: row ``i`` of the result has a single 1 at the
position, within ``dimension``, of the value taken by ``labels[i]`` on that dimension. The
result is an ``int32`` numpy array (Labels values are numpy here).
"""

import numpy as np

from ..labels import Labels

__all__ = ["one_hot"]


def one_hot(labels, dimension):
    """One-hot encode the dimension named by ``dimension`` in ``labels``.

    Parameters
    ----------
    labels:
        :class:`~blocktensor.Labels` containing the dimension to encode.
    dimension:
        :class:`~blocktensor.Labels` with a single dimension: its name is the dimension of
        ``labels`` to encode and its entries are all possible values, in column order.

    Returns
    -------
    numpy.ndarray
        ``(len(labels), len(dimension))`` int32 array.

    >>> from blocktensor import Labels
    >>> from blocktensor.operations import one_hot
    >>> atoms = Labels(["atom", "type"], [[0, 8], [1, 1], [2, 1]])
    >>> one_hot(atoms, Labels(["type"], [[1], [8]])).tolist()
    [[0, 1], [1, 0], [1, 0]]
    """
    if not isinstance(labels, Labels):
        raise TypeError(f"`labels` in 'one_hot' must be Labels, got {type(labels).__name__}")
    if not isinstance(dimension, Labels):
        raise TypeError(
            f"`dimension` in 'one_hot' must be Labels, got {type(dimension).__name__}"
        )
    if len(dimension.names) != 1:
        raise ValueError(
            "`dimension` in 'one_hot' must have a single dimension, got the names "
            f"{dimension.names}"
        )
    name = dimension.names[0]
    if name not in labels.names:
        raise ValueError(
            f"`dimension` in 'one_hot' is named {name!r}, which is not one of the names of "
            f"`labels` {labels.names}"
        )
    column = labels.column(name)
    positions = dimension.positions(column.reshape(-1, 1))
    missing = positions < 0
    if np.any(missing):
        raise ValueError(
            f"{name}={int(column[np.argmax(missing)])} is present in `labels` but not in "
            "`dimension` in 'one_hot'"
        )
    result = np.zeros((len(labels), len(dimension)), dtype=np.int32)
    result[np.arange(len(labels)), positions] = 1
    return result
