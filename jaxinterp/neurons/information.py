"""Mutual information and entropy of neuron outputs (METHODS.md §5.3 and §5.6).

Every estimator is written for one neuron's samples ``y [n]`` and batched over
neurons with ``jax.vmap`` (the ``*_all`` forms take ``[n, k]`` and return ``[k]``).
All k-NN searches are 1-D or 2-D and done by sorting or by chunked brute force,
so nothing builds an ``[n, n]`` matrix per neuron at once.

* :func:`mi_binned`: I(y; label) on equal-frequency bins, Miller–Madow corrected.
* :func:`mi_knn`: Ross (2014) continuous–discrete k-NN estimator, as
  ``sklearn.feature_selection.mutual_info_classif`` (k = 3).
* :func:`mi_ksg`: Kraskov–Stögbauer–Grassberger (algorithm 1) I(y; z), both 1-D.
* :func:`entropy_kl`: 1-D Kozachenko–Leonenko differential entropy.
* :func:`mixed_entropy`: H_b(p0) + (1 - p0) h_KL(ỹ | ỹ > 0), ỹ = y / std(y).
* :func:`binned_entropy`: plug-in entropy of ỹ over equal-width bins on [0, q99.9].

All results are in nats.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax.scipy.special import digamma

_TINY = 1e-12


def _plugin_entropy(counts: jax.Array, n: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(plug-in entropy, number of occupied cells) of a histogram of ``n`` samples."""
    p = counts / n
    h = -jnp.sum(jnp.where(counts > 0, p * jnp.log(jnp.where(counts > 0, p, 1.0)), 0.0))
    return h, jnp.sum(counts > 0)


def equal_frequency_bins(y: jax.Array, bins: int) -> jax.Array:
    """[n] values -> [n] bin indices 0..bins-1 with (nearly) equal counts.

    Tied values share a bin, placed by their mid-rank (so that a discrete
    variable with a few values keeps them apart when bins >= values).
    """
    n = y.shape[0]
    sorted_y = jnp.sort(y)
    lo = jnp.searchsorted(sorted_y, y, side="left")
    hi = jnp.searchsorted(sorted_y, y, side="right")
    mid = (lo + hi - 1).astype(jnp.float32) / 2.0
    return jnp.minimum(jnp.floor(mid * bins / n), bins - 1).astype(jnp.int32)


@partial(jax.jit, static_argnames=("n_classes", "bins", "miller_madow"))
def mi_binned(
    y: jax.Array, labels: jax.Array, n_classes: int, bins: int = 20, miller_madow: bool = True
) -> jax.Array:
    """I(y; label) in nats from ``bins`` equal-frequency bins of y.

    Args:
      y: [n] one neuron's activations.
      labels: [n] integer classes in 0..n_classes-1.
      n_classes: number of classes.
      bins: equal-frequency bins (20 in METHODS.md §5.3).
      miller_madow: add (m - 1) / (2n) to each entropy, m = occupied cells.

    Returns:
      [] mutual information, I = H(Y_b) + H(L) - H(Y_b, L).
    """
    n = y.shape[0]
    b = equal_frequency_bins(y, bins)
    joint = jnp.zeros((bins, n_classes)).at[b, labels].add(1.0)
    hy, my = _plugin_entropy(jnp.sum(joint, 1), n)
    hl, ml = _plugin_entropy(jnp.sum(joint, 0), n)
    hyl, myl = _plugin_entropy(joint.ravel(), n)
    mi = hy + hl - hyl
    if miller_madow:
        mi = mi + ((my - 1) + (ml - 1) - (myl - 1)).astype(mi.dtype) / (2.0 * n)
    return mi


def _kth_gap_sorted(v: jax.Array, valid: jax.Array, k: int) -> jax.Array:
    """Distance from each element of a sorted 1-D array to its k-th nearest valid element.

    ``v`` [n] sorted ascending within runs of equal ``group`` (the caller masks
    across groups through ``valid`` [n, 2k] neighbour masks); returns [n].
    """
    n = v.shape[0]
    offsets = jnp.concatenate([jnp.arange(-k, 0), jnp.arange(1, k + 1)])
    idx = jnp.clip(jnp.arange(n)[:, None] + offsets[None, :], 0, n - 1)
    d = jnp.abs(v[idx] - v[:, None])
    d = jnp.where(valid, d, jnp.inf)
    return jnp.sort(d, axis=1)[:, k - 1]


def _count_closer(sorted_all: jax.Array, centre: jax.Array, radius: jax.Array) -> jax.Array:
    """#{j : |sorted_all_j - centre| < radius} per centre (sorted_all ascending).

    ``searchsorted`` on ``centre ± radius`` can be off by one where the sum rounds;
    the bounds are then fixed by comparing the same float differences the radius
    was computed from.
    """
    n = sorted_all.shape[0]
    at = lambda i: sorted_all[jnp.clip(i, 0, n - 1)]
    hi = jnp.searchsorted(sorted_all, centre + radius, side="left")
    lo = jnp.searchsorted(sorted_all, centre - radius, side="right")
    for _ in range(2):
        hi = jnp.where((hi > 0) & (at(hi - 1) - centre >= radius), hi - 1, hi)
        hi = jnp.where((hi < n) & (at(hi) - centre < radius), hi + 1, hi)
        lo = jnp.where((lo < n) & (centre - at(lo) >= radius), lo + 1, lo)
        lo = jnp.where((lo > 0) & (centre - at(lo - 1) < radius), lo - 1, lo)
    return jnp.maximum(hi - lo, 0)


@partial(jax.jit, static_argnames=("n_classes", "k"))
def mi_knn(y: jax.Array, labels: jax.Array, n_classes: int, k: int = 3) -> jax.Array:
    """Ross (2014) k-NN estimate of I(y; label) in nats, as scikit-learn's ``_compute_mi_cd``.

    For each sample: r = distance to its k-th nearest neighbour of the same class
    (k capped at class size - 1), m = samples of any class within r (itself
    included); I = ψ(n) + <ψ(k)> - <ψ(n_class)> - <ψ(m)>, clipped at 0. Samples
    whose class has a single member are left out, as in scikit-learn.
    scikit-learn also scales y to unit variance and adds 1e-10 noise: the
    estimate is scale-invariant, and noise is left to the caller.

    Args:
      y: [n] activations; labels: [n] classes in 0..n_classes-1.

    Returns:
      [] mutual information.
    """
    n = y.shape[0]
    counts = jnp.zeros(n_classes).at[labels].add(1.0)
    count_i = counts[labels]
    k_i = jnp.minimum(k, count_i - 1)
    # sort by (label, value): neighbours of the same class are adjacent
    order = jnp.lexsort((y, labels))
    ys, ls, ks = y[order], labels[order], k_i[order]
    offsets = jnp.concatenate([jnp.arange(-k, 0), jnp.arange(1, k + 1)])
    raw = jnp.arange(n)[:, None] + offsets[None, :]
    idx = jnp.clip(raw, 0, n - 1)
    valid = (raw >= 0) & (raw < n) & (ls[idx] == ls[:, None])
    d = jnp.where(valid, jnp.abs(ys[idx] - ys[:, None]), jnp.inf)
    d = jnp.sort(d, axis=1)
    kth = jnp.take_along_axis(d, jnp.maximum(ks - 1, 0).astype(jnp.int32)[:, None], axis=1)[:, 0]
    keep = count_i[order] > 1
    # samples (of kept classes) strictly closer than the k-th same-class neighbour:
    # sklearn's query_radius at nextafter(r, 0), itself included
    kept_sorted = jnp.sort(jnp.where(keep, ys, jnp.inf))
    m = _count_closer(kept_sorted, ys, kth)
    n_keep = jnp.sum(keep)
    mean = lambda v: jnp.sum(jnp.where(keep, v, 0.0)) / n_keep.astype(jnp.float32)
    mi = (
        digamma(n_keep.astype(jnp.float32))
        + mean(digamma(jnp.maximum(ks, 1.0)))
        - mean(digamma(count_i[order]))
        - mean(digamma(jnp.maximum(m, 1).astype(jnp.float32)))
    )
    return jnp.maximum(mi, 0.0)


def _kth_smallest(d: jax.Array, k: int) -> jax.Array:
    """k-th smallest entry of a 1-D array by k passes of argmin (cheaper than a sort for k = 3)."""
    for _ in range(k - 1):
        d = d.at[jnp.argmin(d)].set(jnp.inf)
    return jnp.min(d)


@partial(jax.jit, static_argnames=("k", "chunk"))
def mi_ksg(x: jax.Array, z: jax.Array, k: int = 3, chunk: int = 256) -> jax.Array:
    """KSG (Kraskov et al. 2004, algorithm 1) estimate of I(x; z) in nats, x and z 1-D.

    ε_i = max-norm distance to the k-th neighbour in the joint space; n_x, n_z =
    neighbours strictly closer than ε_i in each marginal;
    I = ψ(k) + ψ(n) - <ψ(n_x + 1) + ψ(n_z + 1)>. Brute force over points in
    chunks (O(n²) time, O(chunk·n) memory).

    Args:
      x, z: [n] samples.

    Returns:
      [] mutual information.
    """
    n = x.shape[0]

    def one(i):
        dx = jnp.abs(x - x[i])
        dz = jnp.abs(z - z[i])
        d = jnp.maximum(dx, dz).at[i].set(jnp.inf)
        eps = _kth_smallest(d, k)
        nx = jnp.sum(dx < eps) - 1
        nz = jnp.sum(dz < eps) - 1
        return digamma(nx.astype(jnp.float32) + 1.0) + digamma(nz.astype(jnp.float32) + 1.0)

    terms = jax.lax.map(one, jnp.arange(n), batch_size=min(chunk, n))
    return digamma(float(k)) + digamma(float(n)) - jnp.mean(terms)


def _kl_entropy_masked(v: jax.Array, valid: jax.Array, k: int, jitter: float) -> jax.Array:
    """1-D Kozachenko–Leonenko entropy of the ``valid`` entries of ``v`` (a varying count)."""
    n_valid = jnp.sum(valid)
    s = jnp.sort(jnp.where(valid, v, jnp.inf))
    n = v.shape[0]
    offsets = jnp.concatenate([jnp.arange(-k, 0), jnp.arange(1, k + 1)])
    raw = jnp.arange(n)[:, None] + offsets[None, :]
    idx = jnp.clip(raw, 0, n - 1)
    pos_ok = jnp.arange(n) < n_valid
    ok = (raw >= 0) & (raw < n_valid) & pos_ok[:, None]
    d = jnp.where(ok, jnp.abs(s[idx] - s[:, None]), jnp.inf)
    eps = jnp.sort(d, axis=1)[:, k - 1] + jitter
    log_eps = jnp.where(pos_ok & jnp.isfinite(eps), jnp.log(eps), 0.0)
    nf = n_valid.astype(jnp.float32)
    return digamma(nf) - digamma(float(k)) + jnp.log(2.0) + jnp.sum(log_eps) / jnp.maximum(nf, 1.0)


@partial(jax.jit, static_argnames=("k",))
def entropy_kl(y: jax.Array, k: int = 3, jitter: float = 1e-9) -> jax.Array:
    """1-D Kozachenko–Leonenko differential entropy (nats):
    ĥ = ψ(n) - ψ(k) + log 2 + (1/n) Σ log ε_i, ε_i = distance to the k-th neighbour (+ jitter).

    Args:
      y: [n] samples.

    Returns:
      [] entropy estimate.
    """
    return _kl_entropy_masked(y, jnp.ones(y.shape, bool), k, jitter)


@partial(jax.jit, static_argnames=("k",))
def mixed_entropy(y: jax.Array, k: int = 3, jitter: float = 1e-9) -> dict[str, jax.Array]:
    """Entropy of a rectified output with a point mass at zero (METHODS.md §5.6).

    ỹ = y / std(y); p0 = P(ỹ = 0) (values <= 0 count as zero);
    H_mix = H_b(p0) + (1 - p0) · h_KL(ỹ | ỹ > 0).

    Args:
      y: [n] post-ReLU activations of one neuron.

    Returns:
      ``{"h_mix": [], "p0": [], "h_pos": []}``; h_pos is NaN when fewer than k + 1 values are positive.
    """
    yt = y / jnp.maximum(jnp.std(y), _TINY)
    pos = yt > 0
    p0 = jnp.mean(~pos)
    hb = -(jnp.where(p0 > 0, p0 * jnp.log(jnp.maximum(p0, _TINY)), 0.0)
           + jnp.where(p0 < 1, (1 - p0) * jnp.log(jnp.maximum(1 - p0, _TINY)), 0.0))
    h_pos = _kl_entropy_masked(yt, pos, k, jitter)
    h_pos = jnp.where(jnp.sum(pos) > k, h_pos, jnp.nan)
    h_mix = hb + (1 - p0) * jnp.where(jnp.isnan(h_pos), 0.0, h_pos)
    return {"h_mix": h_mix, "p0": p0, "h_pos": h_pos}


@partial(jax.jit, static_argnames=("bins",))
def binned_entropy(y: jax.Array, bins: int = 64, quantile: float = 0.999) -> jax.Array:
    """Plug-in entropy (nats) of ỹ = y / std(y) over ``bins`` equal-width bins on [0, q(ỹ)].

    Values below 0 go to the first bin and values above the quantile to the last.

    Args:
      y: [n] samples.

    Returns:
      [] entropy of the bin histogram.
    """
    yt = y / jnp.maximum(jnp.std(y), _TINY)
    top = jnp.maximum(jnp.quantile(yt, quantile), _TINY)
    b = jnp.clip(jnp.floor(yt / top * bins), 0, bins - 1).astype(jnp.int32)
    counts = jnp.zeros(bins).at[b].add(1.0)
    return _plugin_entropy(counts, y.shape[0])[0]


# batched over neurons: [n, k] activations -> [k] (or a dict of [k])
def mi_binned_all(acts, labels, n_classes: int, bins: int = 20, miller_madow: bool = True):
    """:func:`mi_binned` of every column of ``acts`` [n, k] -> [k]."""
    return jax.vmap(lambda y: mi_binned(y, labels, n_classes, bins, miller_madow))(acts.T)


def mi_knn_all(acts, labels, n_classes: int, k: int = 3):
    """:func:`mi_knn` of every column of ``acts`` [n, k] -> [k]."""
    return jax.vmap(lambda y: mi_knn(y, labels, n_classes, k))(acts.T)


def mi_ksg_all(acts, z, k: int = 3):
    """KSG I(acts[:, i]; z[:, j]) for every neuron i and component j: [n, k], [n, p] -> [k, p]."""
    return jax.vmap(lambda y: jax.vmap(lambda c: mi_ksg(y, c, k))(z.T))(acts.T)


def entropy_kl_all(acts, k: int = 3):
    """:func:`entropy_kl` of every column: [n, k] -> [k]."""
    return jax.vmap(lambda y: entropy_kl(y, k))(acts.T)


def mixed_entropy_all(acts, k: int = 3):
    """:func:`mixed_entropy` of every column: [n, k] -> dict of [k]."""
    return jax.vmap(lambda y: mixed_entropy(y, k))(acts.T)


def binned_entropy_all(acts, bins: int = 64, quantile: float = 0.999):
    """:func:`binned_entropy` of every column: [n, k] -> [k]."""
    return jax.vmap(lambda y: binned_entropy(y, bins, quantile))(acts.T)
