import os

import numpy as np
import pytest
import torch

import blocktensor
from blocktensor import operations as ops

from ...conftest import DATA
from .fd_utils import build_map

REFERENCE = os.path.join(DATA, "metatensor", "operations")


def _load(name, **kwargs):
    return blocktensor.load(os.path.join(REFERENCE, name), **kwargs)


@pytest.mark.parametrize(
    "function, output, kwargs",
    [
        ("zeros_like", "zeros_like.mts", {}),
        ("ones_like", "ones_like.mts", {}),
        ("zeros_like", "zeros_like_no_gradients.mts", {"gradients": []}),
    ],
)
@pytest.mark.parametrize("arrays", ["numpy", "torch"])
def test_reference(function, output, kwargs, arrays):
    tensor = _load("A.mts", arrays=arrays)
    result = getattr(ops, function)(tensor, **kwargs)
    assert result.array_backend == arrays
    ops.equal_raise(result.to(arrays="numpy"), _load(output))


KINDS = ["zeros_like", "ones_like", "empty_like", "random_uniform_like"]


@pytest.mark.parametrize("kind", KINDS)
def test_metadata_and_gradient_selection(kind):
    tensor = build_map()
    function = getattr(ops, kind)
    result = function(tensor)
    ops.equal_metadata_raise(result, tensor)
    assert result.gradients_list() == ["positions"]
    assert function(tensor, gradients="positions").gradients_list() == ["positions"]
    assert function(tensor, gradients=[]).gradients_list() == []
    with pytest.raises(ValueError, match=f"requested gradient 'strain' in '{kind}' is not "
                                         "defined in this tensor"):
        function(tensor, gradients=["strain"])
    block_function = getattr(ops, kind + "_block")
    ops.equal_metadata_block_raise(block_function(tensor.block(0)), tensor.block(0))


@pytest.mark.parametrize("kind", KINDS)
def test_torch_options(kind, device):
    tensor = build_map().to(arrays="torch")
    function = getattr(ops, kind)
    result = function(tensor, requires_grad=True, dtype=torch.float32, device=device)
    for _, block in result:
        assert block.values.requires_grad and block.values.dtype == torch.float32
        assert str(block.values.device).startswith(device)
        gradient = block.gradient("positions").values
        assert not gradient.requires_grad and gradient.dtype == torch.float32
    with pytest.raises(ValueError, match=f"`requires_grad=True` in '{kind}' needs torch"):
        function(build_map(), requires_grad=True)
    numpy_result = function(build_map(), dtype=np.float32)
    assert numpy_result.block(0).values.dtype == np.float32
    with pytest.raises(ValueError, match="`device` must be 'cpu' for numpy arrays"):
        function(build_map(), device="cuda")


def test_values():
    tensor = build_map()
    for _, block in ops.zeros_like(tensor):
        assert np.all(block.values == 0) and np.all(block.gradient("positions").values == 0)
    for _, block in ops.ones_like(tensor):
        assert np.all(block.values == 1) and np.all(block.gradient("positions").values == 1)


@pytest.mark.parametrize("arrays", ["numpy", "torch"])
def test_random_uniform(arrays):
    tensor = build_map().to(arrays=arrays)
    first = ops.random_uniform_like(tensor, generator=5)
    second = ops.random_uniform_like(tensor, generator=5)
    ops.equal_raise(first, second)
    other = ops.random_uniform_like(tensor, generator=6)
    assert not ops.equal(first, other)
    values = np.concatenate([np.ravel(block.values) for block in first.to(arrays="numpy")
                             .blocks()])
    assert values.min() >= 0 and values.max() < 1
    # blocks draw from one stream: not copies of each other
    assert not np.array_equal(first.block(0).values, first.block(1).values)
    unseeded = ops.random_uniform_like(tensor)
    assert not ops.equal(unseeded, first)


def test_random_generator_type_errors():
    with pytest.raises(TypeError, match="`generator` must be a numpy.random.Generator"):
        ops.random_uniform_like(build_map(), generator=torch.Generator())
    with pytest.raises(TypeError, match="`generator` must be a torch.Generator"):
        ops.random_uniform_like(build_map().to(arrays="torch"),
                                generator=np.random.default_rng(0))


def test_type_errors():
    with pytest.raises(TypeError, match="`tensor` in 'zeros_like' must be a TensorMap"):
        ops.zeros_like(np.zeros(3))
    with pytest.raises(TypeError, match="`block` in 'ones_like_block' must be a TensorBlock"):
        ops.ones_like_block(build_map())
