"""Reading and writing Labels, TensorBlock and TensorMap in the metatensor archive format.

An archive is an uncompressed zip of ``.npy`` members. For a TensorMap: ``keys.npy``, then for
each block ``blocks/<i>/values.npy``, ``samples.npy``, ``components/<k>.npy``,
``properties.npy``, then its gradients under ``blocks/<i>/gradients/<parameter>/`` (values,
samples, components; the properties are the parent's), parameters sorted by name. A block
saved alone uses the same layout without the ``blocks/<i>/`` prefix. Labels are 1-D numpy
structured arrays with one little-endian int32 field per dimension; Labels saved alone are a
single ``.npy`` file. Files written by metatensor load here, and files written here load in
metatensor.
"""

import io as _io
import json
import os

import numpy as np

from . import _backend, _zip
from .block import TensorBlock
from .labels import Labels
from .tensor import TensorMap

# metatensor itself writes these extensions; both are zip archives
_EXTENSIONS = (".mts", ".npz")


_FileError = _zip.FileError


# ---------------------------------------------------------------------- labels <-> npy
def _labels_to_structured(labels):
    dtype = np.dtype([(name, "<i4") for name in labels.names])
    out = np.empty(len(labels), dtype=dtype)
    for i, name in enumerate(labels.names):
        out[name] = labels.values[:, i]
    return out


def _labels_from_structured(array, member):
    if not isinstance(array, np.ndarray) or array.dtype.names is None:
        raise _FileError(
            f"{member}: expected a structured array of int32 fields for Labels, got "
            f"{getattr(array, 'dtype', type(array))}"
        )
    if array.ndim != 1:
        raise _FileError(f"{member}: Labels must be a 1-D structured array, got shape {array.shape}")
    names = list(array.dtype.names)
    for name in names:
        field = array.dtype.fields[name][0]
        if field.kind not in "iu" or field.itemsize != 4:
            raise _FileError(
                f"{member}: the Labels dimension {name!r} has dtype {field}, expected int32"
            )
    values = np.empty((array.shape[0], len(names)), dtype=np.int32)
    for i, name in enumerate(names):
        values[:, i] = array[name]
    try:
        return Labels(names, values)
    except (ValueError, TypeError) as error:
        raise _FileError(f"{member}: invalid Labels: {error}") from None


# ---------------------------------------------------------------------- writing
def _as_numpy(values):
    if _backend.is_torch(values):
        import torch

        if values.dtype == torch.bfloat16:
            raise TypeError("bfloat16 values can not be saved: numpy has no bfloat16 dtype")
        return values.detach().cpu().numpy()
    return values


def _write_block(archive, prefix, block, is_gradient=False):
    archive.add_array(prefix + "values.npy", _as_numpy(block.values))
    archive.add_array(prefix + "samples.npy", _labels_to_structured(block.samples))
    for k, component in enumerate(block.components):
        archive.add_array(f"{prefix}components/{k}.npy", _labels_to_structured(component))
    if not is_gradient:
        archive.add_array(prefix + "properties.npy", _labels_to_structured(block.properties))
        for parameter in sorted(block.gradients_list()):
            _write_block(
                archive, f"{prefix}gradients/{parameter}/", block.gradient(parameter), True
            )


def _write(target, obj):
    if isinstance(obj, Labels):
        target.write(_zip.npy_header(_labels_to_structured(obj)))
        target.write(_labels_to_structured(obj).tobytes())
        return
    if not isinstance(obj, (TensorMap, TensorBlock)):
        raise TypeError(
            f"`data` must be a TensorMap, a TensorBlock or Labels, got {type(obj).__name__}"
        )
    archive = _zip.ZipWriter(target)
    try:
        if isinstance(obj, TensorMap):
            archive.add_array("keys.npy", _labels_to_structured(obj.keys))
            for i, block in enumerate(obj.blocks()):
                _write_block(archive, f"blocks/{i}/", block)
            info = obj.info()
            if info:
                archive.add_bytes("info.json", json.dumps(info, indent=2).encode("utf-8"))
        else:
            _write_block(archive, "", obj)
    finally:
        archive.close()


def save(path, data):
    """Save ``data`` (TensorMap, TensorBlock or Labels) to ``path``.

    TensorMaps and blocks are written as metatensor archives (``.mts`` is appended when the
    path has no ``.mts``/``.npz`` extension); Labels as the content of one ``.npy`` file (named
    ``.mts`` like metatensor does, unless the path ends in ``.npy``). Torch values are
    written through numpy with their dtype preserved. The file is written to a temporary name
    and moved in place, so a failed save never leaves a half-written file behind.

    >>> import os, tempfile, numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap, save, load
    >>> block = TensorBlock(np.arange(6.0).reshape(3, 2), Labels.range("atom", 3), [],
    ...                     Labels.range("n", 2))
    >>> tensor = TensorMap(Labels.single(), [block])
    >>> path = os.path.join(tempfile.mkdtemp(), "data.mts")
    >>> save(path, tensor)
    >>> load(path).block().values.tolist()
    [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a string or a path, got {type(path).__name__}")
    path = os.fspath(path)
    if isinstance(data, Labels):
        # metatensor names Labels files `.mts` too, although the content is a single `.npy`
        if not path.endswith((".mts", ".npy")):
            path += ".mts"
    elif isinstance(data, (TensorMap, TensorBlock)):
        if not path.endswith(_EXTENSIONS):
            path += ".mts"
    else:
        raise TypeError(
            f"`data` must be a TensorMap, a TensorBlock or Labels, got {type(data).__name__}"
        )
    temporary = path + ".tmp"
    try:
        with open(temporary, "wb") as file:
            _write(file, data)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def save_buffer(data):
    """``data`` serialised to bytes (same content as :func:`save` writes to a file)."""
    buffer = _io.BytesIO()
    _write(buffer, data)
    return buffer.getvalue()


# ---------------------------------------------------------------------- reading
class _Reader:
    def __init__(self, archive):
        self.archive = archive
        self.names = archive.names
        # gradient parameters of every block prefix, found in one pass over the member names
        self.parameters = {}
        for name in self.names:
            head, separator, tail = name.partition("gradients/")
            if separator and "/" in tail:
                self.parameters.setdefault(head, set()).add(tail.split("/")[0])

    def array(self, name):
        return self.archive.array(name)

    def labels(self, name):
        return _labels_from_structured(self.array(name), name)

    def block(self, prefix, arrays, device, properties=None):
        values = self.array(prefix + "values.npy")
        if values.dtype.names is not None:
            raise _FileError(f"{prefix}values.npy: values must be a plain numeric array")
        samples = self.labels(prefix + "samples.npy")
        components = []
        k = 0
        while f"{prefix}components/{k}.npy" in self.names:
            components.append(self.labels(f"{prefix}components/{k}.npy"))
            k += 1
        is_gradient = properties is not None
        if not is_gradient:
            properties = self.labels(prefix + "properties.npy")
        if arrays != "numpy" or device is not None:
            values = _backend.convert(values, arrays, device=device)
        try:
            block = TensorBlock(values, samples, components, properties)
        except (ValueError, TypeError) as error:
            raise _FileError(f"{prefix}values.npy: inconsistent block: {error}") from None
        if not is_gradient:
            gradient_prefix = prefix + "gradients/"
            parameters = sorted(self.parameters.get(prefix, ()))
            for parameter in parameters:
                gradient = self.block(
                    f"{gradient_prefix}{parameter}/", arrays, device, properties=properties
                )
                try:
                    block.add_gradient(parameter, gradient)
                except (ValueError, TypeError) as error:
                    raise _FileError(
                        f"{gradient_prefix}{parameter}/: invalid gradient: {error}"
                    ) from None
        return block

    def tensor(self, arrays, device):
        keys = self.labels("keys.npy")
        blocks = [self.block(f"blocks/{i}/", arrays, device) for i in range(len(keys))]
        extra = [name for name in self.parameters if name.startswith(f"blocks/{len(keys)}/")]
        extra += [name for name in (f"blocks/{len(keys)}/values.npy",) if name in self.names]
        if extra:
            raise _FileError(
                f"{extra[0]}: the archive has more blocks than the {len(keys)} keys"
            )
        try:
            tensor = TensorMap(keys, blocks)
        except (ValueError, TypeError) as error:
            raise _FileError(f"inconsistent TensorMap: {error}") from None
        if "info.json" in self.names:
            try:
                info = json.loads(self.archive.read_bytes("info.json").decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as error:
                raise _FileError(f"info.json: invalid JSON ({error})") from None
            if not isinstance(info, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in info.items()
            ):
                raise _FileError("info.json: expected an object of string values")
            for key, value in info.items():
                tensor.set_info(key, value)
        return tensor


def _check_arrays(arrays, device):
    if arrays not in ("numpy", "torch"):
        raise ValueError(f"`arrays` must be 'numpy' or 'torch', got {arrays!r}")
    if arrays == "numpy" and device is not None and str(device) != "cpu":
        raise ValueError(f"numpy arrays live on 'cpu', got device={device!r}")


def _load(source, what, kind, arrays, device):
    _check_arrays(arrays, device)
    if isinstance(source, str):
        with open(source, "rb") as file:
            return _load(file, what, kind, arrays, device)
    archive = _zip.ZipReader(source, what)
    try:
        reader = _Reader(archive)
        if kind == "tensor":
            return reader.tensor(arrays, device)
        return reader.block("", arrays, device)
    except _FileError as error:
        raise ValueError(f"failed to load {what}: {error}") from None
    finally:
        archive.close()


def _source_name(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a string or a path, got {type(path).__name__}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no file at {path!r}")
    return path


def load(path, arrays="numpy", device=None):
    """Load a TensorMap from a metatensor archive (``.mts`` or ``.npz``).

    ``arrays="torch"`` returns torch values (on ``device``); dtypes are preserved.
    Truncated, corrupted or inconsistent files raise a ``ValueError`` naming the bad member.
    """
    path = _source_name(path)
    return _load(path, repr(path), "tensor", arrays, device)


def load_block(path, arrays="numpy", device=None):
    """Load a TensorBlock saved alone."""
    path = _source_name(path)
    return _load(path, repr(path), "block", arrays, device)


def load_labels(path):
    """Load Labels saved alone (a ``.npy`` file of a structured int32 array)."""
    path = _source_name(path)
    with open(path, "rb") as file:
        return _labels_from_npy(file, repr(path))


def _labels_from_npy(file, what):
    try:
        array = np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"failed to load Labels from {what}: {error}") from None
    try:
        return _labels_from_structured(array, what)
    except _FileError as error:
        raise ValueError(f"failed to load Labels: {error}") from None


def load_buffer(buffer, arrays="numpy", device=None):
    """Load a TensorMap from bytes produced by :func:`save_buffer` (or metatensor)."""
    return _load(_io.BytesIO(_as_bytes(buffer)), "the buffer", "tensor", arrays, device)


def load_block_buffer(buffer, arrays="numpy", device=None):
    """Load a TensorBlock from bytes."""
    return _load(_io.BytesIO(_as_bytes(buffer)), "the buffer", "block", arrays, device)


def load_labels_buffer(buffer):
    """Load Labels from bytes."""
    return _labels_from_npy(_io.BytesIO(_as_bytes(buffer)), "the buffer")


def _as_bytes(buffer):
    if isinstance(buffer, (bytes, bytearray, memoryview)):
        return bytes(buffer)
    if isinstance(buffer, np.ndarray) and buffer.dtype == np.uint8:
        return buffer.tobytes()
    import torch

    if isinstance(buffer, torch.Tensor) and buffer.dtype == torch.uint8:
        return buffer.cpu().numpy().tobytes()
    raise TypeError(f"`buffer` must be bytes, got {type(buffer).__name__}")


__all__ = [
    "save", "save_buffer", "load", "load_block", "load_labels", "load_buffer",
    "load_block_buffer", "load_labels_buffer",
]
