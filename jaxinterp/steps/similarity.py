"""Similarities named in configs, and their per-image features (computed once per process).

``SimilaritySpec("colour")``, ``("label")``, ``("l2")`` need nothing else;
``("features", model=ModelSpec, layers=(...))`` is the model-feature similarity of
those layers; ``("lpips", backbone=path, lin=path)`` LPIPS from its weight files.
"""

from __future__ import annotations

import dataclasses
import functools

from jaxinterp.steps.specs import DataSpec, ModelSpec, images01, load_data, load_model

NAMES = ("colour", "label", "l2", "features", "lpips")


@dataclasses.dataclass(frozen=True)
class SimilaritySpec:
    name: str
    model: ModelSpec | None = None
    layers: tuple = ()
    backbone: str | None = None
    lin: str | None = None

    def __post_init__(self):
        if self.name not in NAMES:
            raise ValueError(f"unknown similarity {self.name!r}; choose one of {', '.join(NAMES)}")
        if self.name == "features" and (self.model is None or not self.layers):
            raise ValueError("the 'features' similarity needs model=ModelSpec(...) and layers=('layer1', ...)")
        if self.name == "lpips" and not (self.backbone and self.lin):
            raise ValueError("the 'lpips' similarity needs backbone= (AlexNet weights) and lin= "
                             "(alex.pth of the lpips package)")


@functools.lru_cache(maxsize=8)
def build(spec: SimilaritySpec):
    """The :class:`~jaxinterp.similarity.Similarity` of ``spec``."""
    from jaxinterp import similarity

    if spec.name in similarity.METRICS:
        return similarity.METRICS[spec.name]
    if spec.name == "features":
        model, variables = load_model(spec.model)
        return similarity.model_features(model, variables, list(spec.layers))
    from converters.lpips_weights import lpips_from_files

    return lpips_from_files(spec.backbone, spec.lin)


@functools.lru_cache(maxsize=8)
def features(spec: SimilaritySpec, data: DataSpec):
    """``build(spec).featurize`` of every image of ``data`` (cached in this process)."""
    import jax.numpy as jnp

    _, labels = load_data(data)
    if spec.name == "label" and labels is None:
        raise ValueError(f"the label similarity needs labels; {data.path} has none")
    return build(spec).featurize(jnp.asarray(images01(data)),
                                 None if labels is None else jnp.asarray(labels))
