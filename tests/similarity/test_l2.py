"""Pixel L2 similarity against numpy; the by-name registry."""

from __future__ import annotations

import numpy as np
import pytest

from jaxinterp import similarity as sim


def test_l2_matches_numpy(rng):
    a = rng.uniform(size=(4, 6, 5, 3)).astype(np.float32)
    b = rng.uniform(size=(3, 6, 5, 3)).astype(np.float32)
    want = -np.linalg.norm(a.reshape(4, 1, -1) - b.reshape(1, 3, -1), axis=-1)
    metric = sim.get("l2")
    fa, fb = metric.featurize(a, None), metric.featurize(b, None)
    np.testing.assert_allclose(np.asarray(sim.matrix(metric, fa, fb)), want, rtol=1e-5)
    S = np.asarray(sim.all_pairs(metric, fa))
    np.testing.assert_allclose(S, -np.linalg.norm(a.reshape(4, 1, -1) - a.reshape(1, 4, -1), axis=-1), rtol=1e-5, atol=1e-6)
    assert np.all(np.diag(S) == 0)
    pairs = np.array([[0, 3], [2, 1], [1, 1]])
    np.testing.assert_allclose(
        np.asarray(sim.pair_values(metric, fa, pairs)),
        -np.linalg.norm((a[pairs[:, 0]] - a[pairs[:, 1]]).reshape(3, -1), axis=1), rtol=1e-6,
    )


def test_l2_errors(rng):
    metric = sim.l2
    fa = metric.featurize(rng.uniform(size=(2, 8, 8, 3)), None)
    fb = metric.featurize(rng.uniform(size=(2, 4, 4, 3)), None)
    with pytest.raises(ValueError, match="different sizes"):
        metric.pairwise(fa, fb)
    with pytest.raises(ValueError, match=r"\[n, h, w, c\]"):
        metric.featurize(rng.uniform(size=(8, 8, 3)), None)
    with pytest.raises(ValueError, match="no layers"):
        sim.all_pairs(metric, fa, layers=True)
    with pytest.raises(ValueError, match="known: colour, l2, label"):
        sim.get("l1")
