"""Generate ``radial_reference.npz``: featomic 0.6 spherical expansions of dimers.

Run with the reference environment (featomic is never imported by package code)::

    /work/refenv/bin/python tests/data/generate_radial.py

Each case places an H centre at the origin and an O neighbour at distance ``d`` along
+z, so that ``Y_lm(ẑ) = δ_m0 √((2l+1)/4π)`` and the expansion isolates
``f_cut(d) · scaling(d) · I_nl(d)``. Stored per case ``<name>``:

- ``<name>/hypers``: JSON of the featomic hypers,
- ``<name>/distances``: (n_d,),
- ``<name>/l<l>``: (n_d, 2l+1, n_radial) H-centred block with O neighbours,
- ``<name>/center``: (n_radial,) the H-centred, H-neighbour λ=0 block of the first
  dimer (the centre's own density).
"""

import json
import os

import ase
import numpy as np

import featomic
import featomic.basis
import featomic.cutoff
import featomic.density
import featomic.splines

HERE = os.path.dirname(os.path.abspath(__file__))
DISTANCES = np.array([0.05, 0.4, 0.9, 1.3, 1.85, 2.4, 2.7, 2.95])

CASES = {
    "gto_gaussian_cosine": dict(
        cutoff={"radius": 3.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
        density={"type": "Gaussian", "width": 0.4, "center_atom_weight": 1.0},
        basis={
            "type": "TensorProduct",
            "max_angular": 4,
            "radial": {"type": "Gto", "max_radial": 5},
            "spline_accuracy": None,
        },
    ),
    "gto_gaussian_scaling": dict(
        cutoff={"radius": 3.0, "smoothing": {"type": "Step"}},
        density={
            "type": "Gaussian",
            "width": 0.3,
            "center_atom_weight": 0.7,
            "scaling": {"type": "Willatt2018", "rate": 1.5, "scale": 1.2, "exponent": 3},
        },
        basis={
            "type": "TensorProduct",
            "max_angular": 3,
            "radial": {"type": "Gto", "max_radial": 3},
            "spline_accuracy": None,
        },
    ),
}


def _compute(hypers):
    calculator = featomic.SphericalExpansion(**hypers)
    frames = [
        ase.Atoms("HO", positions=[[0, 0, 0], [0, 0, d]], cell=np.zeros((3, 3)))
        for d in DISTANCES
    ]
    descriptor = calculator.compute(frames)
    result = {}
    max_angular = max(int(lam) for lam in descriptor.keys["o3_lambda"])
    for lam in range(max_angular + 1):
        block = descriptor.block(o3_lambda=lam, center_type=1, neighbor_type=8)
        samples = block.samples
        rows = [
            i for i in range(len(samples)) if samples[i]["atom"] == 0
        ]
        assert [samples[i]["system"] for i in rows] == list(range(len(DISTANCES)))
        result[f"l{lam}"] = np.asarray(block.values)[rows]
    center = descriptor.block(o3_lambda=0, center_type=1, neighbor_type=1)
    result["center"] = np.asarray(center.values)[0, 0]
    return result


def _le_hypers():
    # the LE basis only exists through featomic's Python spliner
    cutoff = featomic.cutoff.Cutoff(radius=3.0, smoothing=None)
    density = featomic.density.DiracDelta(center_atom_weight=1.0)
    basis = featomic.basis.LaplacianEigenstate(
        radius=3.0, max_radial=3, spline_accuracy=1e-12
    )
    spliner = featomic.splines.SoapSpliner(cutoff=cutoff, density=density, basis=basis)
    return spliner.get_hypers(), {"max_radial": 3, "max_angular": basis.max_angular}


class _GtoFiniteAtZero(featomic.basis.Gto):
    """featomic's Gto derivative divides by r (NaN at r = 0); same function, finite."""

    def compute_primitive(self, positions, n, *, derivative):
        if not derivative:
            return super().compute_primitive(positions, n, derivative=False)
        sigma = self._gto_sigmas[n]
        gaussian = np.exp(-0.5 * (positions / sigma) ** 2)
        lower = n * positions ** (n - 1) if n > 0 else 0.0
        return (lower - positions ** (n + 1) / sigma**2) * gaussian


def _gto_delta_hypers():
    # featomic's native code has no GTO + delta combination: go through the spliner
    cutoff = featomic.cutoff.Cutoff(
        radius=3.0, smoothing=featomic.cutoff.ShiftedCosine(width=1.0)
    )
    density = featomic.density.DiracDelta(center_atom_weight=1.0)
    basis = featomic.basis.TensorProduct(
        max_angular=2,
        radial=_GtoFiniteAtZero(max_radial=4, radius=3.0),
        spline_accuracy=1e-12,
    )
    spliner = featomic.splines.SoapSpliner(cutoff=cutoff, density=density, basis=basis)
    return spliner.get_hypers()


def main():
    arrays = {"distances": DISTANCES}
    for name, hypers in CASES.items():
        arrays[f"{name}/hypers"] = np.array(json.dumps(hypers))
        for key, value in _compute(hypers).items():
            arrays[f"{name}/{key}"] = value
    arrays["gto_delta/hypers"] = np.array(
        json.dumps({
            "cutoff": {"radius": 3.0, "smoothing": {"type": "ShiftedCosine", "width": 1.0}},
            "density": {"type": "DiracDelta", "center_atom_weight": 1.0},
            "basis": {"type": "TensorProduct", "max_angular": 2,
                      "radial": {"type": "Gto", "max_radial": 4}},
        })
    )
    for key, value in _compute(_gto_delta_hypers()).items():
        arrays[f"gto_delta/{key}"] = value
    le_hypers, le_description = _le_hypers()
    arrays["le_delta/hypers"] = np.array(
        json.dumps({"cutoff": {"radius": 3.0}, "density": {"type": "DiracDelta"},
                    "basis": {"type": "LaplacianEigenstate", **le_description}})
    )
    for key, value in _compute(le_hypers).items():
        arrays[f"le_delta/{key}"] = value
    np.savez_compressed(os.path.join(HERE, "radial_reference.npz"), **arrays)


if __name__ == "__main__":
    main()
