"""Random valid TensorMaps, for testing code that consumes them (yours and ours).

Two entry points:

- :func:`random_tensor_map` builds one random map from a seed with numpy's random generator
  only; it needs nothing beyond blocktensor's own dependencies.
- :func:`tensor_maps`, :func:`tensor_blocks`, :func:`labels` and :func:`names` are
  `hypothesis <https://hypothesis.readthedocs.io>`_ strategies (hypothesis is imported when
  one of them is called, so it stays a test-only dependency).

Generated maps have random dimension names, keys, samples (possibly none), components
(sizes differing between blocks), properties and gradient blocks, with numpy or torch values
(float64 or float32). Names never use the reserved ``"sample"``, ``"xyz"``, ``"xyz_1"``,
``"xyz_2"``, ``"tensor"``, ``"joined_index"`` and ``"property"``, so callers can use those
for their own dimensions. Gradients are ``"positions"`` (samples ``sample, system, atom``,
components ``xyz``) and ``"strain"`` (samples ``sample``, components ``xyz_1, xyz_2``).

:func:`assert_tensor_maps_equal` and :func:`assert_blocks_equal` compare maps (metadata
exactly, values exactly or within tolerances) with a message naming the first difference.

>>> from blocktensor.testing import random_tensor_map
>>> tensor = random_tensor_map(0, arrays="numpy", gradients=["positions"])
>>> tensor.gradients_list()
['positions']
>>> random_tensor_map(0).keys == random_tensor_map(0).keys
True
"""

import keyword

import numpy as np
import torch

from .block import TensorBlock
from .labels import Labels
from .tensor import TensorMap

__all__ = [
    "random_tensor_map",
    "tensor_maps",
    "tensor_blocks",
    "labels",
    "names",
    "assert_tensor_maps_equal",
    "assert_blocks_equal",
]

RESERVED_NAMES = ("sample", "xyz", "xyz_1", "xyz_2", "tensor", "joined_index", "property")
_NAME_POOL = (
    "system", "atom", "center_type", "neighbor_type", "o3_lambda", "o3_sigma", "o3_mu",
    "n", "l", "k", "alpha", "beta", "gamma", "first_atom", "second_atom", "frame", "spin",
    "channel", "radial", "shell", "cell_a", "cell_b", "block_id", "pair", "mode",
)
_GRADIENTS = {
    "positions": (["sample", "system", "atom"], ["xyz"]),
    "strain": (["sample"], ["xyz_1", "xyz_2"]),
}


# --------------------------------------------------------------------------- building
class _Spec:
    """Structural choices of a random map; the per-block details come from a seed."""

    def __init__(self, key_names, sample_names, component_names, property_names, n_keys,
                 max_samples, gradients, arrays, dtype, device, allow_empty, seed):
        self.key_names = list(key_names)
        self.sample_names = list(sample_names)
        self.component_names = list(component_names)
        self.property_names = list(property_names)
        self.n_keys = n_keys
        self.max_samples = max_samples
        self.gradients = list(gradients)
        self.arrays = arrays
        self.dtype = dtype
        self.device = device
        self.allow_empty = allow_empty
        self.seed = seed


def _unique_rows(rng, n_rows, n_columns, span, low=0):
    """``n_rows`` distinct rows of ``n_columns`` integers in ``[low, low + span)``."""
    capacity = span ** n_columns
    n_rows = min(n_rows, capacity)
    flat = rng.choice(capacity, size=n_rows, replace=False) if n_rows else np.zeros(0, int)
    digits = []
    for _ in range(n_columns):
        digits.append(flat % span)
        flat = flat // span
    values = np.stack(digits[::-1], axis=1) if n_columns else np.zeros((n_rows, 0), int)
    return (values + low).astype(np.int32)


def _convert(array, spec):
    if spec.arrays == "torch":
        return torch.from_numpy(array).to(device=spec.device or "cpu")
    return array


def _build(spec):
    rng = np.random.default_rng(spec.seed)
    dtype = np.dtype(spec.dtype)
    keys = Labels(spec.key_names, _unique_rows(rng, spec.n_keys, len(spec.key_names), 5))
    # components of the same name differ in size between blocks (like o3_mu per o3_lambda)
    blocks = []
    for _ in range(len(keys)):
        low_samples = 0 if spec.allow_empty else 1
        n_samples = int(rng.integers(low_samples, spec.max_samples + 1))
        span = max(spec.max_samples, 3)
        samples = Labels(
            spec.sample_names, _unique_rows(rng, n_samples, len(spec.sample_names), span)
        )
        components = []
        for name in spec.component_names:
            size = int(rng.integers(1, 4))
            components.append(Labels([name], np.arange(-(size // 2), size - size // 2)
                                     .reshape(-1, 1)))
        n_properties = int(rng.integers(1, 5))
        properties = Labels(
            spec.property_names,
            _unique_rows(rng, n_properties, len(spec.property_names), 6),
        )
        shape = (len(samples), *[len(c) for c in components], len(properties))
        values = rng.standard_normal(shape).astype(dtype)
        block = TensorBlock(_convert(values, spec), samples, components, properties)
        for parameter in spec.gradients:
            sample_names, own = _GRADIENTS[parameter]
            rows = []
            for row in range(len(samples)):
                if len(sample_names) == 1:
                    if rng.random() < 0.8:
                        rows.append([row])
                    continue
                n_atoms = int(rng.integers(0, 3))
                for atom in rng.choice(4, size=n_atoms, replace=False):
                    rows.append([row, int(rng.integers(0, 2)), int(atom)])
            gradient_samples = Labels(
                sample_names, np.asarray(rows, dtype=np.int32).reshape(-1, len(sample_names))
            )
            own_components = [Labels.range(name, 3) for name in own]
            gradient_shape = (len(gradient_samples), *[3] * len(own), *shape[1:])
            gradient_values = rng.standard_normal(gradient_shape).astype(dtype)
            block.add_gradient(
                parameter,
                TensorBlock(_convert(gradient_values, spec), gradient_samples,
                            own_components + components, properties),
            )
        blocks.append(block)
    return TensorMap(keys, blocks)


def _pick_names(rng, count, exclude):
    pool = [name for name in _NAME_POOL if name not in exclude]
    return [str(name) for name in rng.choice(pool, size=count, replace=False)]


def random_tensor_map(seed=None, *, arrays="numpy", dtype="float64", device=None,
                      n_keys=None, key_names=None, sample_names=None, component_names=None,
                      property_names=None, gradients=None, max_samples=6,
                      allow_empty=False):
    """A random valid :class:`~blocktensor.TensorMap`, reproducible from ``seed``.

    Parameters
    ----------
    seed:
        seed of numpy's random generator (``None``: fresh randomness).
    arrays:
        ``"numpy"`` or ``"torch"``.
    dtype:
        value dtype, as a numpy dtype or its name (``"float64"``, ``"float32"``).
    device:
        torch device of the values (``arrays="torch"`` only).
    n_keys:
        number of blocks (default: random, 1 to 4).
    key_names, sample_names, component_names, property_names:
        dimension names (default: random picks from a pool of metadata names).
    gradients:
        gradient parameters among ``"positions"`` and ``"strain"`` (default: random).
    max_samples:
        most samples per block.
    allow_empty:
        allow blocks without samples.

    >>> from blocktensor.testing import random_tensor_map
    >>> tensor = random_tensor_map(3, n_keys=2, sample_names=["system", "atom"])
    >>> len(tensor.keys), tensor.sample_names
    (2, ['system', 'atom'])
    """
    if arrays not in ("numpy", "torch"):
        raise ValueError(f"`arrays` must be 'numpy' or 'torch', got {arrays!r}")
    if device is not None and arrays != "torch":
        raise ValueError(f"`device` is only meaningful with arrays='torch', got {device!r}")
    rng = np.random.default_rng(seed)
    used = set(RESERVED_NAMES)
    if key_names is None:
        key_names = _pick_names(rng, int(rng.integers(1, 3)), used)
    used |= set(key_names)
    if sample_names is None:
        sample_names = _pick_names(rng, int(rng.integers(1, 3)), used)
    used |= set(sample_names)
    if component_names is None:
        component_names = _pick_names(rng, int(rng.integers(0, 3)), used)
    used |= set(component_names)
    if property_names is None:
        property_names = _pick_names(rng, int(rng.integers(1, 3)), used)
    if n_keys is None:
        n_keys = int(rng.integers(1, 5))
    if gradients is None:
        gradients = [g for g in _GRADIENTS if rng.random() < 0.5]
    for parameter in gradients:
        if parameter not in _GRADIENTS:
            raise ValueError(
                f"`gradients` must contain parameters among {sorted(_GRADIENTS)}, got "
                f"{parameter!r}"
            )
    spec = _Spec(key_names, sample_names, component_names, property_names, n_keys,
                 max_samples, gradients, arrays, dtype, device, allow_empty,
                 int(rng.integers(0, 2**31)))
    return _build(spec)


# --------------------------------------------------------------------------- hypothesis
def _hypothesis():
    try:
        import hypothesis.strategies as st
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the strategies of blocktensor.testing need hypothesis (pip install hypothesis); "
            "random_tensor_map works without it"
        ) from None
    return st


def _name_strategy(st, exclude=()):
    excluded = set(RESERVED_NAMES) | set(exclude)
    return st.one_of(
        st.sampled_from([n for n in _NAME_POOL if n not in excluded]),
        st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True),
    ).filter(lambda name: not keyword.iskeyword(name) and name not in excluded)


def names(min_size=1, max_size=3, exclude=()):
    """Strategy for lists of distinct valid dimension names (never a reserved name nor one
    of ``exclude``)."""
    st = _hypothesis()
    return st.lists(_name_strategy(st, exclude), min_size=min_size, max_size=max_size,
                    unique=True)


def labels(dimension_names=None, min_entries=0, max_entries=10):
    """Strategy for :class:`~blocktensor.Labels` with unique entries (random names when
    ``dimension_names`` is None)."""
    st = _hypothesis()

    @st.composite
    def strategy(draw):
        chosen = dimension_names if dimension_names is not None else draw(names())
        rows = draw(st.lists(
            st.tuples(*[st.integers(-5, 20) for _ in chosen]),
            min_size=min_entries, max_size=max_entries, unique=True,
        ))
        return Labels(chosen, np.asarray(rows, dtype=np.int32).reshape(-1, len(chosen)))

    return strategy()


def tensor_maps(arrays=("numpy", "torch"), dtypes=("float64", "float32"), devices=(None,),
                min_keys=1, max_keys=4, max_samples=6, gradients=None, allow_empty=True,
                max_components=2):
    """Strategy for random valid :class:`~blocktensor.TensorMap`.

    Parameters
    ----------
    arrays, dtypes, devices:
        candidates for the backend, value dtype and torch device.
    min_keys, max_keys:
        range of the number of blocks.
    max_samples:
        most samples per block.
    gradients:
        fixed list of gradient parameters, or None for a random subset of ``"positions"``
        and ``"strain"``.
    allow_empty:
        allow blocks without samples.
    max_components:
        most component dimensions.
    """
    st = _hypothesis()
    arrays = [arrays] if isinstance(arrays, str) else list(arrays)
    dtypes = [dtypes] if isinstance(dtypes, str) else list(dtypes)

    @st.composite
    def strategy(draw):
        key_names = draw(names(1, 2))
        sample_names = draw(names(1, 3, exclude=key_names))
        component_names = draw(names(0, max_components, exclude=key_names + sample_names))
        property_names = draw(
            names(1, 2, exclude=key_names + sample_names + component_names)
        )
        if gradients is None:
            chosen = draw(st.lists(st.sampled_from(sorted(_GRADIENTS)), unique=True))
        else:
            chosen = list(gradients)
        backend = draw(st.sampled_from(arrays))
        spec = _Spec(
            key_names, sample_names, component_names, property_names,
            n_keys=draw(st.integers(min_keys, max_keys)),
            max_samples=draw(st.integers(1, max_samples)),
            gradients=chosen,
            arrays=backend,
            dtype=draw(st.sampled_from(dtypes)),
            device=draw(st.sampled_from(list(devices))) if backend == "torch" else None,
            allow_empty=allow_empty,
            seed=draw(st.integers(0, 2**31 - 1)),
        )
        return _build(spec)

    return strategy()


def tensor_blocks(**kwargs):
    """Strategy for random valid :class:`~blocktensor.TensorBlock` (with gradients); takes
    the arguments of :func:`tensor_maps` except the number of keys."""
    return tensor_maps(min_keys=1, max_keys=1, **kwargs).map(lambda tensor: tensor.block(0))


# --------------------------------------------------------------------------- comparing
def _to_numpy(values):
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def _compare_values(a, b, rtol, atol, where):
    if type(a) is not type(b):
        raise AssertionError(f"{where}: {type(a).__name__} values against {type(b).__name__}")
    if a.dtype != b.dtype:
        raise AssertionError(f"{where}: dtype {a.dtype} against {b.dtype}")
    if tuple(a.shape) != tuple(b.shape):
        raise AssertionError(f"{where}: shape {tuple(a.shape)} against {tuple(b.shape)}")
    a, b = _to_numpy(a), _to_numpy(b)
    if rtol == 0 and atol == 0:
        if not np.array_equal(a, b, equal_nan=True):
            index = np.argwhere(a != b)[0]
            raise AssertionError(
                f"{where}: values differ at {tuple(int(i) for i in index)}: "
                f"{a[tuple(index)]} against {b[tuple(index)]}"
            )
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=where)


def _compare_labels(a, b, where):
    if a.names != b.names:
        raise AssertionError(f"{where}: names {a.names} against {b.names}")
    if not np.array_equal(a.values, b.values):
        raise AssertionError(
            f"{where}: entries differ\n{a.values.tolist()}\nagainst\n{b.values.tolist()}"
        )


def assert_blocks_equal(a, b, rtol=0.0, atol=0.0, where="block"):
    """Raise an ``AssertionError`` naming the first difference between two blocks
    (metadata exactly, values within ``rtol``/``atol``, gradients alike)."""
    _compare_labels(a.samples, b.samples, f"{where} samples")
    if len(a.components) != len(b.components):
        raise AssertionError(f"{where}: {len(a.components)} components against "
                             f"{len(b.components)}")
    for i, (ca, cb) in enumerate(zip(a.components, b.components)):
        _compare_labels(ca, cb, f"{where} components[{i}]")
    _compare_labels(a.properties, b.properties, f"{where} properties")
    _compare_values(a.values, b.values, rtol, atol, f"{where} values")
    if sorted(a.gradients_list()) != sorted(b.gradients_list()):
        raise AssertionError(
            f"{where}: gradients {sorted(a.gradients_list())} against "
            f"{sorted(b.gradients_list())}"
        )
    for parameter, gradient in a.gradients():
        assert_blocks_equal(gradient, b.gradient(parameter), rtol, atol,
                            f"{where} gradient '{parameter}'")


def assert_tensor_maps_equal(a, b, rtol=0.0, atol=0.0):
    """Raise an ``AssertionError`` naming the first difference between two maps (same keys
    in the same order, blocks compared with :func:`assert_blocks_equal`).

    >>> from blocktensor.testing import assert_tensor_maps_equal, random_tensor_map
    >>> assert_tensor_maps_equal(random_tensor_map(1), random_tensor_map(1))
    """
    if not isinstance(a, TensorMap) or not isinstance(b, TensorMap):
        raise AssertionError(f"expected two TensorMap, got {type(a).__name__} and "
                             f"{type(b).__name__}")
    _compare_labels(a.keys, b.keys, "keys")
    for i, (block_a, block_b) in enumerate(zip(a.blocks(), b.blocks())):
        key = ", ".join(f"{n}={v}" for n, v in zip(a.keys.names, a.keys.values[i]))
        assert_blocks_equal(block_a, block_b, rtol, atol, f"block ({key})")
