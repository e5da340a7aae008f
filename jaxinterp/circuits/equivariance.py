"""Rotational equivariance of circuits (METHODS.md §6.6) and unit families.

Family neurons are rotated copies of one another, and the weights between two
families depend only on the *relative* orientation of the units. Two tests:

1. :func:`binned_fit`: with the preferred orientations φ_i of the upstream units and
   θ_j of the downstream units (from tuning curves, §6.4), fit
   ``w_ij ≈ g((θ_j − φ_i) mod 360)`` with g piecewise constant on circular bins
   (default 15°, centred on multiples of the bin width) and report R².
2. :func:`rotated_weights_correlation`: for two connections (i → j) and (i' → j')
   with the same relative orientation, the expanded weight of the second is the
   first rotated by Δ = θ_j' − θ_j; correlate ``rotate(W_exp(i → j), Δ)`` with
   ``W_exp(i' → j')`` over the disc inscribed in the window, for many such pairs.

Angles are in degrees, counter-clockwise positive as seen on screen (row index
decreasing = up), like :mod:`jaxinterp.data.stimuli`; rotation is bilinear
resampling about the window centre (:func:`jaxinterp.featvis.transforms.affine`),
so use odd windows centred on the target (``expanded_weights(..., window=k)``).

:func:`families` clusters peak-aligned tuning curves (K-means) into unit families;
:func:`align_peaks` gives each unit's aligned curve and orientation shift.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.featvis.transforms import affine


def _bins(bin_deg: float) -> int:
    n = 360.0 / float(bin_deg)
    if bin_deg <= 0 or abs(n - round(n)) > 1e-6:
        raise ValueError(f"bin_deg must divide 360 (e.g. 15, 30, 45), got {bin_deg!r}")
    return int(round(n))


def _bin_index(relative, n_bins: int):
    width = 360.0 / n_bins
    return jnp.mod(jnp.floor(relative / width + 0.5), n_bins).astype(jnp.int32)


@partial(jax.jit, static_argnames="n_bins")
def _binned_fit(w, phi, theta, n_bins: int):
    relative = jnp.mod(theta[None, :] - phi[:, None], 360.0)  # [U_up, U_down]
    b = _bin_index(relative, n_bins)
    sums = jax.ops.segment_sum(w.ravel(), b.ravel(), n_bins)
    counts = jax.ops.segment_sum(jnp.ones_like(w).ravel(), b.ravel(), n_bins)
    g = jnp.where(counts > 0, sums / jnp.maximum(counts, 1.0), 0.0)
    prediction = g[b]
    ss_res = jnp.sum((w - prediction) ** 2)
    ss_tot = jnp.sum((w - jnp.mean(w)) ** 2)
    return {
        "r2": 1.0 - ss_res / jnp.maximum(ss_tot, 1e-30),
        "g": g,
        "counts": counts,
        "centres": jnp.arange(n_bins, dtype=jnp.float32) * (360.0 / n_bins),
        "prediction": prediction,
        "relative": relative,
    }


def binned_fit(w, phi, theta, bin_deg: float = 15.0) -> dict:
    """Fit ``w_ij ≈ g((θ_j − φ_i) mod 360)`` with g constant on circular bins; report R².

    Args:
      w: [U_up, U_down] one weight per connection (e.g. ``connection_matrix(W_exp)``).
      phi: [U_up] preferred orientations of the upstream units, degrees.
      theta: [U_down] preferred orientations of the downstream units, degrees.
      bin_deg: bin width (must divide 360); bin b covers ``b·bin_deg ± bin_deg/2``.

    Returns:
      ``{"r2": [], "g": [bins] (mean weight per bin; 0 where empty), "counts": [bins],
      "centres": [bins] degrees, "prediction": [U_up, U_down], "relative": [U_up, U_down]}``.
      R² is in-sample: with few connections per bin it is high by chance too, so compare
      with shuffled weights (the tests do).
    """
    w = jnp.asarray(w, jnp.float32)
    phi, theta = jnp.asarray(phi, jnp.float32), jnp.asarray(theta, jnp.float32)
    if w.ndim != 2 or phi.shape != (w.shape[0],) or theta.shape != (w.shape[1],):
        raise ValueError(f"binned_fit needs w [U_up, U_down], phi [U_up], theta [U_down]; got w "
                         f"{tuple(w.shape)}, phi {tuple(phi.shape)}, theta {tuple(theta.shape)} "
                         "(connection_matrix(weights) gives w with upstream rows)")
    return _binned_fit(w, phi, theta, _bins(bin_deg))


def rotation_matrix(angle_deg) -> jax.Array:
    """[2, 2] for :func:`~jaxinterp.featvis.transforms.affine`: turns content ``angle_deg``
    counter-clockwise on screen (output p reads input R(−angle)·p in x-right, y-up terms)."""
    a = jnp.deg2rad(angle_deg)
    c, s = jnp.cos(a), jnp.sin(a)
    return jnp.array([[c, -s], [s, c]])


def rotate_map(w, angle_deg) -> jax.Array:
    """Rotate one [k, k] map counter-clockwise by ``angle_deg`` about its centre (bilinear, zero fill)."""
    return affine(w[None, :, :, None], rotation_matrix(angle_deg), "bilinear", "zero")[0, :, :, 0]


def _disc(k: int) -> jax.Array:
    r = (k - 1) / 2.0
    y, x = np.mgrid[:k, :k] - r
    return jnp.asarray((x * x + y * y <= r * r + 1e-6).astype(np.float32))


def masked_correlation(a, b, mask) -> jax.Array:
    """Pearson correlation of two [k, k] maps over ``mask`` (0 where either is constant)."""
    n = jnp.sum(mask)
    a = a - jnp.sum(a * mask) / n
    b = b - jnp.sum(b * mask) / n
    cov = jnp.sum(a * b * mask)
    var = jnp.sum(a * a * mask) * jnp.sum(b * b * mask)
    return jnp.where(var > 1e-20, cov / jnp.sqrt(jnp.maximum(var, 1e-20)), 0.0)


@partial(jax.jit, static_argnames="chunk")
def _pair_correlations(maps, first, second, delta, mask, chunk: int):
    def one(args):
        c1, c2, d = args
        return masked_correlation(rotate_map(maps[c1], d), maps[c2], mask)

    return jax.lax.map(one, (first, second, delta), batch_size=chunk)


def matching_pairs(relative: np.ndarray, bin_deg: float, max_pairs: int, key: jax.Array):
    """Unordered pairs of connections in the same relative-orientation bin: ([P], [P]) flat indices.

    All pairs when there are at most ``max_pairs``; otherwise ``max_pairs`` drawn uniformly
    (with replacement) from them using ``key``.
    """
    n_bins = _bins(bin_deg)
    b = np.asarray(_bin_index(jnp.asarray(relative).ravel(), n_bins))
    order = np.argsort(b, kind="stable")
    sizes = np.bincount(b, minlength=n_bins)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    per_bin = sizes * (sizes - 1) // 2
    total = int(per_bin.sum())
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if total <= max_pairs:
        firsts, seconds = [], []
        for size, start in zip(sizes, starts):  # a few dozen bins: index bookkeeping only
            if size > 1:
                i, j = np.triu_indices(size, 1)
                firsts.append(order[start + i])
                seconds.append(order[start + j])
        return np.concatenate(firsts), np.concatenate(seconds)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())
    which = rng.choice(n_bins, size=max_pairs, p=per_bin / total)
    a = rng.integers(0, sizes[which])
    c = rng.integers(0, sizes[which] - 1)
    c = c + (c >= a)
    return order[starts[which] + a], order[starts[which] + c]


def rotated_weights_correlation(weights, phi, theta, bin_deg: float = 15.0, max_pairs: int = 20000,
                                key: jax.Array | None = None, chunk: int = 1024) -> dict:
    """Mean correlation of ``rotate(W_exp(i → j), Δ)`` with ``W_exp(i' → j')`` over matching pairs.

    Pairs of connections match when their relative orientations (θ_j − φ_i) fall in the
    same ``bin_deg`` bin (as in :func:`binned_fit`); Δ = θ_j' − θ_j.

    Args:
      weights: [N_t, k, k, C_s] expanded weights (odd k, centred on the target).
      phi: [C_s] upstream preferred orientations; theta: [N_t] downstream ones (degrees).
      bin_deg: width of the relative-orientation bins.
      max_pairs: at most this many pairs (sampled with ``key`` when there are more).
      key: PRNG key for that sampling (default ``jax.random.key(0)``).
      chunk: pairs per vectorised step.

    Returns:
      ``{"score": [] mean correlation, "correlations": [P], "pairs": [P, 4] (j, i, j', i'),
      "delta": [P] degrees}``; score is NaN when no pairs match.
    """
    weights = jnp.asarray(weights, jnp.float32)
    if weights.ndim != 4 or weights.shape[1] != weights.shape[2]:
        raise ValueError(f"weights must be square expanded weights [N_t, k, k, C_s], got shape "
                         f"{tuple(weights.shape)}; crop with expanded_weights(..., window=k)")
    n_t, k, _, c_s = weights.shape
    phi, theta = np.asarray(phi, np.float32), np.asarray(theta, np.float32)
    if phi.shape != (c_s,) or theta.shape != (n_t,):
        raise ValueError(f"phi must be [C_s] = [{c_s}] and theta [N_t] = [{n_t}] preferred orientations; "
                         f"got {phi.shape} and {theta.shape}")
    relative = np.mod(theta[:, None] - phi[None, :], 360.0)  # [N_t, C_s], flat index j * C_s + i
    first, second = matching_pairs(relative, bin_deg, int(max_pairs),
                                   jax.random.key(0) if key is None else key)
    pairs = np.stack([first // c_s, first % c_s, second // c_s, second % c_s], axis=1)
    delta = theta[pairs[:, 2]] - theta[pairs[:, 0]]
    if len(first) == 0:
        return {"score": jnp.float32(jnp.nan), "correlations": jnp.zeros(0), "pairs": pairs,
                "delta": jnp.asarray(delta)}
    maps = jnp.transpose(weights, (0, 3, 1, 2)).reshape(n_t * c_s, k, k)
    corr = _pair_correlations(maps, jnp.asarray(first, jnp.int32), jnp.asarray(second, jnp.int32),
                              jnp.asarray(delta, jnp.float32), _disc(k), min(int(chunk), len(first)))
    return {"score": jnp.mean(corr), "correlations": corr, "pairs": pairs, "delta": jnp.asarray(delta)}


@jax.jit
def align_peaks(curves) -> tuple[jax.Array, jax.Array]:
    """Roll each tuning curve so its peak is at index 0.

    curves: [U, A] responses at A equally spaced angles over 360°.
    Returns (aligned [U, A], shift_deg [U]): unit u's peak sits ``shift_deg[u]`` (its
    orientation shift, ``argmax · 360 / A``) from angle 0.
    """
    peak = jnp.argmax(curves, axis=1)
    aligned = jax.vmap(lambda c, p: jnp.roll(c, -p))(curves, peak)
    return aligned, peak.astype(jnp.float32) * (360.0 / curves.shape[1])


def families(curves, k: int, key: jax.Array | None = None, n_init: int = 4) -> jax.Array:
    """Unit families: K-means labels [U] of the peak-aligned, peak-normalised tuning curves.

    Units whose curves have the same shape up to a rotation (a family of rotated copies)
    get the same label; :func:`align_peaks` gives each unit's shift within its family.

    Args:
      curves: [U, A] tuning curves over 360° (e.g. ``tuning.rotation_tuning(...).T``).
      k: number of families (1 <= k <= U).
      key: PRNG key of the K-means seeding (default ``jax.random.key(0)``).
      n_init: K-means restarts.
    """
    from jaxinterp.directions import kmeans

    curves = jnp.asarray(curves, jnp.float32)
    if curves.ndim != 2:
        raise ValueError(f"curves must be [U, A] (one tuning curve per unit), got shape {tuple(curves.shape)}; "
                         "transpose rotation_tuning's [A, U] output")
    if int(k) != k or not 1 <= k <= curves.shape[0]:
        raise ValueError(f"k={k!r} families for {curves.shape[0]} units; use 1 <= k <= {curves.shape[0]}")
    aligned, _ = align_peaks(curves)
    scale = jnp.max(jnp.abs(aligned), axis=1, keepdims=True)
    shapes = aligned / jnp.maximum(scale, 1e-12)
    state = kmeans.fit(jax.random.key(0) if key is None else key, shapes, int(k), n_init=n_init)
    return kmeans.assign(shapes, state.centroids)[0]
