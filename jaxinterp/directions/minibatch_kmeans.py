"""Mini-batch K-means (Sculley 2010, as scikit-learn's ``MiniBatchKMeans``) for data beyond memory.

Batches stream from an [n, d] array or ``np.memmap`` (only the rows of each
batch are read) or from a callable returning an iterator; the batch of step
``t`` is a function of ``(key, t)``, so with ``checkpoint_dir`` an interrupted
fit resumes to the same centroids. Each step assigns the batch with one GEMM
(sharded over local devices) and moves every centroid to the running mean of
the samples it has ever received: ``c <- (c·count + Σ batch) / (count + n_batch)``.

Example::

    state = minibatch_kmeans.fit(key, np.load("A.npy", mmap_mode="r"), k=256,
                                 batch_size=4096, max_steps=2000, checkpoint_dir="ckpt/km")
    f = minibatch_kmeans.transform(state, acts)  # [n, k]
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from jaxinterp.directions import kmeans
from jaxinterp.directions._batches import BatchSource, seed_from_key
from jaxinterp.directions._checks import check_k
from jaxinterp.directions._resume import init_description, run_steps
from jaxinterp.directions.kmeans_core import fixed_init
from jaxinterp.parallel.samples import maybe_shard_batch


class MiniBatchKMeansState(NamedTuple):
    """centroids [k, d]; counts [k] samples each centroid has absorbed; step [];
    batch_inertia [] of the last batch (before its update)."""

    centroids: jax.Array
    counts: jax.Array
    step: jax.Array
    batch_inertia: jax.Array


@partial(jax.jit, static_argnames=("spherical",))
def minibatch_step(state: MiniBatchKMeansState, batch: jax.Array, spherical: bool = False):
    """One update with ``batch`` [b, d]; returns the new state."""
    c = state.centroids
    labels, cost = kmeans._assign(batch, jnp.sum(batch**2, -1), c, spherical)
    k = c.shape[0]
    sums = jax.ops.segment_sum(batch, labels, num_segments=k)
    n_new = jax.ops.segment_sum(jnp.ones(batch.shape[0], batch.dtype), labels, num_segments=k)
    counts = state.counts + n_new
    moved = (c * state.counts[:, None] + sums) / jnp.maximum(counts, 1.0)[:, None]
    if spherical:
        moved = kmeans.unit_rows(moved, 1e-12)
    c = jnp.where((n_new > 0)[:, None], moved, c)
    return MiniBatchKMeansState(c, counts, state.step + 1, jnp.sum(cost))


def fit(
    key: jax.Array | None,
    data: Any,
    k: int,
    *,
    batch_size: int = 1024,
    max_steps: int = 1000,
    init: str | Float[ArrayLike, " k d"] = kmeans.DEFAULT_INIT,
    init_size: int | None = None,
    spherical: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 100,
    until_step: int | None = None,
) -> MiniBatchKMeansState:
    """Fit K-means by minibatches.

    Args:
      key: PRNG key: seeding sample, k-means++ and batch order.
      data: [n, d] array/memmap, or a callable returning an iterator of [b, d] batches.
      k: number of centroids (at most the seeding sample size).
      batch_size: rows per step (sharded over local devices when it divides evenly).
      max_steps: total steps of the schedule.
      init: ``"k-means++"`` on ``init_size`` rows (default ``max(3k, batch_size)``; the
        default init, as for :func:`kmeans.fit`), ``"identity"`` (k == d), or a [k, d] array.
      spherical: cosine assignment, unit-norm centroids.
      checkpoint_dir, checkpoint_every: orbax checkpoints; a later call with the same
        directory resumes from the newest one.
      until_step: stop at this step (after a checkpoint); call again to continue.

    Returns:
      MiniBatchKMeansState.
    """
    seed = seed_from_key(key)
    source = BatchSource(data, batch_size, seed)
    if isinstance(init, str) and init == "k-means++":
        size = init_size or max(3 * k, batch_size)
        sample = source.sample(size)
        check_k(k, sample.shape[0])
        x0 = kmeans.unit_rows(jnp.asarray(sample)) if spherical else jnp.asarray(sample)
        c0 = kmeans._seed(jax.random.fold_in(key, 1), x0, k)
    else:
        sample = source.sample(min(batch_size, 3 * k))
        c0 = fixed_init(init, k, sample.shape[1])
    if spherical:
        c0 = kmeans.unit_rows(c0, 1e-12)
    state = MiniBatchKMeansState(c0, jnp.zeros(k, jnp.float32), jnp.asarray(0, jnp.int32),
                                 jnp.asarray(jnp.inf, jnp.float32))

    def step_fn(step, state):
        batch = source.batch(step)
        batch = maybe_shard_batch(kmeans.unit_rows(jnp.asarray(batch)) if spherical else batch)
        return minibatch_step(state, batch, spherical)

    config = {"fit": "minibatch_kmeans", "k": k, "n_features": int(sample.shape[1]),
              "batch_size": source.batch_size, "init": init_description(init),
              "init_size": init_size, "spherical": bool(spherical), "seed": seed}
    state, _ = run_steps(step_fn, state, max_steps, checkpoint_dir=checkpoint_dir,
                         checkpoint_every=checkpoint_every, until_step=until_step, config=config)
    return state


def transform(state: MiniBatchKMeansState, acts: Float[ArrayLike, " n d"],
              mode: str = "projection") -> Float[Array, " n k"]:
    """[n, d] -> [n, k] (see :func:`kmeans.transform`)."""
    return kmeans.transform(kmeans.KMeansState(state.centroids, state.batch_inertia, state.step),
                            acts, mode)


class MiniBatchKMeans:
    """scikit-learn-style wrapper: ``MiniBatchKMeans(256).fit(A).cluster_centers_``."""

    def __init__(self, n_clusters: int, *, batch_size: int = 1024, max_steps: int = 1000,
                 init=kmeans.DEFAULT_INIT, spherical: bool = False, random_state: int = 0,
                 checkpoint_dir: str | None = None):
        self.n_clusters, self.batch_size, self.max_steps = n_clusters, batch_size, max_steps
        self.init, self.spherical, self.random_state = init, spherical, random_state
        self.checkpoint_dir = checkpoint_dir

    def fit(self, X, y=None) -> "MiniBatchKMeans":
        self.state_ = fit(jax.random.key(self.random_state), X, self.n_clusters,
                          batch_size=self.batch_size, max_steps=self.max_steps, init=self.init,
                          spherical=self.spherical, checkpoint_dir=self.checkpoint_dir)
        self.cluster_centers_ = np.asarray(self.state_.centroids)
        return self

    def transform(self, X) -> np.ndarray:
        return np.asarray(transform(self.state_, jnp.asarray(X, jnp.float32)))
