"""Privileged basis: co-activation of each neuron with the rest (METHODS.md §4.5, App. B).

::

    coact(n) = Pearson_x( a_n(x), mean_{m != n} a_m(x) )     # the neuron itself excluded

Correlated with II across neurons (Pearson and Spearman): the paper expects a
negative relation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from jaxinterp.scores._checks import check_finite


def _pearson_columns(x: jax.Array, y: jax.Array) -> jax.Array:
    """[n, k], [n, k] -> [k] column-wise Pearson correlations (0 where a column is constant)."""
    xc, yc = x - jnp.mean(x, axis=0, keepdims=True), y - jnp.mean(y, axis=0, keepdims=True)
    den = jnp.sqrt(jnp.sum(xc * xc, axis=0) * jnp.sum(yc * yc, axis=0))
    return jnp.where(den > 0, jnp.sum(xc * yc, axis=0) / jnp.where(den > 0, den, 1.0), 0.0)


def coactivation(acts: Real[ArrayLike, " n k"]) -> Float[Array, " k"]:
    """[n_images, n_neurons] -> [n_neurons] correlation of each neuron with the mean of the others."""
    if acts.ndim != 2 or acts.shape[1] < 2:
        raise ValueError(
            f"activations must be [n_images, n_neurons >= 2], got shape {acts.shape}; pass one "
            "column per neuron (capture(..., position='mean')) and at least two neurons"
        )
    check_finite(acts, "activations", cols="neuron")
    return _coactivation(jnp.asarray(acts))


@jax.jit
def _coactivation(acts: jax.Array) -> jax.Array:
    n = acts.shape[1]
    others = (jnp.sum(acts, axis=1, keepdims=True) - acts) / (n - 1)
    return _pearson_columns(acts, others)
