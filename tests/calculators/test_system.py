import ase
import numpy as np
import pytest
import torch

from calculators.system import System, as_systems

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def water():
    return ase.Atoms(
        "OH2", positions=[[0, 0, 0], [0, 0.76, 0.59], [0, -0.76, 0.59]]
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_from_ase(device, dtype):
    atoms = ase.Atoms(
        "CuAu", positions=[[0, 0, 0], [1.0, 1.2, 1.3]], cell=[[3, 0, 0], [0.5, 3, 0], [0, 0, 4]],
        pbc=[True, False, True],
    )
    system = System.from_ase(atoms, dtype=dtype, device=device)
    assert system.types.tolist() == [29, 79]
    assert system.positions.dtype == dtype and system.cell.dtype == dtype
    assert system.positions.device.type == device
    assert system.pbc.tolist() == [True, False, True]
    np.testing.assert_allclose(system.cell.cpu().numpy(), atoms.cell[:], rtol=1e-6)
    np.testing.assert_allclose(system.positions.cpu().numpy(), atoms.positions, rtol=1e-6)
    assert len(system) == 2
    assert "n_atoms=2" in repr(system)


def test_weights_from_ase_array():
    atoms = water()
    atoms.set_initial_charges([-0.8, 0.4, 0.4])
    system = System.from_ase(atoms, weights="initial_charges")
    assert system.weights.tolist() == pytest.approx([-0.8, 0.4, 0.4])
    with pytest.raises(ValueError, match="no array named 'charges'"):
        System.from_ase(atoms, weights="charges")


def test_from_tensors_keeps_autograd():
    positions = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]], requires_grad=True)
    system = System(types=torch.tensor([1, 1]), positions=positions)
    assert system.positions is positions
    assert system.dtype == torch.float32
    converted = system.to(dtype=torch.float64)
    converted.positions.sum().backward()
    assert positions.grad is not None
    assert torch.equal(positions.grad, torch.ones_like(positions))


def test_to_moves_everything():
    system = System(types=[1], positions=[[0.0, 0.0, 0.0]], weights=[2.0])
    other = system.to(dtype=torch.float32)
    assert other.positions.dtype == other.cell.dtype == other.weights.dtype == torch.float32
    assert system.positions.dtype == torch.float64  # the original is untouched
    with pytest.raises(TypeError, match="float32 or torch.float64"):
        system.to(dtype=torch.int32)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(types=[1], positions=[[0.0, 0.0]]), ValueError, r"shape \(n_atoms, 3\), found \(1, 2\)"),
        (dict(types=[1, 1], positions=[[0.0, 0.0, 0.0]]), ValueError, r"`types` must have shape \(1,\)"),
        (dict(types=[1.5], positions=[[0.0, 0.0, 0.0]]), TypeError, "`types` must contain integers"),
        (dict(types=[1, 1], positions=[[0.0, 0.0, 0.0], [np.nan, 0, 0]]), ValueError, r"finite.*atom\(s\) \[1\]"),
        (dict(types=[1], positions=[[0.0, 0, 0]], cell=np.eye(2)), ValueError, r"`cell` must have shape \(3, 3\)"),
        (dict(types=[1], positions=[[0.0, 0, 0]], pbc=[True, True]), ValueError, r"`pbc` must have shape \(3,\)"),
        (dict(types=[1], positions=[[0.0, 0, 0]], cell=np.zeros((3, 3)), pbc=True), ValueError, "zero but periodic"),
        (
            dict(types=[1], positions=[[0.0, 0, 0]], cell=[[1, 0, 0], [2, 0, 0], [0, 0, 1]], pbc=True),
            ValueError,
            "singular along its periodic directions",
        ),
        (dict(types=[1], positions=[[0.0, 0, 0]], weights=[1.0, 2.0]), ValueError, r"`weights` must have shape \(1,\)"),
        (dict(types=[1], positions=[[0.0, 0, 0]], dtype=torch.float16), TypeError, "float32 or torch.float64"),
    ],
)
def test_validation_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        System(**kwargs)


def test_singular_cell_allowed_along_non_periodic_directions():
    # a slab: zero third vector is fine when that direction is not periodic
    system = System(
        types=[1], positions=[[0.0, 0, 0]], cell=[[2, 0, 0], [0, 2, 0], [0, 0, 0]],
        pbc=[True, True, False],
    )
    assert system.pbc.tolist() == [True, True, False]


def test_as_systems_variants():
    atoms = water()
    assert len(as_systems(atoms)) == 1
    systems = as_systems([atoms, System.from_ase(atoms)], dtype=torch.float32)
    assert [s.dtype for s in systems] == [torch.float32, torch.float32]
    with pytest.raises(TypeError, match=r"`systems\[1\]` must be a calculators.System"):
        as_systems([atoms, "water"])
    with pytest.raises(TypeError, match="share one dtype"):
        as_systems([System.from_ase(atoms), System.from_ase(atoms, dtype=torch.float32)])


def test_error_messages_name_the_system():
    bad = ase.Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.5]])
    bad.positions[1, 0] = np.inf
    with pytest.raises(ValueError, match=r"^system 1: `positions` must be finite"):
        as_systems([water(), bad])
    with pytest.raises(ValueError, match=r"^system 3: `positions` must be finite"):
        System(types=[1], positions=[[np.nan, 0, 0]], _index=3)
