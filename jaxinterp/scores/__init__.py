"""Scores of directions (METHODS.md §2–4): the Interpretability Index, in-silico
psychophysics, agreement with human data, synergy, sensitivity, sparse manifold,
co-activation and the power-law spectrum. One file per concept; every kernel is
vectorised over directions or pairs and chunked."""

from jaxinterp.scores import (
    coactivation,
    human,
    ii,
    manifold,
    psychophysics,
    sensitivity,
    spectrum,
    synergy,
)
from jaxinterp.scores._stats import correlations
from jaxinterp.scores.human import agreement, evidence_margin, load_responses, roc_auc
from jaxinterp.scores.ii import (
    cross_interpretability_index,
    interpretability_index,
    interpretability_index_all,
    interpretability_index_from_matrix,
    top_exemplars,
    top_exemplars_all,
)
from jaxinterp.scores.psychophysics import (
    PsychophysicsResult,
    PsychophysicsScores,
    hard_accuracy,
    psychophysics_curve,
    psychophysics_scores,
    unit_discrimination,
)
from jaxinterp.scores.sensitivity import gradient_norms, hungarian_pairs, path_ii
from jaxinterp.scores.spectrum import PowerLawCheck, fit_ols, fit_stringer, power_law_break
from jaxinterp.scores.synergy import SimilarityLookup, SynergyResult, candidate_lookup

__all__ = [
    "PsychophysicsResult",
    "SimilarityLookup",
    "SynergyResult",
    "agreement",
    "candidate_lookup",
    "coactivation",
    "correlations",
    "cross_interpretability_index",
    "evidence_margin",
    "fit_ols",
    "fit_stringer",
    "gradient_norms",
    "human",
    "hungarian_pairs",
    "ii",
    "interpretability_index",
    "interpretability_index_all",
    "interpretability_index_from_matrix",
    "load_responses",
    "manifold",
    "path_ii",
    "power_law_break",
    "PowerLawCheck",
    "psychophysics",
    "psychophysics_curve",
    "psychophysics_scores",
    "PsychophysicsScores",
    "hard_accuracy",
    "roc_auc",
    "sensitivity",
    "spectrum",
    "synergy",
    "top_exemplars",
    "top_exemplars_all",
    "unit_discrimination",
]
