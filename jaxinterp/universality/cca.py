"""Canonical correlation: SVCCA (Raghu et al. 2017) and PWCCA (Morcos et al. 2018).

CCA of centred X [n, dx] and Y [n, dy]: with orthonormal bases Ux, Uy of their
column spaces, the canonical correlations are the singular values of UxᵀUy.

- SVCCA keeps, on each side, the top singular directions explaining ``keep``
  (default 99%) of the variance, then averages the canonical correlations.
- PWCCA uses all (numerically non-null) directions and weights each canonical
  correlation ρ_i by how much of X it accounts for: α_i = Σ_j |⟨h_i, x_j⟩| over
  X's neurons j, h_i the i-th canonical variate of X (unit norm), normalised to
  sum to 1. Weights come from the first argument (PWCCA is not symmetric;
  Morcos's code uses the side with fewer neurons).

Bases are column-masked rather than cut, so every shape is static and the
all-pairs form vmaps over layer pairs of zero-padded stacks (:mod:`.stack`).
"""

from __future__ import annotations

from functools import partial
from typing import Mapping, NamedTuple

import jax
import jax.numpy as jnp

from jaxinterp.universality import stack
from jaxinterp.universality._checks import check_finite, check_layers, check_pair, check_same_images

RTOL = 1e-5  # singular values below RTOL · s_max are numerical zeros (dead or duplicate units)


class Basis(NamedTuple):
    """u: [n, d] orthonormal columns (masked ones are zero); sv: [d, d] diag(s)·Vᵀ so that
    X_centred = u @ sv; keep: [d] which columns are used; k: [] how many."""

    u: jax.Array
    sv: jax.Array
    keep: jax.Array
    k: jax.Array


def basis(x: jax.Array, keep: float = 1.0) -> Basis:
    """SVD basis of centred [n, d] features, keeping the top directions with ``keep`` of the variance."""
    xc = x - x.mean(0, keepdims=True)
    u, s, vt = jnp.linalg.svd(xc, full_matrices=False)  # u [n, r], r = min(n, d)
    var = s**2
    before = jnp.cumsum(var) - var  # variance explained by the directions ranked above
    use = s > RTOL * s[0]
    if keep < 1:
        use = use & (before < keep * var.sum())
    w = use.astype(x.dtype)
    return Basis(u * w[None, :], s[:, None] * vt, use, use.sum())


def _canonical(bx: Basis, by: Basis):
    """-> (ρ [r] descending, valid [r], W [r_x, r] x-side rotations)."""
    w, rho, _ = jnp.linalg.svd(bx.u.T @ by.u, full_matrices=False)
    r = rho.shape[0]
    valid = jnp.arange(r) < jnp.minimum(bx.k, by.k)
    return jnp.clip(rho, 0.0, 1.0) * valid.astype(rho.dtype), valid, w


def _mean_rho(bx, by):
    rho, valid, _ = _canonical(bx, by)
    return rho.sum() / jnp.maximum(jnp.sum(valid, dtype=rho.dtype), 1)


def _pwcca(bx, by):
    rho, valid, w = _canonical(bx, by)
    # ⟨h_i, x_j⟩ with h = Ux W and X = Ux (S Vᵀ): (Wᵀ S Vᵀ)_ij, no [n, r] matrix needed
    kept = bx.sv * bx.keep[:, None].astype(bx.sv.dtype)
    alpha = jnp.sum(jnp.abs(w.T @ kept), axis=1) * valid.astype(rho.dtype)
    return jnp.sum(alpha * rho) / jnp.maximum(alpha.sum(), 1e-30)


@jax.jit
def _cca(x, y):
    rho, valid, _ = _canonical(basis(x), basis(y))
    return rho, valid


def canonical_correlations(x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """CCA of [n, dx], [n, dy] -> (ρ [min(n, dx, dy)] descending, valid [same] bool).

    Invalid entries (beyond the smaller rank) are 0.
    """
    check_pair(x, y)
    return _cca(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32))


@partial(jax.jit, static_argnames=("keep",))
def _svcca(x, y, keep):
    return _mean_rho(basis(x, keep), basis(y, keep))


def svcca(x: jax.Array, y: jax.Array, keep: float = 0.99) -> jax.Array:
    """SVCCA: mean canonical correlation after keeping ``keep`` of each side's variance -> []."""
    check_pair(x, y)
    if not 0 < keep <= 1:
        raise ValueError(f"keep is a fraction of variance in (0, 1], got {keep}")
    return _svcca(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), float(keep))


@jax.jit
def _pwcca_xy(x, y):
    return _pwcca(basis(x), basis(y))


def pwcca(x: jax.Array, y: jax.Array) -> jax.Array:
    """PWCCA: canonical correlations weighted by their share of x's neurons -> []."""
    check_pair(x, y)
    return _pwcca_xy(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32))


@partial(jax.jit, static_argnames=("keep",))
def _all_pairs(xa, xb, keep):
    ba = jax.vmap(lambda x: basis(x, keep))(xa)
    bb = jax.vmap(lambda x: basis(x, keep))(xb)
    full_a = jax.vmap(basis)(xa) if keep < 1 else ba
    full_b = jax.vmap(basis)(xb) if keep < 1 else bb
    over_b = lambda f, a, b_all: jax.vmap(lambda b: f(a, b))(b_all)  # noqa: E731
    sv = jax.vmap(lambda a: over_b(_mean_rho, a, bb))(ba)
    pw = jax.vmap(lambda a: over_b(_pwcca, a, full_b))(full_a)
    return sv, pw


def cca_all_pairs(acts_a: Mapping[str, object], acts_b: Mapping[str, object], keep: float = 0.99):
    """SVCCA and PWCCA of every layer of A against every layer of B -> ([LA, LB], [LA, LB]).

    Each layer's SVD is taken once; all pairs are one vmapped batch of small SVDs.
    """
    n_a = check_layers(acts_a, "acts_a")
    check_same_images(n_a, check_layers(acts_b, "acts_b"))
    xa, xb = stack.pad_stack(acts_a), stack.pad_stack(acts_b)
    check_finite(xa, "acts_a")
    check_finite(xb, "acts_b")
    return _all_pairs(xa, xb, float(keep))
