"""Image similarities (higher = more similar) as per-image features + pairwise kernels."""

from jaxinterp.similarity.base import Similarity, matrix, take
from jaxinterp.similarity.blockwise import all_pairs, matrix_blocked, nearest_neighbours, pair_values
from jaxinterp.similarity.colour import colour, colour_features, mean_colour, pairwise_colour
from jaxinterp.similarity.features import model_features
from jaxinterp.similarity.l2 import l2, paired_l2, pairwise_l2, pixels
from jaxinterp.similarity.label import label, label_features, pairwise_label
from jaxinterp.similarity.lpips import init_backbone, lpips, lpips_input, scaling_layer
from jaxinterp.similarity.perceptual import (
    RangeWarning,
    paired_perceptual,
    paired_perceptual_layers,
    pairwise_perceptual,
    pairwise_perceptual_layers,
)

# Metrics that need no weights. LPIPS and model features are built by their
# constructors, lpips(variables, lin_weights, net=...) and model_features(model, variables, layers).
METRICS = {"colour": colour, "label": label, "l2": l2}
CONSTRUCTORS = {"lpips": lpips, "features": model_features}


def get(name: str) -> Similarity:
    """A metric by name; unknown names list the known ones."""
    try:
        return METRICS[name]
    except KeyError:
        if name in CONSTRUCTORS:
            raise ValueError(
                f"the {name!r} similarity needs weights; build it with "
                f"jaxinterp.similarity.{CONSTRUCTORS[name].__name__}(...)"
            ) from None
        raise ValueError(f"unknown similarity {name!r}; known: {', '.join(sorted(METRICS))}") from None


__all__ = [
    "CONSTRUCTORS",
    "METRICS",
    "RangeWarning",
    "Similarity",
    "all_pairs",
    "colour",
    "colour_features",
    "get",
    "l2",
    "label",
    "label_features",
    "init_backbone",
    "lpips",
    "lpips_input",
    "matrix",
    "matrix_blocked",
    "mean_colour",
    "model_features",
    "nearest_neighbours",
    "pair_values",
    "paired_l2",
    "paired_perceptual",
    "paired_perceptual_layers",
    "pairwise_colour",
    "pairwise_l2",
    "pairwise_label",
    "pairwise_perceptual",
    "pairwise_perceptual_layers",
    "pixels",
    "scaling_layer",
    "take",
]
