"""Sphinx directives that document a module's public names under the name users import.

``.. api-members:: blocktensor.operations.math`` with ``:public: blocktensor.operations``
renders the module docstring of ``blocktensor.operations.math``, a summary table, and one
autodoc entry per name of its ``__all__``, each under ``blocktensor.operations.<name>`` (the
path users type), not under the private defining module.

``.. api-package:: calculators`` does the same for every public module of a package, one
section per module, so modules added later appear without editing the pages.

At the end of a build, every public name of the packages listed in ``apidoc_packages`` that no
page documents is reported as a warning, so ``sphinx -W`` fails instead of silently leaving a
function out of the reference.
"""

import importlib
import inspect
import pkgutil

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)


def public_names(module):
    """Names a module exports: its ``__all__``, or the public functions and classes it defines."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and getattr(value, "__module__", None) == module.__name__
    ]


def public_modules(package_name):
    """Importable, public (no ``_``-prefixed part) modules of a package, package included."""
    package = importlib.import_module(package_name)
    names = [package_name]
    if hasattr(package, "__path__"):
        for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
            if any(part.startswith("_") for part in info.name.split(".")):
                continue
            names.append(info.name)
    return sorted(names)


def _automodule(module_name):
    """``automodule`` lines for a module docstring. The module is not indexed when a function
    of its parent package has the same dotted name (``blocktensor.operations.join`` is both a
    module and the function it defines), which Sphinx can not hold twice."""
    parent_name, _, last = module_name.rpartition(".")
    options = []
    if parent_name:
        parent = importlib.import_module(parent_name)
        if not inspect.ismodule(getattr(parent, last, None)):
            options.append("   :no-index:")
    return [f".. automodule:: {module_name}", *options, ""]


def _public_path(module_name, public, name):
    """Dotted path under which users reach ``module_name.name``: ``public.name`` when the
    public module exports that very object, else the defining module's path."""
    value = getattr(importlib.import_module(module_name), name)
    if public != module_name and getattr(importlib.import_module(public), name, None) is value:
        return public
    return module_name


def _entries(module_name, public, names, strict):
    """reST lines documenting ``names`` of ``module_name``, each under the public path.

    Returns the lines and the list of documented full names."""
    module = importlib.import_module(module_name)
    lines = []
    documented = []
    if not names:
        return lines, documented
    paths = []
    for name in names:
        path = _public_path(module_name, public, name)
        if strict and path != public:
            raise ValueError(
                f"{module_name}.{name} is not exported as {public}.{name}; "
                "fix the `:public:` option of the api-members directive"
            )
        paths.append(path)
        documented.append(f"{path}.{name}")
    # full paths in the table: reset the current module so autosummary does not see them as
    # (forbidden) self-references
    lines += [".. currentmodule:: None", "", ".. autosummary::", "   :nosignatures:", ""]
    lines += [f"   ~{path}.{name}" for path, name in zip(paths, names)]
    lines.append("")
    for path, name in zip(paths, names):
        value = getattr(module, name)
        lines += [f".. currentmodule:: {path}", ""]
        if inspect.isclass(value):
            lines += [f".. autoclass:: {name}", "   :members:", "   :show-inheritance:", ""]
        else:
            lines += [f".. autofunction:: {name}", ""]
    return lines, documented


class _Base(SphinxDirective):
    def _parse(self, lines):
        node = nodes.section() if self.has_titles else nodes.container()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="<apidoc>"), node)
        return node.children

    has_titles = False

    def _record(self, full_names):
        documented = self.env.domaindata.setdefault("apidoc", {}).setdefault("documented", {})
        for full_name in full_names:
            documented[full_name] = self.env.docname


class ApiMembers(_Base):
    required_arguments = 1
    option_spec = {"public": directives.unchanged, "no-docstring": directives.flag}

    def run(self):
        module_name = self.arguments[0]
        public = self.options.get("public", module_name)
        module = importlib.import_module(module_name)
        names = public_names(module)
        lines = []
        if "no-docstring" not in self.options:
            lines += _automodule(module_name)
        entries, documented = _entries(module_name, public, names, strict=True)
        self._record(documented)
        return self._parse(lines + entries)


class ApiPackage(_Base):
    """One section per public module of a package, with its public names."""

    required_arguments = 1
    option_spec = {
        "exclude": directives.unchanged,
        "public": directives.unchanged,
        "optional": directives.flag,
    }
    has_titles = True

    def run(self):
        exclude = set((self.options.get("exclude") or "").split())
        lines = []
        if "optional" in self.options:
            try:
                importlib.import_module(self.arguments[0])
            except ImportError:
                message = f"``{self.arguments[0]}`` is not available in this version."
                return self._parse([message, ""])
        for module_name in public_modules(self.arguments[0]):
            if module_name in exclude:
                continue
            module = importlib.import_module(module_name)
            names = public_names(module)
            if module_name == self.arguments[0] and not names:
                continue
            title = f"``{module_name}``"
            lines += [title, "-" * len(title), ""]
            lines += _automodule(module_name)
            public = self.options.get("public", module_name)
            entries, documented = _entries(module_name, public, names, strict=False)
            lines += entries
            self._record(documented)
        if not lines:
            lines = [f"``{self.arguments[0]}`` has no public content in this version.", ""]
        return self._parse(lines)


def _purge(app, env, docname):
    documented = env.domaindata.get("apidoc", {}).get("documented", {})
    for key in [k for k, v in documented.items() if v == docname]:
        del documented[key]


def _merge(app, env, docnames, other):
    documented = env.domaindata.setdefault("apidoc", {}).setdefault("documented", {})
    documented.update(other.domaindata.get("apidoc", {}).get("documented", {}))


def _check_complete(app, env):
    documented = dict(env.domaindata.get("apidoc", {}).get("documented", {}))
    documented.update(env.get_domain("py").objects)
    for package in app.config.apidoc_packages:
        module = importlib.import_module(package)
        for name in sorted(vars(module)):
            value = getattr(module, name)
            if name.startswith("_") or not (inspect.isclass(value) or callable(value)):
                continue
            # names imported from elsewhere (typing, torch, ...) are not this project's API
            root = package.split(".")[0]
            if not (getattr(value, "__module__", None) or "").startswith(root):
                continue
            full = f"{package}.{name}"
            if full in documented:
                continue
            # also accept documentation under the defining module (e.g. calculators.x.Class)
            defining = getattr(value, "__module__", "")
            if f"{defining}.{name}" in documented:
                continue
            if any(k.endswith("." + name) and k.startswith(package) for k in documented):
                continue
            logger.warning(
                f"{full} is public but no reference page documents it; add it to the "
                "module's __all__ or to a page under docs/reference/",
                type="apidoc",
            )
    return []


_FIELD_SECTIONS = {
    "parameters", "other parameters", "returns", "yields", "receives", "raises", "warns",
    "attributes", "keyword arguments",
}


def _examples_header(app, what, name, obj, options, lines):
    """Give doctest blocks that directly follow a numpy-style field section (Parameters,
    Returns, ...) their own ``Examples`` header; without it napoleon reads every ``>>>`` line
    as one more parameter. Runs before napoleon."""
    section = None
    index = 0
    while index < len(lines):
        line = lines[index]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        stripped = following.strip()
        if line.strip() and stripped and set(stripped) <= {"-", "="} and len(stripped) >= 3:
            section = line.strip().lower()
            index += 2
            continue
        if (
            line.startswith(">>>")
            and section in _FIELD_SECTIONS
            and (index == 0 or not lines[index - 1].strip())
        ):
            lines[index:index] = ["Examples", "--------", ""]
            section = "examples"
            index += 3
        elif (
            section in _FIELD_SECTIONS
            and index > 0
            and not lines[index - 1].strip()
            and line.strip()
            and not line[0].isspace()
            and following.strip()
            and not following[0].isspace()
            and " : " not in line
            and not line.rstrip().endswith(":")
        ):
            # a prose paragraph after the fields: it belongs to no field
            lines[index:index] = ["Notes", "-----", ""]
            section = "notes"
            index += 3
        index += 1


def setup(app):
    app.connect("autodoc-process-docstring", _examples_header, priority=400)
    app.add_config_value("apidoc_packages", [], "env")
    app.add_directive("api-members", ApiMembers)
    app.add_directive("api-package", ApiPackage)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("env-check-consistency", _check_complete)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
