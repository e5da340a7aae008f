import jax
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from jaxinterp.directions import FastICA, ica
from tests.directions._data import planted_sources


def test_recovers_planted_sources(rng):
    x, s = planted_sources(rng)
    est = FastICA(4).fit(x).transform(x)
    corr = np.abs(np.corrcoef(s.T, est.T)[:4, 4:])
    rows, cols = linear_sum_assignment(-corr)
    assert corr[rows, cols].min() >= 0.95


def test_sources_white_and_skew_positive(rng):
    x, _ = planted_sources(rng)
    state = ica.fit(jax.random.key(1), x, 4)
    y = np.asarray(ica.transform(state, x))
    np.testing.assert_allclose(np.cov(y.T), np.eye(4), atol=2e-2)
    assert np.all(np.mean((y - y.mean(0)) ** 3, axis=0) >= 0)
    assert bool(state.converged)
    # mixing reconstructs the data on the span of the sources
    recon = y @ np.asarray(state.mixing).T + np.asarray(state.mean)
    assert np.mean((recon - x) ** 2) < 1e-2 * np.var(x)


def test_rejects_k_above_features(rng):
    x, _ = planted_sources(rng)
    with pytest.raises(ValueError, match="at most the number of features"):
        ica.fit(jax.random.key(0), x, 7)
