"""fit_by_name: the one by-name fit. Each set sees the input METHODS §1.4 prescribes (raw A for
neurons and NMF, unit-norm rows Â for K-means, PCA and ICA, Â z-scored per dimension for the
SAE), prepared here in numpy as the reference; K defaults to d; neurons refuse another K."""

import numpy as np
import pytest

from jaxinterp import directions
from jaxinterp.directions import (
    DIRECTION_SETS,
    fit_by_name,
    ica,
    kmeans,
    minibatch_kmeans,
    nmf,
    pca,
    registry,
    sae,
)
from tests.directions._data import relu_like

OPTIONS = {"sae": dict(batch_size=64, max_steps=3), "minibatch_kmeans": dict(batch_size=64, max_steps=3)}
STATES = {"kmeans": directions.KMeansState, "minibatch_kmeans": directions.MiniBatchKMeansState,
          "pca": directions.PCAState, "ica": directions.ICAState, "nmf": directions.NMFState,
          "sae": directions.SAEState, "neurons": directions.NeuronsState}
FITS = {"kmeans": kmeans, "minibatch_kmeans": minibatch_kmeans, "pca": pca, "ica": ica, "nmf": nmf, "sae": sae}


def unit_rows(a):
    a = np.asarray(a, np.float64)
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-6)


def z_scored(u, ref):
    """u z-scored per dimension with the mean and standard deviation of ``ref``."""
    return (u - ref.mean(0)) / np.maximum(ref.std(0), 1e-6)


def reference_input(name, a, fit_on):
    """What METHODS §1.4 / §4.4 feed set ``name``, for activations ``a`` of a set fit on ``fit_on``."""
    if name in ("neurons", "nmf"):
        return np.asarray(a, np.float64)
    if name == "sae":
        return z_scored(unit_rows(a), unit_rows(fit_on))
    return unit_rows(a)


@pytest.mark.parametrize("name", sorted(FITS))
def test_each_set_is_fit_on_its_methods_input_with_k_the_width(rng, key, name):
    a, new = relu_like(rng, n=200, d=8), relu_like(rng, n=50, d=8)
    fitted = fit_by_name(name, key, a, **OPTIONS.get(name, {}))  # K: the layer's width, 8
    assert np.asarray(fitted.directions).shape == (8, 8) and fitted.info()["k"] == 8
    assert isinstance(fitted, directions.Fitted) and isinstance(registry.get(name), directions.DirectionSet)
    assert isinstance(fitted.state, STATES[name])
    x = reference_input(name, a, a).astype(np.float32)
    direct = FITS[name].fit(key, x, 8, **OPTIONS.get(name, {}))
    direct_dirs = np.asarray(registry.get(name).directions(direct))
    np.testing.assert_allclose(np.asarray(fitted.directions), direct_dirs, rtol=1e-4, atol=1e-5)
    # new activations go through the same preparation, with the fit data's statistics
    expected = np.asarray(FITS[name].transform(direct, reference_input(name, new, a).astype(np.float32)))
    np.testing.assert_allclose(np.asarray(fitted.transform(new)), expected, rtol=1e-4, atol=1e-4)
    assert fitted.info()["input"] == registry.INPUTS[registry.get(name).input]


def test_the_sae_input_is_the_fit_datas_z_score_of_unit_rows(rng, key):
    """METHODS §4.4 (seed authors' notebook): "Input: Â, z-scored per dimension"."""
    a = relu_like(rng, n=200, d=8) * rng.uniform(0.5, 4, (200, 1)).astype(np.float32)
    new = relu_like(rng, n=50, d=8) + 1.0
    fitted = fit_by_name("sae", key, a, **OPTIONS["sae"])
    np.testing.assert_allclose(np.asarray(fitted.inputs(a)), z_scored(unit_rows(a), unit_rows(a)), atol=2e-5)
    # not z-scored with the new batch's own statistics: the fit is a fixed function of A
    np.testing.assert_allclose(np.asarray(fitted.inputs(new)), z_scored(unit_rows(new), unit_rows(a)),
                               atol=2e-5)
    assert not np.allclose(np.asarray(fitted.inputs(new)), z_scored(unit_rows(new), unit_rows(new)), atol=1e-2)
    assert fitted.info()["input"] == "unit-norm rows z-scored per dimension"


@pytest.mark.parametrize("name", sorted(DIRECTION_SETS))
def test_one_default_k(name):
    assert registry.default_k(name, 8) == 8 and registry.default_k(name, 8, 8) == 8
    if name != "neurons":
        assert registry.default_k(name, 8, 3) == 3


def test_neurons_are_the_layer_itself(rng, key):
    a = relu_like(rng, n=50, d=8)
    for k in (None, 8):
        fitted = fit_by_name("neurons", key, a, k)
        np.testing.assert_array_equal(np.asarray(fitted.transform(a)), a)
        assert isinstance(fitted.state, STATES["neurons"])
        np.testing.assert_array_equal(np.asarray(fitted.directions), np.eye(8))
    with pytest.raises(ValueError, match=r"the layer has 8 neurons, so K is 8; got K=4. Pass K=None"):
        fit_by_name("neurons", key, a, 4)
    with pytest.raises(ValueError, match="neurons take no options"):
        fit_by_name("neurons", key, a, spherical=True)


def test_options_reach_the_fit_and_are_recorded(rng, key):
    a = relu_like(rng, n=200, d=8)
    fitted = fit_by_name("kmeans", key, a, init="identity")
    direct = kmeans.fit(key, unit_rows(a).astype(np.float32), 8, init="identity")
    np.testing.assert_allclose(np.asarray(fitted.state.centroids), np.asarray(direct.centroids), atol=1e-5)
    assert fitted.info()["init"] == "identity"
    assert fit_by_name("kmeans", key, a).info()["init"] == kmeans.DEFAULT_INIT == "k-means++"


def test_bad_input(rng, key, unchecked):
    a = relu_like(rng, n=50, d=8)
    with pytest.raises(ValueError, match="unknown direction set 'lda'; choose one of neurons, kmeans"):
        fit_by_name("lda", key, a, 4)
    with pytest.raises(ValueError, match=r"2-D array \[n_samples, n_features\], got shape \(50, 2, 4\)"):
        fit_by_name("kmeans", key, a.reshape(50, 2, 4), 4)
    with pytest.raises(ValueError, match="nonnegative for NMF"):
        fit_by_name("nmf", key, a - 1.0, 4)
