"""Co-activation (the neuron itself excluded) against a numpy loop."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.scores._stats import correlations
from jaxinterp.scores.coactivation import coactivation


def test_matches_loop(rng):
    acts = np.maximum(rng.standard_normal((100, 6)) + rng.standard_normal((100, 1)), 0).astype(np.float32)
    got = np.asarray(coactivation(jnp.asarray(acts)))
    for n in range(6):
        others = np.delete(acts, n, axis=1).mean(1)
        assert got[n] == pytest.approx(np.corrcoef(acts[:, n], others)[0, 1], abs=1e-5)


def test_bad_shape_and_correlations(rng):
    with pytest.raises(ValueError, match="n_neurons >= 2"):
        coactivation(jnp.zeros((10, 1)))
    x = rng.standard_normal(50)
    c = correlations(x, -2 * x + 0.1 * rng.standard_normal(50))
    assert c["pearson"] < -0.9 and c["spearman"] < -0.9
    with pytest.raises(ValueError, match="one length"):
        correlations(x, x[:10])
