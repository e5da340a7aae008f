"""A similarity metric = per-image features + a pairwise kernel on features.

Every metric of METHODS.md §1.3 is phrased this way so that each image is
processed once and any set of pairs (a block, all pairs, the top-M exemplars of
every direction) is a cheap kernel call::

    feats = metric.featurize(images, labels)        # pytree, leading axis = image
    S = metric.pairwise(take(feats, a), take(feats, b))   # [len(a), len(b)], higher = more similar

Distances are negated, so every value is a *similarity*.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp


class Similarity(NamedTuple):
    """name: short label used in reports.
    featurize: (images [n, h, w, c] in [0, 1], labels [n] or None) -> feature pytree, leading axis n.
    pairwise: (features_a, features_b) -> [a, b] similarities.
    """

    name: str
    featurize: Callable[[jax.Array, jax.Array | None], Any]
    pairwise: Callable[[Any, Any], jax.Array]


def take(features: Any, index: jax.Array) -> Any:
    """Rows ``index`` of every leaf of a feature pytree."""
    return jax.tree_util.tree_map(lambda f: f[index], features)


def matrix(metric: Similarity, features_a: Any, features_b: Any | None = None) -> jax.Array:
    """All-pairs similarity [a, b] (or [a, a] within one set)."""
    return metric.pairwise(features_a, features_a if features_b is None else features_b)
