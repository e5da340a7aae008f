"""Every third-party package the code imports is declared in pyproject.toml."""

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# import name -> distribution name, where they differ
DISTRIBUTIONS = {"sklearn": "scikit-learn", "orbax": "orbax-checkpoint", "lpips_j": "lpips-j", "PIL": "pillow"}
LOCAL = {"jaxinterp", "converters", "tests", "bench"}
OPTIONAL = {"torch", "ray"}  # imported only where a feature needs them (converters, sweep --engine ray)


def _imports(folder: str) -> set[str]:
    found = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in LOCAL}


def _names(requirements) -> set[str]:
    return {re.match(r"[A-Za-z0-9_.\-]+", r).group(0).lower() for r in requirements}


def test_imports_are_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = _names(project["dependencies"])
    extras = set().union(*(_names(v) for v in project["optional-dependencies"].values()))
    package = {DISTRIBUTIONS.get(m, m).lower() for m in _imports("jaxinterp")}
    converters = {DISTRIBUTIONS.get(m, m).lower() for m in _imports("converters")}
    assert package - OPTIONAL <= core, f"jaxinterp imports undeclared {sorted(package - OPTIONAL - core)}"
    assert package & OPTIONAL <= extras, f"optional imports not in an extra: {sorted(package & OPTIONAL - extras)}"
    assert converters <= core | extras, f"converters import undeclared {sorted(converters - core - extras)}"
    assert {"scipy"} <= core and "h5py" in extras
