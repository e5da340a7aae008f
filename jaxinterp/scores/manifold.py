"""Sparse manifold (METHODS.md §4.1, seed §3.4 Eq. 4, Fig. 6).

- Image set: the union of every direction set's top-M exemplars (deduplicated).
- Embedding: t-SNE of their all-pairs distances (metric="precomputed", perplexity 10,
  random init).
- Colourings (Eq. 4), on unit-norm activations â::

      d_i(x)  = ‖â(x) - μ_i‖²          (μ_i a centroid, or the one-hot e_i for neuron i)
      d'_i(x) = (d_i(x) - mean d_i) / std d_i        over the embedded images
      f_i(x)  = exp(-d'_i(x) / τ),  τ = 2

- Manifold sparsity of a direction: mean pairwise 2-D distance among its top-M
  exemplars (j != k), compared with II by Pearson r.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from jaxinterp.scores._checks import check_finite, check_top_m


def embedding_set(*acts, m: int = 5) -> np.ndarray:
    """Sorted unique image indices of the top-``m`` exemplars of every direction of each
    [n, k] activation matrix."""
    for a in acts:
        check_top_m(a, m, ranks=(2,), name="activations")
    tops = [np.asarray(jax.lax.top_k(jnp.asarray(a).T, m)[1]).ravel() for a in acts]
    return np.unique(np.concatenate(tops))


def distances_from_similarity(sim) -> np.ndarray:
    """A similarity matrix of a metric with s = -distance -> [n, n] distances (zero diagonal,
    symmetrised, clipped at 0) for :func:`tsne`."""
    check_finite(sim, "similarity matrix", cols="image")
    d = -np.asarray(sim, np.float64)
    d = np.maximum((d + d.T) / 2, 0.0)
    np.fill_diagonal(d, 0.0)
    return d


def tsne(dist, perplexity: float = 10.0, seed: int = 0, max_iter: int = 1000) -> np.ndarray:
    """[n, n] distances -> [n, 2] t-SNE embedding (scikit-learn, precomputed, random init)."""
    from sklearn.manifold import TSNE

    dist = np.asarray(dist, np.float64)
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1]:
        raise ValueError(f"t-SNE needs a square [n, n] distance matrix, got shape {dist.shape}; "
                         "build it with distances_from_similarity(sim)")
    check_finite(dist, "distance matrix", cols="image")
    if dist.shape[0] <= perplexity:
        raise ValueError(f"perplexity {perplexity} needs more than {perplexity} images, got "
                         f"{dist.shape[0]}; embed more images or lower the perplexity")
    return TSNE(2, perplexity=perplexity, metric="precomputed", init="random", random_state=seed,
                max_iter=max_iter).fit_transform(dist)


def manifold_activations(unit_acts: Float[ArrayLike, " n d"], centroids: Float[ArrayLike, " k d"],
                         tau=2.0) -> Float[Array, " n k"]:
    """Eq. 4: unit-norm activations [n, d] of the embedded images, centroids [k, d] -> [n, k]."""
    check_finite(unit_acts, "activations", cols="dimension")
    check_finite(centroids, "centroids", rows="centroid", cols="dimension")
    return _manifold_activations(unit_acts, centroids, tau)


@jax.jit
def _manifold_activations(unit_acts, centroids, tau):
    d = (jnp.sum(unit_acts**2, axis=1, keepdims=True) - 2 * unit_acts @ centroids.T
         + jnp.sum(centroids**2, axis=1)[None])
    std = jnp.std(d, axis=0, keepdims=True)
    dz = (d - jnp.mean(d, axis=0, keepdims=True)) / jnp.where(std > 0, std, 1.0)
    return jnp.exp(-dz / tau)


def top_positions(acts, images, m: int = 5) -> np.ndarray:
    """Rows of each direction's top-``m`` exemplars within the embedded image set.

    acts [n, k] over the full dataset; images [e] dataset indices of the embedding -> [k, m].
    """
    check_finite(acts, "activations")
    top = np.asarray(jax.lax.top_k(jnp.asarray(acts).T, m)[1])
    images = np.asarray(images)
    where = np.full(max(int(images.max()), int(top.max())) + 1, -1)
    where[images] = np.arange(images.size)
    pos = where[top]
    if (pos < 0).any():
        raise ValueError("some top exemplars are not in the embedded image set; build it with "
                         "embedding_set(...) over these activations")
    return pos


def manifold_sparsity(embedding, top):
    """Mean pairwise 2-D distance among each direction's exemplars: embedding [e, 2],
    top [k, m] rows -> [k]."""
    check_finite(embedding, "embedding", cols="coordinate")
    return _manifold_sparsity(embedding, top)


@jax.jit
def _manifold_sparsity(embedding, top):
    pts = embedding[top]  # [k, m, 2]
    dist = jnp.sqrt(jnp.sum((pts[:, :, None] - pts[:, None]) ** 2, axis=-1))
    m = top.shape[1]
    return jnp.sum(dist, axis=(1, 2)) / (m * (m - 1))
