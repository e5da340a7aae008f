"""Centred kernel alignment (Kornblith et al. 2019) of two representations of the same images.

    CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))

with K, L the [n, n] Gram matrices of the two representations over n images.
The unbiased HSIC estimator (Song et al. 2012) is the default: with K̃, L̃ the
Gram matrices with their diagonals set to zero,

    HSIC_u = [tr(K̃L̃) + 1ᵀK̃1 · 1ᵀL̃1 / ((n-1)(n-2)) - 2/(n-2) · 1ᵀK̃L̃1] / (n(n-3)),

which needs n >= 4; the biased one is tr(KHLH)/(n-1)² (H centres). Kernels:
linear (K = XXᵀ) and RBF (K = exp(-‖x_i - x_j‖² / (2 τ² median‖x_i - x_j‖²)),
τ = ``threshold``, Kornblith's convention). Linear CKA is computed in feature
space, from XᵀY and row norms, without forming any [n, n] matrix.

The all-pairs, streamed forms (every layer of one model against every layer of
another, over any number of images) are in :mod:`jaxinterp.universality.cka_pairs`.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jaxinterp.universality._checks import check_pair


def unbiased_hsic_terms(fro2, ab, ka, lb, kl1, n):
    """Unbiased HSIC from its five sums (any broadcastable shapes; works for all pairs at once).

    fro2 = Σ_{i,j} K_ij L_ij, ab = Σ_i K_ii L_ii (so tr(K̃L̃) = fro2 - ab),
    ka = 1ᵀK̃1, lb = 1ᵀL̃1, kl1 = 1ᵀK̃L̃1; n images.
    """
    return (fro2 - ab + ka * lb / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * kl1) / (n * (n - 3))


def normalise_hsic(cross, self_x, self_y):
    """CKA = cross / sqrt(self_x self_y); a constant representation (HSIC 0) gives 0, not NaN."""
    denom = jnp.sqrt(jnp.clip(self_x, 0.0) * jnp.clip(self_y, 0.0))
    return jnp.where(denom > 0, cross / jnp.where(denom > 0, denom, 1.0), 0.0)


def hsic(K: jax.Array, L: jax.Array, unbiased: bool = True) -> jax.Array:
    """HSIC of two [n, n] Gram matrices -> []."""
    n = K.shape[0]
    if unbiased:
        off = 1.0 - jnp.eye(n, dtype=K.dtype)
        Kt, Lt = K * off, L * off
        rk, rl = Kt.sum(1), Lt.sum(1)
        return unbiased_hsic_terms(jnp.sum(Kt * Lt), 0.0, rk.sum(), rl.sum(), rk @ rl, n)
    Kc = K - K.mean(0, keepdims=True) - K.mean(1, keepdims=True) + K.mean()
    return jnp.sum(Kc * L) / (n - 1) ** 2


def cka_from_grams(K: jax.Array, L: jax.Array, unbiased: bool = True) -> jax.Array:
    """CKA of two [n, n] Gram matrices (any kernel) -> []."""
    return normalise_hsic(hsic(K, L, unbiased), hsic(K, K, unbiased), hsic(L, L, unbiased))


def gram_linear(x: jax.Array) -> jax.Array:
    """[n, d] -> [n, n] inner products."""
    return x @ x.T


def squared_distances(x: jax.Array, y: jax.Array | None = None) -> jax.Array:
    """[n, d], [m, d] -> [n, m] squared Euclidean distances (clipped at 0)."""
    y = x if y is None else y
    d2 = jnp.sum(x * x, 1)[:, None] + jnp.sum(y * y, 1)[None, :] - 2.0 * x @ y.T
    return jnp.maximum(d2, 0.0)


def rbf_scale(x: jax.Array, threshold: float = 1.0) -> jax.Array:
    """2 τ² · median of all [n, n] squared distances (diagonal included, as Kornblith's code) -> []."""
    return 2.0 * threshold**2 * jnp.median(squared_distances(x))


def gram_rbf(x: jax.Array, threshold: float = 1.0, scale: jax.Array | None = None) -> jax.Array:
    """[n, d] -> [n, n] RBF kernel, bandwidth from the median distance unless ``scale`` is given."""
    d2 = squared_distances(x)
    scale = rbf_scale(x, threshold) if scale is None else scale
    return jnp.exp(-d2 / jnp.where(scale > 0, scale, 1.0))


@partial(jax.jit, static_argnames=("unbiased",))
def _linear_cka(x, y, unbiased):
    n = x.shape[0]
    x = x - x.mean(0, keepdims=True)
    y = y - y.mean(0, keepdims=True)
    xy, xx, yy = x.T @ y, x.T @ x, y.T @ y
    if not unbiased:
        return normalise_hsic(jnp.sum(xy**2), jnp.sum(xx**2), jnp.sum(yy**2))
    a, b = jnp.sum(x * x, 1), jnp.sum(y * y, 1)  # diagonals of K, L
    # centred features: 1ᵀK̃1 = -Σa and 1ᵀK̃L̃1 = Σ a·b (the row sums of K vanish)
    def h(f2, p, q):
        return unbiased_hsic_terms(f2, p @ q, -p.sum(), -q.sum(), p @ q, n)

    return normalise_hsic(h(jnp.sum(xy**2), a, b), h(jnp.sum(xx**2), a, a), h(jnp.sum(yy**2), b, b))


def linear_cka(x: jax.Array, y: jax.Array, unbiased: bool = True) -> jax.Array:
    """Linear CKA of [n, dx] and [n, dy] representations of the same n images -> [].

    Feature space (XᵀY, XᵀX, YᵀY of the centred features): O(n d²), no [n, n] matrix.
    """
    check_pair(x, y, min_images=4 if unbiased else 2)
    return _linear_cka(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), unbiased)


@partial(jax.jit, static_argnames=("unbiased",))
def _rbf_cka(x, y, threshold, unbiased):
    return cka_from_grams(gram_rbf(x, threshold), gram_rbf(y, threshold), unbiased)


def rbf_cka(x: jax.Array, y: jax.Array, threshold: float = 1.0, unbiased: bool = True) -> jax.Array:
    """RBF CKA of [n, dx] and [n, dy] representations -> []; forms both [n, n] Gram matrices.

    ``threshold`` τ: the bandwidth is τ · the median pairwise distance of each representation.
    For many images use :func:`jaxinterp.universality.cka_all_pairs` (kernel="rbf"), which streams.
    """
    check_pair(x, y, min_images=4 if unbiased else 2)
    return _rbf_cka(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), threshold, unbiased)
