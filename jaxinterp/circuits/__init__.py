"""Circuits toolkit (Olah et al. 2020; METHODS.md §6). Universality: how alike two models'
layers and units are — CKA (linear, RBF; unbiased HSIC; streamed all pairs), SVCCA, PWCCA,
mutual k-NN alignment and unit matching — and the ``jaxinterp compare`` analysis."""

from jaxinterp.circuits import cca, cka, cka_pairs, knn, matching, stack, universality
from jaxinterp.circuits.cca import canonical_correlations, cca_all_pairs, pwcca, svcca
from jaxinterp.circuits.cka import (
    cka_from_grams,
    gram_linear,
    gram_rbf,
    hsic,
    linear_cka,
    rbf_cka,
)
from jaxinterp.circuits.cka_pairs import (
    LinearCKAStats,
    LinearPlan,
    cka_all_pairs,
    linear_init,
    linear_plan,
    linear_result,
    linear_update,
)
from jaxinterp.circuits.knn import mutual_knn, mutual_knn_all_pairs, neighbours
from jaxinterp.circuits.matching import (
    Matching,
    match_hungarian,
    match_max,
    mutual_best,
    unit_correlations,
)
from jaxinterp.circuits.universality import compare, default_layers, save

# tuning curves (issue #13, helper A)
from jaxinterp.circuits import tuning
from jaxinterp.circuits.tuning import (
    activation_stats,
    joint_tuning,
    preferred_orientation,
    responses,
    rotate,
    rotation_tuning,
    stimulus_tuning,
)

__all__ = [
    "LinearCKAStats",
    "LinearPlan",
    "Matching",
    "canonical_correlations",
    "cca",
    "cca_all_pairs",
    "cka",
    "cka_all_pairs",
    "cka_from_grams",
    "cka_pairs",
    "compare",
    "default_layers",
    "gram_linear",
    "gram_rbf",
    "hsic",
    "knn",
    "linear_cka",
    "linear_init",
    "linear_plan",
    "linear_result",
    "linear_update",
    "match_hungarian",
    "match_max",
    "matching",
    "mutual_best",
    "mutual_knn",
    "mutual_knn_all_pairs",
    "neighbours",
    "pwcca",
    "rbf_cka",
    "save",
    "stack",
    "svcca",
    "unit_correlations",
    "universality",
    # tuning curves (issue #13, helper A)
    "activation_stats",
    "joint_tuning",
    "preferred_orientation",
    "responses",
    "rotate",
    "rotation_tuning",
    "stimulus_tuning",
    "tuning",
]

# --- expanded weights and equivariance (issue #13, helper "weights") ---
from jaxinterp.circuits import decomposed, equivariance, expanded  # noqa: E402
from jaxinterp.door import cut  # noqa: E402
from jaxinterp.door.cut import average_pool, check_cut, linear_mode, linearized, subnetwork  # noqa: E402
from jaxinterp.circuits.decomposed import decomposed_objective  # noqa: E402
from jaxinterp.circuits.equivariance import (  # noqa: E402
    align_peaks,
    binned_fit,
    families,
    rotate_map,
    rotated_weights_correlation,
)
from jaxinterp.circuits.expanded import (  # noqa: E402
    connection_matrix,
    expanded_weights,
    top_connections,
    window_origin,
)

__all__ += [
    "align_peaks",
    "average_pool",
    "binned_fit",
    "check_cut",
    "connection_matrix",
    "cut",
    "decomposed",
    "decomposed_objective",
    "equivariance",
    "expanded",
    "expanded_weights",
    "families",
    "linear_mode",
    "linearized",
    "rotate_map",
    "rotated_weights_correlation",
    "subnetwork",
    "top_connections",
    "window_origin",
]

# --- dataset examples and orientation selectivity (issue #13, helper "report") ---
from jaxinterp.circuits import examples, selectivity  # noqa: E402
from jaxinterp.circuits.examples import (  # noqa: E402
    LayerExamples,
    Maxima,
    TopPositions,
    exemplar_rotation_tuning,
    image_maxima,
    layer_examples,
    preactivation_summary,
    preactivations,
    quilt,
    recentre,
    rf_crops,
    select_top,
    top_positions,
)
from jaxinterp.circuits.selectivity import orientation_selectivity  # noqa: E402

__all__ += [
    "LayerExamples",
    "Maxima",
    "TopPositions",
    "examples",
    "exemplar_rotation_tuning",
    "image_maxima",
    "layer_examples",
    "orientation_selectivity",
    "preactivation_summary",
    "preactivations",
    "quilt",
    "recentre",
    "rf_crops",
    "select_top",
    "selectivity",
    "top_positions",
]
