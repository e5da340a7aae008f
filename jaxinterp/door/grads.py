"""Gradients that feature visualisation needs: Lucid's redirected ReLU in every model ReLU.

``with door.redirected_relus(redirect): ...`` traces every model ReLU as
:func:`redirected_relu` (same values; with ``redirect > 0`` Lucid's gradient), so units that
start silent still get a gradient in the first steps of a render.
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp

from jaxinterp.door._hooks import relu_override

__all__ = ["redirected_relu", "redirected_relus"]


@jax.custom_vjp
def redirected_relu(x: jax.Array, redirect: jax.Array) -> jax.Array:
    """``max(x, 0)``; with ``redirect > 0`` its gradient is Lucid's ``redirected_relu_grad``.

    Per batch row: if the ordinary ReLU gradient is all zero, pass the incoming gradient
    wherever it would push the input up (for a minimised loss: a negative gradient) and
    block it where it would push an inactive input further down.
    """
    return jnp.maximum(x, 0)


def _relu_fwd(x, redirect):
    return jnp.maximum(x, 0), (x, redirect)


def _relu_bwd(res, g):
    x, redirect = res
    negative = x < 0
    relu_grad = jnp.where(negative, 0.0, g)
    redirected = jnp.where(negative & (g > 0), 0.0, g)
    rows = relu_grad.reshape(relu_grad.shape[0], -1)  # one row per image: redirect per image
    alive = (jnp.sum(rows * rows, axis=1) > 0).reshape((-1,) + (1,) * (x.ndim - 1))
    result = jnp.where(alive, relu_grad, redirected)
    return jnp.where(redirect > 0, result, relu_grad).astype(g.dtype), jnp.zeros_like(redirect)


redirected_relu.defvjp(_relu_fwd, _relu_bwd)


@contextlib.contextmanager
def redirected_relus(redirect: jax.Array):
    """Within this block (while tracing) every model ReLU is :func:`redirected_relu` with ``redirect``."""
    with relu_override(lambda t: redirected_relu(t, redirect)):
        yield
