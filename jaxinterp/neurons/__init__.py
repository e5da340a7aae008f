"""Per-neuron role measures (METHODS.md §5): linearity, Jacobians, saliency,
information, entropy and expanded-weight spectra for every neuron of a layer at once."""

from jaxinterp.neurons import channel_gradients, winograd
from jaxinterp.neurons.information import (
    binned_entropy,
    binned_entropy_all,
    entropy_kl,
    entropy_kl_all,
    mi_binned,
    mi_binned_all,
    mi_knn,
    mi_knn_all,
    mi_ksg,
    mi_ksg_all,
    mixed_entropy,
    mixed_entropy_all,
)
from jaxinterp.neurons.jacobian import jacobian_stats, jacobian_stats_all, jacobian_stats_of, jacobians
from jaxinterp.neurons.levels import (
    Level,
    design_matrix,
    level_outputs,
    make_level,
    project,
    project_level,
    receptive_field,
    sample_positions,
    targets,
)
from jaxinterp.neurons.linearity import (
    MLPFit,
    RidgeFit,
    Split,
    linearity_fraction,
    mlp_ceiling,
    ridge_cv,
    split,
)
from jaxinterp.neurons.measure import image_measures, level_measures, top_components
from jaxinterp.neurons.resnet_levels import pixel_level, resnet_levels
from jaxinterp.neurons.roles import EXPLORATORY_NOTE, role_labels
from jaxinterp.neurons.saliency import concentration, input_gradients, saliency_maps, saliency_summary
# model cuts live in jaxinterp.door (one way of cutting a model)
from jaxinterp.door.cut import linearized, subnetwork
from jaxinterp.neurons.weights import expanded_weights, spectrum_stats, spectrum_stats_all, window_matrix

__all__ = [
    "EXPLORATORY_NOTE",
    "Level",
    "MLPFit",
    "RidgeFit",
    "Split",
    "binned_entropy",
    "channel_gradients",
    "binned_entropy_all",
    "concentration",
    "design_matrix",
    "entropy_kl",
    "entropy_kl_all",
    "expanded_weights",
    "image_measures",
    "input_gradients",
    "jacobian_stats",
    "jacobian_stats_all",
    "jacobian_stats_of",
    "jacobians",
    "level_measures",
    "level_outputs",
    "linearity_fraction",
    "linearized",
    "make_level",
    "mi_binned",
    "mi_binned_all",
    "mi_knn",
    "mi_knn_all",
    "mi_ksg",
    "mi_ksg_all",
    "mixed_entropy",
    "mixed_entropy_all",
    "mlp_ceiling",
    "pixel_level",
    "project",
    "project_level",
    "receptive_field",
    "resnet_levels",
    "ridge_cv",
    "role_labels",
    "saliency_maps",
    "saliency_summary",
    "sample_positions",
    "spectrum_stats",
    "spectrum_stats_all",
    "split",
    "subnetwork",
    "targets",
    "top_components",
    "window_matrix",
    "winograd",
]
