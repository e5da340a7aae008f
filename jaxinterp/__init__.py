"""jaxinterp: interpretability of convolutional vision networks in JAX/Flax."""

from jaxinterp import directions, models, parallel, scores, similarity
from jaxinterp._version import __version__
from jaxinterp.checkpoint import load_variables, save_variables

__all__ = [
    "__version__",
    "directions",
    "load_variables",
    "models",
    "parallel",
    "save_variables",
    "scores",
    "similarity",
]
