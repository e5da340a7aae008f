"""Scores of directions: the Interpretability Index and (later) psychophysics, synergy, ..."""

from jaxinterp.scores.ii import (
    interpretability_index,
    interpretability_index_all,
    interpretability_index_from_matrix,
    top_exemplars,
)

__all__ = [
    "interpretability_index",
    "interpretability_index_all",
    "interpretability_index_from_matrix",
    "top_exemplars",
]
