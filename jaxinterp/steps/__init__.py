"""Reusable tasks: capture, direction fits, similarity features, scores; and the specs they read.

Recipes (``paper``, ``roles``) and sweeps are graphs of these::

    data = steps.data_spec("cifar_test.npz")
    model = steps.model_spec("cifar_resnet20", "r20")
    acts = steps.capture_task(model, data, "layer1")
    km = steps.fit_task(acts, "kmeans", k=64, seed=0)
    ii = steps.ii_task(km, steps.SimilaritySpec("colour"), data)
"""

from jaxinterp.steps.capture import CaptureConfig, capture_task
from jaxinterp.steps.directions import FitConfig, draws_random, fit_group, fit_task, fit_together, vectors
from jaxinterp.steps.keys import key_of
from jaxinterp.steps.scores import IIConfig, ii_task
from jaxinterp.steps.similarity import SimilaritySpec
from jaxinterp.steps.similarity import build as build_similarity
from jaxinterp.steps.similarity import features as similarity_features
from jaxinterp.steps.specs import (
    DataSpec,
    ModelSpec,
    check_data_for_model,
    data_spec,
    fingerprint,
    images01,
    load_data,
    load_model,
    model_spec,
    open_source,
)

__all__ = [
    "CaptureConfig",
    "DataSpec",
    "FitConfig",
    "IIConfig",
    "ModelSpec",
    "SimilaritySpec",
    "build_similarity",
    "capture_task",
    "check_data_for_model",
    "data_spec",
    "draws_random",
    "fingerprint",
    "fit_group",
    "fit_task",
    "fit_together",
    "ii_task",
    "images01",
    "key_of",
    "load_data",
    "load_model",
    "model_spec",
    "open_source",
    "similarity_features",
    "vectors",
]
