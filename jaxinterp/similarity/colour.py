"""Colour (low-level) similarity: s = -‖c(x) - c(x')‖₂, c = per-channel spatial-mean colour.

METHODS.md §1.3. Images in [0, 1] by default; the authors computed it on
CIFAR-normalised tensors (normalise first to reproduce that).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinterp.similarity.base import Similarity


def mean_colour(images: jax.Array, labels: jax.Array | None = None) -> jax.Array:
    """[n, h, w, c] -> [n, c] spatial-mean colour."""
    del labels
    return jnp.mean(images, axis=(1, 2))


def pairwise_colour(a: jax.Array, b: jax.Array) -> jax.Array:
    """[a, c], [b, c] mean colours -> [a, b] negated Euclidean distances."""
    diff = a[:, None, :] - b[None, :, :]
    return -jnp.sqrt(jnp.sum(diff * diff, axis=-1))


colour = Similarity("colour", mean_colour, pairwise_colour)
