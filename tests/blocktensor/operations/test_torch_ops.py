import os
import warnings

import numpy as np
import pytest
import torch

import blocktensor
from blocktensor import operations as ops

from ...conftest import DATA
from .fd_utils import build_map

REFERENCE = os.path.join(DATA, "metatensor", "operations")


def test_remove_gradients_reference():
    tensor = blocktensor.load(os.path.join(REFERENCE, "A.mts"))
    expected = blocktensor.load(os.path.join(REFERENCE, "remove_gradients.mts"))
    ops.equal_raise(ops.remove_gradients(tensor), expected)


def test_remove_gradients_selection():
    tensor = build_map()
    assert ops.remove_gradients(tensor, remove=[]).gradients_list() == ["positions"]
    assert ops.remove_gradients(tensor, remove="positions").gradients_list() == []
    with pytest.raises(ValueError, match=r"`remove` names gradients \['strain'\] which this "
                                         r"block does not have; available: \['positions'\]"):
        ops.remove_gradients(tensor, remove=["strain"])
    # values are shared, not copied
    assert ops.remove_gradients(tensor).block(0).values is tensor.block(0).values


def test_requires_grad_and_detach(device):
    tensor = build_map().to(arrays="torch", device=device)
    tracked = ops.requires_grad(tensor)
    for _, block in tracked:
        assert block.values.requires_grad and block.values.is_leaf
        assert block.gradient("positions").values.requires_grad
    doubled = ops.multiply(tracked, 2.0)
    assert doubled.block(0).values.grad_fn is not None
    detached = ops.detach(doubled)
    for _, block in detached:
        assert block.values.grad_fn is None and not block.values.requires_grad
        assert not block.gradient("positions").values.requires_grad
    ops.allclose_raise(detached, ops.multiply(tensor, 2.0))
    untracked = ops.requires_grad(tracked, requires_grad=False)
    assert not untracked.block(0).values.requires_grad
    with pytest.warns(UserWarning, match="detaches it from its current graph"):
        ops.requires_grad(tracked)
    single = ops.requires_grad_block(tensor.block(0))
    assert single.values.requires_grad
    assert ops.detach_block(single).values.requires_grad is False


def test_numpy_behaviour():
    tensor = build_map()
    with pytest.warns(UserWarning, match="does nothing for numpy arrays"):
        result = ops.requires_grad(tensor)
    ops.equal_raise(result, tensor)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ops.requires_grad(tensor, requires_grad=False)
    assert ops.detach(tensor).block(0).values is tensor.block(0).values
    with pytest.raises(TypeError, match="`requires_grad` must be a bool"):
        ops.requires_grad(tensor, "yes")


def test_to_round_trip_keeps_autograd(device):
    tensor = build_map()
    converted = ops.to(tensor, arrays="torch", dtype=torch.float32, device=device)
    assert converted.array_backend == "torch" and converted.dtype == torch.float32
    assert converted.block(0).gradient("positions").values.dtype == torch.float32
    ops.allclose_raise(ops.to(converted, arrays="numpy"), tensor, rtol=1e-6, atol=1e-6)

    source = ops.requires_grad(tensor.to(arrays="torch", device=device))
    moved = ops.to(source, dtype=torch.float32)
    sum(block.values.sum() for block in moved.blocks()).backward()
    assert torch.all(source.block(0).values.grad == 1)
    block = ops.to_block(tensor.block(0), arrays="torch")
    assert isinstance(block.values, torch.Tensor)
    with pytest.raises(ValueError, match="`arrays` must be 'numpy', 'torch' or None"):
        ops.to(tensor, arrays="jax")
    assert np.array_equal(ops.to(tensor).block(0).values, tensor.block(0).values)
