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


SALIENCY_FLOATS = 1 << 24  # input-sized gradients per pullback block (about 1 GiB of backward work)


def saliency_summary(fn: Callable, images: jax.Array, best: jax.Array,
                     block: int | None = None) -> tuple[jax.Array, jax.Array]:
    """κ of every neuron's saliency on every image, and each neuron's map on one image, in memory
    that does not grow with the number of neurons or images.

    :func:`saliency_maps` holds [m, N, H, W, C] gradients and pulls back N cotangents of a chunk
    of images at once: for a 224-px layer of 512 channels that is tens of GB. Here one image's
    forward pass is pulled back ``block`` channels at a time, and only κ [m, N] and the maps of
    ``best`` are kept.

    Args:
      fn: one normalised image [H, W, C] -> layer output [h, w, N].
      images: [m, H, W, C] normalised images.
      best: [N] int, for each neuron the index in ``images`` of the image whose map is returned.
      block: channels pulled back at once (default: as many as keep ~SALIENCY_FLOATS floats).

    Returns:
      (κ [m, N], maps [N, H, W]): ``maps[n] = saliency_maps(fn, images)[best[n], n]``.
    """
    images = jnp.asarray(images)
    m, height, width, colours = images.shape
    n_out = jax.eval_shape(fn, jax.ShapeDtypeStruct(images.shape[1:], images.dtype)).shape[-1]
    if block is None:  # the backward pass holds several input-sized arrays per cotangent
        block = SALIENCY_FLOATS // (16 * height * width * colours)
    blocks = -(-n_out // int(max(1, min(n_out, block))))
    block = -(-n_out // blocks)  # even blocks: little padding
    channels = jnp.minimum(jnp.arange(blocks * block), n_out - 1).reshape(blocks, block)
    best = jnp.asarray(best, jnp.int32)

    def image(maps, item):
        i, x = item
        out, pullback = jax.vjp(fn, x)
        h, w, _ = out.shape

        def channel(n):
            ct = jnp.zeros_like(out).at[:, :, n].set(1.0 / (h * w))
            return jnp.max(jnp.abs(pullback(ct)[0]), axis=-1)  # [H, W]

        sal = jax.lax.map(jax.vmap(channel), channels).reshape(blocks * block, height, width)[:n_out]
        maps = jnp.where((best == i)[:, None, None], sal, maps)
        return maps, concentration(sal)

    maps, kappa = jax.lax.scan(image, jnp.zeros((n_out, height, width), images.dtype),
                               (jnp.arange(m, dtype=jnp.int32), images))
    return kappa, maps
