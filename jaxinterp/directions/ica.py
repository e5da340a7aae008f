"""FastICA in pure JAX: PCA whitening, logcosh contrast, parallel (symmetric) decorrelation.

Follows scikit-learn's ``FastICA(whiten="unit-variance", fun="logcosh",
algorithm="parallel")``: the fixed-point update
``W <- E[g(W x) x^T] - diag(E[g'(W x)]) W`` followed by ``W <- (W W^T)^{-1/2} W``,
until ``max |diag(W_new W^T)| - 1| < tol``. The whole loop is one
``lax.while_loop``; the two expectations are GEMMs over the (sharded) samples.
Components are sign-flipped so each source has positive skew (METHODS §1.4 [D]).

Example::

    state = ica.fit(key, unit_rows(acts), k=64)   # ICAState(components [k, d], mean [d], ...)
    sources = ica.transform(state, unit_rows(acts))  # [n, k], unit variance
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from jaxinterp.directions._checks import check_acts, check_k
from jaxinterp.directions.pca import positive_skew_signs, symmetric_eigh, weighted_moments
from jaxinterp.parallel.samples import shard_samples


class ICAState(NamedTuple):
    """components [k, d] unmixing rows (sources = (x - mean) @ components.T);
    mixing [d, k] (x ≈ sources @ mixing.T + mean); mean [d]; n_iter []; converged []."""

    components: jax.Array
    mixing: jax.Array
    mean: jax.Array
    n_iter: jax.Array
    converged: jax.Array


def sym_decorrelation(w: jax.Array) -> jax.Array:
    """[k, k] -> (W Wᵀ)^{-1/2} W, the nearest matrix with orthonormal rows."""
    s, u = jnp.linalg.eigh(w @ w.T)
    s = jnp.clip(s, jnp.finfo(w.dtype).tiny, None)
    return (u * (1.0 / jnp.sqrt(s))[None, :]) @ u.T @ w


def _whiten(x, w, k):
    mean, scatter, n = weighted_moments(x, w)
    evals, evecs = symmetric_eigh(scatter / (n - 1.0))  # LAPACK on CPU (see pca)
    order = jnp.argsort(-evals)[:k]
    evals, evecs = jnp.maximum(evals[order], 1e-12), evecs[:, order]
    whitening = evecs.T / jnp.sqrt(evals)[:, None]  # [k, d]: unit-variance projections
    return mean, whitening, evecs * jnp.sqrt(evals)[None, :]


@partial(jax.jit, static_argnames=("k", "max_iter"))
def _fit(x, w, w_init, k: int, max_iter: int, tol, alpha):
    n = jnp.sum(w)
    mean, whitening, dewhitening = _whiten(x, w, k)
    z = (x - mean[None, :]) @ whitening.T * w[:, None]  # [n, k], padded rows stay 0

    def body(carry):
        W, _, it = carry
        wz = z @ W.T  # [n, k]
        g = jnp.tanh(alpha * wz)
        g_prime = alpha * (1.0 - g**2) * w[:, None]
        W1 = sym_decorrelation((g.T @ z) / n - (jnp.sum(g_prime, 0) / n)[:, None] * W)
        lim = jnp.max(jnp.abs(jnp.abs(jnp.sum(W1 * W, axis=1)) - 1.0))
        return W1, lim, it + 1

    def cond(carry):
        _, lim, it = carry
        return (it < max_iter) & (lim >= tol)

    W0 = sym_decorrelation(w_init)
    init = (W0, jnp.asarray(jnp.inf, x.dtype), jnp.asarray(0, jnp.int32))
    W, lim, n_iter = jax.lax.while_loop(cond, body, init)
    unmixing = W @ whitening  # [k, d]
    signs = positive_skew_signs((x - mean[None, :]) @ unmixing.T, w)
    mixing = dewhitening @ W.T  # [d, k], the pseudo-inverse of unmixing on the whitened span
    return ICAState(unmixing * signs[:, None], mixing * signs[None, :], mean, n_iter, lim < tol)


def fit(
    key: jax.Array | None,
    acts: Float[ArrayLike, " n d"],
    k: int,
    *,
    max_iter: int = 200,
    tol: float = 1e-4,
    alpha: float = 1.0,
    w_init: jax.Array | None = None,
) -> ICAState:
    """Fit ``k`` independent components to ``acts`` [n, d] (k <= d).

    Args:
      key: PRNG key for the initial unmixing matrix (standard normal [k, k], as scikit-learn).
      acts: [n, d] finite float array, n >= 2.
      k: number of components.
      max_iter, tol: scikit-learn's defaults and stopping rule.
      alpha: logcosh parameter (g(u) = tanh(alpha u)).
      w_init: optional [k, k] initial unmixing matrix in the whitened space.

    Returns:
      ICAState; ``converged`` is False if ``max_iter`` was reached first.
    """
    check_acts(acts)
    n, d = acts.shape
    check_k(k, n, d)
    if n < 2:
        raise ValueError(f"FastICA needs at least 2 samples, got {n}")
    if w_init is None:
        w_init = jax.random.normal(key, (k, k), jnp.float32)
    elif np.shape(w_init) != (k, k):
        raise ValueError(f"w_init must have shape ({k}, {k}), got {np.shape(w_init)}")
    x, w = shard_samples(acts)
    return _fit(x, w, jnp.asarray(w_init, jnp.float32), k, max_iter, tol, alpha)


def transform(state: ICAState, acts: Float[ArrayLike, " n d"]) -> Float[Array, " n k"]:
    """[n, d] -> [n, k] source estimates."""
    return (jnp.asarray(acts) - state.mean[None, :]) @ state.components.T


class FastICA:
    """scikit-learn-style wrapper: ``FastICA(64).fit(A).components_``."""

    def __init__(self, n_components: int, *, max_iter: int = 200, tol: float = 1e-4,
                 random_state: int = 0):
        self.n_components = n_components
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def fit(self, X, y=None) -> "FastICA":
        self.state_ = fit(jax.random.key(self.random_state), X, self.n_components,
                          max_iter=self.max_iter, tol=self.tol)
        self.components_ = np.asarray(self.state_.components)
        self.mixing_ = np.asarray(self.state_.mixing)
        self.mean_ = np.asarray(self.state_.mean)
        self.n_iter_ = int(self.state_.n_iter)
        return self

    def transform(self, X) -> np.ndarray:
        return np.asarray(transform(self.state_, jnp.asarray(X, jnp.float32)))
