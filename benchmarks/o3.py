"""Speed of the O(3) tools.

Spherical harmonics: real spherical harmonics up to ``l_max = 6`` on 10^6 random points
(float64 torch on CPU), without and with Cartesian gradients. Where sphericart is importable
(run with the reference environment), the ratio blocktensor / sphericart measured in the same
run on the same points is printed (below 1 means blocktensor is faster). sphericart-torch is
used when installed, otherwise the numpy ``sphericart`` package.

    python benchmarks/o3.py [--points 1000000] [--max-angular 6] [--repeat 5]
    /work/refenv/bin/python benchmarks/o3.py

Further sections (λ-SOAP, CG products, ...) add a function ``bench_<name>(args)`` and register
it in ``SECTIONS``.
"""

import argparse

import numpy as np
import torch

from blocktensor.o3 import spherical_harmonics
from _timing import best_times  # noqa: E402

try:
    import sphericart.torch as sphericart_torch
except ImportError:  # the reference is optional
    sphericart_torch = None

try:
    import sphericart as sphericart_numpy
except ImportError:
    sphericart_numpy = None




def _report(name, seconds, reference_seconds, reference_name):
    line = f"  {name:<28s} {seconds * 1e3:9.1f} ms"
    if reference_seconds is not None:
        line += (
            f"   {reference_name}: {reference_seconds * 1e3:9.1f} ms"
            f"   ratio: {seconds / reference_seconds:5.2f}"
        )
    print(line)


def bench_spherical_harmonics(args):
    generator = torch.Generator().manual_seed(0)
    points = torch.randn(args.points, 3, dtype=torch.float64, generator=generator)
    max_angular = args.max_angular
    print(
        f"spherical harmonics: l_max={max_angular}, {args.points} points, float64, "
        f"torch threads={torch.get_num_threads()}"
    )

    reference_name = None
    reference_values = reference_gradients = None
    if sphericart_torch is not None:
        reference_name = "sphericart-torch"
        calculator = sphericart_torch.SphericalHarmonics(max_angular)

        def reference_values():
            return calculator.compute(points)

        def reference_gradients():
            return calculator.compute_with_gradients(points)

    elif sphericart_numpy is not None:
        reference_name = "sphericart (numpy)"
        calculator = sphericart_numpy.SphericalHarmonics(max_angular)
        points_numpy = points.numpy()

        def reference_values():
            return calculator.compute(points_numpy)

        def reference_gradients():
            return calculator.compute_with_gradients(points_numpy)

    if reference_values is not None:
        ours = spherical_harmonics(points[:1000], max_angular)
        theirs = reference_values()
        theirs = theirs[:1000]
        if not isinstance(theirs, torch.Tensor):
            theirs = torch.from_numpy(theirs)
        error = float((ours - theirs).abs().max())
        print(f"  max |difference| to {reference_name} on 1000 points: {error:.2e}")

    cases = [
        ("values", lambda: spherical_harmonics(points, max_angular), reference_values),
        (
            "values + gradients",
            lambda: spherical_harmonics(points, max_angular, compute_gradients=True),
            reference_gradients,
        ),
    ]
    # interleave ours and the reference so that background load affects both alike
    for name, ours, theirs in cases:
        seconds, reference_seconds = best_times([ours, theirs], args.repeat)
        _report(name, seconds, reference_seconds, reference_name)


def _silicon_density(args):
    """Spherical expansion (max_angular 3, 8 radial functions) of 512 silicon atoms, from
    featomic when importable (also returned as a metatensor map for the reference), else a
    random density of the same shape."""
    from blocktensor import Labels, TensorBlock, TensorMap

    max_angular, n_radial = 3, 8
    try:
        import ase.build
        import featomic
        import metatensor  # noqa: F401  (the comparison needs it installed)
    except ImportError:
        featomic = None
    if featomic is not None:
        atoms = ase.build.bulk("Si", "diamond", a=5.43, cubic=True).repeat((4, 4, 4))
        atoms.rattle(0.05, seed=0)
        calculator = featomic.SphericalExpansion(
            cutoff={"radius": 4.5, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
            density={"type": "Gaussian", "width": 0.3},
            basis={
                "type": "TensorProduct",
                "max_angular": max_angular,
                "radial": {"type": "Gto", "max_radial": n_radial - 1},
            },
        )
        reference = calculator.compute(atoms).keys_to_properties("neighbor_type")
        from blocktensor import load_buffer

        ours = load_buffer(bytes(reference.save_buffer()))
        return ours, reference, f"featomic SphericalExpansion of {len(atoms)} Si atoms"

    generator = np.random.default_rng(0)
    samples = Labels(["system", "atom"], np.stack([np.zeros(512), np.arange(512)], axis=1))
    keys = Labels(["o3_lambda", "o3_sigma", "center_type"], [[l, 1, 14] for l in range(4)])
    blocks = [
        TensorBlock(
            generator.normal(size=(512, 2 * l + 1, n_radial)),
            samples,
            [Labels("o3_mu", np.arange(-l, l + 1).reshape(-1, 1))],
            Labels(["neighbor_type", "n"], [[14, n] for n in range(n_radial)]),
        )
        for l in range(max_angular + 1)
    ]
    return TensorMap(keys, blocks), None, "random density of 512 atoms"


def bench_lambda_soap(args):
    """λ-SOAP: ν = 2, all λ <= 3, l_1 <= l_2, from a 512-atom silicon expansion."""
    from blocktensor import Labels
    from blocktensor.o3 import ClebschGordanProduct, filter_redundant_keys
    from blocktensor.operations import rename_dimension

    density, reference, description = _silicon_density(args)
    print(f"lambda-SOAP (nu=2, lambda <= 3) from a {description}, "
          f"torch threads={torch.get_num_threads()}")

    def suffixed(tensor, suffix):
        tensor = rename_dimension(tensor, "properties", "n", f"n_{suffix}")
        return rename_dimension(tensor, "properties", "neighbor_type",
                                f"neighbor_{suffix}_type")

    first, second = suffixed(density, 1), suffixed(density, 2)
    selection = Labels(["o3_lambda"], [[0], [1], [2], [3]])
    product = ClebschGordanProduct(max_angular=3, keys_filter=filter_redundant_keys)

    def ours():
        return product.compute(first, second, "l_1", "l_2", selected_keys=selection)

    first_torch, second_torch = first.to(arrays="torch"), second.to(arrays="torch")

    def ours_torch():
        return product.compute(first_torch, second_torch, "l_1", "l_2",
                               selected_keys=selection)

    reference_seconds = None
    if reference is not None:
        import metatensor
        from featomic.clebsch_gordan import ClebschGordanProduct as FeatomicProduct
        from featomic.clebsch_gordan._density_correlations import _filter_redundant_keys

        def reference_suffixed(tensor, suffix):
            tensor = metatensor.rename_dimension(tensor, "properties", "n", f"n_{suffix}")
            return metatensor.rename_dimension(
                tensor, "properties", "neighbor_type", f"neighbor_{suffix}_type"
            )

        reference_first = reference_suffixed(reference, 1)
        reference_second = reference_suffixed(reference, 2)
        reference_selection = metatensor.Labels(
            ["o3_lambda"], np.arange(4, dtype=np.int32).reshape(-1, 1)
        )
        featomic_product = FeatomicProduct(
            max_angular=3, cg_backend="python-sparse", keys_filter=_filter_redundant_keys
        )

        def theirs():
            return featomic_product.compute(
                reference_first, reference_second, "l_1", "l_2",
                selected_keys=reference_selection,
            )

        expected, result = theirs(), ours()
        assert np.array_equal(np.asarray(expected.keys.values), result.keys.values)
        error = max(
            float(np.max(np.abs(block.values - expected.block(i).values)))
            for i, block in enumerate(result.blocks())
        )
        print(f"  {len(result.keys)} blocks, max |difference| to featomic: {error:.2e}")

    # interleave ours and the reference so that background load affects both alike
    seconds, torch_seconds, reference_seconds = best_times(
        [ours, ours_torch, theirs if reference is not None else None], args.repeat
    )
    _report("CG product (numpy)", seconds, reference_seconds, "featomic python-sparse")
    _report("CG product (torch, cpu)", torch_seconds, reference_seconds,
            "featomic python-sparse")
    if torch.cuda.is_available():
        first_cuda, second_cuda = first.to(device="cuda", arrays="torch"), second.to(
            device="cuda", arrays="torch")

        def ours_cuda():
            result = product.compute(first_cuda, second_cuda, "l_1", "l_2",
                                     selected_keys=selection)
            torch.cuda.synchronize()
            return result

        _report("CG product (torch, cuda)", best_times([ours_cuda], args.repeat)[0], None, "")


SECTIONS = {
    "spherical_harmonics": bench_spherical_harmonics,
    "lambda_soap": bench_lambda_soap,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--max-angular", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--sections",
        nargs="*",
        default=None,
        choices=sorted(SECTIONS),
        help="which sections to run (default: all)",
    )
    args = parser.parse_args(argv)
    for name in args.sections or list(SECTIONS):
        SECTIONS[name](args)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
