import pickle

import numpy as np
import pytest
import torch

from blocktensor import Labels, TensorBlock


def make_block(values=None, backend="numpy"):
    if values is None:
        values = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    if backend == "torch":
        values = torch.as_tensor(values)
    return TensorBlock(
        values=values,
        samples=Labels(["system", "atom"], [[0, 0], [0, 1]]),
        components=[Labels.range("o3_mu", 3)],
        properties=Labels.range("n", 4),
    )


def make_gradient(values=None, samples=((0, 0, 0), (1, 0, 1)), backend="numpy"):
    if values is None:
        values = np.ones((len(samples), 3, 3, 4))
    if backend == "torch":
        values = torch.as_tensor(values)
    return TensorBlock(
        values=values,
        samples=Labels(["sample", "system", "atom"], np.array(samples).reshape(-1, 3)),
        components=[Labels.range("xyz", 3), Labels.range("o3_mu", 3)],
        properties=Labels.range("n", 4),
    )


def test_construction():
    block = make_block()
    assert block.shape == (2, 3, 4)
    assert block.samples.names == ["system", "atom"]
    assert block.components[0].names == ["o3_mu"]
    assert block.properties.names == ["n"]
    assert block.dtype == np.float64
    assert block.device == "cpu"


def test_shape_mismatch_shows_both_shapes():
    with pytest.raises(ValueError, match=r"shape \(2, 3, 5\).*expected \(2, 3, 4\)"):
        make_block(np.zeros((2, 3, 5)))


def test_bad_metadata():
    with pytest.raises(TypeError, match="`values`"):
        TensorBlock([[1.0]], Labels.single(), [], Labels.single())
    with pytest.raises(TypeError, match="`samples`"):
        TensorBlock(np.zeros((1, 1)), [[0]], [], Labels.single())
    with pytest.raises(ValueError, match="single dimension"):
        TensorBlock(np.zeros((1, 1, 1)), Labels.single(), [Labels(["a", "b"], [[0, 0]])],
                    Labels.single())
    with pytest.raises(ValueError, match="unique"):
        TensorBlock(np.zeros((1, 1, 1, 1)), Labels.single(),
                    [Labels.range("a", 1), Labels.range("a", 1)], Labels.single())


def test_gradients():
    block = make_block()
    gradient = make_gradient()
    block.add_gradient("positions", gradient)
    assert block.gradients_list() == ["positions"]
    assert block.gradient("positions") is gradient
    assert [p for p, _ in block.gradients()] == ["positions"]
    with pytest.raises(ValueError, match="no gradient with respect to 'strain'"):
        block.gradient("strain")
    with pytest.raises(ValueError, match="already has a gradient"):
        block.add_gradient("positions", make_gradient())
    with pytest.raises(ValueError, match="no gradients of gradients"):
        gradient.add_gradient("positions", make_gradient())


def test_gradient_validation():
    block = make_block()
    with pytest.raises(ValueError, match="'sample' value 2.*not a row"):
        block.add_gradient("positions", make_gradient(samples=((2, 0, 0),)))
    bad_samples = TensorBlock(
        np.ones((1, 3, 3, 4)), Labels(["system", "atom"], [[0, 0]]),
        [Labels.range("xyz", 3), Labels.range("o3_mu", 3)], Labels.range("n", 4),
    )
    with pytest.raises(ValueError, match="must be 'sample'"):
        block.add_gradient("positions", bad_samples)
    bad_components = TensorBlock(
        np.ones((1, 3, 4)), Labels(["sample"], [[0]]), [Labels.range("xyz", 3)],
        Labels.range("n", 4),
    )
    with pytest.raises(ValueError, match="must end with the components"):
        block.add_gradient("positions", bad_components)
    bad_properties = TensorBlock(
        np.ones((1, 3, 3, 2)), Labels(["sample"], [[0]]),
        [Labels.range("xyz", 3), Labels.range("o3_mu", 3)], Labels.range("n", 2),
    )
    with pytest.raises(ValueError, match="properties"):
        block.add_gradient("positions", bad_properties)
    with pytest.raises(TypeError, match="uses torch arrays but the block uses numpy"):
        block.add_gradient("positions", make_gradient(backend="torch"))
    with pytest.raises(TypeError, match="dtype"):
        block.add_gradient("positions", make_gradient(values=np.ones((2, 3, 3, 4), np.float32)))


def test_copy_is_deep():
    block = make_block()
    block.add_gradient("positions", make_gradient())
    copy = block.copy()
    copy.values[0, 0, 0] = 100.0
    copy.gradient("positions").values[0, 0, 0, 0] = 100.0
    assert block.values[0, 0, 0] == 0.0
    assert block.gradient("positions").values[0, 0, 0, 0] == 1.0


def test_to_and_back(device):
    block = make_block()
    block.add_gradient("positions", make_gradient())
    converted = block.to(arrays="torch", device=device, dtype=torch.float32)
    assert isinstance(converted.values, torch.Tensor)
    assert converted.values.device.type == device
    assert converted.gradient("positions").values.dtype == torch.float32
    back = converted.to(arrays="numpy")
    assert back.values.dtype == np.float32
    np.testing.assert_allclose(back.values, block.values)
    np.testing.assert_allclose(back.gradient("positions").values,
                               block.gradient("positions").values)
    with pytest.raises(ValueError, match="arrays"):
        block.to(arrays="jax")


def test_pickle_and_torch_save(tmp_path):
    block = make_block(backend="torch")
    block.add_gradient("positions", make_gradient(backend="torch"))
    restored = pickle.loads(pickle.dumps(block))
    assert torch.equal(restored.values, block.values)
    assert restored.gradient("positions").samples == block.gradient("positions").samples
    torch.save(block, tmp_path / "block.pt")
    loaded = torch.load(tmp_path / "block.pt", weights_only=False)
    assert torch.equal(loaded.gradient("positions").values, block.gradient("positions").values)


def test_repr():
    block = make_block()
    block.add_gradient("positions", make_gradient())
    text = repr(block)
    assert "samples (2): ['system', 'atom']" in text
    assert "properties (4): ['n']" in text
    assert "'positions'" in text
