"""SOAP power spectrum and radial spectrum, built on the spherical expansion.

The power spectrum of atom ``i`` couples two neighbour types ``a ≤ b``:

.. math::

    p^{ab}_{l n_1 n_2}(i) = \\frac{(-1)^l}{\\sqrt{2l + 1}}\\, s_{ab}
        \\sum_{m=-l}^{l} c^{a}_{n_1 l m}(i)\\, c^{b}_{n_2 l m}(i),
    \\qquad s_{ab} = \\sqrt{2} \\text{ if } a \\ne b \\text{ else } 1,

which is featomic's convention: the ``(-1)^l/\\sqrt{2l+1}`` factor makes it the λ = 0
Clebsch–Gordan product, and ``√2`` accounts for the block ``(b, a)`` that is not stored,
so that dot products of power spectra are the full SOAP kernel.

Gradients follow from the product rule, ``dp = dc^a c^b + c^a dc^b``. The gradient rows of
the two expansion blocks are merged by their metadata (``sample`` translated to the power
spectrum row, then ``system``, ``atom``), and every contribution is one batched matrix
product per angular channel — there is no loop over atoms or gradient rows. Each product
takes all the gradient rows of a sample at once, those of samples with fewer rows padded
to the largest count of their chunk; a chunk finishes every angular channel before the
next, so that its working set stays in cache.

:class:`SoapPowerSpectrum` does not go through the expansion's gradients (its positions
gradients are as large as the output, and slow to multiply): it computes the positions,
strain and cell gradients from the neighbour pairs directly
(:mod:`calculators._soap_pair_gradients`); the product rule above serves the gradients of
a precomputed expansion (:func:`power_spectrum_from_expansion`).
"""

from __future__ import annotations

import functools
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from blocktensor import Labels, TensorBlock, TensorMap
from blocktensor.labels import unique_rows

from ._buffers import Workspace, gathered, padded_chunks, scratch, zeros
from ._gradients import check_gradients
from .hypers import as_hypers_dict
from ._selection import with_selections
from ._soap_pair_gradients import gradients_from_pairs

__all__ = ["SoapPowerSpectrum", "SoapRadialSpectrum", "power_spectrum_from_expansion",
           "radial_spectrum_from_expansion"]

_EXPANSION_KEYS = ["o3_lambda", "o3_sigma", "center_type", "neighbor_type"]
_SUPPORTED_GRADIENTS = ("positions", "strain", "cell")


# --------------------------------------------------------------------------- helpers
def _check_expansion(expansion, argument="expansion"):
    if not isinstance(expansion, TensorMap):
        raise TypeError(
            f"`{argument}` must be a blocktensor.TensorMap, found {type(expansion).__name__}"
        )
    if expansion.keys.names != _EXPANSION_KEYS:
        raise ValueError(
            f"`{argument}` must have keys {_EXPANSION_KEYS} (a spherical expansion), "
            f"found {expansion.keys.names}"
        )
    if len(expansion.keys) == 0:
        raise ValueError(f"`{argument}` has no blocks, there is nothing to combine")
    if expansion.sample_names != ["system", "atom"]:
        raise ValueError(
            f"`{argument}` must have samples ['system', 'atom'], found {expansion.sample_names}"
        )
    if expansion.component_names != ["o3_mu"]:
        raise ValueError(
            f"`{argument}` must have the single component 'o3_mu', found "
            f"{expansion.component_names}"
        )
    if expansion.property_names != ["n"]:
        raise ValueError(
            f"`{argument}` must have the single property 'n', found {expansion.property_names}"
        )
    sigmas = np.unique(expansion.keys.column("o3_sigma"))
    if not np.all(sigmas == 1):
        raise ValueError(
            f"`{argument}` must only contain proper tensors (o3_sigma = 1), found "
            f"o3_sigma values {sigmas.tolist()}"
        )


def _as_torch(values):
    """torch view of block values (numpy arrays are wrapped without copy)."""
    if isinstance(values, torch.Tensor):
        return values
    return torch.from_numpy(np.ascontiguousarray(values))


def _index(values: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
    """``values[rows]`` without the copy when ``rows`` is the identity."""
    if rows.shape[0] == values.shape[0] and (
        rows.shape[0] == 0 or (rows[0] == 0 and np.all(np.diff(rows) == 1))
    ):
        return values
    return torch.index_select(values, 0, torch.from_numpy(rows).to(values.device))




class _ExpansionBlocks:
    """The spherical expansion blocks of one ``(center_type, neighbor_type)``, by λ.

    ``samples`` are the centres that do have neighbours of ``neighbor_type`` (featomic's
    rule; every centre counts as its own neighbour when the types are equal) and ``rows``
    their rows in the blocks. Expansions listing every centre in every block, with zero
    rows for centres without such neighbours, are reduced to those samples: a centre with
    a neighbour strictly inside the cutoff always has a non-zero λ = 0 coefficient.
    """

    def __init__(self, expansion: TensorMap, center_type: int, neighbor_type: int):
        keys = expansion.keys.values
        selected = np.nonzero((keys[:, 2] == center_type) & (keys[:, 3] == neighbor_type))[0]
        order = np.argsort(keys[selected, 0], kind="stable")
        self.blocks: Dict[int, TensorBlock] = {}
        for index in selected[order]:
            self.blocks[int(keys[index, 0])] = expansion.block_by_id(int(index))
        first = next(iter(self.blocks.values()))
        all_samples = first.samples
        for o3_lambda, block in self.blocks.items():
            if block.samples != all_samples:
                raise ValueError(
                    f"`expansion`: the blocks of center_type={center_type}, "
                    f"neighbor_type={neighbor_type} must share their samples, the one for "
                    f"o3_lambda={o3_lambda} does not"
                )
        self.rows = np.arange(len(all_samples), dtype=np.int64)
        self.samples = all_samples
        if center_type != neighbor_type and len(all_samples) != 0:
            with torch.no_grad():
                values = _as_torch(first.values)
                nonzero = (values != 0).reshape(values.shape[0], -1).any(dim=1)
            nonzero = nonzero.cpu().numpy()
            if not nonzero.all():
                self.rows = np.nonzero(nonzero)[0]
                self.samples = Labels(all_samples.names, all_samples.values[self.rows],
                                      assume_unique=True)


def _gradient_rows(
    gradient: TensorBlock, to_output_sample: np.ndarray
) -> Tuple[np.ndarray, np.ndarray]:
    """Rows of ``gradient`` that belong to an output sample, and their metadata with the
    ``sample`` column translated to output samples."""
    values = gradient.samples.values
    if values.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), values.copy()
    translated = to_output_sample[values[:, 0]]
    kept = np.nonzero(translated >= 0)[0]
    metadata = values[kept].copy()
    metadata[:, 0] = translated[kept]
    return kept, metadata


def _inverse(rows: np.ndarray, size: int) -> np.ndarray:
    inverse = np.full(size, -1, dtype=np.int64)
    inverse[rows] = np.arange(rows.shape[0], dtype=np.int64)
    return inverse


# --------------------------------------------------------------------------- power spectrum
def power_spectrum_from_expansion(
    expansion: TensorMap,
    selected_keys: Optional[Labels] = None,
) -> TensorMap:
    """The SOAP power spectrum of a featomic-format spherical expansion.

    Parameters
    ----------
    expansion : TensorMap
        Keys ``(o3_lambda, o3_sigma, center_type, neighbor_type)``, samples
        ``(system, atom)``, component ``o3_mu``, property ``n``; optional gradient blocks
        (``positions``, ``strain``, ``cell``) are propagated by the product rule.
    selected_keys : Labels, optional
        Subset of the ``(center_type, neighbor_1_type, neighbor_2_type)`` keys to compute.

    Returns
    -------
    TensorMap
        Keys ``(center_type, neighbor_1_type, neighbor_2_type)`` with
        ``neighbor_1_type ≤ neighbor_2_type``, samples ``(system, atom)`` (the centres
        that have neighbours of both types), properties ``(l, n_1, n_2)``. Same array
        backend, dtype and device as ``expansion``; differentiable by torch autograd.

    Examples
    --------
    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> block = TensorBlock(
    ...     values=np.array([[[1.0, 2.0]]]),
    ...     samples=Labels(["system", "atom"], [[0, 0]]),
    ...     components=[Labels("o3_mu", [[0]])],
    ...     properties=Labels("n", [[0], [1]]),
    ... )
    >>> keys = Labels(["o3_lambda", "o3_sigma", "center_type", "neighbor_type"], [[0, 1, 1, 1]])
    >>> spectrum = power_spectrum_from_expansion(TensorMap(keys, [block]))
    >>> spectrum.block(0).values.tolist()
    [[1.0, 2.0, 2.0, 4.0]]
    """
    return _power_spectrum(expansion, selected_keys)


def _power_spectrum(expansion, selected_keys, pairs=None, gradients=None):
    """:func:`power_spectrum_from_expansion`; with ``pairs`` (the expansion's
    :class:`~calculators.spherical_expansion._ExpansionPairs`), the ``gradients`` come
    from the pairs rather than from the expansion's gradient blocks, in that order
    (default: the expansion's gradients, in its order)."""
    _check_expansion(expansion)
    keys = expansion.keys.values
    gradient_parameters = expansion.block_by_id(0).gradients_list()
    if gradients is not None:
        gradient_parameters = list(gradients)

    # candidate keys: every neighbour pair a ≤ b seen around each centre type
    candidates = []
    for center_type in np.unique(keys[:, 2]).tolist():
        neighbor_types = np.unique(keys[keys[:, 2] == center_type, 3]).tolist()
        for position, first in enumerate(neighbor_types):
            for second in neighbor_types[position:]:
                candidates.append((center_type, first, second))
    if selected_keys is not None:
        if not isinstance(selected_keys, Labels):
            raise TypeError(
                f"`selected_keys` must be Labels, found {type(selected_keys).__name__}"
            )
        wanted = ["center_type", "neighbor_1_type", "neighbor_2_type"]
        for name in selected_keys.names:
            if name not in wanted:
                raise ValueError(
                    f"`selected_keys` may only use the names {wanted}, found {name!r}"
                )
        candidate_labels = Labels(wanted, np.array(candidates, dtype=np.int32).reshape(-1, 3))
        chosen = candidate_labels.select(selected_keys)
        candidates = [candidates[i] for i in chosen.tolist()]

    cache: Dict[Tuple[int, int], _ExpansionBlocks] = {}

    def blocks_of(center_type, neighbor_type):
        if (center_type, neighbor_type) not in cache:
            cache[(center_type, neighbor_type)] = _ExpansionBlocks(
                expansion, center_type, neighbor_type
            )
        return cache[(center_type, neighbor_type)]

    output_keys = []
    output_blocks = []
    # what the gradients from the pairs need of each block (see _add_pair_gradients)
    from_pairs = []
    for center_type, first_type, second_type in candidates:
        first = blocks_of(center_type, first_type)
        second = blocks_of(center_type, second_type)
        computed = _power_spectrum_block(first, second, (center_type, first_type, second_type),
                                         gradient_parameters if pairs is None else [])
        if computed is None:
            continue
        block, coefficients, angular, slices = computed
        output_keys.append((center_type, first_type, second_type))
        output_blocks.append(block)
        from_pairs.append((coefficients, angular, slices))
    if pairs is not None and len(gradient_parameters) != 0:
        _add_pair_gradients(pairs, output_keys, output_blocks, from_pairs, gradient_parameters)

    output_keys = Labels(
        ["center_type", "neighbor_1_type", "neighbor_2_type"],
        np.array(output_keys, dtype=np.int32).reshape(-1, 3),
    )
    if isinstance(expansion.block_by_id(0).values, np.ndarray):
        output_blocks = [block.to(arrays="numpy") for block in output_blocks]
    # metadata consistent by construction: no re-check (tens of blocks per call)
    return TensorMap._unchecked(output_keys, output_blocks)


def _normalization(o3_lambda: int, different_types: bool) -> float:
    factor = (-1.0) ** o3_lambda / math.sqrt(2 * o3_lambda + 1)
    return factor * math.sqrt(2.0) if different_types else factor


@functools.lru_cache(maxsize=64)
def _properties_of(channels: tuple) -> Tuple[Labels, list]:
    grids = []
    slices = []
    start = 0
    for o3_lambda, n_1, n_2 in channels:
        grid = np.empty((len(n_1), len(n_2), 3), dtype=np.int32)
        grid[:, :, 0] = o3_lambda
        grid[:, :, 1] = np.asarray(n_1)[:, None]
        grid[:, :, 2] = np.asarray(n_2)[None, :]
        grids.append(grid.reshape(-1, 3))
        slices.append((start, start + len(n_1) * len(n_2)))
        start += len(n_1) * len(n_2)
    return Labels(["l", "n_1", "n_2"], np.concatenate(grids, axis=0)), slices


def _properties(channels) -> Tuple[Labels, list]:
    """``(l, n_1, n_2)`` properties of the channels ``[(l, n of the first expansion
    block, n of the second)]`` and the ``(begin, end)`` columns of each ``l``; the same
    for every block of a call (and between calls), so built once."""
    key = tuple((o3_lambda, tuple(first.column("n").tolist()),
                 tuple(second.column("n").tolist()))
                for o3_lambda, first, second in channels)
    properties, slices = _properties_of(key)
    return properties, list(slices)


def _power_spectrum_block(
    first: _ExpansionBlocks,
    second: _ExpansionBlocks,
    types: Tuple[int, int, int],
    gradient_parameters: Sequence[str],
) -> Optional[Tuple[TensorBlock, tuple, list, list]]:
    """The block ``types`` with the ``gradient_parameters`` from the expansion's gradients,
    its coefficients ``({l: c¹}, {l: c²})`` on its samples, its ``l`` channels and their
    property columns; ``None`` for a block without samples or channels."""
    same_types = types[1] == types[2]
    if first is second or first.samples == second.samples:
        samples, first_rows, second_rows = first.samples, first.rows, second.rows
    else:
        samples, in_samples, _ = first.samples.intersection_and_mapping(second.samples)
        # rows of each expansion block feeding the power spectrum samples, in their order
        first_rows = first.rows[np.nonzero(in_samples >= 0)[0]]
        second_rows = second.rows[second.samples.positions(samples)]
    if len(samples) == 0:
        return None

    angular = [l for l in first.blocks if l in second.blocks]
    if len(angular) == 0:
        return None

    properties, slices = _properties(
        tuple((o3_lambda, first.blocks[o3_lambda].properties,
               second.blocks[o3_lambda].properties) for o3_lambda in angular)
    )

    n_samples = len(samples)
    first_values = {}
    second_values = {}
    products = []
    for o3_lambda in angular:
        c_1 = _index(_as_torch(first.blocks[o3_lambda].values), first_rows)
        c_2 = c_1 if same_types else _index(_as_torch(second.blocks[o3_lambda].values),
                                             second_rows)
        first_values[o3_lambda] = c_1
        second_values[o3_lambda] = c_2
        product = torch.bmm(c_1.transpose(1, 2), c_2).reshape(n_samples, -1)
        products.append(product * _normalization(o3_lambda, not same_types))
    values = torch.cat(products, dim=1)

    block = TensorBlock._unchecked(values, samples, [], properties)

    for parameter in gradient_parameters:
        gradient = _power_spectrum_gradient(
            parameter, first, second, same_types, angular, slices, properties,
            first_rows, second_rows, first_values, second_values, n_samples,
        )
        block.add_gradient(parameter, gradient)
    return block, (first_values, second_values), angular, slices


def _add_pair_gradients(pairs, keys, blocks, from_pairs, parameters):
    """Add the ``parameters`` gradients of ``blocks`` computed from the expansion's
    ``pairs`` (:mod:`calculators._soap_pair_gradients`). The blocks with the same
    neighbour types (and properties) go through it together, whatever their centre
    type: a few large batches of pairs rather than many small ones."""
    groups: Dict[tuple, List[int]] = {}
    for index, ((_, first_type, second_type), block) in enumerate(zip(keys, blocks)):
        group = (first_type, second_type, block.properties.values.tobytes())
        groups.setdefault(group, []).append(index)
    # pairs of a neighbour type that several groups use: their factors are computed once
    uses: Dict[int, int] = {}
    for first_type, second_type, _ in groups:
        for neighbor_type in {first_type, second_type}:
            uses[neighbor_type] = uses.get(neighbor_type, 0) + 1
    shared = {t for t, count in uses.items() if count > 1}
    pairs.share_factors({key[0] for key in keys}, shared)
    for (first_type, second_type, _), members in groups.items():
        _, angular, slices = from_pairs[members[0]]
        normalization = {o3_lambda: _normalization(o3_lambda, first_type != second_type)
                         for o3_lambda in angular}
        gradients = gradients_from_pairs(
            pairs,
            [(blocks[i].samples, *from_pairs[i][0]) for i in members],
            (first_type, second_type),
            shared, angular, slices, blocks[members[0]].properties, normalization,
            parameters,
        )
        for index, by_parameter in zip(members, gradients):
            for parameter in parameters:
                blocks[index]._add_gradient_unchecked(parameter, by_parameter[parameter])
    pairs.clear_cache()


def _power_spectrum_gradient(
    parameter, first, second, same_types, angular, slices, properties,
    first_rows, second_rows, first_values, second_values, n_samples,
):
    """Gradient block of ``p = c¹·c²`` with respect to ``parameter``.

    ``dp[r] = dc¹[r]ᵀ c²[s] + (dc²[r]ᵀ c¹[s])ᵀ`` where ``s`` is the output sample of the
    gradient row ``r``. All the rows of a sample multiply the same ``c[s]``, so each term
    is one batched product per ``l`` whose matrices hold every row of a sample: a product
    per row would only have ``2l + 1`` rows of ``m`` and cost mostly overhead. Samples
    with different numbers of rows share a product by padding their rows to the largest
    count of their chunk (:func:`~calculators._buffers.padded_chunks`); the padding rows
    go to a scratch row. When every sample has the same number of rows (strain, crystals)
    nothing is padded and the products of ``c·c`` write straight into the output. With
    two neighbour types each block is padded on its own rows; the second term gathers the
    rows the first one set (the centre's), adds to them and copies them back.
    """
    template_1 = first.blocks[angular[0]].gradient(parameter)
    n_own = len(template_1.components) - 1
    own_components = template_1.components[:n_own]
    own_size = int(np.prod([len(c) for c in own_components])) if n_own > 0 else 1

    to_output_1 = _inverse(first_rows, len(first.blocks[angular[0]].samples))
    kept_1, metadata_1 = _gradient_rows(template_1, to_output_1)
    if same_types:
        rows, target_1 = unique_rows(metadata_1)
        sources = [(kept_1, target_1)]
    else:
        template_2 = second.blocks[angular[0]].gradient(parameter)
        to_output_2 = _inverse(second_rows, len(second.blocks[angular[0]].samples))
        kept_2, metadata_2 = _gradient_rows(template_2, to_output_2)
        rows, inverse = unique_rows(np.concatenate([metadata_1, metadata_2], axis=0))
        sources = [(kept_1, inverse[: len(kept_1)]), (kept_2, inverse[len(kept_1):])]
    n_rows = rows.shape[0]
    gradient_samples = Labels(template_1.samples.names, rows.astype(np.int32),
                              assume_unique=True)
    reference = first_values[angular[0]]
    device = reference.device

    def to_device(indices):
        return torch.from_numpy(np.ascontiguousarray(indices)).to(device)

    # the last row is scratch: padding rows of the products are copied there, so that a
    # chunk goes into the output with one index_copy and no selection of its valid rows.
    # With one block every row is set; with two, each adds the rows it reaches.
    values = zeros((n_rows + 1, own_size, len(properties)), reference.dtype, device)

    # the normalisation goes on the small factor of each product
    scaled_1, scaled_2, gradients_1, gradients_2 = {}, {}, {}, {}
    for o3_lambda in angular:
        factor = _normalization(o3_lambda, not same_types)
        scaled_2[o3_lambda] = factor * second_values[o3_lambda]
        gradient = _as_torch(first.blocks[o3_lambda].gradient(parameter).values)
        gradients_1[o3_lambda] = gradient.reshape(gradient.shape[0], own_size,
                                                  *gradient.shape[-2:])
        if not same_types:
            scaled_1[o3_lambda] = factor * first_values[o3_lambda]
            gradient = _as_torch(second.blocks[o3_lambda].gradient(parameter).values)
            gradients_2[o3_lambda] = gradient.reshape(gradient.shape[0], own_size,
                                                      *gradient.shape[-2:])
    inputs = [*scaled_1.values(), *scaled_2.values(), *gradients_1.values(),
              *gradients_2.values()]
    differentiable = torch.is_grad_enabled() and any(x.requires_grad for x in inputs)
    # without autograd, the temporaries of every chunk share buffers: fresh arrays of a
    # few MiB cost page faults each time, as much as the work done in them
    workspace = None if differentiable else Workspace(reference.dtype, device)

    # dc¹ multiplies c², dc² multiplies c¹ and its product is transposed into (n_1, n_2)
    terms = [(sources[0], gradients_1, scaled_2, False)]
    if not same_types:
        terms.append((sources[1], gradients_2, scaled_1, True))
    sample_of_row = rows[:, 0].astype(np.int64)
    for term_index, ((kept, target), gradients, coefficients, transposed) in enumerate(terms):
        accumulate = term_index > 0
        order = np.argsort(target, kind="stable")
        kept, target = kept[order], target[order]
        # the rows of each sample follow each other in `target`
        counts = np.bincount(sample_of_row[target], minlength=n_samples)
        for chunk_samples, width, block_rows, padded_rows in padded_chunks(
                counts, _ROWS_PER_SAMPLE_CHUNK):
            n_chunk = len(chunk_samples)
            n_padded = n_chunk * width
            # padding rows take any gradient row and go to the scratch output row
            gather = np.full(n_padded, kept[block_rows[0]], dtype=np.int64)
            gather[padded_rows] = kept[block_rows]
            destination = np.full(n_padded, n_rows, dtype=np.int64)
            destination[padded_rows] = target[block_rows]
            destination_rows = _rows_or_slice(destination, device)
            in_place = same_types and isinstance(destination_rows, slice)
            if in_place:
                # no padding and the rows follow each other: write the output in place
                output = values[destination_rows]
            elif accumulate:
                # the second term adds to rows the first one may have set: gather them,
                # add, and copy back (index_add_ along rows is a serial loop on CPU)
                output = gathered(values, to_device(destination), workspace, "output")
            else:
                output = scratch(workspace, "output",
                                  (n_padded, own_size, len(properties)), values)
            gather_rows = _rows_or_slice(gather, device)
            sample_rows = _rows_or_slice(chunk_samples, device)
            for o3_lambda, (begin, end) in zip(angular, slices):
                d = _gathered_transposed(gradients[o3_lambda], gather_rows, workspace)
                n_a, n_m = d.shape[-2:]
                c = _take_rows(coefficients[o3_lambda], sample_rows)
                n_b = c.shape[-1]
                # term[row, own, a, b] = Σ_m dc[row, own, m, a] c[s, m, b]
                term = _product(d.view(n_chunk, -1, n_m), c, workspace)
                term = term.view(-1, own_size, n_a, n_b)
                target_slice = output[:, :, begin:end]
                if same_types:
                    # Σ_m c[s, m, i] dc[row, own, m, j] is the transpose of term
                    if differentiable:
                        target_slice.copy_((term + term.transpose(-1, -2))
                                           .reshape(target_slice.shape))
                    else:
                        torch.add(term, term.transpose(-1, -2),
                                  out=target_slice.view(term.shape))
                else:
                    if transposed:
                        term = term.transpose(-1, -2)
                    if accumulate:
                        target_slice.view(term.shape).add_(term)
                    else:
                        target_slice.view(term.shape).copy_(term)
            if in_place:
                continue
            values.index_copy_(0, to_device(destination), output)

    shape = [n_rows] + [len(c) for c in own_components] + [len(properties)]
    return TensorBlock(values[:n_rows].reshape(shape), gradient_samples,
                       list(own_components), properties)


# padded gradient rows handled at once: the temporaries of all l stay in cache
_ROWS_PER_SAMPLE_CHUNK = 1024


def _product(first: torch.Tensor, second: torch.Tensor, workspace):
    """``torch.bmm(first, second)``, into a reused buffer when there is one."""
    if workspace is None:
        return torch.bmm(first, second)
    output = workspace.get("product", (first.shape[0], first.shape[1], second.shape[2]))
    return torch.bmm(first, second, out=output)


def _gathered_transposed(gradient, rows, workspace):
    """``gradient[rows]`` (rows, own, m, n) as ``(rows, own, n, m)``.

    With ``m ↔ n`` swapped the padded rows of a sample make one contiguous
    ``(rows · own · n, m)`` matrix. Both copies go through 3-d views of stacked ``(m, n)``
    matrices, which torch transposes several times faster than the 4-d arrays."""
    n_own, n_m, n_radial = gradient.shape[1:]
    n_selected = rows.stop - rows.start if isinstance(rows, slice) else rows.shape[0]
    shape = (n_selected, n_own, n_radial, n_m)
    if isinstance(rows, slice):
        selected = gradient[rows]
    elif workspace is None:
        selected = gradient.index_select(0, rows)
    else:
        selected = torch.index_select(
            gradient, 0, rows, out=workspace.get("rows", (n_selected,) + tuple(
                gradient.shape[1:])))
    matrices = selected.reshape(-1, n_m, n_radial).transpose(1, 2)
    if workspace is None:
        transposed = matrices.contiguous().view(shape)
    else:
        transposed = workspace.get("transposed", shape)
        transposed.view(-1, n_radial, n_m).copy_(matrices)
    return transposed


def _take_rows(values: torch.Tensor, rows) -> torch.Tensor:
    """``values[rows]`` for rows from :func:`_rows_or_slice` (a view for a slice)."""
    if isinstance(rows, slice):
        return values[rows]
    return values.index_select(0, rows)


def _rows_or_slice(rows: np.ndarray, device):
    """``rows`` as a slice when they are consecutive (no copy needed), else as indices."""
    if rows.shape[0] != 0 and rows[-1] - rows[0] == rows.shape[0] - 1 and bool(
            np.all(np.diff(rows) == 1)):
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return torch.from_numpy(np.ascontiguousarray(rows)).to(device)


# --------------------------------------------------------------------------- radial spectrum
def radial_spectrum_from_expansion(expansion: TensorMap) -> TensorMap:
    """The SOAP radial spectrum: the λ = 0 blocks of a spherical expansion without their
    ``o3_mu`` component, with keys ``(center_type, neighbor_type)``.

    Examples
    --------
    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock, TensorMap
    >>> block = TensorBlock(
    ...     values=np.array([[[1.0, 2.0]]]),
    ...     samples=Labels(["system", "atom"], [[0, 0]]),
    ...     components=[Labels("o3_mu", [[0]])],
    ...     properties=Labels("n", [[0], [1]]),
    ... )
    >>> keys = Labels(["o3_lambda", "o3_sigma", "center_type", "neighbor_type"], [[0, 1, 1, 1]])
    >>> radial_spectrum_from_expansion(TensorMap(keys, [block])).block(0).values.tolist()
    [[1.0, 2.0]]
    """
    _check_expansion(expansion)
    keys = expansion.keys.values
    chosen = np.nonzero(keys[:, 0] == 0)[0]
    if len(chosen) == 0:
        raise ValueError("`expansion` has no o3_lambda = 0 block, the radial spectrum needs one")
    chosen = chosen[np.lexsort((keys[chosen, 3], keys[chosen, 2]))]
    blocks = []
    for index in chosen.tolist():
        center_type, neighbor_type = int(keys[index, 2]), int(keys[index, 3])
        selected = _ExpansionBlocks(expansion, center_type, neighbor_type)
        block = selected.blocks[0]
        rows = selected.rows
        values = _index(_as_torch(block.values), rows)[:, 0, :]
        new = TensorBlock(values, selected.samples, [], block.properties)
        to_output = _inverse(rows, len(block.samples))
        for parameter, gradient in block.gradients():
            kept, metadata = _gradient_rows(gradient, to_output)
            gradient_values = _index(_as_torch(gradient.values), kept)[..., 0, :]
            new.add_gradient(
                parameter,
                TensorBlock(gradient_values,
                            Labels(gradient.samples.names, metadata, assume_unique=True),
                            list(gradient.components[:-1]), gradient.properties),
            )
        if isinstance(block.values, np.ndarray):
            new = new.to(arrays="numpy")
        blocks.append(new)
    new_keys = Labels(["center_type", "neighbor_type"], keys[chosen][:, 2:4])
    return TensorMap(new_keys, blocks)


# --------------------------------------------------------------------------- calculators
def _check_gradients(gradients, calculator="SoapPowerSpectrum") -> List[str]:
    return check_gradients(gradients, _SUPPORTED_GRADIENTS, calculator)


def _spherical_expansion_class():
    # imported lazily: the power spectrum can be built from any precomputed expansion
    # without the spherical expansion module being loaded
    from .spherical_expansion import SphericalExpansion

    return SphericalExpansion


class SoapPowerSpectrum(torch.nn.Module):
    """SOAP power spectrum (featomic 0.6 hyper-parameters and output layout).

    Parameters
    ----------
    cutoff : dict
        ``{"radius": float, "smoothing": {"type": "ShiftedCosine", "width": float}}``.
    density : dict
        ``{"type": "Gaussian", "width": float, ...}`` (as for the spherical expansion).
    basis : dict
        ``{"type": "TensorProduct", "max_angular": int,
        "radial": {"type": "Gto", "max_radial": int}}``.

    The output has keys ``(center_type, neighbor_1_type, neighbor_2_type)`` with
    ``neighbor_1_type ≤ neighbor_2_type``, samples ``(system, atom)``, properties
    ``(l, n_1, n_2)``; see the module documentation for the normalisation.

    Examples
    --------
    >>> import ase
    >>> calculator = SoapPowerSpectrum(
    ...     cutoff={"radius": 3.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
    ...     density={"type": "Gaussian", "width": 0.3},
    ...     basis={"type": "TensorProduct", "max_angular": 2,
    ...            "radial": {"type": "Gto", "max_radial": 3}},
    ... )
    >>> water = ase.Atoms("OH2", positions=[[0, 0, 0], [0, 0.76, 0.59], [0, -0.76, 0.59]])
    >>> spectrum = calculator.compute(water, gradients=["positions"])
    >>> spectrum.keys.values.tolist()
    [[1, 1, 1], [1, 1, 8], [1, 8, 8], [8, 1, 1], [8, 1, 8], [8, 8, 8]]
    >>> spectrum.block(0).values.shape
    torch.Size([2, 48])
    """

    def __init__(self, *, cutoff, density, basis):
        super().__init__()
        self.spherical_expansion = _spherical_expansion_class()(
            cutoff=cutoff, density=density, basis=basis
        )
        self.hypers = self.spherical_expansion.hypers

    def compute(self, systems, gradients=None, selected_keys: Optional[Labels] = None,
                selected_samples: Optional[Labels] = None,
                selected_properties: Optional[Labels] = None):
        """Power spectrum of ``systems`` (``ase.Atoms``, :class:`~calculators.system.System`
        or a list of them) with the requested explicit ``gradients`` (``"positions"``,
        ``"strain"``, ``"cell"``); ``selected_keys`` picks ``(center_type, neighbor_1_type,
        neighbor_2_type)`` keys, ``selected_samples`` ``(system, atom)`` centres (Labels,
        or a TensorMap with the output's keys selecting samples block by block),
        ``selected_properties`` ``(l, n_1, n_2)`` entries in the same two forms (applied
        to the computed blocks)."""
        gradients = _check_gradients(gradients)

        def compute(samples):
            # gradients come from the pairs (see calculators._soap_pair_gradients), not
            # from the expansion's gradients
            expansion, pairs = self.spherical_expansion._compute(
                systems, [], None, samples, keep_pairs=len(gradients) != 0,
            )
            return _power_spectrum(expansion, selected_keys, pairs, gradients)

        return with_selections(compute, selected_samples, selected_properties)

    def forward(self, systems, gradients=None, selected_keys: Optional[Labels] = None,
                selected_samples: Optional[Labels] = None,
                selected_properties: Optional[Labels] = None):
        return self.compute(systems, gradients=gradients, selected_keys=selected_keys,
                            selected_samples=selected_samples,
                            selected_properties=selected_properties)

    @staticmethod
    def compute_from_expansion(expansion: TensorMap,
                               selected_keys: Optional[Labels] = None) -> TensorMap:
        """Power spectrum of a precomputed spherical expansion (see
        :func:`power_spectrum_from_expansion`)."""
        return power_spectrum_from_expansion(expansion, selected_keys=selected_keys)


class SoapRadialSpectrum(torch.nn.Module):
    """SOAP radial spectrum: the λ = 0 spherical expansion, keys
    ``(center_type, neighbor_type)``, samples ``(system, atom)``, properties ``n``.

    Parameters
    ----------
    cutoff, density : dict
        As for :class:`SoapPowerSpectrum`.
    basis : dict
        ``{"radial": {"type": "Gto", "max_radial": int}}`` (featomic 0.6 names).

    Examples
    --------
    >>> import ase
    >>> calculator = SoapRadialSpectrum(
    ...     cutoff={"radius": 3.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
    ...     density={"type": "Gaussian", "width": 0.3},
    ...     basis={"radial": {"type": "Gto", "max_radial": 3}},
    ... )
    >>> water = ase.Atoms("OH2", positions=[[0, 0, 0], [0, 0.76, 0.59], [0, -0.76, 0.59]])
    >>> spectrum = calculator.compute(water)
    >>> spectrum.keys.values.tolist()
    [[1, 1], [1, 8], [8, 1], [8, 8]]
    """

    def __init__(self, *, cutoff, density, basis):
        super().__init__()
        cutoff = as_hypers_dict(cutoff, "cutoff")
        density = as_hypers_dict(density, "density")
        basis = as_hypers_dict(basis, "basis")
        if "radial" not in basis:
            raise ValueError(
                f"`basis` must be a dict with a 'radial' entry, found {basis!r}"
            )
        unexpected = set(basis) - {"radial", "type", "max_angular"}
        if unexpected or basis.get("max_angular", 0) != 0:
            raise ValueError(
                "`basis` of the radial spectrum only takes 'radial' (max_angular is 0), "
                f"found {basis!r}"
            )
        self.hypers = {"cutoff": cutoff, "density": density, "basis": basis}
        expansion_basis = {"type": "TensorProduct", "max_angular": 0,
                           "radial": basis["radial"]}
        self.spherical_expansion = _spherical_expansion_class()(
            cutoff=cutoff, density=density, basis=expansion_basis
        )

    def compute(self, systems, gradients=None):
        """Radial spectrum of ``systems`` with the requested explicit ``gradients``."""
        gradients = _check_gradients(gradients, "SoapRadialSpectrum")
        expansion = self.spherical_expansion.compute(systems, gradients=gradients)
        return radial_spectrum_from_expansion(expansion)

    def forward(self, systems, gradients=None):
        return self.compute(systems, gradients=gradients)

    @staticmethod
    def compute_from_expansion(expansion: TensorMap) -> TensorMap:
        """Radial spectrum of a precomputed spherical expansion."""
        return radial_spectrum_from_expansion(expansion)
