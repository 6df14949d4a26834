import json
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import blocktensor
from blocktensor import Labels, TensorBlock, TensorMap
from blocktensor import operations as ops

from ...conftest import DATA
from .fd_utils import build_map, check_fd

REFERENCE = os.path.join(DATA, "metatensor", "operations")
with open(os.path.join(REFERENCE, "manifest.json")) as fd:
    MANIFEST = [e for e in json.load(fd)["entries"] if "_over_" in e["function"]]

REDUCTIONS = ("sum", "mean", "var", "std")


def _load(name, arrays="numpy", device=None):
    return blocktensor.load(os.path.join(REFERENCE, name), arrays=arrays, device=device)


def _numpy(array):
    return array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else array


def _exact_gradients_in_reference(entry):
    # metatensor 0.5.0 divides mean/var/std gradients by the number of merged gradient rows
    # instead of the group size; its gradients are exact only for dense gradient rows
    return "NOT the exact derivative" not in entry.get("note", "")


# =============================================================================== references
@pytest.mark.parametrize(
    "entry", [e for e in MANIFEST if e["output_type"] == "TensorMap"], ids=lambda e: e["name"]
)
@pytest.mark.parametrize("arrays", ["numpy", "torch"])
def test_reference(entry, arrays, device):
    if arrays == "numpy" and device != "cpu":
        pytest.skip("numpy lives on the cpu")
    inputs = [_load(name, arrays, device if arrays == "torch" else None)
              for name in entry["inputs"]]
    result = getattr(ops, entry["function"])(*inputs, **entry["kwargs"]).to(arrays="numpy")
    expected = _load(entry["output"])
    if _exact_gradients_in_reference(entry):
        ops.allclose_raise(result, expected, rtol=1e-9, atol=1e-12)
    else:
        ops.allclose_raise(ops.remove_gradients(result), ops.remove_gradients(expected),
                           rtol=1e-9, atol=1e-12)
        # the gradient rows are the same, only their scaling differs
        for key, block in expected:
            assert result.block(key).gradient("positions").samples == \
                block.gradient("positions").samples


def test_sparse_mean_gradient_differs_from_metatensor_where_it_is_wrong():
    # group system 0 of block (1, 1) has 2 atoms; the gradient with respect to atom 1 only
    # appears in one of them: d mean / d r = (row) / 2, metatensor divides by 1
    tensor = _load("A.mts")
    result = ops.mean_over_samples(tensor, "atom").block(0).gradient("positions")
    summed = ops.sum_over_samples(tensor, "atom").block(0).gradient("positions")
    counts = np.bincount(ops.sum_over_samples(tensor, "atom").block(0).samples.positions(
        tensor.block(0).samples.view("system").values.copy()))
    sample_rows = result.samples["sample"]
    np.testing.assert_allclose(
        result.values, summed.values / counts[sample_rows].reshape(-1, 1, 1, 1)
    )


@pytest.mark.parametrize(
    "entry", [e for e in MANIFEST if e["output_type"] == "error"], ids=lambda e: e["name"]
)
def test_metatensor_failures_work_here(entry):
    # std/var over properties fail in metatensor 0.5.0 for blocks with components
    tensor = _load(entry["inputs"][0])
    result = getattr(ops, entry["function"])(tensor, **entry["kwargs"])
    for key, block in tensor:
        reduced = result.block(key)
        assert reduced.properties == Labels.single()
        if entry["function"].startswith("std"):
            expected = block.values.std(axis=-1, keepdims=True)
        else:
            expected = block.values.var(axis=-1, keepdims=True)
        np.testing.assert_allclose(reduced.values, expected, rtol=1e-12)


# =============================================================================== gradients
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("names", ["atom", ["system", "atom"], "system"])
def test_over_samples_fd(reduction, names):
    function = getattr(ops, f"{reduction}_over_samples")
    check_fd(lambda a: function(a, names))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("components", [True, False])
def test_over_properties_fd(reduction, components):
    function = getattr(ops, f"{reduction}_over_properties")
    check_fd(lambda a: function(a, "n"), components=components)


def _with_property_groups(tensor):
    """Properties (l, n) with two groups of l, to reduce over n only."""
    blocks = []
    properties = Labels(["l", "n"], [[0, 0], [1, 0], [0, 1], [1, 1], [0, 2], [1, 2]])
    for block in tensor.blocks():
        tiled = np.concatenate([block.values, block.values ** 2], axis=-1)
        new = TensorBlock(tiled, block.samples, block.components, properties)
        gradient = block.gradient("positions")
        parent = block.values[gradient.samples["sample"]][:, None]
        new.add_gradient("positions", TensorBlock(
            np.concatenate([gradient.values, 2 * parent * gradient.values], axis=-1),
            gradient.samples, gradient.components, properties))
        blocks.append(new)
    return TensorMap(tensor.keys, blocks)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_over_some_properties_fd(reduction):
    function = getattr(ops, f"{reduction}_over_properties")
    result = check_fd(lambda a: function(_with_property_groups(a), "n"))
    assert result.block(0).properties == Labels("l", [[0], [1]])


def test_std_of_constant_group_has_zero_gradient():
    block = TensorBlock(np.ones((2, 1)), Labels(["system", "atom"], [[0, 0], [0, 1]]), [],
                        Labels.range("n", 1))
    block.add_gradient("positions", TensorBlock(
        np.ones((2, 3, 1)), Labels(["sample", "system", "atom"], [[0, 0, 0], [1, 0, 1]]),
        [Labels.range("xyz", 3)], Labels.range("n", 1)))
    result = ops.std_over_samples_block(block, "atom")
    assert result.values.tolist() == [[0.0]]
    assert np.all(result.gradient("positions").values == 0.0)


# =============================================================================== torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_autograd_through_values(reduction, device):
    tensor = build_map(offset=1.0)
    torch_map = ops.requires_grad(tensor.to(arrays="torch", device=device))
    result = getattr(ops, f"{reduction}_over_samples")(torch_map, "atom")
    ops.allclose_raise(result.to(arrays="numpy"),
                       getattr(ops, f"{reduction}_over_samples")(tensor, "atom"), rtol=1e-12)
    sum(block.values.sum() for block in result.blocks()).backward()
    # d(sum of group sums)/dx = 1; the mean divides by the group size
    block = torch_map.block(0)
    if reduction == "sum":
        assert torch.all(block.values.grad == 1)
    else:
        assert block.values.grad is not None
        assert torch.isfinite(block.values.grad).all()


# =============================================================================== edge cases
def test_empty_block_keeps_values():
    block = TensorBlock(np.zeros((0, 2)), Labels.empty(["system", "atom"]), [],
                        Labels.range("n", 2))
    result = ops.sum_over_samples_block(block, "atom")
    assert result.samples == Labels.empty(["system"])
    assert result.values.shape == (0, 2)
    result = ops.mean_over_properties_block(
        TensorBlock(np.zeros((2, 0)), Labels.range("s", 2), [], Labels.empty(["l", "n"])), "n"
    )
    assert result.properties == Labels.empty(["l"]) and result.values.shape == (2, 0)


def test_reduce_all_samples_gives_single_row():
    tensor = build_map()
    result = ops.sum_over_samples(tensor, ["system", "atom"])
    for key, block in result:
        assert block.samples == Labels.single()
        np.testing.assert_allclose(block.values[0], tensor.block(key).values.sum(axis=0))
        assert set(block.gradient("positions").samples["sample"].tolist()) == {0}


def test_errors():
    tensor = build_map()
    with pytest.raises(ValueError, match=r"`sample_names` in 'sum_over_samples' contains "
                                         r"'frame' which is not one of the sample names "
                                         r"\['system', 'atom'\]"):
        ops.sum_over_samples(tensor, "frame")
    with pytest.raises(ValueError, match="`property_names` in 'var_over_properties' contains"):
        ops.var_over_properties(tensor, ["n", "l"])
    with pytest.raises(TypeError, match="`sample_names` in 'mean_over_samples' must be a "
                                        "string or a list of strings"):
        ops.mean_over_samples(tensor, 3)
    with pytest.raises(TypeError, match="`tensor` in 'std_over_samples' must be a TensorMap"):
        ops.std_over_samples(tensor.block(0), "atom")
    with pytest.raises(TypeError, match="`block` in 'sum_over_samples_block' must be a "
                                        "TensorBlock"):
        ops.sum_over_samples_block(tensor, "atom")


# =============================================================================== properties
@st.composite
def grouped_blocks(draw):
    """A block with samples (system, atom) in random order and random values."""
    n_rows = draw(st.integers(1, 12))
    rows = draw(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5)), min_size=n_rows,
                         max_size=n_rows, unique=True))
    n_properties = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    values = np.random.default_rng(seed).normal(size=(n_rows, 2, n_properties))
    return TensorBlock(values, Labels(["system", "atom"], np.array(rows)),
                       [Labels.range("c", 2)], Labels.range("n", n_properties))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grouped_blocks(), st.sampled_from(REDUCTIONS), st.sampled_from(["numpy", "torch"]))
def test_matches_grouped_numpy(block, reduction, arrays):
    tensor = TensorMap(Labels.range("key", 1), [block]).to(arrays=arrays)
    result = getattr(ops, f"{reduction}_over_samples")(tensor, "atom").block()
    systems = block.samples["system"]
    unique = np.unique(systems)
    assert result.samples == Labels("system", unique.reshape(-1, 1))
    numpy_reduction = {"sum": np.sum, "mean": np.mean, "var": np.var, "std": np.std}[reduction]
    for row, system in enumerate(unique):
        expected = numpy_reduction(block.values[systems == system], axis=0)
        np.testing.assert_allclose(_numpy(result.values[row]), expected, atol=1e-12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grouped_blocks())
def test_sum_over_samples_then_properties_commute(block):
    tensor = TensorMap(Labels.range("key", 1), [block])
    first = ops.sum_over_properties(ops.sum_over_samples(tensor, "atom"), "n")
    second = ops.sum_over_samples(ops.sum_over_properties(tensor, "n"), "atom")
    ops.allclose_raise(first, second, rtol=1e-12, atol=1e-12)
