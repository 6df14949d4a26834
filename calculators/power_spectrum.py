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
product per angular channel — there is no loop over atoms or gradient rows. Gradient rows
are handled in chunks that finish every angular channel before the next chunk, so the
working set stays in cache; when every sample has the same number of gradient rows (strain,
crystals) the products take a whole sample at once.

With gradients, :class:`SoapPowerSpectrum` expands large systems a chunk of centres at a
time and fills each output array once, so the expansion of all centres (about as large as
the output) is never held next to the output.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from blocktensor import Labels, TensorBlock, TensorMap

from ._gradients import check_gradients

__all__ = ["SoapPowerSpectrum", "SoapRadialSpectrum", "power_spectrum_from_expansion",
           "radial_spectrum_from_expansion"]

_EXPANSION_KEYS = ["o3_lambda", "o3_sigma", "center_type", "neighbor_type"]
_SUPPORTED_GRADIENTS = ("positions", "strain")


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


def _unique_rows(values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Lexicographically sorted unique rows of a 2-D int array and the inverse mapping."""
    if values.shape[0] == 0:
        return values.reshape(0, values.shape[1]), np.zeros(0, dtype=np.int64)
    values64 = values.astype(np.int64)
    minimums = values64.min(axis=0)
    spans = values64.max(axis=0) - minimums + 1
    if float(np.prod(spans.astype(np.float64))) < 2.0**62:
        key = np.zeros(values.shape[0], dtype=np.int64)
        for column in range(values.shape[1]):
            key = key * spans[column] + (values64[:, column] - minimums[column])
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        return values[first], inverse.reshape(-1)
    unique, inverse = np.unique(values, axis=0, return_inverse=True)
    return unique, inverse.reshape(-1)


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


def _is_identity(rows: np.ndarray, size: int) -> bool:
    return rows.shape[0] == size and (size == 0 or bool(np.all(rows == np.arange(size))))


def _batched_contraction(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """``out[d, k, i, j] = Σ_m first[k, d, m, i] · second[k, m, j]`` (note: ``d`` first).

    One batched matrix product per ``d`` (3 for positions, 9 for strain) reads ``first``
    in place through strides and writes a contiguous slice of the output, where a single
    product would first copy ``first`` transposed.
    """
    n_rows, n_own, _, n_first = first.shape
    output = torch.empty((n_own, n_rows, n_first, second.shape[-1]), dtype=first.dtype,
                         device=first.device)
    if first.requires_grad or second.requires_grad:
        return torch.stack(
            [torch.bmm(first[:, own].transpose(1, 2), second) for own in range(n_own)]
        )
    for own in range(n_own):
        torch.bmm(first[:, own].transpose(1, 2), second, out=output[own])
    return output


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
    _check_expansion(expansion)
    keys = expansion.keys.values
    gradient_parameters = expansion.block_by_id(0).gradients_list()

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
    for center_type, first_type, second_type in candidates:
        first = blocks_of(center_type, first_type)
        second = blocks_of(center_type, second_type)
        block = _power_spectrum_block(first, second, first_type == second_type,
                                      gradient_parameters)
        if block is None:
            continue
        output_keys.append((center_type, first_type, second_type))
        output_blocks.append(block)

    output_keys = Labels(
        ["center_type", "neighbor_1_type", "neighbor_2_type"],
        np.array(output_keys, dtype=np.int32).reshape(-1, 3),
    )
    if isinstance(expansion.block_by_id(0).values, np.ndarray):
        output_blocks = [block.to(arrays="numpy") for block in output_blocks]
    return TensorMap(output_keys, output_blocks)


def _normalization(o3_lambda: int, different_types: bool) -> float:
    factor = (-1.0) ** o3_lambda / math.sqrt(2 * o3_lambda + 1)
    return factor * math.sqrt(2.0) if different_types else factor


def _power_spectrum_block(
    first: _ExpansionBlocks,
    second: _ExpansionBlocks,
    same_types: bool,
    gradient_parameters: Sequence[str],
) -> Optional[TensorBlock]:
    samples, in_samples, _ = first.samples.intersection_and_mapping(second.samples)
    if len(samples) == 0:
        return None
    # rows of each expansion block feeding the power spectrum samples, in their order
    first_rows = first.rows[np.nonzero(in_samples >= 0)[0]]
    second_rows = second.rows[second.samples.positions(samples)]

    angular = [l for l in first.blocks if l in second.blocks]
    if len(angular) == 0:
        return None

    properties = []
    slices = []
    start = 0
    for o3_lambda in angular:
        n_1 = first.blocks[o3_lambda].properties.column("n")
        n_2 = second.blocks[o3_lambda].properties.column("n")
        grid = np.empty((len(n_1), len(n_2), 3), dtype=np.int32)
        grid[:, :, 0] = o3_lambda
        grid[:, :, 1] = n_1[:, None]
        grid[:, :, 2] = n_2[None, :]
        properties.append(grid.reshape(-1, 3))
        slices.append((start, start + len(n_1) * len(n_2)))
        start += len(n_1) * len(n_2)
    properties = Labels(["l", "n_1", "n_2"], np.concatenate(properties, axis=0))

    reference = _as_torch(first.blocks[angular[0]].values)
    n_samples = len(samples)
    values = torch.empty((n_samples, len(properties)), dtype=reference.dtype,
                         device=reference.device)
    first_values = {}
    second_values = {}
    for o3_lambda, (begin, end) in zip(angular, slices):
        c_1 = _index(_as_torch(first.blocks[o3_lambda].values), first_rows)
        c_2 = c_1 if same_types else _index(_as_torch(second.blocks[o3_lambda].values),
                                             second_rows)
        first_values[o3_lambda] = c_1
        second_values[o3_lambda] = c_2
        product = torch.bmm(c_1.transpose(1, 2), c_2)
        factor = _normalization(o3_lambda, not same_types)
        values[:, begin:end] = (factor * product).reshape(n_samples, -1)

    block = TensorBlock(values, samples, [], properties)

    for parameter in gradient_parameters:
        gradient = _power_spectrum_gradient(
            parameter, first, second, same_types, angular, slices, properties,
            first_rows, second_rows, first_values, second_values, n_samples,
        )
        block.add_gradient(parameter, gradient)
    return block


def _power_spectrum_gradient(
    parameter, first, second, same_types, angular, slices, properties,
    first_rows, second_rows, first_values, second_values, n_samples,
):
    """Gradient block of ``p = c¹·c²`` with respect to ``parameter``.

    ``dp[r] = dc¹[r]ᵀ c²[s] + (dc²[r]ᵀ c¹[s])ᵀ`` where ``s`` is the output sample of the
    gradient row ``r``. When every sample has the same number ``k`` of gradient rows
    (strain gradients, crystals with one environment), the ``k`` rows of a sample all
    multiply the same ``c[s]``: each term is one batched product per ``l`` whose matrices
    hold a whole sample, instead of one tiny product per row. Otherwise the rows are
    handled one by one (:func:`_gradient_by_rows`).
    """
    template_1 = first.blocks[angular[0]].gradient(parameter)
    n_own = len(template_1.components) - 1
    own_components = template_1.components[:n_own]
    own_size = int(np.prod([len(c) for c in own_components])) if n_own > 0 else 1

    to_output_1 = _inverse(first_rows, len(first.blocks[angular[0]].samples))
    kept_1, metadata_1 = _gradient_rows(template_1, to_output_1)
    if same_types:
        # the rows of the block are the output rows: their counts decide the path early
        counts = np.bincount(metadata_1[:, 0].astype(np.int64), minlength=n_samples)
        if metadata_1.shape[0] == 0 or not bool(np.all(counts == counts[0])):
            return _gradient_by_rows(
                parameter, first, second, same_types, angular, slices, properties,
                first_rows, second_rows, first_values, second_values, n_samples,
            )
        rows, target_1 = _unique_rows(metadata_1)
        sources = [(kept_1, target_1)]
    else:
        template_2 = second.blocks[angular[0]].gradient(parameter)
        to_output_2 = _inverse(second_rows, len(second.blocks[angular[0]].samples))
        kept_2, metadata_2 = _gradient_rows(template_2, to_output_2)
        rows, inverse = _unique_rows(np.concatenate([metadata_1, metadata_2], axis=0))
        sources = [(kept_1, inverse[: len(kept_1)]), (kept_2, inverse[len(kept_1):])]
    n_rows = rows.shape[0]
    counts = np.bincount(rows[:, 0].astype(np.int64), minlength=n_samples)
    if n_rows == 0 or not bool(np.all(counts == counts[0])):
        return _gradient_by_rows(
            parameter, first, second, same_types, angular, slices, properties,
            first_rows, second_rows, first_values, second_values, n_samples,
        )
    # rows are sorted by sample: those of samples [s, t) are the rows [s·k, t·k)
    rows_per_sample = int(counts[0])
    gradient_samples = Labels(template_1.samples.names, rows.astype(np.int32),
                              assume_unique=True)
    reference = first_values[angular[0]]
    device = reference.device
    values = torch.empty((n_rows, own_size, len(properties)), dtype=reference.dtype,
                         device=device)

    # per source block: its gradient rows sorted by output row, to cut them by chunks
    sorted_sources = []
    for kept, target in sources:
        order = np.argsort(target, kind="stable")
        sorted_sources.append((kept[order], target[order]))

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

    samples_per_chunk = max(1, _ROWS_PER_SAMPLE_CHUNK // rows_per_sample)
    for first_sample in range(0, n_samples, samples_per_chunk):
        last_sample = min(first_sample + samples_per_chunk, n_samples)
        n_chunk = last_sample - first_sample
        row_begin, row_end = first_sample * rows_per_sample, last_sample * rows_per_sample
        chunk_sources = []
        for kept, target in sorted_sources:
            begin, end = np.searchsorted(target, [row_begin, row_end])
            chunk_sources.append((kept[begin:end], target[begin:end] - row_begin))
        output = values[row_begin:row_end]
        for o3_lambda, (begin, end) in zip(angular, slices):
            d_1 = _transposed_rows(gradients_1[o3_lambda], *chunk_sources[0],
                                   row_end - row_begin)
            n_1, n_m = d_1.shape[-2:]
            c_2 = scaled_2[o3_lambda][first_sample:last_sample]
            n_2 = c_2.shape[-1]
            # term_1[row, own, i, j] = Σ_m dc¹[row, own, m, i] c²[s, m, j]
            term_1 = torch.bmm(d_1.view(n_chunk, -1, n_m), c_2)
            term_1 = term_1.view(-1, own_size, n_1, n_2)
            if same_types:
                term_2 = term_1
            else:
                d_2 = _transposed_rows(gradients_2[o3_lambda], *chunk_sources[1],
                                       row_end - row_begin)
                c_1 = scaled_1[o3_lambda][first_sample:last_sample]
                term_2 = torch.bmm(d_2.view(n_chunk, -1, n_m), c_1)
                term_2 = term_2.view(-1, own_size, n_2, n_1)
            # Σ_m c¹[s, m, i] dc²[row, own, m, j] is the transpose of term_2
            target = output[:, :, begin:end]
            if target.requires_grad or term_1.requires_grad or term_2.requires_grad:
                target.copy_((term_1 + term_2.transpose(-1, -2)).reshape(target.shape))
            else:
                torch.add(term_1, term_2.transpose(-1, -2),
                          out=target.view(term_1.shape))

    shape = [n_rows] + [len(c) for c in own_components] + [len(properties)]
    return TensorBlock(values.reshape(shape), gradient_samples, list(own_components),
                       properties)


# gradient rows of whole samples handled at once: the temporaries of all l stay in cache
_ROWS_PER_SAMPLE_CHUNK = 1024


def _transposed_rows(gradient, source_rows, targets, n_targets):
    """``out[target] = gradient[row]ᵀ`` (``m ↔ n``) for ``n_targets`` rows, zero where no
    source row lands."""
    n_m, n_radial = gradient.shape[-2:]
    if (len(source_rows) == n_targets and n_targets > 0
            and source_rows[-1] - source_rows[0] == n_targets - 1
            and targets[-1] - targets[0] == n_targets - 1):
        begin = int(source_rows[0])
        return gradient[begin:begin + n_targets].transpose(-1, -2).contiguous()
    output = torch.zeros((n_targets,) + tuple(gradient.shape[1:-2]) + (n_radial, n_m),
                         dtype=gradient.dtype, device=gradient.device)
    if len(source_rows) != 0:
        device = gradient.device
        selected = gradient.index_select(0, torch.from_numpy(source_rows).to(device))
        output.index_copy_(0, torch.from_numpy(np.ascontiguousarray(targets)).to(device),
                           selected.transpose(-1, -2))
    return output


# gradient rows handled at once: bounds the temporaries to a few MiB whatever the system
_ROWS_PER_CHUNK_ELEMENTS = 2**20


def _same_types_gradient(values, blocks, parameter, angular, slices, kept, output_sample,
                         expansion_values, own_size):
    """Fill ``values`` (rows, own, properties) with ``d(c·c) = dc·c + (dc·c)ᵀ``, chunk of
    rows after chunk of rows, each chunk one batched product per ``l``."""
    n_rows = values.shape[0]
    identity = _is_identity(kept, n_rows)
    for o3_lambda, (begin, end) in zip(angular, slices):
        factor = _normalization(o3_lambda, False)
        gradient = _as_torch(blocks.blocks[o3_lambda].gradient(parameter).values)
        n_m, n_radial = gradient.shape[-2], gradient.shape[-1]
        gradient = gradient.reshape(gradient.shape[0], own_size, n_m, n_radial)
        coefficients = expansion_values[o3_lambda]
        chunk = max(1, _ROWS_PER_CHUNK_ELEMENTS // (own_size * n_radial * n_radial))
        for start in range(0, n_rows, chunk):
            stop = min(start + chunk, n_rows)
            if identity:
                d_c = gradient[start:stop]
            else:
                d_c = _index(gradient, kept[start:stop])
            # the normalisation goes on the small factor of the product
            c = factor * _index(coefficients, output_sample[start:stop])
            term = _batched_contraction(d_c, c).permute(1, 0, 2, 3)
            output = values[start:stop, :, begin:end]
            if output.requires_grad or term.requires_grad:
                output.copy_((term + term.transpose(-1, -2)).reshape(stop - start, own_size, -1))
            else:
                torch.add(term, term.transpose(-1, -2),
                          out=output.view(stop - start, own_size, n_radial, n_radial))


def _gradient_by_rows(
    parameter, first, second, same_types, angular, slices, properties,
    first_rows, second_rows, first_values, second_values, n_samples,
):
    """Gradient block of ``p = c¹·c²`` for any layout of gradient rows: each term is one
    batched product per row and ``l``, set or accumulated into the rows it reaches (a
    row reached by both blocks, the centre itself, gets both terms)."""
    template_1 = first.blocks[angular[0]].gradient(parameter)
    template_2 = second.blocks[angular[0]].gradient(parameter)
    n_own = len(template_1.components) - 1
    own_components = template_1.components[:n_own]
    own_size = int(np.prod([len(c) for c in own_components])) if n_own > 0 else 1

    to_output_1 = _inverse(first_rows, len(first.blocks[angular[0]].samples))
    kept_1, metadata_1 = _gradient_rows(template_1, to_output_1)
    if same_types:
        # one set of rows: sorting them makes the output rows a plain slice
        rows, inverse = _unique_rows(metadata_1)
        order = np.argsort(inverse, kind="stable")
        kept_1 = kept_1[order]
        metadata_1 = metadata_1[order]
    else:
        to_output_2 = _inverse(second_rows, len(second.blocks[angular[0]].samples))
        kept_2, metadata_2 = _gradient_rows(template_2, to_output_2)
        rows, inverse = _unique_rows(np.concatenate([metadata_1, metadata_2], axis=0))
        target_1 = inverse[: len(kept_1)]
        target_2 = inverse[len(kept_1):]
        # rows reached by both blocks (the centre itself) accumulate, the others are set
        reached_by_1 = np.zeros(rows.shape[0], dtype=bool)
        reached_by_1[target_1] = True
        shared_2 = reached_by_1[target_2]
    n_rows = rows.shape[0]
    gradient_samples = Labels(template_1.samples.names, rows.astype(np.int32),
                              assume_unique=True)

    reference = first_values[angular[0]]
    device = reference.device

    def to_device(indices):
        return torch.from_numpy(np.ascontiguousarray(indices)).to(device)

    # every entry is written below: each l slice of each row comes from one block or both
    values = torch.empty((n_rows, own_size, len(properties)), dtype=reference.dtype,
                         device=device)
    # the output sample (hence the expansion values) each gradient row multiplies
    output_sample_1 = metadata_1[:, 0].astype(np.int64)
    if not same_types:
        output_sample_2 = metadata_2[:, 0].astype(np.int64)
        target_1_torch = to_device(target_1)
        target_2_set = to_device(target_2[~shared_2])
        target_2_add = to_device(target_2[shared_2])
        part_2_set = to_device(np.nonzero(~shared_2)[0])
        part_2_add = to_device(np.nonzero(shared_2)[0])

    if same_types:
        _same_types_gradient(values, first, parameter, angular, slices, kept_1,
                             output_sample_1, second_values, own_size)
        angular = []

    for o3_lambda, (begin, end) in zip(angular, slices):
        factor = _normalization(o3_lambda, not same_types)
        d_1 = _as_torch(first.blocks[o3_lambda].gradient(parameter).values)
        n_m, n_1 = d_1.shape[-2], d_1.shape[-1]
        d_1 = _index(d_1.reshape(d_1.shape[0], own_size, n_m, n_1), kept_1)
        # the normalisation goes on the small factor of the product
        c_2 = factor * _index(second_values[o3_lambda], output_sample_1)
        n_2 = c_2.shape[-1]
        term_1 = _batched_contraction(d_1, c_2).permute(1, 0, 2, 3)
        output = values[:, :, begin:end]
        output.index_copy_(0, target_1_torch, term_1.reshape(term_1.shape[0], own_size, -1))
        d_2 = _as_torch(second.blocks[o3_lambda].gradient(parameter).values)
        d_2 = _index(d_2.reshape(d_2.shape[0], own_size, n_m, n_2), kept_2)
        c_1 = factor * _index(first_values[o3_lambda], output_sample_2)
        # Σ_m c1[m, i] d2[d, m, j] is the transpose of d2ᵀ·c1
        term_2 = _batched_contraction(d_2, c_1).permute(1, 0, 3, 2)
        term_2 = term_2.reshape(term_2.shape[0], own_size, -1)
        output.index_copy_(0, target_2_set, term_2.index_select(0, part_2_set))
        output.index_add_(0, target_2_add, term_2.index_select(0, part_2_add))

    shape = [n_rows] + [len(c) for c in own_components] + [len(properties)]
    return TensorBlock(values.reshape(shape), gradient_samples, list(own_components),
                       properties)


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


# With gradients, the expansion of all centres is about as large as the power spectrum
# built from it; systems of more than _LARGE_SYSTEM atoms are therefore expanded
# _ATOMS_PER_CHUNK centres at a time, and runs of smaller systems _ATOMS_PER_GROUP atoms at
# a time. Each chunk costs one more expansion call (neighbour list included), so chunks
# stay large: fewer, bigger chunks are faster, smaller ones lower the peak memory.
_LARGE_SYSTEM = 1024
_ATOMS_PER_CHUNK = 128
_ATOMS_PER_GROUP = 2048


def _centre_chunks(systems):
    """Split ``systems`` into ``(systems, index of the first one, atoms)`` chunks: runs
    of whole systems with at most ``_ATOMS_PER_GROUP`` atoms, or ranges of the atoms of a
    system larger than ``_LARGE_SYSTEM`` (``atoms`` is then the array of their indices,
    else ``None``). ``None`` when the atom counts cannot be read (the expansion reports
    the error)."""
    if not isinstance(systems, (list, tuple)):
        systems = [systems]
    try:
        sizes = [len(system.positions) for system in systems]
    except (AttributeError, TypeError):
        return None
    chunks = []
    start = 0
    while start < len(systems):
        if sizes[start] > _LARGE_SYSTEM:
            n_pieces = -(-sizes[start] // _ATOMS_PER_CHUNK)
            for atoms in np.array_split(np.arange(sizes[start]), n_pieces):
                chunks.append(([systems[start]], start, atoms))
            start += 1
            continue
        stop, total = start, 0
        while stop < len(systems) and sizes[stop] <= _LARGE_SYSTEM and (
            total + sizes[stop] <= _ATOMS_PER_GROUP or stop == start
        ):
            total += sizes[stop]
            stop += 1
        chunks.append((list(systems[start:stop]), start, None))
        start = stop
    return chunks


def _detach_blocks(spectrum: TensorMap, first_system: int):
    """``{key: [values, samples, properties, {parameter: (values, samples, components)}]}``
    of ``spectrum``, with the ``system`` columns shifted by ``first_system``."""
    pieces = {}
    system_column = spectrum.sample_names.index("system")
    for key, block in spectrum.items():
        samples = block.samples.values.copy()
        samples[:, system_column] += first_system
        gradients = {}
        for parameter, gradient in block.gradients():
            gradient_samples = gradient.samples.values.copy()
            if "system" in gradient.samples.names:
                gradient_samples[:, gradient.samples.names.index("system")] += first_system
            gradients[parameter] = [gradient.values, gradient_samples,
                                    list(gradient.components), gradient.samples.names]
        pieces[tuple(key.values.tolist())] = [block.values, samples, block.properties,
                                              gradients]
    return (spectrum.keys.names, spectrum.sample_names, pieces)


def _concatenate_pieces(pieces) -> TensorMap:
    """One TensorMap from the chunk pieces of :func:`_detach_blocks`, in chunk order.

    Each output array is allocated once and filled piece by piece, dropping each piece
    as soon as it is copied, so that the peak memory stays close to the output size."""
    key_names, sample_names = pieces[0][0], pieces[0][1]
    chunk_blocks = [chunk[2] for chunk in pieces]
    all_keys = sorted({key for blocks in chunk_blocks for key in blocks})
    blocks = []
    for key in all_keys:
        parts = [blocks_of_chunk.pop(key) for blocks_of_chunk in chunk_blocks
                 if key in blocks_of_chunk]
        properties = parts[0][2]
        samples = np.concatenate([part[1] for part in parts], axis=0)
        sample_offsets = np.cumsum([0] + [len(part[1]) for part in parts])
        parameters = list(parts[0][3])
        gradient_samples = {}
        gradient_components = {}
        gradient_names = {}
        for parameter in parameters:
            shifted = []
            for offset, part in zip(sample_offsets, parts):
                rows = part[3][parameter][1]
                rows[:, 0] += offset
                shifted.append(rows)
            gradient_samples[parameter] = np.concatenate(shifted, axis=0)
            gradient_components[parameter] = parts[0][3][parameter][2]
            gradient_names[parameter] = parts[0][3][parameter][3]
        values = _fill([part[0] for part in parts])
        gradient_values = {}
        for parameter in parameters:
            arrays = []
            for part in parts:
                arrays.append(part[3][parameter][0])
                part[3][parameter][0] = None
            gradient_values[parameter] = _fill(arrays)
        del parts
        block = TensorBlock(values, Labels(sample_names, samples, assume_unique=True), [],
                            properties)
        for parameter in parameters:
            block.add_gradient(parameter, TensorBlock(
                gradient_values[parameter],
                Labels(gradient_names[parameter], gradient_samples[parameter],
                       assume_unique=True),
                gradient_components[parameter], properties,
            ))
        blocks.append(block)
    keys = Labels(key_names, np.array(all_keys, dtype=np.int32).reshape(-1, len(key_names)))
    return TensorMap(keys, blocks)


def _fill(arrays):
    """Concatenation of ``arrays`` along the first axis into one preallocated array,
    releasing each input (the list entries are cleared) once it is copied."""
    first = arrays[0]
    total = sum(array.shape[0] for array in arrays)
    if isinstance(first, np.ndarray):
        output = np.empty((total,) + first.shape[1:], dtype=first.dtype)
    else:
        if any(array.requires_grad for array in arrays):
            return torch.cat(arrays, dim=0)
        output = torch.empty((total,) + tuple(first.shape[1:]), dtype=first.dtype,
                             device=first.device)
    start = 0
    for index in range(len(arrays)):
        array = arrays[index]
        output[start:start + array.shape[0]] = array
        start += array.shape[0]
        arrays[index] = None
        del array
        _release_freed_memory()
    return output


def _load_malloc_trim():
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: freed memory is left to the allocator
        return None


_MALLOC_TRIM = _load_malloc_trim()


def _release_freed_memory():
    """Hand the memory of freed pieces back to the system: glibc keeps freed blocks of a
    few MiB in its arenas, where the output being filled cannot reuse them, so the peak
    would otherwise be the output plus all its pieces."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


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
        self.hypers = {"cutoff": cutoff, "density": density, "basis": basis}
        self.spherical_expansion = _spherical_expansion_class()(
            cutoff=cutoff, density=density, basis=basis
        )

    def compute(self, systems, gradients=None, selected_keys: Optional[Labels] = None,
                selected_samples: Optional[Labels] = None):
        """Power spectrum of ``systems`` (``ase.Atoms``, :class:`~calculators.system.System`
        or a list of them) with the requested explicit ``gradients`` (``"positions"``,
        ``"strain"``); ``selected_keys`` picks ``(center_type, neighbor_1_type,
        neighbor_2_type)`` keys, ``selected_samples`` ``(system, atom)`` centres."""
        gradients = _check_gradients(gradients)
        chunks = None
        if len(gradients) != 0 and selected_samples is None:
            chunks = _centre_chunks(systems)
        if chunks is None or len(chunks) < 2:
            expansion = self.spherical_expansion.compute(
                systems, gradients=gradients, selected_samples=selected_samples
            )
            return power_spectrum_from_expansion(expansion, selected_keys=selected_keys)
        # with gradients, the expansion of all centres is as large as the output: compute
        # it (and its power spectrum) a chunk of centres at a time
        pieces = []
        for chunk_systems, first_system, atoms in chunks:
            chunk_selection = None
            if atoms is not None:
                chunk_selection = Labels(
                    ["system", "atom"],
                    np.stack([np.zeros(len(atoms), dtype=np.int64), atoms], axis=1),
                )
            expansion = self.spherical_expansion.compute(
                chunk_systems, gradients=gradients, selected_samples=chunk_selection
            )
            spectrum = power_spectrum_from_expansion(expansion, selected_keys=selected_keys)
            del expansion
            pieces.append(_detach_blocks(spectrum, first_system))
            del spectrum
            _release_freed_memory()
        return _concatenate_pieces(pieces)

    def forward(self, systems, gradients=None, selected_keys: Optional[Labels] = None,
                selected_samples: Optional[Labels] = None):
        return self.compute(systems, gradients=gradients, selected_keys=selected_keys,
                            selected_samples=selected_samples)

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
        if not isinstance(basis, dict) or "radial" not in basis:
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
