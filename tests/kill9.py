"""Start a command, kill -9 it once its results store holds a random number of entries."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np


def entries(store: Path) -> int:
    """Committed entries of the store at ``store`` (a commit is written last, whole)."""
    return sum(1 for _ in (Path(store) / "commits").glob("*/*.json"))


def kill_after_random_entries(command: list[str], env: dict, store: Path, low: int, high: int,
                              timeout: float = 300) -> int:
    """Run ``command``; SIGKILL it once ``store`` has between ``low`` and ``high`` entries (a random
    target, seeded by the clock); returns the entries on disk after the kill."""
    target = int(np.random.default_rng(int(time.time())).integers(low, high))
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and entries(store) < target:
        time.sleep(0.02)
    assert proc.poll() is None, f"the run finished before {target} entries, so it could not be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return entries(store)
