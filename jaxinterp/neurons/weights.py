"""Weight spectra from expanded weights (METHODS.md §5.5 and §6.5).

The expanded weight of neuron n is E_n = ∂(pre-activation of n at the centre) /
∂(the level's input window), taken through the *linearised* network: every ReLU
is replaced by the identity (BN in eval mode is affine and stays). The
linearised map is affine, so E_n is the same at every input; here it is taken
at zero. For a window part [k, k, C], E_n is reshaped to a [C, k²] matrix and
its singular values give p_i = σ_i² / Σσ², the effective rank exp(H(p)) and
the spatial–channel separability p₁.

Linearisation works by tracing ``fn`` while ``jax.nn.relu`` (also
``flax.linen.relu`` and jaxinterp's ``ReLU`` module) is the identity. Other
nonlinearities (max-pooling, which METHODS §6.5 replaces with average pooling)
are not rewritten; :func:`linearized` refuses nothing, so apply it only to
conv/BN/ReLU/residual sub-networks such as the ResNet stages.
"""

from __future__ import annotations

import contextlib
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxinterp.neurons.levels import Level, _row


@contextlib.contextmanager
def _relu_is_identity():
    identity = lambda x: x
    saved = (jax.nn.relu, nn.relu)
    jax.nn.relu = identity
    nn.relu = identity
    try:
        yield
    finally:
        jax.nn.relu, nn.relu = saved


def linearized(fn: Callable) -> Callable:
    """``fn`` with every ReLU replaced by the identity (traced under the replacement)."""

    def wrapped(*args):
        with _relu_is_identity():
            return fn(*args)

    return wrapped


def expanded_weights(level: Level, at: tuple[int, int] | None = None) -> jax.Array:
    """E [N, level.dim]: ∂ output_n(centre) / ∂ input windows of the linearised ``level.fn``.

    Args:
      level: a level whose ``fn`` is conv/BN/ReLU/residual only.
      at: output position (default: the centre of the map).

    Returns:
      [N, d] expanded weights, columns ordered like the design matrix.
    """
    fn = linearized(level.fn)
    zeros = tuple(jnp.zeros(p.shape[1:], p.dtype) for p in level.parts)
    out_shape = jax.eval_shape(fn, zeros).shape
    h, w = at or (out_shape[0] // 2, out_shape[1] // 2)
    jac = jax.jacrev(lambda parts: fn(parts)[h, w])(zeros)  # tuple of [N, H, W, C]
    return jax.vmap(lambda grads: _row(level, grads, h, w))(jac)


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
