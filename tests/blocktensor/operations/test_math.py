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

from ...conftest import DATA, DEVICES
from .fd_utils import build_map, check_fd

REFERENCE = os.path.join(DATA, "metatensor", "operations")
with open(os.path.join(REFERENCE, "manifest.json")) as fd:
    MANIFEST = json.load(fd)["entries"]

MATH = ("add", "subtract", "multiply", "divide", "pow", "abs", "dot", "lstsq", "solve")


def _entries(output_type):
    return [e for e in MANIFEST if e["function"] in MATH and e["output_type"] == output_type]


def _load(name, arrays="numpy", device=None):
    return blocktensor.load(os.path.join(REFERENCE, name), arrays=arrays, device=device)


def _numpy(array):
    return array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else array


def assert_close_maps(found, expected, rtol=1e-10, atol=1e-12):
    ops.allclose_raise(found.to(arrays="numpy"), expected.to(arrays="numpy"), rtol=rtol,
                       atol=atol)


# =============================================================================== references
@pytest.mark.parametrize("entry", _entries("TensorMap"), ids=lambda e: e["name"])
@pytest.mark.parametrize("arrays", ["numpy", "torch"])
def test_reference(entry, arrays, device):
    if arrays == "numpy" and device != "cpu":
        pytest.skip("numpy lives on the cpu")
    inputs = [_load(name, arrays, device if arrays == "torch" else None)
              for name in entry["inputs"]]
    result = getattr(ops, entry["function"])(*inputs, **entry["kwargs"])
    expected = _load(entry["output"])
    if arrays == "torch":
        assert result.array_backend == "torch"
        assert str(result.device).startswith(device)
    assert_close_maps(result, expected, rtol=1e-9)


@pytest.mark.parametrize("entry", _entries("error"), ids=lambda e: e["name"])
def test_reference_errors(entry):
    inputs = [_load(name) for name in entry["inputs"]]
    with pytest.raises(ValueError, match=entry["result"]["message"].replace("`", ".")):
        getattr(ops, entry["function"])(*inputs, **entry["kwargs"])


def test_exported_from_operations():
    from blocktensor.operations import math as math_module

    for name in math_module.__all__:
        assert getattr(ops, name) is getattr(math_module, name)


# =============================================================================== gradients
@pytest.mark.parametrize("components", [True, False])
@pytest.mark.parametrize("operation", ["add", "subtract", "multiply", "divide"])
def test_map_map_gradients_fd(operation, components):
    function = getattr(ops, operation)
    check_fd(lambda a, b: function(a, b), n_inputs=2, offset=2.5, components=components)


@pytest.mark.parametrize("operation", ["add", "subtract", "multiply", "divide"])
def test_map_scalar_gradients_fd(operation):
    function = getattr(ops, operation)
    check_fd(lambda a: function(a, -1.7))


@pytest.mark.parametrize("exponent", [3, 0.5, -1.5])
def test_pow_gradients_fd(exponent):
    check_fd(lambda a: ops.pow(a, exponent), offset=3.0)


def test_abs_and_negative_gradients_fd():
    tensor = build_map()
    assert any(np.any(block.values < 0) for block in tensor.blocks())
    check_fd(lambda a: ops.abs(a))
    check_fd(lambda a: ops.negative(a))


def test_chained_operations_fd():
    # (a * b + |a|) / (b ** 2 + 1): product, quotient and power rules chained
    check_fd(
        lambda a, b: ops.divide(ops.add(ops.multiply(a, b), ops.abs(a)),
                                ops.add(ops.pow(b, 2), 1.0)),
        n_inputs=2,
    )


def _constant_projection(tensor, n_samples=4, seed=3):
    """A map with the keys and properties of ``tensor``, no components, no gradients."""
    rng = np.random.default_rng(seed)
    blocks = [
        TensorBlock(rng.normal(size=(n_samples, len(block.properties))),
                    Labels.range("projection", n_samples), [], block.properties)
        for block in tensor.blocks()
    ]
    return TensorMap(tensor.keys, blocks)


@pytest.mark.parametrize("components", [True, False])
def test_dot_gradients_fd(components):
    projection = _constant_projection(build_map())
    result = check_fd(lambda a: ops.dot(a, projection), components=components)
    assert result.block(0).properties == Labels.range("projection", 4)


def _permute_gradient_rows(tensor, seed=0):
    """Same map, gradient rows shuffled (still the exact derivative)."""
    rng = np.random.default_rng(seed)
    blocks = []
    for block in tensor.blocks():
        new = TensorBlock(block.values, block.samples, block.components, block.properties)
        gradient = block.gradient("positions")
        order = rng.permutation(len(gradient.samples))
        new.add_gradient("positions", TensorBlock(
            gradient.values[order], Labels(gradient.samples.names,
                                           gradient.samples.values[order]),
            gradient.components, gradient.properties))
        blocks.append(new)
    return TensorMap(tensor.keys, blocks)


def _drop_gradient_rows_of_atom(tensor, atom):
    """Remove the gradient rows with respect to ``atom`` of system 0 and, to stay exact,
    make values independent of it (not needed for add: treat as a separate check)."""
    blocks = []
    for block in tensor.blocks():
        new = TensorBlock(block.values, block.samples, block.components, block.properties)
        gradient = block.gradient("positions")
        keep = ~((gradient.samples["system"] == 0) & (gradient.samples["atom"] == atom))
        new.add_gradient("positions", TensorBlock(
            gradient.values[keep], Labels(gradient.samples.names, gradient.samples.values[keep]),
            gradient.components, gradient.properties))
        blocks.append(new)
    return TensorMap(tensor.keys, blocks)


@pytest.mark.parametrize("operation", ["add", "subtract", "multiply", "divide"])
def test_different_gradient_samples_fd(operation):
    # B's gradient rows in another order: the result uses the union of rows
    function = getattr(ops, operation)
    check_fd(lambda a, b: function(a, _permute_gradient_rows(b)), n_inputs=2, offset=2.0)


def test_different_gradient_samples_union_rows():
    a = build_map(seed=0)
    b = _drop_gradient_rows_of_atom(build_map(seed=1), atom=0)
    result = ops.add(a, b)
    for key, block in result:
        expected = a.block(key).gradient("positions")
        found = block.gradient("positions")
        # rows of a first, all present
        assert found.samples == expected.samples
        dense_b = b.block(key).gradient("positions")
        positions = found.samples.positions(dense_b.samples)
        total = expected.values.copy()
        np.add.at(total, positions, dense_b.values)
        np.testing.assert_allclose(found.values, total)


# =============================================================================== torch
@pytest.mark.parametrize("operation", ["add", "subtract", "multiply", "divide"])
def test_torch_autograd_matches_numpy(operation, device):
    a_np, b_np = build_map(seed=0, offset=2.0), build_map(seed=1, offset=2.0)
    a = ops.requires_grad(a_np.to(arrays="torch", device=device))
    b = b_np.to(arrays="torch", device=device)
    result = getattr(ops, operation)(a, b)
    expected = getattr(ops, operation)(a_np, b_np)
    assert_close_maps(result, expected)
    total = sum(block.values.sum() for block in result.blocks())
    total.backward()
    for key, block in a:
        va, vb = a_np.block(key).values, b_np.block(key).values
        derivative = {"add": np.ones_like(va), "subtract": np.ones_like(va),
                      "multiply": vb, "divide": 1 / vb}[operation]
        np.testing.assert_allclose(_numpy(block.values.grad), derivative, rtol=1e-12)


def test_torch_scalar_keeps_autograd():
    tensor = build_map().to(arrays="torch")
    scale = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    result = ops.multiply(tensor, scale)
    sum(block.values.sum() for block in result.blocks()).backward()
    expected = sum(float(block.values.sum()) for block in tensor.blocks())
    assert scale.grad.item() == pytest.approx(expected)


def test_lstsq_recovers_weights_with_gradients(device):
    rng = np.random.default_rng(0)
    true_weights = rng.normal(size=(2, 3))  # (targets, features)
    x = build_map(components=False, seed=2)
    blocks = []
    for block in x.blocks():
        new = TensorBlock(block.values @ true_weights.T, block.samples, [],
                          Labels.range("target", 2))
        gradient = block.gradient("positions")
        new.add_gradient("positions", TensorBlock(
            gradient.values @ true_weights.T, gradient.samples, gradient.components,
            Labels.range("target", 2)))
        blocks.append(new)
    y = TensorMap(x.keys, blocks)
    for arrays in ("numpy", "torch"):
        if arrays == "numpy" and device != "cpu":
            continue
        w = ops.lstsq(x.to(arrays=arrays, device=device if arrays == "torch" else None),
                      y.to(arrays=arrays, device=device if arrays == "torch" else None),
                      rcond=1e-12)
        for block in w.blocks():
            np.testing.assert_allclose(_numpy(block.values), true_weights, atol=1e-10)
            assert block.samples == Labels.range("target", 2)
            assert block.properties == Labels.range("n", 3)
            assert block.gradients_list() == []


def test_solve_errors():
    with pytest.raises(ValueError, match=r"square 2D array, the block for key "
                                         r"\(center_type=1\) has shape \(3, 3, 3\)"):
        ops.solve(build_map(), build_map())
    block = TensorBlock(np.eye(2), Labels.range("s", 2), [], Labels.range("x", 2))
    block.add_gradient("positions", TensorBlock(
        np.ones((1, 3, 2)), Labels(["sample", "system", "atom"], [[0, 0, 0]]),
        [Labels.range("xyz", 3)], Labels.range("x", 2)))
    X = TensorMap(Labels.range("key", 1), [block])
    with pytest.raises(ValueError, match="'solve' does not support gradients"):
        ops.solve(X, X)


# =============================================================================== union mode
def _sample_subset(tensor, keep_rows):
    """Keep the samples ``keep_rows`` (per block) and the matching gradient rows."""
    blocks = []
    for block, rows in zip(tensor.blocks(), keep_rows):
        rows = np.asarray(rows)
        new_index = np.full(len(block.samples), -1)
        new_index[rows] = np.arange(len(rows))
        new = TensorBlock(block.values[rows], Labels(block.samples.names,
                                                      block.samples.values[rows]),
                          block.components, block.properties)
        for parameter, gradient in block.gradients():
            mapped = new_index[gradient.samples["sample"]]
            keep = mapped >= 0
            samples = gradient.samples.values[keep].copy()
            samples[:, 0] = mapped[keep]
            new.add_gradient(parameter, TensorBlock(
                gradient.values[keep], Labels(gradient.samples.names, samples),
                gradient.components, gradient.properties))
        blocks.append(new)
    return TensorMap(tensor.keys, blocks)


def test_union_samples_values_and_fd():
    a_full, b = build_map(seed=0), build_map(seed=1)
    a = _sample_subset(a_full, [[0, 2], [1]])
    result = ops.add(a, b, missing="union")
    for key, block in result:
        b_block = b.block(key)
        a_block = a.block(key)
        in_a = block.samples.positions(a_block.samples)
        in_b = block.samples.positions(b_block.samples)
        expected = np.zeros_like(block.values)
        np.add.at(expected, in_a, a_block.values)
        np.add.at(expected, in_b, b_block.values)
        np.testing.assert_allclose(block.values, expected)
        # a's samples come first
        assert np.array_equal(in_a, np.arange(len(a_block.samples)))
    # missing rows are constants: the derivative is that of the rows present
    check_fd(lambda a, b: ops.multiply(_sample_subset(a, [[0, 2], [1]]), b, missing="union",
                                       fill_value=1.0), n_inputs=2)
    with pytest.raises(NotEqualError, match="should have the same samples for key"):
        ops.add(a, b)


def test_union_keys_and_fill_value():
    a, b = build_map(seed=0), build_map(seed=1)
    only_first = TensorMap(Labels(["center_type"], [[1]]), [a.block(center_type=1).copy()])
    result = ops.subtract(only_first, b, missing="union", fill_value=0.5)
    assert result.keys == Labels(["center_type"], [[1], [6]])
    np.testing.assert_allclose(result.block(center_type=6).values,
                               0.5 - b.block(center_type=6).values)
    np.testing.assert_allclose(
        result.block(center_type=6).gradient("positions").values,
        -b.block(center_type=6).gradient("positions").values,
    )
    np.testing.assert_allclose(result.block(center_type=1).values,
                               a.block(center_type=1).values - b.block(center_type=1).values)
    with pytest.raises(NotEqualError, match=r"the key \(center_type=6\) of the second"):
        ops.subtract(only_first, b)


def test_union_properties():
    a = build_map(seed=0, n_properties=2)
    b = build_map(seed=1, n_properties=3)
    result = ops.add(a, b, missing="union")
    block = result.block(center_type=1)
    assert block.properties == Labels.range("n", 3)
    np.testing.assert_allclose(block.values[..., 2], b.block(center_type=1).values[..., 2])
    check_fd(lambda a, b: ops.add(a, ops.multiply(b, 2.0), missing="union"), n_inputs=2)


# =============================================================================== errors
def test_binary_errors():
    a = build_map()
    with pytest.raises(TypeError, match="`B` in 'add' must be a TensorMap or a scalar"):
        ops.add(a, "two")
    with pytest.raises(TypeError, match="`A` in 'multiply' must be a TensorMap"):
        ops.multiply(np.ones(3), a)
    with pytest.raises(ValueError, match="`missing` in 'add' must be 'error' or 'union'"):
        ops.add(a, a, missing="intersection")
    with pytest.raises(TypeError, match="same array backend"):
        ops.add(a, a.to(arrays="torch"))
    shifted = build_map(n_properties=4)
    with pytest.raises(NotEqualError) as error:
        ops.multiply(a, shifted)
    message = str(error.value)
    assert "key (center_type=1)" in message and "properties" in message
    assert "entry (n=3) of the second is missing from the first" in message
    with pytest.raises(NotEqualError, match="gradient parameters"):
        ops.add(a, ops.remove_gradients(a))
    with pytest.raises(TypeError, match="`B` in 'pow' must be a TensorMap or a scalar"):
        ops.pow(a, a)


def test_keys_in_other_order():
    a, b = build_map(seed=0), build_map(seed=1)
    reversed_b = TensorMap(Labels(["center_type"], b.keys.values[::-1].copy()),
                           b.blocks()[::-1])
    assert_close_maps(ops.multiply(a, reversed_b), ops.multiply(a, b))


def test_inputs_not_modified():
    a = build_map()
    before = a.copy()
    ops.add(a, 1.0)
    ops.multiply(a, a)
    ops.divide(a, 3.0)
    ops.equal_raise(a, before)


# =============================================================================== properties
maps = tensor_maps(arrays=("numpy", "torch"), dtypes=("float64",), max_keys=3, max_samples=4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(maps)
def test_add_negative_is_zero(tensor):
    result = ops.add(tensor, ops.negative(tensor))
    ops.allclose_raise(result, ops.zeros_like(tensor), atol=0.0, rtol=0.0)
    ops.equal_metadata_raise(result, tensor)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(maps)
def test_ops_commute_with_torch_conversion(tensor):
    numpy_map = tensor.to(arrays="numpy")
    torch_map = tensor.to(arrays="torch")
    for function in (
        lambda t: ops.multiply(t, ops.add(t, 1.5)),
        lambda t: ops.divide(ops.abs(t), 4.0),
        lambda t: ops.pow(ops.abs(t), 2),
        lambda t: ops.subtract(t, ops.multiply(t, t)),
    ):
        ops.allclose_raise(function(torch_map), function(numpy_map), rtol=1e-12, atol=1e-12)
        assert function(torch_map).array_backend == "torch"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(maps)
def test_multiply_is_commutative_and_matches_numpy(tensor):
    doubled = ops.multiply(tensor, 2.0)
    first, second = ops.multiply(tensor, doubled), ops.multiply(doubled, tensor)
    ops.allclose_raise(first, second, rtol=1e-14, atol=0)
    for key, block in first:
        values = _numpy(tensor.block(key).values)
        np.testing.assert_allclose(_numpy(block.values), 2 * values * values)
        for parameter, gradient in block.gradients():
            original = tensor.block(key).gradient(parameter)
            rows = original.samples["sample"]
            factor = 4 * values[rows].reshape(
                (len(rows),) + (1,) * (original.values.ndim - values.ndim) + values.shape[1:])
            np.testing.assert_allclose(_numpy(gradient.values),
                                       factor * _numpy(original.values), atol=1e-12)


def test_devices_listed():
    assert "cpu" in DEVICES


def test_union_mode_with_torch_autograd(device):
    a_full, b = build_map(seed=0), build_map(seed=1, n_properties=4)
    a = _sample_subset(a_full, [[0, 2], [1]])
    expected = ops.multiply(a, b, missing="union", fill_value=1.0)
    a_torch = ops.requires_grad(a.to(arrays="torch", device=device))
    b_torch = ops.requires_grad(b.to(arrays="torch", device=device))
    result = ops.multiply(a_torch, b_torch, missing="union", fill_value=1.0)
    ops.allclose_raise(result.to(arrays="numpy"), expected, rtol=1e-12)
    sum(block.values.sum() for block in result.blocks()).backward()
    for key, block in b_torch:
        # d(sum)/db = a where a has the entry, the fill value elsewhere
        grad = _numpy(block.values.grad)
        result_block = expected.block(key)
        rows = result_block.samples.positions(block.samples)
        a_values = np.ones_like(_numpy(result_block.values))
        a_block = a.block(key)
        a_rows = result_block.samples.positions(a_block.samples)
        a_values[np.ix_(a_rows, range(3), range(3))] = a_block.values
        np.testing.assert_allclose(grad, a_values[rows], rtol=1e-12)


def test_fd_checker_detects_wrong_gradients():
    def wrong(tensor):
        result = ops.multiply(tensor, 1.0)
        for block in result.blocks():
            block.gradient("positions").values[0] *= 1.001
        return result

    with pytest.raises(AssertionError, match="gradient mismatch for key"):
        check_fd(wrong)

    def missing_row(tensor):
        blocks = []
        for block in tensor.blocks():
            new = TensorBlock(block.values, block.samples, block.components, block.properties)
            gradient = block.gradient("positions")
            new.add_gradient("positions", TensorBlock(
                gradient.values[1:], Labels(gradient.samples.names, gradient.samples.values[1:]),
                gradient.components, gradient.properties))
            blocks.append(new)
        return TensorMap(tensor.keys, blocks)

    with pytest.raises(AssertionError, match="gradient mismatch"):
        check_fd(missing_row)
