"""How sharply a unit is tuned to orientation, from its tuning curve (METHODS.md §6.4).

:func:`orientation_selectivity` of curves [U, A] sampled evenly over one period::

    s = selectivity.orientation_selectivity(curves.T, np.arange(360.0))
    s["vector_strength"]  # [U] 0 (flat) .. 1 (a single angle)
    s["half_width"]       # [U] degrees: half the arc above the curve's half-height

* vector strength: ``|Σ r(θ) e^{2πiθ/period}| / Σ r(θ)`` with ``r = curve − min(curve)``
  (the baseline removed, so a unit that never drops to zero is not flattered), 1 − the
  circular variance of the response-weighted angles;
* half-width at half height: half the number of samples whose baseline-removed response is
  at least half the peak's, times the step (for a single bump; multi-peaked curves count
  every sample above half height, so the width is honest about them too).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["orientation_selectivity"]


def _one(curve, angles, period):
    r = curve - jnp.min(curve)
    total = jnp.sum(r)
    t = 2 * jnp.pi * angles / period
    vs = jnp.where(total > 0, jnp.hypot(r @ jnp.cos(t), r @ jnp.sin(t)) / jnp.where(total > 0, total, 1.0), 0.0)
    peak = jnp.max(r)
    above = jnp.sum(r >= 0.5 * peak, dtype=r.dtype)  # a count, exact in float
    width = jnp.where(peak > 0, 0.5 * above * (period / angles.shape[0]), period / 2)
    return {"vector_strength": vs, "half_width": width, "depth": peak,
            "preferred": jnp.mod(angles[jnp.argmax(curve)], period)}


def orientation_selectivity(curves, angles_deg, period: float = 360.0) -> dict:
    """Selectivity of tuning curves [U, A] at ``angles_deg`` [A] (evenly over ``period``).

    Returns ``{"vector_strength", "half_width" (degrees), "depth" (max − min, in the curves'
    units), "preferred" (argmax angle, degrees)}``, each [U].
    """
    c = jnp.asarray(curves, jnp.float32)
    a = np.asarray(angles_deg, np.float32).reshape(-1)
    if c.ndim != 2 or c.shape[1] != a.size or a.size < 2:
        raise ValueError(f"curves must be [U, A] with A = len(angles_deg) >= 2; got {c.shape} and {a.size} "
                         "angles (transpose rotation_tuning's [A, U] with .T)")
    if period <= 0:
        raise ValueError(f"period must be > 0 degrees, got {period}")
    return _all(c, jnp.asarray(a), float(period))


@functools.partial(jax.jit, static_argnames=("period",))
def _all(c, a, period):
    c = jnp.where(jnp.isfinite(c), c, jnp.nanmin(c))
    return jax.vmap(lambda row: _one(row, a, period))(c)
