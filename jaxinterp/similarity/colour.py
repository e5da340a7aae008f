"""Colour (low-level) similarity: s = -‖c(x) - c(x')‖₂, c = per-channel spatial-mean colour.

METHODS.md §1.3. ``colour.featurize`` takes NHWC images, uint8 (0..255) or float in
[0, 1], checked as :func:`jaxinterp.capture.capture` checks them (an NCHW or a
0..255 float array is refused, not averaged over the wrong axes or scale). The
authors computed it on CIFAR-normalised tensors: to reproduce that, call the
unchecked kernel :func:`mean_colour` on the normalised tensors yourself.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinterp.data.checks import check_images, check_unit_range
from jaxinterp.similarity.base import Similarity


def mean_colour(images: jax.Array, labels: jax.Array | None = None) -> jax.Array:
    """[n, h, w, c] -> [n, c] spatial-mean colour (no checks: any scale, traceable)."""
    del labels
    return jnp.mean(images, axis=(1, 2))


def colour_features(images: jax.Array, labels: jax.Array | None = None) -> jax.Array:
    """Checked :func:`mean_colour`: [n, h, w, c] uint8 (0..255) or float (0..1) -> [n, c] in [0, 1].

    The range is checked on concrete arrays only (a traced call checks shape and dtype).
    """
    check_images(images)
    if not isinstance(images, jax.core.Tracer):
        check_unit_range(images)
    if images.dtype == jnp.uint8:
        return mean_colour(jnp.asarray(images, jnp.float32) / 255.0)
    return mean_colour(jnp.asarray(images))


def pairwise_colour(a: jax.Array, b: jax.Array) -> jax.Array:
    """[a, c], [b, c] mean colours -> [a, b] negated Euclidean distances."""
    diff = a[:, None, :] - b[None, :, :]
    return -jnp.sqrt(jnp.sum(diff * diff, axis=-1))


colour = Similarity("colour", colour_features, pairwise_colour)
