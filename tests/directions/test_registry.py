import numpy as np
import pytest

from jaxinterp.directions import (
    DIRECTION_SETS,
    DirectionSet,
    ICAState,
    KMeansState,
    MiniBatchKMeansState,
    NeuronsState,
    NMFState,
    PCAState,
    SAEState,
    fit_by_name,
    kmeans,
    registry,
)
from tests.directions._data import relu_like

OPTIONS = {"sae": dict(batch_size=64, max_steps=3), "minibatch_kmeans": dict(batch_size=64, max_steps=3)}


def _reference(name, state, x):
    """(state type, numpy activations from the state's documented fields) of each set."""
    f = lambda a: np.asarray(a, np.float64)
    proj = lambda c: x @ f(c).T
    return {
        "neurons": (NeuronsState, lambda: x),
        "kmeans": (KMeansState, lambda: proj(state.centroids)),
        "minibatch_kmeans": (MiniBatchKMeansState, lambda: proj(state.centroids)),
        "pca": (PCAState, lambda: (x - f(state.mean)) @ f(state.components).T),
        "ica": (ICAState, lambda: (x - f(state.mean)) @ f(state.components).T),
        "nmf": (NMFState, None),  # codes solved iteratively: checked by reconstruction below
        "sae": (SAEState, lambda: np.maximum((x - f(state.params["b_dec"])) @ f(state.params["W_enc"]).T
                                             + f(state.params["b_enc"]), 0)),
    }[name]


@pytest.mark.parametrize("name", sorted(DIRECTION_SETS))
def test_every_set_by_name(rng, key, name):
    x = relu_like(rng, n=200, d=8)
    k = 8
    entry = registry.get(name)
    assert isinstance(entry, DirectionSet) and entry.name == name
    state, transform = fit_by_name(name, key, x, k, **OPTIONS.get(name, {}))
    acts = np.asarray(transform(x))
    dirs = np.asarray(entry.directions(state))
    assert acts.shape == (200, k) and dirs.shape == (k, 8)
    state_type, want = _reference(name, state, x.astype(np.float64))
    assert isinstance(state, state_type)
    if want is not None:
        np.testing.assert_allclose(acts, want(), rtol=1e-4, atol=1e-5)
    if name in ("neurons", "pca"):  # one-hot axes; orthonormal principal axes
        np.testing.assert_allclose(dirs @ dirs.T, np.eye(k), atol=1e-5)
    if name in ("pca", "ica"):
        np.testing.assert_allclose(state.mean, x.mean(0), rtol=1e-5, atol=1e-6)
    if name == "sae":  # the decoder's unit columns are the directions
        w = np.asarray(state.params["W_dec"])
        np.testing.assert_allclose(dirs, (w / np.linalg.norm(w, axis=0)).T, atol=1e-5)
    if name == "nmf":  # nonnegative parts that rebuild x as well as the fit did
        assert (acts >= 0).all() and (dirs >= 0).all()
        assert np.linalg.norm(x - acts @ dirs) <= 1.05 * float(state.reconstruction_err)
        assert np.linalg.norm(x - acts @ dirs) < 0.5 * np.linalg.norm(x - x.mean(0))


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
