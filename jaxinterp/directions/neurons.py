"""Neurons as a direction set: the identity basis, so every score treats them like any other."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import ArrayLike, Float


class NeuronsState(NamedTuple):
    """components: [n, n] identity (each row a one-hot neuron axis)."""

    components: jax.Array


def fit(key: jax.Array | None, acts: Float[ArrayLike, " n d"]) -> NeuronsState:
    """``acts`` [d, n] -> the n one-hot neuron axes. ``key`` is unused (kept for a uniform API)."""
    del key
    return NeuronsState(jnp.eye(acts.shape[-1], dtype=acts.dtype))


def transform(state: NeuronsState, acts: Float[ArrayLike, " n d"]) -> Float[ArrayLike, " n d"]:
    """[d, n] activations -> [d, n] neuron activations (the activations themselves)."""
    del state
    return acts
