"""Imports point down the layers: model → door/stream → directions → similarity → scores →
tasks/store → recipes → report → commands. Read from the source (ast), so nothing is imported."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxinterp"


def imports(path: Path, root: Path = ROOT) -> set[str]:
    """Every module ``path`` (under ``root``) imports, absolute and dotted; ``from a import b`` gives
    ``a`` and ``a.b`` (``b`` may be a module), at any depth of the file (imports in functions count)."""
    here = path.relative_to(root).with_suffix("").parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the file's package
                parent = here[:len(here) - node.level]
                base = ".".join(parent + ((base,) if base else ()))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    found.discard("__future__")
    return {m for m in found if not m.startswith("__future__.")}


def offenders(files, banned: tuple[str, ...], root: Path = ROOT) -> dict[str, list[str]]:
    """{file: [banned modules it imports]} for files importing a module in or under ``banned``."""
    out = {}
    for path in files:
        bad = sorted(m for m in imports(path, root) if any(m == b or m.startswith(b + ".") for b in banned))
        if bad:
            out[str(path.relative_to(root))] = bad
    return out


def without_pending(found: dict, pending: dict) -> dict:
    """``found`` less the files another branch is fixing; a pending file that no longer offends
    fails too, so its entry is deleted once the fix has landed."""
    fixed = sorted(set(pending) - set(found))
    assert not fixed, f"{fixed} no longer offend: delete them from the pending list of this test"
    return {f: v for f, v in found.items() if f not in pending}


def test_imports_reads_every_kind_of_import(tmp_path):
    """The scanner itself: a test that cannot see an import cannot fail."""
    probe = tmp_path / "jaxinterp" / "report" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("from __future__ import annotations\nimport jax.numpy as jnp\n"
                     "from jaxinterp import commands\nfrom . import html\n"
                     "def f():\n    from jaxinterp.scores._stats import spearman\n")
    found = imports(probe, tmp_path)
    assert found == {"jax.numpy", "jaxinterp", "jaxinterp.commands", "jaxinterp.report",
                     "jaxinterp.report.html", "jaxinterp.scores._stats", "jaxinterp.scores._stats.spearman"}
    assert offenders([probe], ("jaxinterp.commands",), tmp_path) == {"jaxinterp/report/probe.py": [
        "jaxinterp.commands"]}
    assert offenders([probe], ("jax",), tmp_path) == {"jaxinterp/report/probe.py": ["jax.numpy"]}
    assert offenders([probe], ("jaxinterp.scores._stats.spear",), tmp_path) == {}  # whole names only


def test_version_module_imports_nothing_and_pyproject_reads_it():
    assert imports(PACKAGE / "_version.py") == set()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "jaxinterp._version.__version__"}
    # import __version__ from jaxinterp._version: the package root loads everything
    users = offenders(PACKAGE.rglob("*.py"), ("jaxinterp.__version__",))
    pending: dict = {}
    assert without_pending(users, pending) == {}


def test_the_library_never_imports_the_commands():
    library = [p for p in PACKAGE.rglob("*.py")
               if p != PACKAGE / "cli.py" and PACKAGE / "commands" not in p.parents]
    assert without_pending(offenders(library, ("jaxinterp.commands",)), {}) == {}


def test_reports_only_draw_saved_results():
    """report/ reads results and draws: no kernels, no fits, no similarities, no statistics."""
    banned = ("jax", "jaxlib", "scipy", "sklearn", "jaxinterp.scores", "jaxinterp.directions",
              "jaxinterp.similarity", "jaxinterp.door", "jaxinterp.stream", "jaxinterp.steps",
              "jaxinterp.tasks")
    assert offenders(sorted((PACKAGE / "report").rglob("*.py")), banned) == {}


@pytest.mark.parametrize("low, high", [
    ("parallel", ("jaxinterp.steps", "jaxinterp.recipes", "jaxinterp.tasks", "jaxinterp.report")),
    ("directions", ("jaxinterp.steps", "jaxinterp.recipes", "jaxinterp.tasks", "jaxinterp.report")),
    ("scores", ("jaxinterp.steps", "jaxinterp.recipes", "jaxinterp.tasks", "jaxinterp.report")),
])
def test_lower_layers_do_not_import_higher_ones(low, high):
    assert offenders(sorted((PACKAGE / low).rglob("*.py")), high) == {}
