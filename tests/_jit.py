"""Compilation checks shared by the tests (equinox's ``assert_max_traces`` idea, on jax's own cache)."""

from __future__ import annotations

from typing import Callable


def new_compilations(jitted, run: Callable[[], object]) -> int:
    """How many compiled versions ``run()`` adds to the cache of the ``jax.jit`` function ``jitted``.

    0 for a call whose shapes, dtypes and static arguments an earlier call already compiled."""
    before = jitted._cache_size()
    run()
    return jitted._cache_size() - before
