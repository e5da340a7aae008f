"""Label (high-level) similarity: s = 1[label(x) = label(x')] (METHODS.md §1.3)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinterp.similarity.base import Similarity


def label_features(images: jax.Array | None, labels: jax.Array | None) -> jax.Array:
    """The labels themselves, [n] integers."""
    if labels is None:
        raise ValueError("the label similarity needs labels; pass labels=[n] class indices")
    return jnp.asarray(labels)


def pairwise_label(a: jax.Array, b: jax.Array) -> jax.Array:
    """[a], [b] labels -> [a, b] with 1.0 where the labels agree, else 0.0."""
    return (a[:, None] == b[None, :]).astype(jnp.float32)


label = Similarity("label", label_features, pairwise_label)
