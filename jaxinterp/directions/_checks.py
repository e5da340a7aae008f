"""Input checks shared by the direction fits: errors say what was expected, what arrived, the fix."""

from __future__ import annotations

import numpy as np


def check_acts(acts, name: str = "acts", finite: bool = True) -> None:
    """``acts`` must be a finite [n_samples, n_features] float array.

    ``finite=False`` checks the shape only, for a caller that proves finiteness
    itself from a sum it computes anyway (a finite sum means finite values).
    """
    shape = getattr(acts, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(
            f"{name} must be a 2-D array [n_samples, n_features], got shape {shape}; "
            "capture with position='mean' or 'centre', or reshape to (-1, channels)"
        )
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {shape}); pass at least one sample and feature")
    if not finite:
        return
    values = np.asarray(acts)
    # a finite sum proves every value finite (NaN and inf propagate); only an overflowing
    # or non-finite sum needs the elementwise pass, which costs a bool array as large as acts
    if np.issubdtype(values.dtype, np.floating) and np.isfinite(np.sum(values)):
        return
    finite = np.isfinite(values)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        raise ValueError(
            f"{name} contains {bad} NaN or inf value(s); drop or impute them before fitting, "
            "e.g. acts[np.isfinite(acts).all(axis=1)]"
        )


def check_k(k: int, n_samples: int, n_features: int | None = None, what: str = "k") -> None:
    """``1 <= k <= n_samples`` (and ``<= n_features`` when given: PCA, ICA)."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise ValueError(f"{what} must be an int, got {k!r}")
    if not 1 <= k <= n_samples:
        raise ValueError(
            f"{what} must be between 1 and the number of samples ({n_samples}), got {what}={k}; "
            "use fewer directions or more samples"
        )
    if n_features is not None and k > n_features:
        raise ValueError(
            f"{what} must be at most the number of features ({n_features}), got {what}={k}; "
            "a linear basis has at most n_features directions (use kmeans or sae for overcomplete sets)"
        )


def check_nonnegative(acts, name: str = "acts") -> None:
    """NMF needs ``acts >= 0`` (raw post-ReLU activations, not centred or unit-normed ones)."""
    low = float(np.min(np.asarray(acts)))
    if low < 0:
        raise ValueError(
            f"{name} must be nonnegative for NMF, got a minimum of {low:.4g}; fit NMF on raw "
            "post-ReLU activations (METHODS §1.4), or clip with np.maximum(acts, 0)"
        )


def check_choice(value, choices, name: str) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
