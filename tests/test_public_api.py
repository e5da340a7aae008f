"""Every public name is tested: each package's ``__all__`` and the public functions and classes of
jaxinterp's top-level modules must each be mentioned by some test file.

Run ``python -m tests.test_public_api`` to list the names no test mentions. A mention is a
heuristic floor, not proof: a new name needs a test that checks its values (a numpy reference,
a planted truth, batched equals a loop), or it should not be public.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxinterp"

# Names tested only through another name, each with the test that covers it. Keep this short:
# a name here is one a test could not catch breaking on its own.
COVERED_ELSEWHERE: dict[str, str] = {}


def public_names() -> dict[str, str]:
    """{name: where it is public} for every ``__all__`` entry that is not a submodule (its own
    names are listed instead) and every public function or class of a top-level module."""
    names = {}
    for init in sorted(PACKAGE.rglob("__init__.py")):
        module_name = ".".join(init.parent.relative_to(ROOT).parts)
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            if not inspect.ismodule(getattr(module, name)):
                names.setdefault(name, module_name)
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name.startswith("_"):
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                names.setdefault(node.name, f"jaxinterp.{path.stem}")
    return names


def untested(names: dict[str, str]) -> dict[str, str]:
    """The names no test file (this one aside) mentions as a whole word."""
    text = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py") if p.resolve() != Path(__file__).resolve())
    mentioned = set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", text))
    return {n: where for n, where in names.items() if n not in mentioned and n not in COVERED_ELSEWHERE}


def test_every_public_name_is_mentioned_by_a_test():
    missing = untested(public_names())
    assert not missing, (
        f"public names no test mentions: {', '.join(f'{w}.{n}' for n, w in sorted(missing.items()))}; "
        "add a test that checks each one's values (numpy reference, planted truth, batched equals a "
        "loop), or make it private")


def test_the_allow_list_names_public_names_only():
    assert set(COVERED_ELSEWHERE) <= set(public_names())


def test_the_check_finds_an_unmentioned_name():
    assert untested({"surely_no_test_says_this_name": "jaxinterp.x", "interpretability_index_all": "s"}) == {
        "surely_no_test_says_this_name": "jaxinterp.x"}


if __name__ == "__main__":
    for name, where in sorted(untested(public_names()).items(), key=lambda kv: (kv[1], kv[0])):
        print(f"{where}.{name}")
