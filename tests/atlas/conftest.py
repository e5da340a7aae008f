"""One tiny atlas (random small CNN, 60 random images, two layers, K-means, a compared model), run
once per session as a subprocess and read by the site, resume and browser tests.

The runs share a persistent XLA compilation cache (a session folder): a second run of the same
graph compiles nothing, so the resume test's two runs cost what their tasks compute."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = ["--layers", "relu1", "relu2", "--directions", "kmeans", "--direction-layers", "relu2", "--k", "3",
           "--units", "3", "--compare", "small_cnn_rgb", "random:1", "--steps", "4", "--diversity", "2",
           "--diversity-steps", "2", "--negative-steps", "2", "--exemplars", "3", "--role-samples", "200",
           "--role-mlp-steps", "20"]


def command(data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "jaxinterp", "atlas", "--arch", "small_cnn_rgb", "--params", "random:0", "--data",
            str(data), *OPTIONS, "--out", str(out), *extra]


@pytest.fixture(scope="session")
def atlas_env(tmp_path_factory) -> dict:
    cache = tmp_path_factory.mktemp("xla_cache")
    return {**os.environ, "PYTHONPATH": str(ROOT), "JAX_COMPILATION_CACHE_DIR": str(cache),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


@pytest.fixture(scope="session")
def atlas_data(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("atlas_data") / "data.npz"
    np.savez(path, images=rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8), labels=rng.integers(0, 10, 60))
    return path


@pytest.fixture(scope="session")
def atlas_site(tmp_path_factory, atlas_env, atlas_data) -> Path:
    """OUT of one uninterrupted run (the site and OUT/store)."""
    out = tmp_path_factory.mktemp("atlas") / "out"
    done = subprocess.run(command(atlas_data, out), env=atlas_env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return out
