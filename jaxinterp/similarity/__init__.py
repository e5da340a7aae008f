"""Image similarities (higher = more similar) as per-image features + pairwise kernels."""

from jaxinterp.similarity.base import Similarity, matrix, take
from jaxinterp.similarity.colour import colour, mean_colour, pairwise_colour
from jaxinterp.similarity.label import label, label_features, pairwise_label

METRICS = {"colour": colour, "label": label}


def get(name: str) -> Similarity:
    """A metric by name; unknown names list the known ones."""
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown similarity {name!r}; known: {', '.join(sorted(METRICS))}") from None


__all__ = [
    "METRICS",
    "Similarity",
    "colour",
    "get",
    "label",
    "label_features",
    "matrix",
    "mean_colour",
    "pairwise_colour",
    "pairwise_label",
    "take",
]
