"""Exploratory role labels from the per-neuron measures (METHODS.md §5, "Reporting").

The forum post's hypothesis, not a validated result: *representational* =
high linearity fraction, low mixed entropy, high II; *pass-along* = axis focus
above 0.5; *transforming* = low linearity fraction, high mixed entropy.
"High" and "low" are relative to the layer: the halves at or above / at or below
the median over its neurons for representational, strictly below / above for
transforming (so a perfectly linear neuron tied at LF = 1 is never transforming).
A neuron can carry no label ("unlabelled") or, for pass-along and one of the
others, two.
"""

from __future__ import annotations

import numpy as np

EXPLORATORY_NOTE = (
    "Role labels are exploratory: they apply the forum post's untested hypothesis "
    "(METHODS.md §5) with median thresholds over this layer's neurons; there is no "
    "published result to compare with."
)


def role_labels(
    lf: np.ndarray,
    h_mix: np.ndarray,
    axis_focus: np.ndarray,
    ii: np.ndarray | None = None,
    focus_threshold: float = 0.5,
) -> list[str]:
    """One label string per neuron ("representational", "pass-along", "transforming",
    combinations joined by "+", or "unlabelled").

    Args:
      lf: [N] linearity fractions; h_mix: [N] mixed entropies; axis_focus: [N];
      ii: [N] interpretability indices (optional; without it representational
        needs only high LF and low H_mix).
    """
    lf, h_mix, axis_focus = (np.asarray(a, float) for a in (lf, h_mix, axis_focus))
    if not (lf.shape == h_mix.shape == axis_focus.shape) or lf.ndim != 1:
        raise ValueError(
            f"lf, h_mix and axis_focus must be [N] with the same N, got {lf.shape}, "
            f"{h_mix.shape}, {axis_focus.shape}"
        )
    # "High" and "low" are halves that include the median: a tie with the median (common,
    # since LF saturates at 1 for every exactly linear neuron) counts with the upper LF half
    # and the lower H_mix half. Transforming needs strictly low LF and strictly high H_mix,
    # so the two roles stay disjoint and a NaN measure gives neither.
    lf_med, h_med = np.nanmedian(lf), np.nanmedian(h_mix)
    rep = (lf >= lf_med) & (h_mix <= h_med)
    if ii is not None:
        ii = np.asarray(ii, float)
        if ii.shape != lf.shape:
            raise ValueError(f"ii must be [N] like lf, got {ii.shape} and {lf.shape}; pass one "
                             "interpretability index per neuron, or ii=None")
        rep &= ii >= np.nanmedian(ii)
    trans = (lf < lf_med) & (h_mix > h_med)
    passing = axis_focus > focus_threshold
    labels = []
    for r, t, p in zip(rep, trans, passing):
        parts = [name for name, on in (("representational", r), ("transforming", t), ("pass-along", p)) if on]
        labels.append("+".join(parts) or "unlabelled")
    return labels
