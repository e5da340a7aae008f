"""All pairs, given pairs and nearest neighbours of any :class:`Similarity`, in blocks.

Features are computed once per image; these drivers only call the metric's
kernels on blocks of rows, so a set of 50,000 images never needs an N×N matrix
when only nearest neighbours, given pairs or sub-blocks are wanted::

    feats = metric.featurize(images)
    S = all_pairs(metric, feats)                          # [n, n], exact diagonal
    v = pair_values(metric, feats, pairs)                 # [p] exact values of pairs [p, 2]
    sims, idx = nearest_neighbours(metric, feats, k=10)   # [n, k] each, blockwise
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from jax.sharding import Mesh

from jaxinterp.parallel import local_mesh, pad_rows, split_rows
from jaxinterp.similarity.base import Similarity, kernel, num_rows, paired_kernel, take


def _blocks(features: Any, block: int) -> tuple[Any, int]:
    """[n, ...] leaves -> [n_blocks, block, ...] leaves (padded), and n_blocks."""
    n = num_rows(features)
    count = -(-n // block)
    padded = pad_rows(features, count * block)
    return jax.tree_util.tree_map(lambda f: f.reshape(count, block, *f.shape[1:]), padded), count


def _matrix_rows(fa, fb, metric, layers, block):
    """Rows of fa against all of fb, ``block`` rows at a time."""
    pairwise = kernel(metric, layers)
    n = num_rows(fa)
    blocks, count = _blocks(fa, block)
    out = jax.lax.map(lambda rows: pairwise(rows, fb), blocks)
    return out.reshape(count * block, *out.shape[2:])[:n]


def _per_device(n: int, block: int, mesh: Mesh | None) -> int:
    """The block size: at most ``block``, at most the rows one device of ``mesh`` gets."""
    devices = (local_mesh() if mesh is None else mesh).size
    return max(1, min(block, -(-n // devices)))


def matrix_blocked(
    metric: Similarity, features_a: Any, features_b: Any | None = None, *,
    layers: bool = False, block: int = 1024, mesh: Mesh | None = None,
) -> jax.Array:
    """[a, b] (or [a, b, L]) similarities computed ``block`` rows of a at a time (lax.map).

    The rows of a are split over ``mesh`` (default: every local device); b is copied
    to every device.
    """
    fb = features_a if features_b is None else features_b
    kernel(metric, layers)  # refuse layers=True early for single-layer metrics
    block = _per_device(num_rows(features_a), block, mesh)
    return split_rows(_matrix_rows, mesh, metric=metric, layers=layers, block=block)(features_a, fb)


@partial(jax.jit, static_argnames=("metric", "layers"), donate_argnames=("S",))
def _exact_diagonal(metric, features, S, layers):
    exact = paired_kernel(metric, layers)(features, features)  # s(x, x): exactly 0 for distances
    i = jnp.arange(num_rows(features))
    return S.at[i, i].set(exact)


def all_pairs(metric: Similarity, features: Any, *, layers: bool = False, block: int = 1024,
              mesh: Mesh | None = None) -> jax.Array:
    """[n, n] (or [n, n, L]) similarities within one set, the diagonal from the exact kernel.

    Rows are split over ``mesh`` (default: every local device).
    """
    S = matrix_blocked(metric, features, features, layers=layers, block=block, mesh=mesh)
    return _exact_diagonal(metric, features, S, layers)


def _check_pairs(pairs: jax.Array, n: int) -> jax.Array:
    pairs = jnp.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or not jnp.issubdtype(pairs.dtype, jnp.integer):
        raise ValueError(
            f"pairs must be an integer array [p, 2] of image indices, got {pairs.dtype} {pairs.shape}; "
            "stack them with jnp.stack([i, j], axis=1)"
        )
    if pairs.size and not isinstance(pairs, jax.core.Tracer):
        lo, hi = int(pairs.min()), int(pairs.max())
        if lo < 0 or hi >= n:
            raise ValueError(f"pair indices must lie in [0, {n}), got values in [{lo}, {hi}]")
    return pairs


def _pair_rows(pairs, features, metric, layers, block):
    paired = paired_kernel(metric, layers)
    p = pairs.shape[0]
    count = -(-p // block)
    padded = jnp.concatenate([pairs, jnp.zeros((count * block - p, 2), pairs.dtype)])

    def one_block(ij):
        return paired(take(features, ij[:, 0]), take(features, ij[:, 1]))

    out = jax.lax.map(one_block, padded.reshape(count, block, 2))
    return out.reshape(count * block, *out.shape[2:])[:p]


def pair_values(
    metric: Similarity, features: Any, pairs: jax.Array, *, layers: bool = False, block: int = 4096,
    mesh: Mesh | None = None,
) -> jax.Array:
    """Exact similarities of given index pairs: [p, 2] -> [p] (or [p, L] with ``layers``).

    Uses the metric's row-by-row kernel (differences first), so near-identical pairs
    keep full relative precision; ``block`` pairs are gathered at a time. The pairs
    are split over ``mesh`` (default: every local device).
    """
    pairs = _check_pairs(pairs, num_rows(features))
    kernel(metric, layers)
    if pairs.shape[0] == 0:
        return jnp.zeros((0,) if not layers else (0, len(metric.layer_names)), jnp.float32)
    block = _per_device(pairs.shape[0], block, mesh)
    return split_rows(_pair_rows, mesh, metric=metric, layers=layers, block=block)(pairs, features)


def _nearest_rows(rows, features, metric, k, block, exclude_self):
    """rows = (query features, their indices into ``features`` when they are the candidates)."""
    nq, n = num_rows(rows), num_rows(features)
    q_block = min(block, nq)  # the queries this device holds may be fewer than a block
    (q_blocks, row_ids), _ = _blocks(rows, q_block)
    c_blocks, c_count = _blocks(features, block)

    def query_block(args):
        q, qi = args

        def merge(carry, col):
            best_s, best_i = carry
            c, start = col
            S = metric.pairwise(q, c)  # [q_block, block]
            ci = start + jnp.arange(block)
            bad = (ci[None, :] >= n) | (exclude_self & (ci[None, :] == qi[:, None]))
            S = jnp.where(bad, -jnp.inf, S)
            s = jnp.concatenate([best_s, S], axis=1)
            i = jnp.concatenate([best_i, jnp.broadcast_to(ci, S.shape)], axis=1)
            top_s, pos = jax.lax.top_k(s, k)
            return (top_s, jnp.take_along_axis(i, pos, axis=1)), None

        init = (jnp.full((q_block, k), -jnp.inf), jnp.full((q_block, k), -1, jnp.int32))
        starts = jnp.arange(c_count) * block
        (s, i), _ = jax.lax.scan(merge, init, (c_blocks, starts))
        return s, i

    s, i = jax.lax.map(query_block, (q_blocks, row_ids))
    return s.reshape(-1, k)[:nq], i.reshape(-1, k)[:nq]


def nearest_neighbours(
    metric: Similarity,
    features: Any,
    k: int,
    *,
    queries: Any | None = None,
    block: int = 512,
    exclude_self: bool = True,
    mesh: Mesh | None = None,
) -> tuple[jax.Array, jax.Array]:
    """The k most similar images of each query, streaming blocks of ``block`` × ``block`` pairs.

    Args:
      features: [n]-row features of the candidate set.
      k: neighbours per query.
      queries: [q]-row features of the queries (default: the candidates themselves).
      block: rows and columns per block; memory is O(block² + n·features), never n².
      exclude_self: with ``queries=None``, skip each image itself.
      mesh: the queries are split over it (default: every local device); the
        candidates are copied to every device.

    Returns:
      similarities [q, k] (best first) and indices [q, k] into ``features``.
    """
    n = num_rows(features)
    self_query = queries is None
    available = n - (1 if self_query and exclude_self else 0)
    if not 1 <= k <= available:
        raise ValueError(f"k={k} neighbours were asked for but only {available} candidates exist; use 1 <= k <= {available}")
    q = features if self_query else queries
    block = max(1, min(block, max(n, num_rows(q))))
    ids = jnp.arange(num_rows(q))
    run = split_rows(_nearest_rows, mesh, metric=metric, k=k, block=block,
                     exclude_self=bool(self_query and exclude_self))
    return run((q, ids), features)
