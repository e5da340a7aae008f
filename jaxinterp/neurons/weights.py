"""A level's expanded weights through the linearised network (METHODS.md §6.5) and their
spectra (§5.5).

:func:`expanded_weights` differentiates a :class:`~jaxinterp.neurons.levels.Level`'s ``fn``
under :func:`jaxinterp.door.linear_mode` (ReLU -> identity, max-pool -> average pool) at the
output's centre and crops the same windows as the design matrix; for two named layers of a
model see :func:`jaxinterp.circuits.expanded_weights`. :func:`window_matrix` and
:func:`spectrum_stats` turn one row into a weight spectrum: for a window part [k, k, C] the row
is reshaped to [C, k²] and its singular values give p_i = σ_i² / Σσ², the effective rank
exp(H(p)) and the separability p₁.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinterp.door.cut import linearized
from jaxinterp.neurons.levels import window_row

__all__ = ["expanded_weights", "spectrum_stats", "spectrum_stats_all", "window_matrix"]


def expanded_weights(level, at: tuple[int, int] | None = None) -> jax.Array:
    """E [N, level.dim]: ∂ output_n(centre) / ∂ input windows of the linearised ``level.fn``.

    Args:
      level: a :class:`jaxinterp.neurons.Level` whose ``fn`` is a jaxinterp model cut
        (or any function whose ReLUs are :func:`jaxinterp.models.base.relu`).
      at: output position (default: the centre of the map).

    Returns:
      [N, d] expanded weights, columns ordered like the design matrix.
    """
    fn = linearized(level.fn)
    zeros = tuple(jnp.zeros(p.shape[1:], p.dtype) for p in level.parts)
    out_shape = jax.eval_shape(fn, zeros).shape
    h, w = at or (out_shape[0] // 2, out_shape[1] // 2)
    jac = jax.jacrev(lambda parts: fn(parts)[h, w])(zeros)  # tuple of [N, H, W, C]
    return jax.vmap(lambda grads: window_row(level, grads, h, w))(jac)


def window_matrix(e: jax.Array, window: int, channels: int) -> jax.Array:
    """A part's expanded weight [window²·C] (dy, dx, c order) -> [C, window²]."""
    return e.reshape(window * window, channels).T


@jax.jit
def spectrum_stats(matrix: jax.Array) -> dict[str, jax.Array]:
    """Singular-value statistics of one [C, k²] expanded-weight matrix.

    Returns:
      ``{"sigma": [min(C, k²)], "effective_rank": [], "separability": [], "norm": []}``.
    """
    sigma = jnp.linalg.svd(matrix, compute_uv=False)
    energy = sigma * sigma
    total = jnp.maximum(jnp.sum(energy), 1e-30)
    p = energy / total
    ent = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0))
    return {"sigma": sigma, "effective_rank": jnp.exp(ent), "separability": p[0],
            "norm": jnp.sqrt(total)}


def spectrum_stats_all(matrices: jax.Array) -> dict[str, jax.Array]:
    """:func:`spectrum_stats` of [N, C, k²] matrices -> dict of [N] (sigma [N, r])."""
    return jax.vmap(spectrum_stats)(matrices)
