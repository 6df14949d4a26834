import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import blocktensor
from blocktensor import Labels, TensorBlock, TensorMap
from blocktensor.o3 import random_rotation, wigner_d_matrices
from blocktensor.o3.correlations import filter_redundant_keys
from blocktensor.o3.products import ClebschGordanProduct, cg_couple_arrays
from blocktensor.o3.rotate import check_equivariance
from blocktensor.operations import allclose_raise, rename_dimension

from .density_utils import cluster, density

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data", "clebsch_gordan_products")


def _renamed(tensor, suffix):
    tensor = rename_dimension(tensor, "keys", "neighbor_type", f"neighbor_{suffix}_type")
    return rename_dimension(tensor, "properties", "n", f"n_{suffix}")


def _pair(frames, **kwargs):
    base = density(frames, **kwargs)
    return _renamed(base, 1), _renamed(base, 2)


def _random_block(rng, o3_lambda, samples, property_name, n_properties=2):
    return TensorBlock(
        rng.normal(size=(len(samples), 2 * o3_lambda + 1, n_properties)),
        samples,
        [Labels("o3_mu", np.arange(-o3_lambda, o3_lambda + 1).reshape(-1, 1))],
        Labels.range(property_name, n_properties),
    )


def _random_map(rng, lambdas, property_name, samples=None, sigmas=None):
    samples = Labels.range("atom", 3) if samples is None else samples
    sigmas = [1] * len(lambdas) if sigmas is None else sigmas
    keys = Labels(["o3_lambda", "o3_sigma"], [[l, s] for l, s in zip(lambdas, sigmas)])
    return TensorMap(keys, [_random_block(rng, l, samples, property_name) for l in lambdas])


# --------------------------------------------------------------------------- references
def test_featomic_density_from_archive_matches_reference():
    """The density written by featomic, read back here, gives featomic's ν = 2 output."""
    source = blocktensor.load(os.path.join(DATA, "density.mts"))
    source = blocktensor.remove_gradients(source).keys_to_properties("neighbor_type")
    first = rename_dimension(rename_dimension(source, "properties", "n", "n_1"),
                             "properties", "neighbor_type", "neighbor_1_type")
    second = rename_dimension(rename_dimension(source, "properties", "n", "n_2"),
                              "properties", "neighbor_type", "neighbor_2_type")
    product = ClebschGordanProduct(max_angular=4, keys_filter=filter_redundant_keys)
    result = product.compute(first, second, "l_1", "l_2")
    reference = blocktensor.load(os.path.join(DATA, "density_correlations_nu2.mts"))
    assert result.keys == reference.keys
    allclose_raise(result, reference, rtol=0, atol=1e-10)


def test_key_and_property_layout():
    rng = np.random.default_rng(0)
    first = _random_map(rng, [0, 1, 2], "a")
    second = _random_map(rng, [1], "b", sigmas=[-1])
    result = ClebschGordanProduct(max_angular=None).compute(first, second, "x", "y")
    assert result.keys.names == ["o3_lambda", "o3_sigma", "x", "y"]
    expected = []
    for l1 in (0, 1, 2):
        for o3_lambda in range(abs(l1 - 1), l1 + 2):
            expected.append([o3_lambda, -((-1) ** (l1 + 1 + o3_lambda)), l1, 1])
    assert result.keys.values.tolist() == expected
    block = result.block(0)
    assert block.properties.names == ["a", "b"]
    assert block.properties.values.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert block.components[0].values[:, 0].tolist() == [-1, 0, 1]


def test_values_match_explicit_sum():
    rng = np.random.default_rng(1)
    first = _random_map(rng, [2], "a")
    second = _random_map(rng, [1], "b")
    result = ClebschGordanProduct(max_angular=3).compute(first, second, "l_1", "l_2")
    from blocktensor.o3 import clebsch_gordan

    a, b = first.block().values, second.block().values
    for key, block in result.items():
        o3_lambda = key["o3_lambda"]
        cg = clebsch_gordan(2, 1, o3_lambda) * (-1) ** (3 + o3_lambda)
        expected = np.einsum("xyz,sxa,syb->szab", cg, a, b).reshape(3, 2 * o3_lambda + 1, 4)
        np.testing.assert_allclose(block.values, expected, atol=1e-14)


def test_max_angular_selected_keys_and_filter():
    rng = np.random.default_rng(2)
    first = _random_map(rng, [0, 1, 2], "a")
    second = _random_map(rng, [0, 1, 2], "b")
    full = ClebschGordanProduct(max_angular=None).compute(first, second, "l_1", "l_2")
    capped = ClebschGordanProduct(max_angular=2).compute(first, second, "l_1", "l_2")
    assert capped.keys.column("o3_lambda").max() == 2
    assert len(capped.keys) == int(np.sum(full.keys.column("o3_lambda") <= 2))
    for key, block in capped.items():
        allclose_raise(
            TensorMap(Labels.single(), [block]),
            TensorMap(Labels.single(), [full.block(key).copy()]),
        )

    selection = Labels(["o3_lambda", "o3_sigma"], [[1, -1], [0, 1]])
    selected = ClebschGordanProduct(max_angular=None).compute(
        first, second, "l_1", "l_2", selected_keys=selection
    )
    assert set(map(tuple, selected.keys.values[:, :2].tolist())) == {(1, -1), (0, 1)}
    assert len(selected.keys) == len(full.keys.select(selection))

    calls = []

    def only_diagonal(keys):
        calls.append(len(keys))
        return np.nonzero(keys.column("l_1") == keys.column("l_2"))[0]

    filtered = ClebschGordanProduct(max_angular=None, keys_filter=only_diagonal).compute(
        first, second, "l_1", "l_2"
    )
    assert calls == [len(full.keys)]
    assert np.all(filtered.keys.column("l_1") == filtered.keys.column("l_2"))


def test_matched_and_product_keys():
    rng = np.random.default_rng(3)
    samples = Labels.range("atom", 2)

    def make(name, property_name):
        keys = Labels(["o3_lambda", "o3_sigma", "center_type", name],
                      [[0, 1, 1, 1], [0, 1, 1, 8], [0, 1, 8, 1]])
        return TensorMap(keys, [_random_block(rng, 0, samples, property_name) for _ in range(3)])

    result = ClebschGordanProduct(max_angular=None).compute(
        make("neighbor_1_type", "n_1"), make("neighbor_2_type", "n_2"), "l_1", "l_2"
    )
    assert result.keys.names == ["o3_lambda", "o3_sigma", "center_type", "neighbor_1_type",
                                 "l_1", "neighbor_2_type", "l_2"]
    # center_type is matched, the neighbour types are combined in full
    assert result.keys.values[:, [2, 3, 5]].tolist() == [
        [1, 1, 1], [1, 1, 8], [1, 8, 1], [1, 8, 8], [8, 1, 1]
    ]


def test_sample_matching_union_and_broadcast():
    rng = np.random.default_rng(4)
    block_1 = _random_block(rng, 1, Labels(["system", "atom"], [[0, 0], [0, 2]]), "a")
    block_2 = _random_block(rng, 1, Labels(["system", "atom"], [[0, 2], [1, 0]]), "b")
    keys = Labels(["o3_lambda", "o3_sigma"], [[1, 1]])
    product = ClebschGordanProduct(max_angular=0)
    result = product.compute(TensorMap(keys, [block_1]), TensorMap(keys, [block_2]), "x", "y")
    block = result.block()
    assert block.samples.values.tolist() == [[0, 0], [0, 2], [1, 0]]
    np.testing.assert_array_equal(block.values[[0, 2]], 0.0)
    expected = cg_couple_arrays(block_1.values[1:], block_2.values[:1], [0])[0]
    np.testing.assert_allclose(block.values[1:2], expected, atol=1e-15)

    # per-structure block broadcast onto per-atom samples
    per_system = _random_block(rng, 1, Labels(["system"], [[1], [0]]), "b")
    per_atom = _random_block(
        rng, 1, Labels(["system", "atom"], [[0, 0], [0, 1], [1, 0], [2, 0]]), "a"
    )
    result = product.compute(TensorMap(keys, [per_atom]), TensorMap(keys, [per_system]),
                             "x", "y").block()
    assert result.samples.values.tolist() == [[0, 0], [0, 1], [1, 0]]
    expected = cg_couple_arrays(per_atom.values[:3], per_system.values[[1, 1, 0]], [0])[0]
    np.testing.assert_allclose(result.values, expected, atol=1e-15)
    swapped = product.compute(TensorMap(keys, [per_system]), TensorMap(keys, [per_atom]),
                              "x", "y").block()
    assert swapped.samples == result.samples

    incompatible = _random_block(rng, 1, Labels(["structure"], [[0]]), "b")
    with pytest.raises(ValueError, match="subset"):
        product.compute(TensorMap(keys, [per_atom]), TensorMap(keys, [incompatible]), "x", "y")


def test_errors():
    rng = np.random.default_rng(5)
    first = _random_map(rng, [0, 1], "a")
    product = ClebschGordanProduct(max_angular=2)
    with pytest.raises(ValueError, match="property name 'a'"):
        product.compute(first, first, "x", "y")
    second = _random_map(rng, [0, 1], "b")
    with pytest.raises(ValueError, match="must differ"):
        product.compute(first, second, "x", "x")
    with pytest.raises(ValueError, match="already a key name"):
        product.compute(first, second, "o3_sigma", "y")
    with pytest.raises(TypeError, match="tensor_1"):
        product.compute(first.block(0), second, "x", "y")
    no_sigma = TensorMap(Labels(["o3_lambda"], [[0]]), [first.block(0).copy()])
    with pytest.raises(ValueError, match="o3_sigma"):
        product.compute(no_sigma, second, "x", "y")
    with pytest.raises(ValueError, match="max_angular"):
        ClebschGordanProduct(max_angular=-1)
    with pytest.raises(ValueError, match="selected_keys"):
        product.compute(first, second, "x", "y", selected_keys=Labels(["foo"], [[0]]))
    with pytest.raises(TypeError, match="numpy"):
        product.compute(first, second.to(arrays="torch"), "x", "y")


# --------------------------------------------------------------------------- symmetry
@settings(max_examples=25, deadline=None)
@given(
    l1=st.integers(0, 4),
    l2=st.integers(0, 4),
    seed=st.integers(0, 2**31),
    improper=st.booleans(),
)
def test_coupling_is_equivariant(l1, l2, seed, improper):
    rng = np.random.default_rng(seed)
    rotation = random_rotation(seed=rng, improper=improper)
    wigner = wigner_d_matrices(rotation, l1 + l2 + 1)
    a = rng.normal(size=(2, 2 * l1 + 1, 3))
    b = rng.normal(size=(2, 2 * l2 + 1, 2))
    lambdas = list(range(abs(l1 - l2), l1 + l2 + 1))
    coupled = cg_couple_arrays(a, b, lambdas)
    rotated = cg_couple_arrays(
        np.einsum("ij,sjp->sip", wigner[l1], a), np.einsum("ij,sjp->sip", wigner[l2], b),
        lambdas,
    )
    for o3_lambda, values, values_rotated in zip(lambdas, coupled, rotated):
        # a proper (σ = +1) product picks up (−1)^(l1+l2+λ) beyond D^λ under inversion
        parity = (-1) ** (l1 + l2 + o3_lambda) if improper else 1
        expected = parity * np.einsum("ij,sjp->sip", wigner[o3_lambda], values)
        np.testing.assert_allclose(values_rotated, expected, atol=1e-12)


def test_product_is_equivariant_with_gradients():
    product = ClebschGordanProduct(max_angular=4)

    def function(frames):
        first, second = _pair(frames, max_angular=2, n_radial=2)
        return product.compute(first, second, "l_1", "l_2")

    report = check_equivariance(function, [cluster(0), cluster(1, "OHH")], n_rotations=2,
                                atol=1e-12, rtol=1e-12)
    assert report, report.worst()
    assert any(key[1] == -1 for key in report.errors)  # pseudotensors are covered


# --------------------------------------------------------------------------- gradients
def _finite_difference_errors(parameter):
    """Largest |explicit gradient − central difference| (relative to the scale of the finite
    difference) over every block, and the number of entries compared."""
    atoms = cluster(3, "HOH")
    product = ClebschGordanProduct(max_angular=3)

    def evaluate(atoms, gradients):
        first, second = _pair([atoms], max_angular=2, n_radial=2, gradients=gradients)
        return product.compute(first, second, "l_1", "l_2")

    analytic = evaluate(atoms, (parameter,))
    step = 1e-5
    checked = 0
    worst = 0.0
    for a in range(3):
        if parameter == "positions":
            displacements = [(k, a, None) for k in range(len(atoms))]
        else:
            displacements = [(None, a, b) for b in range(3)]
        for atom, x, y in displacements:
            shifted = []
            for sign in (1.0, -1.0):
                moved = atoms.copy()
                if atom is not None:
                    moved.positions[atom, x] += sign * step
                else:
                    strain = np.eye(3)
                    strain[x, y] += sign * step
                    moved.positions = atoms.positions @ strain.T
                shifted.append(evaluate(moved, ()))
            for i, block in enumerate(analytic.blocks()):
                numeric = (shifted[0].block_by_id(i).values
                           - shifted[1].block_by_id(i).values) / (2 * step)
                gradient = block.gradient(parameter)
                expected = np.zeros_like(numeric)
                if atom is not None:
                    rows = gradient.samples.column("atom") == atom
                    expected[gradient.samples.column("sample")[rows]] = gradient.values[rows, x]
                else:
                    expected[gradient.samples.column("sample")] = gradient.values[:, x, y]
                error = np.abs(expected - numeric) / (2e-7 + 1e-6 * np.abs(numeric))
                worst = max(worst, float(error.max(initial=0.0)))
                checked += numeric.size
    return worst, checked


def test_position_gradients_match_finite_differences():
    worst, checked = _finite_difference_errors("positions")
    assert checked > 0
    assert worst <= 1.0, f"gradient off by {worst} × (2e-7 + 1e-6 |value|)"


def test_strain_gradients_match_finite_differences():
    worst, checked = _finite_difference_errors("strain")
    assert checked > 0
    assert worst <= 1.0, f"gradient off by {worst} × (2e-7 + 1e-6 |value|)"


def test_gradient_samples_are_merged():
    rng = np.random.default_rng(6)
    keys = Labels(["o3_lambda", "o3_sigma"], [[1, 1]])
    samples = Labels(["system", "atom"], [[0, 0], [0, 1]])
    maps = []
    for name, atoms in (("a", [[0, 0, 0], [1, 0, 1]]), ("b", [[0, 0, 2], [1, 0, 1]])):
        block = _random_block(rng, 1, samples, name)
        block.add_gradient("positions", TensorBlock(
            rng.normal(size=(2, 3, 3, 2)), Labels(["sample", "system", "atom"], atoms),
            [Labels.range("xyz", 3), block.components[0]], block.properties,
        ))
        maps.append(TensorMap(keys, [block]))
    result = ClebschGordanProduct(max_angular=2).compute(maps[0], maps[1], "x", "y")
    gradient = result.block(0).gradient("positions")
    assert gradient.samples.values.tolist() == [[0, 0, 0], [0, 0, 2], [1, 0, 1]]
    a, b = maps[0].block(), maps[1].block()
    ga, gb = a.gradient("positions").values, b.gradient("positions").values
    lambdas = [0, 1, 2]
    first = cg_couple_arrays(ga[0], b.values[0], lambdas)[0]
    second = cg_couple_arrays(a.values[0], gb[0], lambdas)[0]
    both = (cg_couple_arrays(ga[1], b.values[1], lambdas)[0]
            + cg_couple_arrays(a.values[1], gb[1], lambdas)[0])
    np.testing.assert_allclose(gradient.values, np.stack([first, second, both]), atol=1e-14)


def test_autograd_and_torch(device):
    rng = np.random.default_rng(7)
    first = _random_map(rng, [0, 1, 2], "a").to(arrays="torch", device=device)
    second = _random_map(rng, [1, 2], "b").to(arrays="torch", device=device)
    leaf = first.block(1).values.requires_grad_(True)
    product = ClebschGordanProduct(max_angular=3)
    result = product.compute(first, second, "l_1", "l_2")
    assert all(block.values.device.type == torch.device(device).type
               for block in result.blocks())
    total = sum((block.values ** 2).sum() for block in result.blocks())
    total.backward()
    assert leaf.grad is not None and torch.all(torch.isfinite(leaf.grad))

    numpy_result = product.compute(first.to(arrays="numpy"), second.to(arrays="numpy"),
                                   "l_1", "l_2")
    allclose_raise(blocktensor.detach(result).to(arrays="numpy"), numpy_result, atol=1e-13)

    small = _random_map(rng, [1], "b", samples=Labels.range("atom", 1)).to(
        arrays="torch", device=device)

    def through_product(values):
        block = TensorBlock(values, Labels.range("atom", 1), first.block(2).components,
                            first.block(2).properties)
        out = product.compute(TensorMap(first.keys[2:], [block]), small, "l_1", "l_2")
        return tuple(block.values for block in out.blocks())

    values = first.block(2).values[:1].detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(through_product, (values,))


def test_gradients_on_torch_match_numpy(device):
    frames = [cluster(0)]
    first, second = _pair(frames, max_angular=1, n_radial=2)
    product = ClebschGordanProduct(max_angular=2)
    expected = product.compute(first, second, "l_1", "l_2")
    first_t, second_t = _pair(frames, max_angular=1, n_radial=2, arrays="torch", device=device)
    result = product.compute(first_t, second_t, "l_1", "l_2")
    allclose_raise(result.to(arrays="numpy"), expected, atol=1e-13)
