"""Finite-difference checks of the gradient blocks produced by operations.

API (two functions and one data class)::

    structure = Structure.default()          # 2 systems, 6 atoms, types 1 and 6
    tensor = build_map(structure.positions, seed=0)   # TensorMap with "positions" gradients
    check_fd(lambda a, b: add(a, b), n_inputs=2)      # raises AssertionError if wrong

``build_map(positions, seed=..., structure=..., components=True, n_properties=3,
offset=0.0, arrays="numpy", device=None)`` returns a TensorMap whose values **and**
``"positions"`` gradient blocks are analytic functions of the atomic positions:

* keys ``center_type`` (1 and 6), samples ``(system, atom)`` (atom = index within its
  system), components ``o3_mu = -1, 0, 1`` (unless ``components=False``), properties
  ``n = 0 .. n_properties - 1``;
* for atom ``i``: ``f_i = offset + c + sin(a · r_i) + Σ_{j < i, same system} cos(b · (r_i − r_j))``
  with coefficients ``a, b, c`` drawn from ``seed`` per (component, property). Atom ``i``
  therefore depends on itself and on the earlier atoms of its system: gradient rows are
  sparse and their number varies between samples (``sample, system, atom`` rows, sorted),
  components ``xyz`` then the parent's.

``check_fd(operation, n_inputs=1, seeds=None, structure=None, delta=1e-6, rtol=1e-6,
atol=1e-7, **build_kwargs)`` builds ``n_inputs`` maps (seeds 0, 1, ... by default) from the
same positions, applies ``operation(*maps)`` (it must return a TensorMap whose blocks have
``"positions"`` gradients with ``system`` and ``atom`` in their samples), and compares every
output gradient block to the central difference of the output values, displacing each atom
along x, y, z. Entries without a gradient row must have a zero finite difference. It
returns the analytic output so the caller can assert more.
"""

import dataclasses

import numpy as np

from blocktensor import Labels, TensorBlock, TensorMap


@dataclasses.dataclass
class Structure:
    """Positions ``(n_atoms, 3)``, the system of each atom and its atomic type."""

    positions: np.ndarray
    systems: np.ndarray
    types: np.ndarray

    @classmethod
    def default(cls, seed=12):
        rng = np.random.default_rng(seed)
        systems = np.array([0, 0, 0, 1, 1, 1])
        types = np.array([1, 6, 1, 6, 1, 6])
        return cls(rng.uniform(-1.0, 1.0, size=(6, 3)), systems, types)

    @property
    def atom_in_system(self):
        """Index of every atom within its system."""
        index = np.zeros(len(self.systems), dtype=np.int64)
        for system in np.unique(self.systems):
            mask = self.systems == system
            index[mask] = np.arange(int(mask.sum()))
        return index


def _coefficients(seed, n_components, n_properties):
    rng = np.random.default_rng(1000 + seed)
    a = rng.normal(size=(n_components, n_properties, 3))
    b = rng.normal(size=(n_components, n_properties, 3)) * 0.7
    c = rng.normal(size=(n_components, n_properties)) * 0.3
    return a, b, c


def build_map(positions=None, *, seed=0, structure=None, components=True, n_properties=3,
              offset=0.0, arrays="numpy", device=None, gradients=True):
    """A TensorMap whose values and ``"positions"`` gradients are analytic in
    ``positions`` (see the module docstring)."""
    structure = Structure.default() if structure is None else structure
    positions = structure.positions if positions is None else np.asarray(positions)
    n_atoms = len(positions)
    n_components = 3 if components else 1
    a, b, c = _coefficients(seed, n_components, n_properties)

    # pairs (i, j) with j < i in the same system: atom i depends on atom j
    same = structure.systems[:, None] == structure.systems[None, :]
    earlier = np.arange(n_atoms)[None, :] < np.arange(n_atoms)[:, None]
    pair_i, pair_j = np.nonzero(same & earlier)
    distance = positions[pair_i] - positions[pair_j]

    phase_self = np.einsum("ix,cpx->icp", positions, a)
    phase_pair = np.einsum("kx,cpx->kcp", distance, b)
    values = offset + c[None] + np.sin(phase_self)
    np.add.at(values, pair_i, np.cos(phase_pair))

    # d f_i / d r_i and d f_i / d r_j, as (rows, xyz, component, property)
    self_gradient = np.einsum("icp,cpx->ixcp", np.cos(phase_self), a)
    pair_gradient = np.einsum("kcp,cpx->kxcp", np.sin(phase_pair), b)
    np.add.at(self_gradient, pair_i, -pair_gradient)

    atom_in_system = structure.atom_in_system
    component_labels = [Labels("o3_mu", [[-1], [0], [1]])] if components else []
    xyz = Labels.range("xyz", 3)
    properties = Labels.range("n", n_properties)
    blocks = []
    center_types = np.unique(structure.types)
    for center_type in center_types:
        atoms = np.nonzero(structure.types == center_type)[0]
        samples = Labels(["system", "atom"],
                         np.stack([structure.systems[atoms], atom_in_system[atoms]], axis=1))
        block_values = values[atoms] if components else values[atoms][:, 0]
        block = TensorBlock(block_values, samples, component_labels, properties)
        if gradients:
            row_of_atom = np.full(n_atoms, -1)
            row_of_atom[atoms] = np.arange(len(atoms))
            # self rows then pair rows, sorted by (sample, atom)
            pair_mask = row_of_atom[pair_i] >= 0
            sample_column = np.concatenate([row_of_atom[atoms], row_of_atom[pair_i[pair_mask]]])
            wrt = np.concatenate([atoms, pair_j[pair_mask]])
            gradient_values = np.concatenate(
                [self_gradient[atoms], pair_gradient[pair_mask]], axis=0
            )
            grad_samples = np.stack(
                [sample_column, structure.systems[wrt], atom_in_system[wrt]], axis=1
            )
            order = np.lexsort(grad_samples.T[::-1])
            grad_samples = grad_samples[order]
            gradient_values = gradient_values[order]
            if not components:
                gradient_values = gradient_values[:, :, 0]
            block.add_gradient(
                "positions",
                TensorBlock(gradient_values, Labels(["sample", "system", "atom"], grad_samples),
                            [xyz] + component_labels, properties),
            )
        blocks.append(block)
    tensor = TensorMap(Labels(["center_type"], center_types.reshape(-1, 1)), blocks)
    if arrays != "numpy" or device is not None:
        tensor = tensor.to(arrays=arrays, device=device)
    return tensor


def _numpy(array):
    if hasattr(array, "detach"):
        return array.detach().cpu().numpy()
    return np.asarray(array)


def check_fd(operation, n_inputs=1, seeds=None, structure=None, delta=1e-6, rtol=1e-6,
             atol=1e-7, **build_kwargs):
    """Compare the ``"positions"`` gradients of ``operation(*maps)`` with central finite
    differences of its values; raise AssertionError naming key, sample, atom and direction
    of the first mismatch. Returns the output map."""
    structure = Structure.default() if structure is None else structure
    seeds = list(range(n_inputs)) if seeds is None else list(seeds)

    def evaluate(positions):
        maps = [build_map(positions, seed=s, structure=structure, **build_kwargs)
                for s in seeds]
        return operation(*maps)

    output = evaluate(structure.positions)
    n_atoms = len(structure.positions)
    # global atom index from (system, atom-in-system)
    lookup = {(int(s), int(a)): g for g, (s, a) in
              enumerate(zip(structure.systems, structure.atom_in_system))}

    analytic = {}
    for key_index, (key, block) in enumerate(output):
        gradient = block.gradient("positions")
        names = gradient.samples.names
        if "system" not in names or "atom" not in names:
            raise AssertionError(f"gradient samples {names} lack 'system'/'atom'")
        values = _numpy(gradient.values)
        parent_shape = tuple(_numpy(block.values).shape)
        dense = np.zeros((n_atoms, 3) + parent_shape)
        seen = set()
        for row, entry in enumerate(gradient.samples.values):
            sample, system, atom = (int(entry[names.index(n)])
                                    for n in ("sample", "system", "atom"))
            if (sample, system, atom) in seen:
                raise AssertionError(f"duplicated gradient row {(sample, system, atom)}")
            seen.add((sample, system, atom))
            dense[lookup[(system, atom)], :, sample] += values[row]
        analytic[key_index] = dense

    finite = {k: np.zeros_like(v) for k, v in analytic.items()}
    for atom in range(n_atoms):
        for direction in range(3):
            shifted = []
            for sign in (1.0, -1.0):
                positions = structure.positions.copy()
                positions[atom, direction] += sign * delta
                shifted.append(evaluate(positions))
            for key_index, (key, _) in enumerate(output):
                plus = _numpy(shifted[0].block(key).values)
                minus = _numpy(shifted[1].block(key).values)
                finite[key_index][atom, direction] = (plus - minus) / (2 * delta)

    for key_index, (key, _) in enumerate(output):
        expected, found = finite[key_index], analytic[key_index]
        bad = ~np.isclose(found, expected, rtol=rtol, atol=atol)
        if np.any(bad):
            where = np.unravel_index(int(np.argmax(np.where(bad, np.abs(found - expected), -1))),
                                     found.shape)
            raise AssertionError(
                f"gradient mismatch for key {key.as_dict()} at atom {where[0]}, direction "
                f"{where[1]}, value index {where[2:]}: analytic {found[where]!r}, finite "
                f"difference {expected[where]!r} ({int(bad.sum())} of {bad.size} entries off)"
            )
    return output
