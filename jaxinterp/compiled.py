"""Keep a long process clear of the kernel's limit on memory maps.

Every program XLA compiles for the CPU is loaded into about three memory maps of its own, and JAX
keeps every compiled program for the life of the process. Linux allows a process
``vm.max_map_count`` maps (65,530 by default); the next compilation past it does not fail
cleanly: the process dies with a segmentation fault inside the compiler. A sweep, an atlas run
or a test session that compiles ~18,000 distinct programs reaches it.

:func:`relieve` drops JAX's caches of compiled programs when the process holds more than half its
allowed maps, so their code is unmapped; programs still in use compile again on their next call.
"""

from __future__ import annotations

import gc
from pathlib import Path

_MAPS = Path("/proc/self/maps")
_LIMIT = Path("/proc/sys/vm/max_map_count")


def map_counts() -> tuple[int, int] | None:
    """(maps held, maps allowed) of this process, or None where the system does not say."""
    try:
        return _MAPS.read_bytes().count(b"\n"), int(_LIMIT.read_text())
    except (OSError, ValueError):
        return None


def relieve(fraction: float = 0.5) -> bool:
    """Clear JAX's compiled-program caches if this process holds over ``fraction`` of its allowed
    memory maps; True when it cleared them."""
    counts = map_counts()
    if counts is None or counts[0] <= fraction * counts[1]:
        return False
    import jax

    jax.clear_caches()
    gc.collect()
    return True
