import io
import os
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import blocktensor
from blocktensor import Labels, TensorBlock, TensorMap

from ..conftest import DATA

METATENSOR = os.path.join(DATA, "metatensor")
TENSOR_FILES = ["tensor_gradients", "tensor_float32", "tensor_int32", "tensor_int64",
                "tensor_empty_blocks", "tensor_info", "tensor_zero_keys",
                "featomic_spherical_expansion"]


def rows(array, n_rows, n_columns):
    return np.asarray(array).reshape(n_rows, n_columns)


def check_block_against(block, expected, prefix):
    assert block.values.dtype == expected[prefix + "values"].dtype
    np.testing.assert_array_equal(block.values, expected[prefix + "values"])
    assert block.samples.names == list(expected[prefix + "samples.names"])
    np.testing.assert_array_equal(block.samples.values,
                                  rows(expected[prefix + "samples.values"], len(block.samples),
                                       len(block.samples.names)))
    assert len(block.components) == int(expected[prefix + "n_components"])
    for k, component in enumerate(block.components):
        assert component.names == list(expected[f"{prefix}components/{k}.names"])
        np.testing.assert_array_equal(component.values[:, 0],
                                      expected[f"{prefix}components/{k}.values"].reshape(-1))
    if prefix + "properties.names" in expected:
        assert block.properties.names == list(expected[prefix + "properties.names"])
        np.testing.assert_array_equal(
            block.properties.values,
            rows(expected[prefix + "properties.values"], len(block.properties),
                 len(block.properties.names)))
    parameters = [str(p) for p in expected[prefix + "gradients"]] \
        if prefix + "gradients" in expected else []
    assert sorted(block.gradients_list()) == sorted(parameters)
    for parameter in parameters:
        check_block_against(block.gradient(parameter), expected,
                            f"{prefix}gradients/{parameter}/")


@pytest.mark.parametrize("name", TENSOR_FILES)
def test_load_metatensor_written_files(name):
    tensor = blocktensor.load(os.path.join(METATENSOR, f"{name}.mts"))
    expected = np.load(os.path.join(METATENSOR, f"expected_{name}.npz"))
    assert tensor.keys.names == list(expected["keys.names"])
    np.testing.assert_array_equal(tensor.keys.values,
                                  rows(expected["keys.values"], len(tensor.keys), len(tensor.keys.names)))
    assert len(tensor) == int(expected["n_blocks"])
    for i, block in enumerate(tensor.blocks()):
        check_block_against(block, expected, f"blocks/{i}/")
    if "info" in expected:
        import json
        assert tensor.info() == json.loads(str(expected["info"]))


def test_load_numpy_writer_variant():
    native = blocktensor.load(os.path.join(METATENSOR, "tensor_gradients.mts"))
    other = blocktensor.load(os.path.join(METATENSOR, "tensor_gradients_numpy_writer.mts"))
    assert blocktensor.save_buffer(native) == blocktensor.save_buffer(other)


def test_load_block_and_labels():
    block = blocktensor.load_block(os.path.join(METATENSOR, "block.mts"))
    expected = np.load(os.path.join(METATENSOR, "expected_block.npz"))
    check_block_against(block, expected, "")
    labels = blocktensor.load_labels(os.path.join(METATENSOR, "labels.mts"))
    expected = np.load(os.path.join(METATENSOR, "expected_labels.npz"))
    assert labels.names == list(expected["labels.names"])
    np.testing.assert_array_equal(labels.values, rows(expected["labels.values"], len(labels), len(labels.names)))
    empty = blocktensor.load_labels(os.path.join(METATENSOR, "labels_empty.mts"))
    assert len(empty) == 0 and empty.names == list(expected["labels_empty.names"])


@pytest.mark.parametrize("name", TENSOR_FILES)
def test_written_archives_have_metatensor_layout(name, tmp_path):
    source = os.path.join(METATENSOR, f"{name}.mts")
    tensor = blocktensor.load(source)
    target = tmp_path / "copy.mts"
    blocktensor.save(target, tensor)
    with zipfile.ZipFile(source) as theirs, zipfile.ZipFile(target) as ours:
        assert [i.filename for i in ours.infolist()] == [i.filename for i in theirs.infolist()]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in ours.infolist())
        for member in theirs.namelist():
            if member.endswith(".npy"):
                a = np.load(io.BytesIO(theirs.read(member)))
                b = np.load(io.BytesIO(ours.read(member)))
                assert a.dtype == b.dtype and np.array_equal(a, b), member


def test_metatensor_reads_our_files(tmp_path):
    metatensor = pytest.importorskip("metatensor")
    tensor = blocktensor.load(os.path.join(METATENSOR, "tensor_gradients.mts"))
    blocktensor.save(tmp_path / "ours.mts", tensor)
    theirs = metatensor.load(str(tmp_path / "ours.mts"))
    reference = metatensor.load(os.path.join(METATENSOR, "tensor_gradients.mts"))
    assert metatensor.equal(theirs, reference)


def random_tensor(seed, dtype=np.float64, backend="numpy"):
    rng = np.random.default_rng(seed)
    n_blocks = int(rng.integers(0, 4))
    keys = Labels(["k"], np.arange(n_blocks).reshape(-1, 1))
    blocks = []
    for _ in range(n_blocks):
        n_samples = int(rng.integers(0, 5))
        samples = Labels(["system", "atom"], np.stack(
            [np.zeros(n_samples, int), np.arange(n_samples)], axis=1))
        component = Labels.range("o3_mu", 3)
        properties = Labels.range("n", 2)
        values = rng.normal(size=(n_samples, 3, 2)).astype(dtype)
        block = TensorBlock(values, samples, [component], properties)
        n_gradient = int(rng.integers(0, 3)) if n_samples else 0
        gradient_samples = np.stack([rng.integers(0, max(n_samples, 1), n_gradient),
                                     np.zeros(n_gradient, int), np.arange(n_gradient)], axis=1)
        block.add_gradient("positions", TensorBlock(
            rng.normal(size=(n_gradient, 3, 3, 2)).astype(dtype),
            Labels(["sample", "system", "atom"], gradient_samples),
            [Labels.range("xyz", 3), component], properties))
        blocks.append(block)
    tensor = TensorMap(keys, blocks)
    return tensor.to(arrays="torch") if backend == "torch" else tensor


def assert_same(a, b):
    assert a.keys == b.keys
    for block_a, block_b in zip(a.blocks(), b.blocks()):
        for x, y in [(block_a, block_b)] + [
            (block_a.gradient(p), block_b.gradient(p)) for p in block_a.gradients_list()
        ]:
            assert x.samples == y.samples and x.properties == y.properties
            assert x.components == y.components
            assert x.values.dtype == y.values.dtype
            np.testing.assert_array_equal(np.asarray(x.values), np.asarray(y.values))


@given(st.integers(0, 10_000), st.sampled_from([np.float64, np.float32, np.int32]))
@settings(max_examples=40, deadline=None)
def test_round_trip(seed, dtype):
    tensor = random_tensor(seed, dtype)
    assert_same(blocktensor.load_buffer(blocktensor.save_buffer(tensor)), tensor)


def test_torch_round_trip(tmp_path, device):
    tensor = random_tensor(3, np.float32).to(arrays="torch", device=device)
    blocktensor.save(tmp_path / "t.mts", tensor)
    loaded = blocktensor.load(tmp_path / "t.mts", arrays="torch", device=device)
    assert loaded.block(0).values.dtype == torch.float32
    assert loaded.device.type == device
    assert_same(loaded.to(arrays="numpy"), tensor.to(arrays="numpy"))


def test_non_contiguous_values(tmp_path):
    base = np.arange(60.0).reshape(5, 3, 4)
    view = base[:, :, ::2]  # numpy view, not contiguous
    transposed = torch.arange(12.0).reshape(4, 3).T  # transposed torch tensor
    for values in [view, np.asfortranarray(base), transposed]:
        block = TensorBlock(values, Labels.range("s", values.shape[0]),
                            [Labels.range("c", values.shape[1])] if values.ndim == 3 else [],
                            Labels.range("p", values.shape[-1]))
        loaded = blocktensor.load_buffer(blocktensor.save_buffer(TensorMap(Labels.single(), [block])))
        np.testing.assert_array_equal(loaded.block().values, np.asarray(values))


def test_path_extensions_and_labels(tmp_path):
    tensor = random_tensor(1)
    blocktensor.save(tmp_path / "plain", tensor)
    assert os.path.exists(tmp_path / "plain.mts")
    blocktensor.save(tmp_path / "other.npz", tensor)
    assert os.path.exists(tmp_path / "other.npz")
    labels = Labels(["a", "b"], [[0, 1], [3, -4]])
    blocktensor.save(tmp_path / "labels", labels)
    assert blocktensor.load_labels(tmp_path / "labels.mts") == labels
    assert blocktensor.load_labels_buffer(blocktensor.save_buffer(labels)) == labels
    block = tensor.block(0) if len(tensor) else random_tensor(2).block(0)
    restored = blocktensor.load_block_buffer(blocktensor.save_buffer(block))
    assert restored.samples == block.samples
    with pytest.raises(TypeError, match="`data`"):
        blocktensor.save(tmp_path / "x", {"a": 1})
    with pytest.raises(FileNotFoundError):
        blocktensor.load(tmp_path / "missing.mts")
    with pytest.raises(ValueError, match="arrays"):
        blocktensor.load(tmp_path / "plain.mts", arrays="jax")


def corrupt(data, member, replacement):
    """Rewrite the archive ``data`` with ``member`` replaced (or removed if None)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            if info.filename != member:
                target.writestr(info.filename, source.read(info.filename))
            elif replacement is not None:
                target.writestr(info.filename, replacement(source.read(info.filename)))
    return out.getvalue()


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("member,replacement,message", [
    ("blocks/1/values.npy", None, "blocks/1/values.npy"),
    ("blocks/0/values.npy", lambda b: b[:-16], "blocks/0/values.npy: the npy header announces"),
    ("blocks/0/samples.npy", lambda b: npy(np.zeros((3, 2), np.float64)), "blocks/0/samples.npy"),
    ("blocks/0/values.npy", lambda b: npy(np.zeros((7, 3, 2))), "blocks/0/values.npy: inconsistent"),
    ("blocks/0/gradients/positions/samples.npy",
     lambda b: npy(np.array([(9, 0, 0)], dtype=[("sample", "<i4"), ("system", "<i4"), ("atom", "<i4")])),
     "gradients/positions"),
    ("keys.npy", lambda b: b"not a numpy file", "keys.npy"),
])
def test_corrupted_files_name_the_member(member, replacement, message):
    tensor = random_tensor(0)
    while len(tensor) < 2 or len(tensor.block(0).samples) < 2 or \
            len(tensor.block(0).gradient("positions").samples) == 0:
        tensor = random_tensor(np.random.randint(1000))
    data = corrupt(blocktensor.save_buffer(tensor), member, replacement)
    with pytest.raises(ValueError, match=message):
        blocktensor.load_buffer(data)


def test_truncated_archive(tmp_path):
    data = blocktensor.save_buffer(random_tensor(5))
    with pytest.raises(ValueError, match="not a valid archive"):
        blocktensor.load_buffer(data[: len(data) // 2])
    # a file cut inside the data of its last array member, with the directory rebuilt
    tensor = TensorMap(Labels.single(), [TensorBlock(
        np.arange(1000.0).reshape(100, 10), Labels.range("s", 100), [], Labels.range("p", 10))])
    blocktensor.save(tmp_path / "big.mts", tensor)
    raw = open(tmp_path / "big.mts", "rb").read()
    with zipfile.ZipFile(tmp_path / "big.mts") as archive:
        info = archive.getinfo("blocks/0/values.npy")
    # cut the file in the values data but keep a valid central directory at the end
    directory = raw[raw.rindex(b"PK\x01\x02", 0, len(raw)):]
    assert info.file_size > 200
    with pytest.raises(ValueError, match="not a valid archive|blocks/0"):
        blocktensor.load_buffer(raw[: info.header_offset + 100] + directory)


def test_large_member_count_and_zip64_directory():
    # more than 65535 members needs the zip64 end of central directory
    keys = Labels.range("k", 22000)
    block = TensorBlock(np.zeros((1, 1)), Labels.single(), [], Labels.single())
    tensor = TensorMap(keys, [block.copy() for _ in range(len(keys))])
    data = blocktensor.save_buffer(tensor)
    assert len(zipfile.ZipFile(io.BytesIO(data)).namelist()) > 65535
    assert len(blocktensor.load_buffer(data)) == 22000
