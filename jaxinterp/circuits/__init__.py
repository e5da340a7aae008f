"""Circuits toolkit (Olah et al. 2020; METHODS.md §6): dataset examples, tuning, selectivity,
expanded weights, decomposed feature visualisation and equivariance. (Universality, the
comparison of two models, is its own package: :mod:`jaxinterp.universality`.)"""

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
    rf_heat,
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
    "rf_heat",
    "select_top",
    "selectivity",
    "top_positions",
]
