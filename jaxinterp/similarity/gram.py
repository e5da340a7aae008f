"""Squared Euclidean distances between all rows of two sets by one Gram product.

‖a - b‖² = ‖a‖² + ‖b‖² - 2⟨a, b⟩ turns all pairs into one GEMM, the fastest
thing this CPU does (PERF_NOTES). It loses relative precision when ‖a - b‖² is
tiny next to ‖a‖². Two things limit the loss: both sets are first centred on
the mean row of ``b`` (distances do not change; the norms that cancel shrink a
lot for post-ReLU features, which share a large common direction), and the
result is clamped at 0. Callers that need near-identical pairs exactly use
:func:`paired_squared_distances`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def check_same_width(a: jax.Array, b: jax.Array, what: str) -> None:
    """Refuse two feature sets whose per-image shapes differ (images of different sizes)."""
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(
            f"{what}: the two sets have per-image feature shapes {tuple(a.shape[1:])} and "
            f"{tuple(b.shape[1:])}; they come from images of different sizes. Resize both sets "
            "to the same height and width before computing features."
        )


def squared_distances(a: jax.Array, b: jax.Array) -> jax.Array:
    """[a, ...], [b, ...] -> [a, b] squared Euclidean distances over the flattened rows."""
    a = a.reshape(a.shape[0], -1)
    b = b.reshape(b.shape[0], -1)
    centre = jnp.mean(b, axis=0, keepdims=True)
    a, b = a - centre, b - centre
    na = jnp.sum(a * a, axis=1)
    nb = jnp.sum(b * b, axis=1)
    gram = jnp.matmul(a, b.T, precision=jax.lax.Precision.HIGHEST)
    return jnp.maximum(na[:, None] + nb[None, :] - 2.0 * gram, 0.0)


def paired_squared_distances(a: jax.Array, b: jax.Array) -> jax.Array:
    """[n, ...], [n, ...] -> [n] exact ‖a_i - b_i‖² (difference first, no cancellation)."""
    diff = (a - b).reshape(a.shape[0], -1)
    return jnp.sum(diff * diff, axis=1)
