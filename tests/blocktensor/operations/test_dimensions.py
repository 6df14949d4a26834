
import numpy as np
import pytest
from hypothesis import given

from blocktensor.operations import append_dimension, insert_dimension, permute_dimensions, remove_dimension, rename_dimension, update_dimension
from blocktensor.testing import assert_tensor_maps_equal, tensor_maps

try:
    from .fd_utils import build_map
except ImportError:
    from fd_utils import build_map

from .references import PROPERTY_SETTINGS, reference, expected_map  # noqa: F401
import blocktensor.operations as operations


@pytest.mark.parametrize("name", [
    "append_dimension_keys", "append_dimension_samples", "insert_dimension_properties",
    "insert_dimension_samples", "remove_dimension_keys", "remove_dimension_samples",
    "rename_dimension_keys", "rename_dimension_samples", "rename_dimension_components",
    "permute_dimensions_keys", "permute_dimensions_samples",
])
def test_matches_metatensor(name, backend):
    arrays, device = backend
    args, kwargs, entry = reference(name, arrays, device)
    if isinstance(kwargs.get("values"), list):
        kwargs["values"] = np.asarray(kwargs["values"])
    result = getattr(operations, entry["function"])(*args, **kwargs)
    assert_tensor_maps_equal(result, expected_map(entry, arrays, device))


def test_remove_requires_unique_entries():
    args, kwargs, _ = reference("remove_dimension_not_unique_error")
    with pytest.raises(ValueError, match=r"can not remove the dimension 'atom' from the samples "
                                         r"of the block for key \(center_type=1, "):
        remove_dimension(*args, **kwargs)


def test_values_are_shared_and_autograd_kept():
    tensor = build_map(arrays="torch")
    result = rename_dimension(append_dimension(tensor, "properties", "l", 0), "samples",
                              "atom", "center")
    assert result.block(0).values is tensor.block(0).values
    assert result.block(0).gradient("positions").samples.names == ["sample", "system", "center"]
    assert result.block(0).properties.names == ["n", "l"]
    assert result.block(0).gradient("positions").properties == result.block(0).properties


def test_rename_gradient_only_component():
    result = rename_dimension(build_map(), "components", "xyz", "direction")
    gradient = result.block(0).gradient("positions")
    assert [c.names[0] for c in gradient.components] == ["direction", "o3_mu"]
    assert result.component_names == ["o3_mu"]


def test_update_dimension():
    tensor = build_map()
    shifted = update_dimension(tensor, "samples", "system", lambda systems: systems + 10)
    assert shifted.block(0).samples["system"].tolist() == \
        (tensor.block(0).samples["system"] + 10).tolist()
    relabelled = update_dimension(tensor, "keys", "center_type", np.array([100, 600]))
    assert relabelled.keys["center_type"].tolist() == [100, 600]
    flipped = update_dimension(tensor, "components", "o3_mu", lambda mu: -mu)
    assert flipped.block(0).components[0]["o3_mu"].tolist() == [1, 0, -1]
    assert flipped.block(0).gradient("positions").components[1] == flipped.block(0).components[0]
    moved = update_dimension(tensor, "properties", "n", np.array([5, 6, 7]))
    assert moved.block(1).gradient("positions").properties["n"].tolist() == [5, 6, 7]
    with pytest.raises(ValueError, match="entries would not be unique"):
        update_dimension(tensor, "samples", "atom", 0)
    with pytest.raises(ValueError, match="has 2 entries but the samples of the block for key"):
        update_dimension(tensor, "samples", "atom", np.array([0, 1]))


def test_validation_messages():
    tensor = build_map()
    with pytest.raises(ValueError, match="`axis` in 'insert_dimension' can not be 'components'"):
        insert_dimension(tensor, "components", 0, "x", 0)
    with pytest.raises(ValueError, match="`axis` in 'append_dimension' must be one of"):
        append_dimension(tensor, "key", "x", 0)
    with pytest.raises(ValueError, match="'system', which is already one of the samples names"):
        append_dimension(tensor, "samples", "system", 0)
    with pytest.raises(ValueError, match="`index` in 'insert_dimension' is 5"):
        insert_dimension(tensor, "keys", 5, "x", 0)
    with pytest.raises(ValueError, match="`values` in 'insert_dimension' has 3 entries but the "
                                         "keys has 2"):
        insert_dimension(tensor, "keys", 0, "x", np.arange(3))
    with pytest.raises(ValueError, match="not a valid dimension name"):
        append_dimension(tensor, "keys", "not valid", 0)
    with pytest.raises(ValueError, match="'foo', which is not one of the properties names"):
        remove_dimension(tensor, "properties", "foo")
    with pytest.raises(ValueError, match="`old` in 'rename_dimension' is 'foo'"):
        rename_dimension(tensor, "components", "foo", "bar")
    with pytest.raises(ValueError, match="`new` in 'rename_dimension' is 'atom'"):
        rename_dimension(tensor, "samples", "system", "atom")
    with pytest.raises(ValueError, match="permutation of 0..1"):
        permute_dimensions(tensor, "samples", [0, 0])
    with pytest.raises(ValueError, match="must fit in int32"):
        append_dimension(tensor, "keys", "big", 2**40)


@PROPERTY_SETTINGS
@given(tensor_maps(max_keys=3))
def test_round_trips(tensor):
    for axis in ("keys", "samples", "properties"):
        names = {"keys": tensor.keys.names, "samples": tensor.sample_names,
                 "properties": tensor.property_names}[axis]
        extended = insert_dimension(tensor, axis, 0, "tensor", 3)
        assert_tensor_maps_equal(remove_dimension(extended, axis, "tensor"), tensor)
        renamed = rename_dimension(tensor, axis, names[-1], "tensor")
        assert_tensor_maps_equal(rename_dimension(renamed, axis, "tensor", names[-1]), tensor)
        order = list(range(len(names)))[::-1]
        inverse = np.argsort(order).tolist()
        permuted = permute_dimensions(tensor, axis, order)
        assert_tensor_maps_equal(permute_dimensions(permuted, axis, inverse), tensor)
        updated = update_dimension(tensor, axis, names[0], lambda v: v * 2 + 1)
        assert_tensor_maps_equal(update_dimension(updated, axis, names[0],
                                                  lambda v: (v - 1) // 2), tensor)
