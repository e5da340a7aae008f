"""Run code on 8 forced CPU devices in a subprocess and read back the arrays it saved.

XLA fixes the device count when it starts, so sharding tests run their
8-device half in a fresh interpreter: the script (or ``tests.…`` module) gets
the output path as ``sys.argv[1]`` and saves an ``.npz`` there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def run_on_eight_devices(code: str, out: Path, *args: str, module: bool = False) -> dict[str, np.ndarray]:
    """``python -c code out *args`` (or ``python -m code ...``) on 8 CPU devices -> the saved arrays."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu",
               PYTHONPATH=str(REPO))
    command = [sys.executable, "-m" if module else "-c", code, str(out), *map(str, args)]
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(np.load(out))
