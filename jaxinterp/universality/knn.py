"""Mutual k-nearest-neighbour alignment (Huh et al. 2024, "The Platonic Representation Hypothesis").

For every image, take its k nearest other images in representation X and in
representation Y; the alignment is the mean over images of |N_X(i) ∩ N_Y(i)| / k
(1: the same neighbourhoods, about k/(n-1) by chance). Neighbours are by cosine
similarity (Huh et al. normalise features) or Euclidean distance, found a block
of rows at a time so no [n, n] matrix is held.
"""

from __future__ import annotations

from functools import partial
from typing import Mapping

import jax
import jax.numpy as jnp

from jaxinterp.universality import stack
from jaxinterp.universality._checks import check_finite, check_layers, check_pair, check_same_images

METRICS = ("cosine", "euclidean")


@partial(jax.jit, static_argnames=("k", "metric", "block"))
def neighbours(x: jax.Array, k: int, metric: str = "cosine", block: int = 512) -> jax.Array:
    """[n, d] -> [n, k] indices of each image's k nearest other images, nearest first."""
    x = jnp.asarray(x, jnp.float32)
    n = x.shape[0]
    if metric == "cosine":
        x = x / jnp.maximum(jnp.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sq = jnp.sum(x * x, 1)
    block = min(block, n)
    n_blocks = -(-n // block)
    rows_all = jnp.minimum(jnp.arange(n_blocks * block), n - 1).reshape(n_blocks, block)

    def one(rows):
        g = x[rows] @ x.T  # [b, n]
        score = g if metric == "cosine" else 2 * g - sq[None, :]  # -‖xi - xj‖² up to a row constant
        score = jnp.where(rows[:, None] == jnp.arange(n)[None, :], -jnp.inf, score)
        return jax.lax.top_k(score, k)[1]

    return jax.lax.map(one, rows_all).reshape(-1, k)[:n]


def overlap(nx: jax.Array, ny: jax.Array) -> jax.Array:
    """[n, k], [n, k] neighbour indices -> [] mean |N_x(i) ∩ N_y(i)| / k."""
    k = nx.shape[1]
    hits = jnp.sum(nx[:, :, None] == ny[:, None, :], axis=(1, 2))
    return jnp.mean(hits) / k


def _check_k(k, n):
    if not isinstance(k, int) or not 1 <= k <= n - 1:
        raise ValueError(f"k must be an int in 1..n-1 = 1..{n - 1} (neighbours other than the image "
                         f"itself), got {k!r}; use fewer neighbours or more images")


@partial(jax.jit, static_argnames=("k", "metric"))
def _mutual(x, y, k, metric):
    return overlap(neighbours(x, k, metric), neighbours(y, k, metric))


def mutual_knn(x: jax.Array, y: jax.Array, k: int = 10, metric: str = "cosine") -> jax.Array:
    """Mutual k-NN alignment of [n, dx] and [n, dy] representations of the same images -> []."""
    check_pair(x, y)
    _check_k(k, x.shape[0])
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    return _mutual(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), k, metric)


@partial(jax.jit, static_argnames=("k", "metric"))
def _all_pairs(xa, xb, k, metric):
    na = jax.lax.map(lambda x: neighbours(x, k, metric), xa)  # [LA, n, k]
    nb = jax.lax.map(lambda x: neighbours(x, k, metric), xb)  # [LB, n, k]
    return jax.lax.map(lambda a: jax.vmap(lambda b: overlap(a, b))(nb), na)


def mutual_knn_all_pairs(acts_a: Mapping[str, object], acts_b: Mapping[str, object], k: int = 10,
                         metric: str = "cosine") -> jax.Array:
    """Mutual k-NN alignment of every layer of A against every layer of B -> [LA, LB].

    Each layer's neighbours are found once (layers zero-padded to one width, which changes
    no distance or cosine); all pairs are then one vmapped comparison of index sets.
    """
    n = check_layers(acts_a, "acts_a")
    check_same_images(n, check_layers(acts_b, "acts_b"))
    _check_k(k, n)
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    xa, xb = stack.pad_stack(acts_a), stack.pad_stack(acts_b)
    check_finite(xa, "acts_a")
    check_finite(xb, "acts_b")
    return _all_pairs(xa, xb, k, metric)
