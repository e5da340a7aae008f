"""Flax CNNs with PyTorch layer names, their input conventions, and a registry."""

from jaxinterp.models.base import ImageModel, ReLU, forward, init, layer_names, layer_shapes
from jaxinterp.models.registry import get, names, register
from jaxinterp.models.small_cnn import SmallCNN, SmallCNNRGB

__all__ = [
    "ImageModel",
    "ReLU",
    "SmallCNN",
    "SmallCNNRGB",
    "forward",
    "get",
    "init",
    "layer_names",
    "layer_shapes",
    "names",
    "register",
]
