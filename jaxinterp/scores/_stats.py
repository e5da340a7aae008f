"""Statistics that summarise scores against one another (numpy; small vectors): the one Spearman
of the package, Pearson with it, and multiple-comparison adjustments of p values."""

from __future__ import annotations

import numpy as np
from scipy import stats


def _finite_pairs(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"correlations need two vectors of one length, got {x.shape} and {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def ranks(x) -> np.ndarray:
    """[n] -> [n] ranks 1..n; tied values share the mean of their ranks."""
    x = np.asarray(x, float)
    order = np.argsort(x, kind="stable")
    first = np.r_[True, x[order][1:] != x[order][:-1]]  # the start of each run of equal values
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], x.size]
    out = np.empty(x.size)
    out[order] = ((starts + ends + 1) / 2)[np.cumsum(first) - 1]
    return out


def spearman(x, y) -> dict | None:
    """Spearman's ρ of two [k] vectors over their finite pairs: ``{"rho", "p", "n"}``.

    ρ is the Pearson correlation of the ranks (ties averaged); p is two-sided, from Student's t
    with n - 2 degrees of freedom (as ``scipy.stats.spearmanr``). None when it is undefined:
    fewer than 3 finite pairs or a constant vector.
    """
    x, y = _finite_pairs(x, y)
    n = int(x.size)
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    rx, ry = ranks(x) - (n + 1) / 2, ranks(y) - (n + 1) / 2
    rho = float(np.clip(rx @ ry / np.sqrt((rx @ rx) * (ry @ ry)), -1.0, 1.0))
    if abs(rho) == 1.0:
        return {"rho": rho, "p": 0.0, "n": n}
    t = rho * np.sqrt((n - 2) / ((1.0 - rho) * (1.0 + rho)))
    return {"rho": rho, "p": float(2 * stats.t.sf(abs(t), n - 2)), "n": n}


def spearman_matrix(columns) -> np.ndarray:
    """[n, c] -> [c, c] Spearman ρ of every pair of columns over the rows where both are finite
    (NaN where undefined; 1 on the diagonal of a column that varies)."""
    columns = np.asarray(columns, float)
    c = columns.shape[1]
    out = np.full((c, c), np.nan)
    for i in range(c):  # a few summary measures: c(c-1)/2 small rank correlations
        for j in range(i, c):
            s = spearman(columns[:, i], columns[:, j])
            out[i, j] = out[j, i] = np.nan if s is None else s["rho"]
    return out


def correlations(x, y) -> dict:
    """Pearson and Spearman correlations of two [k] vectors with p-values (NaNs dropped)."""
    x, y = _finite_pairs(x, y)
    s = spearman(x, y)
    if s is None or np.std(x) == 0 or np.std(y) == 0:
        nan = float("nan")
        return {"pearson": nan, "pearson_p": nan, "spearman": nan, "spearman_p": nan, "n": int(x.size)}
    p = stats.pearsonr(x, y)
    return {"pearson": float(p[0]), "pearson_p": float(p[1]), "spearman": s["rho"],
            "spearman_p": s["p"], "n": s["n"]}


def adjusted_p(p) -> tuple[np.ndarray, np.ndarray]:
    """Holm (family-wise error) and Benjamini-Hochberg (false discovery rate) adjusted p values
    of the [m] p values ``p`` (NaN entries are left out of the family and stay NaN)."""
    p = np.asarray(p, float)
    holm, bh = np.full_like(p, np.nan), np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return holm, bh
    order = ok[np.argsort(p[ok], kind="stable")]
    ranked = p[order]
    rank = np.arange(1, m + 1)
    holm[order] = np.minimum(1.0, np.maximum.accumulate((m - rank + 1) * ranked))
    bh[order] = np.minimum(1.0, np.minimum.accumulate((m / rank * ranked)[::-1])[::-1])
    return holm, bh


def mean_sem(x, axis=None) -> tuple[np.ndarray | np.floating, np.ndarray]:
    """Mean and standard error of the mean over the finite values of ``x`` along ``axis``:
    s.d. (ddof=1) / √n. The mean is NaN where no value is finite, the s.e.m. where n < 2."""
    import warnings

    x = np.asarray(x, float)
    n = np.sum(np.isfinite(x), axis=axis)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: NaN is the answer
        mean = np.nanmean(x, axis=axis)
        sd = np.nanstd(x, axis=axis, ddof=1) if np.any(n > 1) else np.full(np.shape(n), np.nan)
        return mean, np.where(n > 1, sd / np.sqrt(np.maximum(n, 1)), np.nan)
