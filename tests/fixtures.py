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

    def summary(self, task: str, **config) -> dict:
        """The summary of the committed store entry of task ``task`` whose config has these values."""
        store = self.out / "store"
        for commit in sorted((store / "commits" / task).glob("*.json")):
            meta = json.loads(commit.read_text())
            if all(meta["config"].get(k) == v for k, v in config.items()):
                name = meta["summary"][0]
                return json.loads((store / "objects" / name[:2] / name).read_text())
        raise KeyError(f"no {task} entry with config {config} in {store / 'commits'}")

    def stored(self, task: str, array: str, **config) -> np.ndarray:
        """Array ``array`` of the committed store entry of task ``task`` whose config has these
        values, read from the files a user sees (the commit record names a content-addressed
        ``.npy`` object under ``objects/``)."""
        store = self.out / "store"
        for commit in sorted((store / "commits" / task).glob("*.json")):
            meta = json.loads(commit.read_text())
            if all(meta["config"].get(k) == v for k, v in config.items()):
                name = meta["arrays"][array][2]
                return np.load(store / "objects" / name[:2] / name)
        raise KeyError(f"no {task} entry with config {config} in {store / 'commits'}")


def run_once(root: Path, fixture) -> Run:
    from jaxinterp import cli

    args = fixture(root)
    assert cli.main([*args, "--out", str(root / "out")]) == 0
    return Run(root, args, root / "out")
