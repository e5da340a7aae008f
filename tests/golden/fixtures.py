"""The tiny fixtures the paper/roles golden files were made on (random weights, random images)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp import models
from jaxinterp.checkpoint import save_variables

HERE = Path(__file__).resolve().parent
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
