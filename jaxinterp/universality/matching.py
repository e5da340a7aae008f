"""Unit matching between two layers: which unit of B is each unit of A (Li et al. 2016, "Convergent learning").

``unit_correlations`` gives the [dx, dy] Pearson correlations of every unit of
X with every unit of Y over the same images. ``match_max`` pairs each unit of X
with its most correlated unit of Y (several X units may share one Y unit);
``match_hungarian`` finds the one-to-one pairing with the largest total
correlation (``scipy.optimize.linear_sum_assignment``). ``mutual_best`` marks
the units whose best match's best match is themselves. A unit with zero
variance (dead on these images) correlates 0 with everything.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.universality._checks import check_finite, check_pair


class Matching(NamedTuple):
    """partner: [dx] index into Y of each X unit's match (-1: none, when dx > dy in Hungarian).
    correlation: [dx] the matched correlation (NaN where partner is -1)."""

    partner: np.ndarray
    correlation: np.ndarray


@jax.jit
def _corr(x, y):
    def z(a):
        a = a - a.mean(0, keepdims=True)
        sd = jnp.sqrt(jnp.mean(a * a, 0, keepdims=True))
        return a / jnp.where(sd > 0, sd, 1.0) * (sd > 0).astype(a.dtype)

    return z(x).T @ z(y) / x.shape[0]


def unit_correlations(x: jax.Array, y: jax.Array) -> jax.Array:
    """[n, dx], [n, dy] -> [dx, dy] Pearson correlations over the n images."""
    check_pair(x, y)
    check_finite(x, "x")
    check_finite(y, "y")
    return _corr(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32))


def _check_corr(corr):
    corr = np.asarray(corr, np.float64)
    if corr.ndim != 2 or 0 in corr.shape:
        raise ValueError(f"corr must be a [dx, dy] correlation matrix, got shape {corr.shape}; "
                         "compute it with unit_correlations(x, y)")
    if not np.isfinite(corr).all():
        raise ValueError("corr contains NaN or inf; unit_correlations maps dead units to 0")
    return corr


def match_max(corr) -> Matching:
    """Each X unit's most correlated Y unit: [dx, dy] -> Matching([dx], [dx])."""
    corr = _check_corr(corr)
    partner = corr.argmax(1)
    return Matching(partner, corr[np.arange(len(corr)), partner])


def match_hungarian(corr) -> Matching:
    """One-to-one matching maximising the summed correlation: [dx, dy] -> Matching([dx], [dx])."""
    from scipy.optimize import linear_sum_assignment

    corr = _check_corr(corr)
    rows, cols = linear_sum_assignment(corr, maximize=True)
    partner = np.full(corr.shape[0], -1, np.int64)
    partner[rows] = cols
    value = np.full(corr.shape[0], np.nan)
    value[rows] = corr[rows, cols]
    return Matching(partner, value)


def mutual_best(corr) -> np.ndarray:
    """[dx, dy] -> [dx] bool: X unit i's best Y unit j has i as its best X unit."""
    corr = _check_corr(corr)
    best_y = corr.argmax(1)
    best_x = corr.argmax(0)
    return best_x[best_y] == np.arange(corr.shape[0])
