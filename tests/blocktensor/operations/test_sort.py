
import numpy as np
import pytest
import torch
from hypothesis import given

import blocktensor
from blocktensor import Labels, TensorBlock
from blocktensor.operations import sort, sort_block
from blocktensor.testing import assert_tensor_maps_equal, tensor_maps

from .fd_utils import build_map, check_fd

from .references import PROPERTY_SETTINGS, reference, expected_map  # noqa: F401


@pytest.mark.parametrize("name", ["sort", "sort_descending", "sort_samples"])
def test_matches_metatensor(name, backend):
    arrays, device = backend
    args, kwargs, entry = reference(name, arrays, device)
    assert_tensor_maps_equal(sort(*args, **kwargs), expected_map(entry, arrays, device))


def test_gradients_follow_sort():
    check_fd(lambda a: sort(a))
    # descending component sorting also reverses the gradients' own xyz axis (as metatensor
    # does), which the finite-difference checker does not read from the labels
    check_fd(lambda a: sort(a, ["keys", "samples", "properties"], descending=True))


def test_block_and_component_sorting():
    block = TensorBlock(
        np.arange(12.0).reshape(2, 3, 2),
        Labels(["system", "atom"], [[1, 0], [0, 5]]),
        [Labels("o3_mu", [[1], [-1], [0]])],
        Labels("n", [[3], [1]]),
    )
    result = sort_block(block, ["components"])
    assert result.components[0]["o3_mu"].tolist() == [-1, 0, 1]
    np.testing.assert_array_equal(result.values, block.values[:, [1, 2, 0]])
    result = sort_block(block, "all", descending=True)
    assert result.samples.values.tolist() == [[1, 0], [0, 5]]
    assert result.properties["n"].tolist() == [3, 1]
    assert result.components[0]["o3_mu"].tolist() == [1, 0, -1]


def test_autograd_flows_through_sort():
    values = torch.tensor([[1.0], [2.0]], dtype=torch.float64, requires_grad=True)
    block = TensorBlock(values, Labels("system", [[1], [0]]), [], Labels.range("n", 1))
    result = sort_block(block)
    (result.values[:, 0] * torch.tensor([10.0, 1.0], dtype=torch.float64)).sum().backward()
    assert values.grad[:, 0].tolist() == [1.0, 10.0]


def test_validation_messages():
    tensor = build_map()
    with pytest.raises(ValueError, match="`axes` in 'sort' must be 'all' or among"):
        sort(tensor, "atoms")
    with pytest.raises(ValueError, match="`axes` in 'sort_block'.*'keys'"):
        sort_block(tensor.block(0), "keys")
    with pytest.raises(TypeError, match="`axes` in 'sort' must be a string or a list"):
        sort(tensor, 3)
    with pytest.raises(TypeError, match="`descending` in 'sort' must be a bool"):
        sort(tensor, descending="yes")


def _as_dict(block):
    """Every value of a block keyed by its metadata, to compare regardless of order."""
    values = blocktensor._backend.to_numpy(block.values)
    components = [c.values[:, 0] for c in block.components]
    grid = np.meshgrid(*[np.arange(len(c)) for c in components], indexing="ij")
    result = {}
    for row, sample in enumerate(block.samples.values):
        for flat in range(int(np.prod([len(c) for c in components]))):
            index = tuple(g.reshape(-1)[flat] for g in grid)
            component = tuple(int(c[i]) for c, i in zip(components, index))
            for column, prop in enumerate(block.properties.values):
                result[(tuple(sample), component, tuple(prop))] = values[(row,) + index
                                                                         + (column,)]
    return result


@PROPERTY_SETTINGS
@given(tensor_maps(max_keys=3))
def test_sort_is_idempotent_and_keeps_content(tensor):
    for descending in (False, True):
        once = sort(tensor, descending=descending)
        assert_tensor_maps_equal(sort(once, descending=descending), once)
        for key, block in tensor.items():
            assert _as_dict(once.block(key)) == _as_dict(block)
        for _, block in once.items():
            order = np.lexsort(block.samples.values.T[::-1])
            expected = order[::-1] if descending else order
            assert np.array_equal(expected, np.arange(len(order)))
            for _, gradient in block.gradients():
                order = np.lexsort(gradient.samples.values.T[::-1])
                expected = order[::-1] if descending else order
                assert np.array_equal(expected, np.arange(len(order)))
