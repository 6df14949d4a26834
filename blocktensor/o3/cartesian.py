"""Cartesian ↔ spherical (irreducible) forms of rank-1 and rank-2 tensors.

* Rank 1: a vector ``v = (x, y, z)`` is the ``λ = 1`` tensor ``(v_y, v_z, v_x)`` (``o3_mu``
  = -1, 0, 1), i.e. the order of the real harmonics, without the ``sqrt(3/4π)`` factor.
* Rank 2: ``T`` (3x3) is first written on the ``λ=1 ⊗ λ=1`` basis (both axes reordered to
  ``(y, z, x)``) and then coupled with the real Clebsch–Gordan coefficients of
  :mod:`blocktensor.o3.cg_coefficients`, with featomic's coupling sign:
  ``T^λ_M = (-1)^λ Σ_{m1 m2} C^{1 1 λ}_{m1 m2 M} T_{m1 m2}`` for λ = 0 (σ = +1, the trace part),
  λ = 1 (σ = -1, the antisymmetric part) and λ = 2 (σ = +1, the symmetric traceless part).
  The transform is orthogonal (9x9), so the round trip is exact and norms are preserved.

This is the convention of featomic's ``cartesian_to_spherical``, and it is equivariant:
rotating ``T → R T R^T`` rotates each part by the real Wigner matrix, ``T^λ → D_λ(R) T^λ``.
The functions accept arrays (numpy or torch, Cartesian axes last) as well as
:class:`~blocktensor.TensorBlock`/:class:`~blocktensor.TensorMap` (named components).
"""

from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from .cg_coefficients import clebsch_gordan

__all__ = ["cartesian_to_spherical", "spherical_to_cartesian"]

# (y, z, x) order of the λ = 1 components, and its inverse
_TO_SPHERICAL = [1, 2, 0]
_TO_CARTESIAN = [2, 0, 1]

_RANK_2_PARTS = ((0, 1), (1, -1), (2, 1))


def _is_array(value):
    return isinstance(value, (np.ndarray, torch.Tensor))


def _index(array, positions, axis):
    if isinstance(array, torch.Tensor):
        return array.index_select(axis, torch.tensor(positions, device=array.device))
    return np.take(array, positions, axis=axis)


def _coupling_matrix(o3_lambda, like):
    """``(-1)^λ C^{11λ}`` as a ``(9, 2λ+1)`` matrix with the dtype/backend of ``like``.

    The sign ``(-1)^(l1 + l2 + λ)`` is the one featomic applies when coupling (it amounts to
    using ``C^{l2 l1 λ}`` with swapped arguments); keeping it makes the λ = 1 part equal to
    featomic's.
    """
    matrix = clebsch_gordan(1, 1, o3_lambda, like=like).reshape(9, 2 * o3_lambda + 1)
    return -matrix if o3_lambda % 2 == 1 else matrix


def _check_rank(rank):
    if rank not in (1, 2) or isinstance(rank, bool):
        raise ValueError(f"`rank` must be 1 or 2, got {rank!r}")


def _array_to_spherical(array, rank, symmetric):
    _check_rank(rank)
    if array.dtype not in (np.float32, np.float64, torch.float32, torch.float64):
        raise TypeError(f"`tensor` must be a float32 or float64 array, got {array.dtype}")
    if array.ndim < rank or tuple(array.shape[array.ndim - rank :]) != (3,) * rank:
        expected = "(..., 3)" if rank == 1 else "(..., 3, 3)"
        raise ValueError(
            f"a rank-{rank} Cartesian `tensor` must have shape {expected}, "
            f"got {tuple(array.shape)}"
        )
    if rank == 1:
        if symmetric:
            raise ValueError("`symmetric=True` only applies to rank-2 tensors")
        return {(1, 1): _index(array, _TO_SPHERICAL, -1)}

    batch_shape = tuple(array.shape[:-2])
    product_basis = _index(_index(array, _TO_SPHERICAL, -1), _TO_SPHERICAL, -2)
    flat = product_basis.reshape(batch_shape + (9,))
    result = {}
    for o3_lambda, o3_sigma in _RANK_2_PARTS:
        result[(o3_lambda, o3_sigma)] = flat @ _coupling_matrix(o3_lambda, array)
    if symmetric:
        antisymmetric = result.pop((1, -1))
        size = array.numel() if isinstance(array, torch.Tensor) else array.size
        scale = float(abs(array).max()) if size else 0.0
        tolerance = 1e-6 * scale
        largest = float(abs(antisymmetric).max()) if size else 0.0
        if largest > tolerance:
            raise ValueError(
                "`symmetric=True` but `tensor` is not symmetric: its antisymmetric part "
                f"reaches {largest:.3e} (tolerance {tolerance:.3e})"
            )
    return result


def _array_to_cartesian(parts, rank):
    if not isinstance(parts, dict) or len(parts) == 0:
        raise TypeError(
            "`tensor` must be a non-empty dict {(o3_lambda, o3_sigma): array}, got "
            f"{type(parts).__name__}"
        )
    for key, value in parts.items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise ValueError(f"keys of `tensor` must be (o3_lambda, o3_sigma) tuples, got {key!r}")
        if not _is_array(value):
            raise TypeError(f"`tensor[{key}]` must be an array, got {type(value).__name__}")
        if value.ndim < 1 or value.shape[-1] != 2 * key[0] + 1:
            raise ValueError(
                f"`tensor[{key}]` must have 2λ+1 = {2 * key[0] + 1} entries on its last axis, "
                f"got shape {tuple(value.shape)}"
            )
    keys = set(parts)
    if rank is None:
        rank = 1 if keys == {(1, 1)} else 2
    _check_rank(rank)
    allowed = {(1, 1)} if rank == 1 else set(_RANK_2_PARTS)
    if not keys <= allowed:
        raise ValueError(
            f"a rank-{rank} spherical tensor has parts {sorted(allowed)}, got {sorted(keys)}"
        )
    if rank == 1:
        return _index(parts[(1, 1)], _TO_CARTESIAN, -1)

    reference = next(iter(parts.values()))
    batch_shape = tuple(reference.shape[:-1])
    flat = None
    for (o3_lambda, _), value in sorted(parts.items()):
        if tuple(value.shape[:-1]) != batch_shape:
            raise ValueError(
                "all parts of `tensor` must share their leading dimensions, got "
                f"{batch_shape} and {tuple(value.shape[:-1])}"
            )
        contribution = value @ _coupling_matrix(o3_lambda, value).T
        flat = contribution if flat is None else flat + contribution
    product_basis = flat.reshape(batch_shape + (3, 3))
    return _index(_index(product_basis, _TO_CARTESIAN, -1), _TO_CARTESIAN, -2)


# --------------------------------------------------------------------------------------
# TensorBlock / TensorMap level


def _move_axes_last(values, axes):
    if isinstance(values, torch.Tensor):
        return torch.movedim(values, axes, list(range(values.ndim - len(axes), values.ndim)))
    return np.moveaxis(values, axes, list(range(values.ndim - len(axes), values.ndim)))


def _move_last_to(values, position):
    if isinstance(values, torch.Tensor):
        return torch.movedim(values, -1, position)
    return np.moveaxis(values, -1, position)


def _component_axes(block, components, context):
    names = [c.names[0] for c in block.components]
    axes = []
    for name in components:
        if name not in names:
            raise ValueError(
                f"`components` contains {name!r} which is not a component of the tensor "
                f"({names})"
            )
        axes.append(names.index(name))
    if axes != list(range(axes[0], axes[0] + len(axes))):
        raise ValueError(
            f"the components {components} must be consecutive and in this order in the "
            f"block's components {names}"
        )
    for axis in axes:
        values = block.components[axis].values[:, 0].tolist()
        if values != [0, 1, 2]:
            raise ValueError(
                f"component {names[axis]!r} {context} must have values [0, 1, 2], got {values}"
            )
    return axes


def _convert_block_to_spherical(block, first_axis, rank, labels_cls, block_cls):
    """{(λ, σ): TensorBlock} for one block whose Cartesian components start at
    ``first_axis`` (index into ``block.components``); gradients are converted too."""
    values = block.values
    value_axes = [1 + first_axis + i for i in range(rank)]
    parts = _array_to_spherical(_move_axes_last(values, value_axes), rank, False)
    result = {}
    for key, array in parts.items():
        o3_lambda = key[0]
        array = _move_last_to(array, 1 + first_axis)
        mu = labels_cls(["o3_mu"], np.arange(-o3_lambda, o3_lambda + 1).reshape(-1, 1))
        components = (
            list(block.components[:first_axis])
            + [mu]
            + list(block.components[first_axis + rank :])
        )
        result[key] = block_cls(array, block.samples, components, block.properties)

    for parameter, gradient in block.gradients():
        n_own = len(gradient.components) - len(block.components)
        gradient_parts = _convert_block_to_spherical(
            gradient, n_own + first_axis, rank, labels_cls, block_cls
        )
        for key, gradient_block in gradient_parts.items():
            result[key].add_gradient(parameter, gradient_block)
    return result


def _tensor_classes():
    from .. import Labels, TensorBlock, TensorMap

    return Labels, TensorBlock, TensorMap


def _norm_squared(block):
    values = block.values
    return float((values * values).sum())


def _map_to_spherical(tensor, components, remove_blocks_threshold):
    Labels, TensorBlock, TensorMap = _tensor_classes()
    if isinstance(tensor, TensorBlock):
        tensor = TensorMap(Labels.single(), [tensor])
        # the dummy key is dropped at the end
        drop_dummy = True
    else:
        drop_dummy = False
    if isinstance(components, str):
        components = [components]
    if not isinstance(components, (list, tuple)) or len(components) not in (1, 2):
        raise ValueError(
            "`components` must name one (rank 1) or two (rank 2) Cartesian components, "
            f"got {components!r}"
        )
    components = list(components)
    rank = len(components)
    if "o3_lambda" in tensor.keys.names or "o3_sigma" in tensor.keys.names:
        raise ValueError(
            "the keys of `tensor` already contain 'o3_lambda'/'o3_sigma': is it already "
            "in spherical form?"
        )

    key_values = []
    blocks = []
    for key_index, block in enumerate(tensor.blocks()):
        axes = _component_axes(block, components, f"in block {key_index}")
        parts = _convert_block_to_spherical(block, axes[0], rank, Labels, TensorBlock)
        for (o3_lambda, o3_sigma), new_block in parts.items():
            if (
                rank == 2
                and remove_blocks_threshold is not None
                and _norm_squared(new_block) <= remove_blocks_threshold
            ):
                continue
            key_values.append([o3_lambda, o3_sigma] + tensor.keys.values[key_index].tolist())
            blocks.append(new_block)

    names = ["o3_lambda", "o3_sigma"] + tensor.keys.names
    if drop_dummy:
        names = names[:2]
        key_values = [row[:2] for row in key_values]
    values = np.array(key_values, dtype=np.int32).reshape(-1, len(names))
    return TensorMap(Labels(names, values), blocks)


def _map_to_cartesian(tensor, rank, new_component_names):
    Labels, TensorBlock, TensorMap = _tensor_classes()
    if isinstance(tensor, TensorBlock):
        raise TypeError(
            "`spherical_to_cartesian` needs a TensorMap (the keys give o3_lambda and "
            "o3_sigma), got a TensorBlock"
        )
    key_names = tensor.keys.names
    if "o3_lambda" not in key_names or "o3_sigma" not in key_names:
        raise ValueError(
            f"the keys of `tensor` must contain 'o3_lambda' and 'o3_sigma', got {key_names}"
        )
    if "o3_mu" not in tensor.component_names:
        raise ValueError(
            f"`tensor` must have an 'o3_mu' component, got {tensor.component_names}"
        )
    lambdas = tensor.keys.column("o3_lambda")
    sigmas = tensor.keys.column("o3_sigma")
    parts_present = set(zip(lambdas.tolist(), sigmas.tolist()))
    if rank is None:
        rank = 1 if parts_present <= {(1, 1)} else 2
    _check_rank(rank)
    if new_component_names is None:
        new_component_names = ["xyz"] if rank == 1 else ["xyz_1", "xyz_2"]
    if isinstance(new_component_names, str):
        new_component_names = [new_component_names]
    if len(new_component_names) != rank:
        raise ValueError(
            f"`new_component_names` must have {rank} entries for a rank-{rank} tensor, "
            f"got {new_component_names}"
        )

    other_names = [n for n in key_names if n not in ("o3_lambda", "o3_sigma")]
    other_columns = [key_names.index(n) for n in other_names]
    groups: Dict[Tuple[int, ...], List[int]] = {}
    for index, row in enumerate(tensor.keys.values):
        groups.setdefault(tuple(int(v) for v in row[other_columns]), []).append(index)

    xyz_labels = [Labels([name], np.arange(3).reshape(-1, 1)) for name in new_component_names]
    mu_axis = tensor.component_names.index("o3_mu")

    def convert(blocks_by_part, reference, position, parameter=None):
        """Cartesian TensorBlock from blocks (or gradient blocks) of one group."""
        arrays = {}
        for part, block in blocks_by_part.items():
            if block.samples != reference.samples or block.properties != reference.properties:
                what = "blocks"
                if parameter is not None:
                    what = f"gradients w.r.t. {parameter!r} of blocks"
                raise ValueError(
                    f"the {what} with (o3_lambda, o3_sigma) = {sorted(blocks_by_part)} and the "
                    "same other keys must share samples and properties to be recombined"
                )
            arrays[part] = _move_axes_last(block.values, [1 + position])
        cartesian = _array_to_cartesian(arrays, rank)
        axes_from = list(range(cartesian.ndim - rank, cartesian.ndim))
        axes_to = [1 + position + i for i in range(rank)]
        if isinstance(cartesian, torch.Tensor):
            cartesian = torch.movedim(cartesian, axes_from, axes_to)
        else:
            cartesian = np.moveaxis(cartesian, axes_from, axes_to)
        components = (
            list(reference.components[:position])
            + xyz_labels
            + list(reference.components[position + 1 :])
        )
        return TensorBlock(cartesian, reference.samples, components, reference.properties)

    new_keys = []
    new_blocks = []
    for other_key, indices in groups.items():
        blocks_by_part = {}
        for index in indices:
            part = (int(lambdas[index]), int(sigmas[index]))
            blocks_by_part[part] = tensor.block(index)
        reference = blocks_by_part[next(iter(blocks_by_part))]
        new_block = convert(blocks_by_part, reference, mu_axis)
        for parameter in reference.gradients_list():
            gradient_parts = {
                part: block.gradient(parameter) for part, block in blocks_by_part.items()
            }
            gradient_reference = gradient_parts[next(iter(gradient_parts))]
            n_own = len(gradient_reference.components) - len(reference.components)
            new_block.add_gradient(
                parameter,
                convert(gradient_parts, gradient_reference, n_own + mu_axis, parameter),
            )
        new_keys.append(list(other_key))
        new_blocks.append(new_block)

    if other_names:
        keys = Labels(other_names, np.array(new_keys, dtype=np.int32).reshape(-1, len(other_names)))
    else:
        keys = Labels.single()
    return TensorMap(keys, new_blocks)


# --------------------------------------------------------------------------------------
# public API


def cartesian_to_spherical(
    tensor,
    components: Optional[List[str]] = None,
    rank: Optional[int] = None,
    symmetric: bool = False,
    remove_blocks_threshold: Optional[float] = 1e-9,
):
    """Irreducible (spherical) parts of a Cartesian rank-1 or rank-2 tensor.

    Parameters
    ----------
    tensor : numpy.ndarray, torch.Tensor, TensorBlock or TensorMap
        *Array*: Cartesian axes last, shape ``(..., 3)`` (rank 1) or ``(..., 3, 3)``.
        *TensorBlock/TensorMap*: Cartesian components named in ``components`` (each with
        values ``[0, 1, 2]``, consecutive); gradient blocks are converted too.
    components : list of str
        TensorBlock/TensorMap only: e.g. ``["xyz"]`` or ``["xyz_1", "xyz_2"]``; the rank is
        ``len(components)``.
    rank : int
        Arrays only: 1 or 2.
    symmetric : bool
        Arrays only, rank 2: the tensor is symmetric; the (zero) ``(1, -1)`` part is left
        out. A ``ValueError`` is raised if the antisymmetric part exceeds 1e-6 times the
        largest entry.
    remove_blocks_threshold : float or None
        TensorMap, rank 2 only: blocks whose squared norm is at most this value are left out
        (as featomic does, so symmetric tensors give no ``o3_sigma = -1`` blocks). ``None``
        keeps every block.

    Returns
    -------
    dict or TensorMap
        *Array*: ``{(o3_lambda, o3_sigma): array (..., 2λ+1)}`` — ``{(1, 1)}`` for rank 1,
        ``{(0, 1), (1, -1), (2, 1)}`` for rank 2.
        *TensorMap*: keys ``["o3_lambda", "o3_sigma", *old keys]`` (only the first two for a
        TensorBlock input), the Cartesian components replaced by one ``o3_mu`` component.

    Examples
    --------
    >>> import numpy as np
    >>> parts = cartesian_to_spherical(np.eye(3), rank=2)
    >>> sorted(parts), np.round(parts[(0, 1)], 12).tolist()
    ([(0, 1), (1, -1), (2, 1)], [-1.732050807569])
    >>> np.allclose(spherical_to_cartesian(parts), np.eye(3))
    True
    >>> cartesian_to_spherical(np.array([1.0, 2.0, 3.0]), rank=1)[(1, 1)].tolist()
    [2.0, 3.0, 1.0]
    """
    if _is_array(tensor):
        if components is not None:
            raise ValueError("`components` is for TensorBlock/TensorMap; use `rank` for arrays")
        if rank is None:
            raise ValueError("`rank` (1 or 2) is required when `tensor` is an array")
        return _array_to_spherical(tensor, rank, symmetric)
    Labels, TensorBlock, TensorMap = _tensor_classes()
    if not isinstance(tensor, (TensorBlock, TensorMap)):
        raise TypeError(
            "`tensor` must be a numpy.ndarray, torch.Tensor, TensorBlock or TensorMap, got "
            f"{type(tensor).__name__}"
        )
    if components is None:
        raise ValueError("`components` (e.g. ['xyz'] or ['xyz_1', 'xyz_2']) is required")
    if rank is not None and rank != (1 if isinstance(components, str) else len(components)):
        raise ValueError(f"`rank` ({rank}) does not match `components` ({components})")
    if symmetric:
        raise ValueError(
            "`symmetric` applies to arrays; use `remove_blocks_threshold` with a TensorMap"
        )
    return _map_to_spherical(tensor, components, remove_blocks_threshold)


def spherical_to_cartesian(
    tensor,
    rank: Optional[int] = None,
    new_component_names: Optional[List[str]] = None,
):
    """Inverse of :func:`cartesian_to_spherical`.

    Parameters
    ----------
    tensor : dict or TensorMap
        *dict*: ``{(o3_lambda, o3_sigma): array (..., 2λ+1)}``; missing rank-2 parts count as
        zero. *TensorMap*: keys with ``o3_lambda`` and ``o3_sigma`` and an ``o3_mu``
        component; blocks that differ only by ``(o3_lambda, o3_sigma)`` are recombined
        (missing ones count as zero), gradients included.
    rank : int, optional
        1 or 2. By default rank 1 if the only part is ``(1, 1)``, rank 2 otherwise.
    new_component_names : list of str, optional
        TensorMap only: names of the Cartesian components; default ``["xyz"]`` (rank 1) or
        ``["xyz_1", "xyz_2"]`` (rank 2).

    Returns
    -------
    array or TensorMap
        Cartesian axes last for arrays, ``(..., 3)`` or ``(..., 3, 3)``; for a TensorMap the
        remaining keys (or ``Labels.single()`` when none are left) and the components
        above in place of ``o3_mu``.

    Examples
    --------
    >>> import numpy as np
    >>> spherical_to_cartesian({(1, 1): np.array([2.0, 3.0, 1.0])}).tolist()
    [1.0, 2.0, 3.0]
    """
    if isinstance(tensor, dict):
        if new_component_names is not None:
            raise ValueError("`new_component_names` is for TensorMap inputs")
        return _array_to_cartesian(tensor, rank)
    Labels, TensorBlock, TensorMap = _tensor_classes()
    if not isinstance(tensor, (TensorBlock, TensorMap)):
        raise TypeError(
            "`tensor` must be a dict {(o3_lambda, o3_sigma): array} or a TensorMap, got "
            f"{type(tensor).__name__}"
        )
    return _map_to_cartesian(tensor, rank, new_component_names)
