"""Shared fixtures: a PRNG key, the path of ../shared/data, and skips when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jaxtyping
import numpy as np
import pytest

# Check the jaxtyping shape annotations of the door's, directions' and scores' kernels at every
# call in the tests (equinox does the same). The hook only decorates modules imported after it,
# so it comes before anything imports jaxinterp.
# A float annotation accepts an int, as PEP 484 says (beartype is stricter by default).
jaxtyping.install_import_hook(
    ["jaxinterp.door", "jaxinterp.directions", "jaxinterp.scores"],
    "beartype.beartype(conf=beartype.BeartypeConf(is_pep484_tower=True))",
)

jax.config.update("jax_enable_x64", False)
# As equinox's conftest: no silent dtype promotion (float32 + int32, bool + float) and no
# implicit rank broadcast ([n, d] - [d]); library code says what it means with astype and
# [None, :]. Python scalars stay fine (they are weakly typed).
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

REPO = Path(__file__).resolve().parents[1]

from jaxinterp import compiled  # noqa: E402 - after the import hook (it checks nothing here)

def _find_shared_data() -> Path:
    if "JAXINTERP_SHARED_DATA" in os.environ:
        return Path(os.environ["JAXINTERP_SHARED_DATA"])
    # ../shared beside the checkout (CI, the main checkout), or beside its parent (worktrees)
    for root in (REPO.parent, REPO.parent.parent):
        if (root / "shared" / "data").is_dir():
            return root / "shared" / "data"
    return REPO.parent / "shared" / "data"


SHARED_DATA = _find_shared_data()


@pytest.fixture(autouse=True)
def _relieve_compiled_programs():
    """The suite compiles ~18,000 programs in one process: over Linux's limit on memory maps,
    which ends the process in the compiler (see jaxinterp.compiled)."""
    yield
    compiled.relieve()


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture
def unchecked():
    """Annotations unchecked, as in a user's run: for tests of a kernel's own input errors (the
    ValueError that says the fix), which the annotation check would otherwise pre-empt."""
    jaxtyping.config.update("jaxtyping_disable", True)
    try:
        yield
    finally:
        jaxtyping.config.update("jaxtyping_disable", False)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the checkout; skipped with a reason in a user's clone."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real-data test: {SHARED_DATA} is absent (it exists in CI, not in a user's clone)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def paper_run(tmp_path_factory):
    """One tiny `paper` run (tests/fixtures.py), shared by the recipe, report and command tests.
    Tests may rerun into its --out (a rerun recomputes nothing) but must leave it complete."""
    from tests.fixtures import paper_fixture, run_once

    return run_once(tmp_path_factory.mktemp("paper_run"), paper_fixture)


@pytest.fixture(scope="session")
def roles_run(tmp_path_factory):
    """One tiny `roles` run (tests/fixtures.py), shared like ``paper_run``."""
    from tests.fixtures import roles_fixture, run_once

    return run_once(tmp_path_factory.mktemp("roles_run"), roles_fixture)


def shared_file(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real-data test: {path} is absent (it exists in CI, not in a user's clone)")
    return path
