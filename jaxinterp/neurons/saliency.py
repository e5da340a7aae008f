"""Saliency maps of every neuron and their concentration (METHODS.md §5.2).

S_n(x) = max over colour channels of |∂a_n(x)/∂x|, with a_n(x) the spatial mean
of channel n of the layer (Simonyan et al. 2014), an [H, W] map per image and
neuron. Concentration κ = 1 - H(S/ΣS) / log(HW): 0 for a flat map, 1 for a
single pixel. One forward pass per image; the pullback is vmapped over the N
neurons (each cotangent is 1/(hw) on one channel); images are chunked.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


def input_gradients(fn: Callable, images: jax.Array, chunk: int = 16) -> jax.Array:
    """∂(spatial mean of channel n)/∂x for every image and channel.

    Args:
      fn: one normalised image [H, W, C] -> layer output [h, w, N].
      images: [m, H, W, C] normalised images.

    Returns:
      [m, N, H, W, C] gradients.
    """

    def one(x):
        out, pullback = jax.vjp(fn, x)
        h, w, n_out = out.shape

        def per_channel(n):
            ct = jnp.zeros_like(out).at[:, :, n].set(1.0 / (h * w))
            return pullback(ct)[0]

        return jax.vmap(per_channel)(jnp.arange(n_out))

    return jax.lax.map(one, jnp.asarray(images), batch_size=min(chunk, images.shape[0]))


def saliency_maps(fn: Callable, images: jax.Array, chunk: int = 16) -> jax.Array:
    """Saliency of every neuron on every image: [m, H, W, C] -> [m, N, H, W] (max_c |grad|)."""
    return jnp.max(jnp.abs(input_gradients(fn, images, chunk)), axis=-1)


def concentration(saliency: jax.Array) -> jax.Array:
    """κ = 1 - H(S/ΣS)/log(HW) of maps [..., H, W] -> [...]; 0 for an all-zero map."""
    hw = saliency.shape[-1] * saliency.shape[-2]
    s = saliency.reshape(*saliency.shape[:-2], hw)
    total = jnp.sum(s, axis=-1, keepdims=True)
    p = s / jnp.where(total > 0, total, 1.0)
    ent = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0), axis=-1)
    return jnp.where(total[..., 0] > 0, 1.0 - ent / jnp.log(hw), 0.0)
