"""Model-feature similarity: LPIPS's distance on any registered model's layers, uniform weights.

For when no ImageNet backbone is at hand: s = -Σ_l mean_{h,w} Σ_c (ŷ_l - ŷ'_l)²,
ŷ the channel-unit-normalised activations of ``layers`` of a jaxinterp model
(:mod:`.perceptual`). Images are [n, h, w, c] in [0, 1] and are normalised with
the model's own ``MEAN``/``STD`` first.
"""

from __future__ import annotations

from typing import Any, Sequence

from jaxinterp.similarity.base import Similarity
from jaxinterp.similarity.perceptual import perceptual_similarity, range_checker
from jaxinterp.similarity.taps import truncated_taps


def model_features(
    model: Any,
    variables: Any,
    layers: Sequence[str],
    *,
    normalize: bool = True,
    chunk: int = 128,
) -> Similarity:
    """The model-feature similarity of ``layers`` of ``model``.

    Args:
      model: an :class:`~jaxinterp.models.ImageModel` or a registered name (``"small_cnn_rgb"``).
      variables: its Flax variables.
      layers: PyTorch-style layer names (``jaxinterp.door.layer_names`` lists them).
      normalize: apply ``model.normalize`` to the [0, 1] images first.
      chunk: images per forward pass while featurising.

    Returns:
      ``Similarity("features_<model>", ...)`` with per-layer values and exact pair kernels.
    """
    from jaxinterp import models

    if isinstance(model, str):
        model = models.get(model)
    layers = tuple(layers)
    if not layers:
        raise ValueError(
            "model_features needs at least one layer, e.g. layers=['relu1', 'relu2']; "
            "jaxinterp.door.layer_names(model, variables, shape) lists them"
        )
    from jaxinterp import door

    size = model.INPUT_SIZE or 32  # layer names do not depend on the input size: check them now
    door.graph(model, variables, (size, size, model.IN_CHANNELS)).check(layers)
    preprocess = model.normalize if normalize else (lambda x: x)
    label = type(model).__name__.lower()
    return perceptual_similarity(
        f"features_{label}", truncated_taps(model, layers), variables, None, preprocess, layers,
        range_checker(0.0, 1.0, "model_features expects [0, 1] images and normalises them itself"),
        in_channels=model.IN_CHANNELS, chunk=chunk,
    )
