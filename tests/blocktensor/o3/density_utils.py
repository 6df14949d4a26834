"""A smooth density with analytic position and strain gradients, for testing CG products.

For every atom ``i`` of a structure (all other atoms are neighbours, no cutoff):

    c^{i, b}_{l m n} = Σ_{j ≠ i, type(j) = b} exp(-α_n |r_ij|²) S_lm(r_ij),   r_ij = r_j - r_i

with the solid harmonics ``S_lm`` of :mod:`blocktensor.o3` (polynomials, so everything is
smooth and exactly equivariant). Position gradients are ``∂c^i/∂r_k``; strain gradients
``∂c^i/∂ε_{ab}`` for ``r → (1 + ε) r``, i.e. ``Σ_j (r_ij)_b ∂f/∂(r_ij)_a``, stored with
components ``(xyz_1 = a, xyz_2 = b)``.
"""

import numpy as np
import torch

from blocktensor import Labels, TensorBlock, TensorMap
from blocktensor.o3 import spherical_harmonics

ALPHAS = np.array([0.15, 0.4, 0.9])


def density(frames, max_angular=2, n_radial=2, gradients=("positions", "strain"),
            types=None, arrays="numpy", device="cpu"):
    """Keys (o3_lambda, o3_sigma, center_type, neighbor_type); samples (system, atom);
    properties n."""
    alphas = ALPHAS[:n_radial]
    if types is None:
        types = sorted({int(z) for atoms in frames for z in atoms.numbers})
    n_lm = (max_angular + 1) ** 2

    rows = []  # (system, center atom, neighbour atom)
    vectors = []
    for system, atoms in enumerate(frames):
        n = len(atoms)
        i, j = np.nonzero(~np.eye(n, dtype=bool))
        rows.append(np.stack([np.full(len(i), system), i, j], axis=1))
        vectors.append(atoms.positions[j] - atoms.positions[i])
    rows = np.concatenate(rows)
    vectors = np.concatenate(vectors)
    numbers = [atoms.numbers for atoms in frames]
    center_types = np.array([numbers[s][i] for s, i, _ in rows])
    neighbor_types = np.array([numbers[s][j] for s, _, j in rows])

    harmonics, harmonic_gradients = spherical_harmonics(
        vectors, max_angular, normalized=False, compute_gradients=True
    )  # (P, lm), (P, 3, lm)
    radial = np.exp(-alphas[None, :] * np.sum(vectors**2, axis=1)[:, None])  # (P, n)
    radial_gradient = -2.0 * alphas[None, None, :] * vectors[:, :, None] * radial[:, None, :]
    pair_values = harmonics[:, :, None] * radial[:, None, :]  # (P, lm, n)
    # d f / d r_ij: (P, 3, lm, n)
    pair_gradients = (harmonic_gradients[:, :, :, None] * radial[:, None, None, :]
                      + harmonics[:, None, :, None] * radial_gradient[:, :, None, :])

    keys, blocks = [], []
    for center_type in types:
        centers = [(s, i) for s, atoms in enumerate(frames)
                   for i in range(len(atoms)) if atoms.numbers[i] == center_type]
        if not centers:
            continue
        samples = np.array(centers, dtype=np.int32)
        sample_index = {tuple(c): k for k, c in enumerate(centers)}
        for neighbor_type in types:
            mask = (center_types == center_type) & (neighbor_types == neighbor_type)
            pair_rows = rows[mask]
            pair_sample = np.array([sample_index[(s, i)] for s, i, _ in pair_rows], dtype=int)
            values = np.zeros((len(samples), n_lm, n_radial))
            np.add.at(values, pair_sample, pair_values[mask])

            position_gradients = None
            if "positions" in gradients:
                # entries (sample, system, atom): the centre and every neighbour of type b
                entries = {}
                for k, (s, i, j) in enumerate(pair_rows):
                    for atom, sign in ((j, 1.0), (i, -1.0)):
                        key = (pair_sample[k], s, atom)
                        entries.setdefault(key, []).append((k, sign))
                for k, (s, i) in enumerate(centers):
                    entries.setdefault((k, s, i), [])
                gradient_samples = np.array(sorted(entries), dtype=np.int32).reshape(-1, 3)
                position_gradients = np.zeros((len(gradient_samples), 3, n_lm, n_radial))
                masked = pair_gradients[mask]
                for g, key in enumerate(map(tuple, gradient_samples)):
                    for k, sign in entries[key]:
                        position_gradients[g] += sign * masked[k]
            strain_gradients = None
            if "strain" in gradients:
                strain = np.einsum("pb,paln->pabln", vectors[mask], pair_gradients[mask])
                strain_gradients = np.zeros((len(samples), 3, 3, n_lm, n_radial))
                np.add.at(strain_gradients, pair_sample, strain)

            for l in range(max_angular + 1):  # noqa: E741
                columns = slice(l * l, (l + 1) ** 2)
                mu = Labels("o3_mu", np.arange(-l, l + 1).reshape(-1, 1))
                block = TensorBlock(
                    _convert(values[:, columns], arrays, device),
                    Labels(["system", "atom"], samples),
                    [mu],
                    Labels.range("n", n_radial),
                )
                if position_gradients is not None:
                    block.add_gradient("positions", TensorBlock(
                        _convert(position_gradients[:, :, columns], arrays, device),
                        Labels(["sample", "system", "atom"], gradient_samples),
                        [Labels.range("xyz", 3), mu],
                        Labels.range("n", n_radial),
                    ))
                if strain_gradients is not None:
                    block.add_gradient("strain", TensorBlock(
                        _convert(strain_gradients[:, :, :, columns], arrays, device),
                        Labels(["sample"], np.arange(len(samples)).reshape(-1, 1)),
                        [Labels.range("xyz_1", 3), Labels.range("xyz_2", 3), mu],
                        Labels.range("n", n_radial),
                    ))
                keys.append([l, 1, center_type, neighbor_type])
                blocks.append(block)
    return TensorMap(Labels(["o3_lambda", "o3_sigma", "center_type", "neighbor_type"],
                            np.array(keys)), blocks)


def _convert(values, arrays, device):
    if arrays == "torch":
        return torch.tensor(values, dtype=torch.float64, device=device)
    return np.ascontiguousarray(values)


def cluster(seed=0, symbols="HHOC", spread=1.6):
    import ase

    rng = np.random.default_rng(seed)
    return ase.Atoms(symbols, positions=rng.normal(scale=spread, size=(len(symbols), 3)))
