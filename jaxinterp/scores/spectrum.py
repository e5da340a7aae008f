"""Power-law eigenspectrum of a layer's activations (METHODS.md §4.6, App. C; Stringer et al. 2019).

Three modes, because a deterministic network's "repeats" are identical and
cross-validated PCA then collapses to PCA:

- ``noncv`` (the seed code): z-score each neuron, SVD, var_k = s_k² / Σ s².
- ``split``: principal axes from one half of the images, variance along them on the other half.
- ``augment``: two repeats = the same images under two independent augmentations
  (:func:`augment`); Stringer's cvPCA ss_k = Σ (X0 v_k)(X1 v_k), averaged over shuffles
  that swap the repeats per image.

Exponent fits: :func:`fit_stringer` (weighted least squares of log(ss/Σss) on
-log rank, weights 1/rank, indices 11..499 as Stringer's Python) and
:func:`fit_ols` (the seed code: OLS of log var on log rank over 0.05N < i < 0.5N).
The critical exponent for d-dimensional stimuli is 1 + 2/d (d = 32·32·3 for CIFAR).
:func:`power_law_break` tests whether fit_ols's range holds one power law or spans a break.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from jaxinterp.scores._checks import check_finite

MODES = ("noncv", "split", "augment")


def _check(x, name="activations"):
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"{name} must be [n_images >= 2, n_neurons >= 2], got shape {x.shape}; "
                         "pass one column per neuron (capture(..., position='mean'))")
    check_finite(x, name, cols="neuron")


def _check_varies(x, name="activations"):
    if not bool(jnp.any(_varies(x))):  # else every eigenvalue is 0 and ss / Σss is NaN
        raise ValueError(
            f"{name} are constant over the {x.shape[0]} images (every one of the {x.shape[1]} "
            "neurons); a spectrum needs variance: check that the layer is alive (dead ReLUs give "
            "all zeros) and that the images differ"
        )


def _varies(x):
    """[n, N] -> [N] bool: the neuron takes more than one value (a std would round, not be 0)."""
    return jnp.max(x, axis=0) > jnp.min(x, axis=0)


@jax.jit
def _noncv(x):
    std = jnp.std(x, axis=0)
    z = (x - jnp.mean(x, axis=0, keepdims=True)) / jnp.where(_varies(x), std, 1.0)[None, :]
    s = jnp.linalg.svd(z, compute_uv=False)
    return s**2 / jnp.sum(s**2)


@jax.jit
def _axes(x0):
    x0 = x0 - jnp.mean(x0, axis=0, keepdims=True)
    return jnp.linalg.svd(x0, full_matrices=False)[2].T  # [n_neurons, r]


def spectrum(key: jax.Array | None, acts: Real[ArrayLike, " n N"], mode: str = "noncv",
             acts_repeat: Real[ArrayLike, " n N"] | None = None,
             shuffles: int = 5) -> Float[Array, " r"]:
    """Normalised eigenspectrum ss [r] (sums to 1), largest first.

    Args:
      key: PRNG key (``split``: which half; ``augment``: repeat swaps). Unused for ``noncv``.
      acts: [n, N] activations (for ``augment``: of the first augmented repeat).
      mode: "noncv" | "split" | "augment".
      acts_repeat: [n, N] activations of the second repeat (``augment`` only).
      shuffles: swaps averaged in ``augment`` (Stringer: 5).
    """
    acts = jnp.asarray(acts, jnp.float32)
    _check(acts)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "augment":
        if acts_repeat is None:
            raise ValueError("mode='augment' needs acts_repeat: activations of a second, "
                             "independently augmented pass over the same images")
        acts_repeat = jnp.asarray(acts_repeat, jnp.float32)
        if acts_repeat.shape != acts.shape:
            raise ValueError(f"the two repeats must have one shape, got {acts.shape} and "
                             f"{acts_repeat.shape}; capture both passes over the same images")
        check_finite(acts_repeat, "acts_repeat", cols="neuron")
    _check_varies(acts)
    if mode == "augment":
        _check_varies(acts_repeat, "acts_repeat")
    ss = _spectrum(key, acts, mode, acts_repeat, shuffles)
    if not bool(jnp.all(jnp.isfinite(ss))):
        raise ValueError(
            f"the {mode} spectrum is undefined: the variance along its principal axes sums to 0 "
            f"(the activations vary too little among these {acts.shape[0]} images, e.g. constant on "
            "one half or one repeat); use more images or mode='noncv'"
        )
    return ss


def _spectrum(key, acts, mode, acts_repeat, shuffles):
    if mode == "noncv":
        return _noncv(acts)
    if mode == "split":
        perm = jax.random.permutation(key, acts.shape[0])
        half = acts.shape[0] // 2
        x0, x1 = acts[perm[:half]], acts[perm[half : 2 * half]]
        v = _axes(x0)
        proj = (x1 - jnp.mean(x1, axis=0, keepdims=True)) @ v
        ss = jnp.sum(proj * proj, axis=0)
        return ss / jnp.sum(ss)
    return _cvpca(key, acts, acts_repeat, shuffles)


@partial(jax.jit, static_argnames=("shuffles",))
def _cvpca(key, r0, r1, shuffles):
    def one(k):
        swap = jax.random.bernoulli(k, 0.5, (r0.shape[0], 1))
        x0 = jnp.where(swap, r1, r0)
        x1 = jnp.where(swap, r0, r1)
        x0 = x0 - jnp.mean(x0, axis=0, keepdims=True)
        x1 = x1 - jnp.mean(x1, axis=0, keepdims=True)
        v = jnp.linalg.svd(x0, full_matrices=False)[2].T
        return jnp.sum((x0 @ v) * (x1 @ v), axis=0)

    ss = jnp.mean(jax.vmap(one)(jax.random.split(key, shuffles)), axis=0)
    return ss / jnp.sum(ss)


def _log_in_range(values, idx, fit: str, shorter: str) -> np.ndarray:
    """log of ``values[idx]``, refusing values <= 0 (log 0 = -inf; a negative has no log).

    Both fits follow this one policy. Stringer's own code fits log|ss| (cvPCA's noise makes
    the tail negative); pass ``np.abs(ss)`` to do that deliberately.
    """
    vals = values[idx]
    bad = np.flatnonzero(vals <= 0)
    if bad.size:
        first = int(idx[bad[0]])
        raise ValueError(
            f"the {fit} fit takes the log of the spectrum at ranks {idx[0] + 1}..{idx[-1] + 1}, but "
            f"{bad.size} of those values are <= 0 (first at rank {first + 1}: {vals[bad[0]]:.3g}); "
            f"end the fit before that rank ({shorter.format(first=first, n=values.size)}), use more "
            "images, or fit np.abs(ss) as Stringer's code does for cvPCA's negative tail"
        )
    return np.log(vals)


def fit_stringer(ss, start=11, stop=500):
    """Stringer's weighted LS: α, the slope of log(ss) on -log(rank), weights 1/rank,
    over indices start..stop-1 (clipped to the spectrum). Returns (alpha, fitted [r]).

    Values <= 0 in the range are refused, as :func:`fit_ols` refuses them (Stringer's code
    takes log|ss|: pass ``np.abs(ss)`` for that)."""
    ss = np.asarray(ss, np.float64)
    check_finite(ss, "spectrum", rows="rank")
    stop = min(stop, ss.size)
    if stop - start < 2:
        raise ValueError(f"the Stringer fit uses indices {start}..{stop - 1}; the spectrum has only "
                         f"{ss.size} values. Use more neurons or fit_ols")
    idx = np.arange(start, stop)
    y = _log_in_range(ss, idx, "Stringer", "stop={first}")
    rank = idx + 1.0
    x = np.stack([-np.log(rank), np.ones_like(rank)], axis=1)
    w = 1.0 / rank
    b = np.linalg.solve(x.T @ (x * w[:, None]), (x * w[:, None]).T @ y)
    allrank = np.arange(1, ss.size + 1.0)
    fitted = np.exp(b[0] * -np.log(allrank) + b[1])
    return float(b[0]), fitted


def ols_range(size: int, low: float = 0.05, high: float = 0.5) -> np.ndarray:
    """The indices low·N < i < high·N that :func:`fit_ols` fits."""
    i = np.arange(size)
    idx = i[(i > low * size) & (i < high * size)]
    if idx.size < 2:
        raise ValueError(f"the OLS fit needs at least 2 values in {low}·N < i < {high}·N; "
                         f"the spectrum has {size} values")
    return idx


def fit_ols(var: Real[ArrayLike, " r"], low=0.05, high=0.5) -> tuple[float, Float[np.ndarray, " r"]]:
    """The seed code: OLS of log var on log rank over indices low·N < i < high·N; α = -slope.
    Returns (alpha, fitted [r]). Values <= 0 in the range are refused (they have no log)."""
    var = np.asarray(var, np.float64)
    check_finite(var, "spectrum", rows="rank")
    i = np.arange(var.size)
    idx = ols_range(var.size, low, high)
    y = _log_in_range(var, idx, "OLS", "high={first}/{n}")
    slope, intercept = np.polyfit(np.log(idx + 1.0), y, 1)
    fitted = np.exp(intercept + slope * np.log(i + 1.0))
    return float(-slope), fitted


# A single power law misdescribes the fitted range when the best broken power law leaves at
# most this share of its residual and the two exponents differ by at least this much ...
BREAK_RSS_RATIO = 0.25
BREAK_SLOPE_CHANGE = 0.5
# ... or when the single fit explains less than this share of the log-log variance.
POOR_R2 = 0.9


class PowerLawCheck(NamedTuple):
    """A single power law against the best broken (two-segment) one over the same ranks.

    alpha: the single fit's exponent (as :func:`fit_ols`); r2: its R² in log-log;
    break_rank: the rank where the best broken power law bends; alpha_before / alpha_after:
    its exponents below and above that rank; rss_ratio: its residual sum of squares over the
    single fit's; broken: the single power law misdescribes the range (a break, or R² below
    :data:`POOR_R2`); first_rank, last_rank: the fitted ranks. The break fields are NaN where
    the range is too short to split.
    """

    alpha: float
    r2: float
    break_rank: float
    alpha_before: float
    alpha_after: float
    rss_ratio: float
    broken: bool
    first_rank: int
    last_rank: int

    @property
    def warning(self) -> str:
        """One sentence for a report when ``broken``, else ""."""
        if not self.broken:
            return ""
        text = (f"a single power law fits ranks {self.first_rank}-{self.last_rank} poorly "
                f"(R² = {self.r2:.3f})")
        if np.isfinite(self.break_rank):
            text += (f": it bends at rank {self.break_rank:.0f} (α = {self.alpha_before:.2f} below, "
                     f"{self.alpha_after:.2f} above; the broken law leaves {self.rss_ratio:.0%} of "
                     f"the residual), so α = {self.alpha:.2f} is fitted across the bend")
        return text


def power_law_break(var, low=0.05, high=0.5, min_points=3) -> PowerLawCheck:
    """Is :func:`fit_ols`'s power law fitted across a break? (METHODS.md §4.6, Fig. 11).

    Fits log var on log rank over fit_ols's indices low·N < i < high·N twice: one line, and
    the best continuous two-segment line (a hinge at each fitted rank in turn, at least
    ``min_points`` points per segment, least squares). The range is flagged when the hinge
    leaves at most :data:`BREAK_RSS_RATIO` of the line's residual and the two exponents differ
    by at least :data:`BREAK_SLOPE_CHANGE`, or when the line's R² is below :data:`POOR_R2`.

    Args:
      var: [r] eigenspectrum, largest first.
    """
    var = np.asarray(var, np.float64)
    check_finite(var, "spectrum", rows="rank")
    idx = ols_range(var.size, low, high)
    y = _log_in_range(var, idx, "OLS", "high={first}/{n}")
    x = np.log(idx + 1.0)
    ranks = (int(idx[0] + 1), int(idx[-1] + 1))
    slope, intercept = np.polyfit(x, y, 1)
    rss = float(np.sum((y - (intercept + slope * x)) ** 2))
    tss = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - rss / tss if tss > 0 else 1.0
    knots = np.arange(min_points - 1, x.size - min_points + 1)
    if knots.size == 0:
        nan = float("nan")
        return PowerLawCheck(float(-slope), r2, nan, nan, nan, nan, bool(r2 < POOR_R2), *ranks)
    # one design [1, x, max(x - x_knot, 0)] per candidate knot: [J, n, 3], solved at once
    design = np.stack([np.ones((knots.size, x.size)), np.broadcast_to(x, (knots.size, x.size)),
                       np.maximum(x[None] - x[knots, None], 0.0)], axis=-1)
    gram = np.einsum("jni,jnk->jik", design, design)
    beta = np.linalg.solve(gram, np.einsum("jni,n->ji", design, y)[..., None])[..., 0]
    rss_knots = np.sum((y[None] - np.einsum("jni,ji->jn", design, beta)) ** 2, axis=1)
    best = int(np.argmin(rss_knots))
    before, after = -beta[best, 1], -(beta[best, 1] + beta[best, 2])
    ratio = float(rss_knots[best] / rss) if rss > 0 else 1.0
    broken = (ratio <= BREAK_RSS_RATIO and abs(after - before) >= BREAK_SLOPE_CHANGE) or r2 < POOR_R2
    return PowerLawCheck(float(-slope), r2, float(idx[knots[best]] + 1), float(before), float(after),
                         ratio, bool(broken), *ranks)


def critical_exponent(d: int = 32 * 32 * 3) -> float:
    """α_c = 1 + 2/d for d-dimensional stimuli."""
    return 1.0 + 2.0 / d


def augment(key, images, pad=4):
    """Train-style augmentation of [n, h, w, c] images: a random crop after zero padding by
    ``pad`` (torchvision's RandomCrop(32, padding=4)) and a random horizontal flip."""
    if getattr(images, "ndim", None) != 4:
        raise ValueError(f"images must be [n, h, w, c] (NHWC), got shape "
                         f"{getattr(images, 'shape', None)}; add a batch axis with images[None]")
    check_finite(images, "images", cols="pixel row")
    n, h, w, _ = images.shape
    k_crop, k_flip = jax.random.split(key)
    padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    offs = jax.random.randint(k_crop, (n, 2), 0, 2 * pad + 1)
    crop = jax.vmap(lambda im, o: jax.lax.dynamic_slice(im, (o[0], o[1], 0), (h, w, im.shape[-1])))
    out = crop(padded, offs)
    flip = jax.random.bernoulli(k_flip, 0.5, (n, 1, 1, 1))
    return jnp.where(flip, out[:, :, ::-1], out)
