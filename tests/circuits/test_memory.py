"""Memory: a streamed pass over a memory-mapped dataset ten times larger does not raise the
peak resident memory (the engine does not queue the whole dataset, the file's pages are let
go). bench/stream_memory.py measures the same at 10,000 and 100,000 images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CODE = """
import json, resource, sys, jax, numpy as np
from jaxinterp import models
from jaxinterp.circuits import examples
from jaxinterp.models.small_cnn import SmallCNNRGB
model = SmallCNNRGB(widths=(4, 8, 8)); variables = models.init(model, jax.random.key(0))
path = sys.argv[1]
mm = np.memmap(path, np.uint8, "w+", shape=(20000, 32, 32, 3))
for i in range(0, 20000, 5000):
    mm[i:i + 5000] = np.random.default_rng(i).integers(0, 256, (5000, 32, 32, 3), dtype=np.uint8)
mm.flush(); del mm
peak = []
for n in (2000, 20000):
    images = np.memmap(path, np.uint8, "r", shape=(n, 32, 32, 3))
    examples.top_positions(model, variables, "relu3", images, k=4, batch_size=256)
    peak.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(peak))
"""


def test_peak_memory_does_not_grow_with_the_dataset(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run([sys.executable, "-c", CODE, str(tmp_path / "x.u8")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    small, large = json.loads(proc.stdout.strip().splitlines()[-1])
    # 18,000 more images are 55 MB of pixels: queued or left mapped, they would show here
    assert large / small < 1.1 and large - small < 25, (small, large)
