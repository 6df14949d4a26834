"""Positions, strain and cell gradients of the SOAP power spectrum, from the neighbour
pairs.

The product rule through the expansion's own gradient rows (``dc`` with ``(2l+1) n``
entries per row and direction, gathered, transposed and multiplied by ``c``) moves more
memory than the output it builds. The pair contribution to ``c`` factorises instead:

.. math::

    \\frac{\\partial c_{lmn}(i)}{\\partial \\mathbf r_j}
        = R_{ln}(r)\\, \\nabla Y_{lm}(\\mathbf r) + R'_{ln}(r)\\, \\hat{\\mathbf r}\\, Y_{lm}(\\mathbf r),
    \\qquad \\mathbf r = \\mathbf r_j - \\mathbf r_i,

so that the sum over ``m`` in ``dp = Σ_m dc¹ c² + c¹ dc²`` is taken on the angular factors
first: with ``W = Σ_m Y_lm c_m`` and ``V_x = Σ_m ∂_x Y_lm c_m`` (vectors over ``n``),

.. math::

    \\sum_m \\partial_x c^1_{m a}\\, c^2_{m b}
        = R_a V_{x b} + \\hat r_x R'_a W_b,

a sum of two outer products per pair and direction (four when both neighbour types are the
same, where ``dp = T + Tᵀ``), computed by broadcasting for all ``l`` at once and written
once into the output. The centre's own row is minus the sum of
the rows of its neighbours (the spectrum does not change under translations), and the
strain gradient ``Σ_j r_ij ⊗ ∂p/∂r_j`` and the cell gradient ``Σ_j S_ij ⊗ ∂p/∂r_j``
(``S`` the cell shift of the pair) are summed from the same rows (images of the centre
included). Neither the expansion gradients nor any array of their size is ever built.

Pairs go through the products in padded batches of centres with similar numbers of
neighbours (:func:`~calculators._buffers.padded_chunks`): padding pairs have zero factors
and land on a scratch row of the output. Where padding is a large share of a batch (small
molecules) and only positions gradients are wanted, the outer products are built for the
real pairs only and each centre's sum is taken by an indexed addition.

The blocks ``(c, a, b)`` of all centre types ``c`` go through together (their centres are
disjoint, their properties the same): with many species the blocks are small, and a batch
per block would mostly cost overhead.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from blocktensor import Labels, TensorBlock

from ._buffers import Workspace, empty, padded_chunks, scratch, sum_of_products, zeros
from ._gradients import XYZ, cell_deformation_gradient

# padded pairs handled at once: the temporaries of all l stay in cache
_PAIRS_PER_CHUNK = 1024
# chunks with more padding than this share build only their real pairs' rows
_COMPACT_ABOVE_PADDING = 0.2


def gradients_from_pairs(
    pairs,
    blocks: Sequence[Tuple[Labels, Dict[int, torch.Tensor], Dict[int, torch.Tensor]]],
    types: Tuple[int, int],
    shared_types: set,
    angular: list,
    slices: list,
    properties: Labels,
    normalization: Dict[int, float],
    parameters: Sequence[str],
) -> List[Dict[str, TensorBlock]]:
    """The ``positions``, ``strain`` and/or ``cell`` gradient blocks of the
    power-spectrum blocks with neighbour types ``types``, one per centre type.

    The blocks' centres are disjoint (each atom has one type): their pairs go through
    the same chunks, as if they were one block, and each block's gradients are a slice
    of the result.

    Parameters
    ----------
    pairs : calculators.spherical_expansion._ExpansionPairs
        The pairs of the expansion the spectrum was built from.
    blocks : list of (Labels, dict, dict)
        Per block, its ``(system, atom)`` samples and ``{l: c}`` of the two neighbour
        types on those samples, ``(samples, 2l + 1, n)``.
    types : (int, int)
        ``(neighbor_1_type, neighbor_2_type)`` of the blocks.
    shared_types : set
        Neighbour types whose pairs other calls use too: their factors are kept by
        ``pairs`` (see ``_ExpansionPairs.factors``) rather than computed per chunk.
    angular, slices : list
        The ``l`` channels of the blocks and their ``(begin, end)`` property columns.
    properties : Labels
        The blocks' properties.
    normalization : dict
        ``{l: factor}`` (``p = factor Σ_m c¹ c²``).
    parameters : list of str
        Any of ``"positions"``, ``"strain"``, ``"cell"``.

    Returns
    -------
    list of dict
        Per block ``{parameter: TensorBlock}``. ``positions``: samples ``(sample, system,
        atom)`` for the centre and every neighbour of either type (sorted), component
        ``xyz``. ``strain``: one ``sample`` row per sample, components ``xyz_2`` (the
        pair-vector direction) and ``xyz_1``, as featomic. ``cell``: one row per sample,
        ``values[s, a, x] = ∂p/∂cell[a, x]`` with the Cartesian positions fixed,
        components named ``xyz`` then ``abc`` as featomic does.
    """
    want_positions = "positions" in parameters
    want_strain = "strain" in parameters
    want_cell = "cell" in parameters
    # deformations of the cell: they move the periodic images of the centre too
    want_cell_terms = want_strain or want_cell
    first_type, second_type = types
    same_types = first_type == second_type
    # the blocks one after the other: samples, and coefficients on them
    sample_ranges = np.cumsum([0] + [len(block[0]) for block in blocks])
    if len(blocks) == 1:
        samples, first_coefficients, second_coefficients = blocks[0]
    else:
        samples = Labels(blocks[0][0].names,
                         np.concatenate([block[0].values for block in blocks]),
                         assume_unique=True)
        first_coefficients, second_coefficients = (
            {o3_lambda: torch.cat([block[side][o3_lambda] for block in blocks])
             for o3_lambda in angular}
            for side in (1, 2)
        )
    reference = first_coefficients[angular[0]]
    dtype, device = reference.dtype, reference.device
    n_samples = len(samples)
    n_properties = len(properties)

    sample_values = samples.values.astype(np.int64)
    centers = pairs.offsets[sample_values[:, 0]] + sample_values[:, 1]
    sample_of_atom = np.full(pairs.total, -1, dtype=np.int64)
    sample_of_atom[centers] = np.arange(n_samples)
    pair_sample = sample_of_atom[pairs.first]
    neighbor_types = pairs.types[pairs.second]
    relevant = (pair_sample >= 0) & (
        (neighbor_types == first_type) | (neighbor_types == second_type)
    )
    # pairs of an atom with its own periodic images move rigidly: they take no part in
    # the positions gradients, but they do stretch with the cell
    image_pairs = pairs.first == pairs.second
    moving = np.nonzero(relevant & ~image_pairs)[0]
    selected = np.nonzero(relevant)[0] if want_cell_terms else moving

    inputs = [*first_coefficients.values(), *second_coefficients.values(), pairs.vectors]
    if pairs.weights is not None:  # learnable density weights
        inputs.append(pairs.weights)
    differentiable = torch.is_grad_enabled() and any(x.requires_grad for x in inputs)
    workspace = None if differentiable else Workspace(dtype, device)
    # per sample, Σ over its pairs of (-1, r_x, r_y, r_z, S_a, S_b, S_c) × the pair's
    # row (the factors of the requested gradients only): the centre's own positions row,
    # the strain and the cell gradients, in sums[:, columns[parameter]]
    columns = {}
    for parameter, size in (("positions", 1), ("strain", 3), ("cell", 3)):
        if parameter in parameters:
            start = sum(c.stop - c.start for c in columns.values())
            columns[parameter] = slice(start, start + size)
    n_sums = sum(c.stop - c.start for c in columns.values())
    sums = torch.zeros((n_samples, n_sums, 3, n_properties), dtype=dtype, device=device)

    # the rows of every pair in the positions gradients (the scratch row for pairs that
    # have none: padding, images of the centre), and whether rows take several images
    row_of = np.full(len(pairs.first), -1, dtype=np.int64)
    if want_positions:
        # rows: (sample, atom) of every neighbour, and of the centre itself
        total = max(pairs.total, 1)
        row_keys, inverse = np.unique(
            np.concatenate([pair_sample[moving] * total + pairs.second[moving],
                            np.arange(n_samples, dtype=np.int64) * total + centers]),
            return_inverse=True,
        )
        inverse = inverse.reshape(-1)
        n_rows = len(row_keys)
        row_atom = row_keys % total
        metadata = np.stack([row_keys // total, pairs.system_of[row_atom],
                             pairs.local_index[row_atom]], axis=1)
        row_of[moving] = inverse[: len(moving)]
        row_of_center = inverse[len(moving):]
        # several images of one neighbour share its row: they are summed, not copied
        one_pair_per_row = n_rows == len(moving) + n_samples
        row_of[image_pairs] = n_rows
        # the last row is scratch. Every row is copied once, unless images add up
        allocate = empty if one_pair_per_row else zeros
        values = allocate((n_rows + 1, 3, n_properties), dtype, device)
    else:
        n_rows = 0

    # (pairs of this type, coefficients they multiply, their term comes transposed)
    if same_types:
        terms = [(selected, second_coefficients, False, first_type)]
    else:
        is_first = neighbor_types[selected] == first_type
        terms = [(selected[is_first], second_coefficients, False, first_type),
                 (selected[~is_first], first_coefficients, True, second_type)]
    max_l = max(angular)
    # with l = 0, 1, ... in order and the same number of radial functions for every l
    # (the GTO basis), all l make one (l, n_1, n_2) grid of properties: the outer products
    # of all l are computed at once. Otherwise, one l at a time.
    sizes = {c.shape[-1] for c in (*first_coefficients.values(), *second_coefficients.values())}
    if angular == list(range(len(angular))) and len(sizes) == 1:
        channel_groups = [(angular, 0, n_properties)]
    else:
        channel_groups = [([o3_lambda], begin, end)
                          for o3_lambda, (begin, end) in zip(angular, slices)]
    # the block's normalisation goes on the (small) projections [W; V] of each group
    group_scales = [
        torch.tensor([normalization[o3_lambda] for o3_lambda in channels], dtype=dtype)
        .to(device)[:, None, None, None]
        for channels, _, _ in channel_groups
    ]

    for term_index, (term_pairs, term_coefficients, transposed, term_type) in enumerate(terms):
        order = np.argsort(pair_sample[term_pairs], kind="stable")
        term_pairs = term_pairs[order]
        counts = np.bincount(pair_sample[term_pairs], minlength=n_samples)
        for chunk_samples, width, rows, slots_np in padded_chunks(counts, _PAIRS_PER_CHUNK):
            n_chunk = len(chunk_samples)
            n_padded = n_chunk * width
            chunk_pairs = term_pairs[rows]
            slots = torch.from_numpy(slots_np).to(device)
            padded_pairs = np.full(n_padded, -1, dtype=np.int64)
            padded_pairs[slots_np] = chunk_pairs
            # angular factors [Y; ∂x Y; ∂y Y; ∂z Y] and radial ones (zero for padding)
            angular_factors, unit, radial, radial_derivative = pairs.factors(
                padded_pairs, max_l,
                term_type if term_type in shared_types else None,
            )
            # when padding is a large share of the chunk (small molecules) and no cell
            # terms need the padded layout, only the real pairs' rows are built
            compact = (not want_cell_terms
                       and n_padded - len(rows) > _COMPACT_ABOVE_PADDING * n_padded)
            n_output = len(rows) if compact else n_padded
            output = scratch(workspace, "output", (n_output, 3, n_properties), reference)
            chunk_rows = torch.from_numpy(chunk_samples).to(device)
            for (channels, begin, end), scale in zip(channel_groups, group_scales):
                n_c = term_coefficients[channels[0]].shape[-1]
                # [W; V_x; V_y; V_z] = [Y; ∂Y] c for every pair of a sample at once
                projections = []
                for index, o3_lambda in enumerate(channels):
                    lm = slice(o3_lambda * o3_lambda, (o3_lambda + 1) ** 2)
                    c = term_coefficients[o3_lambda].index_select(0, chunk_rows)
                    factors = angular_factors[:, :, lm].reshape(n_chunk, width * 4, -1)
                    if differentiable:
                        projections.append(torch.bmm(factors, c))
                    else:
                        if index == 0:
                            projected = workspace.get(
                                "projected", (len(channels), n_chunk, width * 4, n_c))
                        torch.bmm(factors, c, out=projected[index])
                if differentiable:
                    projected = torch.stack(projections) * scale
                else:
                    projected.mul_(scale)
                # (pairs, 4, l, n)
                projected = projected.view(len(channels), n_padded, 4, n_c).permute(1, 2, 0, 3)
                # per pair and direction, Σ_m ∂c_ma c_mb = R_a V_xb + R'_a r̂_x W_b: outer
                # products, computed by broadcasting (batched products of rank 2 are
                # several times slower for matrices this small)
                gradient_projection = projected[:, 1:]
                direction_projection = unit[:, :, None, None] * projected[:, :1]
                # the radial basis of l is the same for every neighbour type
                ls = slice(channels[0], channels[-1] + 1)
                r = radial[:, None, ls, :n_c]
                r_prime = radial_derivative[:, None, ls, :n_c]
                if compact:
                    gradient_projection, direction_projection, r, r_prime = (
                        x.index_select(0, slots)
                        for x in (gradient_projection, direction_projection, r, r_prime)
                    )
                as_rows = [(r[..., None], gradient_projection[..., None, :]),
                           (r_prime[..., None], direction_projection[..., None, :])]
                as_columns = [(gradient_projection[..., None], r[..., None, :]),
                              (direction_projection[..., None], r_prime[..., None, :])]
                if same_types:
                    # dp = T + Tᵀ
                    outer_products = as_rows + as_columns
                elif transposed:
                    # pairs of the second type: (Σ_m c¹_ma ∂c²_mb)
                    outer_products = as_columns
                else:
                    outer_products = as_rows
                target = output[:, :, begin:end].view(n_output, 3, len(channels), n_c, n_c)
                sum_of_products(target, outer_products, differentiable)

            if compact:
                # minus the sum of each sample's rows (no images of the centre here)
                chunk_sums = torch.zeros((n_chunk, 3 * n_properties), dtype=dtype,
                                         device=device).index_add_(
                    0, torch.from_numpy(slots_np // width).to(device),
                    output.view(n_output, -1), alpha=-1)
            elif want_cell_terms:
                rows_of_chunk = output.view(n_chunk, width, 3 * n_properties)
                # (-1, r, S) per pair (zero for padding; the images of the centre only
                # count for the cell terms) times its row, summed over each sample's pairs
                weights = torch.zeros((n_padded, n_sums), dtype=dtype, device=device)
                chunk_pairs_t = torch.from_numpy(chunk_pairs).to(device)
                if want_positions:
                    weights[slots, columns["positions"]] = torch.from_numpy(
                        np.where(image_pairs[chunk_pairs], 0.0, -1.0)[:, None]
                    ).to(device, dtype)
                if want_strain:
                    weights[slots, columns["strain"]] = pairs.vectors.index_select(
                        0, chunk_pairs_t)
                if want_cell:
                    weights[slots, columns["cell"]] = pairs.cell_shifts.index_select(
                        0, chunk_pairs_t)
                chunk_sums = torch.bmm(weights.view(n_chunk, width, n_sums).transpose(1, 2),
                                       rows_of_chunk)
            else:
                # no images of the centre among the pairs, padding rows are zero
                rows_of_chunk = output.view(n_chunk, width, 3 * n_properties)
                chunk_sums = torch.neg(rows_of_chunk.sum(dim=1, keepdim=True))
            chunk_sums = chunk_sums.view(n_chunk, n_sums, 3, n_properties)
            if term_index == 0:
                # each sample is in one chunk of a term (index_add_ is a serial loop)
                sums.index_copy_(0, chunk_rows, chunk_sums)
            else:
                sums.index_copy_(0, chunk_rows, sums.index_select(0, chunk_rows) + chunk_sums)
            if want_positions:
                if compact:
                    destination = row_of[chunk_pairs]
                else:
                    destination = np.full(n_padded, n_rows, dtype=np.int64)
                    destination[slots_np] = row_of[chunk_pairs]
                destination = torch.from_numpy(destination).to(device)
                if one_pair_per_row:
                    values.index_copy_(0, destination, output)
                else:
                    values.index_add_(0, destination, output)

    if want_positions:
        # the centre's row is minus the sum of its neighbours' rows (translations)
        values.index_copy_(0, torch.from_numpy(row_of_center).to(device),
                           sums[:, columns["positions"].start])
        # rows are sorted by sample: each block's rows follow each other
        row_ranges = np.searchsorted(metadata[:, 0], sample_ranges)
    gradients = []
    for index in range(len(blocks)):
        first_sample, last_sample = sample_ranges[index], sample_ranges[index + 1]
        by_parameter = {}
        for parameter in parameters:
            if parameter == "positions":
                first_row, last_row = row_ranges[index], row_ranges[index + 1]
                block_metadata = metadata[first_row:last_row].astype(np.int32)
                block_metadata[:, 0] -= first_sample
                by_parameter[parameter] = TensorBlock._unchecked(
                    values[first_row:last_row],
                    Labels(["sample", "system", "atom"], block_metadata, assume_unique=True),
                    [XYZ],
                    properties,
                )
            else:
                # strain[b, a] = Σ_j r_b ∂p/∂r_a: xyz_2 is b, the pair-vector direction;
                # cell[a, x] = Σ_j S_a ∂p/∂r_x (positions fixed), featomic's (xyz, abc)
                by_parameter[parameter] = cell_deformation_gradient(
                    parameter, sums[first_sample:last_sample, columns[parameter]], properties)
        gradients.append(by_parameter)
    return gradients
