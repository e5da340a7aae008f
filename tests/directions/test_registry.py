import numpy as np
import pytest

from jaxinterp.directions import DIRECTION_SETS, fit_by_name, kmeans, registry
from tests.directions._data import relu_like

OPTIONS = {"sae": dict(batch_size=64, max_steps=3), "minibatch_kmeans": dict(batch_size=64, max_steps=3)}


@pytest.mark.parametrize("name", sorted(DIRECTION_SETS))
def test_every_set_by_name(rng, key, name):
    x = relu_like(rng, n=200, d=8)
    k = 8
    state, transform = fit_by_name(name, key, x, k, **OPTIONS.get(name, {}))
    acts = np.asarray(transform(x))
    dirs = np.asarray(registry.get(name).directions(state))
    assert acts.shape == (200, k) and dirs.shape == (k, 8)
    assert np.isfinite(acts).all()


def test_by_name_equals_direct_call(rng, key):
    x = relu_like(rng, n=200, d=8)
    state, transform = fit_by_name("kmeans", key, x, 4)
    direct = kmeans.fit(key, x, 4)
    np.testing.assert_array_equal(state.centroids, direct.centroids)
    np.testing.assert_array_equal(transform(x), kmeans.transform(direct, x))


def test_unknown_name_and_neuron_k(rng, key):
    x = relu_like(rng, n=50, d=8)
    with pytest.raises(ValueError, match="unknown direction set 'lda'"):
        fit_by_name("lda", key, x, 4)
    with pytest.raises(ValueError, match="number of neurons"):
        fit_by_name("neurons", key, x, 4)
