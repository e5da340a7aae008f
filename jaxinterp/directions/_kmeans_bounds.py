"""Exact Lloyd iterations that skip most distance computations (Hamerly 2010).

Each sample keeps an upper bound ``u`` on the distance to its centroid and a
lower bound ``l`` on the distance to every other centroid. After centroids move
by ``δ``, ``u += δ[label]`` and ``l -= max δ``; a sample whose ``u`` stays below
``max(l, s[label])`` (``s_j``: half the distance from centroid j to its nearest
neighbour) cannot change cluster, so only the others are gathered (compacted
with ``nonzero``) and get the full GEMM in fixed-size chunks. The labels are
those of plain Lloyd; after the first few iterations few samples need work.
A small slack on the bounds keeps float32 rounding from wrongly pruning a near tie.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jaxinterp.directions.kmeans_core import (
    KMeansState, centroid_update, nearest_two, sq_dist_rows, zero_padding,
)

SLACK = 1e-5


def _compacted_pass(mask, fn, carry, chunk: int):
    """Run ``carry = fn(ids [chunk], carry)`` over the indices where ``mask`` is set, chunk by chunk.

    ``ids`` past the last selected index are ``len(mask)`` (out of range: dropped by scatters).
    """
    n = mask.shape[0]
    ids = jnp.nonzero(mask, size=n, fill_value=n)[0]
    ids = jnp.concatenate([ids, jnp.full((chunk,), n, ids.dtype)])
    count = jnp.sum(mask)

    def body(c):
        i, carry = c
        return i + 1, fn(jax.lax.dynamic_slice(ids, (i * chunk,), (chunk,)), carry)

    return jax.lax.while_loop(lambda c: c[0] * chunk < count, body, (jnp.asarray(0), carry))[1]


@partial(jax.jit, static_argnames=("max_iter", "chunk"))
def lloyd_bounded(x, w, centroids, tol, max_iter: int, chunk: int = 1024):
    """Euclidean Lloyd from ``centroids`` [k, d] on x [n, d] with row weights w [n] (0 = padding).

    Returns KMeansState with the exact inertia of the final centroids.
    """
    n, k = x.shape[0], centroids.shape[0]
    x = zero_padding(x, w)
    x_sq = jnp.sum(x * x, -1)

    def full(ids, carry):
        labels, u, l, c, c_sq = carry
        rows = jnp.minimum(ids, n - 1)
        first, d1, d2 = nearest_two(x[rows], x_sq[rows], c, c_sq)
        return (labels.at[ids].set(first, mode="drop"), u.at[ids].set(d1, mode="drop"),
                l.at[ids].set(d2, mode="drop"), c, c_sq)

    def tighten(ids, carry):
        u, labels, c = carry
        rows = jnp.minimum(ids, n - 1)
        exact = jnp.sqrt(sq_dist_rows(x[rows], c[labels[rows]]))
        return u.at[ids].set(exact, mode="drop"), labels, c

    def body(carry):
        c, labels, u, l, _, it = carry
        c_sq = jnp.sum(c * c, -1)
        cc = jnp.sqrt(jnp.maximum(c_sq[:, None] - 2.0 * c @ c.T + c_sq[None, :], 0.0))
        s = 0.5 * jnp.min(jnp.where(jnp.eye(k, dtype=bool), jnp.inf, cc), axis=1)
        bound = jnp.maximum(s[labels], l) * (1.0 - SLACK)
        u, _, _ = _compacted_pass(u > bound, tighten, (u, labels, c), chunk)
        labels, u, l, _, _ = _compacted_pass(u * (1.0 + SLACK) > bound, full, (labels, u, l, c, c_sq), chunk)
        new, labels, moved = centroid_update(x, w, labels, u**2, c)
        l = jnp.where(moved, 0.0, l)  # a relocated sample's old centroid is now an 'other'
        delta = jnp.sqrt(jnp.sum((new - c) ** 2, -1))
        top2 = jax.lax.top_k(delta, min(2, k))[0]
        other_max = jnp.where(delta[labels] >= top2[0], top2[-1], top2[0])
        u, l = u + delta[labels], l - other_max
        return new, labels, u, l, jnp.sum(delta**2), it + 1

    def cond(carry):
        return (carry[-1] < max_iter) & (carry[-2] > tol)

    init = (centroids, jnp.zeros(n, jnp.int32), jnp.full(n, jnp.inf, x.dtype),
            jnp.zeros(n, x.dtype), jnp.asarray(jnp.inf, x.dtype), jnp.asarray(0))
    c, *_, n_iter = jax.lax.while_loop(cond, body, init)
    _, d1, _ = nearest_two(x, x_sq, c, jnp.sum(c * c, -1))
    return KMeansState(c, jnp.sum(w * d1**2), n_iter)
