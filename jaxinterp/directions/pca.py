"""PCA: eigendecomposition of the covariance, one product over the (sharded) samples.

A host numpy array on a single CPU device takes the host route: the scatter
XᵀX is one BLAS ``syrk`` on the array where it lies (half the work of a GEMM,
and no copy into a JAX buffer, which alone cost 0.065 s for 50,000 x 256),
then LAPACK's ``syevd``: as scikit-learn's covariance solver does. JAX arrays,
traced values and several devices take the pure-JAX route (sharded GEMM, the
same formulas).

Each component's sign is flipped so that its score distribution has positive
skew (METHODS.md §1.4 [D]), so "top-activating" exemplars are the heavy tail.

Example::

    state = pca.fit(key, unit_rows(acts), k=256)   # PCAState(components [k, d], ...)
    scores = pca.transform(state, unit_rows(acts))  # [n, k]
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from jaxinterp.directions._checks import check_acts, check_k
from jaxinterp.parallel.samples import shard_samples


class PCAState(NamedTuple):
    """components [k, d] (orthonormal rows); explained_variance [k] (descending, ddof=1);
    mean [d]."""

    components: jax.Array
    explained_variance: jax.Array
    mean: jax.Array


def weighted_moments(x, w):
    """x [n, d], w [n] (0/1) -> (mean [d], centred scatter matrix [d, d], n_true []).

    Scatter = XᵀX − n·μμᵀ over the rows of weight 1 (as scikit-learn's
    covariance solver does): one GEMM, no centred copy of the data.
    """
    n = jnp.sum(w)
    xw = jnp.where((w > 0)[:, None], x, 0.0)
    mean = jnp.sum(xw, axis=0) / n
    return mean, xw.T @ xw - n * jnp.outer(mean, mean), n


SIGN_SAMPLES = 2048  # rows for the skew-sign convention: a third-moment sign needs few


def positive_skew_signs(scores, w):
    """scores [n, k], w [n] -> signs [k] in {-1, 1} making each score's third central moment >= 0."""
    n = jnp.sum(w)
    centred = scores - ((w @ scores) / n)[None, :]
    third = w @ centred**3
    return jnp.where(third < 0, -1.0, 1.0).astype(scores.dtype)


def symmetric_eigh(matrix: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Eigenvalues (ascending) and eigenvectors of a symmetric [d, d] matrix.

    On CPU, XLA's eigh is an iterative Jacobi solver that takes seconds for
    d = 256, where LAPACK's divide-and-conquer (``syevd``) takes milliseconds:
    the small [d, d] problem goes to LAPACK through a callback there.
    Accelerators use their own (fast) eigh.
    """
    if jax.default_backend() != "cpu":
        return jnp.linalg.eigh(matrix)
    import scipy.linalg

    def host(m):
        evals, evecs = scipy.linalg.eigh(np.asarray(m, np.float64), driver="evd")
        return evals.astype(m.dtype), evecs.astype(m.dtype)

    shapes = (jax.ShapeDtypeStruct(matrix.shape[:1], matrix.dtype),
              jax.ShapeDtypeStruct(matrix.shape, matrix.dtype))
    return jax.pure_callback(host, shapes, matrix)


@jax.jit
def _fit(x, w, k_index):
    mean, scatter, n = weighted_moments(x, w)
    evals, evecs = symmetric_eigh(scatter / (n - 1.0))
    order = jnp.argsort(-evals)[: k_index.shape[0]]
    comps, var = evecs[:, order].T, jnp.maximum(evals[order], 0.0)
    # the skew sign is a convention: estimate it on evenly spaced rows (all if n is small)
    step = max(1, x.shape[0] // SIGN_SAMPLES)
    signs = positive_skew_signs((x[::step] - mean[None, :]) @ comps.T, w[::step])
    return PCAState(comps * signs[:, None], var, mean)


def _host_route(acts) -> bool:
    """A host numpy array on one CPU device: compute where the data lies (see the module doc)."""
    return (isinstance(acts, np.ndarray) and jax.default_backend() == "cpu"
            and jax.local_device_count() == 1)


def _fit_host(acts: np.ndarray, k: int) -> PCAState:
    """The host route: mean, syrk scatter, LAPACK eigh, skew signs on the same rows as ``_fit``.

    numpy only: its ``x.T @ x`` is a BLAS ``syrk`` (numpy spots the transposed
    self-product) and its ``eigh`` is LAPACK ``syevd``. Mixing in scipy's own
    OpenBLAS made both libraries' spinning threads fight over the cores (several
    times slower on 2 cores).
    """
    x = np.asarray(acts, np.float32)
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    n = x.shape[0]
    mean = x.mean(axis=0, dtype=np.float32)
    if not np.isfinite(mean).all():  # NaN/inf propagate into the mean: name them (or an overflow)
        check_acts(acts)
    scatter = x.T @ x
    cov = (scatter - n * np.outer(mean, mean)) / (n - 1.0)
    evals, evecs = np.linalg.eigh(cov.astype(np.float64))
    order = np.argsort(-evals, kind="stable")[:k]
    comps = evecs[:, order].T.astype(np.float32)
    var = np.maximum(evals[order], 0.0).astype(np.float32)
    step = max(1, n // SIGN_SAMPLES)
    scores = (x[::step] - mean) @ comps.T
    centred = scores - scores.mean(axis=0, dtype=np.float32)
    third = np.sum(centred * centred * centred, axis=0, dtype=np.float64)  # ** 3 is a slow pow()
    signs = np.where(third < 0, -1.0, 1.0).astype(np.float32)
    return PCAState(jnp.asarray(comps * signs[:, None]), jnp.asarray(var), jnp.asarray(mean))


def fit(key: jax.Array | None, acts: Float[ArrayLike, " n d"], k: int) -> PCAState:
    """Fit the top ``k`` principal components of ``acts`` [n, d] (n >= 2, k <= d).

    ``key`` is unused (PCA is deterministic; kept for the uniform ``fit(key, acts, k)``).
    """
    del key
    host = _host_route(acts)
    check_acts(acts, finite=not host)  # the host route checks finiteness through its mean
    n, d = acts.shape
    check_k(k, n, d)
    if n < 2:
        raise ValueError(f"PCA needs at least 2 samples to estimate a covariance, got {n}")
    if host:
        return _fit_host(acts, k)
    x, w = shard_samples(acts)
    return _fit(x, w, jnp.zeros(k))


def transform(state: PCAState, acts: Float[ArrayLike, " n d"]) -> Float[Array, " n k"]:
    """[n, d] -> [n, k] component scores (centred projections)."""
    return (jnp.asarray(acts) - state.mean[None, :]) @ state.components.T


class PCA:
    """scikit-learn-style wrapper: ``PCA(64).fit(A).components_``."""

    def __init__(self, n_components: int, *, random_state: int = 0):
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X, y=None) -> "PCA":
        self.state_ = fit(None, X, self.n_components)
        self.components_ = np.asarray(self.state_.components)
        self.explained_variance_ = np.asarray(self.state_.explained_variance)
        self.mean_ = np.asarray(self.state_.mean)
        return self

    def transform(self, X) -> np.ndarray:
        return np.asarray(transform(self.state_, jnp.asarray(X, jnp.float32)))
