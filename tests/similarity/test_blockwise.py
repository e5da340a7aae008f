"""Blockwise drivers (blocks, given pairs, nearest neighbours) against the full matrix."""

from __future__ import annotations

import numpy as np
import pytest

from jaxinterp import similarity as sim
from jaxinterp.scores.ii import interpretability_index_all


@pytest.fixture
def images(rng):
    return rng.uniform(size=(37, 6, 6, 3)).astype(np.float32)


@pytest.mark.parametrize("name", ["l2", "colour"])
def test_nearest_neighbours_equal_full_matrix(images, name):
    metric = sim.get(name)
    feats = metric.featurize(images, None)
    S = np.array(sim.all_pairs(metric, feats))
    np.fill_diagonal(S, -np.inf)
    want_idx = np.argsort(-S, axis=1, kind="stable")[:, :5]
    for block in (8, 37, 100):
        s, idx = sim.nearest_neighbours(metric, feats, 5, block=block)
        np.testing.assert_allclose(np.asarray(s), np.take_along_axis(S, want_idx, 1), rtol=1e-5)
        np.testing.assert_array_equal(np.asarray(idx), want_idx)


def test_nearest_neighbours_of_other_queries(images):
    metric = sim.l2
    feats = metric.featurize(images, None)
    queries = metric.featurize(images[:5] + 0.01, None)
    s, idx = sim.nearest_neighbours(metric, feats, 3, queries=queries, block=4)
    full = np.asarray(sim.matrix(metric, queries, feats))
    np.testing.assert_array_equal(np.asarray(idx), np.argsort(-full, axis=1, kind="stable")[:, :3])
    np.testing.assert_array_equal(np.asarray(idx)[:, 0], np.arange(5))  # each finds its own source


def test_blocks_and_pairs_equal_full_matrix(images):
    metric = sim.l2
    feats = metric.featurize(images, None)
    full = np.asarray(sim.all_pairs(metric, feats))
    np.testing.assert_allclose(np.asarray(sim.all_pairs(metric, feats, block=10)), full, rtol=1e-6)
    pairs = np.stack([np.arange(37), (np.arange(37) * 7) % 37], axis=1)
    np.testing.assert_allclose(
        np.asarray(sim.pair_values(metric, feats, pairs, block=6)), full[pairs[:, 0], pairs[:, 1]],
        rtol=1e-5, atol=1e-6,
    )
    # a metric without an exact pair kernel falls back to its pairwise kernel
    colour = sim.colour
    cf = colour.featurize(images, None)
    cfull = np.asarray(sim.matrix(colour, cf))
    np.testing.assert_allclose(
        np.asarray(sim.pair_values(colour, cf, pairs)), cfull[pairs[:, 0], pairs[:, 1]], rtol=1e-6
    )


def test_interpretability_index_on_model_features(key, rng):
    from jaxinterp import models

    model = models.get("small_cnn_rgb")
    metric = sim.model_features(model, models.init(model, key), ["relu1", "relu2"])
    images = rng.uniform(size=(12, 32, 32, 3)).astype(np.float32)
    feats = metric.featurize(images)
    acts = rng.normal(size=(12, 4)).astype(np.float32)
    ii = np.asarray(interpretability_index_all(acts, metric, feats, m=3))
    S = np.asarray(sim.all_pairs(metric, feats))
    top = np.argsort(-acts, axis=0)[:3]
    want = [S[np.ix_(top[:, k], top[:, k])].mean() for k in range(4)]
    np.testing.assert_allclose(ii, want, rtol=1e-4, atol=1e-6)


def test_blockwise_errors(images):
    feats = sim.l2.featurize(images, None)
    with pytest.raises(ValueError, match="only 36 candidates"):
        sim.nearest_neighbours(sim.l2, feats, 37)
    with pytest.raises(ValueError, match=r"integer array \[p, 2\]"):
        sim.pair_values(sim.l2, feats, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"lie in \[0, 37\)"):
        sim.pair_values(sim.l2, feats, np.array([[0, 37]]))
    with pytest.raises(ValueError, match="no layers"):
        sim.matrix_blocked(sim.l2, feats, layers=True)
