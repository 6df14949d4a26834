"""Run the ``>>>`` examples of every public module of blocktensor and calculators.

Examples in docstrings are part of the documentation; this keeps them true. One test per
module, so a failure names the module, and every failing example of it is listed.
"""

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ["blocktensor", "calculators"]

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _public_modules():
    names = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names.append(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
            # private modules (``_backend``) are implementation details; their examples, if
            # any, are not documentation
            if any(part.startswith("_") for part in info.name.split(".")):
                continue
            names.append(info.name)
    return sorted(names)


MODULES = _public_modules()


def test_public_modules_are_found():
    assert "blocktensor.labels" in MODULES
    assert "blocktensor.operations.math" in MODULES
    assert "blocktensor.o3.harmonics" in MODULES


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name, tmp_path, monkeypatch):
    # examples that save files write them into a scratch directory
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    report = []
    # like `python -m doctest`, examples see the names of their own module
    for test in finder.find(module, module_name):
        if not test.examples:
            continue
        # collect the failure report instead of printing it
        runner.run(test, out=report.append, clear_globs=True)
    results = runner.summarize(verbose=False)
    if not hasattr(module, "__path__"):
        # packages only re-export; every module with public code shows how to use it
        assert results.attempted > 0, f"{module_name} has no docstring example"
    assert results.failed == 0, (
        f"{results.failed} of {results.attempted} docstring examples of {module_name} "
        "failed:\n" + "".join(report)
    )
