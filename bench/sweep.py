"""A sweep of directions × similarities on synthetic activations, end to end through the results store.

Case ``sweep_store``: D images × N neurons of synthetic post-ReLU activations; direction sets
{neurons, K-means, PCA, SAE} × K ∈ {N/2, N} (neurons once) scored with the colour and label
II. jaxinterp: the sweep's own tasks (fit + II per similarity) run by ``tasks.run`` into a fresh
store each time (hashing, npz writes, checksums, loads included). Peer: the same kernels
called directly in a loop, nothing saved. Reported: directions scored per second both ways and
the store's overhead (goal < 5%): end to end (best of 9 alternating runs each way, noisy on a
shared machine) and as the seconds spent inside the store's own methods (hashing, npz writes,
CRC-32 checksums, reads), which the noise of the kernels does not blur. Both sides are compiled before
timing (same shapes).

Case ``sweep_sae_many``: 16 SAE configurations on these activations (64 neurons) trained in
one program against a PyTorch loop of fits; see ``bench/_sae_many.py``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from bench._harness import device_description
from bench.scores import synthetic_acts
from jaxinterp import steps, tasks
from jaxinterp.directions import registry
from jaxinterp.scores.ii import interpretability_index_all


@dataclasses.dataclass(frozen=True)
class Synthetic:
    d: int
    n: int
    seed: int = 0


_MADE: dict = {}


def _made(c: "Synthetic") -> np.ndarray:
    """The synthetic activations of ``c``, made once per process (not timed on either side)."""
    if c not in _MADE:
        # float32, as `capture` stores activations
        _MADE[c] = synthetic_acts(np.random.default_rng(c.seed), c.d, c.n).astype(np.float32)
    return _MADE[c]


def _synthetic(ctx, c: Synthetic):
    return tasks.Result({"acts": _made(c)}, {})


def _grid(n):
    cells = [("neurons", None, 0)]
    for method in ("kmeans", "pca", "sae"):
        for k in (n // 2, n):
            cells.append((method, k, 0))
    return cells


OPTIONS = {"sae": {"max_steps": 300, "batch_size": 1024}}


class TimedStore(tasks.Store):
    """A store that adds up the seconds spent in its own methods (hashing, writing, reading)."""

    io_seconds = 0.0

    def _timed(name):
        def method(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return getattr(tasks.Store, name)(self, *args, **kwargs)
            finally:
                self.io_seconds += time.perf_counter() - start
        return method

    save, load, has, scratch_dir = _timed("save"), _timed("load"), _timed("has"), _timed("scratch_dir")


def _store_run(acts_task, data, sims, n, root):
    store = TimedStore(root)
    targets = []
    for method, k, seed in _grid(n):
        fit = steps.fit_task(acts_task, method, k=k, seed=seed, **OPTIONS.get(method, {}))
        targets += [steps.ii_task(fit, spec, data, 5) for spec in sims]
    start = time.perf_counter()
    results, report = tasks.run(targets, store)
    seconds = time.perf_counter() - start
    return seconds, results, report, store.io_seconds


def _direct_run(acts, feats, n):
    out = []
    start = time.perf_counter()
    for method, k, seed in _grid(n):
        fitted = registry.fit_by_name(method, jax.random.key(seed), acts, k, **OPTIONS.get(method, {}))
        f = np.asarray(fitted.transform(acts))
        for sim, ft in feats:
            out.append(np.asarray(interpretability_index_all(f, sim, ft, m=5)))
    return time.perf_counter() - start, out


def run(quick: bool = False) -> None:
    from bench import _sae_many

    _sae_many.run(quick, _made(Synthetic(2000 if quick else 10000, 64)))
    d, n = (2000, 32) if quick else (10000, 64)
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    rng = np.random.default_rng(1)
    np.savez(tmp / "images.npz", images=rng.integers(0, 256, (d, 8, 8, 3), dtype=np.uint8),
             labels=rng.integers(0, 10, d))
    data = steps.data_spec(tmp / "images.npz")
    sims = [steps.SimilaritySpec("colour"), steps.SimilaritySpec("label")]
    acts_task = tasks.Task("synthetic_acts", Synthetic(d, n), _synthetic)
    acts = _made(Synthetic(d, n))
    feats = [(steps.build_similarity(s), steps.similarity_features(s, data)) for s in sims]
    directions = sum(n if k is None else k for _, k, _ in _grid(n)) * len(sims)

    _direct_run(acts, feats, n)  # compile everything once
    store_times, direct_times, io_times = [], [], []
    for i in range(9):  # alternate, keep the best of each
        t, reference = _direct_run(acts, feats, n)
        direct_times.append(t)
        t, results, report, io = _store_run(acts_task, data, sims, n, tmp / f"store{i}")
        store_times.append(t)
        io_times.append(io)
        assert report.count("ii") == len(reference)
        shutil.rmtree(tmp / f"store{i}")
    ours = [r.arrays["ii"] for r in results.values()]
    max_diff = max(float(np.max(np.abs(a - b))) for a, b in zip(ours, reference))
    best_store, best_direct = min(store_times), min(direct_times)
    record = {"name": "sweep_store", "shape": {"images": d, "neurons": n, "cells": len(_grid(n)),
                                               "similarities": len(sims), "directions_scored": directions},
              "seconds": round(best_store, 4), "peer": "the same kernels called directly, nothing saved",
              "peer_seconds": round(best_direct, 4), "ratio": round(best_direct / best_store, 3),
              "directions_per_s_store": round(directions / best_store, 1),
              "directions_per_s_direct": round(directions / best_direct, 1),
              "store_overhead_pct": round(100 * (best_store / best_direct - 1), 2),
              "store_io_s": round(min(io_times), 4),
              "store_io_pct_of_direct": round(100 * min(io_times) / best_direct, 2),
              "max_abs_ii_difference": max_diff, "device": device_description(),
              "all_store_s": [round(t, 3) for t in store_times],
              "all_direct_s": [round(t, 3) for t in direct_times]}
    print(json.dumps(record), flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
