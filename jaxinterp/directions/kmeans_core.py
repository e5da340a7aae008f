"""Pieces shared by the K-means fits: state, distances, nearest two centroids, the centroid update."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class KMeansState(NamedTuple):
    """centroids [k, d]; inertia [] (sum of squared distances, or of 1 - cos if spherical);
    n_iter [] Lloyd iterations run."""

    centroids: jax.Array
    inertia: jax.Array
    n_iter: jax.Array


def fixed_init(init, k: int, d: int) -> jax.Array:
    """The centroids of a non-random init: ``"identity"`` (k == d) or a [k, d] array.

    ``"k-means++"`` is drawn by each fit from its own data; any other string is an error.
    """
    if isinstance(init, str) and init == "identity":
        if k != d:
            raise ValueError(
                f"init='identity' needs k == n_features ({d}), got k={k}; use init='k-means++'"
            )
        return jnp.eye(d, dtype=jnp.float32)
    if isinstance(init, str):
        raise ValueError(f"init must be 'k-means++', 'identity' or a [k, d] array, got {init!r}")
    init = jnp.asarray(init, jnp.float32)
    if init.shape != (k, d):
        raise ValueError(f"initial centroids must have shape ({k}, {d}), got {init.shape}")
    if not bool(jnp.all(jnp.isfinite(init))):
        raise ValueError("initial centroids contain NaN or inf; pass finite values")
    return init


def sq_dist_rows(a: jax.Array, b: jax.Array) -> jax.Array:
    """Row-wise squared distance, computed directly (exact): [m, d], [m, d] -> [m]."""
    return jnp.sum((a - b) ** 2, axis=-1)


def nearest_two(x, x_sq, c, c_sq):
    """x [m, d] -> (label [m], distance to nearest [m], distance to second nearest [m]).

    Squared distances via one GEMM with precomputed norms, clipped at 0.
    """
    d2 = jnp.maximum(x_sq[:, None] - 2.0 * x @ c.T + c_sq[None, :], 0.0)
    first = jnp.argmin(d2, axis=-1)
    d1 = jnp.take_along_axis(d2, first[:, None], axis=-1)[:, 0]
    second = jnp.min(jnp.where(jnp.arange(c.shape[0])[None, :] == first[:, None], jnp.inf, d2), -1)
    return first.astype(jnp.int32), jnp.sqrt(d1), jnp.sqrt(second)


def relocate_empty(labels, cost, counts, k: int):
    """Give every empty cluster one of the samples farthest from its centroid (as scikit-learn).

    labels [n], cost [n] (0 for padding rows), counts [k] -> (labels [n], moved [n] bool).
    """
    n = labels.shape[0]
    empty = counts == 0
    n_empty = jnp.sum(empty)
    far = jax.lax.top_k(cost, min(k, n))[1]
    empty_ids = jnp.nonzero(empty, size=k, fill_value=k)[0][: far.shape[0]]
    take = jnp.arange(far.shape[0]) < n_empty
    targets = jnp.where(take, far, n)
    labels = labels.at[targets].set(empty_ids.astype(labels.dtype), mode="drop")
    moved = jnp.zeros(n, bool).at[targets].set(True, mode="drop")
    return labels, moved


def zero_padding(x, w):
    """x [n, d] with the rows of weight 0 set to zero (padding rows carry no mass)."""
    return jnp.where((w > 0)[:, None], x, 0.0)


def centroid_update(x, w, labels, cost, centroids, spherical: bool = False):
    """Means (or normalised sums if spherical) of the weighted samples of each cluster.

    Empty clusters take the farthest samples first (:func:`relocate_empty`).
    x [n, d] with zero rows where w == 0 (:func:`zero_padding`), w [n], labels [n],
    cost [n] -> (centroids [k, d], labels [n], moved [n]).
    """
    k = centroids.shape[0]
    # rows of weight 0 are zero rows (see `zero_padding`): a plain segment sum, since
    # fusing the `x * w` product into the scatter makes XLA's CPU scatter 5x slower
    counts = jax.ops.segment_sum(w, labels, num_segments=k)
    sums = jax.ops.segment_sum(x, labels, num_segments=k)

    def relocate():  # rare: recompute the sums with the moved samples
        new_labels, moved = relocate_empty(labels, cost * w, counts, k)
        return (new_labels, moved, jax.ops.segment_sum(w, new_labels, num_segments=k),
                jax.ops.segment_sum(x, new_labels, num_segments=k))

    labels, moved, counts, sums = jax.lax.cond(
        jnp.any(counts == 0), relocate,
        lambda: (labels, jnp.zeros(labels.shape, bool), counts, sums),
    )
    if spherical:
        new = sums / jnp.maximum(jnp.linalg.norm(sums, axis=-1, keepdims=True), 1e-12)
    else:
        new = sums / jnp.maximum(counts, 1.0)[:, None]
    return jnp.where((counts > 0)[:, None], new, centroids), labels, moved
