"""The pairwise and paired kernels each metric is built from, against numpy, and the by-name tables."""

from __future__ import annotations

import numpy as np
import pytest

from jaxinterp import similarity as sim
from jaxinterp.similarity.perceptual import layer_features


def _dist(a, b):
    return np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))


def test_pixel_colour_and_label_kernels(rng):
    a, b = rng.uniform(size=(4, 12)).astype(np.float32), rng.uniform(size=(3, 12)).astype(np.float32)
    np.testing.assert_allclose(sim.pairwise_l2(a, b), -_dist(a, b), rtol=1e-5)
    np.testing.assert_allclose(sim.paired_l2(a[:3], b), -np.linalg.norm(a[:3] - b, axis=1), rtol=1e-6)
    np.testing.assert_allclose(sim.pairwise_colour(a[:, :3], b[:, :3]), -_dist(a[:, :3], b[:, :3]), rtol=1e-5)
    labels = np.array([2, 0, 2, 1])
    np.testing.assert_array_equal(sim.label_features(None, labels), labels)
    np.testing.assert_array_equal(sim.pairwise_label(labels, labels[:2]),
                                  [[1, 0], [0, 1], [1, 0], [0, 0]])
    for metric, pairwise, paired in ((sim.l2, sim.pairwise_l2, sim.paired_l2),
                                     (sim.colour, sim.pairwise_colour, None), (sim.label, sim.pairwise_label, None)):
        assert isinstance(metric, sim.Similarity) and metric.pairwise is pairwise and metric.paired is paired


def test_perceptual_kernels_are_the_lpips_distance(rng):
    """d_l = mean over positions of Σ_c w_c (ŷa - ŷb)², ŷ the activation over its channel norm
    (+1e-10), on features made by layer_features; the similarity is -d_l, summed over layers."""
    acts = [rng.normal(size=(5, 3, 3, 4)).astype(np.float32), rng.normal(size=(5, 2)).astype(np.float32)]
    weights = [rng.uniform(size=4).astype(np.float32), rng.uniform(size=2).astype(np.float32)]
    feats = [np.asarray(layer_features(a, w)) for a, w in zip(acts, weights)]

    def lpips_layer(a, w, i, j):
        y = a / (np.linalg.norm(a, axis=-1, keepdims=True) + 1e-10)
        return np.mean(np.sum(w * (y[i] - y[j]) ** 2, axis=-1))

    want = np.array([[[lpips_layer(np.asarray(a, float), w, i, j) for a, w in zip(acts, weights)]
                      for j in range(2, 5)] for i in range(2)])
    a, b = [f[:2] for f in feats], [f[2:] for f in feats]
    np.testing.assert_allclose(sim.pairwise_perceptual_layers(a, b), -want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(sim.pairwise_perceptual(a, b), -want.sum(-1), rtol=1e-4, atol=1e-6)
    diag = [f[2:4] for f in feats]
    np.testing.assert_allclose(sim.paired_perceptual_layers(a, diag), -want[[0, 1], [0, 1]], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(sim.paired_perceptual(a, diag), -want[[0, 1], [0, 1]].sum(-1), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="2 and 1 layers"):
        sim.pairwise_perceptual(a, b[:1])


def test_metrics_by_name_and_the_ones_that_need_weights():
    assert {n: sim.get(n) for n in sim.METRICS} == sim.METRICS == {"colour": sim.colour, "label": sim.label,
                                                                    "l2": sim.l2}
    assert sim.CONSTRUCTORS == {"lpips": sim.lpips, "features": sim.model_features}
    with pytest.raises(ValueError, match=r"needs weights; build it with jaxinterp\.similarity\.lpips\(\.\.\.\)"):
        sim.get("lpips")
