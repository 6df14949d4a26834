"""Generate ``clebsch_gordan_reference.npz`` with featomic's real Clebsch–Gordan coefficients.

Run with a Python that has featomic installed (0.6.7 was used)::

    /work/refenv/bin/python tests/data/generate_clebsch_gordan.py

Each array is stored as ``"l1,l2,lambda"`` with shape ``(2l1+1, 2l2+1, 2lambda+1)``, for all
l1, l2 <= 4 and |l1-l2| <= lambda <= min(4, l1+l2).

It also stores a random rank-2 Cartesian tensor (``cartesian_input``, shape (4, 3, 3, 2) with
components xyz_1, xyz_2) and featomic's ``cartesian_to_spherical`` of it
(``cartesian_lambda_<λ>``, shape (4, 2λ+1, 2)), to pin the coupling sign convention.
"""

import os

import numpy as np
import metatensor
from featomic.clebsch_gordan import calculate_cg_coefficients, cartesian_to_spherical

MAX_ANGULAR = 4


def main():
    coefficients = calculate_cg_coefficients(
        lambda_max=MAX_ANGULAR,
        cg_backend="python-dense",
        arrays_backend="numpy",
        dtype=np.float64,
        device="cpu",
    )
    arrays = {}
    for key, block in coefficients.items():
        l1, l2, o3_lambda = (int(v) for v in key.values)
        arrays[f"{l1},{l2},{o3_lambda}"] = block.values[0, :, :, :, 0]

    cartesian = np.random.default_rng(20240101).normal(size=(4, 3, 3, 2))
    arrays["cartesian_input"] = cartesian
    labels = metatensor.Labels
    block = metatensor.TensorBlock(
        cartesian,
        labels.range("system", 4),
        [labels.range("xyz_1", 3), labels.range("xyz_2", 3)],
        labels.range("n", 2),
    )
    spherical = cartesian_to_spherical(
        metatensor.TensorMap(labels.single(), [block]), ["xyz_1", "xyz_2"]
    )
    for key, spherical_block in spherical.items():
        arrays[f"cartesian_lambda_{int(key['o3_lambda'])}"] = spherical_block.values

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clebsch_gordan_reference.npz")
    np.savez_compressed(path, **arrays)
    print(f"wrote {len(arrays)} arrays to {path}")


if __name__ == "__main__":
    main()
