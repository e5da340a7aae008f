"""Input checks shared by the direction fits."""

from __future__ import annotations

import numpy as np


def check_acts(acts, name: str = "acts") -> None:
    """``acts`` must be a finite [n_samples, n_features] float array."""
    shape = getattr(acts, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(
            f"{name} must be a 2-D array [n_samples, n_features], got shape {shape}; "
            "capture with aggregation='mean' or 'center', or reshape to (-1, channels)"
        )
    if shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {shape}); pass at least one sample")
    if not np.all(np.isfinite(np.asarray(acts))):
        bad = int(np.size(acts) - np.count_nonzero(np.isfinite(np.asarray(acts))))
        raise ValueError(
            f"{name} contains {bad} NaN or inf value(s); drop or impute them before fitting"
        )
