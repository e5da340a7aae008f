"""Correlations used to summarise scores against one another (numpy; small vectors)."""

from __future__ import annotations

import numpy as np
from scipy import stats


def correlations(x, y) -> dict:
    """Pearson and Spearman correlations of two [k] vectors with p-values (NaNs dropped)."""
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"correlations need two vectors of one length, got {x.shape} and {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 3 or np.std(x) == 0 or np.std(y) == 0:
        nan = float("nan")
        return {"pearson": nan, "pearson_p": nan, "spearman": nan, "spearman_p": nan, "n": int(x.size)}
    p = stats.pearsonr(x, y)
    s = stats.spearmanr(x, y)
    return {"pearson": float(p[0]), "pearson_p": float(p[1]), "spearman": float(s[0]),
            "spearman_p": float(s[1]), "n": int(x.size)}
