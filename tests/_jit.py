"""Compilation checks shared by the tests (equinox's ``assert_max_traces``, on jax's own cache)."""

from __future__ import annotations

from typing import Callable


def new_compilations(jitted, run: Callable[[], object]) -> int:
    """How many compiled versions ``run()`` adds to the cache of the jitted function ``jitted``.

    0 for a call whose shapes, dtypes and static arguments an earlier call already compiled."""
    before = jitted._cache_size()
    run()
    return jitted._cache_size() - before
