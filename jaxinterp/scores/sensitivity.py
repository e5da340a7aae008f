"""Sensitivity of K-means directions (METHODS.md §4.2, seed §3.5 Eqs. 5–7, Fig. 7).

::

    pairs  : Hungarian matching of centroids maximising the total centroid distance,
             self-pairs forbidden
    v(α)   = (α μ_a + (1-α) μ_b) / ‖α μ_a + (1-α) μ_b‖          α ∈ {-0.5, -0.4, ..., 1.5}
    f_v(x) = -‖ŷ(x) - v‖₂                                        ŷ = unit-norm layer activation
    II(v)  : II of the top-M images under f_v
    G(v)   = mean_{x ∈ topM(v)} ‖∇_x f_v(x)‖₂   (and the min over topM: "minimal gradient norm")

Cross-II against centroid distance (Fig. 7A) is :func:`jaxinterp.scores.ii.cross_interpretability_index`.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int
from scipy.optimize import linear_sum_assignment

from jaxinterp.scores._checks import check_finite
from jaxinterp.scores.ii import interpretability_index_all

ALPHAS = tuple(np.round(np.arange(-0.5, 1.5001, 0.1), 2).tolist())


def hungarian_pairs(centroids: Float[ArrayLike, " k d"]) -> Int[np.ndarray, " k 2"]:
    """[k, d] centroids -> [k, 2] pairs (a, b): the assignment a -> b maximising the total
    distance ‖μ_a - μ_b‖ with a != b (scipy's linear_sum_assignment)."""
    c = np.asarray(centroids, np.float64)
    if c.ndim != 2 or c.shape[0] < 2:
        raise ValueError(f"centroids must be [k >= 2, d], got shape {c.shape}; pass a K-means "
                         "state's centroids with at least two clusters")
    check_finite(c, "centroids", rows="centroid", cols="dimension")
    dist = np.sqrt(np.maximum(((c[:, None] - c[None]) ** 2).sum(-1), 0))
    cost = dist.copy()
    np.fill_diagonal(cost, -1e12)  # forbid self-pairs under maximisation
    rows, cols = linear_sum_assignment(cost, maximize=True)
    return np.stack([rows, cols], axis=1).astype(np.int32)


def interpolate(mu_a, mu_b, alphas=ALPHAS) -> jax.Array:
    """[..., d], [..., d] -> [..., A, d] unit-norm v(α) = normalise(α μ_a + (1-α) μ_b)."""
    check_finite(mu_a, "mu_a", rows="centroid", cols="dimension")
    check_finite(mu_b, "mu_b", rows="centroid", cols="dimension")
    mu_a, mu_b = jnp.asarray(mu_a)[..., None, :], jnp.asarray(mu_b)[..., None, :]  # [..., 1, d]
    al = jnp.asarray(alphas, jnp.float32).reshape((1,) * (mu_a.ndim - 2) + (-1, 1))  # [..., A, 1]
    v = al * mu_a + (1 - al) * mu_b
    return v / jnp.maximum(jnp.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def direction_activations(unit_acts, directions):
    """f_v(x) = -‖ŷ(x) - v‖: unit-norm activations [n, d], directions [k, d] -> [n, k]."""
    check_finite(unit_acts, "activations", cols="dimension")
    check_finite(directions, "directions", rows="direction", cols="dimension")
    return _direction_activations(unit_acts, directions)


@jax.jit
def _direction_activations(unit_acts, directions):
    sq = (jnp.sum(unit_acts**2, axis=1, keepdims=True) - 2 * unit_acts @ directions.T
          + jnp.sum(directions**2, axis=1)[None])
    return -jnp.sqrt(jnp.maximum(sq, 0.0))


def _check_width(unit_acts, vectors, what):
    if unit_acts.ndim != 2:
        raise ValueError(f"activations must be [n_images, width], got shape {unit_acts.shape}")
    if vectors.shape[-1] != unit_acts.shape[1]:
        raise ValueError(
            f"{what} have width {vectors.shape[-1]} but the activations have width "
            f"{unit_acts.shape[1]}; directions must live in the analysed layer's space"
        )
    check_finite(unit_acts, "activations", cols="dimension")
    check_finite(vectors, what, rows="direction", cols="dimension")


def path_ii(unit_acts: Float[ArrayLike, " n d"], centroids: Float[ArrayLike, " k d"],
            pairs: Int[ArrayLike, " p 2"], metric, features, alphas=ALPHAS, m=5,
            chunk=256) -> Float[Array, " p a *layers"]:
    """II along the interpolation path of each pair: -> [P, A] (or [P, A, L]).

    Args:
      unit_acts: [n, d] unit-norm activations ŷ.
      centroids: [k, d]; pairs [P, 2] (e.g. :func:`hungarian_pairs`).
    """
    unit_acts, centroids = jnp.asarray(unit_acts), jnp.asarray(centroids)
    _check_width(unit_acts, centroids, "centroids")
    pairs = np.asarray(pairs)
    v = interpolate(centroids[pairs[:, 0]], centroids[pairs[:, 1]], alphas)  # [P, A, d]
    f = direction_activations(unit_acts, v.reshape(-1, v.shape[-1]))
    ii = interpretability_index_all(f, metric, features, m=m, chunk=chunk)
    return ii.reshape(v.shape[:2] + ii.shape[1:])


class GradientNorms(NamedTuple):
    """norms [k, M] of ∇_x f_v at each direction's top-M images; mean [k] = G(v); min [k]."""

    norms: jax.Array
    mean: jax.Array
    min: jax.Array


@partial(jax.jit, static_argnames=("embed", "chunk"))
def _grad_norms(embed, images, directions, image_idx, dir_idx, chunk):
    def block(args):
        ii, di = args
        x = images[ii]
        v = directions[di]
        y, pull = jax.vjp(embed, x)
        diff = y - v
        cot = -diff / jnp.maximum(jnp.linalg.norm(diff, axis=1, keepdims=True), 1e-12)
        (g,) = pull(cot)
        return jnp.sqrt(jnp.sum(g.reshape(g.shape[0], -1) ** 2, axis=1))

    return jax.lax.map(block, (image_idx, dir_idx))


def gradient_norms(
    embed: Callable[[jax.Array], jax.Array],
    images: jax.Array,
    directions: jax.Array,
    top: jax.Array,
    chunk: int = 32,
) -> GradientNorms:
    """Input-gradient norms of f_v(x) = -‖embed(x) - v‖ for all directions at once.

    Args:
      embed: differentiable [b, h, w, c] images -> [b, d] unit-norm layer activations; rows must
        not depend on each other (eval-mode batch norm), so one VJP gives every image's gradient.
      images: [n, h, w, c] model-input images (NHWC).
      directions: [k, d] unit vectors v.
      top: [k, M] image indices (each direction's top-M exemplars).
      chunk: (direction, image) pairs per VJP.

    Returns:
      GradientNorms(norms [k, M], mean [k], min [k]).
    """
    check_finite(images, "images", cols="pixel row")
    check_finite(directions, "directions", rows="direction", cols="dimension")
    directions, top = jnp.asarray(directions), jnp.asarray(top)
    if top.ndim != 2 or top.shape[0] != directions.shape[0]:
        raise ValueError(f"top must be [k, M] with k = {directions.shape[0]} directions, got {top.shape}")
    k, m = top.shape
    flat_img = top.reshape(-1)
    flat_dir = jnp.repeat(jnp.arange(k), m)
    total = flat_img.size
    chunk = max(1, min(chunk, total))
    pad = (-total) % chunk
    flat_img = jnp.concatenate([flat_img, jnp.zeros(pad, flat_img.dtype)]).reshape(-1, chunk)
    flat_dir = jnp.concatenate([flat_dir, jnp.zeros(pad, flat_dir.dtype)]).reshape(-1, chunk)
    norms = _grad_norms(embed, jnp.asarray(images), directions, flat_img, flat_dir, chunk)
    norms = norms.reshape(-1)[:total].reshape(k, m)
    return GradientNorms(norms, jnp.mean(norms, axis=1), jnp.min(norms, axis=1))


def path_gradient_norms(embed, images, unit_acts, centroids, pairs, alphas=ALPHAS, m=5, chunk=32):
    """G(v(α)) along each pair's path: -> GradientNorms with [P, A, ...] leading axes."""
    unit_acts, centroids = jnp.asarray(unit_acts), jnp.asarray(centroids)
    _check_width(unit_acts, centroids, "centroids")
    pairs = np.asarray(pairs)
    v = interpolate(centroids[pairs[:, 0]], centroids[pairs[:, 1]], alphas)
    flat = v.reshape(-1, v.shape[-1])
    top = jax.lax.top_k(direction_activations(unit_acts, flat).T, m)[1]
    g = gradient_norms(embed, images, flat, top, chunk)
    lead = v.shape[:2]
    return GradientNorms(g.norms.reshape(lead + (m,)), g.mean.reshape(lead), g.min.reshape(lead))
