"""Model-feature similarity: a numpy re-implementation on a registered model's activations."""

from __future__ import annotations

import numpy as np
import pytest

from jaxinterp import door, models
from jaxinterp import similarity as sim

LAYERS = ("relu1", "relu3", "pool")


def numpy_distances(acts_a, acts_b):
    """[a, b, L] distances: mean over positions of Σ_c (ŷ - ŷ')², one pair at a time."""
    out = np.zeros((len(acts_a[0]), len(acts_b[0]), len(acts_a)))
    for l, (A, B) in enumerate(zip(acts_a, acts_b)):
        A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
        if A.ndim == 2:
            A, B = A[:, None, None], B[:, None, None]
        A = A / (np.sqrt((A**2).sum(-1, keepdims=True)) + 1e-10)
        B = B / (np.sqrt((B**2).sum(-1, keepdims=True)) + 1e-10)
        for i in range(len(A)):
            for j in range(len(B)):
                out[i, j, l] = ((A[i] - B[j]) ** 2).sum(-1).mean()
    return out


def test_model_features_match_numpy(key, rng):
    model = models.get("small_cnn_rgb")
    variables = models.init(model, key)
    a = rng.uniform(size=(4, 32, 32, 3)).astype(np.float32)
    b = rng.uniform(size=(3, 32, 32, 3)).astype(np.float32)
    acts_a = door.taps(model, variables, model.normalize(a), LAYERS)
    acts_b = door.taps(model, variables, model.normalize(b), LAYERS)
    want = numpy_distances([acts_a[l] for l in LAYERS], [acts_b[l] for l in LAYERS])

    metric = sim.model_features("small_cnn_rgb", variables, LAYERS, chunk=2)
    fa, fb = metric.featurize(a), metric.featurize(b)
    np.testing.assert_allclose(-np.asarray(sim.matrix(metric, fa, fb, layers=True)), want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(-np.asarray(sim.matrix(metric, fa, fb)), want.sum(-1), rtol=1e-4, atol=1e-6)
    assert metric.layer_names == LAYERS


def test_model_features_errors(key, rng):
    model = models.get("small_cnn_rgb")
    variables = models.init(model, key)
    images = rng.uniform(size=(2, 32, 32, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"unknown layer 'layer9' in SmallCNNRGB .*relu1.*lists all 13 layers$"):
        sim.model_features(model, variables, ["relu1", "layer9"])  # refused before any images
    with pytest.raises(ValueError, match="at least one layer"):
        sim.model_features(model, variables, [])
    with pytest.raises(ValueError, match=r"\[n, h, w, 3\]"):
        sim.model_features(model, variables, ["relu1"]).featurize(images[..., :1])
    with pytest.raises(ValueError, match="unknown architecture"):
        sim.model_features("resnet9000", variables, ["relu1"])
