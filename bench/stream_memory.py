"""stream_memory: peak memory of the streamed dataset passes does not grow with the dataset.

Three passes of issue 20 over a memory-mapped uint8 dataset of 32-px images (random pixels,
written once to a temporary folder), each at n = 10,000 and 100,000 images (2,000 and 20,000
with ``--quick``), each measurement in a fresh interpreter:

- ``top_positions``: dataset examples, :func:`jaxinterp.circuits.examples.top_positions`
  (k = 8, every unit of ``relu3``);
- ``activation_stats``: tuning over the examples, :func:`jaxinterp.circuits.tuning.activation_stats`
  (running moments of every unit at the centre);
- ``featvis_stats``: the featvis dataset statistics, :func:`jaxinterp.recipes.featvis.dataset_stats`
  (mean, SD, max and the top 8 images of every unit's spatial mean).

The model is a random ``SmallCNNRGB`` (widths 16, 32, 64; the figures do not depend on it).
Two peaks per run: ``ru_maxrss`` (VmHWM: every resident page, including the pages of the
memory-mapped file while they are mapped) and the peak *anonymous* resident memory (``RssAnon``
of /proc/self/status sampled every 10 ms: what the process allocated). One JSON line per pass:
both peaks at both sizes and their ratios; both ratios must stay below 1.1. (Before the engine
waited for each step and the sources released a memmap's pages, both grew with n: every batch
was queued, and every page read stayed mapped.)

Not a peer comparison (there is none: the old code loaded the whole dataset onto the device);
``python -m bench stream_memory [--quick]``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

CASES = ("top_positions", "activation_stats", "featvis_stats")
LAYER, SHAPE, WIDTHS = "relu3", (32, 32, 3), (16, 32, 64)


def _anon_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def child(case: str, n: int, path: str) -> dict:
    """Run one pass over the first ``n`` images of the memmap at ``path`` in this process."""
    peak = {"anon": _anon_kib()}
    done = threading.Event()

    def sample():
        while not done.wait(0.01):
            peak["anon"] = max(peak["anon"], _anon_kib())

    threading.Thread(target=sample, daemon=True).start()
    import jax

    from jaxinterp import models
    from jaxinterp.circuits import examples, tuning
    from jaxinterp.models.small_cnn import SmallCNNRGB
    from jaxinterp.recipes.featvis import dataset_stats

    model = SmallCNNRGB(widths=WIDTHS)
    variables = models.init(model, jax.random.key(0))
    images = np.memmap(path, np.uint8, "r", shape=(n, *SHAPE))
    t0 = time.perf_counter()
    if case == "top_positions":
        out = examples.top_positions(model, variables, LAYER, images, k=8).value
    elif case == "activation_stats":
        out = tuning.activation_stats(model, variables, LAYER, images)[0]
    else:
        out = dataset_stats(model, variables, images, LAYER, (0, WIDTHS[-1]), exemplars=8)["data_max"]
    seconds = time.perf_counter() - t0
    done.set()
    peak["anon"] = max(peak["anon"], _anon_kib())
    assert np.isfinite(np.asarray(out)).all()
    return {"case": case, "n": n, "seconds": round(seconds, 2), "peak_anon_mib": round(peak["anon"] / 1024, 1),
            "ru_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _measure(case: str, n: int, path: Path) -> dict:
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "bench.stream_memory", "child", case, str(n), str(path)],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode:
        raise RuntimeError(f"{case} n={n} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> None:
    small, large = (2_000, 20_000) if quick else (10_000, 100_000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "images.u8"
        mm = np.memmap(path, np.uint8, "w+", shape=(large, *SHAPE))
        rng = np.random.default_rng(0)
        for i in range(0, large, 10_000):
            mm[i:i + 10_000] = rng.integers(0, 256, (min(10_000, large - i), *SHAPE), dtype=np.uint8)
        mm.flush()
        del mm
        for case in CASES:
            a, b = _measure(case, small, path), _measure(case, large, path)
            print(json.dumps({"name": f"stream_memory.{case}", "layer": LAYER, "model": f"SmallCNNRGB{WIDTHS}",
                              "images": [small, large], "peak_anon_mib": [a["peak_anon_mib"], b["peak_anon_mib"]],
                              "anon_ratio": round(b["peak_anon_mib"] / a["peak_anon_mib"], 3),
                              "ru_maxrss_mib": [a["ru_maxrss_mib"], b["ru_maxrss_mib"]],
                              "ru_maxrss_ratio": round(b["ru_maxrss_mib"] / a["ru_maxrss_mib"], 3),
                              "seconds": [a["seconds"], b["seconds"]]}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "child":
        print(json.dumps(child(sys.argv[2], int(sys.argv[3]), sys.argv[4])))
    else:
        run(quick="--quick" in sys.argv)
