"""Sphinx configuration of the blocktensor documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` from the repository root.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# the packages are documented from the checkout, installed or not
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(HERE, "_ext"))

# tutorials run on CPU with a few threads; keep the build reproducible and quick
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import blocktensor  # noqa: E402

project = "blocktensor"
author = "the blocktensor developers"
copyright = "2025, the blocktensor developers"
release = blocktensor.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
    "apidoc",
]

templates_path = []
exclude_patterns = ["_build", "sg_execution_times.rst", "Thumbs.db", ".DS_Store"]
html_static_path = []
html_theme = "alabaster"
html_theme_options = {
    "description": "Labelled block-sparse tensors for atomistic machine learning",
    "page_width": "1100px",
    "sidebar_width": "260px",
}
html_title = f"blocktensor {release}"

# ---------------------------------------------------------------------------- autodoc
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
# torch.nn.Module.extra_repr is an implementation detail of printing
autodoc_default_options = {"exclude-members": "extra_repr"}
autosummary_generate = False
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True
napoleon_preprocess_types = False
# doctest blocks render as code; the doctests themselves run in tests/test_docstrings.py
trim_doctest_flags = True

# every public name of these packages must appear on some reference page (see _ext/apidoc.py)
apidoc_packages = ["blocktensor", "blocktensor.operations", "blocktensor.o3", "calculators"]
try:
    import blocktensor.learn  # noqa: F401

    apidoc_packages.append("blocktensor.learn")
except ImportError:
    pass

# intersphinx inventories need the network; the build must work offline, so links to the
# Python/numpy/torch docs are only resolved when the inventories can be fetched
intersphinx_mapping = {}
if os.environ.get("BLOCKTENSOR_DOCS_INTERSPHINX"):
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "torch": ("https://pytorch.org/docs/stable", None),
    }

# ---------------------------------------------------------------------------- gallery
sphinx_gallery_conf = {
    "examples_dirs": [os.path.join(ROOT, "tutorials")],
    "gallery_dirs": [os.path.join(HERE, "auto_tutorials")],
    "filename_pattern": r"/.*\.py$",  # run every tutorial
    "ignore_pattern": r"/_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "plot_gallery": "True",
    "image_scrapers": ("matplotlib",),
    # tutorials write their files into the working directory (the tutorials folder)
    "reset_modules": ("matplotlib",),
}
