"""``selected_samples`` given block by block (a TensorMap, as featomic accepts)."""

import ase.build
import numpy as np
import pytest

from blocktensor import Labels, TensorBlock, TensorMap
from blocktensor.operations import slice_block
from blocktensor.testing import assert_tensor_maps_equal
from calculators import SoapPowerSpectrum, SphericalExpansion

HYPERS = {
    "cutoff": {"radius": 3.5, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
    "density": {"type": "Gaussian", "width": 0.3},
    "basis": {"type": "TensorProduct", "max_angular": 2,
              "radial": {"type": "Gto", "max_radial": 3}},
}


def _systems():
    methanol = ase.build.molecule("CH3OH")
    crystal = ase.build.bulk("NaCl", "rocksalt", a=5.0) * (2, 1, 1)
    crystal.rattle(0.05, seed=1)
    return [methanol, crystal]


def _random_selection(tensor, seed):
    """A selection TensorMap keeping a random half of every block's samples (at least one,
    in shuffled order, plus a sample that is in no block)."""
    rng = np.random.default_rng(seed)
    blocks = []
    for block in tensor.blocks():
        samples = block.samples.values
        kept = rng.permutation(len(samples))[: max(1, len(samples) // 2)]
        values = np.concatenate([samples[kept], [[7, 0]]], axis=0)
        blocks.append(TensorBlock(np.zeros((len(values), 1)),
                                  Labels(block.samples.names, values), [],
                                  Labels.range("_", 1)))
    # keys in another order than the output's
    order = rng.permutation(len(tensor.keys))
    keys = Labels(tensor.keys.names, tensor.keys.values[order])
    return TensorMap(keys, [blocks[i] for i in order])


@pytest.mark.parametrize("calculator_class", [SphericalExpansion, SoapPowerSpectrum])
def test_per_block_selection_equals_the_sliced_full_output(calculator_class):
    calculator = calculator_class(**HYPERS)
    systems = _systems()
    gradients = ["positions", "strain"]
    full = calculator.compute(systems, gradients=gradients)
    selection = _random_selection(full, seed=5)
    selected = calculator.compute(systems, gradients=gradients, selected_samples=selection)
    expected_blocks = []
    for key, block in full.items():
        wanted = selection.block(key).samples
        expected_blocks.append(slice_block(block, "samples", wanted))
        # the selection is honoured: only selected samples, no others
        assert len(selected.block(key).samples) < len(block.samples) or len(block.samples) < 2
    assert_tensor_maps_equal(selected, TensorMap(full.keys, expected_blocks))


def test_per_block_selection_errors():
    calculator = SoapPowerSpectrum(**HYPERS)
    systems = _systems()
    full = calculator.compute(systems)
    selection = _random_selection(full, seed=2)
    missing = TensorMap(
        Labels(selection.keys.names, selection.keys.values[1:]),
        [block.copy() for block in list(selection.blocks())[1:]],
    )
    with pytest.raises(ValueError, match="has no selection block"):
        calculator.compute(systems, selected_samples=missing)
    extra = TensorMap(
        Labels(selection.keys.names,
               np.concatenate([selection.keys.values, [[99, 99, 99]]], axis=0)),
        [block.copy() for block in selection.blocks()] + [selection.block_by_id(0).copy()],
    )
    with pytest.raises(ValueError, match="is not an output key"):
        calculator.compute(systems, selected_samples=extra)
    renamed = TensorMap(Labels(["a", "b", "c"], selection.keys.values),
                        [block.copy() for block in selection.blocks()])
    with pytest.raises(ValueError, match="must have the keys of the output"):
        calculator.compute(systems, selected_samples=renamed)


@pytest.mark.parametrize("calculator_class, selection", [
    (SphericalExpansion, Labels(["n"], [[2], [0]])),
    (SoapPowerSpectrum, Labels(["l", "n_1"], [[1, 0], [2, 2], [0, 1]])),
])
def test_selected_properties_as_labels(calculator_class, selection):
    calculator = calculator_class(**HYPERS)
    systems = _systems()
    full = calculator.compute(systems, gradients=["positions", "cell"])
    selected = calculator.compute(systems, gradients=["positions", "cell"],
                                  selected_properties=selection)
    expected = TensorMap(full.keys, [slice_block(block, "properties", selection)
                                     for block in full.blocks()])
    assert_tensor_maps_equal(selected, expected)
    for block in selected.blocks():
        assert 0 < len(block.properties) < len(full.block(0).properties)


def test_selected_properties_per_block_and_errors():
    calculator = SoapPowerSpectrum(**HYPERS)
    systems = _systems()
    full = calculator.compute(systems)
    rng = np.random.default_rng(11)
    blocks = []
    for block in full.blocks():
        kept = rng.permutation(len(block.properties))[:5]
        blocks.append(TensorBlock(np.zeros((1, 5)), Labels.range("_", 1), [],
                                  Labels(block.properties.names,
                                         block.properties.values[kept])))
    selection = TensorMap(full.keys, blocks)
    selected = calculator.compute(systems, selected_properties=selection)
    for key, block in selected.items():
        wanted = selection.block(key).properties
        assert block.properties == slice_block(full.block(key), "properties",
                                               wanted).properties
        assert len(block.properties) == 5
    with pytest.raises(ValueError, match="`selected_properties` may only use the property"):
        calculator.compute(systems, selected_properties=Labels(["n"], [[0]]))
    with pytest.raises(TypeError, match="`selected_properties` must be Labels or a TensorMap"):
        calculator.compute(systems, selected_properties=[0, 1])


def test_pair_expansion_selections():
    from calculators import SphericalExpansionByPair

    calculator = SphericalExpansionByPair(**HYPERS)
    systems = _systems()
    full = calculator.compute(systems, gradients=["positions"])
    blocks = []
    for block in full.blocks():
        samples = block.samples.values[::3]
        blocks.append(TensorBlock(np.zeros((len(samples), 1)),
                                  Labels(block.samples.names, samples), [],
                                  Labels.range("_", 1)))
    selection = TensorMap(full.keys, blocks)
    properties = Labels(["n"], [[1]])
    selected = calculator.compute(systems, gradients=["positions"],
                                  selected_samples=selection, selected_properties=properties)
    expected = []
    for key, block in full.items():
        block = slice_block(block, "samples", selection.block(key).samples)
        expected.append(slice_block(block, "properties", properties))
    assert_tensor_maps_equal(selected, TensorMap(full.keys, expected))
