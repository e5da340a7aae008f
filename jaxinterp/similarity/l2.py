"""Pixel L2 similarity: s = -‖x - x'‖₂ over all pixels and channels (METHODS.md §1.3).

Features are the flattened images; all pairs are one Gram product, given pairs
(and the diagonal) are computed exactly from the differences.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinterp.similarity.base import Similarity
from jaxinterp.similarity.gram import check_same_width, paired_squared_distances, squared_distances


def pixels(images: jax.Array, labels: jax.Array | None = None) -> jax.Array:
    """[n, h, w, c] -> [n, h*w*c] flattened pixels."""
    del labels
    images = jnp.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"images must be [n, h, w, c], got shape {images.shape}; add a batch axis with images[None]"
        )
    return images.reshape(images.shape[0], -1).astype(jnp.float32)


def pairwise_l2(a: jax.Array, b: jax.Array) -> jax.Array:
    """[a, d], [b, d] flattened images -> [a, b] negated Euclidean distances."""
    check_same_width(a, b, "l2")
    return -jnp.sqrt(squared_distances(a, b))


def paired_l2(a: jax.Array, b: jax.Array) -> jax.Array:
    """[n, d], [n, d] -> [n] exact -‖a_i - b_i‖₂."""
    check_same_width(a, b, "l2")
    return -jnp.sqrt(paired_squared_distances(a, b))


l2 = Similarity("l2", pixels, pairwise_l2, paired=paired_l2)
