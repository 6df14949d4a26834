import os

import numpy as np
import pytest

from blocktensor import Labels
from blocktensor.operations import one_hot

from .references import DATA, reference  # noqa: F401


def test_matches_metatensor():
    args, kwargs, entry = reference("one_hot")
    expected = np.load(os.path.join(DATA, entry["output"]))
    result = one_hot(*args, **kwargs)
    assert result.dtype == expected.dtype
    np.testing.assert_array_equal(result, expected)


def test_rows_pick_the_position_of_their_value():
    atoms = Labels(["system", "type"], [[0, 8], [1, 1], [2, 6], [3, 8]])
    types = Labels("type", [[8], [1], [6]])
    result = one_hot(atoms, types)
    assert result.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]
    assert one_hot(Labels.empty(["type"]), types).shape == (0, 3)


def test_validation_messages():
    atoms = Labels(["atom", "type"], [[0, 8], [1, 7]])
    with pytest.raises(ValueError, match="type=7 is present in `labels` but not in `dimension`"):
        one_hot(atoms, Labels("type", [[8]]))
    with pytest.raises(ValueError, match="single dimension, got the names"):
        one_hot(atoms, atoms)
    with pytest.raises(ValueError, match="'spin', which is not one of the names"):
        one_hot(atoms, Labels("spin", [[0]]))
    with pytest.raises(TypeError, match="`labels` in 'one_hot' must be Labels"):
        one_hot(np.zeros((2, 2)), Labels("type", [[8]]))
