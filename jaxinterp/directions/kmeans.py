"""K-means in pure JAX: full-batch Lloyd with k-means++ or identity init, and restarts.

Initialisation: ``init="k-means++"`` (:data:`DEFAULT_INIT`) everywhere in
jaxinterp (this fit, mini-batch K-means, ``fit_by_name``, the demo):
it works for every K, so the K ∈ {N/2, N, 2N} fits of the paper differ only in
K, and it does not start the directions on the neurons they are compared with.
``init="identity"`` (K = N: centroids start on the neuron axes, one restart) is
the September-2023 code's choice for K = N; pass it to reproduce that.

The paper fits K-means on unit-norm activation rows (METHODS.md §1.4); use
:func:`unit_rows` first for that. ``spherical=True`` additionally keeps the
centroids on the unit sphere and assigns by cosine (spherical K-means).

Example::

    state = kmeans.fit(key, unit_rows(acts), k=256)   # KMeansState(centroids [k, d], ...)
    f = kmeans.transform(state, unit_rows(acts))      # [n, k] projections
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from jaxinterp.directions._checks import check_acts, check_choice, check_k
from jaxinterp.directions._kmeans_bounds import lloyd_bounded
from jaxinterp.directions.kmeans_core import (
    KMeansState,
    centroid_update,
    fixed_init,
    zero_padding,
)
from jaxinterp.parallel.samples import shard_samples

DEFAULT_INIT = "k-means++"
INITS = ("k-means++", "identity")  # or a [k, d] array of initial centroids


def unit_rows(acts: Float[ArrayLike, " *n d"], eps: float = 1e-6) -> Float[Array, " *n d"]:
    """[n, d] -> rows divided by max(‖row‖, eps) (the paper's Â)."""
    norms = jnp.linalg.norm(acts, axis=-1, keepdims=True)
    return acts / jnp.maximum(norms, eps)


def _scores(x, x_sq, centroids, spherical):
    """Per-sample cost to each centroid [n, k]: squared distance, or 1 - cos if spherical."""
    cross = x @ centroids.T
    if spherical:
        return 1.0 - cross
    c_sq = jnp.sum(centroids**2, axis=-1)
    return jnp.maximum(x_sq[:, None] - 2.0 * cross + c_sq[None, :], 0.0)


def _assign(x, x_sq, centroids, spherical):
    cost = _scores(x, x_sq, centroids, spherical)
    labels = jnp.argmin(cost, axis=-1)
    return labels, jnp.take_along_axis(cost, labels[:, None], axis=-1)[:, 0]


def assign(x, centroids, spherical: bool = False, unroll: int = 8):
    """Nearest centroid of each sample: [n, d], [k, d] -> (labels [n] int32, cost [n]).

    One GEMM gives the [k, n] cross products; the argmin then runs as a loop over
    the k centroid rows, each step an elementwise compare-and-select across all
    samples. On CPU, XLA's ``argmin`` along the last axis is a scalar variadic
    reduce (about 24 ms for 50,000 x 256) where this loop vectorises (about 3 ms),
    so an assignment costs little more than its GEMM. Ties keep the first
    centroid, as ``argmin`` does.
    """
    cross = centroids @ x.T  # [k, n]
    if spherical:
        half = jnp.zeros(centroids.shape[0], x.dtype)
    else:
        half = 0.5 * jnp.sum(centroids**2, axis=-1)

    def body(i, carry):
        best, label = carry
        row = half[i] - jax.lax.dynamic_index_in_dim(cross, i, 0, keepdims=False)
        better = row < best
        return jnp.where(better, row, best), jnp.where(better, i, label)

    init = (half[0] - cross[0], jnp.zeros(x.shape[0], jnp.int32))
    best, labels = jax.lax.fori_loop(1, centroids.shape[0], body, init, unroll=unroll)
    if spherical:
        cost = 1.0 + best
    else:
        cost = jnp.maximum(jnp.sum(x**2, axis=-1) + 2.0 * best, 0.0)
    return labels, cost


CACHE_BYTES = 2**21  # a [k, chunk] block of cross products this size stays in a CPU core's L2


def chunk_rows(n: int, k: int) -> int:
    """Rows per chunk of :func:`assign_chunked` for n samples and k centroids on CPU: about
    ``CACHE_BYTES`` of cross products per chunk (512 to 8,192 rows), sized so that the
    chunks tile ``n`` with at most 7 padding rows each (50,000 with k=256: 25 chunks of 2,000)."""
    target = max(512, min(8192, CACHE_BYTES // (4 * k)))
    count = -(-n // target)
    return -(-(-(-n // count)) // 8) * 8


def assign_chunked(x, centroids, spherical: bool = False, chunk: int = 2048):
    """:func:`assign` ``chunk`` rows at a time: [n, d] (n a multiple of chunk) -> (labels, cost).

    The same labels and costs; on CPU about 1.5x faster at 50,000 x 256 with k=256, because
    each chunk's [k, chunk] cross products stay in cache between the GEMM that writes them
    and the argmin loop that reads them (the whole [k, n] block is 51 MB, past the L3).
    """
    n, d = x.shape
    labels, cost = jax.lax.map(lambda xc: assign(xc, centroids, spherical), x.reshape(n // chunk, chunk, d))
    return labels.reshape(n), cost.reshape(n)


def _pad_rows(x, w, multiple: int):
    """Zero rows of weight 0 up to a multiple of ``multiple`` rows (they carry no mass)."""
    pad = -x.shape[0] % multiple
    if pad == 0:
        return x, w
    return jnp.pad(x, ((0, pad), (0, 0))), jnp.pad(w, (0, pad))


@partial(jax.jit, static_argnames=("n",))
def _mean_variance(x, w, n: int) -> jax.Array:
    """Mean over features of the variance of the n real rows (weight 1) of x [n_pad, d]."""
    mean = w @ x / n
    return jnp.mean(w @ (x - mean[None, :]) ** 2 / n)


def kmeans_plus_plus(key: jax.Array, x: jax.Array, k: int, n_local_trials: int | None = None) -> jax.Array:
    """Greedy k-means++ seeding (as scikit-learn): [n, d] -> [k, d] initial centroids."""
    n = x.shape[0]
    trials = n_local_trials or 2 + int(math.log(k))
    x_sq = jnp.sum(x**2, axis=-1)

    def sq_dist(points):  # [t, d] -> [t, n]
        return jnp.maximum(
            jnp.sum(points**2, -1)[:, None] - 2.0 * points @ x.T + x_sq[None, :], 0.0
        )

    key, first_key = jax.random.split(key)
    first = jax.random.randint(first_key, (), 0, n)
    centroids = jnp.zeros((k, x.shape[1]), x.dtype).at[0].set(x[first])
    closest = sq_dist(x[first][None])[0]

    def body(i, carry):
        centroids, closest, key = carry
        key, sub = jax.random.split(key)
        total = jnp.sum(closest)
        probs = jnp.where(total > 0, closest / jnp.maximum(total, 1e-30), 1.0 / n)
        cand = jax.random.choice(sub, n, (trials,), p=probs)
        cand_closest = jnp.minimum(closest[None, :], sq_dist(x[cand]))
        best = jnp.argmin(jnp.sum(cand_closest, axis=-1))
        return centroids.at[i].set(x[cand[best]]), cand_closest[best], key

    centroids, _, _ = jax.lax.fori_loop(1, k, body, (centroids, closest, key))
    return centroids


@partial(jax.jit, static_argnames=("max_iter", "spherical", "chunk"))
def _lloyd(x, w, centroids, tol, max_iter: int, spherical: bool, chunk: int = 0):
    """Lloyd iterations; ``chunk`` > 0 (CPU, one device; x.shape[0] a multiple of it): assign
    chunk by chunk (:func:`assign_chunked`), 0: in one pass."""
    x = zero_padding(x, w)
    if chunk:
        nearest = partial(assign_chunked, spherical=spherical, chunk=chunk)
    else:
        nearest = partial(assign, spherical=spherical)

    def cond(carry):
        _, shift, it = carry
        return (it < max_iter) & (shift > tol)

    def body(carry):
        c, _, it = carry
        labels, cost = nearest(x, c)
        new = centroid_update(x, w, labels, cost, c, spherical)[0]
        return new, jnp.sum((new - c) ** 2), it + 1

    init = (centroids, jnp.asarray(jnp.inf, x.dtype), jnp.asarray(0, jnp.int32))
    centroids, _, n_iter = jax.lax.while_loop(cond, body, init)
    _, cost = nearest(x, centroids)
    return KMeansState(centroids, jnp.sum(w * cost), n_iter)


_seed = jax.jit(kmeans_plus_plus, static_argnames=("k", "n_local_trials"))


def fit(
    key: jax.Array | None,
    acts: Float[ArrayLike, " n d"],
    k: int,
    *,
    init: str | Float[ArrayLike, " k d"] = DEFAULT_INIT,
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    spherical: bool = False,
    algorithm: str = "auto",
) -> KMeansState:
    """Fit K-means to ``acts`` [n, d] and return the best of ``n_init`` restarts.

    Args:
      key: PRNG key (seeding and restarts).
      acts: [n, d] float array, finite.
      k: number of centroids, 1 <= k <= n.
      init: ``"k-means++"`` (the default, :data:`DEFAULT_INIT`), ``"identity"`` (k == d:
        centroids start on the neuron axes, one restart, as the September-2023 code does
        when K equals the number of neurons), or a [k, d] array of initial centroids.
      n_init: restarts (ignored for a deterministic init).
      max_iter, tol: stop after ``max_iter`` iterations or when the total squared
        centroid shift falls to ``tol`` times the mean feature variance (scikit-learn's rule).
      spherical: cosine assignment with unit-norm centroids.
      algorithm: ``"lloyd"`` (every distance, every iteration; ``"auto"`` picks it) or
        ``"bounded"`` (the same iterations, skipping samples whose Hamerly bounds prove
        their label cannot change; euclidean only). Bounds pay off on well-clustered,
        low-dimensional data; on 256-d ReLU activations with K=256 nearly every sample
        needed its distances every iteration, so ``"lloyd"`` is the default.

    Returns:
      KMeansState(centroids [k, d], inertia [], n_iter []).
    """
    check_acts(acts)
    check_choice(algorithm, {"auto", "lloyd", "bounded"}, "algorithm")
    n, d = acts.shape
    check_k(k, n)
    if spherical and algorithm == "bounded":
        raise ValueError("algorithm='bounded' is euclidean; use algorithm='lloyd' with spherical=True")
    bounded = algorithm == "bounded"
    x, w = shard_samples(acts)
    chunk = 0
    if not bounded and jax.default_backend() == "cpu" and len(x.devices()) == 1:
        chunk = chunk_rows(n, k)  # cache-sized chunks (an accelerator, or a sharded x, takes all at once)
        x, w = _pad_rows(x, w, chunk)
    # tol = 0 (a fixed number of iterations) needs no variance pass over the data
    abs_tol = float(tol) * float(_mean_variance(x, w, n)) if tol else 0.0
    if isinstance(init, str) and init == "k-means++":
        keys = jax.random.split(key, n_init)
        x_seed = jnp.asarray(acts, jnp.float32)
        inits = [_seed(kk, x_seed, k) for kk in keys]
    else:
        inits = [fixed_init(init, k, d)]
    if spherical:
        inits = [unit_rows(c, 1e-12) for c in inits]
    best = None
    for c0 in inits:  # restarts: a handful, each a full jitted fit
        if bounded:
            state = lloyd_bounded(x, w, c0, abs_tol, max_iter)
        else:
            state = _lloyd(x, w, c0, abs_tol, max_iter, spherical, chunk)
        if best is None or float(state.inertia) < float(best.inertia):
            best = state
    return best


def transform(state: KMeansState, acts: Float[ArrayLike, " n d"], mode: str = "projection"
              ) -> Float[Array, " n k"]:
    """[n, d] -> [n, k] direction activations.

    ``"projection"``: acts · centroidᵀ (the refactored code's default);
    ``"distance"``: -‖acts - centroid‖ (the September code). On unit-norm rows both
    give the same top-M ranking per centroid.
    """
    if mode == "projection":
        return acts @ state.centroids.T
    if mode == "distance":
        x_sq = jnp.sum(acts**2, axis=-1)
        return -jnp.sqrt(_scores(acts, x_sq, state.centroids, spherical=False))
    raise ValueError(f"mode must be 'projection' or 'distance', got {mode!r}")


class KMeans:
    """scikit-learn-style wrapper: ``KMeans(256).fit(A).cluster_centers_``."""

    def __init__(self, n_clusters: int, *, init=DEFAULT_INIT, n_init: int = 1, max_iter: int = 300,
                 tol: float = 1e-4, spherical: bool = False, algorithm: str = "auto",
                 random_state: int = 0):
        self.algorithm = algorithm
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.spherical = spherical
        self.random_state = random_state

    def fit(self, X, y=None) -> "KMeans":
        self.state_ = fit(
            jax.random.key(self.random_state), X, self.n_clusters, init=self.init,
            n_init=self.n_init, max_iter=self.max_iter, tol=self.tol, spherical=self.spherical,
            algorithm=self.algorithm,
        )
        self.cluster_centers_ = np.asarray(self.state_.centroids)
        self.inertia_ = float(self.state_.inertia)
        self.n_iter_ = int(self.state_.n_iter)
        return self

    def predict(self, X) -> np.ndarray:
        x = jnp.asarray(X, jnp.float32)
        labels, _ = _assign(x, jnp.sum(x**2, -1), self.state_.centroids, self.spherical)
        return np.asarray(labels)

    def transform(self, X) -> np.ndarray:
        return np.asarray(transform(self.state_, jnp.asarray(X, jnp.float32)))
