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
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int, Real

from jaxinterp.scores._checks import check_finite, check_top_m
from jaxinterp.similarity.base import Similarity, take


def top_exemplars(f: Real[ArrayLike, " n"], m: int) -> Int[Array, " m"]:
    """[n] activations -> [m] indices of the most activating images, highest first."""
    check_top_m(f, m, ranks=(1,))
    return jax.lax.top_k(f, m)[1]


def _mean_similarity(S: jax.Array, off_diagonal: bool) -> jax.Array:
    """[m, m] or per-layer [m, m, L] similarities -> [] or [L] mean over the M×M block."""
    m = S.shape[0]
    if off_diagonal:
        diag = jnp.sum(jnp.diagonal(S, axis1=0, axis2=1), axis=-1)
        return (jnp.sum(S, axis=(0, 1)) - diag) / (m * (m - 1))
    return jnp.mean(S, axis=(0, 1))


def interpretability_index(
    f: Real[ArrayLike, " n"],
    features: Any,
    pairwise: Callable[[Any, Any], jax.Array],
    m: int = 5,
    off_diagonal: bool = False,
) -> Float[Array, " *layers"]:
    """II of one direction.

    Args:
      f: [n] activations of the direction over the n images.
      features: per-image feature pytree (leading axis n) of the similarity.
      pairwise: (features_a, features_b) -> [a, b] similarities.
      m: exemplars (M = 5 in the paper).
      off_diagonal: average over j != k only (a monotone equivalent, METHODS.md §2).

    Returns:
      [] the index, or [L] one per layer when ``pairwise`` returns [a, b, L].
    """
    check_top_m(f, m, ranks=(1,))
    idx = top_exemplars(f, m)
    sub = take(features, idx)
    return _mean_similarity(pairwise(sub, sub), off_diagonal)


TIES = ("lowest_index", "numpy")


def top_exemplars_all(acts: Real[ArrayLike, " n k"], m: int, ties: str = "lowest_index"
                      ) -> Int[Array, " k m"]:
    """[n, k] activations -> [k, m] indices of each direction's top-M images, highest first.

    ``ties``: which of equally activating images make the top M at its boundary.
    ``"lowest_index"`` (``lax.top_k``, jitted): the lowest image indices. ``"numpy"``: the
    paper's code, ``np.argsort(f_u)[-M:]`` (numpy's default introsort on the host), so that
    the same images are chosen as there (post-ReLU activations tie at 0 often).
    """
    check_top_m(acts, m, ranks=(2,))
    return _top_exemplars_all(acts, m, ties)


def _top_exemplars_all(acts, m: int, ties: str) -> jax.Array:
    """:func:`top_exemplars_all` on activations already checked."""
    if ties not in TIES:
        raise ValueError(f"ties must be one of {', '.join(TIES)}, got {ties!r}")
    if ties == "numpy":
        # along axis 0 numpy sorts each column as np.argsort(acts[:, u]) would, so this is the same
        return jnp.asarray(np.argsort(np.asarray(acts), axis=0)[-m:][::-1].T, jnp.int32)
    return _top_k_all(jnp.asarray(acts), m)


@partial(jax.jit, static_argnames=("m",))
def _top_k_all(acts, m):
    return jax.lax.top_k(acts.T, m)[1]


@partial(jax.jit, static_argnames=("pairwise", "off_diagonal", "chunk"))
def _ii_all(idx, features, pairwise, off_diagonal, chunk):
    def one(index):
        sub = take(features, index)
        return _mean_similarity(pairwise(sub, sub), off_diagonal)

    return jax.lax.map(one, idx, batch_size=chunk)


def interpretability_index_all(
    acts: Real[ArrayLike, " n *k"],
    metric: Similarity | Callable,
    features: Any,
    m: int = 5,
    off_diagonal: bool = False,
    chunk: int = 256,
    ties: str = "lowest_index",
) -> Float[Array, " _k *layers"]:
    """II of every direction at once: [n, k] activations -> [k] indices.

    ``ties``: how equal activations at the top-M boundary are resolved, see
    :func:`top_exemplars_all` (``"numpy"`` reproduces the paper's code image for image).

    A similarity whose ``pairwise`` returns per-layer values [a, b, L] (LPIPS
    layers) gives [k, L]: the II of each direction under each layer (METHODS.md §2).

    ``metric`` is a :class:`~jaxinterp.similarity.Similarity` (its ``pairwise``
    is used) or a pairwise function; ``features`` are that metric's per-image
    features for the same n images.
    """
    check_top_m(acts, m)
    if acts.ndim == 1:
        acts = acts[:, None]
    pairwise = metric.pairwise if isinstance(metric, Similarity) else metric
    leaves = jax.tree_util.tree_leaves(features)
    if leaves and leaves[0].shape[0] != acts.shape[0]:
        raise ValueError(
            f"activations cover {acts.shape[0]} images but the similarity features cover "
            f"{leaves[0].shape[0]}; compute both on the same images"
        )
    idx = _top_exemplars_all(acts, m, ties)
    return _ii_all(idx, features, pairwise, off_diagonal, min(chunk, acts.shape[1]))


@partial(jax.jit, static_argnames=("m", "off_diagonal"))
def _ii_matrix(acts, sim, m, off_diagonal):
    idx = jax.lax.top_k(acts.T, m)[1]
    blocks = jax.vmap(lambda i: sim[i][:, i])(idx)  # [k, m, m]
    return jax.vmap(lambda S: _mean_similarity(S, off_diagonal))(blocks)


def interpretability_index_from_matrix(
    acts: Real[ArrayLike, " n *k"], sim: Float[ArrayLike, " _n _n *layers"], m: int = 5,
    off_diagonal: bool = False
) -> Float[Array, " _k *layers"]:
    """II of every direction from a precomputed similarity matrix.

    ``sim`` is [n, n] (-> [k]) or per layer [n, n, L] (-> [k, L]).
    """
    check_top_m(acts, m)
    if acts.ndim == 1:
        acts = acts[:, None]
    if sim.shape[:2] != (acts.shape[0], acts.shape[0]) or sim.ndim not in (2, 3):
        raise ValueError(
            f"similarity matrix must be [{acts.shape[0]}, {acts.shape[0]}] (or per layer "
            f"[{acts.shape[0]}, {acts.shape[0]}, L]) for {acts.shape[0]} images, got {sim.shape}"
        )
    check_finite(sim, "similarity matrix", cols="image")
    return _ii_matrix(jnp.asarray(acts), jnp.asarray(sim), m, off_diagonal)


@partial(jax.jit, static_argnames=("pairwise", "m", "chunk"))
def _cross_ii(idx_a, idx_b, features, pairwise, m, chunk):
    def one(ab):
        return jnp.mean(pairwise(take(features, ab[0]), take(features, ab[1])), axis=(0, 1))

    return jax.lax.map(one, jnp.stack([idx_a, idx_b], axis=1), batch_size=chunk)


def cross_interpretability_index(
    acts: Real[ArrayLike, " n *k"],
    metric: Similarity | Callable,
    features: Any,
    pairs: Int[ArrayLike, " p 2"],
    m: int = 5,
    chunk: int = 1024,
) -> Float[Array, " p *layers"]:
    """Cross-II of direction pairs (METHODS.md §4.2, Fig. 7A).

    cross-II(a, b) = (1 / M²) Σ_{j ∈ T_a, k ∈ T_b} s(x_j, x_k); cross-II(a, a) = II(a).

    Args:
      acts: [n, k] direction activations over n images.
      metric: a Similarity or a pairwise function; ``features`` its per-image features.
      pairs: [p, 2] integer direction indices (a, b).
      m: exemplars per direction.

    Returns:
      [p] cross-indices, or [p, L] for a per-layer similarity.
    """
    check_top_m(acts, m)
    if acts.ndim == 1:
        acts = acts[:, None]
    pairs = jnp.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must be [p, 2] direction indices, got shape {pairs.shape}")
    if pairs.shape[0] and (int(pairs.min()) < 0 or int(pairs.max()) >= acts.shape[1]):
        raise ValueError(
            f"pairs index directions 0..{acts.shape[1] - 1}, got values in "
            f"[{int(pairs.min())}, {int(pairs.max())}]"
        )
    pairwise = metric.pairwise if isinstance(metric, Similarity) else metric
    idx = jax.lax.top_k(jnp.asarray(acts).T, m)[1]  # [k, m]
    return _cross_ii(idx[pairs[:, 0]], idx[pairs[:, 1]], features, pairwise, m,
                     max(1, min(chunk, pairs.shape[0])))
