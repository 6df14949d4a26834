"""The main job (``blocktensor-soap`` / ``python -m calculators.main``) on the bundled data."""

import json
import os
import subprocess
import sys

import ase.io
import numpy as np

import blocktensor
from calculators import main as soap_main


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_bundled_structures_are_shipped():
    frames = ase.io.read(soap_main.DEFAULT_STRUCTURES, ":")
    names = [atoms.info["name"] for atoms in frames]
    assert names == ["water", "methane", "ammonia", "ethanol", "silicon"]
    assert [bool(atoms.pbc.all()) for atoms in frames] == [False] * 4 + [True]


def test_main_on_bundled_data(tmp_path, capsys):
    output = tmp_path / "soap.mts"
    assert soap_main.main(["--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "SOAP power spectrum of 5 structures (29 atoms, 1 periodic)" in printed
    assert "(14, 14, 14)" in printed and "saved to" in printed

    spectrum = blocktensor.load(str(output))
    assert spectrum.keys.names == ["center_type", "neighbor_1_type", "neighbor_2_type"]
    keys = spectrum.keys.values
    assert np.all(keys[:, 1] <= keys[:, 2])
    assert set(keys[:, 0].tolist()) == {1, 6, 7, 8, 14}
    # max_angular 4, max_radial 5 (6 functions): 5 * 6 * 6 properties
    for key, block in spectrum.items():
        assert block.samples.names == ["system", "atom"]
        assert block.properties.names == ["l", "n_1", "n_2"]
        assert len(block.properties) == 180
        assert block.values.dtype == np.float64
        gradient = block.gradient("positions")
        assert gradient.samples.names == ["sample", "system", "atom"]
        assert gradient.values.shape[1:] == (3, 180)
    # every atom is a sample of the (type, type, type) block
    frames = ase.io.read(soap_main.DEFAULT_STRUCTURES, ":")
    for system, atoms in enumerate(frames):
        for atom, atomic_type in enumerate(atoms.numbers.tolist()):
            block = spectrum.block(center_type=atomic_type, neighbor_1_type=atomic_type,
                                   neighbor_2_type=atomic_type)
            assert block.samples.position((system, atom)) is not None
    # silicon (system 4) only sees silicon, and its environments are all equivalent
    silicon = spectrum.block(center_type=14, neighbor_1_type=14, neighbor_2_type=14)
    assert set(silicon.samples.column("system").tolist()) == {4}
    np.testing.assert_allclose(silicon.values, silicon.values[:1].repeat(8, 0), atol=1e-12)


def test_hypers_and_structures_overrides(tmp_path):
    hypers = tmp_path / "hypers.json"
    hypers.write_text(json.dumps({
        "basis": {"type": "TensorProduct", "max_angular": 1,
                  "radial": {"type": "Gto", "max_radial": 1}},
        "cutoff": {"radius": 3.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
    }))
    structures = tmp_path / "water.xyz"
    ase.io.write(str(structures), ase.io.read(soap_main.DEFAULT_STRUCTURES, "0"))
    output = tmp_path / "out.mts"
    assert soap_main.main(["--hypers", str(hypers), "--structures", str(structures),
                           "--output", str(output), "--gradients"]) == 0
    spectrum = blocktensor.load(str(output))
    assert spectrum.keys.values.tolist() == [[1, 1, 1], [1, 1, 8], [1, 8, 8], [8, 1, 1],
                                             [8, 1, 8], [8, 8, 8]]
    assert len(spectrum.block(0).properties) == 2 * 2 * 2
    assert spectrum.block(0).gradients_list() == []


def test_bad_arguments(tmp_path, capsys):
    assert soap_main.main(["--structures", str(tmp_path / "missing.xyz")]) == 2
    assert "`--structures`: the file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"radius": 4}))
    assert soap_main.main(["--hypers", str(bad), "--output", str(tmp_path / "x.mts")]) == 2
    assert "expected only the sections" in capsys.readouterr().err


def test_module_entry_point(tmp_path):
    output = tmp_path / "soap.mts"
    process = subprocess.run(
        [sys.executable, "-m", "calculators.main", "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert process.returncode == 0, process.stderr
    assert "24 blocks" in process.stdout
    assert os.path.exists(output)
