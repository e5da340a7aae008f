import jax
import numpy as np
import pytest
from sklearn.decomposition import PCA as SkPCA

from jaxinterp.directions import PCA, pca
from tests._jit import new_compilations
from tests.directions._data import relu_like


def test_matches_sklearn(rng):
    x = (rng.standard_normal((800, 10)) * np.linspace(3, 0.3, 10)) @ np.linalg.qr(rng.standard_normal((10, 10)))[0]
    x = x.astype(np.float32)
    ours = PCA(6).fit(x)
    ref = SkPCA(6).fit(x)
    cos = np.abs(np.sum(ours.components_ * ref.components_, axis=1))
    assert cos.min() >= 0.9999
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-4)
    np.testing.assert_allclose(ours.mean_, ref.mean_, atol=1e-5)


def test_scores_have_positive_skew(rng):
    x = relu_like(rng)
    state = pca.fit(None, x, 8)
    s = np.asarray(pca.transform(state, x))
    skew = np.mean((s - s.mean(0)) ** 3, axis=0)
    assert np.all(skew >= 0)


def test_jit_transform_matches_sklearn(rng):
    x = relu_like(rng)
    state = pca.fit(None, x, 4)
    got = np.asarray(jax.jit(pca.transform)(state, x))
    ref = SkPCA(4).fit(x)
    # components are unique up to sign; ours are flipped to positive skew
    signs = np.sign(np.sum(np.asarray(state.components) * ref.components_, axis=1))
    np.testing.assert_allclose(got, ref.transform(x) * signs, atol=2e-4)
    assert (np.abs(np.sum(np.asarray(state.components) * ref.components_, axis=1)) > 0.9999).all()


@pytest.mark.parametrize("k", [0, 17])
def test_rejects_bad_k(rng, k):
    with pytest.raises(ValueError, match="k must be"):
        pca.fit(None, relu_like(rng), k)


def test_host_and_jax_routes_agree_and_reject_nan(rng):
    x = relu_like(rng)
    host = pca.fit(None, x, 5)  # numpy array on one CPU device: ssyrk + LAPACK
    dev = pca.fit(None, jax.numpy.asarray(x), 5)  # a JAX array: the jitted route
    np.testing.assert_allclose(host.components, dev.components, atol=1e-4)
    np.testing.assert_allclose(host.explained_variance, dev.explained_variance, rtol=1e-4)
    np.testing.assert_allclose(host.mean, dev.mean, atol=1e-6)
    for bad_value in (np.nan, np.inf):
        bad = x.copy()
        bad[3, 2] = bad_value
        with pytest.raises(ValueError, match="NaN or inf"):
            pca.fit(None, bad, 5)


def test_a_second_fit_with_the_same_shapes_does_not_recompile(rng):
    # jax arrays take the jitted route (numpy arrays on one CPU take the host route)
    a, b = (jax.numpy.asarray(relu_like(rng, 60, 8)) for _ in range(2))
    pca.fit(None, a, 3)
    assert new_compilations(pca._fit, lambda: pca.fit(None, b, 3)) == 0
    assert new_compilations(pca._fit, lambda: pca.fit(None, b, 2)) == 1  # k is a shape: it can fail
