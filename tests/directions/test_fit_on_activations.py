"""fit_on_activations feeds each direction set the input METHODS.md §1.4 prescribes."""

import jax
import numpy as np
import pytest

from jaxinterp.directions import fit_on_activations, kmeans, nmf, unit_rows


def test_inputs_follow_the_paper(rng):
    A = np.abs(rng.normal(size=(200, 6))).astype(np.float32) * rng.uniform(0.1, 5, (200, 1)).astype(np.float32)
    key = jax.random.key(0)

    # one K-means default everywhere: k-means++, as kmeans.fit; identity on request
    state, transform, info = fit_on_activations("kmeans", key, A)
    ref = kmeans.fit(key, unit_rows(A), 6)
    np.testing.assert_allclose(state.centroids, ref.centroids, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(transform(A), unit_rows(A) @ ref.centroids.T, rtol=1e-5, atol=1e-6)
    assert info["init"] == "k-means++" == kmeans.DEFAULT_INIT and info["input"] == "unit-norm rows"
    state, _, info = fit_on_activations("kmeans", key, A, init="identity")
    ref = kmeans.fit(key, unit_rows(A), 6, init="identity")
    np.testing.assert_allclose(state.centroids, ref.centroids, rtol=1e-5, atol=1e-6)
    assert info["init"] == "identity"
    with pytest.raises(ValueError, match="init applies to kmeans and minibatch_kmeans only"):
        fit_on_activations("pca", key, A, init="identity")

    state, transform, info = fit_on_activations("nmf", key, A, 3)
    ref = nmf.fit(key, A, 3)
    np.testing.assert_allclose(transform(A), nmf.transform(ref, A), rtol=1e-4, atol=1e-5)
    assert info["input"] == "raw activations"

    _, transform, _ = fit_on_activations("neurons", key, A)
    np.testing.assert_array_equal(transform(A), A)
