"""One optax step, as every trainer here takes it (SAEs, feature visualisation, the MLP ceiling,
the demo's training)."""

from __future__ import annotations

import jax
import optax


def step(optimizer: optax.GradientTransformation, grads, state, params):
    """``(params, state)`` after one update of ``optimizer``.

    optax's Adam and its schedules raise a float to the int32 step count (bias correction), a
    promotion that strict dtype promotion (the tests' setting, and a careful user's) refuses; it is
    optax's own, so it is allowed here and nowhere else.
    """
    with jax.numpy_dtype_promotion("standard"):
        updates, state = optimizer.update(grads, state, params)
    return optax.apply_updates(params, updates), state
