import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from blocktensor import Labels, TensorBlock, TensorMap


def block(samples, properties, value, components=(), with_gradient=False, backend="numpy"):
    samples = np.array(samples).reshape(len(samples), -1)
    shape = (len(samples), *[len(c) for c in components], len(properties))
    values = np.full(shape, float(value))
    values += np.arange(values.size).reshape(shape) * 0.01
    if backend == "torch":
        values = torch.tensor(values)
    result = TensorBlock(
        values, Labels(["system", "atom"][: samples.shape[1]], samples), list(components),
        Labels(["p"], np.array(properties).reshape(-1, 1)),
    )
    if with_gradient:
        gradient_samples = np.array([[i, 0, i % 2] for i in range(len(samples))])
        gradient_values = np.arange(len(samples) * 3 * np.prod(shape[1:])).reshape(
            len(samples), 3, *shape[1:]) * 1.0 + value
        if backend == "torch":
            gradient_values = torch.tensor(gradient_values)
        result.add_gradient("positions", TensorBlock(
            gradient_values, Labels(["sample", "system", "atom"], gradient_samples),
            [Labels.range("xyz", 3)] + list(components), result.properties,
        ))
    return result


def example(with_gradient=False, backend="numpy"):
    keys = Labels(["k", "t"], [[0, 5], [0, 2], [1, 2]])
    return TensorMap(keys, [
        block([[0, 3], [0, 1]], [0, 1], 1, with_gradient=with_gradient, backend=backend),
        block([[0, 2], [0, 1]], [0, 1], 2, with_gradient=with_gradient, backend=backend),
        block([[1, 0]], [0, 1], 3, with_gradient=with_gradient, backend=backend),
    ])


def test_access():
    tensor = example()
    assert len(tensor) == 3
    assert tensor.sample_names == ["system", "atom"]
    assert tensor.property_names == ["p"]
    assert tensor.component_names == []
    assert tensor.block(1) is tensor.block_by_id(1)
    assert tensor.block(k=1) is tensor.block_by_id(2)
    assert tensor.block({"k": 0, "t": 2}) is tensor.block_by_id(1)
    assert tensor.block(tensor.keys[0]) is tensor.block_by_id(0)
    assert tensor.blocks_matching(Labels(["t"], [[2]])) == [1, 2]
    assert tensor.blocks(t=2) == [tensor.block_by_id(1), tensor.block_by_id(2)]
    assert tensor.blocks([2, 0]) == [tensor.block_by_id(2), tensor.block_by_id(0)]
    assert len(tensor.blocks()) == 3
    assert [tuple(k) for k, _ in tensor] == [(0, 5), (0, 2), (1, 2)]
    with pytest.raises(ValueError, match="2 blocks match"):
        tensor.block(k=0)
    with pytest.raises(ValueError, match="no block matches"):
        tensor.block(k=7)
    with pytest.raises(ValueError, match="there are 3 blocks"):
        tensor.block()
    with pytest.raises(IndexError, match="out of range"):
        tensor.block(5)


def test_validation_names_the_key():
    keys = Labels(["k"], [[0], [1]])
    good = block([[0, 0]], [0], 1)
    other_samples = TensorBlock(np.zeros((1, 1)), Labels(["structure"], [[0]]), [],
                                Labels(["p"], [[0]]))
    with pytest.raises(ValueError, match=r"key \(k=1\) has sample names \['structure'\]"):
        TensorMap(keys, [good, other_samples])
    other_properties = TensorBlock(np.zeros((1, 1)), good.samples, [], Labels(["q"], [[0]]))
    with pytest.raises(ValueError, match=r"key \(k=1\) has property names"):
        TensorMap(keys, [good, other_properties])
    with pytest.raises(TypeError, match=r"key \(k=1\) uses torch"):
        TensorMap(keys, [good, block([[0, 0]], [0], 1, backend="torch")])
    with pytest.raises(ValueError, match=r"key \(k=1\) has gradients"):
        TensorMap(keys, [good, block([[0, 0]], [0], 1, with_gradient=True)])
    with pytest.raises(ValueError, match="2 entries but 1 blocks"):
        TensorMap(keys, [good])
    with pytest.raises(TypeError, match=r"`blocks\[0\]`"):
        TensorMap(Labels.single(), [np.zeros(3)])


def test_keys_to_properties_matches_metatensor_semantics():
    # expected values produced by metatensor-core 0.2.6 on the same input
    tensor = example()
    moved = tensor.keys_to_properties("t")
    assert moved.keys == Labels(["k"], [[0], [1]])
    first = moved.block(0)
    assert first.samples.values.tolist() == [[0, 1], [0, 2], [0, 3]]
    assert first.properties.names == ["t", "p"]
    assert first.properties.values.tolist() == [[5, 0], [5, 1], [2, 0], [2, 1]]
    np.testing.assert_allclose(first.values, [
        [1.02, 1.03, 2.02, 2.03], [0, 0, 2.0, 2.01], [1.0, 1.01, 0, 0]])
    assert moved.block(1).properties.values.tolist() == [[2, 0], [2, 1]]

    unsorted = tensor.keys_to_properties("t", sort_samples=False)
    assert unsorted.block(0).samples.values.tolist() == [[0, 3], [0, 1], [0, 2]]

    explicit = tensor.keys_to_properties(Labels(["t"], [[2], [5], [7]]))
    assert explicit.block(1).properties.values.tolist() == [
        [2, 0], [2, 1], [5, 0], [5, 1], [7, 0], [7, 1]]
    np.testing.assert_allclose(explicit.block(1).values, [[3.0, 3.01, 0, 0, 0, 0]])


def test_keys_to_samples_matches_metatensor_semantics():
    tensor = example()
    moved = tensor.keys_to_samples("t")
    first = moved.block(0)
    assert first.samples.names == ["system", "atom", "t"]
    assert first.samples.values.tolist() == [[0, 1, 2], [0, 1, 5], [0, 2, 2], [0, 3, 5]]
    np.testing.assert_allclose(first.values[:, 0], [2.02, 1.02, 2.0, 1.0])
    unsorted = tensor.keys_to_samples("t", sort_samples=False)
    assert unsorted.block(0).samples.values.tolist() == [
        [0, 3, 5], [0, 1, 5], [0, 2, 2], [0, 1, 2]]
    everything = tensor.keys_to_samples(["k", "t"])
    assert everything.keys == Labels.single()
    assert len(everything.block().samples) == 5


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_key_moves_carry_gradients(backend):
    tensor = example(with_gradient=True, backend=backend)
    for moved in [tensor.keys_to_properties("t"), tensor.keys_to_samples("t"),
                  tensor.keys_to_properties("t", sort_samples=False),
                  tensor.keys_to_samples("t", sort_samples=False)]:
        for key, merged in moved.items():
            gradient = merged.gradient("positions")
            # every gradient row must equal the gradient row of the original block that
            # produced the same (sample, property) value
            for old_key, old in tensor.items():
                if old_key["k"] != key["k"]:
                    continue
                old_gradient = old.gradient("positions")
                for row, sample in enumerate(old_gradient.samples.values):
                    parent = old.samples.values[sample[0]]
                    if "t" in merged.samples.names:
                        parent = np.append(parent, old_key["t"])
                        columns = np.arange(len(merged.properties))
                    else:
                        columns = merged.properties.select(Labels(["t"], [[old_key["t"]]]))
                    new_parent = merged.samples.position(parent)
                    new_row = gradient.samples.position((new_parent, *sample[1:]))
                    assert new_row is not None
                    np.testing.assert_allclose(
                        np.asarray(gradient.values[new_row][..., columns]),
                        np.asarray(old_gradient.values[row]),
                    )


def test_keys_to_properties_autograd():
    tensor = example(backend="torch")
    leaf = tensor.block(0).values.clone().requires_grad_(True)
    blocks = [TensorBlock(leaf, tensor.block(0).samples, [], tensor.block(0).properties)]
    blocks += tensor.blocks()[1:]
    moved = TensorMap(tensor.keys, blocks).keys_to_properties("t")
    moved.block(0).values.sum().backward()
    assert torch.equal(leaf.grad, torch.ones_like(leaf))


def test_components_to_properties():
    components = [Labels.range("o3_mu", 3), Labels(["xyz"], [[0], [1]])]
    tensor = TensorMap(Labels.single(), [block([[0, 0], [0, 1]], [0, 1], 1, components)])
    moved = tensor.components_to_properties("o3_mu")
    result = moved.block()
    assert [c.names for c in result.components] == [["xyz"]]
    assert result.properties.names == ["o3_mu", "p"]
    assert result.properties.values.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1]]
    original = tensor.block().values
    for s in range(2):
        for m in range(3):
            for x in range(2):
                np.testing.assert_array_equal(result.values[s, x, 2 * m:2 * m + 2],
                                              original[s, m, x])
    with pytest.raises(ValueError, match="not a component"):
        tensor.components_to_properties("n")


def test_components_to_properties_gradients():
    components = [Labels.range("o3_mu", 3)]
    tensor = TensorMap(Labels.single(), [block([[0, 0]], [0, 1], 1, components, True)])
    moved = tensor.components_to_properties(["o3_mu"])
    gradient = moved.block().gradient("positions")
    assert [c.names[0] for c in gradient.components] == ["xyz"]
    original = tensor.block().gradient("positions").values
    np.testing.assert_array_equal(gradient.values, original.reshape(1, 3, 6))


@given(st.integers(1, 4), st.integers(1, 3), st.integers(0, 5))
@settings(max_examples=25, deadline=None)
def test_keys_to_samples_round_trip(n_types, n_properties, seed):
    rng = np.random.default_rng(seed)
    blocks = []
    for t in range(n_types):
        n = int(rng.integers(1, 5))
        samples = np.stack([np.zeros(n, int), rng.choice(20, n, replace=False)], axis=1)
        blocks.append(TensorBlock(rng.random((n, n_properties)), Labels(["system", "atom"], samples),
                                  [], Labels.range("p", n_properties)))
    tensor = TensorMap(Labels(["t"], np.arange(n_types).reshape(-1, 1)), blocks)
    merged = tensor.keys_to_samples("t").block()
    for t in range(n_types):
        rows = merged.samples.select(Labels(["t"], [[t]]))
        original = tensor.block(t=t)
        order = np.lexsort(original.samples.values.T[::-1])
        np.testing.assert_array_equal(merged.values[rows], original.values[order])


def test_to_copy_pickle_and_repr(tmp_path, device):
    tensor = example(with_gradient=True)
    tensor.set_info("units", "eV")
    converted = tensor.to(arrays="torch", device=device)
    assert converted.device.type == device
    assert converted.info() == {"units": "eV"}
    restored = pickle.loads(pickle.dumps(tensor))
    np.testing.assert_array_equal(restored.block(2).values, tensor.block(2).values)
    assert restored.info() == {"units": "eV"}
    torch.save(converted.to(device="cpu"), tmp_path / "t.pt")
    loaded = torch.load(tmp_path / "t.pt", weights_only=False)
    assert torch.equal(loaded.block(0).gradient("positions").values,
                       converted.block(0).gradient("positions").values.cpu())
    copy = tensor.copy()
    copy.block(0).values[:] = 0
    assert tensor.block(0).values[0, 0] != 0
    assert "TensorMap with 3 blocks" in repr(tensor)
    assert "(k=0, t=5): (2, 2)" in str(tensor)
    with pytest.raises(TypeError, match="string"):
        tensor.set_info("units", 3)
