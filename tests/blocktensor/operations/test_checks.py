import json
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings

import blocktensor
from blocktensor import Labels, TensorBlock, TensorMap
from blocktensor import operations as ops
from blocktensor.operations import NotEqualError
from blocktensor.testing import tensor_maps

from ...conftest import DATA
from .fd_utils import build_map

REFERENCE = os.path.join(DATA, "metatensor", "operations")
with open(os.path.join(REFERENCE, "manifest.json")) as fd:
    MANIFEST = [e for e in json.load(fd)["entries"] if e["output_type"] == "bool"]


def _load(name, **kwargs):
    return blocktensor.load(os.path.join(REFERENCE, name), **kwargs)


@pytest.mark.parametrize("entry", MANIFEST, ids=lambda e: e["name"])
def test_reference_booleans(entry):
    inputs = [_load(name) for name in entry["inputs"]]
    assert getattr(ops, entry["function"])(*inputs, **entry["kwargs"]) is entry["result"]


def _modified(tensor, key_index, index, delta, gradient=False):
    tensor = tensor.copy()
    block = tensor.block_by_id(key_index)
    array = block.gradient("positions").values if gradient else block.values
    array[index] += delta
    return tensor


def test_equal_and_allclose_messages():
    tensor = build_map()
    assert ops.equal(tensor, tensor.copy()) and ops.allclose(tensor, tensor.copy())
    changed = _modified(tensor, 1, (2, 0, 1), 1e-6)
    assert not ops.equal(tensor, changed)
    assert ops.allclose(tensor, changed, rtol=1e-5)
    with pytest.raises(NotEqualError) as error:
        ops.allclose_raise(tensor, changed)
    message = str(error.value)
    assert "key (center_type=6)" in message
    assert "values are not close at 1 of 27 entries" in message
    assert "at (2, 0, 1) (sample (system=1, atom=2), o3_mu=-1, property (n=1))" in message

    changed = _modified(tensor, 0, (3, 2, 1, 0), 0.5, gradient=True)
    with pytest.raises(NotEqualError, match=r"gradient 'positions' values are not equal at 1 "
                                            r"of \d+ entries.*xyz=2, o3_mu=0"):
        ops.equal_raise(tensor, changed)


def test_metadata_messages():
    a = build_map()
    b = build_map(n_properties=4)
    with pytest.raises(NotEqualError, match=r"should have the same properties for key "
                                            r"\(center_type=1\), but properties have "
                                            r"different lengths: 3 in the first and 4"):
        ops.equal_metadata_raise(a, b)
    assert ops.equal_metadata(a, b, check=["samples", "components"])
    assert not ops.equal_metadata(a, b, check="properties")
    with pytest.raises(ValueError, match="`check` in 'equal_metadata' contains 'values'"):
        ops.equal_metadata(a, b, check=["values"])
    no_gradients = ops.remove_gradients(a)
    assert not ops.equal_metadata(a, no_gradients)
    assert ops.equal_metadata(a, no_gradients, check_gradients=False)
    with pytest.raises(NotEqualError, match="same gradient parameters"):
        ops.equal_metadata_block_raise(a.block(0), no_gradients.block(0))
    subset = TensorMap(Labels(["center_type"], [[1]]), [a.block(0).copy()])
    with pytest.raises(NotEqualError, match=r"the key \(center_type=6\) of the second is not "
                                            "in the first"):
        ops.equal_metadata_raise(subset, a)


def test_keys_in_any_order_and_sample_order_matters():
    tensor = build_map()
    reordered = TensorMap(Labels(["center_type"], tensor.keys.values[::-1].copy()),
                          [block.copy() for block in tensor.blocks()[::-1]])
    assert ops.equal(tensor, reordered)
    block = tensor.block(0)
    order = [1, 0, 2]
    permuted = TensorBlock(block.values[order], Labels(block.samples.names,
                                                        block.samples.values[order]),
                           block.components, block.properties)
    with pytest.raises(NotEqualError, match=r"samples differ at entry 0: \(system=0, atom=0\) "
                                            r"in the first and \(system=0, atom=2\)"):
        ops.equal_metadata_block_raise(ops.remove_gradients_block(block), permuted)


def test_nan_and_backends(device):
    block = TensorBlock(np.array([[np.nan, 1.0]]), Labels.range("s", 1), [],
                        Labels.range("n", 2))
    assert not ops.allclose_block(block, block.copy())
    assert ops.allclose_block(block, block.copy(), equal_nan=True)
    tensor = build_map()
    on_device = tensor.to(arrays="torch", device=device)
    assert ops.equal(on_device, tensor)
    assert ops.allclose(on_device.to(dtype=torch.float32), tensor, rtol=1e-6)
    assert not ops.equal(on_device.to(dtype=torch.float32), tensor)
    assert ops.equal(on_device, on_device.copy())


def test_shape_mismatch_is_reported():
    a = TensorBlock(np.zeros((1, 2)), Labels.range("s", 1), [], Labels.range("n", 2))
    b = TensorBlock(np.zeros((1, 3)), Labels.range("s", 1), [], Labels.range("n", 3))
    with pytest.raises(NotEqualError, match="properties have different lengths"):
        ops.allclose_block_raise(a, b)
    with pytest.raises(TypeError, match="`block_2` in 'equal_block' must be a TensorBlock"):
        ops.equal_block(a, np.zeros((1, 2)))


def _transposed_block(module, device=None):
    """A block whose values and gradient values are transposed views (not contiguous)."""
    kwargs = {} if module is np else {"device": device, "dtype": torch.float64}
    values = module.ones((2, 3), **kwargs).T
    gradient = module.ones((2, 3, 1), **kwargs)
    gradient = gradient.transpose(2, 1, 0) if module is np else gradient.permute(2, 1, 0)
    block = TensorBlock(values, Labels.range("s", 3), [], Labels.range("n", 2))
    block.add_gradient("positions", TensorBlock(
        gradient, Labels(["sample", "system", "atom"], [[0, 0, 0]]), [Labels.range("xyz", 3)],
        Labels.range("n", 2)))
    return block


@pytest.mark.parametrize("module", [np, torch], ids=["numpy", "torch"])
def test_contiguity(module, device):
    if module is np and device != "cpu":
        pytest.skip("numpy lives on the cpu")
    block = _transposed_block(module, device)
    tensor = TensorMap(Labels.range("key", 1), [block])
    assert not ops.is_contiguous(tensor) and not ops.is_contiguous_block(block)
    contiguous = ops.make_contiguous(tensor)
    assert ops.is_contiguous(contiguous)
    ops.equal_raise(contiguous, tensor)
    assert ops.is_contiguous_block(ops.make_contiguous_block(block))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tensor_maps(dtypes=("float64",), max_keys=3, max_samples=4))
def test_maps_equal_themselves_and_their_conversions(tensor):
    assert ops.equal(tensor, tensor.copy())
    assert ops.equal(tensor, tensor.to(arrays="numpy"))
    assert ops.equal_metadata(tensor, ops.zeros_like(tensor))
    shifted = ops.add(tensor, 1.0)
    if any(np.prod(block.values.shape) for block in tensor.blocks()):
        assert not ops.allclose(tensor, shifted)
        with pytest.raises(NotEqualError, match="values are not close"):
            ops.allclose_raise(tensor, shifted)
