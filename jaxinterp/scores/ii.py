"""Interpretability Index (METHODS.md §2): mean similarity among a direction's top-M exemplars.

For direction u with activations f_u over D images and T_u = the M most
activating images::

    II(u) = (1 / M²) Σ_{j, k ∈ T_u} s(x_j, x_k)          (includes j = k)

With s = -distance, II ≤ 0 and higher is more interpretable. Written for one
direction (:func:`interpretability_index`) and vectorised over all directions
(:func:`interpretability_index_all`), chunked with ``lax.map`` to bound memory.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxinterp.similarity.base import Similarity, take


def _check(acts_shape, m: int) -> None:
    if len(acts_shape) not in (1, 2):
        raise ValueError(
            f"direction activations must be [n_images] or [n_images, n_directions], got shape {acts_shape}"
        )
    n = acts_shape[0]
    if n == 0:
        raise ValueError("the dataset is empty (0 images); the index needs at least M images")
    if not 1 <= m <= n:
        raise ValueError(
            f"M={m} exemplars were asked for but the dataset has only {n} images; "
            f"use M <= {n} or more images"
        )


def top_exemplars(f: jax.Array, m: int) -> jax.Array:
    """[n] activations -> [m] indices of the most activating images, highest first."""
    return jax.lax.top_k(f, m)[1]


def _mean_similarity(S: jax.Array, off_diagonal: bool) -> jax.Array:
    m = S.shape[-1]
    if off_diagonal:
        return (jnp.sum(S) - jnp.trace(S)) / (m * (m - 1))
    return jnp.mean(S)


def interpretability_index(
    f: jax.Array,
    features: Any,
    pairwise: Callable[[Any, Any], jax.Array],
    m: int = 5,
    off_diagonal: bool = False,
) -> jax.Array:
    """II of one direction.

    Args:
      f: [n] activations of the direction over the n images.
      features: per-image feature pytree (leading axis n) of the similarity.
      pairwise: (features_a, features_b) -> [a, b] similarities.
      m: exemplars (M = 5 in the paper).
      off_diagonal: average over j != k only (a monotone equivalent, METHODS.md §2).

    Returns:
      [] the index.
    """
    idx = top_exemplars(f, m)
    sub = take(features, idx)
    return _mean_similarity(pairwise(sub, sub), off_diagonal)


@partial(jax.jit, static_argnames=("pairwise", "m", "off_diagonal", "chunk"))
def _ii_all(acts, features, pairwise, m, off_diagonal, chunk):
    idx = jax.lax.top_k(acts.T, m)[1]  # [k, m]

    def one(index):
        sub = take(features, index)
        return _mean_similarity(pairwise(sub, sub), off_diagonal)

    return jax.lax.map(one, idx, batch_size=chunk)


def interpretability_index_all(
    acts: jax.Array,
    metric: Similarity | Callable,
    features: Any,
    m: int = 5,
    off_diagonal: bool = False,
    chunk: int = 256,
) -> jax.Array:
    """II of every direction at once: [n, k] activations -> [k] indices.

    ``metric`` is a :class:`~jaxinterp.similarity.Similarity` (its ``pairwise``
    is used) or a pairwise function; ``features`` are that metric's per-image
    features for the same n images.
    """
    _check(acts.shape, m)
    if acts.ndim == 1:
        acts = acts[:, None]
    pairwise = metric.pairwise if isinstance(metric, Similarity) else metric
    leaves = jax.tree_util.tree_leaves(features)
    if leaves and leaves[0].shape[0] != acts.shape[0]:
        raise ValueError(
            f"activations cover {acts.shape[0]} images but the similarity features cover "
            f"{leaves[0].shape[0]}; compute both on the same images"
        )
    return _ii_all(jnp.asarray(acts), features, pairwise, m, off_diagonal, min(chunk, acts.shape[1]))


@partial(jax.jit, static_argnames=("m", "off_diagonal"))
def _ii_matrix(acts, sim, m, off_diagonal):
    idx = jax.lax.top_k(acts.T, m)[1]
    blocks = jax.vmap(lambda i: sim[i][:, i])(idx)  # [k, m, m]
    return jax.vmap(lambda S: _mean_similarity(S, off_diagonal))(blocks)


def interpretability_index_from_matrix(
    acts: jax.Array, sim: jax.Array, m: int = 5, off_diagonal: bool = False
) -> jax.Array:
    """II of every direction from a precomputed [n, n] similarity matrix: [n, k] -> [k]."""
    _check(acts.shape, m)
    if acts.ndim == 1:
        acts = acts[:, None]
    if sim.shape != (acts.shape[0], acts.shape[0]):
        raise ValueError(
            f"similarity matrix must be [{acts.shape[0]}, {acts.shape[0]}] for {acts.shape[0]} "
            f"images, got {sim.shape}"
        )
    return _ii_matrix(jnp.asarray(acts), jnp.asarray(sim), m, off_diagonal)
