"""Timing and reporting shared by every benchmark.

``seconds(fn)`` calls ``fn`` once to compile/warm up, then returns the best wall
time of ``repeat`` calls, blocking on JAX results. ``emit(...)`` prints one JSON
line with the fields every benchmark reports.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import platform
import time
from typing import Any, Callable

import jax


def device_description() -> str:
    dev = jax.devices()[0]
    kind = getattr(dev, "device_kind", dev.platform)
    return f"{dev.platform}:{kind} x{jax.device_count()} ({os.cpu_count()} cpus, {platform.machine()})"


def block(value: Any) -> Any:
    return jax.tree_util.tree_map(
        lambda x: x.block_until_ready() if hasattr(x, "block_until_ready") else x, value
    )


def seconds(fn: Callable[[], Any], repeat: int = 3, warmup: int = 1) -> float:
    """Best-of-``repeat`` wall time of ``fn()`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        block(fn())
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        block(fn())
        best = min(best, time.perf_counter() - start)
    return best


def emit(name: str, shape: Any, seconds: float, peer: str, peer_seconds: float, **extra) -> dict:
    """Print and return one result line; ``ratio`` = peer_seconds / seconds (> 1: we are faster)."""
    record = {
        "name": name,
        "shape": shape,
        "seconds": round(seconds, 6),
        "peer": peer,
        "peer_seconds": round(peer_seconds, 6),
        "ratio": round(peer_seconds / seconds, 3) if seconds > 0 else None,
        "device": device_description(),
        **extra,
    }
    print(json.dumps(record), flush=True)
    return record


def shared_data() -> Path:
    """``../shared/data`` beside the checkout (or one level up, for a worktree), else $JAXINTERP_SHARED_DATA."""
    repo = Path(__file__).resolve().parents[1]
    for root in (repo.parent, repo.parent.parent):
        if (root / "shared" / "data").is_dir():
            return root / "shared" / "data"
    return Path(os.environ.get("JAXINTERP_SHARED_DATA", repo.parent / "shared" / "data"))
