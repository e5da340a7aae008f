"""The tiny `paper` and `roles` runs many tests read: random weights, random images.

Each command runs once per test session (``paper_run`` / ``roles_run`` in conftest.py):
the recipe, report and command tests all read the same output instead of recomputing it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp import models
from jaxinterp.checkpoint import save_variables

PAPER_ARGS = ["--layer", "relu1", "--k", "8", "--similarity", "colour", "label"]
ROLES_ARGS = ["--layer", "relu2", "--levels", "pixels", "--samples", "300", "--mlp-steps", "50",
              "--jacobian-samples", "16", "--ksg-samples", "100", "--saliency-images", "8", "--top", "5"]


def paper_fixture(root: Path) -> list[str]:
    """Random small_cnn_rgb and 120 random 32x32 images; returns the CLI args minus --out."""
    rng = np.random.default_rng(0)
    model = models.get("small_cnn_rgb")
    variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    save_variables(root / "params", variables, {"arch": "small_cnn_rgb"})
    images = rng.integers(0, 256, (120, 32, 32, 3), dtype=np.uint8)
    np.savez(root / "data.npz", images=images, labels=rng.integers(0, 10, 120))
    return ["paper", "--arch", "small_cnn_rgb", "--params", str(root / "params"),
            "--data", str(root / "data.npz"), *PAPER_ARGS]


def roles_fixture(root: Path) -> list[str]:
    """Random small_cnn and 48 random 8x8 images; returns the CLI args minus --out."""
    model = models.get("small_cnn")
    variables = models.init(model, jax.random.key(0))
    save_variables(root / "params", variables, {"arch": "small_cnn"})
    rng = np.random.default_rng(0)
    np.savez(root / "data.npz", images=rng.integers(0, 256, (48, 8, 8, 1), dtype=np.uint8),
             labels=rng.integers(0, 3, 48))
    return ["roles", "--arch", "small_cnn", "--params", str(root / "params"), "--data",
            str(root / "data.npz"), *ROLES_ARGS]


class Run(NamedTuple):
    """root: the fixture's folder (params/, data.npz); args: the CLI args minus --out; out: its output."""

    root: Path
    args: list
    out: Path

    def stored(self, task: str, array: str, **config) -> np.ndarray:
        """Array ``array`` of the store entry of task ``task`` whose config has these values,
        read from the files (an array kept once in an input's entry is followed there)."""
        entries = self.out / "store" / "entries"
        for meta_path in sorted((entries / task).glob("*/task.json")):
            meta = json.loads(meta_path.read_text())
            if all(meta["config"].get(k) == v for k, v in config.items()):
                return _read(entries, meta_path.parent, array)
        raise KeyError(f"no {task} entry with config {config} in {entries}")


def _read(entries: Path, entry: Path, array: str) -> np.ndarray:
    meta = json.loads((entry / "task.json").read_text())
    file = meta["arrays"][array][2]
    if not file.startswith("@"):
        return np.load(entry / file)
    dep, _, path = file[1:].partition("/")
    return _read(entries, next(entries.glob(f"*/{meta['inputs'][dep]}")), path)


def run_once(root: Path, fixture) -> Run:
    from jaxinterp import cli

    args = fixture(root)
    assert cli.main([*args, "--out", str(root / "out")]) == 0
    return Run(root, args, root / "out")
